"""``floe serve``: the tokens that let others call a serving job (``floe run --mode serve``).

A token is printed once, when made; Floe keeps only its hash. Send it as
``Authorization: Bearer <token>`` to the job's URL (``floe status JOB`` shows it).
"""

from __future__ import annotations

import argparse
import json
import sys

from floe.client.api import FloeClient, job_path
from floe.core.text import printable

from .markers import job_ref
from .verbs import group, verb


def cmd_token(client: FloeClient, args: argparse.Namespace) -> int:
    job = client.job(job_ref(args.job))
    made = client.json("POST", job_path(job["id"], "tokens"), json={"name": args.name})
    print(made["token"])
    print(
        f"token {made['id']} for {job['name']}: shown this once; call "
        f"{client.url}{job['serve_url']} with 'Authorization: Bearer <token>'",
        file=sys.stderr,
    )
    return 0


def cmd_tokens(client: FloeClient, args: argparse.Namespace) -> int:
    job = client.job(job_ref(args.job))
    tokens = client.json("GET", job_path(job["id"], "tokens"))
    if args.json:
        print(json.dumps(tokens, indent=2))
        return 0
    for t in tokens:
        line = f"{t['id']:>6}  {t['prefix']}…  {t['created'][:19]}  {t['name']}"
        print(printable(line))
    if not tokens:
        print(f"{job['name']} has no tokens: `floe serve token {job['name']}` makes one")
    return 0


def cmd_revoke(client: FloeClient, args: argparse.Namespace) -> int:
    client.request("DELETE", f"serving-tokens/{args.token_id}")
    print(f"token {args.token_id} revoked: it works no more")
    return 0


def add_verbs(verbs: argparse._SubParsersAction) -> None:
    serve = group(verbs, "serve", "tokens of serving jobs (floe run --mode serve)")
    token = verb(serve, "token", cmd_token, "make a token that may call a serving job")
    token.add_argument("job", help="alice/app/4, app/4 or 4")
    token.add_argument("--name", default="", help="what the token is for")
    tokens = verb(serve, "tokens", cmd_tokens, "a serving job's tokens (their first characters)")
    tokens.add_argument("job")
    tokens.add_argument("--json", action="store_true")
    revoke = verb(serve, "revoke", cmd_revoke, "revoke a token: it stops working at once")
    revoke.add_argument("token_id", type=int, help="its id, from `floe serve tokens JOB`")
