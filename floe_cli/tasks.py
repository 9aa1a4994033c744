"""``floe task``: sweeps of a command or notebook over parameters (``floe run --param
lr=0.1,0.01 --param bs=32,64``), compared by their metrics; ``floe task status``, ``stop``."""

from __future__ import annotations

import argparse
import json
import time

from floe.client.api import FloeClient, task_path
from floe.core.job_states import FINISHED, JobState
from floe.core.refs import TaskRef, is_number
from floe.core.text import printable

from .markers import project_here
from .verbs import group, verb

WATCH_EVERY_S = 2.0


def task_ref(text: str) -> TaskRef:
    """``alice/cats/task/2``, ``cats/task/2``, or ``2`` (task 2 of this folder's project)."""
    project = project_here()
    if project and is_number(text):
        return TaskRef.parse(f"{project}/task/{text}")
    return TaskRef.parse(text)


def describe(client: FloeClient, task: dict) -> str:
    grid = " × ".join(f"{name} ({len(values)})" for name, values in task["sweep"].items())
    drawn = f", {task['random']} drawn at random" if task["random"] else ""
    at_once = f", at most {task['parallel']} at once" if task["parallel"] else ""
    head = f"{task['name']}  {task['state']}  {task['job_count']} jobs sweeping {grid}"
    return f"{head}{drawn}{at_once}  {client.url}{task['url']}"


def _cell(value: object) -> str:
    return "" if value is None else printable(json.dumps(value))


def table(task: dict) -> list[str]:
    """The task's jobs side by side: state, swept parameters, metrics (best marked *)."""
    swept = list(task["sweep"])
    metrics = sorted({k for job in task["jobs"] for k in job["metrics"]})
    best = {(name, b["job_id"]) for name, b in task["best"].items()}
    head = [
        "job",
        "state",
        *swept,
        *(f"{m}({task['best'][m]['goal']})" if m in task["best"] else m for m in metrics),
    ]
    rows = [head]
    for job in task["jobs"]:
        row = [job["name"], job["state"], *(_cell(job["parameters"].get(p)) for p in swept)]
        for m in metrics:
            mark = " *" if (m, job["id"]) in best else ""
            row.append(_cell(job["metrics"].get(m)) + mark if m in job["metrics"] else "")
        rows.append(row)
    widths = [max(len(r[i]) for r in rows) for i in range(len(head))]
    return ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in rows]


def watch(client: FloeClient, task: dict) -> int:
    """Print each job's state changes until the task ends; its table; 0 if all completed."""
    seen: dict[int, str] = {}
    while True:
        task = client.task(task["id"])
        for job in task["jobs"]:
            if seen.get(job["id"]) != job["state"]:
                seen[job["id"]] = job["state"]
                print(printable(f"{job['name']}  {job['state']}  {job['reason']}".rstrip()))
        if task["state"] in FINISHED:
            break
        time.sleep(WATCH_EVERY_S)
    print("\n".join(table(task)))
    return 0 if task["state"] == JobState.COMPLETE else 1


def cmd_status(client: FloeClient, args: argparse.Namespace) -> int:
    if args.task:
        task = client.task(task_ref(args.task))
        if args.json:
            print(json.dumps(task, indent=2))
            return 0
        print(describe(client, task))
        print("\n".join(table(task)))
        return 0
    project = None if args.all else project_here()
    tasks = client.tasks(project=project, limit=args.limit)
    if args.json:
        print(json.dumps(tasks, indent=2))
        return 0
    for task in tasks:
        print(describe(client, task))
    if not tasks:
        print('no tasks: `floe run --param lr=0.1,0.01 "python train.py"` makes one')
    return 0


def cmd_stop(client: FloeClient, args: argparse.Namespace) -> int:
    task = client.json("POST", task_path(task_ref(args.task), "stop"))
    print(describe(client, task))
    return 0


def add_verbs(verbs: argparse._SubParsersAction) -> None:
    task = group(verbs, "task", "sweeps over parameters (floe run --param lr=0.1,0.01)")
    status = verb(task, "status", cmd_status, "this project's tasks, or one task's jobs compared")
    status.add_argument("task", nargs="?", help="alice/cats/task/2, cats/task/2 or 2")
    status.add_argument("--all", action="store_true", help="every project, not just this one")
    status.add_argument("--limit", type=int, default=20)
    status.add_argument("--json", action="store_true")
    verb(task, "stop", cmd_stop, "stop every job of a task not yet finished").add_argument("task")
