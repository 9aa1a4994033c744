"""``floe``: log in, version datasets, run jobs and reuse their output.

Exit codes: 0 ok, 1 the job (or the server) failed, 2 usage or input.
"""

from __future__ import annotations

import argparse
import sys

from floe.client.api import FloeError
from floe.client.login import NotLoggedIn
from floe.core.errors import FloeUserError

from . import catalog, data, deleting, job_info, jobs, login, schedules, serve, tasks, teams
from .verbs import UsageError


def parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(prog="floe", description="Floe from the command line.")
    verbs = top.add_subparsers(dest="verb", required=True)
    for group in (login, jobs, tasks, schedules, job_info, serve):
        group.add_verbs(verbs)
    env = catalog.add_verbs(verbs)
    data_verbs = data.add_verbs(verbs)
    deleting.add_verbs(verbs, data=data_verbs)
    teams.add_verbs(verbs, data=data_verbs, env=env)
    return top


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        client = login.logged_in() if args.needs_client else None
        return args.run(client, args)
    except (UsageError, NotLoggedIn, FloeUserError) as err:
        print(f"floe: {err}", file=sys.stderr)
        return 2
    except FloeError as err:
        print(f"floe: {err}", file=sys.stderr)
        return 2 if err.status and 400 <= err.status < 500 else 1
    except KeyboardInterrupt:
        print("floe: interrupted; nothing was committed", file=sys.stderr)
        return 1


def run() -> None:
    sys.exit(main())


if __name__ == "__main__":
    run()
