"""``floe init``, ``floe run`` and the verbs that follow, re-run and reuse jobs (FloydHub's way).

A folder belongs to a project once ``floe init PROJECT`` wrote ``.floe`` there; ``floe run``
then snapshots the folder as the job's code (honouring ``.floeignore``, sending only what the
server lacks) and submits it.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from floe.client.api import FloeClient, job_path
from floe.client.transfer import download_job_tree, submit_with_code
from floe.core.durations import parse_duration
from floe.core.job_states import JobState
from floe.core.params import parse_goals, parse_params
from floe.core.refs import ProjectRef
from floe.core.sizes import format_size
from floe.core.text import printable

from . import floe_yml, tasks
from .markers import PROJECT_FILE, job_ref, mark, project_here
from .verbs import UsageError, verb


def pick_machine(client: FloeClient, args: argparse.Namespace) -> str | None:
    if args.machine:
        return args.machine
    if not (args.gpu or args.cpu):
        return None
    machines = client.catalog()["machines"]
    wanted = [m for m in machines if bool(m["gpus"]) == bool(args.gpu)]
    if not wanted:
        kind = "GPU" if args.gpu else "CPU"
        valid = ", ".join(m["slug"] for m in machines)
        raise UsageError(f"this Floe has no {kind} machine types; valid machines: {valid}")
    return next((m for m in wanted if m["default"]), wanted[0])["slug"]


def _changes(client: FloeClient, args: argparse.Namespace) -> dict:
    body: dict = {}
    machine = pick_machine(client, args)
    if machine:
        body["machine"] = machine
    if args.env:
        body["environment"] = args.env
    if args.data:
        body["datasets"] = args.data
    if args.param:
        fixed, sweep = parse_params(args.param)
        if sweep and not getattr(args, "sweeps", False):
            raise UsageError(
                f"--param {next(iter(sweep))}: a list of values sweeps them, which `floe run` "
                "does (a task); here give one value"
            )
        body["parameters"] = fixed
        if sweep:
            body["sweep"] = sweep
    if args.message is not None:
        body["message"] = args.message
    if args.max_runtime:
        try:
            body["max_runtime"] = parse_duration(args.max_runtime)
        except ValueError as err:
            raise UsageError(f"--max-runtime: {err}") from None
    return body


def announce(client: FloeClient, job: dict) -> None:
    print(f"{job['name']}  {job['state']}  {client.url}{job['url']}")
    if job.get("serve_url"):
        print(
            f"serving at {client.url}{job['serve_url']} once it runs; callers need a token: "
            f"floe serve token {job['name']}"
        )


def follow(client: FloeClient, job: dict) -> int:
    """Stream the log until the job ends; the job's exit code (1 if it had none)."""
    resp = client.request("GET", job_path(job["id"], "logs"), params={"follow": 1}, stream=True)
    for chunk in resp.iter_content(None):
        sys.stdout.buffer.write(chunk)
        sys.stdout.flush()
    job = client.job(job["id"])
    if job["state"] == JobState.COMPLETE:
        return 0
    print(f"floe: {job['name']} {job['state']}: {printable(job['reason'])}", file=sys.stderr)
    return job["exit_code"] if job["exit_code"] else 1


def serving_line(figures: dict) -> str:
    """A serving job's request figures in a few words."""
    line = f"{figures['requests']} requests, {figures['errors']} failed"
    if figures.get("p50_ms") is not None:
        line += f", median {figures['p50_ms']:g} ms, p99 {figures['p99_ms']:g} ms"
    return line


def cmd_init(_client: None, args: argparse.Namespace) -> int:
    ProjectRef.parse(args.project)  # `cats`, or a team's `ml-lab/cats`
    mark(Path(PROJECT_FILE), "project", args.project)
    print(f'this folder is now project {args.project}; `floe run "python train.py"` runs it')
    if floe_yml.write_template(Path("."), args.project):
        print(f"wrote {floe_yml.FILE}: defaults and named steps for `floe run`, all commented")
    return 0


def cmd_run(client: FloeClient, args: argparse.Namespace) -> int:
    body, sweep = run_request(client, args)
    if sweep or args.random or args.parallel or args.goal:
        return _sweep(client, args, body, sweep)
    job = submit_with_code(client, Path("."), body)
    announce(client, job)
    return follow(client, job) if args.follow else 0


