"""A second Docker engine on this machine: another node, for what must not touch the first.

Privileged containers cannot start here, so no Docker-in-Docker: the engine runs as a
process of its own in a network namespace the test makes (a veth pair joins it to this
machine), with its own data, sockets and ``/run/docker/plugins`` (a private mount
namespace), so the volume plugins it is given are never seen by the first engine, which
would otherwise remember them, and wait on each once they are stopped
(``../shared/ENVIRONMENT.md`` has the recipe).
"""

from __future__ import annotations

import fcntl
import os
import shutil
import signal
import subprocess
import time
import uuid
from pathlib import Path

import docker
import requests

from tests.leftovers import claim

ROOTS = Path("/var/tmp")  # each engine's files, in a folder named as its namespace
# One lock a subnet, held while an engine uses it: the kernel lets it go when its holder
# dies, so an engine found on a subnet whose lock is free is a killed run's.
LOCKS = Path("/run/lock")
WAIT_FOR_SUBNET_S = 1200  # another run's engine on it: wait that long for it to go


def _kill_namespace(name: str) -> None:
    """Kill every process in the network namespace ``name``: the engine, its containerd and
    the shims, which outlive a killed engine (a container's own processes are in its
    cgroup, ``SecondEngine._kill_containers``)."""
    shown = subprocess.run(["ip", "netns", "pids", name], capture_output=True, text=True)
    for pid in shown.stdout.split():
        try:
            os.kill(int(pid), signal.SIGKILL)
        except (ProcessLookupError, ValueError):
            pass


def _remove_namespace(name: str) -> None:
    """An engine's processes, link, network namespace and files (its engine stopped)."""
    _kill_namespace(name)
    subprocess.run(["ip", "link", "del", f"{name}h"], capture_output=True)
    subprocess.run(["ip", "netns", "del", name], capture_output=True)
    shutil.rmtree(ROOTS / name, ignore_errors=True)


