"""Spawn-to-ready: Floe's WorkspaceSpawner beside plain DockerSpawner, same image, one run.

``python -m bench.spawn [--runs 7] [--concurrent 10]``

Two hubs run side by side on the same Docker engine; sequential spawns alternate between
them so drift on a shared machine hits both alike. Spawn-to-ready is the time from the
REST API's POST to the server answering ``/user/NAME/api/status`` through the proxy.
"""

from __future__ import annotations

import argparse
import secrets
import statistics
import tempfile
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import requests

from bench.harness import save_report
from tests.hub_process import REPO_ROOT, HubProcess


def spawn_to_ready(
    hub: HubProcess, username: str, options: dict | None = None, timeout: float = 300
) -> float:
    """Seconds from the POST until the server answers through the proxy.

    The POST itself waits for the server for up to JupyterHub's slow_spawn_timeout (10 s);
    beyond that, the hub's API is asked 4 times a second, lightly enough not to slow the
    spawns it measures.
    """
    started = time.monotonic()
    resp = hub.api("POST", f"/users/{username}/server", json=options or {})
    if resp.status_code not in (201, 202):
        raise RuntimeError(f"spawn of {username} failed: {resp.status_code} {resp.text}")
    if resp.status_code == 202:
        while not hub.api("GET", f"/users/{username}").json()["servers"].get("", {}).get("ready"):
            if time.monotonic() - started > timeout:
                raise TimeoutError(f"{username} not ready after {timeout} s")
            time.sleep(0.25)
    url = hub.user_url(username, "api/status")
    headers = {"Authorization": f"token {hub.admin_token}"}
    while requests.get(url, headers=headers, timeout=10).status_code != 200:
        if time.monotonic() - started > timeout:
            raise TimeoutError(f"{username} does not answer through the proxy")
        time.sleep(0.05)
    return time.monotonic() - started


def make_users(hub: HubProcess, count: int, prefix: str) -> list[str]:
    names = [f"{prefix}{i}" for i in range(count)]
    for name in names:
        assert hub.api("POST", f"/users/{name}").status_code == 201
    return names


def concurrent_spawn(hub: HubProcess, users: list[str]) -> float:
    started = time.monotonic()
    with ThreadPoolExecutor(len(users)) as pool:
        list(pool.map(lambda u: spawn_to_ready(hub, u), users))
    elapsed = time.monotonic() - started
    with ThreadPoolExecutor(len(users)) as pool:
        list(pool.map(hub.stop_server, users))
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description="spawn-to-ready benchmark")
    parser.add_argument("--runs", type=int, default=7, help="sequential spawns per spawner")
    parser.add_argument("--concurrent", type=int, default=10, help="users spawned at once")
    args = parser.parse_args()

    tag = uuid.uuid4().hex[:4]
    work = Path(tempfile.mkdtemp(prefix="floe-bench-"))
    hubs = {
        "floe": HubProcess(
            instance=f"benchfloe{tag}",
            data_dir=work / "floe",
            admin_password=secrets.token_urlsafe(16),
        ),
        "plain": HubProcess(
            instance=f"benchplain{tag}",
            data_dir=work / "plain",
            admin_password=secrets.token_urlsafe(16),
            config=REPO_ROOT / "bench" / "plain_dockerspawner_config.py",
            floe_service=False,
        ),
    }
    sequential: dict[str, list[float]] = {name: [] for name in hubs}
    burst: dict[str, float] = {}
    try:
        for hub in hubs.values():
            hub.start()
        users = {name: make_users(hub, args.runs, "seq") for name, hub in hubs.items()}
        # Warm-up: the first spawn after a hub starts pays for one-off work on both sides.
        for name, hub in hubs.items():
            spawn_to_ready(hub, users[name][0])
            hub.stop_server(users[name][0])
        for i in range(args.runs):
            order = list(hubs) if i % 2 == 0 else list(reversed(hubs))
            for name in order:
                hub = hubs[name]
                sequential[name].append(spawn_to_ready(hub, users[name][i]))
                hub.stop_server(users[name][i])
                print(f"  {name:5} spawn {i + 1}: {sequential[name][-1]:.2f} s", flush=True)
        for name, hub in hubs.items():
            crowd = make_users(hub, args.concurrent, "burst")
            burst[name] = concurrent_spawn(hub, crowd)
            print(f"  {name:5} {args.concurrent} at once: {burst[name]:.2f} s", flush=True)
    finally:
        for hub in hubs.values():
            hub.stop()
            hub.remove_docker_objects()

    med = {name: statistics.median(times) for name, times in sequential.items()}
    report = {
        "runs": args.runs,
        "concurrent": args.concurrent,
        "sequential_s": sequential,
        "median_s": med,
        "concurrent_s": burst,
        "ratio_median": med["floe"] / med["plain"],
        "ratio_concurrent": burst["floe"] / burst["plain"],
    }
    save_report("spawn", report)
    print()
    print(
        f"spawn-to-ready, median of {args.runs}    floe {med['floe']:.2f} s   "
        f"plain DockerSpawner {med['plain']:.2f} s   ratio {report['ratio_median']:.3f}"
    )
    print(
        f"{args.concurrent} concurrent spawns, all ready  floe {burst['floe']:.2f} s   "
        f"plain DockerSpawner {burst['plain']:.2f} s   ratio {report['ratio_concurrent']:.3f}"
    )
    print("target: ratio <= 1.05")


if __name__ == "__main__":
    main()
