"""The store holds only bytes it wrote and hashed itself, and ``check_store`` finds any blob
that is not what its name says (local directory and a real S3 server)."""

from __future__ import annotations

import hashlib
import os
import stat

import pytest
from sqlalchemy import select

from dataset_mounter.keep import keep_folder, missing_blobs, record_blobs
from dataset_mounter.materialize import materialize
from dataset_mounter.store_check import check_store
from dataset_mounter.stores import BlobChanged, LocalStore, S3Store
from floe.db.database import make_sessionmaker
from floe.db.models import Blob, Dataset, Version

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


@pytest.fixture(params=["local", "s3"])
def store(request, tmp_path):
    if request.param == "local":
        return LocalStore(root=str(tmp_path / "blobs"))
    s3 = request.getfixturevalue("s3")
    return S3Store(bucket=s3.make_bucket(f"check-{os.urandom(4).hex()}"), endpoint_url=s3.url)


@pytest.fixture
def db(tmp_path):
    sessions = make_sessionmaker(f"sqlite:///{tmp_path / 'floe.sqlite'}")
    with sessions() as session:
        yield session


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def test_a_file_linked_elsewhere_is_copied_so_changing_it_leaves_the_blob_whole(store, tmp_path):
    log = tmp_path / "log"
    log.write_bytes(b"the job's bytes\n")
    os.link(log, tmp_path / "x")  # /output/x a hard link to the job's log
    blob = sha(b"the job's bytes\n")
    store.put_file(blob, tmp_path / "x")
    with open(log, "ab") as appended:  # what Floe then adds to the log
        appended.write(b"[floe] not kept from /output: zz\n")
    with store.open(blob) as kept:
        assert kept.read() == b"the job's bytes\n"
    if isinstance(store, LocalStore):
        info = store.local_path(blob).stat()
        assert info.st_ino != log.stat().st_ino
        assert (info.st_uid, stat.S_IMODE(info.st_mode), info.st_nlink) == (os.getuid(), 0o444, 1)


def test_bytes_other_than_the_name_says_are_refused_and_nothing_is_stored(store, tmp_path):
    made = tmp_path / "made"
    made.write_bytes(b"changed after it was hashed")
    blob = sha(b"what was hashed")
    with pytest.raises(BlobChanged, match="hash to"):
        store.put_file(blob, made)
    assert not store.has(blob)
    if isinstance(store, LocalStore):
        assert not [
            p for p in (tmp_path / "blobs").rglob("*") if p.is_file() and "sqlite" not in p.name
        ]


def test_links_and_fifos_are_never_read_as_a_blob(store, tmp_path):
    secret = tmp_path / "secret"
    secret.write_bytes(b"root's")
    (tmp_path / "link").symlink_to(secret)
    os.mkfifo(tmp_path / "fifo")  # reading would block the service forever
    for name in ("link", "fifo"):
        with pytest.raises(BlobChanged):
            store.put_file(sha(b"root's"), tmp_path / name)
    assert not store.has(sha(b"root's"))


def test_only_the_stores_own_file_of_one_name_is_linked(tmp_path):
    store = LocalStore(root=str(tmp_path / "blobs"))
    spool = tmp_path / "spool"
    spool.write_bytes(b"an upload, hashed while it was written")
    blob = sha(spool.read_bytes())
    store.put_file(blob, spool, own=True)
    assert store.local_path(blob).stat().st_ino == spool.stat().st_ino  # no copy
    shared = tmp_path / "shared"
    shared.write_bytes(b"own, but with a second name")
    os.link(shared, tmp_path / "second")
    other = sha(shared.read_bytes())
    store.put_file(other, shared, own=True)
    assert store.local_path(other).stat().st_ino != shared.stat().st_ino


def test_a_job_output_file_changed_while_it_is_kept_is_left_out_and_said(tmp_path, db):
    store = LocalStore(root=str(tmp_path / "blobs"))
    output = tmp_path / "output"
    output.mkdir()
    (output / "fine.txt").write_bytes(b"fine")
    (output / "moving.bin").write_bytes(b"before")
    real_put = store.put_file

    def put_after_a_change(blob, path, own=False):
        if path.name == "moving.bin":
            path.write_bytes(b"after!")  # same size, other bytes
        real_put(blob, path, own)

    store.put_file = put_after_a_change
    skipped: list = []
    tree = keep_folder(db, store, output, "alice", skipped)
    assert [e.path for e in tree.entries] == ["fine.txt"]
    assert skipped == [("moving.bin", "it changed while it was being kept")]
    assert check_store(db, store).sound


