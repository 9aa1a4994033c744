"""Floe's database: migrations make it, complete an old one, and match the models exactly."""

from __future__ import annotations

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import inspect, text

from floe.core.access import Caller
from floe.db.base import make_engine
from floe.db.database import make_sessionmaker
from floe.db.migrations import VERSION_TABLE, alembic_config, upgrade_database
from floe.db.models import Base, Dataset, Job
from jobs.records import add_job, project_for

HEAD = ScriptDirectory.from_config(alembic_config()).get_current_head()


def _revision(engine) -> str:
    with engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"version_table": VERSION_TABLE})
        return context.get_current_revision()


def test_a_new_database_is_made_by_the_migrations_and_matches_the_models(fresh_db_url):
    url = fresh_db_url
    make_sessionmaker(url)
    engine = make_engine(url)
    assert _revision(engine) == HEAD
    with engine.connect() as conn:
        # Nothing in the models that a migration does not make, and the reverse.
        context = MigrationContext.configure(conn, opts={"version_table": VERSION_TABLE})
        assert compare_metadata(context, Base.metadata) == []
    tables = set(inspect(engine).get_table_names())
    assert {"datasets", "versions", "trees", "blobs", "projects", "jobs", "job_events"} <= tables
    assert VERSION_TABLE in tables and "alembic_version" not in tables  # the hub's name


def test_a_database_from_before_migrations_is_completed_and_keeps_its_data(tmp_path):
    url = f"sqlite:///{tmp_path / 'floe.sqlite'}"
    engine = make_engine(url)
    # What an earlier Floe made with create_all: the dataset tables only, no version table.
    dataset_tables = [Base.metadata.tables[t] for t in ("datasets", "trees", "versions", "blobs")]
    Base.metadata.create_all(engine, tables=dataset_tables)
    with engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO datasets (owner, name, public, description, created) "
                "VALUES ('alice', 'mnist', 0, '', '2026-01-01')"
            )
        )
    upgrade_database(engine)
    assert _revision(engine) == HEAD
    assert "jobs" in inspect(engine).get_table_names()
    with make_sessionmaker(url)() as db:
        assert [d.full_name for d in db.query(Dataset)] == ["alice/mnist"]


def test_a_database_of_an_older_floe_is_upgraded_and_keeps_its_jobs(tmp_path):
    engine = make_engine(f"sqlite:///{tmp_path / 'floe.sqlite'}")
    with engine.begin() as conn:
        command.upgrade(alembic_config(conn), "0001")  # a Floe before jobs kept their log
        conn.execute(text("INSERT INTO projects (owner, name, created) VALUES ('a', 'p', '2026')"))
        conn.execute(
            text(
                "INSERT INTO jobs (owner, project_id, number, kind, machine, environment, image, "
                "image_digest, command, notebook, datasets, parameters, message, state, reason, "
                "created, container_id, gpu_ids, stop_requested_by, metrics_offset) VALUES "
                "('a', 1, 1, 'command', 'cpu', 'py', 'img', 'sha256:1', 'true', '', '[]', '{}', "
                "'', 'complete', '', '2026-01-01', '', '[]', '', 0)"
            )
        )
    assert "log_blob" not in {c["name"] for c in inspect(engine).get_columns("jobs")}
    upgrade_database(engine)
    assert _revision(engine) == HEAD
    with make_sessionmaker(str(engine.url))() as db:
        job = db.query(Job).one()
        assert (job.state, job.log_blob) == ("complete", None)


def test_upgrading_twice_changes_nothing(fresh_db_url):
    engine = make_engine(fresh_db_url)
    upgrade_database(engine)
    upgrade_database(engine)
    assert _revision(engine) == HEAD


def test_a_job_number_taken_by_a_concurrent_submit_is_retried_with_the_next(fresh_db_url):
    from sqlalchemy import event

    sessions = make_sessionmaker(fresh_db_url)
    alice = Caller("alice")
    with sessions() as db:
        project_id = project_for(db, alice, "cats").id

    def new_job() -> Job:
        return Job(
            owner="alice", kind="command", command="true", environment="python", machine="cpu-small"
        )

    with sessions() as db:
        project = project_for(db, alice, "cats")
        raced = []

        @event.listens_for(db, "before_flush")
        def another_submit_gets_there_first(session, _context, _instances):
            if not raced:  # between choosing number 1 and inserting it
                raced.append(True)
                with sessions() as other:
                    other.add(Job(project_id=project_id, number=1, **_fields()))
                    other.commit()

        job = add_job(db, Job(**_fields()), project)
        assert raced and job.number == 2 and job.id is not None

    with sessions() as db:
        assert sorted(j.number for j in db.query(Job)) == [1, 2]


