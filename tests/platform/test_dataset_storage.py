"""Blob stores (local directory and a real S3 server), materialize, and the dataset rules."""

import hashlib
import os
import stat
import threading
import time

import pytest

from dataset_mounter import datasets as ds
from dataset_mounter.keep import missing_blobs, record_blobs
from dataset_mounter.materialize import materialize
from dataset_mounter.mounts import plan_mounts
from dataset_mounter.stores import LocalStore, S3Store
from floe.core.access import Caller
from floe.core.errors import BadMount, BadName, Conflict, Forbidden, NotFound
from floe.core.refs import DatasetRef, MountSpec, check_mount_point
from floe.db.database import make_sessionmaker
from floe.trees.scan import scan_folder

ALICE = Caller("alice")
BOB = Caller("bob")
ADMIN = Caller("root", admin=True)


@pytest.fixture(params=["local", "s3"])
def store(request, tmp_path):
    if request.param == "local":
        return LocalStore(root=str(tmp_path / "blobs"))
    s3 = request.getfixturevalue("s3")
    bucket = s3.make_bucket(f"unit-{os.urandom(4).hex()}")
    return S3Store(bucket=bucket, endpoint_url=s3.url, multipart_threshold=5 * 1024 * 1024)


@pytest.fixture
def db(tmp_path):
    return make_sessionmaker(f"sqlite:///{tmp_path / 'floe.sqlite'}")


def _folder(root, files):
    for rel, data in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    return root


def _upload(db, store, caller, dataset, folder, message=""):
    """What the service does for a client: store missing blobs, then commit."""
    tree, sources = scan_folder(folder)
    with db() as s:
        for blob in missing_blobs(s, tree.blob_ids()):
            store.put_file(blob, sources[blob])
            record_blobs(s, {blob: os.path.getsize(sources[blob])}, caller.name)
        return ds.commit_version(s, caller, s.merge(dataset), tree, message), tree


def test_round_trip_through_the_store_and_materialize(db, store, tmp_path):
    big = os.urandom(6 * 1024 * 1024)  # over the multipart threshold of the S3 store
    folder = _folder(
        tmp_path / "src",
        {"train/a.bin": big, "train/b.txt": b"bee", "run.sh": b"#!/bin/sh\necho hi\n"},
    )
    os.chmod(folder / "run.sh", 0o755)
    with db() as s:
        dataset = ds.create_dataset(s, ALICE, "mnist")
    version, tree = _upload(db, store, ALICE, dataset, folder, "first")
    assert (version.number, version.file_count, version.size) == (1, 3, len(big) + 3 + 18)

    mounted = materialize(tree, store, tmp_path / "cache")
    assert (mounted / "train" / "a.bin").read_bytes() == big
    assert (mounted / "train" / "b.txt").read_bytes() == b"bee"
    assert os.access(mounted / "run.sh", os.X_OK)
    assert stat.S_IMODE((mounted / "train").stat().st_mode) == 0o555
    assert stat.S_IMODE((mounted / "train" / "b.txt").stat().st_mode) == 0o444

    started = time.perf_counter()
    assert materialize(tree, store, tmp_path / "cache") == mounted  # warm: reused as is
    assert time.perf_counter() - started < 0.1


def test_local_materialize_hard_links_the_store(tmp_path):
    store = LocalStore(root=str(tmp_path / "blobs"))
    tree, sources = scan_folder(_folder(tmp_path / "src", {"x": b"data"}))
    for blob, path in sources.items():
        store.put_file(blob, path)
    mounted = materialize(tree, store, tmp_path / "cache")
    assert (mounted / "x").stat().st_ino == store.local_path(tree.entries[0].sha256).stat().st_ino


def test_version_needs_every_blob_first(db, tmp_path):
    tree, _ = scan_folder(_folder(tmp_path / "src", {"x": b"never sent"}))
    with db() as s:
        dataset = ds.create_dataset(s, ALICE, "cats")
        with pytest.raises(Conflict) as err:
            ds.commit_version(s, ALICE, dataset, tree)
        assert err.value.extra["missing"] == [tree.entries[0].sha256]
        assert dataset.versions == []


