"""REST API for jobs: submit, list, read, stop, re-run; logs (followed live), metrics, output."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict

from sqlalchemy import select
from sqlalchemy.orm import sessionmaker
from tornado.iostream import StreamClosedError

from dataset_mounter.keep import load_tree
from environments.custom import usable_environments
from floe.core.access import can_write, check_may_stop
from floe.core.errors import NotFound, NotReady, TooManyRequests
from floe.core.job_states import FINISHED
from floe.core.refs import ProjectRef
from floe.db.models import SERVE, Job, Metric
from floe.trees.tree import Tree
from jobs import records
from jobs.deletion import delete_job
from jobs.logs import read_from
from jobs.runner import JobRunner
from jobs.serving import serve_path
from jobs.submit import JobContext, rerun_job, submit_job

from . import schemas
from .files import inert, send_tree_file, stream_blob
from .handlers import APIHandler
from .operations import Route, operation
from .workers import off_loop

FOLLOW_INTERVAL_S = 0.2
MAX_FOLLOWS = 16  # logs one user may follow at once


class JobAPIHandler(APIHandler):
    @property
    def runner(self) -> JobRunner:
        return self.settings["runner"]

    def job_context(self) -> JobContext:
        return self.settings["job_context"]

    def job(self, ref: str) -> Job:
        return records.get_job(self.db(), self.caller, ref)

    def job_json(self, job: Job, *, events: bool = False) -> dict:
        """A job as the API tells it: a serving job with its URL and request figures."""
        body = records.job_json(job, events=events)
        if job.mode == SERVE:
            body["serve_url"] = serve_path(self.prefix, job)
            body["serving"] = self.settings["serving"].figures.of(job.id, job.serving)
        return body

    def send_job(self, job: Job, status: int = 200) -> None:
        body = self.job_json(job, events=True)
        body["url"] = f"{self.prefix}jobs/{job.id}"
        self.send(body, status, shape=schemas.Job)


class JobsHandler(JobAPIHandler):
    @operation(
        "Your jobs, newest first",
        query=schemas.JobsQuery,
        response=list[schemas.JobSummary],
        errors=(400,),
    )
    def get(self) -> None:
        query = self.query(schemas.JobsQuery)
        found = records.list_jobs(
            self.db(),
            self.caller,
            project=query.project,
            state=query.state,
            limit=query.limit,
            offset=query.offset,
        )
        self.send([self.job_json(j) for j in found], shape=list[schemas.JobSummary])

    @operation(
        "Submit a job; 409 with 'missing' lists code blobs to send first",
        ok=201,
        body=schemas.NewJob,
        response=schemas.Job,
        errors=(400, 404, 409, 413, 429, 503),
    )
    async def post(self) -> None:
        request = (await self.body(schemas.NewJob)).job_request()
        caller = await self.caller_in(ProjectRef.parse(request.project).owner)
        async with self.queueing():
            job = await self.off_loop(submit_job, self.db(), caller, request, self.job_context())
        self.runner.wake()
        self.send_job(job, 201)


class JobHandler(JobAPIHandler):
    @operation("A job (id or owner/project/N) with its state history", response=schemas.Job)
    def get(self, ref: str) -> None:
        self.send_job(self.job(ref))

    @operation(
        "Delete a finished job: its log, metrics, code and output where nothing else uses "
        "them; refused (409) while it runs or while a job or schedule mounts its output",
        response=schemas.Deleted,
        errors=(400, 404, 409),
    )
    async def delete(self, ref: str) -> None:
        job = self.job(ref)
        job_id, name, folder = job.id, job.full_name, self.runner.folder(job.id).path
        freed = await self.off_loop(
            delete_job, self.db(), self.datasets.store, self.caller, job, folder
        )
        self.settings["serving"].forget_job(job_id)
        self.send({"deleted": name, "freed_bytes": freed}, shape=schemas.Deleted)


class StopHandler(JobAPIHandler):
    @operation(
        "Stop a job (200: it had already ended)", ok=202, ok_too=(200,), response=schemas.Job
    )
    async def post(self, ref: str) -> None:
        job = self.job(ref)
        check_may_stop(self.caller, job)
        if job.finished_state:
            self.send_job(job)  # stopping a finished job changes nothing
            return
        await off_loop(self.runner.stop, job.id, self.caller.name)
        self.db().refresh(job)
        self.send_job(job, 202)


class RerunHandler(JobAPIHandler):
    @operation(
        "Run again with the same code and inputs, changes applied",
        ok=201,
        body=schemas.Rerun,
        response=schemas.Job,
        errors=(400, 404, 409, 413, 429, 503),
    )
    async def post(self, ref: str) -> None:
        changes = (await self.body(schemas.Rerun)).model_dump(exclude_none=True)
        old = self.job(ref)
        async with self.queueing():
            job = await self.off_loop(
                rerun_job, self.db(), self.caller, old, changes, self.job_context()
            )
        self.runner.wake()
        self.send_job(job, 201)


class LogsHandler(JobAPIHandler):
    """The job's log as plain text; ``follow=1`` keeps the answer open until the job ends.

    A finished job's log comes from the blob store when this node no longer has its file.
    """

    @operation(
        "The log as text; ?follow=1 streams it until the job ends",
        query=schemas.LogsQuery,
        content="text/plain",
        errors=(400, 404, 429),
    )
    async def get(self, ref: str) -> None:
        query = self.query(schemas.LogsQuery)
        job = self.job(ref)
        job_id, log_blob, offset = job.id, job.log_blob, query.offset
        self.release_db()  # a followed log may take hours: no connection held meanwhile
        path = self.runner.log_path(job_id)
        self.set_header("Content-Type", "text/plain; charset=utf-8")
        self.set_header("X-Accel-Buffering", "no")
        inert(self)  # what the job printed is the user's
        if log_blob and not path.exists():
            await stream_blob(self, self.datasets.store, log_blob, offset)
            return
        with self.following():
            try:
                while not self._gone:
                    finished = not query.follow or await off_loop(self._job_finished, job_id)
                    while data := await off_loop(read_from, path, offset):
                        offset += len(data)
                        self.write(data)
                        await self.flush()
                    if finished:
                        break
                    await asyncio.sleep(FOLLOW_INTERVAL_S)
            except StreamClosedError:
                return  # the reader went away

    @contextmanager
    def following(self) -> Iterator[None]:
        """Count this reader among the caller's; refuse (429) one past MAX_FOLLOWS."""
        counts = self.settings["follows"]
        name = self.caller.name
        if counts[name] >= MAX_FOLLOWS:
            raise TooManyRequests(
                f"you follow {MAX_FOLLOWS} logs at once already; close one and try again"
            )
        counts[name] += 1
        try:
            yield
        finally:
            counts[name] -= 1

    _gone = False

    def on_connection_close(self) -> None:
        self._gone = True  # the reader went away while nothing new was written

    def _job_finished(self, job_id: int) -> bool:
        with self.sessions() as db:
            return db.get(Job, job_id).state in FINISHED


