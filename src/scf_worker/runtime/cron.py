"""SCF timer cron expressions: seven fields, second minute hour day month week year.

``parse`` validates an expression and says which field is wrong; ``next_fire``
gives the next matching second after a time, so the dev stack runs timers on
schedule. Day and week accept ``?``; ``L`` (last day of the month) is honoured,
``W`` and ``#`` are accepted by ``parse`` but not scheduled locally.
"""

from __future__ import annotations

import calendar
import re
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

FIELD_NAMES = ("second", "minute", "hour", "day", "month", "week", "year")
_RANGES = {"second": (0, 59), "minute": (0, 59), "hour": (0, 23), "day": (1, 31),
           "month": (1, 12), "week": (0, 6), "year": (1970, 2099)}
_NAMES = {
    "month": {m: i for i, m in enumerate(
        ("JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"), 1)},
    "week": {d: i for i, d in enumerate(("SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"))},
}
_SPECIAL = {"day": re.compile(r"^(\?|L|LW|\d{1,2}W)$"), "week": re.compile(r"^(\?|[0-6]L|[0-6]#[1-5])$")}
# Searching further than this many days ahead means the expression never fires again.
SEARCH_DAYS = 366 * 5


class CronError(ValueError):
    """An expression is malformed; ``field`` names the part that is wrong."""

    def __init__(self, field: str, value: str, allowed: str) -> None:
        self.field = field
        self.value = value
        self.allowed = allowed
        super().__init__(f"cron {field} field {value!r}: allowed {allowed}")


@dataclass(frozen=True)
class Schedule:
    """The parsed sets of allowed values; None means "any" (``*`` or ``?``)."""

    seconds: frozenset[int]
    minutes: frozenset[int]
    hours: frozenset[int]
    days: frozenset[int] | None
    months: frozenset[int]
    weeks: frozenset[int] | None
    years: frozenset[int]
    last_day: bool = False


def _number(field: str, token: str) -> int:
    names = _NAMES.get(field, {})
    if token.upper() in names:
        return names[token.upper()]
    if not token.isdigit():
        raise ValueError(token)
    return int(token)


def _values(field: str, text: str) -> frozenset[int] | None:
    low, high = _RANGES[field]
    allowed = f"{low}-{high}, *, lists (a,b), ranges (a-b) and steps (a/n, */n)"
    if field in _SPECIAL:
        allowed += ", ? and L" + (" W" if field == "day" else " #")
    if text in ("*", "?") or (field in _SPECIAL and _SPECIAL[field].match(text.upper())):
        if text == "?" and field not in _SPECIAL:
            raise CronError(field, text, allowed)
        return None
    result: set[int] = set()
    for part in text.split(","):
        base, _, step_text = part.partition("/")
        try:
            step = int(step_text) if step_text else 1
            if base == "*":
                start, end = low, high
            elif "-" in base:
                first, last = base.split("-", 1)
                start, end = _number(field, first), _number(field, last)
            else:
                start = _number(field, base)
                end = high if step_text else start
        except ValueError:
            raise CronError(field, text, allowed) from None
        if step < 1 or not (low <= start <= high and low <= end <= high) or start > end:
            raise CronError(field, text, allowed)
        result.update(range(start, end + 1, step))
    return frozenset(result)


def parse(expression: str) -> Schedule:
    """Parse a seven-field SCF cron expression; raise CronError naming the bad field."""
    parts = expression.split()
    if len(parts) != 7:
        raise CronError("expression", expression,
                        "seven fields: second minute hour day month week year")
    sets = {name: _values(name, part) for name, part in zip(FIELD_NAMES, parts, strict=True)}
    low_high = {name: frozenset(range(_RANGES[name][0], _RANGES[name][1] + 1)) for name in FIELD_NAMES}
    return Schedule(
        seconds=sets["second"] or low_high["second"],
        minutes=sets["minute"] or low_high["minute"],
        hours=sets["hour"] or low_high["hour"],
        days=sets["day"],
        months=sets["month"] or low_high["month"],
        weeks=sets["week"],
        years=sets["year"] or low_high["year"],
        last_day=parts[3].upper() == "L",
    )


def _day_matches(schedule: Schedule, day: datetime) -> bool:
    if day.month not in schedule.months or day.year not in schedule.years:
        return False
    weekday = (day.weekday() + 1) % 7  # SCF counts 0 = Sunday
    if schedule.last_day:
        day_ok = day.day == calendar.monthrange(day.year, day.month)[1]
    else:
        day_ok = schedule.days is None or day.day in schedule.days
    week_ok = schedule.weeks is None or weekday in schedule.weeks
    if schedule.days is not None and schedule.weeks is not None:
        return day_ok or week_ok
    return day_ok and week_ok


def next_fire(schedule: Schedule, after: datetime) -> datetime | None:
    """Return the first matching second strictly after ``after`` (aware UTC), or None."""
    start = after.astimezone(timezone.utc).replace(microsecond=0) + timedelta(seconds=1)
    day = start.replace(hour=0, minute=0, second=0)
    for offset in range(SEARCH_DAYS):
        current = day + timedelta(days=offset)
        if not _day_matches(schedule, current):
            continue
        first_day = offset == 0
        for hour in sorted(schedule.hours):
            if first_day and hour < start.hour:
                continue
            for minute in sorted(schedule.minutes):
                for second in sorted(schedule.seconds):
                    candidate = current.replace(hour=hour, minute=minute, second=second)
                    if candidate >= start:
                        return candidate
    return None
