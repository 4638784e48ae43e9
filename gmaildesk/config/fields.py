"""Value checks for single desk.yaml fields, as pydantic annotated types.

Each raises ``PydanticCustomError`` whose message is the user-facing text; hints
travel in the error context under ``HINTS`` and a sub-key to point at under
``SUBKEY`` (see schema_errors.py).
"""

from __future__ import annotations

import datetime as dt
import difflib
import re
import zoneinfo
from typing import Annotated, Any, NoReturn

from pydantic import AfterValidator, BeforeValidator
from pydantic_core import PydanticCustomError

from gmaildesk.config.durations import DurationError, describe_duration, parse_duration
from gmaildesk.gmail.palette import PALETTE, is_gmail_colour
from gmaildesk.gmail.query import QuerySyntaxError, parse

HINTS = "gmaildesk_hints"
SUBKEY = "gmaildesk_subkey"
PALETTE_DOCS = "https://developers.google.com/workspace/gmail/api/reference/rest/v1/users.labels#color"

_DOMAIN = r"[a-z0-9](?:[a-z0-9-]*[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]*[a-z0-9])?)+"
_ATOM = r"[a-z0-9!#$%&'*+/=?^_`{|}~-]+"
_EMAIL_RE = re.compile(rf"{_ATOM}(?:\.{_ATOM})*@" + _DOMAIN, re.IGNORECASE)  # RFC 5322 dot-atom: no '..'
# Google Workspace Admin Help answer 9193374: usernames have letters, numbers, dashes, underscores,
# apostrophes and periods, at most 64 characters, never a period first, last or twice in a row.
_ACCOUNT_RE = re.compile(r"[a-z0-9_'-]+(?:\.[a-z0-9_'-]+)*@" + _DOMAIN, re.IGNORECASE)
_MAX_USERNAME = 64
_DOMAIN_RE = re.compile(_DOMAIN, re.IGNORECASE)
_HEX_RE = re.compile(r"#[0-9a-fA-F]{6}")
_SIZE_RE = re.compile(r"(\d+)\s*([kmg]?)b?", re.IGNORECASE)
_SIZE_UNITS = {"": 1, "k": 1024, "m": 1024**2, "g": 1024**3}
_ENV_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_QUERY_CONTEXT = 60  # characters shown either side of a query error
# Bounds that keep every later date computation (SLA deadlines, the audit's ages) in range.
MAX_DURATION = 366 * 86_400
EARLIEST_INSTANT = dt.datetime(2000, 1, 1, tzinfo=dt.UTC)
LATEST_INSTANT = dt.datetime(2101, 1, 1, tzinfo=dt.UTC)


def fail(message: str, *hints: str, subkey: str | int | None = None) -> NoReturn:
    """Reject the value being validated; *subkey* points the error at one of its keys or items."""
    context: dict[str, Any] = {HINTS: hints}
    if subkey is not None:
        context[SUBKEY] = subkey
    raise PydanticCustomError("desk", message, context)


def _text(value: object, what: str) -> str:
    if not isinstance(value, str):
        fail(f"expected {what}, got {describe(value)}")
    return value


def describe(value: object) -> str:
    """How a YAML value reads to a user: 'a list', 'the number 4', ..."""
    if value is None:
        return "nothing (an empty value)"
    if isinstance(value, bool):
        return f"{str(value).lower()} (true/false)"
    if isinstance(value, (int, float)):
        return f"the number {value}"
    if isinstance(value, str):
        return repr(value)
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "a mapping"
    return type(value).__name__


# --- addresses ---------------------------------------------------------------------------------


def is_email(value: str) -> bool:
    return bool(_EMAIL_RE.fullmatch(value))


def _email(value: object) -> str:
    text = _text(value, "an email address").strip()
    if not is_email(text):
        fail(f"'{text}' is not an email address", "write a plain address such as billing@example.com")
    return text


def _team_entry(value: object) -> str:
    text = _text(value, "an email address or a domain").strip()
    if not (is_email(text) or _DOMAIN_RE.fullmatch(text.removeprefix("@"))):
        fail(
            f"'{text}' is neither an email address nor a domain",
            "list addresses (lead@partner.example) or whole domains (example.com)",
        )
    return text


