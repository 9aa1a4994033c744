"""``floe schedule``: run a step of floe.yml, a command or a notebook at the times of a cron
expression (``floe schedule add "0 3 * * *" train``); list, pause, resume and remove them.

The folder's code is kept once, when the schedule is made; datasets named without a version
(``--data mnist``) mount the latest version at each run.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from floe.client.api import FloeClient
from floe.client.transfer import submit_with_code
from floe.core.text import printable

from .jobs import add_run_options, run_request
from .verbs import UsageError, group, verb


def describe(schedule: dict) -> str:
    what = (
        schedule["step"]
        and f"step {schedule['step']}"
        or (schedule["notebook"] or schedule["command"] or "")
    )
    when = f"next {schedule['next_run'][:16]}" if schedule["next_run"] else "paused"
    last = ""
    if schedule["last_job"]:
        last = f"  last {schedule['last_job']} {schedule['last_job_state']}"
    if schedule["last_error"]:
        last += f"  last run failed: {schedule['last_error']}"
    zone = f" {schedule['timezone']}" if schedule["timezone"] != "UTC" else ""
    line = f"{schedule['id']:>4}  {schedule['cron']!r}{zone}  {schedule['project']}: {what}"
    return printable(f"{line}  {when}  {schedule['runs']} runs{last}")


def cmd_add(client: FloeClient, args: argparse.Namespace) -> int:
    body, _sweep = run_request(client, args)  # a sweep was refused: one job each time
    if body.get("mode") == "serve":
        raise UsageError("a serving job runs until stopped: start it with floe run")
    body["cron"] = args.cron
    if args.tz:
        body["timezone"] = args.tz
    schedule = submit_with_code(client, Path("."), body, endpoint="schedules")
    print(describe(schedule))
    print(f"times in {schedule['timezone']}; `floe schedule ls` lists schedules")
    return 0


def cmd_ls(client: FloeClient, args: argparse.Namespace) -> int:
    schedules = client.json("GET", "schedules")
    if args.json:
        print(json.dumps(schedules, indent=2))
        return 0
    for schedule in schedules:
        print(describe(schedule))
    if not schedules:
        print('no schedules: `floe schedule add "0 3 * * *" train` makes one')
    return 0


def cmd_rm(client: FloeClient, args: argparse.Namespace) -> int:
    client.request("DELETE", f"schedules/{args.id}")
    print(f"schedule {args.id} removed; the jobs it ran stay")
    return 0


def cmd_pause(client: FloeClient, args: argparse.Namespace) -> int:
    print(describe(client.json("POST", f"schedules/{args.id}/pause")))
    return 0


def cmd_resume(client: FloeClient, args: argparse.Namespace) -> int:
    print(describe(client.json("POST", f"schedules/{args.id}/resume")))
    return 0


def add_verbs(verbs: argparse._SubParsersAction) -> None:
    schedule = group(verbs, "schedule", "run a step, command or notebook at set times")
    add = verb(schedule, "add", cmd_add, "run this project's step or command at cron's times")
    add.add_argument("cron", help="'0 3 * * *' (03:00 daily), '@hourly', '@daily', '@every 6h'")
    add.add_argument("--tz", help="the time zone of its times, e.g. Europe/Paris (default UTC)")
    add_run_options(add, follow=False)
    add.add_argument("command", nargs="*", help='a step of floe.yml, "COMMAND" or NOTEBOOK.ipynb')
    ls = verb(schedule, "ls", cmd_ls, "your schedules: when each runs next, its last job")
    ls.add_argument("--json", action="store_true")
    for name, cmd, text in (
        ("rm", cmd_rm, "remove a schedule (the jobs it ran stay)"),
        ("pause", cmd_pause, "pause a schedule: nothing runs until it is resumed"),
        ("resume", cmd_resume, "resume a schedule from its next time"),
    ):
        verb(schedule, name, cmd, text).add_argument("id", type=int, help="from floe schedule ls")
