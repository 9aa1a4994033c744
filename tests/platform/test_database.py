"""Floe's database: migrations make it, complete an old one, and match the models exactly."""

from __future__ import annotations

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import inspect, select, text

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

    from containers.catalog import Catalog
    from dataset_mounter.settings import DatasetSettings
    from floe.db.models import TreeRow
    from jobs.limits import JobLimits
    from jobs.submit import JobContext, JobRequest, submit_job

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

        request = JobRequest(project="cats", kind="command", command="true")
        job = submit_job(db, alice, request, ctx)
        assert raced and job.number == 2
    with sessions() as db:
        assert db.get(TreeRow, db.get(Job, job.id).code_tree) is not None


def test_upgrading_gives_each_owner_the_blobs_they_kept_so_far(tmp_path):
    from floe.db.models import BlobHolder
    from floe.trees.tree import Entry, Tree

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
    from floe.core.job_states import JobState
    from jobs.records import set_state

    sessions = make_sessionmaker(fresh_db_url)
    alice = Caller("alice")
    with sessions() as db:
        job = add_job(db, Job(state=JobState.QUEUED, **_fields()), project_for(db, alice, "cats"))
    with sessions() as queue, sessions() as user:
        seen_by_queue = queue.get(Job, job.id)  # the queue read it as queued…
        stopping = user.get(Job, job.id)
        assert set_state(
            user, stopping, JobState.STOPPED, "stopped by alice", only_from=(JobState.QUEUED,)
        )
        # …and its move to starting, a moment later, must not undo the stop.
        assert not set_state(queue, seen_by_queue, JobState.STARTING, only_from=(JobState.QUEUED,))
        assert seen_by_queue.state == JobState.STOPPED
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


def test_ids_are_never_given_twice_even_after_the_newest_row_is_deleted(fresh_db_url):
    """What the runner or a user remembers of a deleted row must never apply to another."""
    from floe.db.base import utcnow
    from floe.db.models import CustomEnvironment, Schedule, ServingToken, Task

    sessions = make_sessionmaker(fresh_db_url)
    with sessions() as db:
        project = project_for(db, Caller("alice"), "cats")
        served = add_job(db, Job(**_fields()), project)
    rows = {
        Job: lambda n: Job(project_id=project.id, number=100 + n, **_fields()),
        Task: lambda n: Task(project_id=project.id, number=n, owner="alice"),
        Schedule: lambda n: Schedule(
            owner="alice", project_id=project.id, cron="0 * * * *", template={}, next_run=utcnow()
        ),
        CustomEnvironment: lambda n: CustomEnvironment(
            owner="alice", name="nlp", number=n, base="python", requirements="six"
        ),
        ServingToken: lambda n: ServingToken(
            job_id=served.id, digest=f"{n:064}", prefix="floe_s", created_by="alice"
        ),
    }
    for table, make in rows.items():
        with sessions() as db:
            newest = make(1)
            db.add(newest)
            db.commit()
            db.delete(newest)
            db.commit()
            again = make(2)
            db.add(again)
            db.commit()
            assert again.id > newest.id, table.__tablename__


def test_numbers_are_never_given_twice_even_after_the_newest_is_deleted(fresh_db_url):
    from sqlalchemy import delete

    from containers.catalog import Catalog
    from dataset_mounter.datasets import commit_version
    from dataset_mounter.settings import DatasetSettings
    from environments.custom import create_environment
    from floe.db.models import ENV_READY, CustomEnvironment, JobEvent, Task, Version
    from floe.trees.tree import Tree
    from jobs.limits import JobLimits
    from jobs.submit import JobContext, JobRequest
    from jobs.tasks import submit_task

    sessions = make_sessionmaker(fresh_db_url)
    alice = Caller("alice")
    catalog = Catalog()
    ctx = JobContext(catalog, DatasetSettings(), gpu_total=0, limits=JobLimits())
    task_request = JobRequest(project="cats", kind="command", command="true")
    with sessions() as db:
        project = project_for(db, alice, "cats")
        dataset = Dataset(owner="alice", name="mnist")
        db.add(dataset)
        db.commit()

        def newest_job() -> Job:
            return add_job(db, Job(**_fields()), project)

        def newest_task() -> Task:
            return submit_task(db, alice, task_request, ctx, sweep={"a": [1]})

        def newest_version() -> Version:
            return commit_version(db, alice, dataset, Tree.from_entries([]))

        def newest_environment() -> CustomEnvironment:
            row = create_environment(db, alice, catalog, "nlp", "python", "six")
            row.state = ENV_READY  # built: the next may be made
            db.commit()
            return row

        for make in (newest_job, newest_task, newest_version, newest_environment):
            first = make()
            if isinstance(first, Task):
                for job in db.scalars(select(Job).where(Job.task_id == first.id)):
                    db.execute(delete(JobEvent).where(JobEvent.job_id == job.id))
                    db.delete(job)
            if isinstance(first, Job):
                db.execute(delete(JobEvent).where(JobEvent.job_id == first.id))
            db.delete(first)
            db.commit()
            assert make().number == first.number + 1, make.__name__


