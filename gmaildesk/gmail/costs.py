"""Gmail quota units per method, in both of the quota page's tables.

"current": projects created from 1 May 2026 (body reads cost more); "legacy": the earlier table,
which projects that used the API between November 2025 and April 2026 keep (Gmail's quota page,
developers.google.com/workspace/gmail/api/reference/quota; threads.get 40 and threads.trash 20
from third-party tables, see ../shared/reference/gmail-api.md §A1). They drive the pacer
(gmaildesk.gmail.pacing) and the units `sweep --json` reports; Gmail's own accounting is
authoritative.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import Literal

CostTable = Literal["current", "legacy"]
TABLES: tuple[CostTable, ...] = ("current", "legacy")
DEFAULT_TABLE: CostTable = "current"

_LEGACY: dict[str, int] = {
    "users.getProfile": 1,
    "users.history.list": 2,
    "users.labels.create": 5,
    "users.labels.delete": 5,
    "users.labels.get": 1,
    "users.labels.list": 1,
    "users.labels.patch": 5,
    "users.labels.update": 5,
    "users.messages.list": 5,
    "users.messages.get": 5,
    "users.messages.modify": 5,
    "users.messages.batchModify": 50,
    "users.messages.insert": 25,
    "users.messages.import": 25,
    "users.messages.send": 100,
    "users.messages.trash": 5,
    "users.drafts.create": 10,
    "users.drafts.delete": 10,
    "users.drafts.get": 5,
    "users.drafts.list": 5,
    "users.drafts.send": 100,
    "users.drafts.update": 15,
    "users.threads.list": 10,
    "users.threads.get": 10,
    "users.threads.modify": 10,
    "users.threads.trash": 10,
    "users.settings.filters.create": 5,
    "users.settings.filters.delete": 5,
    "users.settings.filters.list": 1,
    "users.settings.getVacation": 1,
    "users.settings.updateVacation": 5,
    "users.settings.sendAs.list": 1,
    "users.settings.sendAs.create": 100,
    "users.settings.sendAs.patch": 100,
    "users.settings.sendAs.update": 100,
    "users.settings.sendAs.delete": 5,
}
_CURRENT: dict[str, int] = {
    **_LEGACY,
    "users.messages.get": 20,
    "users.messages.trash": 20,
    "users.drafts.get": 20,
    "users.threads.get": 40,
    "users.threads.trash": 20,
}
UNITS: dict[str, int] = _CURRENT  # the current table, by method
COSTS: dict[CostTable, dict[str, int]] = {"current": _CURRENT, "legacy": _LEGACY}
DEFAULT_UNITS = 5


def units(method: str, table: CostTable = DEFAULT_TABLE) -> int:
    """Units of one call of *method* ("users.threads.get" or "gmail.users.threads.get") under *table*."""
    return COSTS[table].get(method.removeprefix("gmail."), DEFAULT_UNITS)


def cost_function(table: CostTable = DEFAULT_TABLE) -> Callable[[str], int]:
    """units() bound to one table: what a pacer charges per method id."""
    return partial(units, table=table)
