"""REST API for shares: a dataset, a project (its jobs, logs and outputs) or an environment
shared read-only with a user or a team, without moving it (``floe data share mnist ml-lab``).

Only who manages a thing (its owner, a team's maintainers, an admin) shares it; its team's
members see whom it is shared with. The grantee must be a hub user or a team; anything else is
a 404 that says so, and nothing is kept.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from jupyterhub.utils import url_path_join
from tornado import web

from dataset_mounter import datasets as ds
from environments import custom as made
from floe.core.access import DATASET, ENVIRONMENT, PROJECT, can_write
from floe.core.errors import Forbidden, NotFound, ServiceBusy
from floe.db import sharing
from floe.db.models import Share
from jobs import records

from . import schemas
from .handlers import APIHandler
from .operations import Route, operation


def find_thing(handler: APIHandler, kind: str, owner: str, name: str) -> Any:
    """The dataset, project or environment ``owner/name`` if the caller may read it."""
    db, caller = handler.db(), handler.caller
    if kind == DATASET:
        return ds.get_dataset(db, caller, owner, name)
    if kind == PROJECT:
        return records.get_project(db, caller, owner, name)
    return made.get_named_environment(db, caller, owner, name)


async def grantee_kind(handler: APIHandler, name: str) -> str:
    """ "team" or "user" for a name the hub knows; NotFound for any other."""
    if await handler.settings["teams"].team(name) is not None:
        return "team"
    auth = handler.hub_auth
    try:
        user = await auth._api_request(
            "GET", url_path_join(auth.api_url, "users", quote(name, safe=""))
        )
    except web.HTTPError as err:
        if err.status_code >= 502:
            raise ServiceBusy("the hub cannot be asked who that is just now; try again") from None
        user = None  # the hub's 404
    if not user:
        raise NotFound(
            f"no user or team named {name}: share with a hub user's name or a team's (a hub group)"
        )
    return "user"


def share_json(row: Share, grantee_kind: str) -> dict:
    return {
        "kind": row.kind,
        "thing": f"{row.owner}/{row.name}",
        "grantee": row.grantee,
        "grantee_kind": grantee_kind,
        "created_by": row.created_by,
        "created": row.created,
    }


class SharesHandler(APIHandler):
    kind = DATASET

    @operation(
        "Whom it is shared with (its owner's members see this)",
        response=list[schemas.Share],
        errors=(400, 403, 404),
    )
    async def get(self, owner: str, name: str) -> None:
        thing = find_thing(self, self.kind, owner, name)
        if not can_write(self.caller, thing):
            raise Forbidden(f"only {owner}'s members see whom {owner}/{name} is shared with")
        teams = await self.settings["teams"].current()
        rows = sharing.shares_of(self.db(), self.kind, thing.owner, thing.share_name)
        found = [share_json(r, "team" if teams.get(r.grantee) else "user") for r in rows]
        self.send(found, shape=list[schemas.Share])


class ShareHandler(APIHandler):
    kind = DATASET

    @operation(
        "Share it read-only with a user or a team (again: no change)",
        response=schemas.Share,
        errors=(400, 403, 404, 503),
    )
    async def put(self, owner: str, name: str, grantee: str) -> None:
        thing = find_thing(self, self.kind, owner, name)
        sharing.check_may_share(self.caller, thing)
        what = await grantee_kind(self, grantee)
        row = sharing.share(self.db(), self.caller, thing, grantee)
        self.send(share_json(row, what), shape=schemas.Share)

    @operation(
        "Stop sharing it with a user or a team",
        response=schemas.Deleted,
        errors=(400, 403, 404),
    )
    async def delete(self, owner: str, name: str, grantee: str) -> None:
        thing = find_thing(self, self.kind, owner, name)
        sharing.unshare(self.db(), self.caller, thing, grantee)
        answer = {"deleted": f"the share of {owner}/{name} with {grantee}", "freed_bytes": 0}
        self.send(answer, shape=schemas.Deleted)


def _for(kind: str, base: type) -> type:
    return type(f"{kind.title()}{base.__name__}", (base,), {"kind": kind})


ROUTES = [
    Route(f"/{plural}/{{owner}}/{{name}}/shares{tail}", _for(kind, base))
    for plural, kind in (
        ("datasets", DATASET),
        ("projects", PROJECT),
        ("environments", ENVIRONMENT),
    )
    for tail, base in (("", SharesHandler), ("/{grantee}", ShareHandler))
]