def _a_0012_database_with_rows(url: str):
    """A database of the Floe before ids were kept unique: jobs 1 and 2 with their history,
    a token and a task, two versions of an environment, and a schedule that last ran job 7
    (deleted since, with jobs 3 to 6)."""
    engine = make_engine(url)
    job = (
        "INSERT INTO jobs (owner, project_id, number, kind, machine, environment, image, "
        "image_digest, command, notebook, datasets, parameters, message, state, reason, created, "
        "container_id, gpu_ids, stop_requested_by, metrics_offset, metric_lines, mode, step) "
        "VALUES ('alice', 1, :n, 'command', 'cpu', 'py', 'img', '', 'true', '', '[]', '{}', "
        "'', 'complete', '', '2026-01-01', '', '[]', '', 0, 0, 'run', '')"
    )
    environment = (
        "INSERT INTO environments (owner, name, number, base, requirements, description, public, "
        "state, reason, image, image_id, created) VALUES ('alice', 'nlp', :n, 'python', 'six', "
        "'', false, 'ready', '', '', '', '2026-01-01')"
    )
    with engine.begin() as conn:
        command.upgrade(alembic_config(conn), "0012")
        conn.execute(
            text("INSERT INTO projects (owner, name, created) VALUES ('alice', 'p', '2026-01-01')")
        )
        for number in range(1, 8):
            conn.execute(text(job), {"n": number})
            conn.execute(
                text(
                    "INSERT INTO job_events (job_id, state, reason, time) "
                    "SELECT id, 'complete', '', '2026-01-01' FROM jobs WHERE number = :n"
                ),
                {"n": number},
            )
        conn.execute(text("DELETE FROM job_events WHERE job_id > 2"))
        conn.execute(text("DELETE FROM jobs WHERE id > 2"))
        conn.execute(
            text(
                "INSERT INTO serving_tokens (job_id, name, digest, prefix, created_by, created) "
                "VALUES (2, '', 'd', 'floe_s', 'alice', '2026-01-01')"
            )
        )
        conn.execute(
            text(
                "INSERT INTO tasks (project_id, number, owner, sweep, goals, message, created, "
                "stop_requested_by) VALUES (1, 1, 'alice', '{}', '{}', '', '2026-01-01', '')"
            )
        )
        for number in (1, 2):
            conn.execute(text(environment), {"n": number})
        conn.execute(
            text(
                "INSERT INTO schedules (owner, project_id, cron, timezone, template, data, paused, "
                "next_run, runs, last_error, created, last_job_id) VALUES ('alice', 1, "
                "'0 * * * *', 'UTC', '{}', '[]', false, '2026-01-01', 3, '', '2026-01-01', 7)"
            )
        )
    return engine


def test_upgrading_keeps_every_row_and_ids_and_numbers_go_on_past_the_highest(fresh_db_url):
    from sqlalchemy import delete

    from containers.catalog import Catalog
    from environments.custom import create_environment
    from floe.db.models import CustomEnvironment, JobEvent, ServingToken

    engine = _a_0012_database_with_rows(fresh_db_url)
    before = inspect(engine)
    indexes = {t: before.get_indexes(t) for t in ("jobs", "serving_tokens", "environments")}
    keys = {t: before.get_foreign_keys(t) for t in ("jobs", "serving_tokens", "job_events")}
    upgrade_database(engine)
    assert _revision(engine) == HEAD
    after = inspect(engine)
    for table, kept in indexes.items():
        assert sorted(i["name"] for i in after.get_indexes(table)) == sorted(
            i["name"] for i in kept
        )
    for table, kept in keys.items():
        assert [k["referred_table"] for k in after.get_foreign_keys(table)] == [
            k["referred_table"] for k in kept
        ]
    alice = Caller("alice")
    with make_sessionmaker(fresh_db_url)() as db:
        assert [(j.id, len(j.events)) for j in db.scalars(select(Job).order_by(Job.id))] == [
            (1, 1),
            (2, 1),
        ]
        old_token = db.scalars(select(ServingToken)).one()
        for table in (JobEvent, ServingToken):
            db.execute(delete(table).where(table.job_id == 2))
        db.execute(delete(Job).where(Job.id == 2))
        db.execute(delete(CustomEnvironment).where(CustomEnvironment.number == 2))
        db.commit()
        job = add_job(db, Job(**_fields()), project_for(db, alice, "p"))
        # Past job 2, and past job 7 too, which the schedule still names.
        assert (job.id, job.number) == (8, 3)
        token = ServingToken(job_id=job.id, digest="e", prefix="floe_s", created_by="alice")
        db.add(token)
        db.commit()
        assert token.id > old_token.id
        again = create_environment(db, alice, Catalog(), "nlp", "python", "six")
        assert again.number == 3
