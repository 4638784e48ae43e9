"""After the sweep: who owns each conversation, kept as an `Agent/<name>` label and in the store's owners.

Runs after engine.run committed, so the store's rows are this sweep's. Only with named agents in `team:`.
1. Gmail's agent labels are the truth the team sees: one threads.list per agent label. A label set by
   hand wins and is kept (how='hand'); one removed by hand unassigns the conversation; gmaildesk
   removes only an agent label it set itself (when a hand-set one replaces it).
2. Replies: an unowned conversation this sweep saw answered by an agent - from their address, one of
   their aliases, or the shared mailbox with Gmail's `Sender:` naming them (a delegate) - is theirs
   (how='reply').
3. New conversations: one the sweep sees for the first time in state new (nobody answered yet), in a
   department with `assign: round_robin | least_open`, goes to the next agent of the rotation or to
   the one with the fewest open conversations (ties: the rotation's order); away agents and agents of
   other departments are skipped (how='rotation'). A first full sweep so assigns what still awaits a
   first answer, never the answered history.
Writes: the owners row first with labelled=0 (the intent), the label write recorded as our own, then
messages.batchModify, then labelled=1. A run killed in between leaves an intent the next run completes.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field

from gmaildesk.config.desk import Agent, Desk
from gmaildesk.gmail.api import GmailApi
from gmaildesk.gmail.errors import GmailApiError
from gmaildesk.gmail.query import normalize_label_name
from gmaildesk.sweep.classify import Kind
from gmaildesk.sweep.headers import Headers
from gmaildesk.sweep.relabel import Writes, batch_modify
from gmaildesk.sweep.result import SweepResult
from gmaildesk.sweep.state import State
from gmaildesk.sweep.store import OwnWrite, Store, ThreadRow

__all__ = ["Owner", "assign", "OPEN_STATES"]

OPEN_STATES = (State.NEW.value, State.WAITING.value)
ROUTINE_RULES = ("round_robin", "least_open")
# Gmail Help 138350 (mail delegation): a delegate's message is sent from the shared address and shows
# "sent by" the delegate - the Sender: header (RFC 5322 3.6.2) names them.
SENDER_HEADERS = ("From", "Sender")


@dataclass(frozen=True)
class Owner:
    agent: str  # the team entry's name
    how: str  # rotation | reply | hand | command
    labelled: bool = True  # False: the label write was not confirmed yet


@dataclass
class _Plan:
    owners: dict[str, Owner | None] = field(default_factory=dict)  # thread -> new owner (None: unassigned)
    add: dict[str, str] = field(default_factory=dict)  # thread -> agent whose label to add
    remove: dict[str, str] = field(default_factory=dict)  # thread -> agent whose label to take off
    rotation: dict[str, str] = field(default_factory=dict)  # department -> last agent


def assign(api: GmailApi, desk: Desk, store: Store, result: SweepResult, now_ms: int) -> None:
    """Steps 1-3 of the module docstring; problems are added to result.errors (the run is partial)."""
    agents = list(desk.team.agents)
    if not agents or result.dry_run:
        return
    label_ids = {lab.name.casefold(): lab.id for lab in api.labels()}
    missing = [a.label for a in agents if a.label.casefold() not in label_ids]
    if missing:
        result.errors.append(f"no label {', '.join(missing)} in Gmail: run `gmaildesk apply` to create it")
    labelled = [a for a in agents if a.label.casefold() in label_ids]
    rows = store.threads()
    owners = read_owners(store)
    plan = _Plan()
    _reconcile(plan, owners, _labels_in_gmail(api, labelled, rows, desk.sweep.scope), agents)
    owned = {t for t, o in {**owners, **plan.owners}.items() if o is not None}
    # Conversations whose messages this sweep read: changed ones, and those the backfill read whole
    # (a lean first sweep left their replies unread: who answered is known only now).
    touched = dict.fromkeys([*(t.thread_id for t in result.transitions), *result.backfilled_threads])
    _by_reply(plan, api, store, [t for t in touched if t not in owned and t in rows], labelled)
    owned |= {t for t, o in plan.owners.items() if o is not None}
    first_seen = [t.thread_id for t in result.transitions if t.from_state is None and _is_new(t.to_state)]
    _by_rotation(plan, store, desk, [rows[t] for t in first_seen if t in rows and t not in owned], labelled)
    if plan.owners or plan.add or plan.remove or plan.rotation:
        label_of = {a.name: label_ids[a.label.casefold()] for a in labelled}
        _write(api, store, plan, rows, label_of, now_ms, result)


def read_owners(store: Store) -> dict[str, Owner]:
    rows = store.db.execute("SELECT thread_id, agent, how, labelled FROM owners").fetchall()
    return {t: Owner(agent, how, bool(done)) for t, agent, how, done in rows}


def _is_new(state: str | None) -> bool:
    return state is not None and state.split("+")[0] == State.NEW.value


def _labels_in_gmail(api: GmailApi, agents: list[Agent], rows: dict[str, ThreadRow], scope: str) -> dict[str, set[str]]:
    """Thread -> the agents whose label is on it (threads the store knows only: within sweep.scope).
    Gmail search finds a nested label by its name with '-' for '/' and spaces (label:agent-alice)."""
    found: dict[str, set[str]] = defaultdict(set)
    for agent in agents:
        for thread_id in api.thread_ids(f"label:{normalize_label_name(agent.label)} ({scope})"):
            if thread_id in rows:
                found[thread_id].add(agent.name)
    return found


def _reconcile(plan: _Plan, owners: dict[str, Owner], in_gmail: dict[str, set[str]], agents: list[Agent]) -> None:
    """Step 1: what people did to the agent labels in Gmail since the last run."""
    order = {a.name: i for i, a in enumerate(agents)}

    def first(names: Iterable[str]) -> str:
        return min(names, key=lambda n: order.get(n, len(order)))

    for thread_id in sorted(owners.keys() | in_gmail.keys()):
        owner, present = owners.get(thread_id), in_gmail.get(thread_id, set())
        if owner is not None and not owner.labelled:  # our write of a run that died: confirm or redo it
            if owner.agent in present:
                plan.owners[thread_id] = Owner(owner.agent, owner.how)
            else:
                plan.add[thread_id] = owner.agent
            continue
        if owner is not None and owner.agent in present:
            others = present - {owner.agent}
            if others and owner.how != "hand":  # a colleague relabelled it by hand: theirs wins, ours goes
                plan.owners[thread_id] = Owner(first(others), "hand")
                plan.remove[thread_id] = owner.agent
        elif present:
            plan.owners[thread_id] = Owner(first(present), "hand")
        elif owner is not None:  # the label was taken off by hand
            plan.owners[thread_id] = None


def _by_reply(plan: _Plan, api: GmailApi, store: Store, thread_ids: list[str], agents: list[Agent]) -> None:
    """Step 2: the first agent who answered an unowned conversation owns it."""
    by_address = {address: a.name for a in agents for address in (a.email, *a.aliases) if address is not None}
    replies: dict[str, list[tuple[str, str]]] = {}
    for thread_id in thread_ids:
        replies[thread_id] = store.db.execute(
            "SELECT message_id, COALESCE(from_addr, '') FROM messages WHERE thread_id = ? AND kind = ? "
            "ORDER BY at, message_id",
            (thread_id, Kind.OURS_REPLY.value),
        ).fetchall()
    unknown = [m for found in replies.values() for m, sender in found if sender.lower() not in by_address]
    senders = _delegates(api, unknown)
    for thread_id, found in replies.items():
        for message_id, sender in found:
            agent = by_address.get(sender.lower()) or by_address.get(senders.get(message_id, ""))
            if agent is not None:
                plan.owners[thread_id] = Owner(agent, "reply")
                plan.add[thread_id] = agent
                break


def _delegates(api: GmailApi, message_ids: list[str]) -> dict[str, str]:
    """Message -> the Sender: address of replies the store knows only by their From."""
    found: dict[str, str] = {}
    for start in range(0, len(message_ids), 50):
        chunk = message_ids[start : start + 50]
        for answer in api.messages(chunk, SENDER_HEADERS):
            if isinstance(answer, GmailApiError):
                continue  # the reply stays unattributed; a later rotation or the assign command decides
            sender = Headers(answer.headers).addresses("Sender", bare=True)
            if sender:
                found[answer.id] = sender[0].lower()
    return found


def _by_rotation(plan: _Plan, store: Store, desk: Desk, rows: list[ThreadRow], agents: list[Agent]) -> None:
    """Step 3: first seen, still awaiting a first answer, in a department that assigns."""
    rules = {d.name: d.assign for d in desk.departments if d.assign in ROUTINE_RULES}
    last = dict(store.db.execute("SELECT department, last_agent FROM rotation").fetchall())
    open_count = _open_counts(store)
    for row in sorted(rows, key=lambda r: (r.first_customer_at or 0, r.thread_id)):
        department = row.department
        if department not in rules:
            continue
        eligible = [a for a in agents if not a.away and a.serves(department)]
        if not eligible:
            continue
        after = plan.rotation.get(department, last.get(department))
        ordered = _after(eligible, after)
        if rules[department] == "least_open":
            ordered = sorted(ordered, key=lambda a: open_count[a.name])  # stable: ties keep the rotation's order
        chosen = ordered[0]
        plan.owners[row.thread_id] = Owner(chosen.name, "rotation")
        plan.add[row.thread_id] = chosen.name
        plan.rotation[department] = chosen.name
        open_count[chosen.name] += 1


def _after(agents: list[Agent], last: str | None) -> list[Agent]:
    """The agents in team order, starting after *last* (the one who got the previous conversation)."""
    names = [a.name for a in agents]
    start = names.index(last) + 1 if last in names else 0
    return agents[start:] + agents[:start]


def _open_counts(store: Store) -> dict[str, int]:
    counts: dict[str, int] = defaultdict(int)
    marks = ", ".join("?" * len(OPEN_STATES))
    for agent, count in store.db.execute(
        f"SELECT o.agent, COUNT(*) FROM owners o JOIN threads t USING (thread_id) WHERE t.state IN ({marks}) "
        "GROUP BY o.agent",
        OPEN_STATES,
    ):
        counts[agent] = count
    return counts


def _write(
    api: GmailApi,
    store: Store,
    plan: _Plan,
    rows: dict[str, ThreadRow],
    label_of: dict[str, str],
    now_ms: int,
    result: SweepResult,
) -> None:
    """Intent, own writes, batchModify, confirmation (see the module docstring)."""
    write_id = uuid.uuid4().hex
    writes: Writes = defaultdict(list)
    for thread_id in plan.add.keys() | plan.remove.keys():
        add = frozenset(label_of[a] for a in [plan.add.get(thread_id)] if a in label_of)
        remove = frozenset(label_of[a] for a in [plan.remove.get(thread_id)] if a in label_of)
        row = rows.get(thread_id)
        for message_id in row.message_ids if row is not None else ():
            writes[(add, remove)].append((message_id, thread_id))
    cursor = store.checkpoint().history_id or "0"
    with store.transaction("recording owners in"):
        for thread_id, owner in plan.owners.items():
            _save_owner(store, thread_id, owner, labelled=thread_id not in plan.add, now_ms=now_ms)
        store.db.executemany(
            "INSERT OR REPLACE INTO rotation (department, last_agent) VALUES (?, ?)", plan.rotation.items()
        )
    if writes:
        store.record_writes(cursor, write_id, [OwnWrite(m, a, r) for (a, r), ms in writes.items() for m, _ in ms])
    relabelled = batch_modify(api, writes, "assigning")
    result.errors.extend(relabelled.errors)
    failed = relabelled.failed_threads
    done = [t for t in plan.add if t in rows and t not in failed]
    store.confirm_owners(done, write_id)


def _save_owner(store: Store, thread_id: str, owner: Owner | None, *, labelled: bool, now_ms: int) -> None:
    if owner is None:
        store.db.execute("DELETE FROM owners WHERE thread_id = ?", (thread_id,))
        return
    store.db.execute(
        "INSERT INTO owners (thread_id, agent, how, at, labelled) VALUES (?, ?, ?, ?, ?) "
        "ON CONFLICT (thread_id) DO UPDATE SET agent = excluded.agent, how = excluded.how, at = excluded.at, "
        "labelled = excluded.labelled",
        (thread_id, owner.agent, owner.how, now_ms, int(labelled)),
    )
