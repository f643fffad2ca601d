"""Timestamps from Kubernetes, barman-cloud and users, all to aware UTC datetimes.

Kubernetes writes RFC 3339 (`2025-05-01T02:00:03Z`), barman-cloud writes both ISO
(`begin_time_iso`) and ctime (`Thu May  1 02:00:03 2025`), and people type
`2025-05-01 02:00`. A time without a zone is taken as UTC, and said so in --help.
"""

from __future__ import annotations

from datetime import UTC, datetime

from mercury.errors import InputError

_CTIME = "%a %b %d %H:%M:%S %Y"


def parse_time(text: str) -> datetime:
    """Parse a timestamp (ISO 8601/RFC 3339 with `Z` or offset, or ctime) to aware UTC."""
    value = text.strip()
    if not value:
        raise ValueError("empty timestamp")
    iso = value[:-1] + "+00:00" if value[-1] in "Zz" else value
    try:
        parsed = datetime.fromisoformat(iso)
    except ValueError:
        try:
            parsed = datetime.strptime(" ".join(value.split()), _CTIME)
        except ValueError:
            raise ValueError(f"not a timestamp: {text!r}") from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC)


# No backup of a PostgreSQL cluster run by CloudNativePG can be older than this (the
# project started in 2022); an earlier target is a typo, refused before anything is read.
EARLIEST_TARGET = datetime(2020, 1, 1, tzinfo=UTC)


def parse_user_time(text: str, flag: str = "--to-time", *,
                    now: datetime | None = None) -> datetime:
    """`parse_time` for a command-line value: a bad one is the user's InputError. A
    recovery target in the future or before any backup could exist is refused at once,
    before the object store is asked (that takes a minute to fail)."""
    try:
        moment = parse_time(text)
    except ValueError:
        raise InputError(f"{flag}: {text!r} is not a timestamp (use ISO 8601, e.g. "
                         "2025-05-01T14:30:00Z; no zone means UTC)") from None
    if moment < EARLIEST_TARGET:
        raise InputError(f"{flag}: {iso(moment)} is before {EARLIEST_TARGET.year}: "
                         "no backup can be that old")
    current = now or datetime.now(UTC)
    if moment > current:
        raise InputError(f"{flag}: {iso(moment)} is in the future (now {iso(current)})")
    return moment


def maybe_time(value: object) -> datetime | None:
    """Parse if it looks like a timestamp; None for missing or unparseable values."""
    if not isinstance(value, str) or not value.strip():
        return None
    try:
        return parse_time(value)
    except ValueError:
        return None


def iso(moment: datetime | None) -> str:
    """RFC 3339 UTC with a `Z`, seconds precision ('-' for None)."""
    if moment is None:
        return "-"
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def postgres_time(moment: datetime) -> str:
    """The form PostgreSQL's recovery_target_time reads unambiguously."""
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f+00")
