"""The period a report covers: `--since` and `--until` as a duration back from now (30d, 1w), a calendar day
in the desk's timezone (2026-11-01: the whole day) or an ISO date and time (2026-11-01T09:00, with or
without an offset; without one it is read in the desk's timezone).

`report --since 2026-11-01 --until 2026-11-30` is November: from Nov 1 00:00 up to, not including, Dec 1
00:00, Paris time for a desk on Europe/Paris.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass

from gmaildesk.audit.zone import local_date, local_time
from gmaildesk.config.durations import DurationError, parse_duration
from gmaildesk.errors import ExitCode, GmailDeskError

# Beyond this no conversation can be (and SQLite's int64 would overflow).
MAX_AGE_DAYS = 36_500
_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
_FIRST_YEAR, _LAST_YEAR = 1970, 9998  # Gmail has no mail before 1970; a day's end must stay in datetime's range
_FORMS = "a duration (30d, 1w), a date (2026-11-01) or a date and time (2026-11-01T09:00)"


@dataclass(frozen=True)
class Bound:
    """One end of a period as given: an age, a calendar day, or a moment (aware, or naive: desk's zone)."""

    age_ms: int | None = None
    day: dt.date | None = None
    moment: dt.datetime | None = None

    def at(self, now_ms: int, zone: dt.tzinfo, *, end: bool) -> int:
        """The bound in ms; a day starts at its midnight, or as an end, reaches the next midnight."""
        if self.age_ms is not None:
            return now_ms - self.age_ms
        if self.day is not None:
            day = self.day + dt.timedelta(days=1) if end else self.day
            return _ms(dt.datetime.combine(day, dt.time(), tzinfo=zone))
        assert self.moment is not None  # a Bound holds exactly one of the three
        return _ms(self.moment if self.moment.tzinfo else self.moment.replace(tzinfo=zone))


@dataclass(frozen=True)
class Period:
    since_ms: int
    until_ms: int  # excluded

    def title(self, zone: dt.tzinfo) -> str:
        """'2026-11-01 to 2026-11-30': its first and last day in *zone*."""
        return f"{local_date(self.since_ms, zone)} to {local_date(max(self.since_ms, self.until_ms - 1), zone)}"

    def span(self, zone: dt.tzinfo) -> str:
        """'2026-11-01 00:00 CET to 2026-12-01 00:00 CET': to the minute, as the report counts."""
        return f"{local_time(self.since_ms, zone)} to {local_time(self.until_ms, zone)}"


def parse_bound(value: str, flag: str) -> Bound:
    """*value* of --since/--until, checked before any work (a typo should cost no sweep)."""
    text = value.strip()
    if not _DATE.match(text):
        try:
            return Bound(age_ms=age_ms(value, flag))
        except GmailDeskError as error:
            raise GmailDeskError(error.message, [f"give {_FORMS}"], ExitCode.USAGE) from None
    try:
        moment = dt.datetime.fromisoformat(text)
    except ValueError as error:
        raise GmailDeskError(f"{flag} {value}: {error}", [f"give {_FORMS}"], ExitCode.USAGE) from None
    if not _FIRST_YEAR <= moment.year <= _LAST_YEAR:
        raise GmailDeskError(
            f"{flag} {value}: outside the years {_FIRST_YEAR}-{_LAST_YEAR}", [f"give {_FORMS}"], ExitCode.USAGE
        )
    return Bound(day=moment.date()) if _DATE.fullmatch(text) else Bound(moment=moment)


def period(since: Bound, until: Bound | None, now_ms: int, zone: dt.tzinfo) -> Period:
    """The period the two bounds make (no --until: up to now); an empty or reversed one is a usage error."""
    start = since.at(now_ms, zone, end=False)
    end = now_ms if until is None else until.at(now_ms, zone, end=True)
    if start >= end:
        raise GmailDeskError(
            f"--since {local_time(start, zone)} is not before --until {local_time(end, zone)}",
            ["--until is the later end: e.g. --since 2026-11-01 --until 2026-11-30"],
            ExitCode.USAGE,
        )
    return Period(start, end)


def age_ms(value: str, flag: str) -> int:
    """A duration given to *flag* (30m, 4h, 1d12h, 2w, or seconds as 90s), in ms; at most 100 years."""
    text = value.strip()
    too_long = GmailDeskError(
        f"{flag} {value[:40]}: at most {MAX_AGE_DAYS}d (100 years)", ["e.g. 30m, 4h, 30d or 52w"], ExitCode.USAGE
    )
    if len(text) > 40:
        raise too_long
    lowered = text.lower()
    try:
        if lowered.endswith("s") and lowered[:-1].isascii() and lowered[:-1].isdigit():
            seconds = int(lowered[:-1])
        else:
            seconds = parse_duration(lowered)
    except DurationError as error:
        raise GmailDeskError(f"{flag}: {error}", [], ExitCode.USAGE) from None
    if seconds > MAX_AGE_DAYS * 86_400:
        raise too_long
    return seconds * 1000


def _ms(moment: dt.datetime) -> int:
    return int(moment.timestamp() * 1000)
