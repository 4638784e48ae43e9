"""Durations as desk.yaml writes them: ``30m``, ``4h``, ``2d``, ``1w``, or combined like ``1d12h``."""

from __future__ import annotations

import re

UNIT_SECONDS = {"m": 60, "h": 3600, "d": 86_400, "w": 604_800}
_UNIT_NAMES = {"w": "week", "d": "day", "h": "hour", "m": "minute"}
_PART_RE = re.compile(r"(\d+)([a-z]*)")
EXAMPLES = "30m, 4h, 2d or 1w"
_MAX_DIGITS = 12  # far beyond any use, and int() of a 5,000-digit text is an error of its own


class DurationError(ValueError):
    """The text is not a duration; the message names the value and what was expected."""


def parse_duration(value: object, *, seconds: bool = False) -> int:
    """Seconds in a duration such as ``4h`` or ``1d12h``; raises DurationError naming the bad value.

    desk.yaml's SLAs have no use for seconds; ``seconds=True`` also takes ``s`` (the sandbox clock).
    """
    units = {"s": 1, **UNIT_SECONDS} if seconds else UNIT_SECONDS
    examples = "90s, 8h30m, 2d or 1w" if seconds else EXAMPLES
    if isinstance(value, bool) or not isinstance(value, (str, int)):
        raise DurationError(f"{value!r} is not a duration; use e.g. {examples}")
    text = str(value).strip().lower().replace(" ", "")
    if not text:
        raise DurationError(f"empty duration; use e.g. {examples}")
    total, position = 0, 0
    for match in _PART_RE.finditer(text):
        if match.start() != position:
            break
        number, unit = match.groups()
        if len(number) > _MAX_DIGITS:
            raise DurationError(f"'{str(value)[:40]}' is far too long a duration; use e.g. {examples}")
        if not unit:
            raise DurationError(
                f"'{value}' has no unit; use m (minutes), h (hours), d (days) or w (weeks), e.g. {examples}"
            )
        if unit not in units:
            raise DurationError(f"'{value}' has an unknown unit '{unit}'; use {_choices(units)}, e.g. {examples}")
        total += int(number) * units[unit]
        position = match.end()
    if position != len(text):
        raise DurationError(f"'{value}' is not a duration; use e.g. {examples}")
    if total == 0:
        raise DurationError(f"'{value}' is zero; a duration must be positive")
    return total


def _choices(units: dict[str, int]) -> str:
    names = list(units)
    return f"{', '.join(names[:-1])} or {names[-1]}"


def describe_duration(seconds: int) -> str:
    """Human text for templates: 90000 -> ``1 day 1 hour``."""
    parts = []
    for unit in ("w", "d", "h", "m"):
        count, seconds = divmod(seconds, UNIT_SECONDS[unit])
        if count:
            parts.append(f"{count} {_UNIT_NAMES[unit]}{'s' if count != 1 else ''}")
    return " ".join(parts) or "0 minutes"
