"""Base handlers of the floe service: hub authentication, the caller, and the one error map.

Every answer that is not a success goes through :meth:`BaseHandler.write_error`: a
:class:`~floe.core.errors.FloeUserError` keeps its status and message, tornado's own errors
(405, a body over its limit) keep theirs, anything else is a 500 that says nothing more. The
API answers ``{"error": "…"}`` as JSON; pages answer a small HTML page with the same words.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import AsyncIterator
from functools import cache
from typing import Any

from jupyterhub.services.auth import HubOAuth, HubOAuthenticated
from jupyterhub.utils import url_path_join
from pydantic import BaseModel, TypeAdapter, ValidationError
from sqlalchemy.orm import Session, sessionmaker
from tornado import web
from tornado.log import app_log

from dataset_mounter.settings import DatasetSettings
from floe.core.access import Caller, can_write
from floe.core.errors import FloeUserError, InvalidRequest, NotFound, TooLarge, Unauthorized
from floe.core.jsonvalues import NotKeepable, loads_keepable
from floe.core.sizes import format_size
from floe.db.accounts import check_not_retired, claim_name
from floe.db.sharing import shares_of, with_shares

from .limits import RequestLimits
from .rendering import render
from .validation import invalid_request
from .workers import off_loop

LOGIN_HINT = "log in, or send 'Authorization: token <hub API token>'"
# How long a user's hub creation time, once asked for, is trusted before asking again.
ACCOUNT_RECHECK_S = 60


@cache
def adapter(shape: Any) -> TypeAdapter:
    return TypeAdapter(shape)


def served_methods(handler: type[web.RequestHandler]) -> list[str]:
    """The methods ``handler`` answers: tornado's that it defines (an API handler's are the
    operations the OpenAPI document declares, ``operations.Route``)."""
    return [
        method
        for method in handler.SUPPORTED_METHODS
        if getattr(handler, method.lower()) is not getattr(web.RequestHandler, method.lower())
    ]


def error_answer(handler: web.RequestHandler, status: int, exc: BaseException | None) -> tuple:
    """``(status, body)`` for an error: the one map from exceptions to what a user reads."""
    if isinstance(exc, FloeUserError):
        return exc.status, exc.body()
    if isinstance(exc, web.HTTPError) and exc.log_message:
        return exc.status_code, {
            "error": exc.log_message % exc.args if exc.args else exc.log_message
        }
    return status, {"error": handler._reason}


async def claim_account(settings: dict, model: dict | None) -> None:
    """What Floe keeps under this hub user's name is this hub user's (``floe.db.accounts``):
    asked of every request that acts as a user, before it reads anything of theirs."""
    if not model or model.get("kind", "user") != "user":
        return
    name, seen = model["name"], settings["accounts"]
    check_not_retired(name)
    created = model.get("created")
    if created is None:  # a token that may not read it (a workspace's): ask the hub
        known = seen.get(name)
        if known and time.monotonic() - known[1] < ACCOUNT_RECHECK_S:
            return
        auth = settings["hub_auth"]
        user = await auth._api_request(
            "GET", url_path_join(auth.api_url, "users", name), allow_403=True
        )
        created = (user or {}).get("created")
        if created is None:
            return
    if seen.get(name, (None,))[0] != created:
        await off_loop(_claim, settings["sessions"], name, created)
    seen[name] = (created, time.monotonic())


def _claim(sessions: sessionmaker, name: str, created: str) -> None:
    with sessions() as db:
        claim_name(db, name, created)


class BaseHandler(HubOAuthenticated, web.RequestHandler):
    """Every request is a hub user's: by API token (``Authorization: token …``) or hub login."""

    html_errors = False

    @property
    def hub_auth(self) -> HubOAuth:
        return self.settings["hub_auth"]

    @hub_auth.setter
    def hub_auth(self, auth: HubOAuth) -> None:
        pass  # HubAuthenticated's default; Floe's comes from the application's settings

    @property
    def datasets(self) -> DatasetSettings:
        return self.settings["datasets"]

    @property
    def sessions(self) -> sessionmaker:
        return self.settings["sessions"]

    def db(self) -> Session:
        if not hasattr(self, "_db"):
            self._db = self.sessions()
        return self._db

    def release_db(self) -> None:
        """Give the database connection back now, before a long answer (a followed log,
        a download): what was read from it stays usable."""
        if hasattr(self, "_db"):
            self._db.close()
            del self._db

    def on_finish(self) -> None:
        self.release_db()

    async def claim_account(self) -> None:
        await claim_account(self.settings, self.current_user)
        await self.know_caller()

    async def know_caller(self) -> None:
        """Who the caller is, once per request: their teams as the hub last said
        (``TeamDirectory``), and what is shared with them or their teams (one query)."""
        model = self.current_user
        if model is None or model.get("kind", "user") != "user":
            return
        caller = await self.settings["teams"].caller(model)
        # A session of its own, given back at once: a request that then waits (its turn to
        # submit, a followed log) must not hold a connection of the pool meanwhile.
        with self.sessions() as db:
            self._caller = with_shares(db, caller)

    async def caller_in(self, owner: str | None) -> Caller:
        """The caller, sure to know ``owner`` if it is a team of theirs: a team the hub made a
        moment ago is read at once, or after ``c.TeamDirectory.min_refresh_seconds`` where the
        hub was read less than that ago (the wait a name nobody is in costs, bounded)."""
        if owner and not self.caller.member_of(owner):
            teams = self.settings["teams"]
            await teams.refresh(soon=True)
            await self.know_caller()
            if not self.caller.member_of(owner):  # read a moment before the group was made
                await asyncio.sleep(teams.min_refresh_seconds)
                await teams.refresh(soon=True)
                await self.know_caller()
        return self.caller

    @contextlib.asynccontextmanager
    async def queueing(self) -> AsyncIterator[None]:
        """One submit or re-run of the caller's at a time: the rest wait here, on the event
        loop, never holding a worker thread that others' requests need."""
        async with self.settings["queueing"][self.caller.name]:
            yield

    @property
    def caller(self) -> Caller:
        known = getattr(self, "_caller", None)
        if known is not None and known.name == self.current_user["name"]:
            return known
        return Caller.from_hub(self.current_user)  # before ``know_caller``: no teams yet

    def shared_with(self, thing: object) -> list[str] | None:
        """Whom ``thing`` is shared with, for its owner's members (None for anyone else)."""
        if not can_write(self.caller, thing):
            return None
        found = shares_of(self.db(), thing.share_kind, thing.owner, thing.share_name)
        return [share.grantee for share in found]

    @property
    def prefix(self) -> str:
        return self.settings["service_prefix"]

    def write_error(self, status_code: int, **kwargs: Any) -> None:
        status, body = error_answer(self, status_code, kwargs.get("exc_info", (None, None))[1])
        self.set_status(status)
        if status == 405:  # a method this resource does not have: say which it has (RFC 9110)
            self.set_header("Allow", ", ".join(served_methods(type(self))))
        if self.html_errors:
            self.set_header("Content-Type", "text/html; charset=utf-8")
            self.finish(
                render("error.html", prefix=self.prefix, user=None, status=status, body=body)
            )
            return
        self.set_header("Content-Type", "application/json")
        self.finish(json.dumps(body, default=str))

    def log_exception(self, typ: type, value: BaseException | None, tb: object) -> None:
        if isinstance(value, FloeUserError):
            app_log.info("%s %s: %s", self.request.method, self.request.path, value)
            return
        super().log_exception(typ, value, tb)