class MetricsHandler(JobAPIHandler):
    @operation(
        "Metric lines with their times, and the last values",
        query=schemas.MetricsQuery,
        response=schemas.Metrics,
    )
    async def get(self, ref: str) -> None:
        points = self.query(schemas.MetricsQuery).points
        job = self.job(ref)
        answer = await self.off_loop(metric_lines, self.sessions, job.id, points)
        self.send({"job": job.full_name, **answer}, shape=schemas.Metrics)


def metric_lines(sessions: sessionmaker, job_id: int, points: int) -> dict:
    """At most ``points`` of a job's metric lines, evenly spread (the last one in), and the
    last value of each key; only the rows given are read."""
    with sessions() as db:
        ids = db.scalars(select(Metric.id).where(Metric.job_id == job_id).order_by(Metric.id))
        ids = list(ids)
        chosen = range(len(ids))
        if len(ids) > points:
            step = (len(ids) - 1) / (points - 1)
            chosen = sorted({round(i * step) for i in range(points)})
        picked = {ids[i]: i + 1 for i in chosen}
        rows = []
        for start in range(0, len(picked), 500):
            batch = list(picked)[start : start + 500]
            rows += db.execute(
                select(Metric.id, Metric.time, Metric.values).where(Metric.id.in_(batch))
            ).all()
        job = db.get(Job, job_id)
        lines = [
            {"index": picked[row_id], "time": time, "values": values}
            for row_id, time, values in sorted(rows)
        ]
        return {"metrics": lines, "count": len(ids), "last": dict(job.metrics_last or {})}


def _output_tree(handler: JobAPIHandler, ref: str) -> tuple[Job, str, Tree]:
    job = handler.job(ref)
    if job.output_tree is None:
        raise NotReady(f"{job.full_name} has no output yet: it is {job.state}")
    return job, job.output_tree, load_tree(handler.db(), job.output_tree)


