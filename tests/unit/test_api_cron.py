"""Cron schedules: robfig/cron's ParseStandard grammar and next activations,
including day-of-month/day-of-week semantics, time zones and DST changes."""

from __future__ import annotations

import re
from datetime import UTC, datetime

import pytest

from minikube_py.api.cron import Schedule, most_recent, zone


def _utc(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


@pytest.mark.parametrize(("spec", "after", "expected"), [
    pytest.param("*/15 * * * *", "2024-05-01T12:07:30", "2024-05-01T12:15:00", id="step"),
    pytest.param("0 * * * *", "2024-05-01T12:00:00", "2024-05-01T13:00:00", id="strictly-after"),
    pytest.param("@hourly", "2024-05-01T12:59:59", "2024-05-01T13:00:00", id="hourly"),
    pytest.param("@daily", "2024-12-31T23:00:00", "2025-01-01T00:00:00", id="daily-new-year"),
    pytest.param("@weekly", "2024-05-01T12:00:00", "2024-05-05T00:00:00", id="weekly-sunday"),
    pytest.param("@monthly", "2024-05-01T00:00:00", "2024-06-01T00:00:00", id="monthly"),
    pytest.param("@yearly", "2024-05-01T00:00:00", "2025-01-01T00:00:00", id="yearly"),
    pytest.param("30 9 * jan-mar mon-fri", "2024-03-29T10:00:00", "2025-01-01T09:30:00",
                 id="names"),
    pytest.param("0 0 13 * 5", "2024-05-01T00:00:00", "2024-05-03T00:00:00",
                 id="dom-or-dow-when-both-set"),
    pytest.param("0 0 13 * *", "2024-05-01T00:00:00", "2024-05-13T00:00:00", id="dom-only"),
    pytest.param("0 0 * * 5", "2024-05-01T00:00:00", "2024-05-03T00:00:00", id="dow-only"),
    pytest.param("5/20 * * * *", "2024-05-01T12:06:00", "2024-05-01T12:25:00",
                 id="n-slash-step"),
    pytest.param("0 12 29 2 *", "2024-03-01T00:00:00", "2028-02-29T12:00:00", id="leap-day"),
    pytest.param("@every 90s", "2024-05-01T12:00:00.700000", "2024-05-01T12:01:30",
                 id="every"),
])
def test_next_activation(spec: str, after: str, expected: str) -> None:
    assert Schedule.parse(spec).next(_utc(after)) == _utc(expected)


def test_time_zone_field_and_prefix_agree() -> None:
    paris = Schedule.parse("0 9 * * *", zone("Europe/Paris"))
    prefixed = Schedule.parse("CRON_TZ=Europe/Paris 0 9 * * *")
    after = _utc("2024-07-01T00:00:00")
    assert paris.next(after) == prefixed.next(after) == _utc("2024-07-01T07:00:00")
    # 09:00 in Tokyo is exactly `after`: the next one is a day later.
    assert Schedule.parse("TZ=Asia/Tokyo 0 9 * * *").next(after) == _utc("2024-07-02T00:00:00")


def test_spring_forward_gap_fires_once_after_the_jump() -> None:
    # 2024-03-10 02:30 does not exist in New York: it fires at 03:30 EDT (07:30 UTC).
    s = Schedule.parse("30 2 * * *", zone("America/New_York"))
    fired = s.next(_utc("2024-03-10T05:00:00"))
    assert fired == _utc("2024-03-10T07:30:00")
    assert s.next(fired) == _utc("2024-03-11T06:30:00")


def test_fall_back_repeated_hour_fires_once() -> None:
    # 2024-11-03 01:30 happens twice in New York; a daily 01:30 job runs once, at the first.
    s = Schedule.parse("30 1 * * *", zone("America/New_York"))
    fired = s.next(_utc("2024-11-03T04:00:00"))
    assert fired == _utc("2024-11-03T05:30:00")
    assert s.next(fired) == _utc("2024-11-04T06:30:00")


def test_hourly_across_fall_back_keeps_moving_forward() -> None:
    s = Schedule.parse("0 * * * *", zone("America/New_York"))
    t, seen = _utc("2024-11-03T03:30:00"), []
    for _ in range(4):
        following = s.next(t)
        assert following is not None
        t = following
        seen.append(t)
    assert seen == sorted(seen) and len(set(seen)) == 4


def test_impossible_date_has_no_next() -> None:
    assert Schedule.parse("0 0 30 2 *").next(_utc("2024-01-01T00:00:00")) is None


@pytest.mark.parametrize(("spec", "message"), [
    ("", "empty spec string"),
    ("* * * *", "expected exactly 5 fields, found 4: [* * * *]"),
    ("60 * * * *", "end of range (60) above maximum (59): 60"),
    ("* * 0 * *", "beginning of range (0) below minimum (1): 0"),
    ("* * * * 7", "end of range (7) above maximum (6): 7"),
    ("5-1 * * * *", "beginning of range (5) beyond end of range (1): 5-1"),
    ("*/0 * * * *", "step of range should be a positive number: */0"),
    ("1/2/3 * * * *", "too many slashes: 1/2/3"),
    ("x * * * *", 'failed to parse int from x: strconv.Atoi: parsing "x": invalid syntax'),
    ("@fortnightly", "unrecognized descriptor: @fortnightly"),
    ("@every 5x", 'failed to parse duration 5x: time: invalid duration "5x"'),
    ("CRON_TZ=Mars/Base * * * * *", "unknown time zone Mars/Base"),
])
def test_parse_errors_carry_robfig_messages(spec: str, message: str) -> None:
    with pytest.raises(ValueError, match=f"^{re.escape(message)}$"):
        Schedule.parse(spec)


@pytest.mark.parametrize(("spec", "earliest", "now", "latest", "missed"), [
    pytest.param("* * * * *", "2024-05-01T12:00:00", "2024-05-01T12:00:59", None, 0,
                 id="none-yet"),
    pytest.param("* * * * *", "2024-05-01T12:00:00", "2024-05-01T12:01:10",
                 "2024-05-01T12:01:00", 1, id="one"),
    pytest.param("*/5 * * * *", "2024-05-01T12:00:00", "2024-05-01T14:02:00",
                 "2024-05-01T14:00:00", 24, id="many"),
    pytest.param("30 6-16/4 * * 1-5", "2024-05-03T07:00:00", "2024-05-07T11:00:00",
                 "2024-05-07T10:30:00", 25, id="irregular-across-a-weekend"),  # estimated
    pytest.param("* * * * *", "2024-01-01T00:00:00", "2025-01-01T00:00:30",
                 "2025-01-01T00:00:00", 527040, id="a-year-down"),
])
def test_most_recent_missed_time(spec: str, earliest: str, now: str, latest: str | None,
                                 missed: int) -> None:
    found, count = most_recent(Schedule.parse(spec), _utc(earliest), _utc(now))
    assert found == (_utc(latest) if latest else None)
    assert count == missed
