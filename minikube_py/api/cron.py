"""Cron schedules as CronJobs accept them (robfig/cron's ParseStandard).

Five fields (minute hour day-of-month month day-of-week) with `*`, `?`, ranges,
steps, lists and month/day names; the descriptors `@yearly` ... `@hourly` and
`@every <duration>`; an optional `CRON_TZ=`/`TZ=` prefix. As in cron, when both
day fields are restricted a day matching either fires; when one is `*` both
must match.

Times are searched on the wall clock of the schedule's zone: a wall time that
a DST change skips fires at the instant it maps to with the old offset (02:30
in a spring-forward gap fires at 03:30), and one that repeats fires once, at
its first occurrence.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, tzinfo
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

_FIELDS = (("minute", 0, 59), ("hour", 0, 23), ("day of month", 1, 31), ("month", 1, 12),
           ("day of week", 0, 6))
_MONTHS = {m: i + 1 for i, m in enumerate(("jan", "feb", "mar", "apr", "may", "jun", "jul",
                                           "aug", "sep", "oct", "nov", "dec"))}
_DAYS = {d: i for i, d in enumerate(("sun", "mon", "tue", "wed", "thu", "fri", "sat"))}
_DESCRIPTORS = {"@yearly": "0 0 1 1 *", "@annually": "0 0 1 1 *", "@monthly": "0 0 1 * *",
                "@weekly": "0 0 * * 0", "@daily": "0 0 * * *", "@midnight": "0 0 * * *",
                "@hourly": "0 * * * *"}
_DURATION = re.compile(r"(\d+(?:\.\d+)?)(ns|us|µs|ms|s|m|h)")
_UNIT_SECONDS = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0,
                 "h": 3600.0}
_SEARCH_YEARS = 5


def zone(name: str) -> tzinfo:
    """A time zone by IANA name ('' and 'Local' are UTC here: servers run in UTC)."""
    if name in ("", "UTC", "Local"):
        return UTC
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as e:
        raise ValueError(f"unknown time zone {name}") from e


@dataclass(frozen=True)
class Schedule:
    """A parsed schedule: allowed values per field, or a fixed interval (@every)."""

    minutes: frozenset[int] = frozenset()
    hours: frozenset[int] = frozenset()
    days: frozenset[int] = frozenset()
    months: frozenset[int] = frozenset()
    weekdays: frozenset[int] = frozenset()
    days_star: bool = False
    weekdays_star: bool = False
    every: float = 0.0
    tz: tzinfo = UTC

    @classmethod
    def parse(cls, text: str, tz: tzinfo = UTC) -> Schedule:
        """robfig's ParseStandard; ValueError carries its message."""
        text = text.strip()
        if not text:
            raise ValueError("empty spec string")
        if text.startswith(("TZ=", "CRON_TZ=")):
            head, _, text = text.partition(" ")
            tz = zone(head.split("=", 1)[1])
            text = text.strip()
        if text.startswith("@every "):
            seconds = _duration(text[len("@every "):].strip())
            return cls(every=max(1.0, float(int(seconds))), tz=tz)
        if text.startswith("@"):
            if text not in _DESCRIPTORS:
                raise ValueError(f"unrecognized descriptor: {text}")
            text = _DESCRIPTORS[text]
        parts = text.split()
        if len(parts) != 5:
            raise ValueError(f"expected exactly 5 fields, found {len(parts)}: [{text}]")
        parsed = [_field(p, *_FIELDS[i][1:], _MONTHS if i == 3 else _DAYS if i == 4 else {})
                  for i, p in enumerate(parts)]
        return cls(minutes=parsed[0][0], hours=parsed[1][0], days=parsed[2][0],
                   months=parsed[3][0], weekdays=parsed[4][0], days_star=parsed[2][1],
                   weekdays_star=parsed[4][1], tz=tz)

    def _day_matches(self, t: datetime) -> bool:
        dom, dow = t.day in self.days, (t.weekday() + 1) % 7 in self.weekdays
        if self.days_star or self.weekdays_star:
            return dom and dow
        return dom or dow

    def next(self, after: datetime) -> datetime | None:
        """The first activation strictly after `after` (aware, returned in UTC), or
        None when none comes within five years (e.g. February 30th)."""
        if self.every:
            whole = after.replace(microsecond=0)
            return (whole + timedelta(seconds=self.every)).astimezone(UTC)
        after_utc = after.astimezone(UTC)
        wall = after.astimezone(self.tz).replace(tzinfo=None, second=0, microsecond=0)
        wall += timedelta(minutes=1)
        limit = wall.year + _SEARCH_YEARS
        while wall.year <= limit:
            if wall.month not in self.months:
                wall = (wall.replace(day=1, hour=0, minute=0) + timedelta(days=32)).replace(day=1)
            elif not self._day_matches(wall):
                wall = wall.replace(hour=0, minute=0) + timedelta(days=1)
            elif wall.hour not in self.hours:
                wall = wall.replace(minute=0) + timedelta(hours=1)
            elif wall.minute not in self.minutes:
                wall += timedelta(minutes=1)
            else:
                found = wall.replace(tzinfo=self.tz).astimezone(UTC)
                if found > after_utc:
                    return found
                wall += timedelta(minutes=1)
        return None


