"""Home disks on this node: real ext4 images on loop devices, as the hub makes them."""

from __future__ import annotations

import io
import os
import subprocess
import tarfile

import pytest

from spawner.home_disks import HomeDiskError, HomeDisks, fill_home

MiB = 1024**2
pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="home disks are mounted by root")


@pytest.fixture
def disks(tmp_path):
    made = HomeDisks(root=str(tmp_path / "homes"), size_bytes=32 * MiB)
    yield made
    made.release_all()


def _fill(folder, name="fill"):
    """Write until the disk refuses; return the bytes that fitted."""
    written = 0
    with pytest.raises(OSError, match="No space left"):
        with open(folder / name, "wb") as f:
            while True:
                written += f.write(b"\0" * MiB)
                f.flush()
                os.fsync(f.fileno())
    return written


def test_a_home_is_a_disk_of_its_size_owned_by_the_workspace_user(disks):
    disk = disks.prepare("alice")
    top = disks.mount_point("alice")
    assert os.path.ismount(top)
    assert disk.size_bytes <= 32 * MiB and disk.used_bytes < 4 * MiB
    for folder in (disk.home, disk.output, disk.home / "work"):
        assert (folder.stat().st_uid, folder.stat().st_gid) == (1000, 100)
    # Sparse: the image takes what is written, not its size.
    assert disks.image("alice").stat().st_blocks * 512 < 8 * MiB
    assert 20 * MiB < _fill(disk.home) <= 32 * MiB
    # Another user's disk is untouched by alice filling hers.
    assert disks.prepare("bob").used_bytes < 4 * MiB
    # Preparing again (a second start, the hub restarted) keeps what is there.
    assert (disks.prepare("alice").home / "fill").exists()


def test_a_disk_keeps_files_when_unmounted_and_grows_with_the_setting(disks):
    disk = disks.prepare("alice")
    (disk.home / "work" / "notes.txt").write_text("kept")
    disks.release("alice")
    assert not os.path.ismount(disks.mount_point("alice"))
    disks.size_bytes = 64 * MiB
    disk = disks.prepare("alice")
    assert (disk.home / "work" / "notes.txt").read_text() == "kept"
    assert 48 * MiB < disk.size_bytes <= 64 * MiB
    # A smaller setting never shrinks a disk.
    disks.release("alice")
    disks.size_bytes = 16 * MiB
    assert disks.prepare("alice").size_bytes > 48 * MiB


def test_a_disk_still_attached_elsewhere_is_never_mounted_twice(disks):
    disks.prepare("alice")
    disks.release("alice")
    image = disks.image("alice")
    loop = subprocess.run(
        ["losetup", "--find", "--show", str(image)], capture_output=True, text=True, check=True
    ).stdout.strip()
    try:
        with pytest.raises(HomeDiskError, match="attached to a loop device"):
            disks.prepare("alice")
    finally:
        subprocess.run(["losetup", "--detach", loop], check=True)
    assert os.path.ismount(disks.prepare("alice").home.parent)


def test_removing_a_user_removes_their_disk_and_nothing_else(disks):
    disks.prepare("alice")
    bob = disks.prepare("bob")
    disks.remove("alice")
    assert not disks.image("alice").exists() and not disks.mount_point("alice").exists()
    assert bob.home.is_dir() and disks.image("bob").exists()


def test_size_zero_makes_plain_uncapped_folders(tmp_path):
    disks = HomeDisks(root=str(tmp_path / "homes"), size_bytes=0)
    disk = disks.prepare("alice")
    assert disk.size_bytes is None and "no size limit" in disk.summary()
    assert not os.path.ismount(disks.mount_point("alice"))
    assert disk.home.is_dir() and (disk.home / "work").is_dir() and disk.output.is_dir()
    disks.remove("alice")
    assert not disks.mount_point("alice").exists()


def _tar(entries):
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        for name, kind, content in entries:
            info = tarfile.TarInfo(name)
            if kind == "file":
                info.size = len(content)
                tar.addfile(info, io.BytesIO(content))
            else:
                info.type, info.linkname = kind, content
                tar.addfile(info)
    return buffer.getvalue()


def test_a_new_home_gets_the_image_s_home_and_nothing_that_leaves_it(tmp_path):
    home = tmp_path / "home"
    (home / "work").mkdir(parents=True)
    (home / "work" / "mine.txt").write_text("mine")
    fill_home(
        home,
        _tar(
            [
                ("./.bashrc", "file", b"PS1='$ '\n"),
                ("./work/mine.txt", "file", b"the image's"),
                ("./escape", tarfile.SYMTYPE, "/etc"),
                ("./../outside.txt", "file", b"no"),
                ("./dev", tarfile.CHRTYPE, ""),
            ]
        ),
    )
    assert (home / ".bashrc").read_text() == "PS1='$ '\n"
    assert (home / ".bashrc").stat().st_uid == 1000
    assert (home / "work" / "mine.txt").read_text() == "mine"  # what is there is kept
    assert not os.path.lexists(home / "escape") and not os.path.lexists(home / "dev")
    assert not (tmp_path / "outside.txt").exists()


def test_an_old_home_volume_moves_in_whole_or_not_at_all(disks, tmp_path):
    old = tmp_path / "volume"
    (old / "notebooks").mkdir(parents=True)
    (old / "notebooks" / "a.ipynb").write_text("{}")
    disk = disks.prepare("alice")
    disks.adopt("alice", old)
    work = disk.home / "work"
    assert (work / "notebooks" / "a.ipynb").read_text() == "{}"
    assert work.stat().st_uid == 1000

    (old / "big").write_bytes(b"\0" * 40 * MiB)  # more than bob's whole disk
    bob = disks.prepare("bob")
    with pytest.raises(HomeDiskError, match="No space left"):
        disks.adopt("bob", old)
    assert list((bob.home / "work").iterdir()) == []  # nothing half-copied
    assert not (disks.mount_point("bob") / "adopting").exists()


def test_a_plain_home_is_never_hidden_under_a_new_disk(tmp_path):
    plain = HomeDisks(root=str(tmp_path / "homes"), size_bytes=0)
    (plain.prepare("alice").home / "work" / "mine.txt").write_text("mine")
    capped = HomeDisks(root=str(tmp_path / "homes"), size_bytes=32 * MiB)
    with pytest.raises(HomeDiskError, match="made without a size limit"):
        capped.prepare("alice")
    assert (plain.folders("alice")[0] / "work" / "mine.txt").read_text() == "mine"
    assert not capped.image("alice").exists()
