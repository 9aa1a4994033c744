"""Times as Floe writes them for others: RFC 3339 in UTC, ``2026-12-07T09:58:35.526976Z``.

Floe stores every time in UTC. SQLite gives them back without a zone (naive: read as UTC),
PostgreSQL in the session's zone; :func:`utc` makes either the same aware UTC time, and
:func:`rfc3339` is the one spelling the REST API, the command line's ``--json`` and the pages
use.
"""

from __future__ import annotations

from datetime import UTC, datetime


def utc(value: datetime) -> datetime:
    """``value`` as an aware time in UTC; a naive one was stored as UTC."""
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def rfc3339(value: datetime) -> str:
    """``value`` in UTC, its zone written ``Z`` (microseconds when it has any)."""
    return utc(value).isoformat().replace("+00:00", "Z")
