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
import os
import shutil
import statistics
import subprocess
import sys
from pathlib import Path

from bench.datasets import cp_r, make_large, make_small, timed, warm
from bench.harness import save_report, scratch_hub
from bench.proxy import _service_on_gateway, calls
from floe.client.api import FloeClient
from floe.client.transfer import download_version, upload_folder
from tests.hub_process import REPO_ROOT

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


def main() -> None:
    parser = argparse.ArgumentParser(description="transfers through the proxy vs baselines")
    parser.add_argument("--large-mib", type=int, default=1024)
    parser.add_argument("--small-files", type=int, default=100_000)
    parser.add_argument("--no-dvc", action="store_true", help="leave the DVC baseline out")
    parser.add_argument("--requests", type=int, default=1000)
    args = parser.parse_args()
    dvc = None if args.no_dvc else dvc_command()
    report: dict = {}
    with scratch_hub("transfers") as (hub, work):
        os.environ["XDG_CACHE_HOME"] = str(work / "client-cache")  # a cold client hash cache
        print("generating data...", flush=True)
        size = make_large(work / "large", args.large_mib)
        make_small(work / "small", args.small_files)
        hub.start()
        client = FloeClient(hub.url, hub.admin_token)
        for name in ("large", "small"):
            client.create_dataset(name)
        for label, folder in (("a_large", work / "large"), ("b_small", work / "small")):
            if label == "a_large":
                warm(folder)  # both start from cached pages
            figures = {"cp_sync_s": cp_r(folder, work / "copy", durable=True)}
            if label == "a_large":
                warm(folder)
            figures["floe_s"] = timed(upload_folder, client, f"admin/{folder.name}", folder, "v1")[
                0
            ]
            if dvc is not None:
                figures["dvc_s"] = dvc_add_push(dvc, folder, work)
                figures["ratio_dvc"] = figures["floe_s"] / figures["dvc_s"]
            figures["ratio_cp_sync"] = figures["floe_s"] / figures["cp_sync_s"]
            report[label] = figures
            what = (
                f"{size >> 20} MiB in large files"
                if label == "a_large"
                else (f"{args.small_files} files of 1 KiB")
            )
            dvc_part = (
                f", dvc add && push {figures['dvc_s']:.2f} s (ratio {figures['ratio_dvc']:.2f})"
                if dvc is not None
                else ""
            )
            print(
                f"({label[0]}) upload {what}: floe {figures['floe_s']:.2f} s; cp -r && sync "
                f"{figures['cp_sync_s']:.2f} s (ratio {figures['ratio_cp_sync']:.2f}){dvc_part}",
                flush=True,
            )
        subprocess.run(["sync"])
        down, _ = timed(download_version, client, "admin/large", 1, work / "downloaded")
        copy = cp_r(work / "large", work / "copy")
        report["c_download"] = {"floe_s": down, "cp_s": copy, "ratio": down / copy}
        print(
            f"(c) download {size >> 20} MiB: floe {down:.2f} s, cp -r {copy:.2f} s, ratio "
            f"{down / copy:.2f}",
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
    save_report("transfers", report)


if __name__ == "__main__":
    main()
