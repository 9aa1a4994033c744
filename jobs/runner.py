"""The runner: starts queued jobs as containers, watches them, and keeps what they leave.

Jobs are containers built by the same container-spec builder as workspaces
(``containers.spec``) and run by a backend (``jobs.backend``: this node's Docker
engine by default). Each job has a folder on this node holding its log (written by the
container as it prints) and its ``/output`` until the output is kept as a tree. The database
says what should be; on start, :meth:`JobRunner.start` reconciles it with the containers the
backend finds, so restarting the service loses no job, no log line and no output.

The service (``floe_service.app``) owns the rest: schedules, environment builds, serving; it
hands the runner the limits jobs run under and the builder that makes a job's image.
"""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker
from traitlets import Float, Integer, Type, Unicode
from traitlets.config import LoggingConfigurable

from containers.catalog import Catalog
from containers.gpu import GpuSettings
from dataset_mounter.mounts import (
    MountPlan,
    materialize_mounts,
    materialize_tree,
    unlaid_mounts,
)
from dataset_mounter.settings import DatasetSettings
from environments.build_container import BuildStopped
from environments.builder import EnvironmentBuilder
from environments.custom import trusted_finder
from environments.images import environment_chain
from floe.core.errors import GpuUnavailable
from floe.core.job_states import JobState
from floe.core.sizes import format_size
from floe.db.models import Job, Task
from floe.db.team_settings import storage_quota

from .backend import ContainerGone, ContainerInfo, DockerBackend, MachineInfo, RunnerBackend
from .job_container import job_container_spec
from .job_folder import JobFolder
from .job_image import job_image
from .leftovers import keep_leftovers
from .limits import JobLimits
from .outcomes import ending, start_failure
from .queue import Running, Waiting, start_fairly
from .records import set_state
from .remote import await_return, wait_started
from .submit import JobContext
from .team_shares import team_shares
from .watch import Watched


