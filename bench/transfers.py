"""Transfers through the hub's proxy, side by side with their baselines in one run.

``python -m bench.transfers [--large-mib 1024] [--small-files 100000] [--no-dvc]``

(a) upload 1 GiB in large files: ``floe`` (client → proxy → floe service → blob store,
    committed) vs ``cp -r && sync`` vs ``dvc add && dvc push`` to a local remote;
(b) upload 100k files of 1 KiB: the same three;
(c) download 1 GiB (``floe data download``, every file's hash checked) vs ``cp -r``;
(d) a proxied API call (a job page's), p50, through the proxy vs straight to the service.
DVC comes from the package index into its own virtualenv (``.tools/dvc``) the first time.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import shutil
import statistics
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

from bench.datasets import cp_r, make_large, make_small, timed, warm
from bench.harness import hub_cpu_seconds, save_report, scratch_hub
from bench.proxy import _service_on_gateway, calls
from floe.client.api import FloeClient
from floe.client.transfer import download_version, upload_folder
from tests.hub_process import REPO_ROOT, HubProcess

DVC_VENV = REPO_ROOT / ".tools" / "dvc"


def dvc_command() -> Path:
    dvc = DVC_VENV / "bin" / "dvc"
    if not dvc.exists():
        print("installing dvc into .tools/dvc (the baseline)...", flush=True)
        subprocess.run([sys.executable, "-m", "venv", str(DVC_VENV)], check=True)
        subprocess.run(
            [str(DVC_VENV / "bin" / "pip"), "install", "-q", "dvc"], check=True, timeout=900
        )
    return dvc


def dvc_add_push(dvc: Path, folder: Path, work: Path) -> float:
    """``dvc add`` the folder and ``dvc push`` it to a local remote, in a fresh repository."""
    repo = work / "dvc-repo"
    remote = work / "dvc-remote"
    for path in (repo, remote):
        shutil.rmtree(path, ignore_errors=True)
    repo.mkdir()
    shutil.copytree(folder, repo / "data", copy_function=os.link)  # the same files, no copy
    env = {**os.environ, "DVC_NO_ANALYTICS": "1"}

    def run(*args: str) -> None:
        subprocess.run([str(dvc), *args], cwd=repo, env=env, check=True, capture_output=True)

    subprocess.run(["git", "init", "-q"], cwd=repo, check=True)
    run("init", "-q")
    run("remote", "add", "-d", "local", str(remote))
    subprocess.run(["sync"])
    seconds, _ = timed(lambda: (run("add", "-q", "data"), run("push", "-q")))
    shutil.rmtree(repo, ignore_errors=True)
    shutil.rmtree(remote, ignore_errors=True)
    return seconds


def _spent(before: dict[str, float], after: dict[str, float]) -> dict[str, float]:
    return {part: round(after[part] - before[part], 2) for part in after}


def sha256_seconds_per_gib() -> float:
    """What hashing 1 GiB costs one core here (the client and the service each do it once)."""
    data = os.urandom(64 << 20)
    seconds, _ = timed(lambda: [hashlib.sha256(data).digest() for _ in range(16)])
    return seconds


def _alternating(
    hub: HubProcess,
    rounds: int,
    baseline: tuple[str, Callable[[], float]],
    floe: Callable[[], float],
    prepare: Callable[[int], object] = lambda _round: None,
    before_each: Callable[[], object] = lambda: None,
) -> dict:
    """Rounds of the baseline and Floe, which goes first alternating (two shared cores swing
    single timings); their medians, and the CPU-seconds each part of Floe spent in the
    round nearest its median."""
    name = baseline[0]
    times: dict[str, list[float]] = {name: [], "floe_s": []}
    spent: list[dict[str, float]] = []

    def measured() -> float:
        before = hub_cpu_seconds(hub)
        seconds = floe()
        spent.append(_spent(before, hub_cpu_seconds(hub)))
        return seconds

    for i in range(rounds):
        prepare(i)
        steps = [baseline, ("floe_s", measured)]
        for step_name, step in steps if i % 2 == 0 else reversed(steps):
            before_each()
            times[step_name].append(step())
    median = statistics.median(times["floe_s"])
    return {
        "rounds": times,
        "floe_s": median,
        name: statistics.median(times[name]),
        "cpu_s": spent[min(range(rounds), key=lambda i: abs(times["floe_s"][i] - median))],
    }


def large_rounds(hub: HubProcess, client: FloeClient, folder: Path, size: int, rounds: int) -> dict:
    """(a): rounds of new bytes in the same files, each copied with ``cp -r && sync`` and
    uploaded, both from cached pages."""

    def new_bytes(i: int) -> None:
        if i:
            make_large(folder, size >> 20)  # or the upload would send nothing

    return _alternating(
        hub,
        rounds,
        ("cp_sync_s", lambda: cp_r(folder, folder.with_name("large-copy"), durable=True)),
        lambda: timed(upload_folder, client, f"admin/{folder.name}", folder, "bench")[0],
        prepare=new_bytes,
        before_each=lambda: warm(folder),
    )


def small_upload(hub: HubProcess, client: FloeClient, folder: Path, work: Path) -> dict:
    """(b): ``cp -r && sync`` just before and just after the upload, their mean the baseline.

    Nothing is deleted in between: on this machine's journal-less ext4, making files soon
    after many were deleted costs up to ten times as much per file (the inode allocator
    steps over every recently freed inode), which would charge whoever goes second."""
    before = cp_r(folder, work / "small-copy-1", durable=True, keep=True)
    cpu = hub_cpu_seconds(hub)
    floe = timed(upload_folder, client, f"admin/{folder.name}", folder, "v1")[0]
    spent = _spent(cpu, hub_cpu_seconds(hub))
    after = cp_r(folder, work / "small-copy-2", durable=True, keep=True)
    return {
        "floe_s": floe,
        "cp_sync_s": (before + after) / 2,
        "cp_sync_each_s": [before, after],
        "cpu_s": spent,
    }


def download_rounds(
    hub: HubProcess, client: FloeClient, folder: Path, work: Path, rounds: int
) -> dict:
    """(c): ``floe data download`` (every file's hash checked) and ``cp -r``."""
    return _alternating(
        hub,
        rounds,
        ("cp_s", lambda: cp_r(folder, work / "copy")),
        lambda: _download(client, folder.name, work / "downloaded"),
    )


def _download(client: FloeClient, name: str, dest: Path) -> float:
    subprocess.run(["sync"])
    seconds = timed(download_version, client, f"admin/{name}", None, dest)[0]
    shutil.rmtree(dest)
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description="transfers through the proxy vs baselines")
    parser.add_argument("--large-mib", type=int, default=1024)
    parser.add_argument("--small-files", type=int, default=100_000)
    parser.add_argument("--rounds", type=int, default=3, help="rounds of (a) and (c)")
    parser.add_argument("--no-dvc", action="store_true", help="leave the DVC baseline out")
    parser.add_argument("--requests", type=int, default=1000)
    args = parser.parse_args()
    dvc = None if args.no_dvc else dvc_command()
    report: dict = {"cores": os.cpu_count(), "sha256_s_per_gib": sha256_seconds_per_gib()}
    with scratch_hub("transfers") as (hub, work):
        os.environ["XDG_CACHE_HOME"] = str(work / "client-cache")  # a cold client hash cache
        print("generating data...", flush=True)
        size = make_large(work / "large", args.large_mib)
        make_small(work / "small", args.small_files)
        hub.start()
        client = FloeClient(hub.url, hub.admin_token)
        for name in ("large", "small"):
            client.create_dataset(name)
        large = report["a_large"] = large_rounds(hub, client, work / "large", size, args.rounds)
        small = report["b_small"] = small_upload(hub, client, work / "small", work)
        for figures, folder in ((large, work / "large"), (small, work / "small")):
            figures["ratio_cp_sync"] = figures["floe_s"] / figures["cp_sync_s"]
            if dvc is not None:
                figures["dvc_s"] = dvc_add_push(dvc, folder, work)
                figures["ratio_dvc"] = figures["floe_s"] / figures["dvc_s"]
        for label, figures, what in (
            ("a", large, f"{size >> 20} MiB in large files, median of {args.rounds}"),
            ("b", small, f"{args.small_files} files of 1 KiB"),
        ):
            dvc_part = (
                f", dvc add && push {figures['dvc_s']:.2f} s (ratio {figures['ratio_dvc']:.2f})"
                if dvc is not None
                else ""
            )
            print(
                f"({label}) upload {what}: floe {figures['floe_s']:.2f} s; cp -r && sync "
                f"{figures['cp_sync_s']:.2f} s (ratio {figures['ratio_cp_sync']:.2f}){dvc_part}"
                f"; CPU-s spent: {figures['cpu_s']}",
                flush=True,
            )
        down = report["c_download"] = download_rounds(
            hub, client, work / "large", work, args.rounds
        )
        down["ratio"] = down["floe_s"] / down["cp_s"]
        print(
            f"(c) download {size >> 20} MiB, median of {args.rounds}: floe {down['floe_s']:.2f} "
            f"s, cp -r {down['cp_s']:.2f} s, ratio {down['ratio']:.2f}; CPU-s spent: "
            f"{down['cpu_s']}",
            flush=True,
        )
        token = hub.admin_token
        through = f"{hub.url}/services/floe/api/jobs"
        direct = _service_on_gateway(hub)
        calls(through, token, 100)
        calls(direct, token, 100)
        through_ms = statistics.median(calls(through, token, args.requests)) * 1000
        direct_ms = statistics.median(calls(direct, token, args.requests)) * 1000
        report["d_call"] = {"p50_ms": through_ms, "direct_p50_ms": direct_ms}
        print(
            f"(d) API call p50: through the proxy {through_ms:.2f} ms, direct {direct_ms:.2f} "
            f"ms, the proxy adds {through_ms - direct_ms:.2f} ms (target <= 1)",
            flush=True,
        )
        print(
            f"floor: sha256 costs {report['sha256_s_per_gib']:.2f} CPU-s per GiB here, paid "
            f"twice per upload (the client names blobs, the service checks them), on "
            f"{report['cores']} cores",
            flush=True,
        )
    save_report("transfers", report)


if __name__ == "__main__":
    main()