def run_request(client: FloeClient, args: argparse.Namespace) -> tuple[dict, dict | None]:
    """What ``floe run`` (and ``floe schedule add``) asks for, from floe.yml and the flags:
    the job's request, and the sweep of its parameters if any."""
    project = project_here()
    if not project:
        raise UsageError("this folder has no project: run `floe init PROJECT` here first")
    target = " ".join(args.command)
    config = floe_yml.read(Path("."))
    step = target if config and target in config.steps else None
    settings = config.settings(step).values if config else {}
    if step or not target.strip():
        target = settings.get("command", "")
    body = {"project": project, **_from_file(settings), **_changes(client, args)}
    sweep = body.pop("sweep", None)
    if "parameters" in settings and args.param:
        body["parameters"] = {**settings["parameters"], **parse_params(args.param)[0]}
    if step:
        body["step"] = step
    mode = getattr(args, "mode", None) or settings.get("mode") or "run"
    if mode == "serve":
        body["mode"] = "serve"
    elif not target.strip():
        raise UsageError(
            'say what to run: floe run "python train.py", NOTEBOOK.ipynb, or a step of floe.yml'
            + (f" ({', '.join(config.steps)})" if config and config.steps else "")
        )
    if target.endswith(".ipynb") and Path(target).is_file():
        notebook = json.loads(Path(target).read_text())
        body.update(kind="notebook", name=Path(target).as_posix(), notebook=notebook)
    else:
        body.update(kind="command", command=target)
    return body, sweep


def _sweep(client: FloeClient, args: argparse.Namespace, body: dict, sweep: dict | None) -> int:
    """``floe run --param lr=0.1,0.01 …``: one task of a job per combination."""
    if not sweep:
        raise UsageError(
            "--random, --parallel and --goal go with a sweep: give a parameter several "
            "values, e.g. --param lr=0.1,0.01"
        )
    if body.get("mode") == "serve":
        raise UsageError("a serving job cannot sweep parameters: it runs until stopped")
    body = {**body, "sweep": sweep}
    if args.random:
        body["random"] = args.random
    if args.parallel:
        body["parallel"] = args.parallel
    if args.goal:
        body["goals"] = parse_goals(args.goal)
    task = submit_with_code(client, Path("."), body, endpoint="tasks")
    print(tasks.describe(client, task))
    print(f"compare them: floe task status {task['name']}")
    return tasks.watch(client, task) if args.follow else 0


def _from_file(settings: dict) -> dict:
    """What floe.yml sets, in the API's words (the command line's flags are applied after)."""
    names = {"env": "environment", "machine": "machine", "data": "datasets"}
    body = {names[k]: v for k, v in settings.items() if k in names}
    if "parameters" in settings:
        body["parameters"] = settings["parameters"]
    if "max_runtime" in settings:
        body["max_runtime"] = settings["max_runtime"]
    return body


def cmd_status(client: FloeClient, args: argparse.Namespace) -> int:
    if args.job:
        job = client.job(job_ref(args.job))
        if args.json:
            print(json.dumps(job, indent=2))
            return 0
        what = job["notebook"] or job["command"] or "app.py's WSGI app"
        print(f"{job['name']}  {job['state']}  {printable(job['reason'])}".rstrip())
        print(f"  {job['kind']}: {printable(what)}")
        if job.get("step"):
            print(f"  step {job['step']} of floe.yml")
        print(f"  {job['environment']} on {job['machine']}  image {job['image_digest'] or '-'}")
        if job.get("serve_url"):
            figures = job["serving"]
            print(f"  serving at {client.url}{job['serve_url']}  {serving_line(figures)}")
        for d in job["datasets"]:
            print(f"  input {d['source']} at {d['target']}")
        if job["parameters"]:
            print(f"  parameters {json.dumps(job['parameters'])}")
        for event in job["events"]:
            print(f"  {event['time'][:19]}  {event['state']:9} {printable(event['reason'])}")
        return 0
    project = None if args.all else project_here()
    jobs = client.jobs(project=project, state=args.state, limit=args.limit)
    if args.json:
        print(json.dumps(jobs, indent=2))
        return 0
    for job in jobs:
        what = (job["notebook"] or job["command"] or "")[:40]
        line = f"{job['name']:30} {job['state']:9} {job['created'][:19]}  {what}  {job['message']}"
        print(printable(line))
    return 0


def cmd_logs(client: FloeClient, args: argparse.Namespace) -> int:
    job = client.job(job_ref(args.job))
    if args.follow:
        return follow(client, job)
    sys.stdout.buffer.write(client.request("GET", job_path(job["id"], "logs")).content)
    return 0


def cmd_stop(client: FloeClient, args: argparse.Namespace) -> int:
    job = client.json("POST", job_path(client.job(job_ref(args.job))["id"], "stop"))
    print(f"{job['name']}  {job['state']}  {printable(job['reason'])}".rstrip())
    return 0


def cmd_rerun(client: FloeClient, args: argparse.Namespace) -> int:
    old = client.job(job_ref(args.job))
    job = client.json("POST", job_path(old["id"], "rerun"), json=_changes(client, args))
    announce(client, job)
    return follow(client, job) if args.follow else 0