def _account(value: object) -> str:
    text = _email(value)
    if not _ACCOUNT_RE.fullmatch(text) or len(text.partition("@")[0]) > _MAX_USERNAME:
        fail(
            f"'{text}' is not a Gmail account address",
            "the mailbox is the account the desk runs in: a username of letters, digits, '.', '-', '_' or \"'\" "
            "(Google Workspace Admin Help 9193374) at a domain, e.g. support@example.com",
        )
    return text


Email = Annotated[str, BeforeValidator(_email)]
Account = Annotated[str, BeforeValidator(_account)]
TeamEntry = Annotated[str, BeforeValidator(_team_entry)]


# --- colours -----------------------------------------------------------------------------------


def _nearest_palette_colour(hex_value: str) -> str:
    def rgb(value: str) -> tuple[int, int, int]:
        return int(value[1:3], 16), int(value[3:5], 16), int(value[5:7], 16)

    want = rgb(hex_value)
    return min(sorted(PALETTE), key=lambda c: sum((a - b) ** 2 for a, b in zip(rgb(c), want, strict=True)))


def _palette_colour(value: object) -> str:
    text = _text(value, "a colour such as '#16a766'")
    if is_gmail_colour(text):
        return text
    if is_gmail_colour(text.lower()):
        fail(
            f"'{text}' must be written in lowercase: '{text.lower()}'",
            "Gmail rejects upper-case colour values (400 'not on the allowed color palette')",
        )
    hints = [
        f"Gmail accepts only its 113-colour palette (lowercase), e.g. #fad165 yellow, #16a766 green, "
        f"#4a86e8 blue, #fb4c2f red, #a479e2 purple, #cccccc grey, #ffffff, #000000; all: {PALETTE_DOCS}"
    ]
    if _HEX_RE.fullmatch(text):
        hints.insert(0, f"the nearest Gmail colour is '{_nearest_palette_colour(text.lower())}'")
    fail(f"'{text}' is not a Gmail label colour", *hints)


def readable_text_colour(background: str) -> str:
    """Black or white, whichever reads better on *background* (for the ``color: '#hex'`` shorthand)."""
    red, green, blue = (int(background[i : i + 2], 16) for i in (1, 3, 5))
    return "#000000" if 0.299 * red + 0.587 * green + 0.114 * blue > 150 else "#ffffff"


def colour_shorthand(value: object) -> object:
    """``color: '#16a766'`` means that background with black or white text."""
    if isinstance(value, str):
        background = _palette_colour(value)
        return {"background": background, "text": readable_text_colour(background)}
    if not isinstance(value, dict):
        fail(f"expected a colour such as '#16a766' or {{background: ..., text: ...}}, got {describe(value)}")
    return value


PaletteColour = Annotated[str, BeforeValidator(_palette_colour)]


# --- durations, sizes, instants ----------------------------------------------------------------


def _duration(value: object) -> int:
    try:
        seconds = parse_duration(value)
    except DurationError as exc:
        fail(str(exc))
    if seconds > MAX_DURATION:
        fail(
            f"'{value}' is {describe_duration(seconds)}; at most {MAX_DURATION // 86_400} days (a year) is allowed",
            "an SLA or close_after longer than a year never comes due; e.g. 4h, 2d or 1w",
        )
    return seconds


def _size(value: object) -> int:
    if isinstance(value, int) and not isinstance(value, bool) and value > 0:
        return value
    match = _SIZE_RE.fullmatch(value.strip()) if isinstance(value, str) else None
    if not match or int(match.group(1)) == 0:
        fail(f"{describe(value)} is not a message size; use bytes or e.g. 500K, 5M")
    return int(match.group(1)) * _SIZE_UNITS[match.group(2).lower()]


