"""User errors: one class per kind of mistake, each with the HTTP status it maps to.

Every mistake a user can make is a :class:`FloeUserError`; the floe service (API and pages),
the spawner, the workspace extension and the command line each turn it into an answer in one
place, so the message a user reads is written once and nothing a user sends becomes a 5xx.
"""

from __future__ import annotations


class FloeUserError(Exception):
    """Something the user asked for cannot be done; the message says what would work."""

    status = 400

    def __init__(self, message: str, **extra: object) -> None:
        super().__init__(message)
        self.message = message
        self.extra = extra  # more JSON fields for the error body, e.g. the missing blobs

    def naming(self, field: str) -> FloeUserError:
        """The same error, said to be about ``field`` (in the message and as ``field``)."""
        self.extra.setdefault("field", field)
        if not self.message.startswith(f"{field}: "):
            self.message = f"{field}: {self.message}"
            self.args = (self.message,)
        return self

    def body(self) -> dict[str, object]:
        """The JSON answer: ``{"error": message, **extra}``."""
        return {"error": self.message, **self.extra}


class InvalidRequest(FloeUserError):
    """A request that is malformed: not JSON, a field of the wrong type, an unknown field."""


class BadName(FloeUserError):
    """A name or reference (dataset, project, job, output, mount) that is not well formed."""


class BadMount(FloeUserError):
    """A mount point that is not absolute, not under an allowed root, or taken twice."""


class BadTree(FloeUserError):
    """A manifest or file path that cannot be part of a Floe tree; the message names the file."""


class BadPack(FloeUserError):
    """A pack of blobs whose framing is broken."""


class InvalidOptions(FloeUserError):
    """The spawn options are malformed (wrong type, unknown key)."""


class UnknownEnvironment(FloeUserError):
    """The environment slug is not in the catalog."""


class UnknownMachine(FloeUserError):
    """The machine slug is not in the catalog."""


class Unauthorized(FloeUserError):
    """No user could be identified: not logged in, no token, or a token the hub refused."""

    status = 401


class Forbidden(FloeUserError):
    """The user may see this but not change it."""

    status = 403


class NotFound(FloeUserError):
    """No such thing, or not one this user may see (the two are not told apart)."""

    status = 404


class Conflict(FloeUserError):
    """The request clashes with what exists (a name taken, blobs still missing)."""

    status = 409


class NotReady(Conflict):
    """Asked for too early: a job's output before the job kept one."""


class QuotaExceeded(FloeUserError):
    """What a user keeps would pass their storage quota."""

    status = 413


class TooManyRequests(FloeUserError):
    """A user's share of something is taken (the queue, logs followed at once)."""

    status = 429


class TooManyJobs(TooManyRequests):
    """A user's share of the queue is full."""


class TooLarge(FloeUserError):
    """A request body over its limit."""

    status = 413


class GpuUnavailable(FloeUserError):
    """A GPU machine was asked for but no GPU can be given right now."""

    status = 503


class NotServingYet(FloeUserError):
    """A serving job that is not answering yet (queued, starting, its program still loading)."""

    status = 503
    retry_after = 2  # seconds, said in a Retry-After header


class ServiceBusy(FloeUserError):
    """The service holds as much as it may for now (request bodies for serving jobs)."""

    status = 503
    retry_after = 1  # seconds, said in a Retry-After header


class Gone(FloeUserError):
    """Something that was there and has ended for good (a serving job that stopped)."""

    status = 410
