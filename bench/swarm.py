"""Jobs and workspaces on a two-node swarm beside the same on one machine: a job's submit ->
running, cold and warm; a workspace's spawn -> ready.

``python -m bench.swarm [--rounds 3] [--files 32] [--file-mib 2]``

Each round makes a new dataset version (``files`` × ``file-mib``, held by S3 only) and runs a
job mounting it twice: cold (the tree is laid out from S3 where the job runs) and warm (it is
there already). On the swarm the job runs on the second machine (a Docker engine in a network
namespace, the tree laid out by Floe's volume plugin there, the log and /output sent back);
on one machine, under a hub with the default backend (the hub lays the tree out). The figure
is the median seconds from submit to the job's state being 'running', and the ratio
swarm ÷ one machine. Both hubs' blobs are in the same S3 server (moto) on this machine.

Spawn -> ready (``bench.spawn.spawn_to_ready``: the POST until JupyterLab answers through the
proxy) of one user's workspace, ``rounds`` times, each stopped before the next; the first
makes the home. On the swarm it runs on the second machine (the workspace image loaded there
beforehand: no registry), on one machine under the default spawner.
"""

from __future__ import annotations

import argparse
import os
import secrets
import statistics
import tempfile
import time
import uuid
from pathlib import Path

from bench.harness import save_report
from bench.spawn import spawn_to_ready
from containers.catalog import WORKSPACE_IMAGE
from floe.client.api import FloeClient
from floe.client.transfer import upload_folder
from images.build import LOCAL_BASE
from tests.hub_process import HubProcess
from tests.s3_server import CREDENTIALS, S3Server
from tests.swarm_setup import SWARM_WORKSPACES_CONFIG, swarm_hub, two_node_swarm

ONE_MACHINE_CONFIG = f"""
from containers.catalog import DEFAULT_ENVIRONMENTS, DEFAULT_MACHINES
c.Catalog.environments = DEFAULT_ENVIRONMENTS + [
    {{"slug": "plain", "display_name": "Plain", "image": "{LOCAL_BASE}"}}
]
c.Catalog.machines = DEFAULT_MACHINES + [
    {{"slug": "second", "display_name": "Second machine", "cpu": 0.5, "memory": "256Mi"}},
    {{"slug": "second-lab", "display_name": "Lab", "cpu": 1, "memory": "1Gi"}},
]
"""


def _user(hub: HubProcess) -> tuple[FloeClient, str]:
    name = f"bench{uuid.uuid4().hex[:5]}"
    hub.api("POST", f"/users/{name}").raise_for_status()
    token = hub.api("POST", f"/users/{name}/tokens", json={"note": "bench"}).json()["token"]
    client = FloeClient(hub.url, token)
    client.create_dataset("inputs")
    return client, name


def _version(client: FloeClient, owner: str, work: Path, files: int, size: int) -> None:
    folder = Path(tempfile.mkdtemp(dir=work))
    for i in range(files):
        (folder / f"part-{i:03d}.bin").write_bytes(os.urandom(size))
    upload_folder(client, f"{owner}/inputs", folder, "bench")


def _to_running(client: FloeClient) -> float:
    """Seconds from submit to 'running' of a job mounting the newest version."""
    body = {
        "project": "bench",
        "kind": "command",
        "environment": "plain",
        "machine": "second",
        "command": "ls /input/inputs > /dev/null; sleep 1",
        "datasets": ["inputs"],
    }
    started = time.perf_counter()
    job = client.submit_job(body)
    while (state := client.job(job["id"]))["state"] not in ("running", "complete", "error"):
        time.sleep(0.02)
    seconds = time.perf_counter() - started
    if state["state"] != "running":
        raise RuntimeError(f"the job did not run: {state['state']}: {state['reason']}")
    while (state := client.job(job["id"]))["state"] not in ("complete", "error", "stopped"):
        time.sleep(0.2)
    if state["state"] != "complete":
        raise RuntimeError(f"the job failed: {state['reason']}")
    return seconds


def _rounds(hub: HubProcess, work: Path, args: argparse.Namespace) -> dict[str, list[float]]:
    client, owner = _user(hub)
    times: dict[str, list[float]] = {"cold": [], "warm": [], "spawn": []}
    for _ in range(args.rounds):
        _version(client, owner, work, args.files, args.file_mib * 1024**2)
        times["cold"].append(_to_running(client))
        times["warm"].append(_to_running(client))
    for _ in range(args.rounds):
        times["spawn"].append(spawn_to_ready(hub, owner, {"machine": "second-lab"}))
        hub.stop_server(owner)
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--files", type=int, default=32)
    parser.add_argument("--file-mib", type=int, default=2)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="floe-bench-swarm-", dir="/var/tmp"))
    s3 = S3Server(work / "moto.log")
    s3.start()
    os.environ.update(CREDENTIALS)
    results = {}
    try:
        one = HubProcess(
            instance=f"benchone{uuid.uuid4().hex[:4]}",
            data_dir=work / "one",
            admin_password=secrets.token_urlsafe(16),
            extra_env={
                "FLOE_BLOB_STORE": "s3",
                "FLOE_S3_BUCKET": s3.make_bucket("bench-one"),
                "FLOE_S3_ENDPOINT_URL": s3.url,
                **CREDENTIALS,
            },
        )
        one.data_dir.mkdir(parents=True)
        (one.data_dir / "jupyterhub_config.local.py").write_text(ONE_MACHINE_CONFIG)
        try:
            one.start()
            results["one machine"] = _rounds(one, work, args)
        finally:
            one.stop()
            one.remove_docker_objects()
        images = (LOCAL_BASE, WORKSPACE_IMAGE)
        with (
            two_node_swarm(240, bridges=True, images=images) as (manager, worker),
            swarm_hub(
                manager,
                worker,
                s3,
                work / "swarm",
                config=SWARM_WORKSPACES_CONFIG.format(address=manager.host_ip),
            ) as (hub, _caches),
        ):
            results["swarm, second machine"] = _rounds(hub, work, args)
    finally:
        s3.stop()
    size = f"{args.files} files × {args.file_mib} MiB"
    print(f"\nsubmit -> running, a job mounting a new version ({size}), median of {args.rounds}:")
    report = {"files": args.files, "file_mib": args.file_mib, "rounds": args.rounds}
    for kind in ("cold", "warm", "spawn"):
        one_s = statistics.median(results["one machine"][kind])
        swarm_s = statistics.median(results["swarm, second machine"][kind])
        if kind == "spawn":
            print(f"workspace spawn -> ready, median of {args.rounds}:")
        print(
            f"  {kind}: swarm {swarm_s:.2f} s, one machine {one_s:.2f} s, "
            f"ratio {swarm_s / one_s:.2f}"
        )
        report[kind] = {"swarm_s": swarm_s, "one_machine_s": one_s, "ratio": swarm_s / one_s}
    report["all"] = results
    save_report("swarm", report)


if __name__ == "__main__":
    main()
