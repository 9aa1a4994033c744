"""The Docker network workspaces live on, and the address they reach the hub at.

Not ``host`` networking: that would expose the proxy's API and every loopback port of the
machine to users. The hub API listens on the network's gateway, which is reachable from the
containers and from the host, and nowhere else.
"""

from __future__ import annotations

import socket
import time

import docker


def ensure_network(name: str) -> str:
    """Create the bridge network ``name`` if needed and return its gateway address."""
    client = docker.from_env()
    try:
        network = client.networks.get(name)
    except docker.errors.NotFound:
        network = client.networks.create(name, driver="bridge", labels={"floe.network": name})
    network.reload()
    configs = network.attrs.get("IPAM", {}).get("Config") or []
    gateway = next((cfg["Gateway"] for cfg in configs if cfg.get("Gateway")), None)
    if not gateway:
        raise SystemExit(f"floe: Docker network {name} has no gateway address; remove it and retry")
    _wait_until_bindable(gateway)
    return gateway


def _wait_until_bindable(address: str, timeout: float = 10) -> None:
    """The hub API and the floe service listen on the gateway: wait until this machine has
    that address (a network made a moment ago may not have its bridge up yet)."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            with socket.socket() as probe:
                probe.bind((address, 0))
            return
        except OSError as err:
            if time.monotonic() > deadline:
                raise SystemExit(
                    f"floe: cannot listen on the network gateway {address}: {err}"
                ) from None
            time.sleep(0.1)
