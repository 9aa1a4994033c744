"""``floe-admin backup DIR`` and ``floe-admin restore DIR``: all of a Floe's state, kept
consistently, and put back into a fresh data dir.

What a backup holds: both databases (SQLite through its online backup, PostgreSQL through
``pg_dump``), every blob the Floe database names (read from the blob store, local or S3,
its hash checked on the way), the secrets and the deployer's config file of the data dir,
and the users' home disks. The databases are copied first, then the blobs they name:
blobs are never changed, and one deleted in between (by a ``floe delete`` meanwhile) makes
the backup fail, naming it, rather than keep a database that names what it lacks.

Restoring refuses a data dir (or database) that already holds a Floe, before writing
anything; it puts back the files (the deployer's config among them), then writes the blobs
into whichever store the settings name (so a backup of a local store can move to S3), each
checked against its name, then the databases. Run it with the same
``FLOE_*`` settings the hub will run with, while the hub is stopped.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import sqlite3
import subprocess
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import BinaryIO

from sqlalchemy import inspect
from sqlalchemy.engine import make_url

from dataset_mounter.collect import named_blobs
from dataset_mounter.settings import DatasetSettings
from dataset_mounter.stores import BlobChanged
from floe.db.base import make_engine
from floe.db.database import make_sessionmaker

from .settings import NODE_TOKEN_FILE, Settings

FORMAT = 1
# The data dir's own files a backup keeps (the rest is made again, or lives elsewhere).
KEPT_FILES = (
    "jupyterhub_cookie_secret",
    "floe_cookie_secret",
    "proxy_auth_token",
    NODE_TOKEN_FILE,  # nodes keep theirs: a restored hub must still accept it
    "admin-password",
    "jupyterhub_config.local.py",
)
KEPT_FOLDERS = ("homes", "environments")
CHUNK = 1 << 20


class BackupError(RuntimeError):
    """What stops a backup or a restore, in words for the deployer."""


def _sha256_copy(source: BinaryIO, dest: Path) -> str:
    digest = hashlib.sha256()
    with open(dest, "wb") as out:
        while chunk := source.read(CHUNK):
            digest.update(chunk)
            out.write(chunk)
    return digest.hexdigest()


def _libpq(url: str) -> str:
    """A SQLAlchemy PostgreSQL URL as pg_dump and pg_restore take it."""
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


def _sqlite_file(url: str) -> Path | None:
    parsed = make_url(url)
    return Path(parsed.database) if parsed.drivername.startswith("sqlite") else None


def _dump_database(url: str, dest: Path) -> str:
    """Copy one database to ``dest`` (+ .sqlite or .pgdump); its kind."""
    file = _sqlite_file(url)
    if file is not None:
        if not file.exists():
            raise BackupError(f"no database at {file}")
        with sqlite3.connect(file) as source, sqlite3.connect(f"{dest}.sqlite") as copy:
            source.backup(copy)  # a consistent copy while the hub writes
        return "sqlite"
    done = subprocess.run(
        ["pg_dump", "--format=custom", "--no-owner", f"--file={dest}.pgdump", _libpq(url)],
        capture_output=True,
        text=True,
    )
    if done.returncode:
        raise BackupError(f"pg_dump failed: {done.stderr.strip()}")
    return "postgresql"


def _refuse_occupied(url: str, kind: str) -> None:
    """Refuse a database of the other kind than the backup's, or one holding tables."""
    file = _sqlite_file(url)
    if (file is not None) != (kind == "sqlite"):
        wanted = "SQLite" if kind == "sqlite" else "PostgreSQL"
        raise BackupError(f"the backup holds a {wanted} database; {url.split(':')[0]} is set")
    if file is not None:
        return  # the data dir's check covers it
    engine = make_engine(url)
    try:
        if inspect(engine).get_table_names():
            raise BackupError(
                f"{make_url(url).database} already holds tables: restore into a new one"
            )
    finally:
        engine.dispose()


def _load_database(url: str, source: Path) -> None:
    file = _sqlite_file(url)
    if file is not None:
        shutil.copyfile(f"{source}.sqlite", file)
        os.chmod(file, 0o600)
        return
    done = subprocess.run(
        [
            "pg_restore",
            "--no-owner",
            "--exit-on-error",
            f"--dbname={_libpq(url)}",
            f"{source}.pgdump",
        ],
        capture_output=True,
        text=True,
    )
    if done.returncode:
        raise BackupError(f"pg_restore failed: {done.stderr.strip()}")