def _code_tree(handler: JobAPIHandler, ref: str) -> tuple[Job, str, Tree]:
    job = handler.job(ref)
    if job.code_tree is None:
        raise NotFound(f"{job.full_name} kept no code")
    return job, job.code_tree, load_tree(handler.db(), job.code_tree)


class TreeHandler(JobAPIHandler):
    """One of a job's trees (its output, its code) as a manifest, or one file's bytes."""

    part = "output"
    find = staticmethod(_output_tree)

    def send_manifest(self, ref: str) -> None:
        job, digest, tree = self.find(self, ref)
        answer = {
            "job": job.full_name,
            "name": f"{job.full_name}/{self.part}",
            "tree": digest,
            "size": tree.size,
            "file_count": tree.file_count,
            "files": tree.to_manifest(),
        }
        self.send(answer, shape=schemas.Output)

    async def send_file(self, ref: str, path: str) -> None:
        download = self.query(schemas.FileQuery).download
        job, _digest, tree = self.find(self, ref)
        where = f"{job.full_name}/{self.part}"
        self.release_db()
        await send_tree_file(self, self.datasets.store, tree, path, where, download)


class OutputHandler(TreeHandler):
    @operation("The output tree", response=schemas.Output, errors=(400, 404, 409))
    def get(self, ref: str) -> None:
        self.send_manifest(ref)


FILE_ANSWER = {
    "query": schemas.FileQuery,
    "content": "application/octet-stream",
    "errors": (400, 404, 409),
}


class OutputFileHandler(TreeHandler):
    @operation("One output file's bytes", **FILE_ANSWER)
    async def get(self, ref: str, path: str) -> None:
        await self.send_file(ref, path)


class CodeHandler(TreeHandler):
    part, find = "code", staticmethod(_code_tree)

    @operation("The code the job ran (floe clone)", response=schemas.Output)
    def get(self, ref: str) -> None:
        self.send_manifest(ref)


class CodeFileHandler(TreeHandler):
    part, find = "code", staticmethod(_code_tree)

    @operation("One code file's bytes", **FILE_ANSWER)
    async def get(self, ref: str, path: str) -> None:
        await self.send_file(ref, path)


class ProjectsHandler(JobAPIHandler):
    @operation(
        "Your projects, your teams' and those shared with you",
        response=list[schemas.Project],
        errors=(),
    )
    def get(self) -> None:
        projects = records.visible_projects(self.db(), self.caller)
        found = [
            {
                "owner": p.owner,
                "name": p.name,
                "full_name": p.full_name,
                "writable": can_write(self.caller, p),
            }
            for p in projects
        ]
        self.send(found, shape=list[schemas.Project])


class CatalogHandler(JobAPIHandler):
    """What a user may pick for a workspace or a job: environments (the catalog's they may
    use, then the made ones they may use that are built) and machine types (a team's only to
    its members: to anyone else it does not exist)."""

    @operation(
        "Environments, machine types, free GPUs and (on a swarm) the machines jobs run on",
        response=schemas.Catalog,
        errors=(),
    )
    async def get(self) -> None:
        nodes, total, free = await off_loop(self.runner.places)
        catalog = self.settings["catalog"]
        environments = await self.off_loop(usable_environments, self.db(), catalog, self.caller)
        machines = catalog.machines_for(self.caller)
        offered = {m.slug for m in machines}
        answer = {
            "environments": [asdict(e) for e in environments],
            "machines": [{**asdict(m), "summary": m.summary} for m in machines],
            "gpus": {"total": total, "free": free},
            "nodes": None
            if nodes is None
            else [
                {**asdict(n), "machine_types": [t for t in n.machine_types if t in offered]}
                for n in nodes
            ],
        }
        self.send(answer, shape=schemas.Catalog)


ROUTES = [
    Route("/jobs", JobsHandler),
    Route("/jobs/{job}", JobHandler),
    Route("/jobs/{job}/stop", StopHandler),
    Route("/jobs/{job}/rerun", RerunHandler),
    Route("/jobs/{job}/logs", LogsHandler),
    Route("/jobs/{job}/metrics", MetricsHandler),
    Route("/jobs/{job}/output", OutputHandler),
    Route("/jobs/{job}/output/files/{path}", OutputFileHandler),
    Route("/jobs/{job}/code", CodeHandler),
    Route("/jobs/{job}/code/files/{path}", CodeFileHandler),
    Route("/projects", ProjectsHandler),
    Route("/catalog", CatalogHandler),
]
