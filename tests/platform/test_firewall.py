"""Floe's firewall chains, applied for real with iptables (root, as the hub runs)."""

from __future__ import annotations

import uuid

import pytest

from hub_config import firewall


@pytest.fixture
def network():
    name = f"fwtest-{uuid.uuid4().hex[:6]}"
    yield name
    firewall.remove(name)


def test_chains_are_replaced_whole_and_say_what_is_open(network):
    firewall.isolate(network, "10.99.0.1", [8001, 8002], egress=True, allowed=("10.1.2.0/24",))
    rules = firewall.rules(network).splitlines()
    inbound, outbound = firewall.chain_names(network)
    accepted = [r for r in rules if r.startswith(f"-A {inbound}") and "ACCEPT" in r]
    assert [r.split("--dport ")[1].split()[0] for r in accepted if "--dport" in r] == [
        "8001",
        "8002",
    ]
    inbound_rules = [r for r in rules if r.startswith(f"-A {inbound}")]
    assert inbound_rules[-1].startswith(f"-A {inbound} -j REJECT")  # and the rest is refused
    out = [r for r in rules if r.startswith(f"-A {outbound}")]
    # The allowed range is let through before the private ranges are refused.
    assert _at(out, "-d 10.1.2.0/24 -j RETURN") < _at(out, "-d 10.0.0.0/8 -j REJECT")
    assert _at(out, "-d 169.254.0.0/16 -j REJECT") >= 0
    # A restart with the outside world closed replaces the rules; nothing is left twice.
    firewall.isolate(network, "10.99.0.1", [8001, 8002], egress=False)
    again = [r for r in firewall.rules(network).splitlines() if r.startswith(f"-A {outbound}")]
    assert again[-1].startswith(f"-A {outbound} -j REJECT")
    assert not any("10.1.2.0/24" in r or "10.0.0.0/8" in r for r in again)
    assert len(firewall.rules(network).splitlines()) == len(
        set(firewall.rules(network).splitlines())
    )


def _at(rules: list[str], rule: str) -> int:
    """Where ``rule`` is in a chain's rules (iptables adds the kind of reject it prints)."""
    return next(i for i, r in enumerate(rules) if rule in r)


def test_the_ranges_let_through_are_checked(monkeypatch):
    from hub_config.settings import read_settings

    monkeypatch.setenv("FLOE_EGRESS_ALLOW", "10.1.2.0/24, 192.168.7.7")
    assert read_settings().egress_allow == ("10.1.2.0/24", "192.168.7.7/32")
    monkeypatch.setenv("FLOE_EGRESS_ALLOW", "10.1.2.3/24")
    with pytest.raises(SystemExit, match="FLOE_EGRESS_ALLOW: '10.1.2.3/24' is no IPv4 range"):
        read_settings()


def test_the_machines_name_servers_stay_reachable_on_port_53(network, tmp_path):
    conf = tmp_path / "resolv.conf"
    conf.write_text("# made by hand\nnameserver 127.0.0.53\nnameserver 10.0.0.2\nnameserver ::1\n")
    assert firewall.resolvers((str(tmp_path / "absent"), str(conf))) == ("10.0.0.2",)
    firewall.isolate(network, "10.99.0.1", [8001], egress=True)
    out = [r for r in firewall.rules(network).splitlines() if "-OUT" in r]
    for server in firewall.resolvers():  # before the private ranges are refused
        assert _at(out, f"-d {server}/32 -p udp -m udp --dport 53 -j RETURN") < _at(
            out, "-d 10.0.0.0/8 -j REJECT"
        )
