"""``floe env ls`` and ``floe machine ls``: what jobs and workspaces can run on."""

from __future__ import annotations

import argparse
import json

from floe.client.api import FloeClient

from .verbs import group, verb


def cmd_env_ls(client: FloeClient, args: argparse.Namespace) -> int:
    environments = client.catalog()["environments"]
    if args.json:
        print(json.dumps(environments, indent=2))
        return 0
    for e in environments:
        default = " (default)" if e["default"] else ""
        print(f"{e['slug']:16} {e['display_name']}{default}  {e['image']}")
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
    return 0


def add_verbs(verbs: argparse._SubParsersAction) -> None:
    env = group(verbs, "env", "environments")
    verb(env, "ls", cmd_env_ls, "environments jobs and workspaces can use").add_argument(
        "--json", action="store_true"
    )
    machine = group(verbs, "machine", "machine types")
    verb(machine, "ls", cmd_machine_ls, "machine types and free GPUs").add_argument(
        "--json", action="store_true"
    )
