"""Dataset benchmarks against a real hub with the default local blob store.

``python -m bench.datasets [--large-mib 1024] [--small-files 100000]``

(a) upload of 1 GiB in large files vs ``cp -r`` of the same folder
(b) upload of 100k small files (vs ``cp -r`` too)
(c) second version with 1% of the small files changed: bytes the server received ÷ changed bytes
(d) materialize the 100k-file version, cold and warm
(e) spawn-to-ready with three datasets mounted (one of 100k files) ÷ with none
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import time
from pathlib import Path

from bench.harness import save_report, scratch_hub
from bench.spawn import spawn_to_ready
from dataset_mounter import datasets as ds
from dataset_mounter.keep import load_tree
from dataset_mounter.mounts import materialize_tree
from dataset_mounter.settings import DatasetSettings
from floe.client.api import FloeClient
from floe.client.transfer import upload_folder
from floe.core.access import Caller
from floe.core.refs import DatasetRef
from floe.db.database import FloeDatabase
from hub_config.settings import read_settings
from tests.hub_process import HubProcess


def make_large(root: Path, total_mib: int, file_mib: int = 64) -> int:
    root.mkdir(parents=True, exist_ok=True)
    for i in range(total_mib // file_mib):
        with open(root / f"shard-{i:03}.bin", "wb") as f:
            for _ in range(file_mib):
                f.write(os.urandom(1024 * 1024))
    return total_mib * 1024 * 1024


def make_small(root: Path, count: int, size: int = 1024) -> None:
    for i in range(count):
        d = root / f"d{i // 1000:03}"
        if i % 1000 == 0:
            d.mkdir(parents=True)
        (d / f"f{i:06}.bin").write_bytes(os.urandom(size))


def timed(fn: object, *args: object) -> tuple[float, object]:
    started = time.perf_counter()
    result = fn(*args)
    return time.perf_counter() - started, result


def cp_r(src: Path, dest: Path, durable: bool = False, keep: bool = False) -> float:
    """``cp -r``; with ``durable``, followed by ``sync`` as an upload's commit is; the copy
    is removed afterwards unless ``keep``."""
    subprocess.run(["sync"])
    command = f"cp -r '{src}' '{dest}'" + (" && sync" if durable else "")
    seconds, _ = timed(subprocess.run, ["sh", "-c", command])
    if not keep:
        shutil.rmtree(dest)
    return seconds


def warm(folder: Path) -> None:
    """Flush dirty pages, then read the folder once, so copy and upload both start cached."""
    subprocess.run(["sync"])
    for path in folder.iterdir():
        with open(path, "rb") as f:
            while f.read(1 << 24):
                pass


def _large_uploads(report: dict, client: FloeClient, folder: Path, size: int, rounds: int) -> None:
    """(a): rounds of new bytes in the same files; each round copies and uploads them.

    Two shared cores make single timings swing by 2x, so each round alternates which goes
    first and the medians are compared.
    """
    client.create_dataset("large")
    times: dict[str, list[float]] = {"cp": [], "cp_sync": [], "upload": []}
    for i in range(rounds):
        if i:
            make_large(folder, size >> 20)  # new bytes, or the upload would send nothing
        steps = [
            ("cp", lambda: cp_r(folder, folder.with_name("large-copy"))),
            ("cp_sync", lambda: cp_r(folder, folder.with_name("large-copy"), durable=True)),
            ("upload", lambda: timed(upload_folder, client, "admin/large", folder, "bench")[0]),
        ]
        for name, step in steps if i % 2 == 0 else reversed(steps):
            warm(folder)
            times[name].append(step())
    medians = {name: statistics.median(values) for name, values in times.items()}
    report["a_rounds"] = times
    report["a_upload_1GiB_s"] = medians["upload"]
    report["a_cp_r_s"] = medians["cp"]
    report["a_cp_r_sync_s"] = medians["cp_sync"]
    report["a_ratio"] = medians["upload"] / medians["cp"]
    report["a_ratio_vs_durable_cp"] = medians["upload"] / medians["cp_sync"]
    print(
        f"(a) {size >> 20} MiB in large files, median of {rounds}: upload "
        f"{medians['upload']:.2f} s; cp -r {medians['cp']:.2f} s, ratio {report['a_ratio']:.2f} "
        f"(target <= 1.5); cp -r && sync {medians['cp_sync']:.2f} s, ratio "
        f"{report['a_ratio_vs_durable_cp']:.2f}",
        flush=True,
    )


def received(client: FloeClient) -> int:
    return client.json("GET", "blobs/stats")["received_bytes"]


def main() -> None:
    parser = argparse.ArgumentParser(description="dataset benchmarks")
    parser.add_argument("--large-mib", type=int, default=1024)
    parser.add_argument("--small-files", type=int, default=100_000)
    parser.add_argument("--spawns", type=int, default=9)
    parser.add_argument("--rounds", type=int, default=3, help="rounds of (a)")
    args = parser.parse_args()

    report: dict = {}
    with scratch_hub("data") as (hub, work):
        os.environ["XDG_CACHE_HOME"] = str(work / "client-cache")  # a cold client hash cache
        print("generating data...", flush=True)
        large_bytes = make_large(work / "large", args.large_mib)
        make_small(work / "small", args.small_files)
        (work / "extra").mkdir()
        (work / "extra" / "labels.csv").write_text("id,label\n" * 1000)
        hub.start()
        client = FloeClient(hub.url, hub.admin_token)
        for name in ("small", "extra"):
            client.create_dataset(name)

        _large_uploads(report, client, work / "large", large_bytes, args.rounds)

        cp_small = cp_r(work / "small", work / "small-copy")
        up_small, _ = timed(upload_folder, client, "admin/small", work / "small", "v1")
        report["b_upload_small_s"] = up_small
        report["b_cp_r_s"] = cp_small
        print(
            f"(b) {args.small_files} small files: upload {up_small:.2f} s, "
            f"cp -r {cp_small:.2f} s, ratio {up_small / cp_small:.2f}",
            flush=True,
        )

        changed = 0
        files = sorted((work / "small").rglob("*.bin"))
        for path in files[::100]:
            path.write_bytes(os.urandom(path.stat().st_size))
            changed += path.stat().st_size
        before = received(client)
        up_second, _ = timed(upload_folder, client, "admin/small", work / "small", "v2")
        sent = received(client) - before
        report["c_bytes_sent"] = sent
        report["c_bytes_changed"] = changed
        report["c_ratio"] = sent / changed
        report["c_upload_s"] = up_second
        print(
            f"(c) 1% changed: sent {sent} B for {changed} B changed, ratio "
            f"{report['c_ratio']:.3f} (target <= 1.02); upload {up_second:.2f} s",
            flush=True,
        )
        upload_folder(client, "admin/extra", work / "extra", "v1")

        config = _service_config(hub)
        settings = DatasetSettings(config=config)
        sessions = FloeDatabase(config=config).sessions
        with sessions() as db:
            _dataset, version = ds.resolve(
                db, Caller("admin", True), DatasetRef.parse("small:2", "admin")
            )
            tree = load_tree(db, version.tree_digest)
        cache = hub.data_dir / "bench-cache"
        with sessions() as db:
            # What the spawner does for each mount: read the manifest, lay it out if new.
            cold, _ = timed(materialize_tree, db, version.tree_digest, settings.store, cache)
            warm, _ = timed(materialize_tree, db, version.tree_digest, settings.store, cache)
        report["d_cold_s"], report["d_warm_s"] = cold, warm
        print(
            f"(d) materialize {tree.file_count} files: cold {cold:.2f} s (target <= 5), "
            f"warm {warm * 1000:.2f} ms (target <= 100)",
            flush=True,
        )

        mounts = {"datasets": ["admin/small:2", "admin/large:1", "admin/extra:1"]}
        # The first spawn with these mounts lays the versions out on this node (cold cache).
        report["e_first_spawn_with_mounts_s"] = _spawn(hub, "admin", mounts)
        times: dict[str, list[float]] = {"none": [], "mounts": []}
        for i in range(args.spawns):
            order = [("none", {}), ("mounts", mounts)]
            for label, options in order if i % 2 == 0 else reversed(order):
                times[label].append(_spawn(hub, "admin", options))
        with_mounts, without = times["mounts"], times["none"]
        report["e_with_mounts_s"] = statistics.median(with_mounts)
        report["e_without_s"] = statistics.median(without)
        report["e_ratio"] = report["e_with_mounts_s"] / report["e_without_s"]
        print(
            f"(e) spawn-to-ready, median of {args.spawns}: three datasets "
            f"{report['e_with_mounts_s']:.2f} s, none {report['e_without_s']:.2f} s, ratio "
            f"{report['e_ratio']:.3f} (target <= 1.05); first spawn with mounts (cold node "
            f"cache) {report['e_first_spawn_with_mounts_s']:.2f} s",
            flush=True,
        )
    save_report("datasets", report)


def _spawn(hub: HubProcess, user: str, options: dict) -> float:
    seconds = spawn_to_ready(hub, user, options, timeout=600)
    hub.stop_server(user)
    return seconds


def _service_config(hub: HubProcess) -> object:
    os.environ["FLOE_DATA_DIR"] = str(hub.data_dir)
    return read_settings().floe_config()


if __name__ == "__main__":
    main()
