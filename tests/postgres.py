"""A throwaway PostgreSQL server for the tests: Debian's programs, a cluster in a temporary
folder, listening on 127.0.0.1 only, gone when the tests end. Nothing of the machine's own
PostgreSQL (if any) is used or changed."""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

from tests.hub_process import free_port_block
from tests.leftovers import claim


def _bin(name: str) -> str:
    found = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"))
    if not found:
        raise RuntimeError("PostgreSQL's programs are missing: run scripts/ensure-postgres.sh")
    return found[-1]


class PostgresServer:
    """``with PostgresServer() as pg: pg.database("floe")`` → a URL for SQLAlchemy."""

    def __init__(self) -> None:
        self.folder = Path(tempfile.mkdtemp(prefix="floe-postgres-", dir="/var/tmp"))
        claim(str(self.folder))  # its processes name it
        self.port = free_port_block(1)
        self.proc: subprocess.Popen | None = None
        # initdb and postgres refuse to run as root: then they run as the package's user.
        self.user = "postgres" if os.geteuid() == 0 else None

    def _as_owner(self, command: list[str]) -> list[str]:
        return ["runuser", "-u", self.user, "--", *command] if self.user else command

    def __enter__(self) -> PostgresServer:
        data = self.folder / "data"
        if self.user:
            os.chown(self.folder, pwd.getpwnam(self.user).pw_uid, -1)
        subprocess.run(
            self._as_owner(
                [_bin("initdb"), "-D", str(data), "-U", "postgres", "--auth=trust", "-E", "UTF8"]
            ),
            check=True,
            capture_output=True,
        )
        self.proc = subprocess.Popen(
            self._as_owner(
                [
                    _bin("postgres"), "-D", str(data), "-p", str(self.port), "-k", str(self.folder),
                    "-c", "listen_addresses=127.0.0.1", "-c", "fsync=off",
                    "-c", "max_connections=200",
                ]
            ),
            stdout=subprocess.DEVNULL,
            stderr=open(self.folder / "server.log", "wb"),  # noqa: SIM115 - the child's
        )  # fmt: skip
        deadline = time.monotonic() + 60
        while subprocess.run(
            [_bin("pg_isready"), "-h", "127.0.0.1", "-p", str(self.port)], capture_output=True
        ).returncode:
            if self.proc.poll() is not None or time.monotonic() > deadline:
                log = (self.folder / "server.log").read_text(errors="replace")
                raise RuntimeError(f"PostgreSQL did not start:\n{log[-2000:]}")
            time.sleep(0.2)
        return self

    def database(self, name: str) -> str:
        """Make a new database ``name``; its SQLAlchemy URL."""
        subprocess.run(
            [_bin("createdb"), "-h", "127.0.0.1", "-p", str(self.port), "-U", "postgres", name],
            check=True,
            capture_output=True,
        )
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/{name}"

    def __exit__(self, *_exc: object) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
        shutil.rmtree(self.folder, ignore_errors=True)