def _copy_folder(source: Path, dest: Path) -> None:
    """``cp -a``, keeping sparse files (home disks) sparse."""
    subprocess.run(["cp", "-a", "--sparse=always", str(source), str(dest)], check=True)


def backup(settings: Settings, dest: Path, say: Callable[[str], object] = print) -> dict:
    """Write a backup of the Floe ``settings`` describe into the new folder ``dest``."""
    if dest.exists() and any(dest.iterdir()):
        raise BackupError(f"{dest} is not empty: back up into a new folder")
    (dest / "databases").mkdir(parents=True, exist_ok=True)
    os.chmod(dest, 0o700)  # secrets and everyone's data
    kinds = {
        "floe": _dump_database(settings.floe_db_url, dest / "databases" / "floe"),
        "hub": _dump_database(settings.hub_db_url, dest / "databases" / "hub"),
    }
    say(f"floe-admin: databases copied ({kinds['floe']})")
    # The blobs the copied database names, read from the store the Floe uses.
    snapshot = dest / "databases" / "floe"
    url = f"sqlite:///{snapshot}.sqlite" if kinds["floe"] == "sqlite" else settings.floe_db_url
    with make_sessionmaker(url)() as db:
        wanted = sorted(named_blobs(db))
    store = DatasetSettings(config=settings.service_config()).store
    total = 0
    for done, sha in enumerate(wanted, 1):
        folder = dest / "blobs" / sha[:2]
        folder.mkdir(parents=True, exist_ok=True)
        try:
            with store.open(sha) as source:
                got = _sha256_copy(source, folder / sha)
        except Exception as err:  # noqa: BLE001 - each store says "missing" its own way
            raise BackupError(
                f"blob {sha} is named by the database but missing from the store ({err}); "
                "if something was deleted during the backup, run it again"
            ) from None
        if got != sha:
            raise BackupError(f"blob {sha} in the store holds other bytes ({got}): it is damaged")
        total += (folder / sha).stat().st_size
        if done % 1000 == 0:
            say(f"floe-admin: {done}/{len(wanted)} blobs")
    say(f"floe-admin: {len(wanted)} blobs, {total} bytes")
    files = dest / "files"
    files.mkdir()
    for name in KEPT_FILES:
        if (settings.data_dir / name).exists():
            shutil.copy2(settings.data_dir / name, files / name)
    for name in KEPT_FOLDERS:
        if (settings.data_dir / name).is_dir():
            _copy_folder(settings.data_dir / name, files / name)
    manifest = {
        "format": FORMAT,
        "made": datetime.now(UTC).isoformat(timespec="seconds"),
        "databases": kinds,
        "blobs": len(wanted),
        "blob_bytes": total,
    }
    (dest / "MANIFEST.json").write_text(json.dumps(manifest, indent=2) + "\n")
    return manifest


def restore(settings: Settings, source: Path, say: Callable[[str], object] = print) -> dict:
    """Put the backup in ``source`` back into the (fresh) Floe ``settings`` describe."""
    try:
        manifest = json.loads((source / "MANIFEST.json").read_text())
    except (OSError, ValueError) as err:
        raise BackupError(f"{source} is no Floe backup: {err}") from None
    if manifest.get("format") != FORMAT:
        raise BackupError(f"{source}: backup format {manifest.get('format')}, this Floe reads 1")
    data = settings.data_dir
    held = [n for n in ("floe.sqlite", "jupyterhub.sqlite", "blobs") if (data / n).exists()]
    if held:
        raise BackupError(
            f"{data} already holds a Floe ({', '.join(held)}): restore into a new one"
        )
    databases = {"floe": settings.floe_db_url, "hub": settings.hub_db_url}
    for name, url in databases.items():
        _refuse_occupied(url, manifest["databases"][name])
    # The deployer's config file first: it may say which blob store to fill.
    for item in sorted((source / "files").iterdir()):
        if item.is_dir():
            _copy_folder(item, data / item.name)
        else:
            shutil.copy2(item, data / item.name)
    store = DatasetSettings(config=settings.service_config()).store
    count = 0
    for file in sorted((source / "blobs").glob("*/*")):
        try:
            store.put_file(file.name, file)  # copied and hashed on the way
        except BlobChanged as err:
            raise BackupError(f"{file}: the backup is damaged ({err})") from None
        count += 1
    say(f"floe-admin: {count} blobs restored")
    for name, url in databases.items():
        _load_database(url, source / "databases" / name)
    say("floe-admin: databases restored")
    return manifest