def _instant(value: object) -> dt.datetime:
    example = "e.g. 2026-01-05T00:00:00Z or 2026-01-05T09:00:00+01:00"
    if isinstance(value, str):
        try:
            value = dt.datetime.fromisoformat(value.strip())
        except ValueError:
            fail(f"'{value}' is not a date and time; {example}")
    if isinstance(value, dt.date) and not isinstance(value, dt.datetime):
        fail(f"{value.isoformat()} needs a time and a timezone, {example}")
    if not isinstance(value, dt.datetime):
        fail(f"expected a date and time, got {describe(value)}; {example}")
    if value.tzinfo is None or value.utcoffset() is None:
        fail(f"{value.isoformat()} has no timezone; add Z (UTC) or an offset, {example}")
    if not EARLIEST_INSTANT <= value < LATEST_INSTANT:
        fail(
            f"{value.isoformat()} is outside the years {EARLIEST_INSTANT.year}-{LATEST_INSTANT.year - 1}",
            f"write the date the responder should start or stop, {example}",
        )
    return value.astimezone(dt.UTC)


def _timezone(value: object) -> str:
    """An IANA zone name as zoneinfo knows it (Europe/Paris); a near miss gets the name it was meant to be."""
    example = "an IANA time zone name such as Europe/Paris, America/New_York or UTC"
    text = _text(value, example).strip()
    zones = zoneinfo.available_timezones()
    if text in zones:
        return text
    if not zones:  # Python finds no zone database (Windows without the tzdata package)
        fail(f"'{text}': this machine has no time zone database", "pip install tzdata")
    meant = _meant_zone(text, zones)
    fail(f"'{text}' is not a time zone", f"did you mean '{meant}'?" if meant else f"write {example}")


def _meant_zone(text: str, zones: set[str]) -> str | None:
    """The zone a near miss names: another case (europe/paris), a city alone (Paris), or a typo (Europe/Pari)."""
    key = text.lower().replace(" ", "_")
    by_name = {zone.lower(): zone for zone in zones}
    by_city = {zone.rpartition("/")[2].lower(): zone for zone in sorted(zones) if "/" in zone}
    if key in by_name or key in by_city:
        return by_name.get(key) or by_city[key]
    close = difflib.get_close_matches(key, sorted(by_name), n=1)
    return by_name[close[0]] if close else None


Duration = Annotated[int, BeforeValidator(_duration)]
Size = Annotated[int, BeforeValidator(_size)]
Instant = Annotated[dt.datetime, BeforeValidator(_instant)]
TimeZone = Annotated[str, BeforeValidator(_timezone)]


# --- queries -----------------------------------------------------------------------------------


def query_error(exc: QuerySyntaxError, shown: str, offset: int = 0) -> NoReturn:
    """Report a parser error at a character of *shown* (the text the user wrote)."""
    position = min(max(exc.position - offset, 0), max(len(shown) - 1, 0))
    start = max(position - _QUERY_CONTEXT, 0)  # a long query is shown around the problem only
    excerpt = ("..." if start else "") + shown[start : position + _QUERY_CONTEXT]
    excerpt += "..." if position + _QUERY_CONTEXT < len(shown) else ""
    caret = position - start + (3 if start else 0)
    fail(f"{exc.message} at character {position + 1}", excerpt, " " * caret + "^")


def check_query(value: object) -> str:
    text = _text(value, "a Gmail search query")
    if not text.strip():
        fail("the query is empty; it would match every message")
    try:
        parse(text)
    except QuerySyntaxError as exc:
        query_error(exc, text)
    return text


def check_operator_value(operator: str, value: object) -> str:
    """A filter criterion such as from/to/subject: Gmail reads it as ``operator:(value)``."""
    text = _text(value, "text")
    if not text.strip():
        fail("must not be empty")
    try:
        parse(f"{operator}:({text})")
    except QuerySyntaxError as exc:
        query_error(exc, text, offset=len(operator) + 2)
    return text


Query = Annotated[str, AfterValidator(check_query)]


# --- names -------------------------------------------------------------------------------------


def _env_name(value: object) -> str:
    text = _text(value, "an environment variable name")
    if not _ENV_RE.fullmatch(text):
        fail(f"'{text}' is not an environment variable name (letters, digits and _)")
    return text


def _non_empty(value: object) -> str:
    text = _text(value, "text")
    if not text.strip():
        fail("must not be empty")
    return text


EnvName = Annotated[str, BeforeValidator(_env_name)]
NonEmpty = Annotated[str, BeforeValidator(_non_empty)]