def cmd_output(client: FloeClient, args: argparse.Namespace) -> int:
    ref = job_ref(args.job)
    if args.download:
        output = download_job_tree(client, client.job(ref)["name"], Path(args.download))
        print(f"{output['name']} -> {args.download}")
        return 0
    output = client.output(ref)
    if args.json:
        print(json.dumps(output, indent=2))
        return 0
    for f in output["files"]:
        print(f"{format_size(f['size']):>10}  {printable(f['path'])}")
    print(f"{output['file_count']} files, {format_size(output['size'])}: mount as {output['name']}")
    return 0


def cmd_metrics(client: FloeClient, args: argparse.Namespace) -> int:
    job = client.job(job_ref(args.job))
    metrics = client.json("GET", job_path(job["id"], "metrics"))
    if args.json:
        print(json.dumps(metrics, indent=2))
        return 0
    for m in metrics["metrics"]:
        print(f"{m['time'][:19]}  {json.dumps(m['values'])}")
    if metrics["last"]:
        print(f"last: {json.dumps(metrics['last'])}")
    return 0


def add_run_options(parser: argparse.ArgumentParser, *, follow: bool = True) -> None:
    """What ``run``, ``rerun`` and ``schedule add`` take."""
    where = parser.add_mutually_exclusive_group()
    where.add_argument("--machine", help="a machine type (see `floe machine ls`)")
    where.add_argument("--gpu", action="store_true", help="the default GPU machine type")
    where.add_argument("--cpu", action="store_true", help="the default CPU machine type")
    parser.add_argument("--env", help="an environment (see `floe env ls`)")
    parser.add_argument(
        "--data",
        action="append",
        metavar="SPEC[:/MOUNT]",
        help="a dataset (mnist, mnist:2, bob/cats:1) or output (alice/cats/3/output); repeatable",
    )
    parser.add_argument(
        "--param",
        action="append",
        metavar="K=V",
        help="a parameter; repeatable. K=A,B,C sweeps it: one job per value (a task)",
    )
    parser.add_argument("-m", "--message", default=None, help="what this run is for")
    parser.add_argument(
        "--max-runtime",
        metavar="DURATION",
        help="stop the job after this long: seconds, or 90m, 2h, 1d (default: the deployer's)",
    )
    if follow:
        parser.add_argument("-f", "--follow", action="store_true", help="stream the log to the end")


def add_verbs(verbs: argparse._SubParsersAction) -> None:
    init = verb(
        verbs,
        "init",
        cmd_init,
        "make this folder the project PROJECT (a team's: TEAM/PROJECT)",
        client=False,
    )
    init.add_argument("project")

    run = verb(
        verbs, "run", cmd_run, 'run "COMMAND", NOTEBOOK.ipynb or a step of floe.yml as a job'
    )
    add_run_options(run)
    run.add_argument(
        "--mode",
        choices=("run", "serve"),
        default=None,
        help="serve: keep answering requests on $PORT until stopped (no command: the WSGI "
        "`app` of app.py); callers need a token (floe serve token JOB)",
    )
    run.add_argument(
        "--random",
        type=int,
        metavar="N",
        help="with a sweep: run N combinations drawn at random, not the whole grid",
    )
    run.add_argument(
        "--parallel", type=int, metavar="K", help="with a sweep: run at most K jobs at once"
    )
    run.add_argument(
        "--goal",
        action="append",
        metavar="METRIC=min|max",
        help="with a sweep: which way a metric is best (default: min for loss, error, time…)",
    )
    run.set_defaults(sweeps=True)
    run.add_argument(
        "command",
        nargs="*",
        help='e.g. "python train.py", train.ipynb or a step (floe.yml); none: floe.yml\'s command',
    )

    status = verb(verbs, "status", cmd_status, "recent jobs, or one job and its history")
    status.add_argument("job", nargs="?", help="alice/cats/4, cats/4 or 4")
    status.add_argument("--all", action="store_true", help="every project, not just this one")
    status.add_argument("--state", help="only jobs in this state")
    status.add_argument("--limit", type=int, default=20)
    status.add_argument("--json", action="store_true")

    logs = verb(verbs, "logs", cmd_logs, "a job's log")
    logs.add_argument("job")
    logs.add_argument("-f", "--follow", action="store_true", help="until the job ends")

    verb(verbs, "stop", cmd_stop, "stop a job").add_argument("job")

    rerun = verb(verbs, "rerun", cmd_rerun, "run a job again with the same code and inputs")
    rerun.add_argument("job")
    add_run_options(rerun)

    output = verb(verbs, "output", cmd_output, "a job's output files")
    output.add_argument("job")
    output.add_argument("--download", metavar="DIR", help="write the files under DIR")
    output.add_argument("--json", action="store_true")

    metrics = verb(verbs, "metrics", cmd_metrics, "a job's metric lines")
    metrics.add_argument("job")
    metrics.add_argument("--json", action="store_true")
