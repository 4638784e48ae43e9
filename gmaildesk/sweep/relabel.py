"""Label writes as messages.batchModify calls: one per (add, remove) set and MAX_MODIFY_IDS ids.

Shared by the status relabelling (engine) and the assignment pass (assign): both group their
writes by the label sets they add and remove, and both need to know which conversations a failed
call leaves unwritten.
"""

from __future__ import annotations

from dataclasses import dataclass

from gmaildesk.gmail.api import MAX_MODIFY_IDS, GmailApi
from gmaildesk.gmail.types import Modify

__all__ = ["Writes", "Relabelled", "batch_modify"]

# (label ids to add, label ids to remove) -> [(message id, its thread id)]
Writes = dict[tuple[frozenset[str], frozenset[str]], list[tuple[str, str]]]


@dataclass(frozen=True)
class Relabelled:
    failed_threads: set[str]
    errors: list[str]
    calls: int  # batchModify calls made
    messages_modified: int  # ids sent in them


def batch_modify(api: GmailApi, writes: Writes, doing: str) -> Relabelled:
    """Make `writes` (in a stable order); `doing` names the work in an error ("relabelling 3 conversations: ...")."""
    changes: list[Modify] = []
    members: list[set[str]] = []
    for (add, remove), entries in sorted(writes.items(), key=lambda kv: (sorted(kv[0][0]), sorted(kv[0][1]))):
        for start in range(0, len(entries), MAX_MODIFY_IDS):
            part = entries[start : start + MAX_MODIFY_IDS]
            changes.append(Modify(tuple(m for m, _ in part), add, remove))
            members.append({t for _, t in part})
    failed: set[str] = set()
    errors: list[str] = []
    for threads, answer in zip(members, api.batch_modify(changes), strict=True):
        if answer is not None:
            errors.append(f"{doing} {len(threads)} conversations: {answer.message}")
            failed |= threads
    return Relabelled(failed, errors, len(changes), sum(len(c.ids) for c in changes))
