"""What a user picks for a workspace: the spawn form (the catalog's environments and machine
types, their datasets, the GPUs free), and the picked options checked before a start, with
the time an environment's build adds to the start timeout.

A part of ``WorkspaceSpawner``; it uses the spawner's ``catalog``, ``database``, ``builder``,
``gpu_allocator``, ``user_options``, ``start_timeout`` and ``docker``.
"""

from __future__ import annotations

from jupyterhub.utils import isoformat
from sqlalchemy.orm import Session
from tornado import web

from containers.catalog import Environment
from containers.gpu import GPU_LABEL, gpus_on_labels
from containers.options import WorkspaceOptions, parse_user_options
from environments.custom import find_environment
from floe.core.access import Caller
from floe.core.errors import FloeUserError
from floe.core.teams import memberships
from floe.db.accounts import claim_name
from floe.db.sharing import with_shares

from .options_form import dataset_choices, environment_choices, render_options_form


class WorkspaceChoices:
    """The options part of a workspace spawner: JupyterHub's ``options_form`` and
    ``apply_user_options`` hooks call into it."""

    _configured_start_timeout: int | None = None

    async def _render_options_form(self, spawner: object) -> str:
        gpus_free, gpus_total = await self._gpus_free_and_total()
        with self.database.sessions() as db:
            self._claim_name(db)
        caller = self._caller
        return render_options_form(
            self.catalog,
            caller,
            environment_choices(self.database.sessions, self.catalog, caller),
            self.user_options or {},
            dataset_choices(self.database.sessions, caller),
            gpus_free,
            gpus_total,
        )

    async def _gpus_free_and_total(self) -> tuple[int, int]:
        """This machine's GPUs: those free now, and all of them."""
        if not self.gpu_allocator.total:
            return 0, 0
        # Jobs hold GPUs too: their containers' labels say which.
        running = await self.docker("containers", filters={"label": GPU_LABEL})
        return len(self.gpu_allocator.free_ids(gpus_on_labels(running))), self.gpu_allocator.total

    def _claim_name(self, db: Session) -> None:
        """What Floe keeps under this name is this hub user's (``floe.db.accounts``): asked
        before anything of theirs is offered or used, a workspace being a newcomer's first
        act (the hub's REST API writes ``created`` the same way, so both agree)."""
        claim_name(db, self.user.name, isoformat(self.user.created))

    @property
    def _member(self) -> Caller:
        """The user and their teams: the hub groups they are in (the hub's own database, in
        this process). Enough for the catalog's entries limited by team."""
        groups = [(g.name, g.properties) for g in getattr(self.user, "groups", None) or ()]
        teams, maintains = memberships(self.user.name, groups)
        return Caller(
            name=self.user.name,
            admin=bool(getattr(self.user, "admin", False)),
            teams=teams,
            maintains=maintains,
        )

    @property
    def _caller(self) -> Caller:
        """The user as Floe's access rules see them: with their teams, what is shared with
        them (read from Floe's database)."""
        with self.database.sessions() as db:
            return with_shares(db, self._member)

    def _apply_options(self, user_options: dict) -> WorkspaceOptions:
        """Check the options; a start on a built environment may build it first, so it gets
        the build's time on top of c.Spawner.start_timeout (JupyterHub reads it after this)."""
        options = self._parse_options(user_options)
        if self._configured_start_timeout is None:
            self._configured_start_timeout = self.start_timeout
        extra = self.builder.build_timeout if options.environment.built else 0
        self.start_timeout = self._configured_start_timeout + extra
        return options

    def _parse_options(self, user_options: dict | None = None) -> WorkspaceOptions:
        """The options checked as this user may use the catalog: a team's machine type or
        environment is unknown to whoever is not in the team (refused like a made-up one)."""
        raw = self.user_options if user_options is None else user_options
        try:
            return parse_user_options(raw, self.catalog, self._member, self._find_environment)
        except FloeUserError as err:
            raise web.HTTPError(err.status, err.message) from err

    def _find_environment(self, name: str) -> Environment:
        """A made environment the user may use (``owner/name:N``), or a catalog one."""
        with self.database.sessions() as db:
            self._claim_name(db)
            return find_environment(db, self.catalog, name, self._caller)
