"""Trees and folder scans: safe paths, symlinks, and not re-hashing unchanged files."""

import hashlib
import os
from pathlib import Path

import pytest

from floe.trees.scan import HashCache, scan_folder
from floe.trees.tree import BadTree, Entry, Tree

SHA = "a" * 64


@pytest.mark.parametrize(
    ("path", "fragment"),
    [
        ("/etc/passwd", "must be relative"),
        ("../secret", "'..' would point outside"),
        ("data/../../x", "'..' would point outside"),
        ("data//x", "write it as 'data/x'"),
        ("./x", "write it as 'x'"),
        ("", "empty"),
        ("a\\b", "backslashes"),
    ],
)
def test_paths_that_escape_or_are_ambiguous_are_refused_by_name(path, fragment):
    with pytest.raises(BadTree, match=fragment):
        Tree.from_manifest([{"path": path, "sha256": SHA, "size": 1}])


def test_the_quick_check_of_plain_paths_accepts_only_what_the_full_one_does(monkeypatch):
    """Every path of up to six characters from an alphabet of the troublesome ones: what
    the quick check lets through, the full check (with the quick one off) accepts too."""
    import itertools
    import re

    from floe.trees import tree

    quick = tree._PLAIN_PATH
    passed = [
        "".join(chars)
        for length in range(1, 7)
        for chars in itertools.product("a./\\\x00\n", repeat=length)
        if quick.fullmatch("".join(chars))
    ]
    assert ".a/..a" in passed and "a/../a" not in passed and len(passed) > 1000
    monkeypatch.setattr(tree, "_PLAIN_PATH", re.compile(r"(?!)"))  # matches nothing
    for path in passed:
        assert tree.check_path(path) == path


def test_manifest_round_trip_and_digest_is_content_based():
    a = Tree.from_manifest(
        [
            {"path": "b.txt", "sha256": SHA, "size": 3},
            {"path": "a/x", "sha256": "b" * 64, "size": 1},
        ]
    )
    assert [e.path for e in a.entries] == ["a/x", "b.txt"]
    assert Tree.decode(a.encode()) == a
    b = Tree.from_entries(list(reversed(a.entries)))
    assert a.digest == b.digest
    assert a.find("b.txt").size == 3 and a.find("nope") is None


def test_file_and_folder_with_one_name_is_refused():
    with pytest.raises(BadTree, match="both a file and a folder"):
        Tree.from_entries([Entry("a", SHA, 1), Entry("a/b", SHA, 1)])


def test_symlink_out_of_the_folder_is_refused_naming_the_file(tmp_path):
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "ok.txt").write_text("ok")
    (tmp_path / "secret").write_text("no")
    os.symlink(tmp_path / "secret", tmp_path / "data" / "leak")
    with pytest.raises(BadTree, match="leak: is a link to .*secret, outside the uploaded folder"):
        scan_folder(tmp_path / "data")


def test_symlink_inside_the_folder_is_uploaded_as_its_file(tmp_path):
    (tmp_path / "real.txt").write_text("same")
    os.symlink("real.txt", tmp_path / "alias.txt")
    tree, _sources = scan_folder(tmp_path)
    by_path = {e.path: e for e in tree.entries}
    assert by_path["alias.txt"].sha256 == by_path["real.txt"].sha256


def test_unchanged_files_are_not_hashed_again(tmp_path):
    folder = tmp_path / "data"
    folder.mkdir()
    for i in range(50):
        (folder / f"f{i}.bin").write_bytes(os.urandom(1000))
    cache = HashCache(tmp_path / "hashes.sqlite")
    hashed = []
    first, _ = scan_folder(folder, cache, on_hashed=hashed.append)
    assert sum(hashed) == 50_000
    (folder / "f7.bin").write_bytes(os.urandom(1000))
    hashed.clear()
    second, _ = scan_folder(folder, cache, on_hashed=hashed.append)
    assert hashed == [1000]
    assert [e.path for e in second.entries] == [e.path for e in first.entries]
    assert first.find("f7.bin").sha256 != second.find("f7.bin").sha256


def test_nested_folders_small_and_large_files_hash_to_their_bytes(tmp_path):
    from floe.trees.scan import SMALL_FILE

    files = {
        "a.txt": b"small",
        "deep/er/b.bin": os.urandom(SMALL_FILE + 1),  # hashed on the pool
        "deep/c.bin": os.urandom(SMALL_FILE - 1),  # hashed in the calling thread
        "run.sh": b"#!/bin/sh\n",
    }
    for rel, data in files.items():
        (tmp_path / "data" / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / "data" / rel).write_bytes(data)
    os.chmod(tmp_path / "data" / "run.sh", 0o755)
    tree, sources = scan_folder(tmp_path / "data")
    assert {e.path: e.sha256 for e in tree.entries} == {
        rel: hashlib.sha256(data).hexdigest() for rel, data in files.items()
    }
    assert tree.find("run.sh").mode == 0o755 and tree.find("a.txt").mode == 0o644
    large = tree.find("deep/er/b.bin").sha256
    assert Path(sources[large]).read_bytes() == files["deep/er/b.bin"]

    os.symlink(tmp_path / "data" / "deep", tmp_path / "data" / "shortcut")
    with pytest.raises(BadTree, match="shortcut: is a link to a folder"):
        scan_folder(tmp_path / "data")
