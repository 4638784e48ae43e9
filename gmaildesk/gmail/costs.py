"""Gmail quota units per method (Gmail's quota page, the table for projects created from May 2026).

Only for estimates in summaries (`sweep --json`); Gmail's own accounting is authoritative.
"""

from __future__ import annotations

UNITS: dict[str, int] = {
    "users.getProfile": 1,
    "users.history.list": 2,
    "users.labels.list": 1,
    "users.labels.get": 1,
    "users.messages.list": 5,
    "users.messages.get": 20,
    "users.messages.modify": 5,
    "users.messages.batchModify": 50,
    "users.messages.send": 100,
    "users.threads.list": 10,
    "users.threads.get": 40,
    "users.threads.modify": 10,
}
DEFAULT_UNITS = 5


def units(method: str) -> int:
    """Units of one call of *method* ("users.threads.get" or "gmail.users.threads.get")."""
    return UNITS.get(method.removeprefix("gmail."), DEFAULT_UNITS)
