"""What containers on Floe's network may reach on this machine and beyond: the hub API and the
floe service on the gateway, the outside world unless the deployer closes it; never the
machine's other ports (the proxy's API, databases, ssh…) nor the link-local range with the
cloud metadata address. Containers reach no other container: the network has
inter-container traffic off (``hub_config.network``).

Rules are iptables rules in two chains of Floe's own, made again at every start of the hub:
``<chain>-IN`` (jumped to from INPUT, for the machine's own ports) and ``<chain>-OUT``
(from DOCKER-USER, for what containers send through the machine).
"""

from __future__ import annotations

import shutil
import subprocess

from .network import bridge_name

LINK_LOCAL = "169.254.0.0/16"  # the cloud metadata address, 169.254.169.254, is one of these


class FirewallError(RuntimeError):
    pass


def _iptables(*args: str, check: bool = True) -> bool:
    result = subprocess.run(["iptables", "-w", *args], capture_output=True, text=True)
    if check and result.returncode != 0:
        raise FirewallError(f"iptables {' '.join(args)}: {result.stderr.strip()}")
    return result.returncode == 0


def chain_names(network: str) -> tuple[str, str]:
    base = bridge_name(network).upper()
    return f"{base}-IN", f"{base}-OUT"


def _chain(name: str) -> None:
    """An empty chain ``name`` (made, or flushed)."""
    if not _iptables("-N", name, check=False):
        _iptables("-F", name)


def _jump(parent: str, bridge: str, chain: str) -> None:
    rule = ("-i", bridge, "-j", chain)
    if not _iptables("-C", parent, *rule, check=False):
        _iptables("-I", parent, "1", *rule)


def isolate(network: str, gateway: str, open_ports: list[int], egress: bool) -> None:
    """Let containers on ``network`` reach only ``open_ports`` on the gateway of this machine,
    no link-local address, and the outside world only with ``egress``."""
    if shutil.which("iptables") is None:
        raise FirewallError("iptables is not installed")
    bridge = bridge_name(network)
    inbound, outbound = chain_names(network)
    _chain(inbound)
    _iptables("-A", inbound, "-m", "conntrack", "--ctstate", "ESTABLISHED,RELATED", "-j", "ACCEPT")
    for port in open_ports:
        _iptables("-A", inbound, "-p", "tcp", "-d", gateway, "--dport", str(port), "-j", "ACCEPT")
    _iptables("-A", inbound, "-j", "REJECT")
    _chain(outbound)
    _iptables("-A", outbound, "-d", LINK_LOCAL, "-j", "REJECT")
    if not egress:
        _iptables(
            "-A", outbound, "-m", "conntrack", "--ctstate", "ESTABLISHED,RELATED", "-j", "RETURN"
        )
        _iptables("-A", outbound, "-j", "REJECT")
    _jump("INPUT", bridge, inbound)
    _jump("DOCKER-USER", bridge, outbound)


def rules(network: str) -> str:
    """The rules in place for ``network``, as ``iptables -S`` prints them."""
    return "".join(
        subprocess.run(["iptables", "-w", "-S", chain], capture_output=True, text=True).stdout
        for chain in chain_names(network)
    )


def remove(network: str) -> None:
    """Take Floe's rules for ``network`` away (a test hub's, when it is done)."""
    bridge = bridge_name(network)
    for parent, chain in zip(("INPUT", "DOCKER-USER"), chain_names(network), strict=True):
        while _iptables("-D", parent, "-i", bridge, "-j", chain, check=False):
            pass
        _iptables("-F", chain, check=False)
        _iptables("-X", chain, check=False)
