"""HTML pages for environments: the list with a form to make one, and one made environment
with its build's log (refreshed while it builds) and, for admins, making it public."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

from tornado import web

from environments import custom as made
from floe.core.access import ENVIRONMENT, Caller, sections
from floe.core.refs import EnvironmentRef, parse_number
from floe.db.models import ENV_BUILDING, ENV_QUEUED, CustomEnvironment

from .environments_api import describe, list_environments, make_environment
from .handlers import PageHandler
from .workers import off_loop

# What of a build's log the page shows: its end.
LOG_TAIL_BYTES = 256 * 1024


def environment_sections(caller: Caller, found: list[dict]) -> list[tuple[str, list]]:
    """The catalog's first, then made ones: mine, each team's, shared with me, public."""
    catalog = [e for e in found if e["kind"] == "catalog"]

    def owned(e: dict) -> SimpleNamespace:
        ref = EnvironmentRef.parse(e["name"])
        return SimpleNamespace(
            owner=ref.owner, public=e["public"], share_kind=ENVIRONMENT, share_name=ref.name
        )

    made_ones = [e for e in found if e["kind"] == "made"]
    return [("Catalog", catalog), *sections(caller, made_ones, owned)]


class EnvironmentsPage(PageHandler):
    @web.authenticated
    async def get(self) -> None:
        builder, catalog = self.settings["builder"], self.settings["catalog"]
        found = await off_loop(
            list_environments, self.sessions, catalog, builder, self.caller, self.prefix
        )
        self.render_page(
            "environments.html",
            environments=found,
            sections=environment_sections(self.caller, found),
            bases=[e["name"] for e in found if e["state"] == "ready"],
            xsrf=self.xsrf_token.decode(),
        )

    @web.authenticated
    async def post(self) -> None:
        """The form: make an environment, then its page (where its build shows)."""
        fields = {
            key: self.get_body_argument(key, "")
            for key in ("name", "from", "requirements", "description")
        }
        row = await off_loop(
            make_environment, self.db(), self.caller, self.settings["catalog"], fields
        )
        self.settings["builds"].start(row.id)
        self.redirect(f"{self.prefix}environments/{row.owner}/{row.name}/{row.number}")


class EnvironmentPage(PageHandler):
    def row(self, owner: str, name: str, number: str) -> CustomEnvironment:
        version = parse_number(number, "the version")
        return made.get_environment(self.db(), self.caller, owner, name, version)

    @web.authenticated
    async def get(self, owner: str, name: str, number: str) -> None:
        row = self.row(owner, name, number)
        builder, catalog = self.settings["builder"], self.settings["catalog"]
        environment = made.as_environment(row)
        info = await off_loop(describe, self.db(), catalog, builder, environment, row, "")
        log = await off_loop(_tail, self.settings["builds"].log_path(row.id))
        self.render_page(
            "environment.html",
            shared_with=self.shared_with(row),
            share_hint=f"floe env share {row.owner}/{row.name} USER_OR_TEAM",
            env=info,
            log=log,
            building=row.state in (ENV_QUEUED, ENV_BUILDING),
            xsrf=self.xsrf_token.decode(),
        )


class PublicPage(EnvironmentPage):
    """An admin's button: public (everyone may use it) or private again."""

    @web.authenticated
    def post(self, owner: str, name: str, number: str) -> None:
        row = self.row(owner, name, number)
        public = self.get_body_argument("public", "") == "1"
        made.set_public(self.db(), self.caller, row, public, self.settings["builder"])
        self.redirect(f"{self.prefix}environments/{owner}/{name}/{number}")


def _tail(path: Path) -> str:
    try:
        with path.open("rb") as log:
            log.seek(0, 2)
            log.seek(max(log.tell() - LOG_TAIL_BYTES, 0))
            return log.read().decode("utf-8", "replace")
    except FileNotFoundError:
        return ""


def routes(prefix: str) -> list[tuple]:
    one = prefix + r"environments/([^/]+)/([^/]+)/([^/]+)"
    return [
        (prefix + r"environments/?", EnvironmentsPage),
        (one + "/?", EnvironmentPage),
        (one + "/public", PublicPage),
    ]
