"""Home disks: each user's persistent /home/jovyan (and workspace /output), capped in size.

Docker's local volumes take no size on this kind of storage (overlay2 on ext4), so one user
could fill the node's disk from their workspace. A home disk is instead a sparse ext4 image
file per user, mounted on the node through a loop device and bound into the workspace:

    <root>/<name>.ext4        the image (sparse: it takes only what is written)
    <root>/<name>/            where it is mounted (``nosuid,nodev``) while needed
    <root>/<name>/home        bound at /home/jovyan
    <root>/<name>/output      bound at /output (what Save output keeps)

A write past the size fails with "No space left on device" inside that user's workspace and
nowhere else. The disk is mounted when a workspace starts and unmounted when the user's last
one stops (the spawner says when), so after a reboot disks come back on first use. A bigger
``size_bytes`` grows each disk at its next mount; disks never shrink.

With ``size_bytes = 0`` homes are plain folders under the same root, uncapped: for nodes that
cannot mount loop devices (the hub not running as root).
"""

from __future__ import annotations

import io
import os
import shutil
import subprocess
import tarfile
from dataclasses import dataclass
from pathlib import Path

from traitlets import Integer, Unicode
from traitlets.config import LoggingConfigurable

from containers.spec import CONTAINER_GID, CONTAINER_UID, give_to_container_user
from floe.core.locks import NamedLocks
from floe.core.sizes import format_size

# discard: what a user deletes is given back to the node's disk, not kept by the image.
MOUNT_OPTIONS = "loop,nosuid,nodev,noatime,discard"


class HomeDiskError(RuntimeError):
    """A home disk could not be made ready; the message says what the deployer can do."""


@dataclass(frozen=True)
class HomeDisk:
    home: Path
    output: Path
    # None for an uncapped plain folder.
    size_bytes: int | None
    used_bytes: int | None
    # Made just now: the spawner fills it with what the image has in its home.
    fresh: bool = False

    def summary(self) -> str:
        if self.size_bytes is None:
            return "Home folder ready (no size limit)"
        return (
            f"Home disk ready: {format_size(self.used_bytes or 0)} used of "
            f"{format_size(self.size_bytes)}"
        )


def _run(*argv: str) -> str:
    done = subprocess.run(argv, capture_output=True, text=True)
    if done.returncode:
        raise HomeDiskError(f"{' '.join(argv)} failed: {(done.stderr or done.stdout).strip()}")
    return done.stdout


def _loop_devices(image: Path) -> list[str]:
    """The loop devices backed by ``image``: a mount of it somewhere (in any container)."""
    out = _run("losetup", "--associated", str(image), "--noheadings", "--output", "NAME")
    return [line.strip() for line in out.splitlines() if line.strip()]


def fill_home(home: Path, archive: bytes) -> None:
    """Unpack an image's home (Docker's archive of its ``/home/jovyan/.``) into a new home.

    Only what a home may hold is unpacked (tarfile's ``data`` filter: no devices, no links
    leaving the folder, no setuid bits), everything owned by the workspace user; what is
    already there (``work/``) is kept.
    """
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        for member in tar.getmembers():
            # Docker names the entries of ``<home>/.`` "./<entry>"; "." is the home itself.
            name = member.name.removeprefix("./")
            if name in ("", ".") or os.path.lexists(home / name):
                continue
            member.name = name
            try:
                tar.extract(member, home, filter="data")
            except tarfile.FilterError:
                continue
    for folder, dirs, files in os.walk(home):
        for entry in (folder, *(os.path.join(folder, n) for n in dirs + files)):
            os.chown(entry, CONTAINER_UID, CONTAINER_GID, follow_symlinks=False)


