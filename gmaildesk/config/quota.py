"""desk.yaml `sweep.quota`: the Gmail quota of the Cloud project the desk runs under.

The numbers are Gmail's quota page (developers.google.com/workspace/gmail/api/reference/quota):
projects created from 1 May 2026 get 6,000 units per minute per user and the "current" cost
table (threads.get 40, messages.get 20); projects that used the API before keep 15,000 and the
"legacy" table (threads.get 10, messages.get 5). Every project has 1,200,000 units per minute and
an 80,000,000-unit daily threshold. The gmail layer holds the same numbers (gmaildesk.gmail.pacing):
config may not import it.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BeforeValidator

from gmaildesk.config.fields import describe, fail

PROJECT_UNITS_PER_MINUTE = 1_200_000
PROJECT_DAILY_UNITS = 80_000_000
COST_TABLES = ("current", "legacy")
_WHERE = "The Cloud console's APIs & Services > Gmail API > Quotas page shows your project's limits."


def _whole(value: object, low: int, high: int, hint: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        fail(f"expected a whole number of quota units, got {describe(value)}", hint)
    if not low <= value <= high:
        fail(f"must be between {low:,} and {high:,} quota units, got {value:,}", hint)
    return value


def _units_per_minute(value: object) -> object:
    if value is None:
        return value
    return _whole(
        value,
        1,
        PROJECT_UNITS_PER_MINUTE,
        f"Gmail allows 6000 per user per minute (projects created since May 2026) or 15000 (older ones). {_WHERE}",
    )


def _project_units_per_minute(value: object) -> object:
    return _whole(value, 1, 10**9, f"Gmail allows 1200000 per project per minute unless raised. {_WHERE}")


def _daily_units(value: object) -> object:
    return _whole(value, 1, PROJECT_DAILY_UNITS, "Gmail's daily threshold is 80000000 units per project.")


def _costs(value: object) -> object:
    if value not in COST_TABLES:
        fail(
            f"{describe(value)} is not a quota cost table",
            "current: Cloud projects created since 2026-05-01 (threads.get 40, messages.get 20); "
            "legacy: projects on the earlier quota (threads.get 10, messages.get 5).",
        )
    return value


UnitsPerMinute = Annotated[int | None, BeforeValidator(_units_per_minute)]
ProjectUnitsPerMinute = Annotated[int, BeforeValidator(_project_units_per_minute)]
DailyUnits = Annotated[int, BeforeValidator(_daily_units)]
CostTableName = Annotated[Literal["current", "legacy"], BeforeValidator(_costs)]