def test_check_store_finds_damaged_and_missing_blobs_names_their_trees_and_moves_them_aside(
    tmp_path, db
):
    from dataset_mounter import datasets as ds
    from floe.core.access import Caller
    from floe.trees.scan import scan_folder

    store = LocalStore(root=str(tmp_path / "blobs"))
    folder = tmp_path / "photos"
    folder.mkdir()
    big, small = os.urandom(200_000), b"a small blob, kept in the store's sqlite file"
    (folder / "big.bin").write_bytes(big)
    (folder / "small.txt").write_bytes(small)
    tree, _sources = scan_folder(folder)
    store.put_file(sha(big), folder / "big.bin")
    store.put_many([(sha(small), small)])
    record_blobs(db, {sha(big): len(big), sha(small): len(small)}, "alice")
    dataset = ds.create_dataset(db, Caller("alice"), "photos")
    ds.commit_version(db, Caller("alice"), dataset, tree)
    gone = b"noted as stored, then lost"
    record_blobs(db, {sha(gone): len(gone)}, "alice")

    assert [d.sha256 for d in check_store(db, store).damaged] == [sha(gone)]

    path = store.local_path(sha(big))  # a disk fault, or a link the store once took
    os.chmod(path, 0o644)
    with open(path, "r+b") as blob:
        blob.write(b"XX")
    laid_out = materialize(tree, store, tmp_path / "cache")  # links the damaged bytes
    assert (laid_out / "big.bin").read_bytes() != big
    small_db = store.small._db()
    small_db.execute("UPDATE blobs SET data = ? WHERE sha256 = ?", (b"other", sha(small)))
    report = check_store(db, store)
    assert report.checked == 3 and not report.sound
    problems = {d.sha256: d for d in report.damaged}
    assert set(problems) == {sha(big), sha(small), sha(gone)}
    assert "hash to" in problems[sha(big)].problem and "missing" in problems[sha(gone)].problem
    assert problems[sha(big)].named_by == ["dataset alice/photos:1"]
    assert problems[sha(small)].named_by == ["dataset alice/photos:1"]
    assert len(check_store(db, store, sample=2).damaged) <= 2

    moved = check_store(db, store, move_aside=True, cache_dir=tmp_path / "cache")
    assert all(d.moved_to for d in moved.damaged if d.sha256 != sha(gone))
    assert not laid_out.exists()  # laid out again, from the bytes sent again, when next used
    assert (tmp_path / "blobs" / "damaged").is_dir()
    assert check_store(db, store).sound
    # The blobs are missing to whoever names them, so the next upload stores them again.
    assert set(missing_blobs(db, tree.blob_ids())) == {sha(big), sha(small)}
    store.put_file(sha(big), folder / "big.bin")
    store.put_many([(sha(small), small)])
    record_blobs(db, {sha(big): len(big), sha(small): len(small)}, "alice")
    again = check_store(db, store)
    assert again.sound and again.checked == 2
    with store.open(sha(big)) as data:
        assert data.read() == big
    assert (materialize(tree, store, tmp_path / "cache") / "big.bin").read_bytes() == big
    assert db.scalar(select(Version.number).join(Dataset)) == 1


def test_a_blob_others_could_change_is_told_and_made_the_stores_own(tmp_path, db):
    store = LocalStore(root=str(tmp_path / "blobs"))
    data = os.urandom(100_000)
    path = tmp_path / "file"
    path.write_bytes(data)
    store.put_file(sha(data), path)
    record_blobs(db, {sha(data): len(data)}, "alice")
    os.chmod(store.local_path(sha(data)), 0o666)
    report = check_store(db, store)
    assert not report.damaged and [d.sha256 for d in report.loose] == [sha(data)]
    assert check_store(db, store, move_aside=True).tightened == 1
    assert stat.S_IMODE(store.local_path(sha(data)).stat().st_mode) == 0o444
    assert check_store(db, store).sound
    assert db.scalar(select(Blob.sha256)) == sha(data)


def test_a_link_inside_output_to_a_kept_file_keeps_both(tmp_path, db):
    store = LocalStore(root=str(tmp_path / "blobs"))
    output = tmp_path / "output"
    output.mkdir()
    (output / "model.pt").write_bytes(b"weights")
    (output / "model_latest.pt").symlink_to("model.pt")  # sorts after: its path is the source
    skipped: list = []
    tree = keep_folder(db, store, output, "alice", skipped)
    assert [e.path for e in tree.entries] == ["model.pt", "model_latest.pt"] and skipped == []
    with store.open(sha(b"weights")) as kept:
        assert kept.read() == b"weights"
