"""REST API for jobs: submit, list, read, stop, re-run; logs (followed live), metrics, output."""

from __future__ import annotations

import asyncio
from dataclasses import asdict

from tornado.ioloop import IOLoop
from tornado.iostream import StreamClosedError

from dataset_mounter.datasets import load_tree
from jobs import records
from jobs.db import FINISHED, Job, Metric
from jobs.logs import read_from
from jobs.outputs import OutputNotReady
from jobs.runner import JobRunner
from jobs.submit import JobContext, rerun_job, submit_job
from spawner.catalog import Catalog

from .handlers import APIHandler

JOB = r"(\d+|[^/]+/[^/]+/\d+|[^/]+/\d+)"  # id, owner/project/N or project/N
FOLLOW_INTERVAL_S = 0.2


class JobAPIHandler(APIHandler):
    @property
    def runner(self) -> JobRunner:
        return self.settings["runner"]

    @property
    def catalog(self) -> Catalog:
        return self.settings["catalog"]

    def job_context(self) -> JobContext:
        return self.settings["job_context"]

    def job(self, ref: str) -> Job:
        return records.get_job(self.db(), self.caller, ref)

    def send_job(self, job: Job, status: int = 200) -> None:
        body = records.job_json(job, events=True)
        body["url"] = f"{self.settings['service_prefix']}jobs/{job.id}"
        self.send(body, status)


class JobsHandler(JobAPIHandler):
    def get(self) -> None:
        limit = int(self.get_argument("limit", "100"))
        found = records.list_jobs(
            self.db(),
            self.caller,
            project=self.get_argument("project", None),
            state=self.get_argument("state", None),
            limit=max(1, min(limit, 1000)),
        )
        self.send([records.job_json(j) for j in found])

    def post(self) -> None:
        job = submit_job(self.db(), self.caller, self.json_body(), self.job_context())
        self.runner.wake()
        self.send_job(job, 201)


class JobHandler(JobAPIHandler):
    def get(self, ref: str) -> None:
        self.send_job(self.job(ref))


class StopHandler(JobAPIHandler):
    async def post(self, ref: str) -> None:
        job = self.job(ref)
        if job.finished_state:
            self.send_job(job)  # stopping a finished job changes nothing
            return
        await IOLoop.current().run_in_executor(None, self.runner.stop, job.id, self.caller.name)
        self.db().refresh(job)
        self.send_job(job, 202)


class RerunHandler(JobAPIHandler):
    def post(self, ref: str) -> None:
        old = self.job(ref)
        job = rerun_job(self.db(), self.caller, old, self.json_body(), self.job_context())
        self.runner.wake()
        self.send_job(job, 201)


class LogsHandler(JobAPIHandler):
    """The job's log as plain text; ``follow=1`` keeps the answer open until the job ends.

    A finished job's log comes from the blob store when this node no longer has its file.
    """

    async def get(self, ref: str) -> None:
        job = self.job(ref)
        follow = self.get_argument("follow", "0") in ("1", "true", "yes")
        offset = int(self.get_argument("offset", "0"))
        path = self.runner.log_path(job.id)
        self.set_header("Content-Type", "text/plain; charset=utf-8")
        self.set_header("X-Accel-Buffering", "no")
        if job.log_blob and not path.exists():
            await self.stream_blob(job.log_blob, offset)
            return
        loop = IOLoop.current()
        try:
            while True:
                finished = not follow or self._job_finished(job.id)
                while data := await loop.run_in_executor(None, read_from, path, offset):
                    offset += len(data)
                    self.write(data)
                    await self.flush()
                if finished:
                    break
                await asyncio.sleep(FOLLOW_INTERVAL_S)
        except StreamClosedError:
            return  # the reader went away

    def _job_finished(self, job_id: int) -> bool:
        with self.datasets.sessions() as db:
            return db.get(Job, job_id).state in FINISHED


class MetricsHandler(JobAPIHandler):
    def get(self, ref: str) -> None:
        job = self.job(ref)
        rows = self.db().query(Metric).filter(Metric.job_id == job.id).order_by(Metric.id)
        metrics = [{"time": m.time.isoformat(), "values": m.values} for m in rows]
        last: dict = {}
        for m in metrics:
            last.update(m["values"])
        self.send({"job": job.full_name, "metrics": metrics, "last": last})


def _output_tree(handler: JobAPIHandler, ref: str) -> tuple[Job, object]:
    job = handler.job(ref)
    if job.output_tree is None:
        raise OutputNotReady(f"{job.full_name} has no output yet: it is {job.state}")
    return job, load_tree(handler.db(), job.output_tree)


class OutputHandler(JobAPIHandler):
    def get(self, ref: str) -> None:
        job, tree = _output_tree(self, ref)
        self.send(
            {
                "job": job.full_name,
                "name": f"{job.full_name}/output",
                "tree": job.output_tree,
                "size": tree.size,
                "file_count": tree.file_count,
                "files": tree.to_manifest(),
            }
        )


class OutputFileHandler(JobAPIHandler):
    async def get(self, ref: str, path: str) -> None:
        job, tree = _output_tree(self, ref)
        await self.send_tree_file(tree, path, f"{job.full_name}/output")


class ProjectsHandler(JobAPIHandler):
    def get(self) -> None:
        projects = records.visible_projects(self.db(), self.caller)
        self.send([{"owner": p.owner, "name": p.name, "full_name": p.full_name} for p in projects])


class CatalogHandler(JobAPIHandler):
    """What a user may pick for a workspace or a job: environments and machine types."""

    async def get(self) -> None:
        free = await IOLoop.current().run_in_executor(None, self.runner.free_gpus)
        self.send(
            {
                "environments": [asdict(e) for e in self.catalog.environment_list()],
                "machines": [
                    {**asdict(m), "summary": m.summary} for m in self.catalog.machine_list()
                ],
                "gpus": {"total": self.runner.gpus.total, "free": len(free)},
            }
        )


def routes(prefix: str) -> list[tuple]:
    return [
        (prefix + r"jobs", JobsHandler),
        (prefix + rf"jobs/{JOB}", JobHandler),
        (prefix + rf"jobs/{JOB}/stop", StopHandler),
        (prefix + rf"jobs/{JOB}/rerun", RerunHandler),
        (prefix + rf"jobs/{JOB}/logs", LogsHandler),
        (prefix + rf"jobs/{JOB}/metrics", MetricsHandler),
        (prefix + rf"jobs/{JOB}/output", OutputHandler),
        (prefix + rf"jobs/{JOB}/output/files/(.+)", OutputFileHandler),
        (prefix + r"projects", ProjectsHandler),
        (prefix + r"catalog", CatalogHandler),
    ]
