"""``floe team …`` (teams are the hub's groups: members, maintainers, quotas, usage, what
waits) and sharing a thing of yours read-only: ``floe data share``, ``floe share`` (a
project, with its jobs, logs and outputs), ``floe env share``, and their ``unshare``."""

from __future__ import annotations

import argparse
import json
from urllib.parse import quote

from floe.client.api import FloeClient
from floe.core.refs import DatasetRef, EnvironmentRef, ProjectRef
from floe.core.sizes import format_size

from .login import whoami
from .markers import project_here
from .verbs import UsageError, group, verb

SETTINGS = ("storage_bytes", "max_running", "max_gpus")


def _owned(client: FloeClient, kind: str, text: str | None) -> str:
    """``owner/name`` of a dataset, project or environment named as its verbs name it."""
    if kind == "projects":
        text = text or project_here()
        if not text:
            raise UsageError("name a project, or run this in a folder `floe init` made")
        ref = ProjectRef.parse(text)
        owner, name = ref.owner, ref.name
    elif kind == "datasets":
        ref = DatasetRef.parse(text)
        owner, name = ref.owner, ref.name
    else:
        ref = EnvironmentRef.parse(text, None)
        owner, name = ref.owner, ref.name
    return f"{quote(owner or whoami(client), safe='')}/{quote(name, safe='')}"


def _share(kind: str, add: bool):  # noqa: ANN202 - a verb
    def cmd(client: FloeClient, args: argparse.Namespace) -> int:
        thing = _owned(client, kind, args.name)
        path = f"{kind}/{thing}/shares/{quote(args.grantee, safe='')}"
        if add:
            share = client.json("PUT", path)
            print(
                f"{share['thing']} is shared with {share['grantee_kind']} {share['grantee']}, "
                "read-only"
            )
        else:
            client.json("DELETE", path)
            print(f"{thing} is no longer shared with {args.grantee}")
        return 0

    return cmd


def _shares(kind: str):  # noqa: ANN202 - a verb
    def cmd(client: FloeClient, args: argparse.Namespace) -> int:
        found = client.json("GET", f"{kind}/{_owned(client, kind, args.name)}/shares")
        if args.json:
            print(json.dumps(found, indent=2))
        elif not found:
            print("shared with nobody")
        for share in [] if args.json else found:
            print(f"{share['grantee']:<24} {share['grantee_kind']:<5} by {share['created_by']}")
        return 0

    return cmd


def add_share_verbs(parent: argparse._SubParsersAction, kind: str, what: str) -> None:
    """``share``, ``unshare`` and ``shares`` under ``parent`` (the top, ``data`` or ``env``)."""
    for name, cmd, help in (
        ("share", _share(kind, True), f"share {what} read-only with a user or a team"),
        ("unshare", _share(kind, False), f"stop sharing {what} with a user or a team"),
    ):
        parser = verb(parent, name, cmd, help)
        parser.add_argument("name", nargs="?" if kind == "projects" else None, help=what)
        parser.add_argument("grantee", help="a hub user's name or a team's")
    listing = verb(parent, "shares", _shares(kind), f"whom {what} is shared with")
    listing.add_argument("name", nargs="?" if kind == "projects" else None, help=what)
    listing.add_argument("--json", action="store_true")


def cmd_team_ls(client: FloeClient, args: argparse.Namespace) -> int:
    teams = client.json("GET", "teams")
    if args.json:
        print(json.dumps(teams, indent=2))
        return 0
    if not teams:
        print("you are in no team; an admin makes them on the hub (its groups)")
    for team in teams:
        role = "maintainer" if team["you_maintain"] else "member"
        print(f"{team['name']:<24} {len(team['members']):>3} members   you: {role}")
    return 0


def _limit(value: int | None, unit: str = "") -> str:
    if value is None:
        return "default"
    return format_size(value) if unit == "bytes" else str(value)


