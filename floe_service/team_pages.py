"""HTML pages for teams: the teams you are in, and one team's members, quotas, usage against
them, and what of its work waits and why (what ``floe team show`` prints)."""

from __future__ import annotations

from tornado import web

from .handlers import PageHandler
from .teams_api import team_summary, team_view
from .workers import off_loop


class TeamsPage(PageHandler):
    @web.authenticated
    async def get(self) -> None:
        directory = await self.settings["teams"].current()
        teams = sorted(directory.teams.values(), key=lambda t: t.name)
        if not self.caller.admin:
            teams = [t for t in teams if self.caller.name in t.members]
        self.render_page("teams.html", teams=[team_summary(t, self.caller) for t in teams])


class TeamPage(PageHandler):
    @web.authenticated
    async def get(self, name: str) -> None:
        team = await self.settings["teams"].require(self.caller, name)
        view = await off_loop(
            team_view,
            self.db(),
            team,
            self.caller,
            self.settings["catalog"],
            self.datasets.user_quota_bytes,
        )
        self.render_page("team.html", team=view)


def routes(prefix: str) -> list[tuple]:
    return [
        (prefix + r"teams/?", TeamsPage),
        (prefix + r"teams/([^/]+)/?", TeamPage),
    ]
