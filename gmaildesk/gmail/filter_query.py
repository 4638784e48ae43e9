"""A Gmail filter's criteria as one search query: shared by the sandbox (which applies filters on
delivery), the desk engine (plan text, config tests) and the config checks."""

from __future__ import annotations

from typing import Any


def filter_query(criteria: dict[str, Any]) -> str:
    """A filter's criteria as one Gmail search query; all criteria must hold (Gmail's rule)."""
    parts = []
    for key, operator in (("from", "from"), ("to", "to"), ("subject", "subject")):
        if criteria.get(key):
            parts.append(f"{operator}:({criteria[key]})")
    if criteria.get("query"):
        parts.append(f"({criteria['query']})")
    if criteria.get("negatedQuery"):
        parts.append(f"-({criteria['negatedQuery']})")
    if criteria.get("hasAttachment"):
        parts.append("has:attachment")
    if criteria.get("size") and criteria.get("sizeComparison") in ("larger", "smaller"):
        parts.append(f"{criteria['sizeComparison']}:{int(criteria['size'])}")
    return " ".join(parts)
