"""When a schedule fires: cron's five fields, its ``@daily``-style names, and ``@every``.

``minute hour day-of-month month day-of-week`` as cron reads them: ``*``, numbers, ranges
``1-5``, steps ``*/15`` and ``10-50/20``, lists ``1,15``, month and day names (``jan``,
``mon``); 0 and 7 are both Sunday. When both day fields are restricted a day matching either
fires (cron's rule). Times are wall-clock times in the schedule's time zone (UTC unless it
says). ``@hourly``, ``@daily`` (``@midnight``), ``@weekly``, ``@monthly``, ``@yearly``
(``@annually``) are the usual shorthands; ``@every 30m`` fires at that interval from when
the schedule was made (FloydHub had none; Go's cron and Valohai's triggers do).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from .durations import format_duration, parse_duration
from .errors import InvalidRequest

MAX_LENGTH = 200
MAX_EVERY_S = 366 * 24 * 3600  # @every at most a year (a longer one overflows dates)
SHORTHANDS = {
    "@yearly": "0 0 1 1 *",
    "@annually": "0 0 1 1 *",
    "@monthly": "0 0 1 * *",
    "@weekly": "0 0 * * 0",
    "@daily": "0 0 * * *",
    "@midnight": "0 0 * * *",
    "@hourly": "0 * * * *",
}
MONTHS = "jan feb mar apr may jun jul aug sep oct nov dec".split()
DAYS = "sun mon tue wed thu fri sat".split()
# (name, lowest, highest, names for the lowest on)
FIELDS = (
    ("minute", 0, 59, ()),
    ("hour", 0, 23, ()),
    ("day of month", 1, 31, ()),
    ("month", 1, 12, MONTHS),
    ("day of week", 0, 7, DAYS),
)
# A time the fields allow comes within this many years, or never (``0 0 30 2 *``).
HORIZON_YEARS = 5
_ITEM = re.compile(r"^(\*|[a-z0-9]+(?:-[a-z0-9]+)?)(?:/([0-9]+))?$")


def _number(text: str, field: tuple) -> int:
    name, low, high, names = field
    if text in names:
        return names.index(text) + low
    if not text.isdigit() or not low <= int(text) <= high:
        raise InvalidRequest(f"{name}: {text!r} is not from {low} to {high}")
    return int(text)


def _field(text: str, field: tuple) -> frozenset[int]:
    name, low, high, _names = field
    values: set[int] = set()
    for item in text.split(","):
        match = _ITEM.match(item)
        if not match:
            raise InvalidRequest(f"{name}: {item!r} is not a cron item (5, 1-5, */15, mon)")
        span, step = match.group(1), int(match.group(2) or 1)
        if step < 1:
            raise InvalidRequest(f"{name}: a step of {step} never moves")
        if span == "*":
            first, last = low, high
        elif "-" in span:
            first, last = (_number(part, field) for part in span.split("-"))
            if first > last:
                raise InvalidRequest(f"{name}: {item!r} runs backwards")
        else:
            first = last = _number(span, field)
            if match.group(2):
                last = high  # 5/15: from 5 on, every 15
        values.update(range(first, last + 1, step))
    return frozenset(values)


@dataclass(frozen=True)
class Cron:
    """A parsed schedule; ``next_after`` says when it fires next."""

    text: str
    timezone: str
    every: timedelta | None = None
    minutes: frozenset[int] = frozenset()
    hours: frozenset[int] = frozenset()
    days: frozenset[int] = frozenset()
    months: frozenset[int] = frozenset()
    weekdays: frozenset[int] = frozenset()  # 0 Sunday … 6 Saturday
    any_day: bool = True  # day of month is *
    any_weekday: bool = True  # day of week is *

    @classmethod
    def parse(cls, text: object, timezone: object = "UTC", min_interval_s: int = 60) -> Cron:
        if not isinstance(text, str) or not text.strip() or len(text) > MAX_LENGTH:
            raise InvalidRequest(
                f"cron: a schedule like '0 3 * * *' (at 03:00 every day), '@daily' or "
                f"'@every 6h' (at most {MAX_LENGTH} characters)",
                field="cron",
            )
        zone = _zone(timezone)
        words = text.strip().lower()
        if words.startswith("@every"):
            try:
                seconds = parse_duration(words.removeprefix("@every").strip())
            except ValueError as err:
                raise InvalidRequest(f"cron: @every {err}", field="cron") from None
            if seconds < min_interval_s:
                raise InvalidRequest(
                    f"cron: at most once every {format_duration(min_interval_s)} here",
                    field="cron",
                )
            if seconds > MAX_EVERY_S:
                raise InvalidRequest("cron: @every is at most 366d", field="cron")
            return cls(text.strip(), zone, every=timedelta(seconds=seconds))
        fields = SHORTHANDS.get(words, words).split()
        if len(fields) != 5:
            raise InvalidRequest(
                f"cron: {text!r} has {len(fields)} fields; cron has 5 (minute hour "
                "day-of-month month day-of-week), e.g. '0 3 * * *', or '@daily', '@every 6h'",
                field="cron",
            )
        try:
            parsed = [_field(part, spec) for part, spec in zip(fields, FIELDS, strict=True)]
        except InvalidRequest as err:
            raise InvalidRequest(f"cron: {err.message}", field="cron") from None
        minutes, hours, days, months, weekdays = parsed
        cron = cls(
            text.strip(),
            zone,
            minutes=minutes,
            hours=hours,
            days=days,
            months=months,
            weekdays=frozenset(d % 7 for d in weekdays),
            any_day=fields[2] == "*",
            any_weekday=fields[4] == "*",
        )
        if min_interval_s > 60:
            if cron._shortest_gap() < min_interval_s:
                raise InvalidRequest(
                    f"cron: at most once every {format_duration(min_interval_s)} here",
                    field="cron",
                )
        if cron.next_after(datetime.now(UTC)) is None:
            raise InvalidRequest(f"cron: {text!r} never fires", field="cron")
        return cron

    def _shortest_gap(self) -> int:
        """Seconds between the closest two times the fields allow on days in a row (the
        last of one day and the first of the next too)."""
        times = sorted(h * 60 + m for h in self.hours for m in self.minutes)
        following = [*times[1:], times[0] + 24 * 60]
        return min(b - a for a, b in zip(times, following, strict=True)) * 60

    def _day_matches(self, day: datetime) -> bool:
        by_date = day.day in self.days
        by_weekday = (day.isoweekday() % 7) in self.weekdays
        if self.any_day and self.any_weekday:
            return True
        if self.any_day:
            return by_weekday
        if self.any_weekday:
            return by_date
        return by_date or by_weekday

    def next_after(self, moment: datetime, anchor: datetime | None = None) -> datetime | None:
        """The first time after ``moment`` (aware) that the schedule fires, in UTC; None if
        none within HORIZON_YEARS. ``@every`` counts its intervals from ``anchor``."""
        if self.every is not None:
            start = anchor or moment
            if start > moment:
                return start
            steps = (moment - start) // self.every + 1
            return start + steps * self.every
        zone = ZoneInfo(self.timezone)
        local = moment.astimezone(zone).replace(tzinfo=None, second=0, microsecond=0)
        local += timedelta(minutes=1)
        limit = local + timedelta(days=366 * HORIZON_YEARS)
        while local < limit:
            if local.month not in self.months:
                year, month = divmod(local.month, 12)
                local = local.replace(year=local.year + year, month=month + 1, day=1, hour=0)
                local = local.replace(minute=0)
                continue
            if not self._day_matches(local):
                local = (local + timedelta(days=1)).replace(hour=0, minute=0)
                continue
            if local.hour not in self.hours:
                local = (local + timedelta(hours=1)).replace(minute=0)
                continue
            if local.minute not in self.minutes:
                local += timedelta(minutes=1)
                continue
            found = local.replace(tzinfo=zone).astimezone(UTC)
            if found > moment:
                return found
            local += timedelta(minutes=1)  # a wall time that repeats (clocks going back)
        return None


def _zone(name: object) -> str:
    if name in (None, ""):
        return "UTC"
    if not isinstance(name, str) or len(name) > 64 or ".." in name or name.startswith("/"):
        raise InvalidRequest("timezone: a name like 'UTC' or 'Europe/Paris'", field="timezone")
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):  # OSError: a folder ('America')
        raise InvalidRequest(
            f"timezone: {name!r} is not a time zone; e.g. 'UTC' or 'Europe/Paris'",
            field="timezone",
        ) from None
    return name
