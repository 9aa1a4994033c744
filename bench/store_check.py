"""``floe-admin check-store``'s reading speed, against hashing the same blobs by hand.

``python -m bench.store_check [--large-mib 1024] [--small 100000]``

(a) a GiB of large blobs (64 MiB files): check-store vs ``sha256sum`` of the blob files
(b) 100k small blobs as the store keeps them (rows of small_blobs.sqlite), and the same 100k
    kept as a file each: check-store vs ``sha256sum`` of the 100k files

Each is read from the page cache (written just before); a cold disk adds its read time to
both sides alike.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import subprocess
import tempfile
import time
from pathlib import Path

from sqlalchemy.orm import Session

from bench.harness import save_report
from dataset_mounter.keep import record_blobs
from dataset_mounter.store_check import check_store
from dataset_mounter.stores import LocalStore
from floe.db.database import make_sessionmaker

PACK = 2000  # blobs stored and recorded at once, as an upload's pack


def _store(root: Path, small_blob_bytes: int) -> LocalStore:
    return LocalStore(root=str(root), small_blob_bytes=small_blob_bytes)


def fill_large(db: Session, store: LocalStore, total_mib: int, blob_mib: int = 64) -> None:
    scratch = Path(store.root).parent / "large.tmp"
    base = os.urandom(blob_mib * 1024 * 1024)
    for i in range(total_mib // blob_mib):
        data = i.to_bytes(8, "big") + base[8:]
        scratch.write_bytes(data)
        sha = hashlib.sha256(data).hexdigest()
        store.put_file(sha, scratch)
        record_blobs(db, {sha: len(data)}, "bench")
    scratch.unlink()


def fill_small(db: Session, store: LocalStore, count: int, size: int = 1024) -> None:
    for start in range(0, count, PACK):
        items = [
            (hashlib.sha256(data).hexdigest(), data)
            for data in (os.urandom(size) for _ in range(min(PACK, count - start)))
        ]
        store.put_many(items)
        record_blobs(db, {sha: len(data) for sha, data in items}, "bench")


def sha256sum_seconds(root: Path) -> float:
    """``find ROOT -type f | xargs sha256sum``, as a deployer would check by hand."""
    started = time.perf_counter()
    subprocess.run(
        f"find {root} -type f -print0 | xargs -0 -n 2000 sha256sum > /dev/null",
        shell=True,
        check=True,
    )
    return time.perf_counter() - started


def checked_seconds(db: Session, store: LocalStore) -> tuple[float, int]:
    started = time.perf_counter()
    report = check_store(db, store)
    assert report.sound, report.damaged[:3]
    return time.perf_counter() - started, report.checked


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--large-mib", type=int, default=1024)
    parser.add_argument("--small", type=int, default=100_000)
    args = parser.parse_args()
    report: dict = {}
    with tempfile.TemporaryDirectory(dir=os.environ.get("FLOE_BENCH_DIR")) as scratch:
        root = Path(scratch)
        with make_sessionmaker(f"sqlite:///{root / 'large.sqlite'}")() as db:
            store = _store(root / "large", 64 * 1024)
            fill_large(db, store, args.large_mib)
            seconds, _n = checked_seconds(db, store)
            by_hand = sha256sum_seconds(root / "large" / "sha256")
        gib = args.large_mib / 1024
        report.update(large_check_s_per_gib=seconds / gib, large_sha256sum_s_per_gib=by_hand / gib)
        print(
            f"(a) {args.large_mib} MiB of 64 MiB blobs: check-store {seconds / gib:.2f} s/GiB, "
            f"sha256sum {by_hand / gib:.2f} s/GiB, ratio {seconds / by_hand:.2f}",
            flush=True,
        )
        per = 100_000 / args.small
        for layout, small_bytes in (("sqlite", 64 * 1024), ("files", 0)):
            with make_sessionmaker(f"sqlite:///{root / f'{layout}.sqlite'}")() as db:
                store = _store(root / layout, small_bytes)
                fill_small(db, store, args.small)
                seconds, count = checked_seconds(db, store)
            report[f"small_{layout}_check_s_per_100k"] = seconds * per
            line = f"(b) {count:,} blobs of 1 KiB as {layout}: check-store {seconds * per:.2f}"
            line += " s/100k"
            if layout == "files":
                by_hand = sha256sum_seconds(root / layout / "sha256")
                report["small_files_sha256sum_s_per_100k"] = by_hand * per
                line += f", sha256sum {by_hand * per:.2f} s/100k, ratio {seconds / by_hand:.2f}"
            print(line, flush=True)
    save_report("store_check", report)


if __name__ == "__main__":
    main()
