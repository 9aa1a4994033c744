"""The one part of the hub the fast tier fakes: the hub API's answer to "whose token is this?".

Everything else of JupyterHub's service authentication (the token header, scope checks, the
user model) runs as in production; only the HTTP call to ``/hub/api/user`` is answered here.
"""

from __future__ import annotations

import json
import secrets
from urllib.parse import unquote, urlsplit

from jupyterhub.services.auth import HubOAuth
from tornado import web

from floe.core.access import ADMIN_SCOPE

SERVICE_SCOPE = "access:services!service=floe"


class FakeHubAuth(HubOAuth):
    """HubOAuth whose hub is a dict of tokens."""

    def __init__(self, **kwargs: object) -> None:
        super().__init__(
            api_url="http://127.0.0.1:9/hub/api/",
            api_token="fake-service-token",
            oauth_client_id="service-floe",
            base_url="/services/floe/",
            access_scopes={SERVICE_SCOPE},
            cache_max_age=0,
            **kwargs,
        )
        self.users: dict[str, dict] = {}  # token -> user model
        self.groups: dict[str, dict] = {}  # name -> group model (Floe's teams)
        self.made = 0

    def add_user(self, name: str, *, admin: bool = False, scopes: tuple | None = None) -> str:
        """A token of a new hub user ``name``; an admin's carries Floe's admin scope unless
        ``scopes`` says otherwise (as a token made inside their workspace would)."""
        if scopes is None:
            scopes = (SERVICE_SCOPE, ADMIN_SCOPE) if admin else (SERVICE_SCOPE,)
        token = secrets.token_hex(16)
        self.made += 1
        created = f"2026-11-22T00:00:{self.made:02d}.{self.made:06d}Z"
        self.users[token] = {
            "kind": "user",
            "name": name,
            "admin": admin,
            "scopes": list(scopes),
            "created": created,
        }
        return token

    def remake_user(self, name: str) -> str:
        """Delete ``name`` from the hub and make a new user of that name: a new token."""
        for token, model in list(self.users.items()):
            if model["name"] == name:
                del self.users[token]
        return self.add_user(name)

    def add_group(self, name: str, members: list[str], maintainers: list[str] = ()) -> None:
        """A hub group (a team), as ``POST /hub/api/groups/NAME`` with its users makes it."""
        self.groups[name] = {
            "kind": "group",
            "name": name,
            "users": list(members),
            "properties": {"maintainers": list(maintainers)} if maintainers else {},
        }

    def remove_member(self, group: str, name: str) -> None:
        self.groups[group]["users"].remove(name)

    async def _api_request(self, method: str, url: str, /, **kwargs: object) -> dict | None:
        path = urlsplit(url).path
        if "/groups" in path:
            return self._groups(method, path, kwargs)
        assert method == "GET", url
        if path.endswith("/user"):
            token = kwargs["headers"]["Authorization"].removeprefix("token ")
            return self.users.get(token)  # None: the hub answered 403 for an unknown token
        name = path.rsplit("/", 1)[1]  # /users/<name>, as the service asks with its own token
        return next((m for m in self.users.values() if m["name"] == name), None)

    def _groups(self, method: str, path: str, kwargs: dict) -> object:
        rest = path.split("/groups", 1)[1].strip("/")
        if not rest:
            items = [json.loads(json.dumps(g)) for g in self.groups.values()]
            return {"items": items, "_pagination": {"next": None}}
        name, _, what = rest.partition("/")
        name = unquote(name)
        if name not in self.groups:
            raise web.HTTPError(500, "Failed to check authorization")  # as HubAuth answers 404
        if method == "PUT" and what == "properties":
            self.groups[name]["properties"] = json.loads(kwargs["data"])
        return json.loads(json.dumps(self.groups[name]))
