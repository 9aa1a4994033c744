"""Cron expressions as schedules read them: the next time, in the schedule's time zone, and
the expressions refused with what would be right."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from floe.core.cron import Cron
from floe.core.errors import InvalidRequest

NOW = datetime(2026, 11, 22, 14, 30, 15, tzinfo=UTC)  # a Sunday


@pytest.mark.parametrize(
    ("text", "zone", "expected"),
    [
        ("0 3 * * *", "UTC", datetime(2026, 11, 23, 3, 0, tzinfo=UTC)),
        ("*/15 * * * *", "UTC", datetime(2026, 11, 22, 14, 45, tzinfo=UTC)),
        ("@hourly", "UTC", datetime(2026, 11, 22, 15, 0, tzinfo=UTC)),
        ("@daily", "Europe/Paris", datetime(2026, 11, 22, 23, 0, tzinfo=UTC)),
        ("0 9 * * mon-fri", "UTC", datetime(2026, 11, 23, 9, 0, tzinfo=UTC)),
        ("0 9 * * 7", "UTC", datetime(2026, 11, 29, 9, 0, tzinfo=UTC)),  # 7 is Sunday too
        ("0 0 1,15 * sun", "UTC", datetime(2026, 11, 29, 0, 0, tzinfo=UTC)),  # either day field
        ("0 0 1 jan *", "UTC", datetime(2027, 1, 1, 0, 0, tzinfo=UTC)),
        ("5/20 10-11 * * *", "UTC", datetime(2026, 11, 23, 10, 5, tzinfo=UTC)),
        # Paris: 01:30 local on the day clocks go forward is still 00:30 UTC.
        ("30 1 * 3 sun", "Europe/Paris", datetime(2027, 3, 7, 0, 30, tzinfo=UTC)),
    ],
)
def test_the_next_time(text, zone, expected):
    assert Cron.parse(text, zone).next_after(NOW) == expected


def test_every_counts_from_its_anchor():
    cron = Cron.parse("@every 90m")
    anchor = NOW - timedelta(hours=2)
    assert cron.next_after(NOW, anchor=anchor) == anchor + timedelta(minutes=180)
    assert cron.next_after(NOW, anchor=NOW + timedelta(minutes=5)) == NOW + timedelta(minutes=5)


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("", "a schedule like"),
        ("* * *", "has 3 fields"),
        ("61 * * * *", "minute: '61' is not from 0 to 59"),
        ("5-1 * * * *", "runs backwards"),
        ("*/0 * * * *", "never moves"),
        ("0 0 30 2 *", "never fires"),
        ("0 0 * * funday", "day of week"),
        ("@every soon", "not a duration"),
        ("@every 30s", "at most once every 1 min"),
        ("* * * * *", "at most once every 5 min"),
        ("0 0,23 * * *", "at most once every 2"),  # 23:00, then 00:00 the next day
        ("@every 3000000d", "at most 366d"),
        ("x" * 300, "at most 200 characters"),
    ],
)
def test_refused_with_what_would_be_right(text, words):
    minimum = 300 if text == "* * * * *" else 60
    minimum = 7200 if text == "0 0,23 * * *" else minimum
    with pytest.raises(InvalidRequest, match=None) as caught:
        Cron.parse(text, "UTC", min_interval_s=minimum)
    assert words in caught.value.message


def test_a_time_zone_must_be_one():
    for bad in ("Mars/Olympus", "../../etc/passwd", "/etc/localtime", "America", "Etc"):
        with pytest.raises(InvalidRequest):
            Cron.parse("@daily", bad)