def parse_json(body: bytes) -> Any:
    """A request body as JSON that Floe can keep and give back (see ``floe.core.jsonvalues``)."""
    try:
        return loads_keepable(body.decode("utf-8"))
    except UnicodeDecodeError as err:
        raise InvalidRequest(
            f"the request body is not UTF-8: {err.reason} at byte {err.start}"
        ) from None
    except NotKeepable as err:
        raise InvalidRequest(f"the request body is not JSON Floe can keep: {err}") from None


def drain_past(request: Any, limit: int) -> None:
    """Let a streamed body run past ``limit``: a body over its limit is read and dropped, then
    answered 413 (answering before it is read would cut the sender off mid-send, with no
    answer at all). Past twice the limit the connection is closed instead."""
    request.connection.set_max_body_size(2 * limit + 1024**2)


def close_if_body_unread(handler: web.RequestHandler) -> None:
    """An answer before the request was read to its end (refused, or a method tornado does
    not serve) makes tornado close the connection. Say so, or the hub's proxy sends the next
    request, maybe someone else's, down it and that one gets a 503."""
    body = getattr(handler.request, "_body_future", None)  # tornado's, when bodies stream
    if body is not None and not body.done():
        handler.set_header("Connection", "close")


# Bodies larger than this are parsed and checked on a worker thread, off the event loop.
PARSE_ON_LOOP_BYTES = 256 * 1024


