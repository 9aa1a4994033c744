"""The task page: a sweep's jobs side by side (parameters, the last value of every metric),
sorted by any column, the best per metric marked, one metric charted across the jobs."""

from __future__ import annotations

import json

from tornado import web

from floe.core.errors import InvalidRequest
from floe.core.job_states import FINISHED
from jobs.tasks import get_task, stop_task, task_jobs, task_json

from .handlers import PageHandler
from .job_pages import STATE_ORDER
from .operations import PATH_PARAMS
from .workers import off_loop

PARAM, METRIC = "param:", "metric:"


def value_key(value: object) -> tuple:
    """Sort mixed values: numbers by size, then text, then anything else by its JSON."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        return (0, value, "")
    if isinstance(value, str):
        return (1, 0, value)
    return (2, 0, json.dumps(value, sort_keys=True))


def sort_rows(rows: list[dict], sort: str, descending: bool) -> list[dict]:
    """The task's jobs sorted by ``sort`` (number, state, param:NAME, metric:NAME); jobs
    without the value come last whichever the order."""
    if sort == "state":
        key = lambda r: (STATE_ORDER.get(r["state"], 99), r["number"])  # noqa: E731
        return sorted(rows, key=key, reverse=descending)
    if sort.startswith((PARAM, METRIC)):
        part, name = (
            ("parameters", sort.removeprefix(PARAM))
            if sort.startswith(PARAM)
            else (
                "metrics",
                sort.removeprefix(METRIC),
            )
        )
        have = [r for r in rows if name in r[part]]
        lacking = [r for r in rows if name not in r[part]]
        ordered = sorted(have, key=lambda r: value_key(r[part][name]), reverse=descending)
        return ordered + lacking
    return sorted(rows, key=lambda r: r["number"], reverse=descending)


class TaskPage(PageHandler):
    @web.authenticated
    def get(self, ref: str) -> None:
        db = self.db()
        task = get_task(db, self.caller, ref)
        body = task_json(task, task_jobs(db, task))
        swept = list(task.sweep)
        metrics = sorted({k for job in body["jobs"] for k in job["metrics"]})
        sort = self.get_argument("sort", f"{METRIC}{metrics[0]}" if metrics else "number")
        known = {"number", "state"} | {PARAM + p for p in swept} | {METRIC + m for m in metrics}
        if sort not in known:
            raise InvalidRequest(f"sort: one of {', '.join(sorted(known))}, not {sort!r}")
        best = body["best"]
        if "order" in self.request.arguments:
            descending = self.get_argument("order") == "desc"
        elif sort.startswith(METRIC):  # best first
            descending = best.get(sort.removeprefix(METRIC), {}).get("goal") == "max"
        else:
            descending = False
        rows = sort_rows(body["jobs"], sort, descending)
        finished = body["state"] in FINISHED
        chart = {
            "metrics": metrics,
            "jobs": [
                {
                    "label": f"#{r['number']} "
                    + " ".join(f"{p}={json.dumps(r['parameters'].get(p))}" for p in swept),
                    "values": [[k, v] for k, v in r["metrics"].items()],
                    "best": [m for m, b in best.items() if b["job_id"] == r["id"]],
                }
                for r in rows
            ],
            "finished": finished,
        }
        self.render_page(
            "task.html",
            task=task,
            body=body,
            rows=rows,
            swept=swept,
            metrics=metrics,
            best=best,
            sort=sort,
            descending=descending,
            chart=chart,
            finished=finished,
            xsrf=self.xsrf_token.decode(),
        )


class TaskStopPage(PageHandler):
    """The Stop button: every job of the task not yet finished, then the task's page."""

    @web.authenticated
    async def post(self, ref: str) -> None:
        db = self.db()
        task = get_task(db, self.caller, ref)
        await off_loop(stop_task, db, self.caller, task, self.settings["runner"].stop)
        self.redirect(f"{self.prefix}tasks/{task.id}")


def routes(prefix: str) -> list[tuple]:
    task = f"({PATH_PARAMS['task'].pattern})"
    return [
        (prefix + rf"tasks/{task}/?", TaskPage),
        (prefix + rf"tasks/{task}/stop", TaskStopPage),
    ]
