"""A team's deployment: FLOE_PUBLIC_URL=https://… with a certificate given as files, and both
databases (the hub's and Floe's) on PostgreSQL. traefik terminates TLS, plain HTTP is
redirected, cookies are secure, and the whole workflow works over HTTPS: login, a workspace
(its terminal's websocket too), a job from the command line."""

from __future__ import annotations

import json
import secrets
import ssl
import subprocess
import uuid
from urllib.parse import urlsplit

import pytest
import requests
import websocket

from tests.floe_cli import floe
from tests.hub_process import HubProcess, free_port_block
from tests.postgres import PostgresServer

pytestmark = pytest.mark.integration


class TlsHub(HubProcess):
    """A hub whose public address is https://localhost:PORT, with HTTP redirected from PORT+1."""

    def _choose_ports(self) -> None:
        super()._choose_ports()
        public = free_port_block(2)
        self.url = f"https://localhost:{public}"
        self.plain = f"http://127.0.0.1:{public + 1}"
        self.env.update(
            FLOE_PUBLIC_URL=self.url, FLOE_HTTP_PORT=str(public + 1), FLOE_BIND_IP="127.0.0.1"
        )


@pytest.fixture(scope="module")
def tls_hub(tmp_path_factory):
    with PostgresServer() as databases:
        yield from _tls_hub(tmp_path_factory, databases)


def _tls_hub(tmp_path_factory, databases: PostgresServer):
    folder = tmp_path_factory.mktemp("tls")
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
         "-subj", "/CN=localhost", "-addext", "subjectAltName=DNS:localhost",
         "-keyout", str(key), "-out", str(cert)],
        check=True, capture_output=True,
    )  # fmt: skip
    hub = TlsHub(
        instance=f"floetls-{uuid.uuid4().hex[:6]}",
        data_dir=folder / "data",
        admin_password=secrets.token_urlsafe(16),
        extra_env={
            "FLOE_TLS_CERT": str(cert),
            "FLOE_TLS_KEY": str(key),
            "FLOE_HUB_DB_URL": databases.database("hub"),
            "FLOE_DB_URL": databases.database("floe"),
        },
    )
    hub.verify = str(cert)
    try:
        hub.start()
        yield hub
    finally:
        hub.stop()
        hub.remove_docker_objects()


def test_plain_http_is_redirected_and_cookies_are_secure(tls_hub):
    moved = requests.get(f"{tls_hub.plain}/hub/login?next=%2Fhub%2F", allow_redirects=False)
    assert moved.status_code in (301, 308)
    target = urlsplit(moved.headers["Location"])
    assert (target.scheme, target.port) == ("https", urlsplit(tls_hub.url).port)
    assert (target.path, target.query) == ("/hub/login", "next=%2Fhub%2F")

    session = tls_hub.login_session("admin", tls_hub.admin_password)
    assert session.cookies, "no cookies after logging in"
    assert all(cookie.secure for cookie in session.cookies), [
        (c.name, c.secure) for c in session.cookies
    ]
    # Without the certificate a client refuses the connection: it is the one traefik serves.
    with pytest.raises(requests.exceptions.SSLError):
        requests.get(f"{tls_hub.url}/hub/login", timeout=10)


def test_a_workspace_and_a_job_over_https(tls_hub, tmp_path):
    name = f"tls{uuid.uuid4().hex[:6]}"
    assert tls_hub.api("POST", f"/users/{name}").status_code == 201
    token = tls_hub.api("POST", f"/users/{name}/tokens", json={"note": "tls"}).json()["token"]

    # A workspace, spawned and reached through HTTPS, its terminal through a secure websocket.
    assert tls_hub.spawn(name).status_code in (201, 202)
    auth = {"Authorization": f"token {token}"}
    status = requests.get(
        tls_hub.user_url(name, "api/status"), headers=auth, verify=tls_hub.verify, timeout=30
    )
    assert status.status_code == 200, status.text
    made = requests.post(
        tls_hub.user_url(name, "api/terminals"), headers=auth, verify=tls_hub.verify, timeout=30
    )
    assert made.status_code == 200, made.text
    socket_url = tls_hub.user_url(name, f"terminals/websocket/{made.json()['name']}")
    ws = websocket.create_connection(
        socket_url.replace("https://", "wss://"),
        header=[f"Authorization: token {token}"],
        sslopt={"cert_reqs": ssl.CERT_REQUIRED, "ca_certs": tls_hub.verify},
        timeout=30,
    )
    try:
        ws.send(json.dumps(["stdin", "echo secure-$((6*7))\r"]))
        seen = ""
        while "secure-42" not in seen:
            message = json.loads(ws.recv())
            if message[0] == "stdout":
                seen += message[1]
    finally:
        ws.close()
    tls_hub.stop_server(name)

    # A job from the command line, which trusts the certificate the way requests does.
    project = tmp_path / "project"
    project.mkdir()
    env = {"REQUESTS_CA_BUNDLE": tls_hub.verify}
    assert floe(tls_hub, token, "init", "secure", cwd=project, env=env).returncode == 0
    ran = floe(tls_hub, token, "run", "-f", "echo over-tls", cwd=project, env=env)
    assert ran.returncode == 0 and "over-tls" in ran.stdout, ran.stderr
    job = tls_hub.floe("GET", "jobs?project=secure", token).json()[0]
    assert job["state"] == "complete"
    # Kept in PostgreSQL: the hub's users and Floe's jobs are there, not in a SQLite file.
    assert not list(tls_hub.data_dir.glob("*.sqlite"))
