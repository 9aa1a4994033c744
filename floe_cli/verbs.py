"""How a verb of the command line is declared: every verb is ``cmd(client, args) -> exit code``.

Verbs that talk to Floe get a logged-in :class:`~floe.client.api.FloeClient`; the few that do
not (``login``, ``init``) get None. ``main`` hands the client over, in one place.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable

from floe.client.api import FloeClient

Command = Callable[[FloeClient | None, argparse.Namespace], int]


class UsageError(Exception):
    """The command line itself is wrong; the message says what would be right."""


def verb(
    verbs: argparse._SubParsersAction, name: str, cmd: Command, help: str, *, client: bool = True
) -> argparse.ArgumentParser:
    """Add the verb ``name`` running ``cmd``; ``client=False`` for verbs that need no login."""
    parser = verbs.add_parser(name, help=help, description=help)
    parser.set_defaults(run=cmd, needs_client=client)
    return parser


def group(verbs: argparse._SubParsersAction, name: str, help: str) -> argparse._SubParsersAction:
    """A verb with verbs of its own (``floe data …``)."""
    return verbs.add_parser(name, help=help).add_subparsers(dest=f"{name}_verb", required=True)
