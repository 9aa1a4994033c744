"""A real Floe hub in a subprocess, for tests and benchmarks.

Each ``HubProcess`` has its own instance name, ports and data dir, so several can run beside
each other and beside a ``make run`` hub on the same Docker engine.
"""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import docker
import requests

from hub_config import firewall
from spawner.home_disks import HomeDisks
from tests.leftovers import claim, end_processes, processes_naming

REPO_ROOT = Path(__file__).resolve().parent.parent
JUPYTERHUB = Path(sys.executable).parent / "jupyterhub"


def free_port_block(size: int = 3) -> int:
    """A port p such that p .. p+size-1 are free on 127.0.0.1 right now."""
    for _ in range(200):
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            base = s.getsockname()[1]
        if base + size > 65535:
            continue
        try:
            for offset in range(1, size):
                with socket.socket() as s:
                    s.bind(("127.0.0.1", base + offset))
            return base
        except OSError:
            continue
    raise RuntimeError("no free block of ports")


class HubExited(RuntimeError):
    """The hub process ended while it was starting."""


class HubProcess:
    """Start, talk to and clean up one hub."""

    def __init__(
        self,
        *,
        instance: str,
        data_dir: Path,
        admin_password: str,
        config: Path = REPO_ROOT / "jupyterhub_config.py",
        extra_env: dict[str, str] | None = None,
        floe_service: bool = True,
    ) -> None:
        self.instance = claim(instance)  # its containers, volumes and network bear it
        self.floe_service = floe_service  # False for a plain JupyterHub (the benchmark's)
        self.data_dir = Path(data_dir)
        self.admin_password = admin_password
        self.config = config
        self.env = {
            **os.environ,
            "FLOE_INSTANCE": instance,
            "FLOE_DATA_DIR": str(self.data_dir),
            "FLOE_ADMIN_PASSWORD": admin_password,
            "FLOE_IDLE_TIMEOUT": "0",
            **(extra_env or {}),
        }
        self._choose_ports()
        self.proc: subprocess.Popen | None = None
        self._token: str | None = None
        # What requests checks the hub's certificate against (a file, for a self-signed one).
        self.verify: bool | str = True

    @property
    def log_path(self) -> Path:
        return self.data_dir / "hub-stdout.log"

    def start(self, timeout: float = 120, attempts: int = 2) -> None:
        """Start the hub and wait until it answers; a hub that exits while starting (a port
        taken between choosing it and binding it) is tried again on new ports."""
        for attempt in range(1, attempts + 1):
            try:
                self._start_once(timeout)
                return
            except HubExited as err:
                if attempt == attempts:
                    raise
                print(f"hub exited while starting; again on new ports:\n{err}", file=sys.stderr)
                self._kill_group()
                self._choose_ports()

    def _choose_ports(self) -> None:
        self.port = free_port_block(4)
        self.url = f"http://127.0.0.1:{self.port}"
        self.env["FLOE_PORT"] = str(self.port)

    def _start_once(self, timeout: float) -> None:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        log = open(self.log_path, "ab")  # noqa: SIM115 - handed to the child process
        self.proc = subprocess.Popen(
            [str(JUPYTERHUB), "-f", str(self.config)],
            cwd=REPO_ROOT,
            env=self.env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        deadline = time.monotonic() + timeout
        # Ready when the hub answers and so does the floe service it runs (which starts after).
        waiting_for = [f"{self.url}/hub/api/"]
        if self.floe_service:
            waiting_for.append(f"{self.url}/services/floe/api/openapi.json")
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise HubExited(f"hub exited with {self.proc.returncode}:\n{self.log_tail()}")
            try:
                if requests.get(waiting_for[0], timeout=2, verify=self.verify).status_code == 200:
                    waiting_for.pop(0)
                    if not waiting_for:
                        return
                    continue
            except requests.ConnectionError:
                pass
            time.sleep(0.3)
        raise RuntimeError(f"hub did not answer within {timeout} s:\n{self.log_tail()}")

    def _kill_group(self) -> None:
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self.proc.wait()
        self._end_what_it_started()

    def stop(self, timeout: float = 60) -> None:
        if self.proc and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        self._end_what_it_started()

    def _end_what_it_started(self) -> None:
        """The hub starts its proxy and services (the floe service, Floe's registry) in
        sessions of their own, and stops them on its way out; a hub killed, or one that ended
        before it could, leaves them running. What still names its data dir ends here."""
        end_processes(
            processes_naming(f"{self.data_dir}/", in_environ=f"FLOE_DATA_DIR={self.data_dir}")
        )

    def log_tail(self, lines: int = 60) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except FileNotFoundError:
            return "(no log)"

    # --- talking to it --------------------------------------------------------------

    def login_session(self, username: str, password: str) -> requests.Session:
        """A browser-like session logged in through the real login form."""
        session = requests.Session()
        # Per request: a session's own verify loses to REQUESTS_CA_BUNDLE in the environment.
        page = session.get(f"{self.url}/hub/login", timeout=30, verify=self.verify)
        xsrf = re.search(r'name="_xsrf" value="([^"]+)"', page.text).group(1)
        resp = session.post(
            f"{self.url}/hub/login",
            data={"username": username, "password": password, "_xsrf": xsrf},
            timeout=30,
            allow_redirects=False,
            verify=self.verify,
        )
        if resp.status_code != 302:
            raise RuntimeError(f"login as {username} failed: {resp.status_code}")
        session.headers["X-XSRFToken"] = session.cookies.get("_xsrf", path="/hub/")
        return session

    def token_for(self, username: str, password: str) -> str:
        session = self.login_session(username, password)
        resp = session.post(
            f"{self.url}/hub/api/users/{username}/tokens",
            json={"note": "floe tests", "expires_in": 7200},
            timeout=30,
            verify=self.verify,
        )
        resp.raise_for_status()
        return resp.json()["token"]

    @property
    def admin_token(self) -> str:
        if self._token is None:
            self._token = self.token_for("admin", self.admin_password)
        return self._token

    def api(self, method: str, path: str, token: str | None = None, **kwargs: object):
        headers = {"Authorization": f"token {token or self.admin_token}"}
        kwargs.setdefault("timeout", 60)
        kwargs.setdefault("verify", self.verify)
        return requests.request(method, f"{self.url}/hub/api{path}", headers=headers, **kwargs)

    def floe(self, method: str, path: str, token: str, **kwargs: object):
        """Call the floe service's REST API (``/services/floe/api/<path>``) as ``token``."""
        kwargs.setdefault("timeout", 60)
        kwargs.setdefault("verify", self.verify)
        return requests.request(
            method,
            f"{self.url}/services/floe/api/{path}",
            headers={"Authorization": f"token {token}"},
            **kwargs,
        )

    def user_url(self, username: str, path: str) -> str:
        return f"{self.url}/user/{username}/{path.lstrip('/')}"

    def spawn(self, username: str, options: dict | None = None, timeout: float = 180):
        """Ask for a server and wait until it is ready; return the POST response."""
        resp = self.api("POST", f"/users/{username}/server", json=options or {})
        if resp.status_code not in (201, 202):
            return resp
        self.wait_until(username, ready=True, timeout=timeout)
        return resp

    def stop_server(self, username: str, timeout: float = 120) -> None:
        resp = self.api("DELETE", f"/users/{username}/server")
        assert resp.status_code in (202, 204), resp.text
        self.wait_until(username, ready=False, timeout=timeout)

    def wait_until(self, username: str, *, ready: bool, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            model = self.api("GET", f"/users/{username}").json()
            server = model.get("servers", {}).get("")
            if ready and server and server.get("ready"):
                return
            if not ready and not server:
                return
            if ready and not server and not model.get("pending"):
                raise RuntimeError(f"{username}'s server failed to start:\n{self.log_tail()}")
            time.sleep(0.25)
        raise TimeoutError(f"{username}: server ready={ready} not reached in {timeout} s")

    # --- cleaning up ----------------------------------------------------------------

    def remove_docker_objects(self) -> None:
        """Remove this instance's containers, volumes and network."""
        client = docker.from_env()
        for kind in ("workspace", "job"):
            for container in client.containers.list(
                all=True, filters={"name": f"{self.instance}-{kind}-"}
            ):
                container.remove(force=True)
        for volume in client.volumes.list(filters={"name": f"{self.instance}-home-"}):
            volume.remove(force=True)
        HomeDisks(root=str(self.data_dir / "homes")).release_all()
        for network in client.networks.list(names=[f"{self.instance}-net"]):
            network.remove()
        firewall.remove(f"{self.instance}-net")