class SecondEngine:
    """``start()``, then ``client`` is its Docker API; ``stop()`` leaves nothing behind."""

    def __init__(self, subnet: int = 231) -> None:
        self.name = claim(f"floen{uuid.uuid4().hex[:6]}")
        # Short: its containerd's sockets live under it, and a socket's path has 104 bytes.
        self.root = ROOTS / self.name
        self.plugins = self.root / "plugins"  # its /run/docker/plugins
        self.socket = self.root / "docker.sock"
        self.subnet = subnet
        self.host_ip, self.node_ip = f"10.{subnet}.0.1", f"10.{subnet}.0.2"
        self._lock = None
        self.proc: subprocess.Popen | None = None
        self.client: docker.DockerClient | None = None

    def _ip(self, *args: str) -> None:
        subprocess.run(["ip", *args], check=True, capture_output=True)

    def start(
        self,
        images: tuple[str, ...] = (),
        insecure_registries: tuple[str, ...] = (),
        timeout: float = 60,
        extra_args: tuple[str, ...] = (),
        bridge: str = "",
    ) -> None:
        """Start it; ``images`` of the first engine are handed over, registries named in
        ``insecure_registries`` (HOST:PORT) are pulled from over plain HTTP; ``extra_args``
        go to dockerd as they are. With ``bridge`` (an address and prefix, 172.31.5.1/24),
        its containers get a bridge network there, with NAT out of the namespace and
        published ports (iptables of its own namespace); without, no network but their own."""
        self._take_subnet()
        self._clear_leftovers()
        self.plugins.mkdir(parents=True)
        host_end, node_end = f"{self.name}h", f"{self.name}n"
        self._ip("netns", "add", self.name)
        self._ip("link", "add", host_end, "type", "veth", "peer", "name", node_end)
        self._ip("link", "set", node_end, "netns", self.name)
        self._ip("addr", "add", f"{self.host_ip}/30", "dev", host_end)
        self._ip("link", "set", host_end, "up")
        for args in (
            ("addr", "add", f"{self.node_ip}/30", "dev", node_end),
            ("link", "set", node_end, "up"),
            ("link", "set", "lo", "up"),
        ):
            self._ip("netns", "exec", self.name, "ip", *args)
        dockerd = (
            f"mount --bind {self.plugins} /run/docker/plugins && exec dockerd "
            f"--data-root {self.root}/data --exec-root {self.root}/exec "
            f"-H unix://{self.socket} --pidfile {self.root}/docker.pid "
            + (f"--bip {bridge} " if bridge else "--bridge none --iptables=false ")
            + f"--cgroup-parent {self.name}"
            + "".join(f" --insecure-registry {r}" for r in insecure_registries)
            + "".join(f" {arg}" for arg in extra_args)
        )
        Path("/run/docker/plugins").mkdir(parents=True, exist_ok=True)
        log = open(self.root / "dockerd.log", "wb")  # noqa: SIM115 - the child's
        # nsenter, not `ip netns exec` (which remounts /sys and hides the cgroup mounts).
        self.proc = subprocess.Popen(
            [
                "nsenter",
                f"--net=/var/run/netns/{self.name}",
                "unshare",
                "--mount",
                "--propagation",
                "private",
                "sh",
                "-c",
                dockerd,
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        deadline = time.monotonic() + timeout
        while True:
            if self.proc.poll() is not None:
                raise RuntimeError(f"the second engine exited:\n{self.log_tail()}")
            try:
                client = docker.DockerClient(base_url=f"unix://{self.socket}", timeout=120)
                client.ping()
                self.client = client
                break
            except Exception:  # noqa: BLE001 - not answering yet
                if time.monotonic() > deadline:
                    raise RuntimeError(
                        f"the second engine never answered:\n{self.log_tail()}"
                    ) from None
                time.sleep(0.3)
        for image in images:  # no registry: the first engine hands its images over
            saved = subprocess.Popen(["docker", "save", image], stdout=subprocess.PIPE)
            subprocess.run(
                ["docker", "-H", f"unix://{self.socket}", "load", "-q"],
                stdin=saved.stdout,
                check=True,
                capture_output=True,
            )
            saved.wait()

    def _take_subnet(self) -> None:
        """Hold this subnet's lock, waiting while another run's engine (another session
        on this machine) uses it: clearing that one would pull it from under its tests."""
        self._lock = open(LOCKS / f"floe-test-subnet-{self.subnet}", "w")  # noqa: SIM115
        deadline = time.monotonic() + WAIT_FOR_SUBNET_S
        while True:
            try:
                fcntl.flock(self._lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
                return
            except BlockingIOError:
                if time.monotonic() > deadline:
                    self._lock.close()
                    raise TimeoutError(
                        f"10.{self.subnet}.0.0/24 stayed in use by another engine"
                    ) from None
                time.sleep(2)

    def _clear_leftovers(self) -> None:
        """A run that was killed, not torn down, may have left an engine on this subnet:
        its link would take the route to this one's, so it goes, with its namespace."""
        shown = subprocess.run(
            ["ip", "-o", "-4", "addr", "show", "to", f"{self.host_ip}/32"],
            capture_output=True,
            text=True,
        ).stdout
        for line in shown.splitlines():
            stale = line.split()[1].split("@")[0].removesuffix("h")
            try:
                os.kill(int((ROOTS / stale / "docker.pid").read_text()), signal.SIGKILL)
            except (OSError, ValueError):
                pass
            _remove_namespace(stale)

    def link(self, other: SecondEngine, subnet: int) -> tuple[str, str]:
        """A veth pair straight between this engine's namespace and ``other``'s; the two
        addresses (this end, that end), e.g. for Swarm to talk over."""
        mine, theirs = f"10.{subnet}.0.1", f"10.{subnet}.0.2"
        a, b = f"{self.name}l", f"{other.name}l"
        self._ip(
            "link",
            "add",
            a,
            "netns",
            self.name,
            "type",
            "veth",
            "peer",
            "name",
            b,
            "netns",
            other.name,
        )
        for engine, end, address in ((self, a, mine), (other, b, theirs)):
            engine._ip(
                "netns", "exec", engine.name, "ip", "addr", "add", f"{address}/30", "dev", end
            )
            engine._ip("netns", "exec", engine.name, "ip", "link", "set", end, "up")
        return mine, theirs

    def route_to_host(self, address: str) -> None:
        """Reach this machine's ``address`` (another engine's end of its own link to this
        machine, say) over this engine's link: packets for one of this machine's addresses
        are its own, whichever link they came by."""
        self._ip(
            "netns", "exec", self.name, "ip", "route", "add", f"{address}/32", "via", self.host_ip
        )

    def kill(self) -> None:
        """The machine is gone: its engine and every container it ran die at once."""
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()
        _kill_namespace(self.name)
        self._kill_containers()
        if self.client is not None:
            self.client.close()
            self.client = None

    def _kill_containers(self) -> None:
        """Kill what is left in the engine's cgroup (containers outlive a killed engine)."""
        for procs in Path("/sys/fs/cgroup").glob(f"*/{self.name}/**/cgroup.procs"):
            try:
                pids = procs.read_text().split()
            except OSError:
                continue  # the cgroup went meanwhile
            for pid in pids:
                try:
                    os.kill(int(pid), signal.SIGKILL)
                except (ProcessLookupError, ValueError):
                    pass

    def log_tail(self, lines: int = 40) -> str:
        text = (self.root / "dockerd.log").read_text(errors="replace")
        return "\n".join(text.splitlines()[-lines:])

    def _leave_and_clear(self) -> None:
        if self.client.info().get("Swarm", {}).get("LocalNodeState") == "active":
            self.client.swarm.leave(force=True)
        for container in self.client.containers.list(all=True):
            container.remove(force=True)

    def stop(self) -> None:
        if self.client is not None:
            try:
                self._leave_and_clear()
            except (docker.errors.DockerException, requests.RequestException) as e:
                # a busy engine may time out leaving ("context deadline exceeded"): it is
                # killed below and its whole state removed, so the swarm is gone all the same
                print(f"{self.name}: leaving the swarm failed ({e}); killing the engine")
            finally:
                self.client.close()
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        self._kill_containers()
        _remove_namespace(self.name)
        if self._lock is not None:
            self._lock.close()  # lets the subnet go
            self._lock = None