class HomeDisks(LoggingConfigurable):
    """Each user's home disk on this node: made on first use, mounted, grown, removed."""

    root = Unicode(
        "",
        config=True,
        help="""Folder holding every user's home disk image and its mount point (Floe sets it
        to ``<data dir>/homes``). It must stay readable by root only.""",
    )

    size_bytes = Integer(
        10 * 1024**3,
        config=True,
        help="""Size of each user's home disk (/home/jovyan and a workspace's /output together),
        in bytes. Images are sparse: a disk takes only what its user wrote. Raising it grows
        existing disks when they are next mounted; lowering it applies to new disks only.
        0 makes homes plain folders with no limit (for hubs that cannot mount loop devices).""",
    )

    # One disk is made ready, unmounted or removed by one thread at a time (every instance in
    # this process: the spawner makes one per user).
    _locks = NamedLocks()

    def image(self, name: str) -> Path:
        return Path(self.root) / f"{name}.ext4"

    def mount_point(self, name: str) -> Path:
        return Path(self.root) / name

    def folders(self, name: str) -> tuple[Path, Path]:
        """Where ``name``'s home and workspace output are on the node (once prepared)."""
        top = self.mount_point(name)
        return top / "home", top / "output"

    # --- what the spawner calls (blocking: run them on a thread) ---------------------------

    def prepare(self, name: str) -> HomeDisk:
        """Make ``name``'s home ready to bind into a container, creating it the first time."""
        if not self.root:
            raise HomeDiskError("c.HomeDisks.root is not set")
        if self.size_bytes > 0 and os.geteuid() != 0:
            raise HomeDiskError(
                "home disks are mounted through loop devices, which needs the hub to run as "
                "root; set c.HomeDisks.size_bytes = 0 for uncapped home folders"
            )
        Path(self.root).mkdir(mode=0o700, parents=True, exist_ok=True)
        os.chmod(self.root, 0o700)
        with self._locks.hold(name):
            top = self.mount_point(name)
            # A disk made before homes became plain folders is still where the files are.
            if self.size_bytes > 0 or self.image(name).exists():
                self._mount(name)
                disk = os.statvfs(top)
                size = disk.f_blocks * disk.f_frsize
                used = (disk.f_blocks - disk.f_bfree) * disk.f_frsize
            else:
                top.mkdir(mode=0o755, exist_ok=True)
                size = used = None
            # home/ and output/ sit where no container can reach; home/work is the user's own
            # (it may be anything, even a symlink, by now), so it is made only if absent.
            home, output = self.folders(name)
            fresh = not os.path.lexists(home)
            for folder in (home, output, home / "work"):
                if not os.path.lexists(folder):
                    folder.mkdir(mode=0o755)
                    give_to_container_user(folder)
            return HomeDisk(home, output, size_bytes=size, used_bytes=used, fresh=fresh)

    def adopt(self, name: str, source: Path) -> None:
        """Copy ``source`` (the Docker volume that was the home's work/ before disks) into a
        new home's empty work/, whole or not at all (a copy that does not fit leaves none)."""
        with self._locks.hold(name):
            top = self.mount_point(name)
            work = self.folders(name)[0] / "work"
            staging = top / "adopting"  # beside home/: never where a container can reach
            shutil.rmtree(staging, ignore_errors=True)
            done = subprocess.run(
                ["cp", "-a", "--", f"{source}/.", str(staging)], capture_output=True, text=True
            )
            if done.returncode:
                shutil.rmtree(staging, ignore_errors=True)
                raise HomeDiskError(done.stderr.strip() or f"cp exited {done.returncode}")
            give_to_container_user(staging)
            work.rmdir()  # empty: the home was made just now
            staging.rename(work)

    def release(self, name: str) -> None:
        """Unmount ``name``'s disk: call only once no container of theirs exists any more."""
        with self._locks.hold(name):
            top = self.mount_point(name)
            if os.path.ismount(top):
                _run("umount", str(top))

    def remove(self, name: str) -> None:
        """The user is deleted: their disk goes too (never while it is mounted)."""
        self.release(name)
        with self._locks.hold(name):
            image = self.image(name)
            if image.exists():
                if _loop_devices(image):
                    raise HomeDiskError(f"{name}'s home disk is still in use; not removing it")
                image.unlink()
            shutil.rmtree(self.mount_point(name), ignore_errors=True)

    def release_all(self) -> None:
        """Unmount every disk under the root (a test hub's teardown; a node's shutdown)."""
        root = Path(self.root)
        if not root.is_dir():
            return
        for image in sorted(root.glob("*.ext4")):
            self.release(image.name[: -len(".ext4")])

    # --- the disk itself ----------------------------------------------------------------

    def _mount(self, name: str) -> None:
        image, top = self.image(name), self.mount_point(name)
        if os.path.ismount(top):
            return
        if top.is_dir() and any(top.iterdir()):
            # A plain home folder from when size_bytes was 0: mounting would hide it.
            raise HomeDiskError(
                f"{top} holds a home folder made without a size limit; move its files into "
                f"the disk {image} (or set c.HomeDisks.size_bytes = 0) before starting"
            )
        made = not image.exists()
        if made:
            self._create(image)
        elif _loop_devices(image):
            # Mounted somewhere this process cannot see (a container's namespace after a
            # manual unmount): a second mount of one ext4 image would corrupt it.
            raise HomeDiskError(
                f"{name}'s home disk {image} is attached to a loop device but not mounted at "
                f"{top}; stop what holds it (losetup --associated {image}) before starting"
            )
        elif image.stat().st_size < self.size_bytes:
            try:
                self._grow(image)
            except HomeDiskError as err:  # the disk is used as it is; the files matter more
                self.log.warning("home disk %s not grown: %s", image, err)
        top.mkdir(mode=0o700, exist_ok=True)
        try:
            _run("mount", "-t", "ext4", "-o", MOUNT_OPTIONS, str(image), str(top))
        except HomeDiskError as err:
            if made:  # never used: the next try (or size_bytes = 0) starts clean
                image.unlink()
            raise HomeDiskError(
                f"cannot mount home disks ({err}); the hub needs root and loop devices, or "
                "c.HomeDisks.size_bytes = 0 for uncapped home folders"
            ) from None

    def _create(self, image: Path) -> None:
        partial = image.with_name(image.name + ".new")
        with open(partial, "wb") as f:
            os.fchmod(f.fileno(), 0o600)
            f.truncate(self.size_bytes)
        # No blocks reserved for root: the user may fill all of it (and nothing else).
        _run("mkfs.ext4", "-q", "-F", "-m", "0", "-L", "floe-home", str(partial))
        os.replace(partial, image)
        self.log.info("Made home disk %s (%s)", image, format_size(self.size_bytes))

    def _grow(self, image: Path) -> None:
        before = image.stat().st_size
        # e2fsck: 0 clean, 1 errors fixed; anything else leaves the disk as it was.
        check = subprocess.run(["e2fsck", "-f", "-p", str(image)], capture_output=True, text=True)
        if check.returncode not in (0, 1):
            raise HomeDiskError(f"e2fsck {image} before growing it: {check.stdout.strip()}")
        os.truncate(image, self.size_bytes)
        _run("resize2fs", str(image))
        self.log.info(
            "Grew home disk %s from %s to %s",
            image, format_size(before), format_size(self.size_bytes),
        )  # fmt: skip