def test_concurrent_commits_get_distinct_numbers(db, tmp_path):
    store = LocalStore(root=str(tmp_path / "blobs"))
    with db() as s:
        dataset = ds.create_dataset(s, ALICE, "busy")
    folders = [_folder(tmp_path / f"f{i}", {"v": str(i).encode()}) for i in range(8)]
    numbers, errors = [], []

    def commit(folder):
        try:
            numbers.append(_upload(db, store, ALICE, dataset, folder)[0].number)
        except Exception as err:  # surfaced below
            errors.append(err)

    threads = [threading.Thread(target=commit, args=(f,)) for f in folders]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert sorted(numbers) == list(range(1, 9))


def test_who_may_read_and_write(db, tmp_path):
    with db() as s:
        private = ds.create_dataset(s, ALICE, "private-data")
        ds.create_dataset(s, ALICE, "open-data", public=True)
        with pytest.raises(NotFound, match="no dataset alice/private-data that you can read"):
            ds.get_dataset(s, BOB, "alice", "private-data")
        assert ds.get_dataset(s, BOB, "alice", "open-data").public
        assert ds.get_dataset(s, ADMIN, "alice", "private-data") == private
        assert [d.full_name for d in ds.visible_datasets(s, BOB)] == ["alice/open-data"]
        with pytest.raises(Forbidden):
            ds.commit_version(
                s,
                BOB,
                ds.get_dataset(s, BOB, "alice", "open-data"),
                scan_folder(_folder(tmp_path / "b", {"x": b"x"}))[0],
            )
        with pytest.raises(Conflict, match="already have a dataset named private-data"):
            ds.create_dataset(s, ALICE, "private-data")


@pytest.mark.parametrize(
    ("spec", "error", "fragment"),
    [
        ("Bad Name", BadName, "must be 1-100 lowercase"),
        ("mnist:zero:x", BadName, "must be a number"),
        ("mnist:0", BadName, "must be a number from 1"),
        ("mnist:/etc", BadMount, "must be inside /input"),
        ("mnist:/inputs", BadMount, "must be inside /input"),
        ("mnist:/input/../etc", BadMount, "not normalised"),
        ("mnist:/input//x", BadMount, "not normalised"),
        ("mnist:in put", BadMount, "must be a word like 'input'"),
    ],
)
def test_bad_names_and_mount_points_are_refused(spec, error, fragment):
    with pytest.raises(error, match=fragment):
        MountSpec.parse(spec, "alice").target(["/input"])


def test_mount_specs_resolve_owner_version_and_default_mount_point():
    spec = MountSpec.parse("bob/cats:1:/input/pets", "alice")
    assert (str(spec.source), spec.target(["/input"])) == ("bob/cats:1", "/input/pets")
    spec = MountSpec.parse("mnist", "alice")
    assert (str(spec.source), spec.target(["/input"])) == ("alice/mnist", "/input/mnist")
    assert check_mount_point("/data/x", ["/input", "/data"]) == "/data/x"


def test_two_datasets_on_one_mount_point_are_refused(db, tmp_path):
    with db() as s:
        for specs, fragment in (
            (["mnist:1", "cats:1:/input/mnist"], "two datasets are mounted at /input/mnist"),
            (["mnist:1:/input/a", "cats:1:/input/a/b"], "/input/a/b is inside /input/a"),
        ):
            with pytest.raises(BadMount, match=fragment):
                plan_mounts(
                    s,
                    ALICE,
                    specs,
                    store=LocalStore(root=str(tmp_path)),
                    cache_dir=tmp_path,
                    roots=["/input"],
                )


def test_unknown_version_names_the_ones_that_exist(db, tmp_path):
    store = LocalStore(root=str(tmp_path / "blobs"))
    with db() as s:
        dataset = ds.create_dataset(s, ALICE, "mnist")
    _upload(db, store, ALICE, dataset, _folder(tmp_path / "a", {"x": b"1"}))
    with db() as s, pytest.raises(NotFound, match="has no version 5 \\(versions 1 to 1\\)"):
        ds.resolve(s, ALICE, DatasetRef.parse("mnist:5", "alice"))


