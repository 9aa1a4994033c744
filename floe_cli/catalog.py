"""``floe env ...`` and ``floe machine ls``: what jobs and workspaces run on, and environments
people make (``floe env create nlp --from datascience -r requirements.txt``)."""

from __future__ import annotations

import argparse
import json
import sys
import time
from datetime import datetime
from pathlib import Path

from floe.client.api import FloeClient
from floe.core.refs import EnvironmentRef
from floe.core.sizes import format_size
from floe.core.text import printable

from .login import whoami
from .verbs import UsageError, group, verb

FOLLOW_INTERVAL_S = 1.0
FINISHED = ("ready", "failed")


def _when(value: str | None) -> str:
    if not value:
        return "-"
    return datetime.fromisoformat(value).astimezone().strftime("%Y-%m-%d %H:%M")


def cmd_env_ls(client: FloeClient, args: argparse.Namespace) -> int:
    environments = client.json("GET", "environments")
    if args.json:
        print(json.dumps(environments, indent=2))
        return 0
    print(f"{'NAME':24} {'STATE':9} {'SIZE':>9}  {'LAST USED':16}  WHAT")
    for e in environments:
        size = format_size(e["size_bytes"]) if e["size_bytes"] is not None else "-"
        state = e["state"] if e["on_node"] is not False else "not built"
        what = e["description"] or (f"{e['base']} + requirements" if e["base"] else e["image"])
        if e["kind"] == "made" and e["public"]:
            what = "(public) " + what
        line = f"{e['name']:24} {state:9} {size:>9}  {_when(e['last_used']):16}  {what}"
        print(printable(line)[:200])
    return 0


def env_path(client: FloeClient, text: str) -> str:
    """The API path of a made environment named ``[owner/]name[:N]`` (latest when no N)."""
    ref = EnvironmentRef.parse(text)
    owner = ref.owner or whoami(client)
    version = ref.version
    if version is None:
        mine = [
            e["version"]
            for e in client.json("GET", "environments")
            if e["kind"] == "made"
            and e["owner"] == owner
            and e["name"].startswith(f"{owner}/{ref.name}:")
        ]
        if not mine:
            raise UsageError(f"no environment {owner}/{ref.name}; `floe env ls` lists them")
        version = max(mine)
    return f"environments/{owner}/{ref.name}/{version}"


def follow_build(client: FloeClient, path: str) -> int:
    """Print the build's log as it grows until it is ready (0) or failed (1)."""
    offset = 0
    while True:
        env = client.json("GET", path)
        while chunk := client.request("GET", path + "/log", params={"offset": offset}).content:
            sys.stdout.buffer.write(chunk)
            sys.stdout.flush()
            offset += len(chunk)
        if env["state"] in FINISHED:
            break
        time.sleep(FOLLOW_INTERVAL_S)
    if env["state"] == "failed":
        print(f"floe: {env['name']} failed: {printable(env['reason'])}", file=sys.stderr)
        return 1
    print(f"{env['name']} is ready: `floe run --env {env['name']} ...` uses it")
    return 0


def cmd_env_create(client: FloeClient, args: argparse.Namespace) -> int:
    try:
        requirements = Path(args.requirements).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as err:
        raise UsageError(f"could not read {args.requirements}: {err}") from None
    body = {"name": args.name, "from": args.base, "requirements": requirements}
    if args.description:
        body["description"] = args.description
    env = client.json("POST", "environments", json=body)
    print(f"{env['name']}: {args.base} + {args.requirements}, {env['state']}")
    if args.no_follow:
        return 0
    name = args.name.rsplit("/", 1)[-1]  # `nlp`, or a team's `ml-lab/nlp`
    return follow_build(client, f"environments/{env['owner']}/{name}/{env['version']}")


