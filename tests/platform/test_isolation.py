"""What a job can do from inside its container, probed as a hostile user would: who it runs
as, what it may write, and what it can reach on the network."""

from __future__ import annotations

import hashlib
import json
import socket

import docker
import pytest

from hub_config import firewall
from tests.platform.test_jobs import submit, wait_for

pytestmark = pytest.mark.integration

PROBE = r"""
import json, os, socket, struct, subprocess
def tcp(host, port):
    s = socket.socket(); s.settimeout(3)
    try:
        s.connect((host, port)); return "open"
    except OSError as err:
        return type(err).__name__
    finally:
        s.close()
def attempt(action):
    try:
        action(); return "done"
    except OSError as err:
        return type(err).__name__
def runs(folder):
    path = folder + "/run.sh"
    with open(path, "w") as f:
        f.write("#!/bin/sh\necho ran\n")
    os.chmod(path, 0o755)
    return subprocess.run([path], capture_output=True, text=True).stdout.strip()
with open("/proc/net/route") as routes:
    gateway = next(
        socket.inet_ntoa(struct.pack("<L", int(f[2], 16)))
        for f in (line.split() for line in routes) if f[1] == "00000000"
    )
caps = next(line.split()[1] for line in open("/proc/self/status") if line.startswith("CapEff"))
found = {
    "uid": os.getuid(), "caps": caps,
    "write_input": attempt(lambda: open("/input/data/new", "w")),
    "write_code": attempt(lambda: open("/code/new", "w")),
    "write_image": attempt(lambda: open("/var/tmp/new", "w")),  # 1777 in the image
    "scratch": {p: attempt(lambda: open(p + "/new", "w").close()) for p in ("/tmp", HOME)},
    "scratch_exec": {p: runs(p) for p in ("/tmp", HOME)},
    "scratch_kinds": [line.split()[2] for line in open("/proc/mounts")
                      if line.split()[1] in ("/tmp", HOME)],
    "link_across": attempt(lambda: os.link("/input/data/file.txt", "/output/stolen")),
    "docker_socket": os.path.exists("/var/run/docker.sock") or os.path.exists("/run/docker.sock"),
    "workspace": tcp(WORKSPACE, 8888),
    "proxy_api": tcp(gateway, PORT + 1), "hub_api": tcp(gateway, PORT + 2),
    "floe_service": tcp(gateway, PORT + 3), "host_port": tcp(gateway, HOST_PORT),
    "ipv6_off": open("/proc/sys/net/ipv6/conf/all/disable_ipv6").read().strip(),
    "ipv6_addresses": len(open("/proc/net/if_inet6").read().splitlines()),
}
print("PROBE " + json.dumps(found))
"""


def test_a_job_runs_fenced_in(hub, user_token):
    alice, token = user_token("alice")
    bob = user_token("bob")[0]
    data = b"alice's numbers"
    sha = hashlib.sha256(data).hexdigest()
    assert hub.floe("PUT", f"blobs/{sha}", token, data=data).status_code == 201
    hub.floe("POST", "datasets", token, json={"name": "data"})
    manifest = [{"path": "file.txt", "sha256": sha, "size": len(data)}]
    hub.floe("POST", f"datasets/{alice}/data/versions", token, json={"manifest": manifest})
    # Another user's workspace, on the same network, serving on its usual port.
    assert hub.spawn(bob, {"machine": "cpu-small"}).status_code in (201, 202)
    workspace = docker.from_env().containers.get(f"{hub.instance}-workspace-{bob}")
    address = workspace.attrs["NetworkSettings"]["Networks"][f"{hub.instance}-net"]["IPAddress"]

    # Something else of this machine's, listening where containers could send to it.
    network = docker.from_env().networks.get(f"{hub.instance}-net")
    gateway = network.attrs["IPAM"]["Config"][0]["Gateway"]
    listener = socket.create_server((gateway, 0))
    script = (
        PROBE.replace("WORKSPACE", repr(address))
        .replace("HOST_PORT", str(listener.getsockname()[1]))
        .replace("PORT", str(hub.port))
        .replace("HOME", repr("/home/jovyan"))
    )
    command = "python3 - <<'EOF'\n" + script + "\nEOF"
    job = wait_for(
        hub, token, submit(hub, token, kind="command", command=command, datasets=["data"])
    )
    log = hub.floe("GET", f"jobs/{job['id']}/logs", token).text
    found = json.loads(log.split("PROBE ", 1)[1].splitlines()[0])

    assert found["uid"] == 1000 and found["caps"] == "0000000000000000", found
    assert found["write_input"] != "done" and found["write_code"] != "done", found
    # The image is read-only: nothing a job writes lands on the node's disk unbounded; /tmp
    # and the home are memory, within the job's memory limit.
    assert found["write_image"] == "OSError", found
    assert found["scratch"] == {"/tmp": "done", "/home/jovyan": "done"}, found
    assert found["scratch_kinds"] == ["tmpfs", "tmpfs"], found
    # ...where programs run too (compiled wheels, kernels' caches, build tools).
    assert found["scratch_exec"] == {"/tmp": "ran", "/home/jovyan": "ran"}, found
    assert found["link_across"] != "done" and found["docker_socket"] is False, found
    # Not another user's workspace, not the proxy's API, not the machine's other ports...
    assert found["workspace"] != "open" and found["proxy_api"] != "open", found
    assert found["host_port"] == "ConnectionRefusedError", found  # listening, but rejected
    # ...but the hub API and the floe service, which workspaces and jobs need.
    assert found["hub_api"] == "open" and found["floe_service"] == "open", found
    # IPv6, which the firewall's rules do not cover, is off: no address to go around them.
    assert found["ipv6_off"] == "1" and found["ipv6_addresses"] == 0, found
    # The cloud metadata address and the private ranges (the team's network, other Docker
    # networks) are closed by rules (no traffic is ever sent there to see).
    rules = firewall.rules(f"{hub.instance}-net")
    for closed in ("169.254.0.0/16", *firewall.PRIVATE):
        assert f"-d {closed} -j REJECT" in rules, rules
    listener.close()
    hub.stop_server(bob)
