"""The service's view of the hub's groups (Floe's teams), read again every little while.

Who is in a team is the hub's to say: the directory asks ``GET /hub/api/groups`` (a page of
200 groups at a time, members and properties with them) every
``c.TeamDirectory.refresh_seconds`` (20 by default), so that a member the hub removed loses
access within that time, and a request costs a dict lookup, never a call to the hub. A team
name nobody has heard of makes it ask again at once (at most every ``min_refresh_seconds``):
a team just made is usable at once. If the hub cannot be asked for ``max_age_seconds``, the
directory forgets every team rather than trust members it can no longer check.
"""

from __future__ import annotations

import asyncio
import json
import time
from urllib.parse import quote

from jupyterhub.utils import url_path_join
from tornado import web
from tornado.log import app_log
from traitlets import Float
from traitlets.config import LoggingConfigurable

from floe.core.access import Caller
from floe.core.errors import InvalidRequest, NotFound
from floe.core.teams import MAINTAINERS, Directory, Team, named_like_user, team_name_problem

PAGE = 200


class TeamDirectory(LoggingConfigurable):
    """Teams (hub groups), their members and maintainers, as the hub last said."""

    refresh_seconds = Float(
        20.0,
        config=True,
        help="""Seconds between readings of the hub's groups: a member removed from a group
        loses access to the team's things within this time.""",
    )
    min_refresh_seconds = Float(
        2.0,
        config=True,
        help="""Least seconds between two readings asked for by a request naming a team the
        directory does not know (a team just made), so such names cannot flood the hub.""",
    )
    max_age_seconds = Float(
        60.0,
        config=True,
        help="""Seconds the last reading is trusted while the hub cannot be asked; past it every
        team's members are treated as unknown (nobody reads through a team) until it answers.""",
    )

    def __init__(self, hub_auth: object, **kwargs: object) -> None:
        super().__init__(**kwargs)
        self.hub_auth = hub_auth
        self._directory = Directory()
        self._read_at = -1e9  # monotonic time of the last good reading
        self._tried_at = -1e9
        self._reading: asyncio.Future | None = None
        self.readings = 0
        self._user_named: dict[str, bool] = {}  # group name -> a hub user has it too

    # --- reading --------------------------------------------------------------------------

    async def current(self) -> Directory:
        """The directory, read again first if it is older than ``refresh_seconds``."""
        if time.monotonic() - self._read_at >= self.refresh_seconds:
            await self.refresh()
        if time.monotonic() - self._read_at > self.max_age_seconds:
            return Directory()  # fail closed: members the hub cannot confirm read nothing
        return self._directory

    async def refresh(self, *, soon: bool = False) -> None:
        """Read the hub's groups now (one reading at a time: others wait for it). ``soon``:
        only if the last try was ``min_refresh_seconds`` ago or more."""
        if soon and time.monotonic() - self._tried_at < self.min_refresh_seconds:
            return
        if self._reading is None:
            self._reading = asyncio.ensure_future(self._read())
        reading = self._reading
        try:
            await asyncio.shield(reading)
        finally:
            if reading.done() and self._reading is reading:
                self._reading = None

    async def _read(self) -> None:
        self._tried_at = time.monotonic()
        try:
            models = await self._groups()
            teams, refused = [], {}
            for model in models:
                # The hub refuses a group named like a user (hub_config.teams), but one made
                # before Floe did is refused here; the name must also be one an owner can have.
                why = team_name_problem(model["name"])
                if not why and await self._named_like_user(model["name"]):
                    why = named_like_user(model["name"])
                if why:
                    refused[model["name"]] = why
                else:
                    teams.append(Team.from_group(model))
        except Exception as err:  # the hub down, or an answer not as documented
            app_log.warning("Could not read the hub's groups (teams): %s", err)
            return
        self._directory = Directory.of(teams, refused)
        self._read_at = time.monotonic()
        self.readings += 1

    async def _named_like_user(self, name: str) -> bool:
        """Whether a hub user has the group's name: asked once a name (the hub refuses such a
        user from then on), so a reading costs one request a page of groups."""
        known = self._user_named.get(name)
        if known is None:
            auth = self.hub_auth
            url = url_path_join(auth.api_url, "users", quote(name, safe=""))
            try:
                known = bool(await auth._api_request("GET", url))
            except web.HTTPError as err:
                if err.status_code >= 502:
                    raise
                known = False  # the hub's 404
            self._user_named[name] = known
        return known

    async def _groups(self) -> list[dict]:
        auth = self.hub_auth
        found: list[dict] = []
        offset = 0
        while True:
            url = url_path_join(auth.api_url, "groups") + f"?offset={offset}&limit={PAGE}"
            page = await auth._api_request(
                "GET", url, headers={"Accept": "application/jupyterhub-pagination+json"}
            )
            items = page.get("items", []) if isinstance(page, dict) else list(page or [])
            found.extend(m for m in items if isinstance(m, dict) and isinstance(m.get("name"), str))
            if not isinstance(page, dict) or not (page.get("_pagination") or {}).get("next"):
                return found
            offset += len(items)
            if not items:
                return found

    # --- answers --------------------------------------------------------------------------

    async def caller(self, model: dict) -> Caller:
        """The caller a hub user model names, with their teams as the hub last said."""
        if model.get("kind", "user") != "user":
            return Caller.from_hub(model)
        teams, maintains = (await self.current()).teams_of(model["name"])
        return Caller.from_hub(model, teams, maintains)

    async def team(self, name: str) -> Team | None:
        """The team ``name``; a name not known yet makes the directory read the hub again."""
        directory = await self.current()
        if directory.get(name) is None and name not in directory.refused:
            await self.refresh(soon=True)
            directory = await self.current()
        return directory.get(name)

    async def require(self, caller: Caller, name: str) -> Team:
        """The team ``name`` as ``caller`` may see it (a member, or an admin); else NotFound,
        with why where the group exists but cannot be a team."""
        team = await self.team(name)
        directory = await self.current()
        if name in directory.refused and caller.admin:
            raise InvalidRequest(directory.refused[name])
        if team is None or not (caller.admin or caller.name in team.members):
            raise NotFound(f"no team {name} that you are a member of")
        return team

    async def knows(self, name: str) -> bool:
        return await self.team(name) is not None

    async def set_maintainers(self, team: Team, maintainers: set[str]) -> Team:
        """Make ``maintainers`` (members of ``team``) its maintainers, in the hub's group."""
        auth = self.hub_auth
        current = await auth._api_request("GET", url_path_join(auth.api_url, "groups", team.name))
        properties = dict((current or {}).get("properties") or {})
        properties[MAINTAINERS] = sorted(maintainers)
        await auth._api_request(
            "PUT",
            url_path_join(auth.api_url, "groups", quote(team.name, safe=""), "properties"),
            data=json.dumps(properties),
            headers={"Content-Type": "application/json"},
        )
        await self.refresh()
        return (await self.current()).get(team.name) or team
