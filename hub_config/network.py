"""The Docker network workspaces and jobs live on, and the address they reach the hub at.

Not ``host`` networking: that would expose the proxy's API and every loopback port of the
machine to users. The hub API listens on the network's gateway, which is reachable from the
containers and from the host, and nowhere else. Containers on it cannot reach each other
(inter-container traffic is off); ``hub_config.firewall`` closes the rest.
"""

from __future__ import annotations

import hashlib
import socket
import time

import docker

ISOLATED = {"com.docker.network.bridge.enable_icc": "false"}


def bridge_name(network: str) -> str:
    """The Linux interface of the network's bridge (at most 15 characters)."""
    return "floe" + hashlib.sha256(network.encode()).hexdigest()[:10]


def network_gateway(network: docker.models.networks.Network) -> str | None:
    """The address of the network's gateway: this machine, as its containers see it."""
    configs = network.attrs.get("IPAM", {}).get("Config") or []
    return next((cfg["Gateway"] for cfg in configs if cfg.get("Gateway")), None)


def ensure_network(name: str) -> str:
    """Create the bridge network ``name`` if needed and return its gateway address."""
    client = docker.from_env()
    options = {**ISOLATED, "com.docker.network.bridge.name": bridge_name(name)}
    try:
        network = client.networks.get(name)
        current = network.attrs.get("Options") or {}
        if any(current.get(key) != value for key, value in options.items()):  # engines add more
            network = _remade(client, network, options)
    except docker.errors.NotFound:
        network = client.networks.create(
            name, driver="bridge", labels={"floe.network": name}, options=options
        )
    network.reload()
    gateway = network_gateway(network)
    if not gateway:
        raise SystemExit(f"floe: Docker network {name} has no gateway address; remove it and retry")
    _wait_until_bindable(gateway)
    return gateway


def _remade(
    client: docker.DockerClient, network: docker.models.networks.Network, options: dict
) -> docker.models.networks.Network:
    """A network made by an earlier Floe, without isolation: made again if nothing is on it."""
    network.reload()
    if network.attrs.get("Containers"):
        raise SystemExit(
            f"floe: the Docker network {network.name} lets containers reach each other; stop "
            "the workspaces and jobs on it (or remove it) and start Floe again"
        )
    name, labels = network.name, network.attrs.get("Labels") or {}
    network.remove()
    return client.networks.create(name, driver="bridge", labels=labels, options=options)


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
