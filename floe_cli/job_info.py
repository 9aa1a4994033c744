"""``floe info JOB`` (everything about a job on one screen) and ``floe clone JOB [DIR]`` (the
code it ran, to change and run again): FloydHub's two verbs for looking back."""

from __future__ import annotations

import argparse
import json
from datetime import datetime
from pathlib import Path

from floe.client.api import FloeClient, FloeError
from floe.client.transfer import download_job_tree
from floe.core.sizes import format_size
from floe.core.text import printable

from .jobs import serving_line
from .markers import PROJECT_FILE, job_ref, mark
from .verbs import UsageError, verb


def _ran_for(job: dict) -> str:
    if not job["started"]:
        return ""
    end = datetime.fromisoformat(job["finished"]) if job["finished"] else None
    if end is None:
        return f"running for {job.get('running_for_s') or 0:.0f} s"
    seconds = (end - datetime.fromisoformat(job["started"])).total_seconds()
    return f"ran {seconds:.1f} s"


def _tree_line(client: FloeClient, job: dict, part: str) -> str | None:
    try:
        tree = client.json("GET", f"jobs/{job['id']}/{part}")
    except FloeError:
        return None
    return f"{tree['file_count']} files, {format_size(tree['size'])}"


def info_lines(client: FloeClient, job: dict) -> list[str]:
    reason = f"  {job['reason']}" if job["reason"] else ""
    lines = [f"{job['name']}  {job['state']}{reason}"]
    if job["message"]:
        lines.append(f"  message      {job['message']}")
    what = job["notebook"] or job["command"] or "app.py's WSGI app"
    step = f"  (step {job['step']} of floe.yml)" if job.get("step") else ""
    lines.append(f"  {job['kind']:<12} {what}{step}")
    if job.get("serve_url"):
        lines.append(f"  serving      {client.url}{job['serve_url']}")
        lines.append(f"               {serving_line(job['serving'])}")
    lines.append(f"  environment  {job['environment']} on {job['machine']}")
    lines.append(f"  image        {job['image'] or '-'}  {job['image_digest'] or ''}".rstrip())
    for step_ in job.get("provenance") or []:
        extra = " + requirements" if step_.get("requirements") else ""
        lines.append(f"    made from  {step_['environment']}{extra}: {step_['image']}")
    for d in job["datasets"]:
        lines.append(f"  input        {d['target']}  {d['source']}  tree {d['tree'][:12]}")
    if job["parameters"]:
        lines.append(f"  parameters   {json.dumps(job['parameters'])}")
    last = client.json("GET", f"jobs/{job['id']}/metrics?points=2")["last"]
    if last:
        lines.append("  metrics      " + ", ".join(f"{k} {v}" for k, v in sorted(last.items())))
    if job["output"]:
        size = _tree_line(client, job, "output") or ""
        lines.append(f"  output       {job['output']}  {size}")
    code = _tree_line(client, job, "code")
    if code:
        lines.append(f"  code         {code}  (floe clone {job['name']})")
    times = f"  created      {job['created'][:19]}"
    if job["started"]:
        times += f", started {job['started'][:19]}"
    lines.append(f"{times}  {_ran_for(job)}".rstrip())
    if job["max_runtime"]:
        lines.append(f"  max runtime  {job['max_runtime']} s")
    if job["rerun_of"]:
        lines.append(f"  re-run of    job {job['rerun_of']}")
    lines.append(f"  page         {client.url}{job['url']}")
    return lines


def cmd_info(client: FloeClient, args: argparse.Namespace) -> int:
    job = client.job(job_ref(args.job))
    if args.json:
        print(json.dumps(job, indent=2))
        return 0
    for line in info_lines(client, job):
        print(printable(line))
    return 0


def cmd_clone(client: FloeClient, args: argparse.Namespace) -> int:
    job = client.job(job_ref(args.job))
    dest = Path(args.dir or f"{job['project']}-{job['number']}")
    if dest.exists() and any(dest.iterdir()):
        raise UsageError(f"{dest} is not empty; clone into a new folder")
    tree = download_job_tree(client, job["name"], dest, part="code")
    dest.mkdir(parents=True, exist_ok=True)  # a job may have kept no file of code
    if not (dest / PROJECT_FILE).exists():  # `floe run` there runs in a project of that name
        mark(dest / PROJECT_FILE, "project", job["project"])
    print(f"{job['name']}'s code: {tree['file_count']} files -> {dest}; `floe run` there runs it")
    return 0


def add_verbs(verbs: argparse._SubParsersAction) -> None:
    info = verb(verbs, "info", cmd_info, "everything about a job on one screen")
    info.add_argument("job", help="alice/cats/4, cats/4 or 4")
    info.add_argument("--json", action="store_true")
    clone = verb(verbs, "clone", cmd_clone, "download the code a job ran into DIR")
    clone.add_argument("job")
    clone.add_argument("dir", nargs="?", help="a new folder (default: PROJECT-N)")
