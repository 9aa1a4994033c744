"""The hub's proxy, traefik ÷ configurable-http-proxy, measured side by side in one run.

``python -m bench.proxy [--requests 1000] [--gib 1]``

For each proxy a scratch hub is started with ``FLOE_PROXY`` set to it, and a small service
registered with the hub (so the proxy routes ``/services/discard/`` to it like any service):
(a) a proxied API call, ``GET /services/floe/api/jobs`` with a token, one at a time on one
kept-alive connection, through the proxy ÷ straight to the floe service: p50 and the
milliseconds the proxy adds; (b) a PUT of ``--gib`` GiB to a handler that reads and discards
it, through the proxy and straight to the handler: seconds, and the proxy's CPU-seconds for it.
"""

from __future__ import annotations

import argparse
import http.client
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import urlsplit

import docker

from bench.harness import cpu_seconds, save_report, scratch_hub
from hub_config.network import network_gateway
from tests.hub_process import HubProcess, free_port_block

DISCARD = """\
import sys
from tornado import ioloop, web

@web.stream_request_body
class Discard(web.RequestHandler):
    def initialize(self):
        self.seen = 0
    def data_received(self, chunk):
        self.seen += len(chunk)
    def put(self, _path):
        self.finish(str(self.seen))

app = web.Application([(r"/(.*)", Discard)])
app.listen(int(sys.argv[1]), "127.0.0.1", max_body_size=1 << 40, max_buffer_size=1 << 24)
ioloop.IOLoop.current().start()
"""

CHUNK = b"\0" * (1 << 20)


def calls(url: str, token: str, count: int) -> list[float]:
    """Seconds per GET of ``url`` on one kept-alive connection, as a browser page calls it."""
    parts = urlsplit(url)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=30)
    found = []
    for _ in range(count):
        started = time.perf_counter()
        conn.request("GET", parts.path, headers={"Authorization": f"Bearer {token}"})
        resp = conn.getresponse()
        resp.read()
        found.append(time.perf_counter() - started)
        if resp.status != 200:
            raise RuntimeError(f"{url}: {resp.status}")
    conn.close()
    return found


def put(url: str, gib: int) -> float:
    """Seconds to PUT ``gib`` GiB of zeros to ``url`` (a MiB per write)."""
    parts = urlsplit(url)
    size = gib << 30
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=600)
    started = time.perf_counter()
    conn.putrequest("PUT", parts.path)
    conn.putheader("Content-Length", str(size))
    conn.endheaders()
    for _ in range(size // len(CHUNK)):
        conn.send(CHUNK)
    resp = conn.getresponse()
    body = resp.read()
    took = time.perf_counter() - started
    if resp.status != 200 or int(body) != size:
        raise RuntimeError(f"{url}: {resp.status} {body[:200]!r}")
    return took


def proxy_cpu_s(data_dir: Path, proxy: str) -> float:
    """CPU-seconds (user and system) the running proxy has spent, from its pid file."""
    pid_file = data_dir / ("traefik/traefik.pid" if proxy == "traefik" else "jupyterhub-proxy.pid")
    return cpu_seconds(int(pid_file.read_text().strip()))


def measure(proxy: str, args: argparse.Namespace) -> dict:
    port = free_port_block(1)
    discard = subprocess.Popen([sys.executable, "-c", DISCARD, str(port)])
    local = (
        f"c.JupyterHub.services.append({{'name': 'discard', 'url': 'http://127.0.0.1:{port}'}})\n"
    )
    try:
        with scratch_hub(f"proxy{proxy}", local_config=local) as (hub, _work):
            hub.env["FLOE_PROXY"] = proxy
            hub.start()
            token = hub.admin_token
            through = f"{hub.url}/services/floe/api/jobs"
            direct = _service_on_gateway(hub)
            calls(through, token, 100)  # warm both ways
            calls(direct, token, 100)
            through_s = calls(through, token, args.requests)
            direct_s = calls(direct, token, args.requests)
            cpu_before = proxy_cpu_s(hub.data_dir, proxy)
            put_through = put(f"{hub.url}/services/discard/blob", args.gib)
            cpu = proxy_cpu_s(hub.data_dir, proxy) - cpu_before
            put_direct = put(f"http://127.0.0.1:{port}/blob", args.gib)
    finally:
        discard.terminate()
    report = {
        "call_p50_ms": statistics.median(through_s) * 1000,
        "call_direct_p50_ms": statistics.median(direct_s) * 1000,
        "put_s": put_through,
        "put_direct_s": put_direct,
        "put_proxy_cpu_s": cpu,
    }
    report["call_added_ms"] = report["call_p50_ms"] - report["call_direct_p50_ms"]
    return report


def _service_on_gateway(hub: HubProcess) -> str:
    """The floe service's own address: it listens on the containers' network gateway."""
    gateway = network_gateway(docker.from_env().networks.get(f"{hub.instance}-net"))
    return f"http://{gateway}:{hub.port + 3}/services/floe/api/jobs"


def main() -> None:
    parser = argparse.ArgumentParser(description="the hub's proxy: traefik vs chp")
    parser.add_argument("--requests", type=int, default=1000)
    parser.add_argument("--gib", type=int, default=1)
    args = parser.parse_args()
    report = {proxy: measure(proxy, args) for proxy in ("chp", "traefik")}
    for proxy, r in report.items():
        print(
            f"{proxy:>8}: API call p50 {r['call_p50_ms']:.2f} ms vs direct "
            f"{r['call_direct_p50_ms']:.2f} ms (the proxy adds {r['call_added_ms']:.2f} ms, "
            f"target <= 1 ms); PUT {args.gib} GiB {r['put_s']:.2f} s vs direct "
            f"{r['put_direct_s']:.2f} s ({r['put_s'] / r['put_direct_s']:.2f}x), the proxy "
            f"spending {r['put_proxy_cpu_s']:.2f} CPU-s",
            flush=True,
        )
    t, c = report["traefik"], report["chp"]
    print(
        f"traefik / chp: API call added ms {t['call_added_ms']:.2f} / {c['call_added_ms']:.2f}; "
        f"PUT seconds {t['put_s']:.2f} / {c['put_s']:.2f} = {t['put_s'] / c['put_s']:.2f}",
        flush=True,
    )
    save_report("proxy", report)


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    main()
