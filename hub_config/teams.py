"""The hub's side of teams: a group (a team) and a user never share a name, refused at
whichever is made second, with a message saying why.

Floe's authenticator puts these handlers before JupyterHub's own (an authenticator's handlers
come first), so the hub's REST API and its admin page, which calls it, both meet the check.
"""

from __future__ import annotations

import json

from jupyterhub import orm
from jupyterhub.apihandlers.groups import GroupAPIHandler, GroupListAPIHandler
from jupyterhub.apihandlers.users import UserAPIHandler, UserListAPIHandler
from tornado import web

from floe.core.teams import named_like_team, named_like_user, team_name_problem


def _body(handler: web.RequestHandler) -> dict:
    try:
        body = json.loads(handler.request.body or b"{}")
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}


def _check_group_names(handler: web.RequestHandler, names: object) -> None:
    for name in names if isinstance(names, list) else ():
        if not isinstance(name, str):
            continue
        problem = team_name_problem(name)
        if problem:
            raise web.HTTPError(400, problem)
        if orm.User.find(handler.db, name) is not None:
            raise web.HTTPError(400, named_like_user(name))


def _check_user_names(handler: web.RequestHandler, names: object) -> None:
    for name in names if isinstance(names, list) else ():
        if isinstance(name, str) and orm.Group.find(handler.db, name) is not None:
            raise web.HTTPError(400, named_like_team(name))


class TeamGroupHandler(GroupAPIHandler):
    async def post(self, group_name: str) -> None:
        _check_group_names(self, [group_name])
        await super().post(group_name)


class TeamGroupListHandler(GroupListAPIHandler):
    async def post(self) -> None:
        _check_group_names(self, _body(self).get("groups"))
        await super().post()


class TeamUserHandler(UserAPIHandler):
    async def post(self, user_name: str) -> None:
        _check_user_names(self, [self.authenticator.normalize_username(user_name)])
        await super().post(user_name)


class TeamUserListHandler(UserListAPIHandler):
    async def post(self) -> None:
        names = _body(self).get("usernames")
        if isinstance(names, list):
            names = [self.authenticator.normalize_username(n) for n in names if isinstance(n, str)]
        _check_user_names(self, names)
        await super().post()


# Routes as JupyterHub's own (under the hub prefix), answered first.
TEAM_HANDLERS = [
    (r"/api/groups", TeamGroupListHandler),
    (r"/api/groups/([^/]+)", TeamGroupHandler),
    (r"/api/users", TeamUserListHandler),
    (r"/api/users/([^/]+)", TeamUserHandler),
]


def is_group(db: object, name: str) -> bool:
    """Whether the hub has a group called ``name`` (a sign-up by that name is refused)."""
    return db is not None and orm.Group.find(db, name) is not None
