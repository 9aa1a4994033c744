"""Serving jobs' URLs: ``<prefix>serve/<owner>/<project>/<N>/…`` forwarded to the job's ``$PORT``.

Only a bearer of one of the job's serving tokens, or its owner with their hub token, gets
through (``Authorization: Bearer <token>``; ``token <token>`` works too). No cookie is read,
so a page elsewhere cannot make a logged-in browser call a job; and since what a job answers
is its owner's content on the hub's origin, it goes back inert (sandboxing CSP, nosniff)
and may set no cookie there. The caller's token and cookies never reach the job.

A request's body is held until it is sent on, within ``c.Serving.max_body_bytes`` for one and
``c.Serving.max_buffered_bytes`` for all together (past it: 503, try again shortly); the job's
answer streams back no faster than the caller reads it, so nothing of it piles up here.

Everything a request needs is held in memory after the first one (``serving_state``), so a
forwarded request costs no database query and no thread.
"""

from __future__ import annotations

import json
import time
from typing import Any

from tornado import httputil, web
from tornado.httpclient import HTTPClientError, HTTPRequest
from tornado.iostream import StreamClosedError
from tornado.simple_httpclient import HTTPTimeoutError

from floe.core.errors import (
    FloeUserError,
    Forbidden,
    Gone,
    NotFound,
    NotServingYet,
    ServiceBusy,
    TooLarge,
    Unauthorized,
)
from floe.core.job_states import FINISHED, JobState
from floe.core.refs import JobRef
from floe.core.sizes import format_size
from floe.db.models import SERVE
from jobs.runner import JobRunner
from jobs.serving import TOKEN_PREFIX

from .files import inert
from .handlers import claim_account, close_if_body_unread, drain_past, error_answer
from .serving_state import JobView, ServingState
from .workers import off_loop

# Headers that belong to one connection, or to Floe: never passed on.
HOP_BY_HOP = frozenset(
    {
        "connection",
        "keep-alive",
        "proxy-authenticate",
        "proxy-authorization",
        "proxy-connection",
        "te",
        "trailer",
        "transfer-encoding",
        "upgrade",
    }
)
NOT_TO_THE_JOB = HOP_BY_HOP | {
    "host",
    "authorization",
    "cookie",
    "content-length",
    "expect",
    "x-forwarded-for",
    "x-forwarded-host",
    "x-forwarded-proto",
    "x-forwarded-prefix",
    "x-real-ip",
}
NOT_FROM_THE_JOB = HOP_BY_HOP | {"set-cookie", "content-security-policy", "server", "date"}
ASK_FOR_TOKEN = (
    "a serving job answers only with a token: send 'Authorization: Bearer <token>' "
    "(its owner makes one with `floe serve token JOB`)"
)


class TimedOut(FloeUserError):
    status = 504


