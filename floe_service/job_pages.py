"""HTML pages for jobs: projects, a project's jobs (sortable), a job, its executed notebook."""

from __future__ import annotations

import functools

from sqlalchemy import func, select
from tornado import web

from dataset_mounter.keep import load_tree
from floe.core.access import sections
from floe.core.errors import NotFound, TooLarge
from floe.core.job_states import FINISHED, ORDER, JobState
from floe.core.sizes import format_size
from floe.db.models import SERVE, Job, Task
from jobs import records
from jobs.serving import serve_path, tokens_of
from jobs.submit import rerun_job
from jobs.tasks import task_jobs, task_json

from .files import SANDBOX, inert
from .handlers import PageHandler
from .operations import PATH_PARAMS
from .workers import off_loop

STATE_ORDER = {state: i for i, state in enumerate(ORDER)}
COLUMNS = [
    ("number", "#"),
    ("state", "State"),
    ("kind", "Kind"),
    ("what", "Notebook / command"),
    ("message", "Message"),
    ("created", "Submitted"),
]


class ProjectsPage(PageHandler):
    @web.authenticated
    def get(self) -> None:
        db = self.db()
        rows = []
        for project in records.visible_projects(db, self.caller):
            count = db.scalar(select(func.count(Job.id)).where(Job.project_id == project.id))
            latest = db.scalar(
                select(Job).where(Job.project_id == project.id).order_by(Job.id.desc()).limit(1)
            )
            rows.append((project, count, latest))
        grouped = sections(self.caller, rows, lambda row: row[0])
        self.render_page("projects.html", projects=rows, sections=grouped)


class ProjectPage(PageHandler):
    @web.authenticated
    def get(self, owner: str, name: str) -> None:
        db = self.db()
        project = records.get_project(db, self.caller, owner, name)
        jobs = list(db.scalars(select(Job).where(Job.project_id == project.id)))
        last = records.last_metrics(db, [j.id for j in jobs])
        metric_keys = sorted({k for values in last.values() for k in values})
        sort = self.get_argument("sort", "number")
        order = self.get_argument("order", "desc")
        rows = sorted(
            ((j, last[j.id]) for j in jobs),
            key=functools.partial(_sort_key, sort),
            reverse=order == "desc",
        )
        columns = COLUMNS + [(f"metric:{k}", k) for k in metric_keys]
        found = db.scalars(
            select(Task).where(Task.project_id == project.id).order_by(Task.id.desc()).limit(50)
        )
        tasks = [task_json(t, task_jobs(db, t), detail=False) for t in found]
        self.render_page(
            "project.html",
            project=project,
            shared_with=self.shared_with(project),
            share_hint=f"floe share {project.full_name} USER_OR_TEAM",
            tasks=tasks,
            rows=rows,
            columns=columns,
            metric_keys=metric_keys,
            sort=sort,
            order=order,
        )


def _sort_key(sort: str, row: tuple[Job, dict]) -> tuple:
    job, last = row
    if sort.startswith("metric:"):
        value = last.get(sort.removeprefix("metric:"))
        # Jobs without the metric sort after those with it, whichever the order.
        return (isinstance(value, int | float), value if isinstance(value, int | float) else 0)
    if sort == "state":
        return (STATE_ORDER.get(job.state, 99), job.number)
    if sort == "created":
        return (job.created, job.number)
    if sort in ("kind", "message"):
        return (getattr(job, sort), job.number)
    if sort == "what":
        return (job.notebook or job.command, job.number)
    return (job.number,)


class JobPage(PageHandler):
    @web.authenticated
    def get(self, ref: str) -> None:
        db = self.db()
        job = records.get_job(db, self.caller, ref)
        output = load_tree(db, job.output_tree) if job.output_tree else None
        has_notebook = bool(output and job.notebook and output.find(job.notebook))
        serving = None
        if job.mode == SERVE:
            serving = {
                "url": serve_path(self.prefix, job),
                "figures": self.settings["serving"].figures.of(job.id, job.serving),
                "tokens": len(tokens_of(db, job)),
                "answering": job.state == JobState.RUNNING,
            }
        self.render_page(
            "job.html",
            job=job,
            serving=serving,
            output=output,
            notebook_url=f"{self.prefix}jobs/{job.id}/notebook" if has_notebook else None,
            finished_states=sorted(FINISHED),
            xsrf=self.xsrf_token.decode(),
        )


class RerunPage(PageHandler):
    """The Re-run button: the same code and inputs, then the new job's page."""

    @web.authenticated
    async def post(self, ref: str) -> None:
        db = self.db()
        old = records.get_job(db, self.caller, ref)
        async with self.queueing():
            job = await off_loop(rerun_job, db, self.caller, old, {}, self.settings["job_context"])
        self.settings["runner"].wake()
        self.redirect(f"{self.prefix}jobs/{job.id}")


class NotebookPage(PageHandler):
    """The executed notebook as HTML, in a sandbox: its outputs may hold anyone's HTML."""

    @web.authenticated
    async def get(self, ref: str) -> None:
        db = self.db()
        job = records.get_job(db, self.caller, ref)
        entry = load_tree(db, job.output_tree).find(job.notebook) if job.output_tree else None
        if entry is None:
            raise NotFound(f"{job.full_name} kept no executed notebook")
        if entry.size > MAX_RENDERED_NOTEBOOK:
            raise TooLarge(
                f"{job.full_name}'s notebook is {format_size(entry.size)}, too large to show "
                f"here (at most {format_size(MAX_RENDERED_NOTEBOOK)}); download it instead"
            )
        self.release_db()
        html = await off_loop(_render_notebook, self.datasets.store, entry.sha256)
        # The notebook's outputs may hold anyone's HTML: a sandbox with no script and no origin.
        inert(self, f"{SANDBOX}; style-src 'unsafe-inline'; img-src data:")
        self.finish(html)


# Rendering costs seconds of CPU per MiB and the page several times the notebook's size.
MAX_RENDERED_NOTEBOOK = 8 * 1024 * 1024


@functools.lru_cache(maxsize=8)
def _render_notebook(store: object, sha256: str) -> str:
    import nbformat
    from nbconvert import HTMLExporter

    reader = store.open(sha256)
    try:
        notebook = nbformat.reads(reader.read().decode(), as_version=4)
    finally:
        reader.close()
    html, _resources = HTMLExporter(template_name="lab").from_notebook_node(notebook)
    return html


def routes(prefix: str) -> list[tuple]:
    job = f"({PATH_PARAMS['job'].pattern})"
    return [
        (prefix + r"projects/?", ProjectsPage),
        (prefix + r"projects/([^/]+)/([^/]+)/?", ProjectPage),
        (prefix + rf"jobs/{job}/?", JobPage),
        (prefix + rf"jobs/{job}/rerun", RerunPage),
        (prefix + rf"jobs/{job}/notebook", NotebookPage),
    ]