def print_team(team: dict) -> None:
    settings, usage = team["settings"], team["usage"]
    print(f"team {team['name']}")
    print(f"  members:     {', '.join(team['members'])}")
    print(f"  maintainers: {', '.join(team['maintainers']) or '(none: admins manage it)'}")
    quota = usage["storage_quota_bytes"]
    print(
        f"  storage:     {format_size(usage['storage_bytes'])} of "
        f"{format_size(quota) if quota else 'no quota'}"
    )
    print(f"  running:     {usage['running']} job(s), at most {_limit(settings['max_running'])}")
    print(f"  GPUs:        {usage['gpus']} in use, at most {_limit(settings['max_gpus'])}")
    for machine, share in sorted(settings["shares"].items()):
        running = usage["running_by_machine"].get(machine, 0)
        print(f"  share:       {share:.0%} of {machine} ({running} running)")
    print(f"  queued:      {usage['queued']} job(s)")
    for job in team["waiting"]:
        print(f"    {job['name']:<28} by {job['submitted_by']:<12} {job['reason']}")


def cmd_team_show(client: FloeClient, args: argparse.Namespace) -> int:
    team = client.json("GET", f"teams/{quote(args.team, safe='')}")
    if args.json:
        print(json.dumps(team, indent=2))
    else:
        print_team(team)
    return 0


def _maintainer(add: bool):  # noqa: ANN202 - a verb
    def cmd(client: FloeClient, args: argparse.Namespace) -> int:
        path = f"teams/{quote(args.team, safe='')}/maintainers/{quote(args.user, safe='')}"
        team = client.json("PUT" if add else "DELETE", path)
        print(f"{args.team}'s maintainers: {', '.join(team['maintainers']) or 'none'}")
        return 0

    return cmd


def _setting(text: str) -> tuple[str, object]:
    key, sep, value = text.partition("=")
    if not sep:
        raise argparse.ArgumentTypeError(f"{text!r}: write KEY=VALUE, e.g. max_gpus=2")
    if key.startswith("share."):
        return key, None if value in ("", "default") else float(value)
    if key not in SETTINGS:
        raise argparse.ArgumentTypeError(
            f"{key!r}: one of {', '.join(SETTINGS)} or share.MACHINE (e.g. share.gpu-1=0.5)"
        )
    return key, None if value in ("", "default") else int(value)


def cmd_team_set(client: FloeClient, args: argparse.Namespace) -> int:
    path = f"teams/{quote(args.team, safe='')}"
    body: dict = {}
    shares = None
    for key, value in args.settings:
        if key.startswith("share."):
            if shares is None:
                shares = dict(client.json("GET", path)["settings"]["shares"])
            machine = key.removeprefix("share.")
            if value is None:
                shares.pop(machine, None)
            else:
                shares[machine] = value
        else:
            body[key] = value
    if shares is not None:
        body["shares"] = shares
    print_team(client.json("PUT", f"{path}/settings", json=body))
    return 0


def add_verbs(verbs: argparse._SubParsersAction, data: argparse._SubParsersAction, env) -> None:  # noqa: ANN001
    team = group(verbs, "team", "teams: the hub's groups")
    verb(team, "ls", cmd_team_ls, "the teams you are in").add_argument(
        "--json", action="store_true"
    )
    show = verb(team, "show", cmd_team_show, "members, quotas, usage and what waits, and why")
    show.add_argument("team")
    show.add_argument("--json", action="store_true")
    for name, add in (("add-maintainer", True), ("remove-maintainer", False)):
        parser = verb(team, name, _maintainer(add), f"{name.split('-')[0]} a maintainer")
        parser.add_argument("team")
        parser.add_argument("user")
    setting = verb(team, "set", cmd_team_set, "set a team's quotas and shares (admins)")
    setting.add_argument("team")
    setting.add_argument(
        "settings",
        nargs="+",
        type=_setting,
        metavar="KEY=VALUE",
        help="max_running=4 max_gpus=2 storage_bytes=100000000000 share.gpu-1=0.5 "
        "(=default clears one)",
    )
    add_share_verbs(verbs, "projects", "a project (its jobs, logs, outputs): here, or [owner/]name")
    add_share_verbs(data, "datasets", "a dataset: [owner/]name")
    add_share_verbs(env, "environments", "an environment: [owner/]name")