def test_a_kept_job_output_becomes_a_blob_the_job_user_cannot_change(tmp_path):
    output = tmp_path / "output"
    output.mkdir()
    made = output / "model.bin"
    made.write_bytes(b"trained")
    os.chown(made, 1000, 100)  # what a job (uid 1000) leaves in /output
    store = LocalStore(root=str(tmp_path / "blobs"))
    sha = scan_folder(output)[0].entries[0].sha256
    store.put_file(sha, made)
    blob = store.local_path(sha)
    info = blob.stat()
    assert (info.st_uid, stat.S_IMODE(info.st_mode)) == (os.getuid(), 0o444)


@pytest.mark.parametrize("where", ["local", "s3"])
def test_a_manifest_naming_one_blob_thousands_of_times_costs_links_not_copies(
    tmp_path, where, request
):
    from floe.trees.tree import Entry, Tree

    data = os.urandom(1024 * 1024)
    blob = __import__("hashlib").sha256(data).hexdigest()
    src = tmp_path / "one.bin"
    src.write_bytes(data)
    if where == "local":
        store = LocalStore(root=str(tmp_path / "blobs"))
    else:
        s3 = request.getfixturevalue("s3")
        store = S3Store(bucket=s3.make_bucket(f"many-{os.urandom(4).hex()}"), endpoint_url=s3.url)
    store.put_file(blob, src)
    entries = [Entry(f"plain/{i}", blob, len(data), 0o644) for i in range(3000)]
    entries += [Entry(f"run/{i}", blob, len(data), 0o755) for i in range(3000)]
    mounted = materialize(Tree.from_entries(entries), store, tmp_path / "cache")
    plain = {(mounted / "plain" / str(i)).stat().st_ino for i in range(3000)}
    runnable = {(mounted / "run" / str(i)).stat().st_ino for i in range(3000)}
    assert len(plain) == 1 and len(runnable) == 1 and plain != runnable
    assert stat.S_IMODE((mounted / "run" / "7").stat().st_mode) == 0o555
    # Two copies of the bytes on this node at most (plain and runnable), whatever the count.
    inodes = {
        f.stat().st_ino: f.stat().st_size for f in (tmp_path / "cache").rglob("*") if f.is_file()
    }
    cache_bytes = sum(inodes.values())
    assert cache_bytes <= 2 * len(data) + (len(data) if where == "s3" else 0)


def test_blobs_sent_and_never_kept_are_collected_a_day_later(db, tmp_path):
    from datetime import timedelta

    from dataset_mounter.collect import collect_unnamed
    from dataset_mounter.keep import save_tree
    from floe.db.base import utcnow
    from floe.db.models import Blob
    from floe.trees.tree import Entry, Tree

    store = LocalStore(root=str(tmp_path / "blobs"))
    blobs = {}
    for name in ("kept", "forgotten", "fresh"):
        path = tmp_path / name
        path.write_bytes(name.encode())
        sha = scan_folder(_folder(tmp_path / f"d-{name}", {name: name.encode()}))[0].entries[0]
        store.put_file(sha.sha256, path)
        blobs[name] = sha.sha256
    with db() as s:
        record_blobs(s, {sha: 5 for sha in blobs.values()}, "alice")
        for name in ("kept", "forgotten"):
            s.get(Blob, blobs[name]).created = utcnow() - timedelta(days=2)
        save_tree(s, Tree.from_entries([Entry("kept", blobs["kept"], 4)]))
        s.commit()
        assert collect_unnamed(s, store, timedelta(hours=24)) == (1, 5)
        assert missing_blobs(s, set(blobs.values())) == [blobs["forgotten"]]
    assert not store.has(blobs["forgotten"])
    assert store.has(blobs["kept"]) and store.has(blobs["fresh"])


