"""CNPG ScheduledBackup schedules: six cron fields, seconds first (robfig/cron).

A five-field value is the classic mistake: CNPG reads `0 2 * * *` as
second=0 minute=2 hour=* ..., so the "daily" backup runs every hour.
"""

from __future__ import annotations

import re

_FIELDS = (("second", 0, 59), ("minute", 0, 59), ("hour", 0, 23),
           ("day of month", 1, 31), ("month", 1, 12), ("day of week", 0, 6))
_MONTHS = ["JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"]
_DAYS = ["SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"]
_DESCRIPTORS = {"@yearly", "@annually", "@monthly", "@weekly", "@daily", "@midnight", "@hourly"}


def _names(index: int) -> dict[str, int]:
    if index == 4:
        return {m: i + 1 for i, m in enumerate(_MONTHS)}
    if index == 5:
        return {d: i for i, d in enumerate(_DAYS)}
    return {}


def _value(token: str, index: int) -> int:
    names = _names(index)
    if token.upper() in names:
        return names[token.upper()]
    if not token.isdigit():
        raise ValueError(token)
    return int(token)


def _field_problem(text: str, index: int) -> str | None:
    label, low, high = _FIELDS[index]
    for part in text.split(","):
        base, _, step = part.partition("/")
        if step and (not step.isdigit() or int(step) == 0):
            return f"{label} field {text!r}: bad step {step!r}"
        if base in ("*", "?"):
            continue
        bounds = base.split("-")
        if len(bounds) > 2:
            return f"{label} field {text!r}: bad range {base!r}"
        try:
            values = [_value(b, index) for b in bounds]
        except ValueError:
            return f"{label} field {text!r}: {base!r} is not a number"
        for v in values:
            if not low <= v <= high:
                return f"{label} field {text!r}: {v} is outside {low}-{high}"
        if len(values) == 2 and values[0] > values[1]:
            return f"{label} field {text!r}: range {base!r} runs backwards"
    return None


def cron_problem(schedule: str) -> str | None:
    """Why `schedule` is not a valid six-field CNPG schedule, or None when it is."""
    value = schedule.strip()
    if value in _DESCRIPTORS or re.fullmatch(r"@every\s+\S+", value):
        return None
    fields = value.split()
    if len(fields) == 5:
        sec, minute, hour, dom, month = fields
        return (
            f"schedule {schedule!r} has 5 fields; CNPG reads 6, seconds first, so this runs "
            f"at second={sec} minute={minute} hour={hour} day={dom} month={month} "
            f"(did you mean '0 {value}'?)"
        )
    if len(fields) != 6:
        return f"schedule {schedule!r} has {len(fields)} fields; CNPG expects 6, seconds first"
    for index, text in enumerate(fields):
        problem = _field_problem(text, index)
        if problem:
            return f"schedule {schedule!r}: {problem}"
    return None


def runs_more_than_daily(schedule: str) -> bool:
    """True when a valid six-field schedule fires more than once a day."""
    fields = schedule.split()
    if len(fields) != 6:
        return schedule.strip() == "@hourly" or schedule.strip().startswith("@every")
    second, minute, hour = fields[:3]
    return any(not f.isdigit() for f in (second, minute, hour))