def _duration(text: str) -> float:
    """Go's time.ParseDuration for the units a schedule would use."""
    pos, total = 0, 0.0
    for match in _DURATION.finditer(text):
        if match.start() != pos:
            break
        total += float(match.group(1)) * _UNIT_SECONDS[match.group(2)]
        pos = match.end()
    if not text or pos != len(text):
        raise ValueError(f"failed to parse duration {text}: time: invalid duration \"{text}\"")
    return total


def _number(text: str, names: dict[str, int]) -> int:
    if text.lower() in names:
        return names[text.lower()]
    if not text.isdigit():
        raise ValueError(f"failed to parse int from {text}: strconv.Atoi: parsing "
                         f"\"{text}\": invalid syntax")
    return int(text)


def _field(text: str, low: int, high: int, names: dict[str, int]) -> tuple[frozenset[int], bool]:
    """A comma-separated field: its values and whether it was `*`/`?` (the star bit)."""
    values: set[int] = set()
    star = False
    for expr in text.split(","):
        range_and_step = expr.split("/")
        if len(range_and_step) > 2:
            raise ValueError(f"too many slashes: {expr}")
        bounds = range_and_step[0].split("-")
        if bounds[0] in ("*", "?"):
            start, end, this_star = low, high, True
        else:
            start = _number(bounds[0], names)
            if len(bounds) == 1:
                end = start
            elif len(bounds) == 2:
                end = _number(bounds[1], names)
            else:
                raise ValueError(f"too many hyphens: {expr}")
            this_star = False
        step = 1
        if len(range_and_step) == 2:
            step = _number(range_and_step[1], {})
            if step == 0:
                raise ValueError(f"step of range should be a positive number: {expr}")
            if len(bounds) == 1 and bounds[0] not in ("*", "?"):
                end = high
            if step > 1:
                this_star = False
        if start < low:
            raise ValueError(f"beginning of range ({start}) below minimum ({low}): {expr}")
        if end > high:
            raise ValueError(f"end of range ({end}) above maximum ({high}): {expr}")
        if start > end:
            raise ValueError(f"beginning of range ({start}) beyond end of range ({end}): {expr}")
        values.update(range(start, end + 1, step))
        star = star or this_star
    return frozenset(values), star


def most_recent(schedule: Schedule, earliest: datetime, now: datetime
                ) -> tuple[datetime | None, int]:
    """The last activation in (earliest, now] and roughly how many there were, as
    Kubernetes' mostRecentScheduleTime counts them: from the spacing of the first two,
    so years of downtime cost a division, not a walk."""
    t1 = schedule.next(earliest)
    if t1 is None or now < t1:
        return None, 0
    t2 = schedule.next(t1)
    if t2 is None or now < t2:
        return t1, 1
    spacing = max(round((t2 - t1).total_seconds()), 1)
    missed = int((now - t1).total_seconds()) // spacing + 1
    start = t1 + timedelta(seconds=(missed - 2) * spacing)
    latest = _last_until(schedule, start, now) or _last_until(schedule, earliest, now)
    return latest, missed


def _last_until(schedule: Schedule, start: datetime, now: datetime) -> datetime | None:
    latest, t = None, schedule.next(start)
    while t is not None and t <= now:
        latest, t = t, schedule.next(t)
    return latest