@web.stream_request_body
class ServeHandler(web.RequestHandler):
    """Forwards any method to the serving job the path names, once the caller may call it."""

    SUPPORTED_METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")

    @property
    def state(self) -> ServingState:
        return self.settings["serving"]

    @property
    def runner(self) -> JobRunner:
        return self.settings["runner"]

    def initialize(self) -> None:
        # Here, not in prepare: on_finish reads them also when tornado refuses a method first.
        self._began = time.monotonic()
        self._failed = False
        self._job: JobView | None = None
        self._owner = ""  # whose job: their bodies together may hold half the bound
        self._chunks: list[bytes] = []  # the body so far, while it fits what may be held
        self._held = self._received = 0
        self._over = self._busy = False

    async def prepare(self) -> None:
        drain_past(self.request, self.state.settings.max_body_bytes)
        owner, project, number = self.path_args[:3]
        self._owner = owner
        ref = JobRef(owner=owner, project=project, number=int(number))
        self._job = await self._allowed(ref)

    async def _allowed(self, ref: JobRef) -> JobView:
        """The job, once the caller is known to be allowed to call it."""
        token = self._bearer()
        if not token:
            raise Unauthorized(ASK_FOR_TOKEN)
        if token.startswith(TOKEN_PREFIX):
            job_id = await self.state.token_job(self.settings["sessions"], token)
            if job_id is None:
                raise Unauthorized("this serving token is not known (revoked, or mistyped)")
            job = await self.state.view(self.settings["sessions"], ref)
            if job is None or job.id != job_id:
                raise Forbidden("this serving token is for another job")
            return job
        auth = self.settings["hub_auth"]
        user = await auth.user_for_token(token, sync=False)
        if not user or not auth.check_scopes(auth.access_scopes, user):
            raise Unauthorized("this token is neither a serving token nor a hub token of yours")
        # A name deleted and made again: the first user's jobs are retired before the name
        # is compared, or the newcomer's first call would reach them.
        await claim_account(self.settings, user)
        if user.get("name") != ref.owner:
            raise Forbidden(
                f"only {ref.owner} and those holding one of the job's serving tokens may call it"
            )
        job = await self.state.view(self.settings["sessions"], ref)
        if job is None:
            raise NotFound(f"{ref.owner} has no job {ref.project}/{ref.number}")
        return job

    def _bearer(self) -> str:
        scheme, _, value = self.request.headers.get("Authorization", "").strip().partition(" ")
        return value.strip() if scheme.lower() in ("bearer", "token") else ""

    async def data_received(self, chunk: bytes) -> None:
        self._received += len(chunk)
        self._over = self._received > self.state.settings.max_body_bytes
        if not (self._over or self._busy) and self.state.bodies.take(len(chunk), self._owner):
            self._chunks.append(chunk)
            self._held += len(chunk)
            return
        # Refused (413 or 503 once the body is in): the rest is read and dropped.
        self._busy = not self._over
        self._let_body_go()

    def _let_body_go(self) -> None:
        """What this request holds of its body, given back (sent on, refused, or gone)."""
        self._chunks = []
        self.state.bodies.give_back(self._held, self._owner)
        self._held = 0

    async def _send_body(self, write: Any) -> None:
        for chunk in self._chunks:
            await write(chunk)
        self._let_body_go()

    async def _address(self, job: JobView) -> str:
        if job.mode != SERVE:
            raise NotFound(f"{job.name} is not a serving job (run it with --mode serve)")
        if job.state in FINISHED:
            raise Gone(f"{job.name} has ended ({job.state}): it serves no more")
        address = None
        if job.state == JobState.RUNNING:
            address = self.runner.known_address(job.id) or await off_loop(
                self.runner.serving_address, job.id
            )
        if address is None:
            raise NotServingYet(f"{job.name} is {job.state}: it does not answer yet")
        return address

    async def _forward(self) -> None:
        if self._over:
            limit = format_size(self.state.settings.max_body_bytes)
            raise TooLarge(f"a request to a serving job may carry at most {limit}")
        if self._busy:
            held = format_size(self.state.settings.max_buffered_bytes)
            raise ServiceBusy(
                f"the service holds {held} of requests to serving jobs already; try again shortly"
            )
        job = self._job
        address = await self._address(job)
        rest = self.path_args[3] or "/"
        url = f"http://{address}{rest}"
        if self.request.query:
            url += "?" + self.request.query
        headers = httputil.HTTPHeaders()
        for name, value in self.request.headers.get_all():
            if name.lower() not in NOT_TO_THE_JOB:
                headers.add(name, value)
        headers["X-Forwarded-For"] = self.request.remote_ip or ""
        headers["X-Forwarded-Proto"] = self.request.protocol
        headers["X-Forwarded-Host"] = self.request.host
        headers["X-Forwarded-Prefix"] = f"{self.settings['service_prefix']}serve/{job.name}"
        with_body = self._received or self.request.method in ("POST", "PUT", "PATCH")
        if with_body:
            headers["Content-Length"] = str(self._received)
        settings = self.state.settings
        self._answered = False
        request = HTTPRequest(
            url,
            method=self.request.method,
            headers=headers,
            # Sent from the chunks it came in: no second copy of the body is made.
            body_producer=self._send_body if with_body else None,
            allow_nonstandard_methods=True,
            follow_redirects=False,
            decompress_response=False,
            connect_timeout=settings.connect_timeout,
            request_timeout=settings.request_timeout,
            header_callback=self._on_header,
            streaming_callback=self._on_chunk,
        )
        try:
            response = await self.state.client.fetch(request, raise_error=False)
        except (OSError, HTTPClientError) as err:  # not reached, or broken off (599)
            self._failed = True
            if self._answered:  # the job broke off mid-answer: so does the caller's answer
                self.request.connection.close()
                return
            if isinstance(err, HTTPTimeoutError) and "during" in str(err):
                raise TimedOut(
                    f"{job.name} did not answer within {settings.request_timeout:g} s"
                ) from None
            raise NotServingYet(
                f"{job.name} is running but nothing answers on its port yet"
            ) from None
        self._failed = response.code >= 500
        try:
            self.finish()
        except Exception:  # the job broke off mid-answer: so does the caller's answer
            self.request.connection.close()

    def _on_header(self, line: str) -> None:
        if line.startswith("HTTP/"):
            parts = line.split(" ", 2)
            self._upstream = (int(parts[1]), parts[2].strip() if len(parts) > 2 else "")
            self._upstream_headers = httputil.HTTPHeaders()
            return
        if line.strip():
            self._upstream_headers.parse_line(line)
            return
        code, reason = self._upstream
        if 100 <= code < 200:
            return  # an interim answer: the real one follows
        self._answered = True
        self.set_status(code, reason or None)
        self.clear_header("Content-Type")
        for name, value in self._upstream_headers.get_all():
            if name.lower() not in NOT_FROM_THE_JOB:
                self.add_header(name, value)
        inert(self)

    async def _on_chunk(self, chunk: bytes) -> None:
        if self.request.connection.stream.closed():
            return  # the caller left: the rest of the answer goes nowhere
        self.write(chunk)
        try:
            await self.flush()  # the job's next chunk is read once the caller has this one
        except StreamClosedError:
            pass

    async def get(self, *_args: str) -> None:
        await self._forward()

    head = post = put = patch = delete = options = get

    def write_error(self, status_code: int, **kwargs: Any) -> None:
        exc = kwargs.get("exc_info", (None, None))[1]
        status, body = error_answer(self, status_code, exc)
        self._failed = status >= 500
        self.clear()
        self.set_status(status)
        if status == 401:
            self.set_header("WWW-Authenticate", 'Bearer realm="floe serve"')
        if getattr(exc, "retry_after", None):
            self.set_header("Retry-After", str(exc.retry_after))
        close_if_body_unread(self)
        inert(self)
        self.set_header("Content-Type", "application/json")
        self.finish(json.dumps(body))

    def log_exception(self, typ: type, value: BaseException | None, tb: object) -> None:
        if isinstance(value, FloeUserError):
            return
        super().log_exception(typ, value, tb)

    def on_connection_close(self) -> None:
        super().on_connection_close()
        self._let_body_go()

    def on_finish(self) -> None:
        self._let_body_go()
        job = self._job
        if job is not None and self.get_status() not in (401, 403):
            seconds = time.monotonic() - self._began
            self.state.figures.count(job.id, job.kept, seconds, self._failed)
            self.state.keep_writing(self.settings["sessions"])


def routes(prefix: str) -> list[tuple]:
    return [(prefix + r"serve/([^/]+)/([^/]+)/(\d{1,18})(/.*)?", ServeHandler)]