def test_a_blob_named_while_the_collector_runs_is_kept(db, tmp_path, monkeypatch):
    """The race: the collector lists what is named, a commit then names an old blob."""
    from datetime import timedelta

    from dataset_mounter import collect
    from dataset_mounter.keep import keep_bytes
    from floe.db.base import utcnow
    from floe.db.models import Blob
    from floe.trees.tree import Entry, Tree

    store = LocalStore(root=str(tmp_path / "blobs"))
    data = {name: name.encode()[:5] * 3 for name in ("named-late", "sent-again", "forgotten")}
    shas = {name: hashlib.sha256(b).hexdigest() for name, b in data.items()}
    with db() as s:
        for name, b in data.items():
            keep_bytes(s, store, b, shas[name], "alice")
            s.get(Blob, shas[name]).created = utcnow() - timedelta(days=2)
        s.commit()
    with db() as s:
        ds.create_dataset(s, Caller("alice"), "late")
    stale = collect.named_blobs

    def named_then_commit(session):
        named = stale(session)  # what the collector saw: none of the three named
        with db() as other:  # meanwhile alice commits a version naming one, sends another
            dataset = ds.get_dataset(other, Caller("alice"), "alice", "late")
            tree = Tree.from_entries([Entry("f", shas["named-late"], 0)])
            ds.commit_version(other, Caller("alice"), dataset, tree)
            record_blobs(other, {shas["sent-again"]: 15}, "alice")
        return named

    monkeypatch.setattr(collect, "named_blobs", named_then_commit)
    with db() as s:
        assert collect.collect_unnamed(s, store, timedelta(hours=24)) == (1, 15)
        assert missing_blobs(s, set(shas.values())) == [shas["forgotten"]]
    assert store.has(shas["named-late"]) and store.has(shas["sent-again"])
    assert not store.has(shas["forgotten"])


def test_no_blob_is_stored_while_the_collector_removes(db, tmp_path):
    from dataset_mounter.keep import collecting, keep_bytes

    store = LocalStore(root=str(tmp_path / "blobs"))
    kept = threading.Event()

    def keep() -> None:
        with db() as s:
            keep_bytes(s, store, b"x", hashlib.sha256(b"x").hexdigest(), "alice")
        kept.set()

    with collecting():
        threading.Thread(target=keep).start()
        assert not kept.wait(0.5)  # held back until the collector is done
    assert kept.wait(10)


def test_a_pack_whose_write_fails_midway_leaves_nothing(tmp_path, monkeypatch):
    """A disk full on the third blob of a pack: no blob of it is visible, no temporary file
    stays behind, and the same pack stored again afterwards is whole."""
    from dataset_mounter import stores

    store = LocalStore(root=str(tmp_path / "blobs"), small_blob_bytes=0)  # a file each
    items = [(hashlib.sha256(b"%d" % i).hexdigest(), b"%d" % i) for i in range(40)]
    written = []
    real_write_all = stores.write_all

    def failing(fd: int, data: bytes) -> None:
        if len(written) == 2:
            raise OSError(28, "No space left on device")
        written.append(data)
        real_write_all(fd, data)

    monkeypatch.setattr(stores, "write_all", failing)
    with pytest.raises(OSError, match="No space"):
        store.put_many(items)
    assert [p for p in (tmp_path / "blobs").rglob("*") if p.is_file()] == []
    monkeypatch.setattr(stores, "write_all", real_write_all)
    store.put_many(items)
    for sha, data in items:
        assert store.local_path(sha).read_bytes() == data
        assert stat.S_IMODE(store.local_path(sha).stat().st_mode) == 0o444