def _check_body(data: bytes, model: type[BaseModel]) -> BaseModel:
    value = parse_json(data or b"{}")
    if not isinstance(value, dict):
        raise InvalidRequest("the request body must be a JSON object")
    try:
        return model.model_validate(value)
    except ValidationError as err:
        raise invalid_request(err, model) from None


@web.stream_request_body
class APIHandler(BaseHandler):
    """JSON in, JSON out; every error is ``{"error": "…"}`` with its 4xx status.

    Bodies are read only once the caller is known, and only up to their limit
    (``RequestLimits``): past it the answer is 413 before the rest arrives.
    """

    async def prepare(self) -> None:
        self._received = bytearray()
        self._over_limit = False
        self.authenticate()
        await self.claim_account()
        drain_past(self.request, self.body_limit)

    def authenticate(self) -> None:
        if self.current_user is None:
            raise Unauthorized(LOGIN_HINT)

    def get_login_url(self) -> str:
        raise Unauthorized(LOGIN_HINT)

    @property
    def limits(self) -> RequestLimits:
        return self.settings["limits"]

    @property
    def body_limit(self) -> int:
        return self.limits.json_bytes

    def check_size(self) -> None:
        """TooLarge (413) if the body went over its limit."""
        if self._over_limit:
            raise TooLarge(f"the request body may be at most {format_size(self.body_limit)}")

    async def data_received(self, chunk: bytes) -> None:
        self._over_limit = self._over_limit or len(self._received) + len(chunk) > self.body_limit
        if not self._over_limit:
            self._received += chunk

    async def off_loop(self, work: Any, *args: Any) -> Any:
        """Run ``work(*args)`` on a worker thread (database work over large requests)."""
        return await off_loop(work, *args)

    async def body(self, model: type[BaseModel]) -> BaseModel:
        """The JSON body, checked against ``model`` (a large one on a worker thread)."""
        self.check_size()
        data = bytes(self._received)
        if len(data) <= PARSE_ON_LOOP_BYTES:
            return _check_body(data, model)
        return await off_loop(_check_body, data, model)

    def write_error(self, status_code: int, **kwargs: Any) -> None:
        close_if_body_unread(self)
        super().write_error(status_code, **kwargs)

    def query(self, model: type[BaseModel]) -> BaseModel:
        """The query string, checked against ``model`` (the first value of each argument)."""
        args = {k: self.get_query_argument(k) for k in self.request.query_arguments}
        try:
            return model.model_validate(args)
        except ValidationError as err:
            raise invalid_request(err, model) from None

    def send(self, data: Any, status: int = 200, shape: Any = None) -> None:
        """Answer ``data`` as JSON, written through ``shape`` (a model or ``list[model]``)
        when given, so the answer is what the OpenAPI document says."""
        self.set_status(status)
        self.set_header("Content-Type", "application/json")
        if shape is None:
            self.finish(json.dumps(data, default=str))
            return
        typed = adapter(shape)
        self.finish(json.dumps(typed.dump_python(typed.validate_python(data), mode="json")))


class PageHandler(BaseHandler):
    """An HTML page; errors are pages too."""

    html_errors = True

    async def prepare(self) -> None:
        if self.current_user is not None:
            await self.claim_account()

    def render_page(self, name: str, **context: object) -> None:
        self.finish(
            render(name, prefix=self.prefix, user=self.caller, api=self.prefix + "api/", **context)
        )


class NotFoundHandler(BaseHandler):
    """Anything no route matches: 404 as JSON under api/, as a page elsewhere."""

    def prepare(self) -> None:
        self.html_errors = "/api/" not in self.request.path
        raise NotFound(f"nothing at {self.request.path}")