class JobRunner(LoggingConfigurable):
    """Runs jobs on this node's Docker engine."""

    instance = Unicode(
        "floe",
        config=True,
        help="This Floe's name: job containers are called <instance>-job-<id> and labelled "
        "floe.instance=<instance>, so several Floes can share one Docker engine.",
    )
    jobs_dir = Unicode(
        "", config=True, help="Folder of this node holding each job's log and /output."
    )
    network = Unicode(
        "", config=True, help="Docker network for job containers (empty: Docker's default)."
    )
    stop_timeout = Integer(
        10, config=True, help="Seconds a stopped job gets to exit before it is killed."
    )
    metrics_interval = Float(
        0.25, config=True, help="Seconds between reads of running jobs' logs for metric lines."
    )
    python_flush_seconds = Float(
        0.5,
        config=True,
        help="How often a job's Python programs flush stdout, so what they print reaches the "
        "log (and metric lines the charts) while stdout keeps Python's cheap block buffering "
        "(jobs/container/site/sitecustomize.py). 0 leaves Python's buffering alone: output "
        "then arrives in 8 KiB blocks, or at once with PYTHONUNBUFFERED=1 at a system call "
        "per line.",
    )
    builder_class = Type(
        EnvironmentBuilder,
        klass=EnvironmentBuilder,
        config=True,
        help="""What builds environments (an environment plus requirements, into an image):
        environments.builder.EnvironmentBuilder, on this node's Docker engine. The
        service makes it, for environments people make and for jobs' images.""",
    )
    backend_class = Type(
        DockerBackend,
        klass=RunnerBackend,
        config=True,
        help="""Where job containers run: jobs.backend.DockerBackend (this node's Docker
        engine, the default) or another jobs.backend.RunnerBackend.""",
    )

    def __init__(
        self,
        sessions: sessionmaker,
        datasets: DatasetSettings,
        catalog: Catalog,
        limits: JobLimits,
        builder: EnvironmentBuilder,
        serving_port: int,
        **kwargs: object,
    ) -> None:
        super().__init__(**kwargs)
        self.sessions = sessions
        self.datasets = datasets
        self.catalog = catalog
        self.limits = limits
        self.builder = builder  # a job's image is its environment's plus its requirements
        self.serving_port = serving_port  # where a serving job listens, in its container
        self.backend = self.backend_class(parent=self)
        self._addresses: dict[int, str] = {}  # serving jobs' host:port, once asked for
        self.gpus = GpuSettings(parent=self).allocator(scope=f"{self.instance}/")
        self._wake = threading.Condition()
        self._starting = threading.BoundedSemaphore(8)  # jobs' containers made at once
        self._pool = ThreadPoolExecutor(8, thread_name_prefix="floe-job-stop")
        self.watched = Watched(
            sessions,
            self.limits,
            self.folder,
            self.stop_soon,
            self.metrics_interval,
        )
        self._stopping = False
        self._stopped_for_limits: set[int] = set()
        self._stopping_lock = threading.Lock()

    def job_context(self) -> JobContext:
        """What submitting a job needs from the runner: its GPUs and the limits jobs run under."""
        gpus = self.gpus.total
        if self.backend.places_gpus:
            try:
                gpus = self.backend.gpu_total()
            except Exception as err:  # the manager not answering yet: no GPU jobs until then
                self.log.warning("jobs: could not count the GPUs where jobs run: %s", err)
                gpus = 0
        return JobContext(self.catalog, self.datasets, gpus, self.limits, self.builder)

    # --- places --------------------------------------------------------------------------

    def folder(self, job_id: int) -> JobFolder:
        return JobFolder(Path(self.jobs_dir) / str(job_id))

    def log_path(self, job_id: int) -> Path:
        return self.folder(job_id).log

    def container_name(self, job_id: int) -> str:
        return f"{self.instance}-job-{job_id}"

    def places(self) -> tuple[list[MachineInfo] | None, int, int]:
        """Where jobs run (None: this machine) and the GPUs there, total and free now; a
        swarm's manager that does not answer shows no machine and no GPU."""
        try:
            machines = self.backend.machines(self.catalog.machine_list())
        except Exception as err:
            self.log.warning("jobs: could not list the machines where jobs run: %s", err)
            return [], 0, 0
        if machines is None:
            return None, self.gpus.total, len(self.free_gpus())
        usable = [m for m in machines if m.state == "ready" and m.availability == "active"]
        return machines, sum(m.gpus for m in usable), sum(m.gpus_free for m in usable)

    def free_gpus(self) -> list[str]:
        """GPU ids free for a job now: held by no job, no workspace, no claim in flight."""
        if not self.gpus.total:
            return []
        return self.gpus.free_ids(self.backend.gpus_in_use())

    # --- life of the runner ----------------------------------------------------------------

    def start(self) -> None:
        """Reconcile with Docker, then start scheduling and watching."""
        Path(self.jobs_dir).mkdir(parents=True, exist_ok=True)
        self.reconcile()
        threading.Thread(target=self._schedule_loop, name="floe-job-queue", daemon=True).start()
        threading.Thread(target=self.watched.loop, name="floe-job-watch", daemon=True).start()

    def close(self) -> None:
        self._stopping = self.watched.stopping = True
        self.wake()

    def wake(self) -> None:
        with self._wake:
            self._wake.notify_all()

    def reconcile(self) -> None:
        """Pick up where the last run of the service left off."""
        with self.sessions() as db:
            for job in db.scalars(
                select(Job).where(
                    Job.state.in_([JobState.CREATED, JobState.STARTING, JobState.RUNNING])
                )
            ):
                if job.state == JobState.CREATED:
                    set_state(db, job, JobState.QUEUED)
                    continue
                info = self._inspect(job.id)
                if info is None:
                    if job.state == JobState.STARTING:
                        set_state(
                            db, job, JobState.QUEUED, "the service restarted while starting it"
                        )
                    else:
                        self._release(job)
                        set_state(db, job, JobState.ERROR, "its container disappeared")
                    continue
                if job.gpu_ids:
                    self.gpus.restore(f"job:{job.id}", list(job.gpu_ids))
                if job.state == JobState.STARTING:
                    job.container_id = info.id
                    if not self.backend.starts_pending:
                        set_state(db, job, JobState.RUNNING, "found running after a restart")
                self.log.info("job %s: following its container again", job.full_name)
                self._watch(job.id, info.id)

    def _inspect(self, job_id: int) -> ContainerInfo | None:
        return self.backend.find(self.container_name(job_id))

    # --- the queue ---------------------------------------------------------------------------

    def _schedule_loop(self) -> None:
        while not self._stopping:
            try:
                self._start_what_fits()
            except Exception:
                self.log.exception("job queue")
            with self._wake:
                self._wake.wait(timeout=2)

    def _start_what_fits(self) -> None:
        with self.sessions() as db:
            active = db.execute(
                select(Job.owner, Job.machine, Job.task_id, Job.submitted_by).where(
                    Job.state.in_([JobState.STARTING, JobState.RUNNING])
                )
            ).all()
            queued = {j.id: j for j in db.scalars(select(Job).where(Job.state == JobState.QUEUED))}
            tasks = {j.task_id for j in queued.values() if j.task_id is not None}
            parallel = dict(
                db.execute(select(Task.id, Task.parallel).where(Task.id.in_(tasks))).all()
            )
            waiting = [
                Waiting(
                    j.id,
                    j.owner,
                    j.machine,
                    j.task_id,
                    parallel.get(j.task_id),
                    j.submitted_by or "",
                    self._gpus_of(j.machine),
                )
                for j in queued.values()
            ]

            def start(candidate: Waiting) -> bool:
                job = queued[candidate.id]
                machine = self.catalog.machine_by_slug(job.machine)
                if machine is not None and machine.gpus and self.backend.places_gpus:
                    job.gpu_ids = [f"any-{i}" for i in range(machine.gpus)]  # Swarm's pick
                elif machine is not None and machine.gpus:
                    busy = self.backend.gpus_in_use(self.container_name(job.id))
                    try:
                        job.gpu_ids = self.gpus.claim(f"job:{job.id}", machine.gpus, busy)
                    except GpuUnavailable as err:
                        self._say_why(db, job, f"waiting for a GPU: {err.message}")
                        return False
                if not set_state(db, job, JobState.STARTING, only_from=(JobState.QUEUED,)):
                    self._release(job)  # stopped a moment ago
                    return False
                threading.Thread(
                    target=self._run, args=(job.id,), name=f"floe-job-{job.id}", daemon=True
                ).start()
                return True

            running = [
                Running(owner, machine, task, user or "", self._gpus_of(machine))
                for owner, machine, task, user in active
            ]
            shares = team_shares(db, self.limits.shares, self._capacity)
            waits = start_fairly(waiting, running, shares, start)
            for job_id, why in waits.items():
                self._say_why(db, queued[job_id], f"waiting: {why}")

    def _gpus_of(self, slug: str) -> int:
        machine = self.catalog.machine_by_slug(slug)
        return machine.gpus if machine is not None else 0

    def _capacity(self, slug: str) -> int:
        """Jobs of machine type ``slug`` this node runs at once, at most: what its GPUs allow
        for a GPU type (where this node places them), else the node's whole room."""
        gpus = self._gpus_of(slug)
        if gpus and not self.backend.places_gpus and self.gpus.total:
            return min(self.limits.max_running, self.gpus.total // gpus)
        return self.limits.max_running

    @staticmethod
    def _say_why(db: Session, job: Job, reason: str) -> None:
        """A queued job's reason for waiting, noted once (not on every turn of the queue)."""
        if job.reason != reason:  # unless it was stopped a moment ago
            set_state(db, job, JobState.QUEUED, reason, only_from=(JobState.QUEUED,))

    # --- one job ---------------------------------------------------------------------------

    def _run(self, job_id: int) -> None:
        """A STARTING job's life, on a thread of its own, as jupyter-scheduler's executor's:
        its container made (before_start) and started, or its failure to start its end
        (on_failure); then followed to its container's exit, and ended (on_complete)."""
        with self._starting, self.sessions() as db:
            job = db.get(Job, job_id)
            try:
                container_id = self._create_container(db, job)
                db.refresh(job)
                if job.stop_requested_by:  # stopped while its container was being made
                    self._not_started(
                        db, job, JobState.STOPPED, f"stopped by {job.stop_requested_by}"
                    )
                    return
                self.backend.start(container_id)
            except Exception as err:  # any failure to start is the job's error, said plainly
                self.log.warning("job %s did not start: %s", job.full_name, err)
                if isinstance(err, BuildStopped):  # stopped while its environment was built
                    db.refresh(job)
                    self._not_started(
                        db, job, JobState.STOPPED, f"stopped by {job.stop_requested_by}"
                    )
                else:
                    self._not_started(db, job, JobState.ERROR, start_failure(err, job.machine))
                return
            if not self.backend.starts_pending:  # else once it runs (_follow)
                set_state(db, job, JobState.RUNNING)
        self.watched.add(job_id)
        self._follow(job_id, container_id)

    def _not_started(self, db: Session, job: Job, state: str, reason: str) -> None:
        """A job that ends before its container runs: the container removed, its GPUs freed."""
        self._remove_container(job.id)
        self._release(job)
        set_state(db, job, state, reason)
        self.wake()

    def _create_container(self, db: Session, job: Job) -> str:
        find = trusted_finder(db, self.catalog)
        environment = find(job.environment)
        machine = self.catalog.machine_by_slug(job.machine)
        if environment is None or machine is None:
            raise RuntimeError(
                f"environment {job.environment!r} or machine {job.machine!r} is no longer offered"
            )
        chain = environment_chain(environment, find)
        store, cache = self.datasets.store, self.datasets.cache_path
        code = materialize_tree(db, job.code_tree, store, cache)
        plans = [MountPlan(**d) for d in job.datasets]
        if self.backend.lays_out_trees:  # by the node that runs the job, from the store
            inputs = unlaid_mounts(plans)
        else:
            inputs = materialize_mounts(db, plans, store, cache)
        folder = self.folder(job.id)
        folder.prepare()
        made = job_image(db, job, chain, code, folder, self.builder, self._image_id)
        spec = job_container_spec(
            job,
            replace(environment, image=made.image),
            machine,
            name=self.container_name(job.id),
            instance=self.instance,
            code=code,
            code_tree=job.code_tree,
            inputs=inputs,
            folder=folder,
            sources=[p.source for p in plans],
            network=self.network,
            flush_seconds=self.python_flush_seconds,
            port=self.serving_port,
        )
        self._remove_container(job.id)  # a leftover of an interrupted start
        job.container_id = self.backend.create(spec)
        job.image_digest = self.backend.image_digest(made.image)
        job.image = made.steps[-1]["image"]  # a tag, also when a re-run runs in an image id
        if not made.steps[-1]["id"]:
            made.steps[-1]["id"] = job.image_digest
        job.provenance = made.steps
        db.commit()
        return job.container_id

    def _image_id(self, image: str) -> str | None:
        try:
            return self.backend.image_digest(image)
        except Exception:  # not on this node (or the engine cannot say): built again
            return None

    def _watch(self, job_id: int, container_id: str) -> None:
        """Follow a job found running after a restart, on a thread of its own."""
        self.watched.add(job_id)
        threading.Thread(
            target=self._follow,
            args=(job_id, container_id),
            name=f"floe-job-{job_id}",
            daemon=True,
        ).start()

    def _follow(self, job_id: int, container_id: str) -> None:
        """A started job, to its container's exit and its end."""
        if self.backend.starts_pending:
            wait_started(self.backend, self.sessions, job_id, container_id)
        self._wait_for_exit(job_id, container_id)
        try:
            self._end(job_id)
        except Exception:
            self.log.exception("job %s: finishing", job_id)
        finally:
            self.watched.discard(job_id)
            with self._stopping_lock:  # so nothing of this job applies to a later one
                self._stopped_for_limits.discard(job_id)
            self.wake()

    def _wait_for_exit(self, job_id: int, container_id: str) -> None:
        while True:
            try:
                self.backend.wait(container_id)
                return
            except ContainerGone:
                return
            except Exception as err:  # the engine went away for a moment: ask again
                self.log.warning("job %s: waiting for its container: %s", job_id, err)
                threading.Event().wait(2)

    def _end(self, job_id: int) -> None:
        """Record how the job ended, keep what it left within its limits, remove its container."""
        self._addresses.pop(job_id, None)  # it answers no more
        info = self._inspect(job_id)
        container_state = info.state if info else {}
        folder = self.folder(job_id)
        if self.backend.folder_returns:
            await_return(self.backend, job_id, folder, container_state)
        self.watched.read_metrics(job_id, chunks=None)  # to the end of the log
        with self.sessions() as db:
            job = db.get(Job, job_id)
            machine = self.catalog.machine_by_slug(job.machine)
            limit = format_size(machine.memory_bytes) if machine else "its limit"
            state, reason = ending(
                container_state, job.stop_requested_by, folder.result_note, limit
            )
            quota = storage_quota(db, job.owner, self.datasets.user_quota_bytes)
            not_kept, drop = keep_leftovers(
                db, self.datasets.store, job, folder, self.limits, quota
            )
            if not_kept:
                state, reason = JobState.ERROR, f"{reason + '; ' if reason else ''}{not_kept}"
            job.exit_code = container_state.get("ExitCode")
            self._release(job)
            set_state(db, job, state, reason)
        self._remove_container(job_id)
        if drop:  # only once the job's end is recorded: a restart finishes it again
            folder.drop_output()

    def known_address(self, job_id: int) -> str | None:
        """``host:port`` of a serving job, if already known (never blocks)."""
        return self._addresses.get(job_id)

    def serving_address(self, job_id: int) -> str | None:
        """``host:port`` of a running serving job (blocks on the backend the first time)."""
        address = self._addresses.get(job_id)
        if address is None:
            address = self.backend.address(self.container_name(job_id), self.serving_port)
            if address is not None:
                self._addresses[job_id] = address
        return address

    def _release(self, job: Job) -> None:
        self.gpus.release(f"job:{job.id}")

    def _remove_container(self, job_id: int) -> None:
        self.backend.remove(self.container_name(job_id))

    # --- stopping ----------------------------------------------------------------------------

    def stop_soon(self, job_id: int, why: str) -> None:
        """Stop a job past its limits, on one of the runner's threads (once per job, and
        only while it is watched: what a look just before its end found is not remembered)."""
        with self._stopping_lock:
            if job_id in self._stopped_for_limits or not self.watched.follows(job_id):
                return
            self._stopped_for_limits.add(job_id)

        def stop() -> None:
            try:
                self.stop(job_id, why)
            except Exception:  # asked again at the next look (the manager away, say)
                self.log.exception("job %s: stopping it for %s", job_id, why)
                with self._stopping_lock:
                    self._stopped_for_limits.discard(job_id)

        self._pool.submit(stop)

    def stop(self, job_id: int, by: str) -> None:
        """Stop a job for user ``by``; a queued job stops at once, a running one in seconds."""
        with self.sessions() as db:
            job = db.get(Job, job_id)
            waiting = (JobState.CREATED, JobState.QUEUED)
            reason = f"stopped by {by} before it started"
            if job.state in waiting and set_state(
                db, job, JobState.STOPPED, reason, only_from=waiting
            ):
                self._release(job)
                return
            # Starting or running (perhaps since a moment ago): its container is stopped.
            job.stop_requested_by = by
            db.commit()
        self.backend.stop(self.container_name(job_id), timeout=self.stop_timeout)
