"""REST API for teams: the hub's groups as Floe sees them, with each team's settings, what it
uses against them, and what of its work waits and why.

Members (and admins) read a team; its maintainers name other maintainers (kept in the hub
group's ``maintainers`` property); only an admin sets its quotas and shares. A team the caller
is not in is a 404, like any name that is no team.
"""

from __future__ import annotations

from collections import Counter

from sqlalchemy import select
from sqlalchemy.orm import Session

from containers.catalog import Catalog
from dataset_mounter.keep import storage_used
from floe.core.access import Caller
from floe.core.errors import Forbidden, InvalidRequest
from floe.core.job_states import JobState
from floe.core.teams import Team
from floe.db.models import Job
from floe.db.team_settings import settings_json, settings_of, storage_quota, update_settings

from . import schemas
from .handlers import APIHandler
from .operations import Route, operation

WAITING_SHOWN = 100


def team_summary(team: Team, caller: Caller) -> dict:
    return {**team.public(), "you_maintain": caller.name in team.maintainers}


def team_view(db: Session, team: Team, caller: Caller, catalog: Catalog, quota: int) -> dict:
    """A team as its page and ``GET /api/teams/NAME`` show it."""
    running = db.execute(
        select(Job.machine).where(
            Job.owner == team.name, Job.state.in_([JobState.STARTING, JobState.RUNNING])
        )
    ).scalars()
    by_machine = Counter(running)
    gpus = 0
    for slug, count in by_machine.items():
        machine = catalog.machine_by_slug(slug)
        gpus += (machine.gpus if machine else 0) * count
    queued = list(
        db.scalars(
            select(Job)
            .where(Job.owner == team.name, Job.state == JobState.QUEUED)
            .order_by(Job.id)
            .limit(WAITING_SHOWN)
        )
    )
    queued_count = db.query(Job).filter(Job.owner == team.name, Job.state == JobState.QUEUED)
    return {
        **team_summary(team, caller),
        "settings": settings_json(settings_of(db, team.name)),
        "usage": {
            "running": sum(by_machine.values()),
            "gpus": gpus,
            "queued": queued_count.count(),
            "running_by_machine": dict(by_machine),
            "storage_bytes": storage_used(db, team.name),
            "storage_quota_bytes": storage_quota(db, team.name, quota),
        },
        "waiting": [
            {
                "name": job.full_name,
                "submitted_by": job.runner,
                "machine": job.machine,
                "reason": job.reason or "",
            }
            for job in queued
        ],
    }


def check_settings(change: schemas.TeamSettingsChange, catalog: Catalog) -> dict:
    """The fields given, with shares only of machine types the catalog has."""
    given = change.model_dump(include=change.model_fields_set)
    known = [m.slug for m in catalog.machine_list()]
    for slug in (given.get("shares") or {}).keys():
        if slug not in known:
            raise InvalidRequest(
                f"shares: no machine type {slug!r}; machine types: {', '.join(known)}",
                field="shares",
            )
    return given


class TeamAPIHandler(APIHandler):
    async def team(self, name: str) -> Team:
        return await self.settings["teams"].require(self.caller, name)

    def view(self, team: Team) -> dict:
        return team_view(
            self.db(),
            team,
            self.caller,
            self.settings["catalog"],
            self.datasets.user_quota_bytes,
        )


class TeamsHandler(TeamAPIHandler):
    @operation(
        "The teams you are in (an admin: every team)",
        response=list[schemas.TeamSummary],
        errors=(),
    )
    async def get(self) -> None:
        directory = await self.settings["teams"].current()
        teams = sorted(directory.teams.values(), key=lambda t: t.name)
        if not self.caller.admin:
            teams = [t for t in teams if self.caller.name in t.members]
        found = [team_summary(t, self.caller) for t in teams]
        self.send(found, shape=list[schemas.TeamSummary])


class TeamHandler(TeamAPIHandler):
    @operation(
        "A team: members, maintainers, settings, usage and what waits, and why",
        response=schemas.Team,
    )
    async def get(self, team: str) -> None:
        found = await self.team(team)
        self.send(await self.off_loop(self.view, found), shape=schemas.Team)


class TeamSettingsHandler(TeamAPIHandler):
    @operation(
        "Set a team's quotas and shares of the machine types (admins; null: the default)",
        body=schemas.TeamSettingsChange,
        response=schemas.Team,
        errors=(400, 403, 404),
    )
    async def put(self, team: str) -> None:
        change = await self.body(schemas.TeamSettingsChange)
        found = await self.team(team)
        if not self.caller.admin:
            raise Forbidden(f"only an admin sets {team}'s quotas and shares")
        given = check_settings(change, self.settings["catalog"])
        await self.off_loop(self._update, found.name, given)
        self.settings["runner"].wake()
        self.send(await self.off_loop(self.view, found), shape=schemas.Team)

    def _update(self, team: str, given: dict) -> None:
        update_settings(self.db(), team, given)


class MaintainerHandler(TeamAPIHandler):
    async def _change(self, team: str, user: str, add: bool) -> None:
        found = await self.team(team)
        if not (self.caller.admin or self.caller.name in found.maintainers):
            await self.settings["teams"].refresh(soon=True)  # named a moment ago, maybe
            found = await self.team(team)
        if not (self.caller.admin or self.caller.name in found.maintainers):
            raise Forbidden(
                f"only {team}'s maintainers ({', '.join(sorted(found.maintainers)) or 'none'}) "
                "or an admin name its maintainers"
            )
        if user not in found.members:
            raise InvalidRequest(
                f"{user} is not a member of {team}: add them to the hub group first"
            )
        wanted = set(found.maintainers)
        wanted = wanted | {user} if add else wanted - {user}
        changed = await self.settings["teams"].set_maintainers(found, wanted)
        self.send(await self.off_loop(self.view, changed), shape=schemas.Team)

    @operation(
        "Make a member a maintainer (maintainers and admins)",
        response=schemas.Team,
        errors=(400, 403, 404),
    )
    async def put(self, team: str, user: str) -> None:
        await self._change(team, user, add=True)

    @operation(
        "Make a maintainer a plain member again (maintainers and admins)",
        response=schemas.Team,
        errors=(400, 403, 404),
    )
    async def delete(self, team: str, user: str) -> None:
        await self._change(team, user, add=False)


ROUTES = [
    Route("/teams", TeamsHandler),
    Route("/teams/{team}", TeamHandler),
    Route("/teams/{team}/settings", TeamSettingsHandler),
    Route("/teams/{team}/maintainers/{user}", MaintainerHandler),
]
