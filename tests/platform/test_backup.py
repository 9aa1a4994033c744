"""floe-admin backup and restore: a Floe with a dataset and a job is backed up while it runs,
restored into a fresh data dir, and a hub started there has it all: the user's token still
logs in, the dataset downloads and verifies, the job's log and output are there."""

from __future__ import annotations

import secrets
import uuid

import pytest

from tests.floe_cli import floe, floe_admin
from tests.hub_process import HubProcess

pytestmark = pytest.mark.integration


def test_a_backup_restored_into_a_fresh_data_dir_has_everything(tmp_path):
    password = secrets.token_urlsafe(16)
    first = HubProcess(
        instance=f"floebak-{uuid.uuid4().hex[:6]}",
        data_dir=tmp_path / "first",
        admin_password=password,
    )
    second = None
    try:
        first.start()
        name = f"keeper{uuid.uuid4().hex[:5]}"
        assert first.api("POST", f"/users/{name}").status_code == 201
        token = first.api("POST", f"/users/{name}/tokens", json={"note": "kept"}).json()["token"]
        data = tmp_path / "photos"
        data.mkdir()
        (data / "cat.txt").write_text("a cat, kept through a restore\n")
        (data / "big.bin").write_bytes(secrets.token_bytes(3 * 1024 * 1024))
        assert floe(first, token, "data", "init", "photos", cwd=data).returncode == 0
        assert floe(first, token, "data", "upload", cwd=data).returncode == 0
        project = tmp_path / "project"
        project.mkdir()
        assert floe(first, token, "init", "kept", cwd=project).returncode == 0
        ran = floe(
            first, token, "run", "--data", "photos:1", "-f",
            "wc -c /input/photos/big.bin > /output/size.txt && echo job-ran",
            cwd=project,
        )  # fmt: skip
        assert ran.returncode == 0 and "job-ran" in ran.stdout, ran.stderr

        # Backed up while the hub runs.
        made = floe_admin(first, "backup", str(tmp_path / "backup"))
        assert made.returncode == 0, made.stderr
        assert "backed up" in made.stdout
        again = floe_admin(first, "backup", str(tmp_path / "backup"))
        assert again.returncode == 1 and "not empty" in again.stderr
        first.stop()
        first.remove_docker_objects()

        second = HubProcess(
            instance=f"floeres-{uuid.uuid4().hex[:6]}",
            data_dir=tmp_path / "second",
            admin_password=password,
        )
        second.data_dir.mkdir()
        back = floe_admin(second, "restore", str(tmp_path / "backup"))
        assert back.returncode == 0, back.stderr
        twice = floe_admin(second, "restore", str(tmp_path / "backup"))
        assert twice.returncode == 1 and "already holds a Floe" in twice.stderr
        second.start()

        # The same token, the same dataset (downloaded and verified), the same job.
        into = tmp_path / "downloaded"
        got = floe(second, token, "data", "download", "photos:1", str(into), cwd=tmp_path)
        assert got.returncode == 0, got.stderr
        assert (into / "cat.txt").read_text() == "a cat, kept through a restore\n"
        assert (into / "big.bin").read_bytes() == (data / "big.bin").read_bytes()
        job = second.floe("GET", "jobs?project=kept", token).json()[0]
        assert job["state"] == "complete"
        log = floe(second, token, "logs", job["name"], cwd=tmp_path)
        assert "job-ran" in log.stdout, log.stderr
        out = tmp_path / "output"
        pulled = floe(second, token, "output", job["name"], "--download", str(out), cwd=tmp_path)
        assert pulled.returncode == 0, pulled.stderr
        assert (out / "size.txt").read_text().split()[0] == str(3 * 1024 * 1024)
    finally:
        for hub in (first, second):
            if hub is not None:
                hub.stop()
                hub.remove_docker_objects()


def test_postgresql_databases_are_dumped_and_restored(tmp_path):
    """The same on PostgreSQL (pg_dump, pg_restore): into a new database, never over one."""
    import hashlib
    from dataclasses import replace

    from sqlalchemy import text

    from dataset_mounter.settings import DatasetSettings
    from floe.db.base import make_engine
    from floe.db.database import make_sessionmaker
    from floe.db.models import Job, Project
    from hub_config.backup import BackupError, backup, restore
    from hub_config.settings import Settings
    from tests.postgres import PostgresServer

    log = b"a job's log, kept as a blob\n"
    sha = hashlib.sha256(log).hexdigest()
    with PostgresServer() as server:
        settings = Settings(
            data_dir=tmp_path / "first",
            instance="floe",
            port=8000,
            proxy_api_port=8001,
            hub_api_port=8002,
            service_port=8003,
            idle_timeout=0,
            hub_db_url=server.database("hub"),
            floe_db_url=server.database("floe"),
            blob_store="local",
            s3={},
            gpu_devices=None,
        )
        settings.data_dir.mkdir()
        with make_engine(settings.hub_db_url).begin() as conn:
            conn.execute(text("CREATE TABLE users (name text); INSERT INTO users VALUES ('ann')"))
        with make_sessionmaker(settings.floe_db_url)() as db:
            project = Project(owner="ann", name="p")
            db.add(project)
            db.flush()
            db.add(Job(owner="ann", project_id=project.id, number=1, kind="command",
                       command="true", environment="python", machine="cpu-small",
                       state="complete", log_blob=sha))  # fmt: skip
            db.commit()
        (tmp_path / "log").write_bytes(log)
        DatasetSettings(config=settings.service_config()).store.put_file(sha, tmp_path / "log")

        backup(settings, tmp_path / "backup", say=lambda _line: None)
        fresh = replace(
            settings,
            data_dir=tmp_path / "second",
            hub_db_url=server.database("hub2"),
            floe_db_url=server.database("floe2"),
        )
        fresh.data_dir.mkdir()
        restore(fresh, tmp_path / "backup", say=lambda _line: None)
        with make_sessionmaker(fresh.floe_db_url)() as db:
            assert [(j.owner, j.log_blob) for j in db.query(Job)] == [("ann", sha)]
        with make_engine(fresh.hub_db_url).connect() as conn:
            assert conn.execute(text("SELECT name FROM users")).scalars().all() == ["ann"]
        restored = DatasetSettings(config=fresh.service_config()).store
        with restored.open(sha) as kept:
            assert kept.read() == log
        again = replace(fresh, data_dir=tmp_path / "third")
        again.data_dir.mkdir()
        with pytest.raises(BackupError, match="already holds tables"):
            restore(again, tmp_path / "backup", say=lambda _line: None)
