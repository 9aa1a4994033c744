"""User errors: one class per kind of mistake, each with the HTTP status it maps to.

They are raised by plain Python code (option parsing, the GPU allocator) and turned into
an HTTP answer in one place, so the message a user reads is written once.
"""

from __future__ import annotations


class FloeUserError(Exception):
    """Something the user asked for cannot be done; the message says what would work."""

    status = 400

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class InvalidOptions(FloeUserError):
    """The spawn options are malformed (wrong type, unknown key)."""


class UnknownEnvironment(FloeUserError):
    """The environment slug is not in the catalog."""


class UnknownMachine(FloeUserError):
    """The machine slug is not in the catalog."""


class GpuUnavailable(FloeUserError):
    """A GPU machine was asked for but no GPU can be given right now."""

    status = 503