def test_small_blobs_of_a_pack_are_kept_together_and_laid_out_as_files(db, tmp_path):
    """A pack's small blobs make no file in the store, one SQLite file holds them all; another
    process reads them at once; a tree naming them is laid out as read-only files (one copy
    a blob, executable ones apart); removing one removes it; a large one stays a file."""
    import subprocess
    import sys

    from floe.trees.tree import Entry, Tree

    store = LocalStore(root=str(tmp_path / "blobs"), small_blob_bytes=1024)
    small = {f"f{i}": b"small %d\n" % i for i in range(3000)}
    large = os.urandom(2048)
    items = [(hashlib.sha256(b).hexdigest(), b) for b in [*small.values(), large]]
    store.put_many(items)
    files = [p for p in (tmp_path / "blobs").rglob("*") if p.is_file()]
    assert sorted(p.name for p in files) == sorted(
        ["small_blobs.sqlite", "small_blobs.sqlite-wal", "small_blobs.sqlite-shm", items[-1][0][2:]]
    )
    sha = items[0][0]
    assert store.has(sha) and store.local_path(sha) is None
    with store.open(sha) as f:
        assert f.read() == b"small 0\n"
    code = (
        "import sys; from dataset_mounter.stores import LocalStore; "
        f"print(LocalStore(root={str(tmp_path / 'blobs')!r}).open(sys.argv[1]).read())"
    )
    other = subprocess.run([sys.executable, "-c", code, items[1][0]], capture_output=True)
    assert other.stdout.strip() == b"b'small 1\\n'", other.stderr

    entries = [Entry(name, hashlib.sha256(b).hexdigest(), len(b)) for name, b in small.items()]
    entries += [
        Entry("same", sha, 8),
        Entry("run", sha, 8, 0o755),
        Entry("big", items[-1][0], 2048),
    ]
    mounted = materialize(Tree.from_entries(entries), store, tmp_path / "cache")
    assert (mounted / "f2999").read_bytes() == b"small 2999\n"
    assert (mounted / "same").stat().st_ino == (mounted / "f0").stat().st_ino
    assert stat.S_IMODE((mounted / "f0").stat().st_mode) == 0o444
    assert os.access(mounted / "run", os.X_OK) and (mounted / "run").read_bytes() == b"small 0\n"
    assert (mounted / "big").stat().st_ino == store.local_path(items[-1][0]).stat().st_ino

    store.delete(sha)
    assert not store.has(sha) and store.has(items[1][0])
    with pytest.raises(FileNotFoundError):
        store.open(sha)


def test_a_pack_of_small_blobs_that_fails_midway_stores_none(tmp_path):
    import sqlite3

    store = LocalStore(root=str(tmp_path / "blobs"))
    items = [(hashlib.sha256(b"%d" % i).hexdigest(), b"%d" % i) for i in range(40)]
    items.insert(20, ("not-a-blob", []))  # SQLite refuses it midway (a list is no bytes)
    with pytest.raises(sqlite3.Error):
        store.put_many(items)
    assert not any(store.has(sha) for sha, _data in items)
    del items[20]
    store.put_many(items)
    assert all(store.open(sha).read() == data for sha, data in items)


def test_a_commit_notes_old_blobs_as_fresh_and_misses_one_collected_meanwhile(
    db, tmp_path, monkeypatch
):
    """An old blob a version names is noted as fresh (the collector leaves it); one the
    collector removes between the commit's look and its note is reported missing, not named."""
    from datetime import timedelta

    from dataset_mounter import keep
    from dataset_mounter.collect import remove_blobs
    from floe.db.base import utcnow
    from floe.db.models import Blob
    from floe.trees.tree import Entry, Tree

    store = LocalStore(root=str(tmp_path / "blobs"))
    shas = {}
    with db() as s:
        for name in ("old", "gone", "new"):
            shas[name] = hashlib.sha256(name.encode()).hexdigest()
            keep.keep_bytes(s, store, name.encode(), shas[name], "alice")
        for name in ("old", "gone"):
            s.get(Blob, shas[name]).created = utcnow() - timedelta(days=2)
        s.commit()
        ds.create_dataset(s, ALICE, "aging")
    looked = keep._stored

    def look_then_collect(session, *args):
        found = looked(session, *args)
        with db() as collector:
            remove_blobs(collector, store, [shas["gone"]], utcnow() - timedelta(hours=1))
        return found

    monkeypatch.setattr(keep, "_stored", look_then_collect)
    tree = Tree.from_entries([Entry(n, shas[n], len(n)) for n in ("old", "gone", "new")])
    with db() as s, pytest.raises(Conflict) as refused:
        ds.commit_version(s, ALICE, ds.get_dataset(s, ALICE, "alice", "aging"), tree)
    assert refused.value.extra["missing"] == [shas["gone"]]
    with db() as s:
        noted = s.get(Blob, shas["old"]).created.replace(tzinfo=None)
        assert noted > utcnow().replace(tzinfo=None) - timedelta(minutes=1)
