"""Who owns what, from the store's owners table (the sweep's assignment and `gmaildesk assign` write it).

A conversation has one owner at most: the agent whose Agent/ label it carries. The audit only reads.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass

__all__ = ["AgentLoad", "open_by_agent", "OWNER_COLUMN", "OWNED_BY"]

# For a SELECT over threads: the owner's name, NULL when nobody owns it.
OWNER_COLUMN = "(SELECT agent FROM owners WHERE owners.thread_id = threads.thread_id)"
# A WHERE condition over threads taking one parameter, the agent's name (any case).
OWNED_BY = "thread_id IN (SELECT thread_id FROM owners WHERE lower(agent) = lower(?))"


@dataclass(frozen=True)
class AgentLoad:
    agent: str | None  # None: the open conversations nobody owns
    open: int  # new or waiting
    overdue: int  # of those, past their deadline now


def open_by_agent(db: sqlite3.Connection, now_ms: int, agents: Sequence[str]) -> list[AgentLoad]:
    """Open conversations per agent: every agent of *agents* (desk.yaml's order, 0 too), then any other
    owner the store still names (an agent since removed from the team), then the unassigned ones."""
    counts: dict[str | None, tuple[int, int]] = {}
    for agent, count, overdue in db.execute(
        f"SELECT {OWNER_COLUMN} AS owner, count(*), "
        "sum(overdue OR (due_at IS NOT NULL AND due_at < ?)) "
        "FROM threads WHERE state IN ('new', 'waiting') GROUP BY owner",
        (now_ms,),
    ):
        counts[agent] = (count, overdue or 0)
    named = list(dict.fromkeys(agents))
    others = sorted(a for a in counts if a is not None and a not in named)
    return [AgentLoad(a, *counts.get(a, (0, 0))) for a in [*named, *others, None]]
