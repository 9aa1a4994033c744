"""User errors: one class per kind of mistake, each with the HTTP status it maps to.

They are raised by plain Python code (option parsing, the GPU allocator, datasets) and turned
into an HTTP answer in one place per server (the spawner, the floe service), so the message a
user reads is written once.
"""

from __future__ import annotations


class FloeUserError(Exception):
    """Something the user asked for cannot be done; the message says what would work."""

    status = 400

    def __init__(self, message: str, **extra: object) -> None:
        super().__init__(message)
        self.message = message
        self.extra = extra  # more JSON fields for the error body, e.g. the missing blobs


class InvalidOptions(FloeUserError):
    """The spawn options are malformed (wrong type, unknown key)."""


class UnknownEnvironment(FloeUserError):
    """The environment slug is not in the catalog."""


class UnknownMachine(FloeUserError):
    """The machine slug is not in the catalog."""


class GpuUnavailable(FloeUserError):
    """A GPU machine was asked for but no GPU can be given right now."""

    status = 503


class BadName(FloeUserError):
    """A dataset name, version or mount spec that is not well formed."""


class NotFound(FloeUserError):
    """No such thing, or not one this user may see (the two are not told apart)."""

    status = 404


class Forbidden(FloeUserError):
    """The user may see this but not change it."""

    status = 403


class Conflict(FloeUserError):
    """The request clashes with what exists (a name taken, blobs still missing)."""

    status = 409


class BadMount(FloeUserError):
    """A mount point that is not absolute, not under an allowed root, or taken twice."""
