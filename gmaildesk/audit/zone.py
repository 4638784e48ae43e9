"""Times as people read them: in the desk's timezone (desk.yaml `timezone:`), with the zone's abbreviation.

JSON and CSV keep ISO 8601 UTC (audit/db.py iso); tables, `show` and the HTML report show local times.
The zone of a command's screens is set once, where the command loads its desk (`show_times_in`): a table
formats a time in one of many small cell functions, and the zone is the same for all of them, as a
locale is. Every time shown carries its zone's abbreviation, so none can be misread whichever desk set it.
"""

from __future__ import annotations

from contextvars import ContextVar
from datetime import UTC, datetime, timedelta, tzinfo
from functools import lru_cache

from gmaildesk.audit.db import clamp_ms

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_SHOWN_ZONE: ContextVar[tzinfo] = ContextVar("shown_zone", default=UTC)


def show_times_in(zone: tzinfo) -> None:
    """From now on in this context, local_time() without a zone shows *zone*."""
    _SHOWN_ZONE.set(zone)


def shown_zone() -> tzinfo:
    return _SHOWN_ZONE.get()


def local(ms: int, zone: tzinfo | None = None) -> datetime:
    """*ms* (clamped to the years 1-9999, as the store may hold anything) as a time in *zone*."""
    moment = _EPOCH + timedelta(milliseconds=clamp_ms(ms))
    try:
        return moment.astimezone(zone or shown_zone())
    except OverflowError:  # within a day of year 1 or 9999 a zone's offset leaves datetime's range
        return moment


def local_time(ms: int, zone: tzinfo | None = None) -> str:
    """'2026-11-30 23:30 CET': the minute, in *zone* (default: the shown zone), with its abbreviation."""
    moment = local(ms, zone)
    return f"{moment.year:04d}-{moment.month:02d}-{moment.day:02d} {moment:%H:%M} {moment.tzname()}"


def local_date(ms: int, zone: tzinfo) -> str:
    moment = local(ms, zone)
    return f"{moment.year:04d}-{moment.month:02d}-{moment.day:02d}"


def zone_name(zone: tzinfo) -> str:
    """The IANA name (Europe/Paris) where the zone has one, else what it calls itself."""
    return str(getattr(zone, "key", None) or zone.tzname(None) or zone)


def week_of(ms: int, zone: tzinfo) -> str:
    """The ISO week ("2026-W48") *ms* falls in, in *zone*: weeks start on Monday at 00:00 there."""
    return _week_of_day(local(ms, zone).toordinal())


@lru_cache(maxsize=4096)
def _week_of_day(ordinal: int) -> str:
    year, week, _ = datetime.fromordinal(ordinal).isocalendar()
    return f"{year}-W{week:02d}"
