"""What containers on Floe's network may reach on this machine and beyond: the hub API and the
floe service on the gateway, the outside world unless the deployer closes it; never the
machine's other ports (the proxy's API, databases, ssh…) nor the link-local range with the
cloud metadata address. Containers reach no other container: the network has
inter-container traffic off (``hub_config.network``).

Rules are iptables rules in two chains of Floe's own, replaced at every start of the hub:
``<chain>-IN`` (jumped to from INPUT, for the machine's own ports) and ``<chain>-OUT``
(from DOCKER-USER, for what containers send through the machine).
"""

from __future__ import annotations

import ipaddress
import shutil
import subprocess
from pathlib import Path

from .network import bridge_name

LINK_LOCAL = "169.254.0.0/16"  # the cloud metadata address, 169.254.169.254, is one of these
# Addresses of a team's own networks (and other Docker networks of this machine): closed to
# containers even when the outside world is open, unless the deployer lets some through.
PRIVATE = ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "100.64.0.0/10")


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


def _jump(parent: str, bridge: str, chain: str) -> None:
    rule = ("-i", bridge, "-j", chain)
    if not _iptables("-C", parent, *rule, check=False):
        _iptables("-I", parent, "1", *rule)


RESOLV_CONFS = ("/run/systemd/resolve/resolv.conf", "/etc/resolv.conf")


def resolvers(paths: tuple[str, ...] = RESOLV_CONFS) -> tuple[str, ...]:
    """The IPv4 name servers this machine asks (Docker's resolver in each container asks
    them from the container's network, so a private one must stay reachable, on port 53)."""
    for path in paths:
        try:
            lines = Path(path).read_text().splitlines()
        except OSError:
            continue
        found = []
        for line in lines:
            words = line.split()
            if len(words) >= 2 and words[0] == "nameserver":
                try:
                    address = ipaddress.IPv4Address(words[1])
                except ValueError:
                    continue  # IPv6: containers have none
                if not address.is_loopback:
                    found.append(str(address))
        if found:
            return tuple(found)
    return ()


def ruleset(
    network: str,
    gateway: str,
    open_ports: list[int],
    egress: bool,
    allowed: tuple[str, ...] = (),
    dns: tuple[str, ...] = (),
) -> str:
    """Floe's two chains for ``network``, as ``iptables-restore`` reads them."""
    inbound, outbound = chain_names(network)
    established = "-m conntrack --ctstate ESTABLISHED,RELATED"
    lines = ["*filter", f":{inbound} - [0:0]", f":{outbound} - [0:0]"]
    lines.append(f"-A {inbound} {established} -j ACCEPT")
    lines += [f"-A {inbound} -p tcp -d {gateway} --dport {port} -j ACCEPT" for port in open_ports]
    lines.append(f"-A {inbound} -j REJECT")
    lines.append(f"-A {outbound} {established} -j RETURN")
    lines.append(f"-A {outbound} -d {LINK_LOCAL} -j REJECT")
    if egress:
        lines += [
            f"-A {outbound} -d {server} -p {proto} --dport 53 -j RETURN"
            for server in dns
            for proto in ("udp", "tcp")
        ]
        lines += [f"-A {outbound} -d {cidr} -j RETURN" for cidr in allowed]
        lines += [f"-A {outbound} -d {cidr} -j REJECT" for cidr in PRIVATE]
    else:
        lines.append(f"-A {outbound} -j REJECT")
    return "\n".join([*lines, "COMMIT", ""])


def isolate(
    network: str,
    gateway: str,
    open_ports: list[int],
    egress: bool,
    allowed: tuple[str, ...] = (),
) -> None:
    """Let containers on ``network`` reach only ``open_ports`` on the gateway of this machine,
    no link-local address, and the outside world only with ``egress`` (then not the private
    ranges, but for ``allowed`` ones and this machine's name servers, port 53).

    The chains are replaced in one transaction (``iptables-restore --noflush``): at no moment
    of a hub's restart are they empty."""
    for tool in ("iptables", "iptables-restore"):
        if shutil.which(tool) is None:
            raise FirewallError(f"{tool} is not installed")
    rules_text = ruleset(network, gateway, open_ports, egress, allowed, resolvers())
    result = subprocess.run(
        ["iptables-restore", "-w", "--noflush"], input=rules_text, capture_output=True, text=True
    )
    if result.returncode != 0:
        raise FirewallError(f"iptables-restore: {result.stderr.strip()}")
    bridge = bridge_name(network)
    inbound, outbound = chain_names(network)
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
