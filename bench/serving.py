"""Serving benchmark: a trivial endpoint of a serving job through Floe ÷ the same container hit
directly.

``python -m bench.serving [--requests 2000] [--load 5000] [--clients 50]``

Through Floe is what a caller meets: the hub's proxy, the floe service (token checked, the
request forwarded) and the job's container. Directly is the container's own address on this
machine; the floe service alone (its own port, no proxy in front) splits what Floe adds.
(a) one request at a time, a new connection each (as most clients call an API): median and
p99 latency, and the milliseconds Floe adds. (b) ApacheBench (`ab`) with 50
concurrent clients: requests per second, and that none failed.
"""

from __future__ import annotations

import argparse
import http.client
import re
import statistics
import subprocess
import time
from pathlib import Path
from urllib.parse import urlsplit

import docker

from bench.harness import save_report, scratch_hub
from floe.client.api import FloeClient, job_path
from floe.client.transfer import submit_with_code

APP = """\
def app(environ, start_response):
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", "2")])
    return [b"ok"]
"""


def latencies(url: str, token: str | None, count: int) -> list[float]:
    """Seconds per GET of ``url``, one at a time, each on a new connection."""
    parts = urlsplit(url)
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    found = []
    for _ in range(count):
        started = time.perf_counter()
        conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=30)
        conn.request("GET", parts.path, headers=headers)
        resp = conn.getresponse()
        body = resp.read()
        conn.close()
        found.append(time.perf_counter() - started)
        if resp.status != 200 or body != b"ok":
            raise RuntimeError(f"{url}: {resp.status} {body[:200]!r}")
    return found


def quantile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def load(url: str, token: str | None, requests: int, clients: int) -> dict:
    """ApacheBench: requests per second at ``clients`` concurrent, and how many failed."""
    command = ["ab", "-q", "-n", str(requests), "-c", str(clients), "-s", "60"]
    if token:
        command += ["-H", f"Authorization: Bearer {token}"]
    out = subprocess.run([*command, url], capture_output=True, text=True, check=True).stdout
    rate = float(re.search(r"Requests per second:\s+([\d.]+)", out).group(1))
    failed = int(re.search(r"Failed requests:\s+(\d+)", out).group(1))
    non_2xx = re.search(r"Non-2xx responses:\s+(\d+)", out)
    return {"rps": rate, "failed": failed + (int(non_2xx.group(1)) if non_2xx else 0)}


def main() -> None:
    parser = argparse.ArgumentParser(description="serving benchmark")
    parser.add_argument("--requests", type=int, default=2000, help="sequential, each way")
    parser.add_argument("--load", type=int, default=5000, help="requests under load, each way")
    parser.add_argument("--clients", type=int, default=50)
    args = parser.parse_args()
    subprocess.run(["bash", "scripts/ensure-ab.sh"], check=True)

    with scratch_hub("serve") as (hub, work):
        hub.start()
        client = FloeClient(hub.url, hub.admin_token)
        code = work / "app"
        code.mkdir()
        (code / "app.py").write_text(APP)
        job = submit_with_code(
            client, Path(code), {"project": "bench", "kind": "command", "mode": "serve"}
        )
        token = client.json("POST", job_path(job["id"], "tokens"), json={"name": "bench"})["token"]
        through = f"{hub.url}{job['serve_url']}"
        deadline = time.monotonic() + 300
        while True:
            try:
                latencies(through, token, 1)
                break
            except RuntimeError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.5)
        info = docker.from_env().api.inspect_container(f"{hub.instance}-job-{job['id']}")
        network = next(iter(info["NetworkSettings"]["Networks"].values()))
        direct = f"http://{network['IPAddress']}:8080/"
        # The floe service itself, without the hub's proxy in front (it listens on the gateway).
        service = f"http://{network['Gateway']}:{hub.port + 3}{job['serve_url']}"

        latencies(direct, None, 200)  # warm both ways
        latencies(through, token, 200)
        floe_s = latencies(through, token, args.requests)
        direct_s = latencies(direct, None, args.requests)
        service_s = latencies(service, token, args.requests)
        report = {
            "requests": args.requests,
            "floe_p50_ms": statistics.median(floe_s) * 1000,
            "floe_p99_ms": quantile(floe_s, 0.99) * 1000,
            "direct_p50_ms": statistics.median(direct_s) * 1000,
            "direct_p99_ms": quantile(direct_s, 0.99) * 1000,
        }
        report["service_only_p50_ms"] = statistics.median(service_s) * 1000
        report["p50_ratio"] = report["floe_p50_ms"] / report["direct_p50_ms"]
        report["p99_ratio"] = report["floe_p99_ms"] / report["direct_p99_ms"]
        r = report
        print(
            f"(a) serving latency, {r['requests']} requests one at a time: through Floe median "
            f"{r['floe_p50_ms']:.2f} ms, p99 {r['floe_p99_ms']:.2f} ms vs direct median "
            f"{r['direct_p50_ms']:.2f} ms, p99 {r['direct_p99_ms']:.2f} ms; ratio median "
            f"{r['p50_ratio']:.2f}, p99 {r['p99_ratio']:.2f} (target <= 1.5); Floe adds "
            f"{r['floe_p50_ms'] - r['direct_p50_ms']:.2f} ms at the median: the floe service "
            f"(token, forwarding) {r['service_only_p50_ms'] - r['direct_p50_ms']:.2f} ms, the "
            f"hub's proxy in front of it {r['floe_p50_ms'] - r['service_only_p50_ms']:.2f} ms",
            flush=True,
        )
        floe_load = load(through, token, args.load, args.clients)
        direct_load = load(direct, None, args.load, args.clients)
        report["load"] = {"clients": args.clients, "floe": floe_load, "direct": direct_load}
        report["load"]["ratio"] = floe_load["rps"] / direct_load["rps"]
        print(
            f"(b) {args.clients} concurrent clients, {args.load} requests: through Floe "
            f"{floe_load['rps']:.0f} req/s ({floe_load['failed']} failed) vs direct "
            f"{direct_load['rps']:.0f} req/s ({direct_load['failed']} failed), ratio "
            f"{report['load']['ratio']:.2f}",
            flush=True,
        )
        figures = client.job(job["id"])["serving"]
        print(
            f"    the job's page counts {figures['requests']} requests, {figures['errors']} failed",
            flush=True,
        )
        client.request("POST", job_path(job["id"], "stop"))
    save_report("serving", report)


if __name__ == "__main__":
    main()