def _fields() -> dict:
    return {
        "owner": "alice",
        "kind": "command",
        "command": "true",
        "environment": "python",
        "machine": "cpu-small",
    }


def test_a_submit_that_loses_the_race_for_its_number_keeps_its_code(fresh_db_url):
    from sqlalchemy import event

    from dataset_mounter.settings import DatasetSettings
    from floe.db.models import TreeRow
    from jobs.limits import JobLimits
    from jobs.submit import JobContext, submit_job
    from spawner.catalog import Catalog

    sessions = make_sessionmaker(fresh_db_url)
    alice = Caller("alice")
    ctx = JobContext(Catalog(), DatasetSettings(), gpu_total=0, limits=JobLimits())
    with sessions() as db:
        project_id = project_for(db, alice, "cats").id
    with sessions() as db:
        raced = []

        @event.listens_for(db, "before_flush")
        def another_submit_gets_there_first(session, _context, _instances):
            if not raced and any(isinstance(row, Job) for row in session.new):
                raced.append(True)
                with sessions() as other:
                    other.add(Job(project_id=project_id, number=1, **_fields()))
                    other.commit()

        body = {"project": "cats", "kind": "command", "command": "true"}
        job = submit_job(db, alice, body, ctx)
        assert raced and job.number == 2
    with sessions() as db:
        assert db.get(TreeRow, db.get(Job, job.id).code_tree) is not None


def test_upgrading_gives_each_owner_the_blobs_they_kept_so_far(tmp_path):
    from dataset_mounter.tree import Entry, Tree
    from floe.db.models import BlobHolder

    engine = make_engine(f"sqlite:///{tmp_path / 'floe.sqlite'}")
    with engine.begin() as conn:
        command.upgrade(alembic_config(conn), "0002")  # a database of the Floe before holders
    tree = Tree.from_entries([Entry("a.bin", "a" * 64, 3), Entry("b.bin", "b" * 64, 4)])
    with engine.begin() as conn:
        conn.execute(
            text("INSERT INTO trees VALUES (:d, :m, 7, 2)"), {"d": tree.digest, "m": tree.encode()}
        )
        conn.execute(
            text(
                "INSERT INTO datasets (id, owner, name, public, description, created) "
                "VALUES (1, 'alice', 'mnist', 0, '', '2026-01-01')"
            )
        )
        conn.execute(
            text(
                "INSERT INTO versions (dataset_id, number, tree_digest, message, created_by, "
                "created, size, file_count) VALUES (1, 1, :d, '', 'alice', '2026-01-01', 7, 2)"
            ),
            {"d": tree.digest},
        )
    upgrade_database(engine)
    with make_sessionmaker(str(engine.url))() as db:
        held = {(h.sha256[0], h.holder) for h in db.query(BlobHolder)}
    assert held == {("a", "alice"), ("b", "alice")}


def test_a_job_stopped_while_the_queue_starts_it_stays_stopped(fresh_db_url):
    from floe.db.models import QUEUED, STARTING, STOPPED
    from jobs.records import set_state

    sessions = make_sessionmaker(fresh_db_url)
    alice = Caller("alice")
    with sessions() as db:
        job = add_job(db, Job(state=QUEUED, **_fields()), project_for(db, alice, "cats"))
    with sessions() as queue, sessions() as user:
        seen_by_queue = queue.get(Job, job.id)  # the queue read it as queued…
        stopping = user.get(Job, job.id)
        assert set_state(user, stopping, STOPPED, "stopped by alice", only_from=(QUEUED,))
        # …and its move to starting, a moment later, must not undo the stop.
        assert not set_state(queue, seen_by_queue, STARTING, only_from=(QUEUED,))
        assert seen_by_queue.state == STOPPED
    with sessions() as db:
        states = [e.state for e in db.get(Job, job.id).events]
        assert states == ["queued", "stopped"]


def test_concurrent_submits_each_get_their_own_number(fresh_db_url):
    """Eight writers at once, each in its own connection (real concurrency on PostgreSQL)."""
    import threading

    sessions = make_sessionmaker(fresh_db_url)
    alice = Caller("alice")
    with sessions() as db:
        project_for(db, alice, "race")
    start = threading.Barrier(8)
    numbers, errors = [], []

    def submit() -> None:
        try:
            with sessions() as db:
                project = project_for(db, alice, "race")
                start.wait(10)
                numbers.append(add_job(db, Job(**_fields()), project).number)
        except Exception as err:  # noqa: BLE001 - reported below, with the others
            errors.append(repr(err))

    threads = [threading.Thread(target=submit) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert errors == [] and sorted(numbers) == list(range(1, 9))
