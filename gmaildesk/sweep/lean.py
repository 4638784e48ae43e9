"""The lean sweep: which conversations one messages.get reads as exactly as threads.get would.

A conversation of one message is that message: messages.get (metadata, the classifier's
headers) answers what threads.get would, at half the units (20 against 40 in the current
table, 5 against 10 in the legacy one; gmaildesk.gmail.costs). Everything else is still read
whole: the classifier needs every earlier message of a conversation (who its customers are,
whether a reply answers us), so reading less would be a guess, and the sweep does not guess.
After a lost history (Gmail keeps about a week of it), a stored conversation whose messages and
status labels are as the store has them is not read at all (`unchanged`).

Two ways a conversation is known to hold one message:
- full sweep: messages.list over the scope names the conversations, messages.list over the
  whole mailbox (spam and trash left out, as the engine leaves them out of a thread) names
  every message of each; one there is one. A conversation may hold messages outside the scope
  (older than `newer_than:90d`), hence the second listing.
- incremental run: history names a new message of a conversation the store does not know, and
  the conversation's id is that message's id. Gmail gives a conversation the id of the message
  that started it - seen in every mailbox and modelled by the sandbox, but not in Google's
  reference - so a reply to an old conversation (its id is the old message's) is read whole.
  The convention is checked on every conversation the same run reads whole: one whose
  starting message is not its oldest turns the shortcut off for the run.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field

from gmaildesk.gmail.api import LIST_PAGE, GmailApi
from gmaildesk.gmail.costs import CostTable, units
from gmaildesk.gmail.types import Message, MessageRef, Thread
from gmaildesk.sweep.classify import CLASSIFIER_HEADERS
from gmaildesk.sweep.history import Delta
from gmaildesk.sweep.store import ThreadRow

__all__ = [
    "ScopeListing",
    "scope_listing",
    "unchanged",
    "new_conversations",
    "ids_name_first_messages",
    "read_single",
    "READ_CHUNK",
]

READ_CHUNK = 50


@dataclass(frozen=True)
class ScopeListing:
    """The scope's conversations in listing order, and what the listings say of their messages."""

    thread_ids: list[str]
    single: dict[str, str]  # conversation -> its one message, where it has one
    members: dict[str, set[str]]  # conversation -> every message of it as far as listed
    in_scope: list[MessageRef] = field(default_factory=list)  # messages.list over the scope, newest first
    everything: list[MessageRef] | None = None  # ... over the whole mailbox; None: not listed (too big)


def scope_listing(api: GmailApi, scope: str, messages_total: int | None, table: CostTable) -> ScopeListing:
    """The scope's conversations, their one message where they have one, every message of each.

    messages.list over the scope, then over the whole mailbox - unless the profile's messagesTotal
    says that listing would cost more than the messages.get it could save (a mailbox of years
    swept over `newer_than:90d`): then every conversation is read whole. A message listed by the
    first pass but gone from the second (deleted meanwhile) reads its conversation whole too.
    """
    in_scope = api.message_refs(scope)
    thread_ids = list(dict.fromkeys(ref.thread_id for ref in in_scope))
    scoped: dict[str, set[str]] = defaultdict(set)
    for ref in in_scope:
        scoped[ref.thread_id].add(ref.id)
    if not scope.strip():
        everything = in_scope
    elif _listing_pays(len(scoped), messages_total, table):
        everything = api.message_refs("")
    else:
        return ScopeListing(thread_ids, {}, dict(scoped), in_scope, None)
    members: dict[str, set[str]] = defaultdict(set)
    for ref in everything:
        members[ref.thread_id].add(ref.id)
    single = {t: next(iter(members[t])) for t in thread_ids if len(members.get(t, ())) == 1 and scoped[t] <= members[t]}
    return ScopeListing(thread_ids, single, dict(members), in_scope, everything)


def _listing_pays(candidates: int, messages_total: int | None, table: CostTable) -> bool:
    """Listing every message (pages of 500) costs less than reading `candidates` conversations
    with messages.get instead of threads.get would save: a conversation of one message is read
    so, and one the listings decide (listed.py) costs at most one messages.get, both only with
    the whole mailbox listed (a conversation may hold messages outside the scope)."""
    if messages_total is None:
        return True
    pages = max(1, -(-messages_total // LIST_PAGE))
    saved = units("users.threads.get", table) - units("users.messages.get", table)
    return pages * units("users.messages.list", table) < candidates * saved


def unchanged(
    api: GmailApi,
    scope: str,
    rows: Mapping[str, ThreadRow],
    managed: Iterable[str],
    members: Mapping[str, set[str]],
) -> set[str]:
    """Stored conversations that are as the last sweep left them: the same messages, each with
    exactly the status labels that sweep set. One messages.list per status label (labelIds, an
    exact filter) over the scope.

    After the history is lost this is what the history would have told: no new or deleted
    message, no status changed by hand (a department label changed by hand is ignored, as an
    incremental run ignores it). Reading such a conversation again decides the same from the
    same messages; what time changes (overdue, closed) comes from the store without reading.
    A draft, a message outside the scope or one moved to spam or trash reads it again.
    """
    labelled: dict[str, set[str]] = defaultdict(set)  # message -> its status labels
    for label_id in sorted(managed):
        for ref in api.message_refs(scope, [label_id]):
            labelled[ref.id].add(label_id)
    return {
        thread_id
        for thread_id, row in rows.items()
        if members.get(thread_id) == set(row.message_ids)
        and all(labelled.get(m, set()) == set(row.labels) for m in row.message_ids)
    }


def new_conversations(deltas: Mapping[str, Delta], rows: Mapping[str, ThreadRow]) -> dict[str, str]:
    """Conversations history shows starting with one new message: unknown to the store, only
    that message added (named like the conversation), nothing deleted, nothing else to re-read."""
    return {
        thread_id: thread_id
        for thread_id, delta in deltas.items()
        if thread_id not in rows
        and not delta.full
        and not delta.deleted
        and list(dict.fromkeys(delta.added)) == [thread_id]
    }


def ids_name_first_messages(threads: Iterable[Thread]) -> bool:
    """No conversation read shows a message older than the one whose id it carries."""
    for thread in threads:
        dates = {m.id: m.internal_date for m in thread.messages}
        if thread.id in dates and dates[thread.id] > min(dates.values()):
            return False
    return True


def read_single(
    api: GmailApi, single: Mapping[str, str], progress: Callable[[str, int, int], None] | None = None
) -> dict[str, Thread]:
    """messages.get of each conversation's one message, as the Thread threads.get would answer.

    A message that fails (404 included) or now belongs elsewhere is left out: the caller reads
    that conversation with threads.get, which has the engine's handling of 404s and errors.
    """
    read: dict[str, Thread] = {}
    wanted = list(single.items())
    for start in range(0, len(wanted), READ_CHUNK):
        chunk = wanted[start : start + READ_CHUNK]
        answers = api.messages([m for _, m in chunk], CLASSIFIER_HEADERS)
        for (thread_id, message_id), answer in zip(chunk, answers, strict=True):
            if isinstance(answer, Message) and answer.id == message_id and answer.thread_id == thread_id:
                read[thread_id] = Thread(thread_id, (answer,))
        if progress:
            progress("read", min(start + READ_CHUNK, len(wanted)), len(wanted))
    return read
