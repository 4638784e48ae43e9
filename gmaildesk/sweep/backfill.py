"""The backfill: which conversations a lean first sweep decided from listings the next sweeps read whole.

Each incremental sweep reads some of them with threads.get, from the quota a few-minutes cron leaves
idle: by default one minute of the per-user limit (150 conversations at 6,000 units/min and 40 a
threads.get; 1,500 under the legacy table). Reading one whole fills in its message facts (first
response, agents, every message) and confirms the state the listings gave - or corrects it, with a
transition like any other. Presumptions first: conversations whose state rests on a sent message
nobody read (handled, forwarded, closed, no status) before those the customer's message decided.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping

from gmaildesk.config.desk import Quota
from gmaildesk.gmail.api import GmailApi
from gmaildesk.gmail.costs import units
from gmaildesk.gmail.pacing import per_user_limit
from gmaildesk.sweep.state import State
from gmaildesk.sweep.store import ThreadRow

__all__ = ["backfill_ids", "per_run"]

_CUSTOMER_DECIDED = (State.NEW, State.WAITING)


def per_run(quota: Quota, api: GmailApi) -> int:
    """Conversations one sweep reads whole for the backfill when not told: a minute of the quota."""
    table = api.usage().costs
    limit = quota.units_per_minute or per_user_limit(table)
    return max(1, limit // units("users.threads.get", table))


def backfill_ids(
    rows: Mapping[str, ThreadRow], queued: Collection[str], count: int | None, quota: Quota, api: GmailApi
) -> list[str]:
    """Up to `count` (None: per_run) provisional conversations not already read by this run, in order."""
    limit = per_run(quota, api) if count is None else count
    if limit <= 0:
        return []
    waiting = [r for r in rows.values() if r.provisional and r.thread_id not in queued]
    waiting.sort(key=lambda r: (r.state in _CUSTOMER_DECIDED, r.thread_id))
    return [r.thread_id for r in waiting[:limit]]