def cmd_env_show(client: FloeClient, args: argparse.Namespace) -> int:
    env = client.json("GET", env_path(client, args.ref))
    if args.json:
        print(json.dumps(env, indent=2))
        return 0
    size = format_size(env["size_bytes"]) if env["size_bytes"] is not None else "-"
    print(f"{env['name']}  {env['state']}  {'public' if env['public'] else 'private'}")
    print(f"  from {env['base']}; image {env['image'] or '-'} ({size})")
    if env["reason"]:
        print(f"  {printable(env['reason'])}")
    print("  requirements:")
    for line in (env["requirements"] or "").splitlines():
        print(f"    {printable(line)}")
    return 0


def cmd_env_logs(client: FloeClient, args: argparse.Namespace) -> int:
    path = env_path(client, args.ref)
    if args.follow:
        return follow_build(client, path)
    sys.stdout.buffer.write(client.request("GET", path + "/log").content)
    return 0


def cmd_env_publish(client: FloeClient, args: argparse.Namespace) -> int:
    path = env_path(client, args.ref) + "/public"
    env = client.json("PUT", path, json={"public": not args.private})
    print(f"{env['name']} is now {'public' if env['public'] else 'private'}")
    return 0


def cmd_machine_ls(client: FloeClient, args: argparse.Namespace) -> int:
    catalog = client.catalog()
    if args.json:
        print(json.dumps(catalog["machines"], indent=2))
        return 0
    for m in catalog["machines"]:
        default = " (default)" if m["default"] else ""
        print(f"{m['slug']:16} {m['display_name']}{default}  {m['summary']}")
    gpus = catalog["gpus"]
    print(f"GPUs: {gpus['free']} of {gpus['total']} free")
    nodes = catalog.get("nodes")
    if nodes is not None:
        print(f"\n{'MACHINE':20} {'ROLE':8} {'STATE':14} {'CPU':>5} {'MEMORY':>9} GPUS  TYPES")
        for n in nodes:
            state = n["state"] if n["availability"] == "active" else n["availability"]
            print(
                f"{printable(n['name'])[:20]:20} {n['role']:8} {state:14} {n['cpu']:5g} "
                f"{format_size(n['memory_bytes']):>9} {n['gpus_free']}/{n['gpus']:<3} "
                f"{', '.join(n['machine_types']) or '-'}"
            )
    return 0


def add_verbs(verbs: argparse._SubParsersAction) -> argparse._SubParsersAction:
    """The ``env`` and ``machine`` verbs; the ``env`` group, for verbs added elsewhere."""
    env = group(verbs, "env", "environments")
    verb(env, "ls", cmd_env_ls, "environments: their state, image size and last use").add_argument(
        "--json", action="store_true"
    )
    create = verb(env, "create", cmd_env_create, "make an environment: another plus requirements")
    create.add_argument(
        "name", help="its name, or a team's TEAM/NAME; making it again makes the next version"
    )
    create.add_argument(
        "--from", dest="base", required=True, help="what it builds on: 'datascience', 'nlp:2'"
    )
    create.add_argument(
        "-r", "--requirements", required=True, help="a requirements.txt (packages, pinned)"
    )
    create.add_argument("-m", "--description", default="")
    create.add_argument(
        "--no-follow", action="store_true", help="do not wait for the build, nor print its log"
    )
    show = verb(env, "show", cmd_env_show, "one made environment")
    show.add_argument("ref", help="[owner/]name[:version] (default: latest)")
    show.add_argument("--json", action="store_true")
    logs = verb(env, "logs", cmd_env_logs, "a made environment's build log")
    logs.add_argument("ref", help="[owner/]name[:version] (default: latest)")
    logs.add_argument("-f", "--follow", action="store_true", help="until the build ends")
    publish = verb(env, "publish", cmd_env_publish, "make one public (admins only)")
    publish.add_argument("ref", help="owner/name:version")
    publish.add_argument("--private", action="store_true", help="private again")
    machine = group(verbs, "machine", "machine types")
    verb(machine, "ls", cmd_machine_ls, "machine types and free GPUs").add_argument(
        "--json", action="store_true"
    )
    return env
