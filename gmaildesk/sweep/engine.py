"""The sweep: read what changed in Gmail, decide each conversation's state, relabel, remember.

One run:
1. labels.list (status and department label ids).
2. What to read: on the first run (or --full, or when Gmail forgot or refused our history
   checkpoint) every thread of `sweep.scope` (lean, after an expired history: those the listings
   show changed), the cursor being the profile's historyId read before the listing; later only
   threads history.list names since the cursor, plus those the last run left to re-read
   (`recheck`, `pending`). A label event that is one of our own writes, or touches no label we
   manage, is ignored; any other change of a status label reads the thread, and the last status
   an agent added by hand is kept (state.decide) even when our own write overwrote it meanwhile.
3. threads.get(format=metadata, only the classifier's headers), 50 per batch; classify;
   decide. Threads not read get their time-driven transitions (overdue, closed) from the store.
   Incremental shortcut: a stored thread whose only history since the checkpoint is new
   messages gets just those from messages.get (half a threads.get's units), classified after
   the messages the store kept; anything missing or odd falls back to threads.get. Lean (the
   default): a thread of one message is read with messages.get instead (sweep/lean.py).
   A thread Gmail named but answers 404 for (it may, for seconds after delivery) is `pending`:
   read again on the next runs, reported as retrying, and given up only after RETRY_RUNS runs
   and RETRY_MS, whichever is later.
4. Relabel: messages grouped by identical (add, remove) sets, one messages.batchModify per
   group and 1000 ids, recorded in the store as our own just before (a crash after the writes
   still leaves them recognisable). Nothing is ever deleted.
5. Settle: the history since the run's start is read once more; our own writes are passed
   there, anything else that happened while the run was busy (a first sweep of 10,000
   conversations takes an hour) - an agent's status label, a new message - goes to `recheck`
   for the next run, and the cursor moves to the end of that history. Never skipped: if this
   read fails, the cursor stays at the run's start and the next run sorts the events out.
6. Only then: checkpoint, thread rows, journal, pending and recheck sets in one store transaction.
"""

from __future__ import annotations

import dataclasses
import time
import uuid
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from gmaildesk.config.desk import Desk
from gmaildesk.errors import GmailDeskError
from gmaildesk.gmail.api import GmailApi
from gmaildesk.gmail.errors import GmailApiError
from gmaildesk.gmail.types import Message, Profile, Thread, Usage
from gmaildesk.sweep import lean as lean_reading
from gmaildesk.sweep import listed
from gmaildesk.sweep.backfill import backfill_ids
from gmaildesk.sweep.classify import (
    CLASSIFIER_HEADERS,
    POSSIBLY_AUTOMATIC,
    Classified,
    Kind,
    MessageMeta,
    Us,
    classify_message,
    classify_thread,
    customer_addresses,
)
from gmaildesk.sweep.facts import conversation_facts, with_flags
from gmaildesk.sweep.history import HIDDEN, Delta, StatusLabels, scan
from gmaildesk.sweep.listed_reading import ListedReader, sample_size
from gmaildesk.sweep.reading import Decision as _Decision
from gmaildesk.sweep.reading import Reading as _Reading
from gmaildesk.sweep.reading import message_meta
from gmaildesk.sweep.relabel import Relabelled, Writes, batch_modify
from gmaildesk.sweep.result import SweepResult, Transition, state_label
from gmaildesk.sweep.state import Policy, Previous, State, decide, format_duration
from gmaildesk.sweep.store import Checkpoint, JournalEntry, MessageFact, OwnWrite, Pending, Store, ThreadRow

__all__ = ["run", "Profile", "SweepResult", "Transition", "state_label", "Progress"]

READ_CHUNK = 50
# A conversation Gmail named but answered 404 for is read again until both bounds have passed.
# Field reports of Gmail's read-after-list delay are seconds (~3 s); 15 minutes and 3 runs leave
# a wide margin without keeping a really deleted thread in the store for long.
RETRY_RUNS = 3
RETRY_MS = 15 * 60 * 1000
NOT_FOUND = 404
BAD_REQUEST = 400

Progress = Callable[[str, int, int], None]  # (phase, done, total)
# (labels to add, labels to remove) -> the (message, thread) pairs that need exactly that change


@dataclass(frozen=True)
class _Changes:
    """What this run reads: the threads, where the next run's history starts, and what history told."""

    thread_ids: list[str]
    cursor: str
    deltas: dict[str, Delta] = field(default_factory=dict)
    hand_set: dict[str, State] = field(default_factory=dict)  # thread -> the status an agent added last
    single: dict[str, str] = field(default_factory=dict)  # lean: thread -> its one message (listed)
    shapes: dict[str, listed.Shape] = field(default_factory=dict)  # lean first sweep: decided from listings


@dataclass(frozen=True)
class _Retries:
    """The pending set after this run and what it reports."""

    pending: dict[str, Pending]
    retrying: list[str]
    given_up: list[str]
    dropped: list[str]  # threads we knew that are gone for good (deleted)


def run(
    api: GmailApi,
    desk: Desk,
    store: Store,
    *,
    full: bool = False,
    dry_run: bool = False,
    now_ms: int,
    progress: Progress | None = None,
    profile: Profile | None = None,
    usage_from: Usage | None = None,
    lean: bool = True,
    backfill: int | None = None,
) -> SweepResult:
    """One sweep of desk.mailbox; see the module docstring. Raises GmailDeskError when nothing could be done.

    `profile`: api.profile() read just before this run (the caller's account check); a full run's
    history cursor. Without it a full run reads the profile itself. `usage_from`: the api's usage
    before that read, so that the summary counts it as this run's call. `lean`: read a conversation
    of one message with messages.get (sweep/lean.py) and decide a first sweep from Gmail's listings
    (sweep/listed.py); False reads every conversation with threads.get. `backfill`: conversations decided
    from listings to read whole in this run (None: a minute of the quota's worth, sweep/backfill.py).
    """
    started = time.monotonic()
    before = usage_from if usage_from is not None else api.usage()
    result = _Sweep(api, desk, store, now_ms, dry_run, progress, profile, lean, backfill).run(full)
    used = api.usage().since(before)
    result.calls_by_method = dict(used.by_method)
    result.api_calls = used.calls
    result.quota_units = used.units
    result.duration_s = time.monotonic() - started
    return result


class _Sweep:
    def __init__(
        self,
        api: GmailApi,
        desk: Desk,
        store: Store,
        now_ms: int,
        dry_run: bool,
        progress: Progress | None,
        profile: Profile | None,
        lean: bool = True,
        backfill: int | None = None,
    ):
        self.api, self.desk, self.store = api, desk, store
        self.lean = lean
        self.backfill = backfill
        self.now_ms = now_ms
        self.dry_run = dry_run
        self.progress = progress
        self.us = Us(
            addresses=frozenset({desk.mailbox, *desk.team.addresses, *(s.address for s in desk.send_as)}),
            domains=frozenset(desk.team.domains),
        )
        self.profile = profile
        self.sweep_id = uuid.uuid4().hex

    # ------------------------------------------------------------------ the run
    def run(self, full: bool) -> SweepResult:
        result = SweepResult(dry_run=self.dry_run)
        checkpoint = self.store.checkpoint()
        rows = self.store.threads()
        pending = self.store.pending()
        labels = self._labels()
        new_cp = Checkpoint(label_ids={s.value: i for s, i in labels.status.items()} | {"overdue": labels.overdue})
        changes: _Changes | None = None
        if not full and checkpoint.history_id is not None:
            changes, result.resync_reason = self._history(checkpoint.history_id, checkpoint, rows, labels)
            result.resynced = changes is None
        if changes is None:
            result.full = True
            changes = self._scope(rows, labels, result.resync_reason == "history expired")
        recheck = self.store.recheck()
        deltas, hand_set = dict(changes.deltas), dict(changes.hand_set)
        queued = {*changes.thread_ids, *pending, *recheck}
        backfilled = [] if result.full else backfill_ids(rows, queued, self.backfill, self.desk.sweep.quota, self.api)
        for thread_id in [*pending, *recheck, *backfilled]:  # 404 / changed by others during the last run / provisional
            deltas.setdefault(thread_id, Delta()).full = True
        for thread_id, hand_state in recheck.items():
            if hand_state and thread_id not in hand_set:  # this run's history is newer
                hand_set[thread_id] = hand_state
        to_read = list(dict.fromkeys([*changes.thread_ids, *pending, *recheck, *backfilled]))

        single = changes.single or (lean_reading.new_conversations(deltas, rows) if self.lean else {})
        reading = self._read_threads(to_read, rows, labels, deltas, hand_set, single, changes.shapes)
        reading.missing |= self._not_shown(reading.rows, deltas, pending)
        retries = self._bound_retries(pending, rows, reading)
        settled_by_reading = reading.rows.keys() | reading.attempted | set(retries.dropped)
        for thread_id in [t for t in rows if t not in settled_by_reading]:
            decision = self._time_driven(rows[thread_id], labels)
            if decision is not None:
                reading.take(decision)

        relabelled = Relabelled(set(), [], 0, 0) if self.dry_run else self._relabel(reading.writes, changes.cursor)
        errors = [*reading.errors, *relabelled.errors]
        new_recheck = {t: s for t, s in recheck.items() if t in reading.failed}  # not read: keep for the next run
        cursor: str | None = changes.cursor
        if reading.writes and not self.dry_run and not errors:
            settled = self._settle(changes.cursor, reading.writes, {**rows, **reading.rows}, labels)
            if settled is not None:
                cursor = settled[0]
                new_recheck |= settled[1]
        if errors:  # keep the old cursor: the next run re-reads what this one missed
            new_cp.history_id, new_cp.labels_history_id = checkpoint.history_id, checkpoint.labels_history_id
        else:
            new_cp.history_id = new_cp.labels_history_id = cursor
        new_cp.last_sweep_at = self.now_ms
        committed = {t: r for t, r in reading.rows.items() if t not in relabelled.failed_threads}
        transitions = [t for t in reading.transitions if t.thread_id not in relabelled.failed_threads]
        journal = [
            JournalEntry(
                t.thread_id,
                t.from_state,
                t.to_state,
                t.reason,
                self.now_ms,
                (committed[t.thread_id].last_counted_id or "") if t.thread_id in committed else "",
            )
            for t in transitions
        ]
        final = {**rows, **committed}
        for thread_id in retries.dropped:
            final.pop(thread_id, None)
        if not self.dry_run:
            self.store.commit(
                new_cp,
                list(committed.values()),
                journal,
                self.sweep_id,
                retries.dropped,
                retries.pending.values(),
                new_recheck,
            )
        result.threads_read = reading.threads_read
        result.provisional = sum(r.provisional for r in final.values())
        result.listing_check = reading.listing_check
        result.backfilled_threads = [t for t in backfilled if t in committed and not committed[t].provisional]
        result.backfilled = len(result.backfilled_threads)
        result.corrected = sum(1 for t in transitions if t.thread_id in set(backfilled))
        result.transitions = transitions
        result.errors = errors
        result.retrying, result.given_up = retries.retrying, retries.given_up
        result.messages_modified = relabelled.messages_modified
        result.threads_seen = len(final)
        result.by_state = _by_state(final.values())
        return result

    def _scope(self, rows: dict[str, ThreadRow], labels: StatusLabels, expired: bool) -> _Changes:
        """Every thread of sweep.scope, the cursor being the profile read before the listing:
        whatever changes from there on is in the history after it. Lean, after an expired history
        (not a refused cursor: the store may be damaged), stored threads the listings show
        unchanged are left to the time-driven transitions."""
        if self.profile is None:
            self.profile = self.api.profile()
        cursor = self.profile.history_id
        if self.lean:
            scope = lean_reading.scope_listing(
                self.api, self.desk.sweep.scope, self.profile.messages_total, self.api.usage().costs
            )
            thread_ids = scope.thread_ids
            if expired and rows:
                same = lean_reading.unchanged(self.api, self.desk.sweep.scope, rows, labels.managed, scope.members)
                thread_ids = [t for t in thread_ids if t not in same]
            return _Changes(
                thread_ids, cursor, single=scope.single, shapes=self._shapes(scope, thread_ids, rows, labels)
            )
        return _Changes(self.api.thread_ids(self.desk.sweep.scope), cursor)

    def _shapes(
        self, scope: lean_reading.ScopeListing, thread_ids: list[str], rows: dict[str, ThreadRow], labels: StatusLabels
    ) -> dict[str, listed.Shape]:
        """Conversations new to the store that the listings decide (listed.py); {} where they may not."""
        ack = self.desk.auto_ack
        if scope.everything is None or (ack is not None and ack.enabled and ack.mode == "vacation" and not ack.subject):
            return {}  # a responder without a subject answers into the conversation, like us (Gmail Help 25922)
        our_acks = self.store.ack_ids()
        if ack is not None and ack.enabled and ack.mode == "sweep" and our_acks is None:
            return {}  # acknowledgements this store did not record may be in the mailbox: they look like replies
        fresh = [t for t in thread_ids if t not in rows]
        label_ids = labels.managed | {lid for _, lid in labels.departments}
        if not listed.pays(len(fresh) - sample_size(len(fresh)), len(label_ids), self.api.usage().costs):
            return {}
        close_after = self.desk.sweep.close_after
        listing = listed.list_mailbox(
            self.api,
            self.desk.sweep.scope,
            scope.in_scope,
            scope.everything,
            self.us,
            label_ids,
            self.now_ms // 1000 - close_after if close_after else None,
            ack.subject if ack is not None and ack.enabled and ack.mode == "vacation" else "",
            our_acks or (),
        )
        return listed.shapes(listing, fresh)[0]

    def _not_shown(
        self, read: dict[str, ThreadRow], deltas: dict[str, Delta], pending: dict[str, Pending]
    ) -> dict[str, tuple[str, ...]]:
        """Threads read fine but without a new message history named (or one still missing from
        an earlier run): Gmail has not shown them yet; decided on what is there, read again later."""
        missing: dict[str, tuple[str, ...]] = {}
        for thread_id, row in read.items():
            if thread_id not in deltas or row.messages is None:
                continue
            delta = deltas[thread_id]
            named = [
                m
                for m in [*delta.added, *pending.get(thread_id, Pending(thread_id, 0, 0)).message_ids]
                if m not in delta.deleted
            ]
            shown = {m.message_id for m in row.messages} | set(row.message_ids)
            lacking = tuple(dict.fromkeys(m for m in named if m not in shown))
            if lacking:
                missing[thread_id] = lacking
        return missing

    def _bound_retries(self, pending: dict[str, Pending], rows: dict[str, ThreadRow], reading: _Reading) -> _Retries:
        still = {t: p for t, p in pending.items() if t in reading.failed}  # not read (an error): unchanged
        retrying: list[str] = []
        given_up: list[str] = []
        dropped: list[str] = []
        for thread_id, lacking in reading.missing.items():
            before = pending.get(thread_id)
            entry = Pending(
                thread_id,
                before.first_missing_at if before else self.now_ms,
                (before.runs if before else 0) + 1,
                lacking,
            )
            if entry.runs >= RETRY_RUNS and self.now_ms - entry.first_missing_at >= RETRY_MS:
                if not lacking and thread_id in rows:
                    dropped.append(thread_id)
                else:
                    given_up.append(thread_id)
            else:
                still[thread_id] = entry
                retrying.append(thread_id)
        return _Retries(still, retrying, given_up, dropped)

    # ------------------------------------------------------------------ reading
    def _labels(self) -> StatusLabels:
        by_name = {label.name: label.id for label in self.api.labels()}
        statuses = self.desk.statuses
        missing = [
            getattr(statuses, n).name
            for n in ("new", "waiting", "handled", "forwarded", "closed", "overdue")
            if getattr(statuses, n).name not in by_name
        ]
        if missing:
            raise GmailDeskError(
                f"status label{'s' if len(missing) > 1 else ''} {', '.join(missing)} "
                f"{'do' if len(missing) > 1 else 'does'} not exist in {self.desk.mailbox}",
                ["create them with `gmaildesk apply -c desk.yaml`"],
            )
        return StatusLabels(
            status={s: by_name[getattr(statuses, s.value).name] for s in State},
            overdue=by_name[statuses.overdue.name],
            departments=tuple((d.name, by_name[d.label]) for d in self.desk.departments if d.label in by_name),
        )

    def _history(
        self, start: str, cp: Checkpoint, rows: dict[str, ThreadRow], labels: StatusLabels
    ) -> tuple[_Changes | None, str | None]:
        """(what to read from `start`, None), or (None, why) when Gmail no longer has (or refuses) that history."""
        try:
            history = self.api.history(start)
        except GmailApiError as error:
            # 404: Gmail no longer has that history ("a full sync" is the documented answer,
            # users.history.list reference). 400: the cursor itself was refused (a store edited
            # or damaged, or an id of another mailbox) - the same cure, never a run that fails forever.
            if error.status == NOT_FOUND:
                return None, "history expired"
            if error.status == BAD_REQUEST:
                return None, "history cursor refused (HTTP 400)"
            raise
        # A store from before own writes were recorded kept a second cursor after its last writes:
        # label events up to it are ours (or were seen).
        old_cursor = cp.labels_history_id
        seen_until = (
            int(old_cursor) if old_cursor is not None and old_cursor.isdigit() and old_cursor != cp.history_id else 0
        )
        seen = scan(history.records, rows, self.store.own_writes(), labels, seen_until)
        return _Changes(seen.threads, history.history_id, seen.deltas, seen.hand_set), None

    def _settle(
        self, cursor: str, writes: Writes, rows: dict[str, ThreadRow], labels: StatusLabels
    ) -> tuple[str, dict[str, State | None]] | None:
        """After our writes: what happened in the mailbox since this run's start, our writes aside.

        Reads the history from the run's cursor once more (the pages our own writes fill would
        otherwise be read by the next run). Every other change - an agent's status label, a
        message that arrived meanwhile - becomes a thread to re-read next run (with the status
        set by hand); the cursor then moves to the end of what was read. None: keep `cursor`.
        """
        try:
            history = self.api.history(cursor)
        except GmailDeskError:
            return None  # the next run reads from the run's start instead: slower, as safe
        own: dict[str, list[OwnWrite]] = defaultdict(list)
        for (add, remove), entries in writes.items():
            for message_id, _ in entries:
                own[message_id].append(OwnWrite(message_id, add, remove, committed=True))
        seen = scan(history.records, rows, own, labels)
        return history.history_id, {t: seen.hand_set.get(t) for t in seen.threads}

    def _read_threads(
        self,
        thread_ids: list[str],
        rows: dict[str, ThreadRow],
        labels: StatusLabels,
        deltas: dict[str, Delta],
        hand_set: dict[str, State],
        single: dict[str, str],
        shapes: dict[str, listed.Shape] | None = None,
    ) -> _Reading:
        """Read, classify, decide; `attempted` holds every id tried (failed or 404: old row kept).
        `single`: threads of one message, for messages.get (lean.py says when history's may be);
        `shapes`: threads a first sweep decides from the listings (listed.py), reading a message or two."""
        reading = _Reading()

        def take(thread: Thread) -> None:
            reading.attempted.add(thread.id)
            reading.threads_read += 1
            reading.take(self._decide_thread(thread, rows.get(thread.id), labels, hand_set))

        if shapes:
            reader = ListedReader(
                self.api,
                self.us,
                self.now_ms,
                labels,
                hand_set,
                self._policy,
                lambda row, current: self._plan_labels(row, labels, current, False, set(), may_archive=False),
                self.desk.mailbox,
            )
            done = reader.read(shapes, reading, lambda ids: self._read_whole(ids, reading, take), take)
            thread_ids = [t for t in thread_ids if t not in done]
        if deltas:
            done = self._read_new_messages(
                [t for t in thread_ids if t in deltas], rows, labels, deltas, hand_set, reading
            )
            thread_ids = [t for t in thread_ids if t not in done]

        single = {t: m for t, m in single.items() if t in set(thread_ids)}
        whole = self._read_whole([t for t in thread_ids if t not in single], reading, take)
        trusted = not deltas or lean_reading.ids_name_first_messages(whole)
        for thread in lean_reading.read_single(self.api, single if trusted else {}, self.progress).values():
            take(thread)
        self._read_whole([t for t in single if t not in reading.attempted], reading, take)
        return reading

    def _read_whole(self, thread_ids: list[str], reading: _Reading, take: Callable[[Thread], None]) -> list[Thread]:
        """threads.get, 50 a batch, each thread read handed to `take`; the threads read."""
        read: list[Thread] = []
        for start in range(0, len(thread_ids), READ_CHUNK):
            chunk = thread_ids[start : start + READ_CHUNK]
            answers = self.api.threads(chunk, CLASSIFIER_HEADERS)
            for thread_id, answer in zip(chunk, answers, strict=True):
                reading.attempted.add(thread_id)
                if isinstance(answer, GmailApiError):
                    if answer.status == NOT_FOUND:
                        reading.missing[thread_id] = ()  # named by history or list a moment ago: not yet, or gone
                        continue
                    reading.failed.add(thread_id)
                    reading.errors.append(f"conversation {thread_id}: {answer.message}")
                    continue
                read.append(answer)
                take(answer)
            if self.progress:
                self.progress("read", min(start + READ_CHUNK, len(thread_ids)), len(thread_ids))
        return read

    def _read_new_messages(
        self,
        thread_ids: list[str],
        rows: dict[str, ThreadRow],
        labels: StatusLabels,
        deltas: dict[str, Delta],
        hand_set: dict[str, State],
        reading: _Reading,
    ) -> set[str]:
        """The incremental shortcut: for stored threads that only gained messages, messages.get just those.

        Returns the threads decided this way (taken into `reading`); the others (not eligible, a
        message missing, an error, a classification that needs the whole thread) are left to threads.get.
        """
        plans: dict[str, tuple[list[MessageFact], list[str]]] = {}  # thread -> (stored facts, new message ids)
        for thread_id in thread_ids:
            plan = self._eligible(deltas.get(thread_id), rows.get(thread_id))
            if plan is not None:
                plans[thread_id] = plan
        wanted = [(t, m) for t, (_, ids) in plans.items() for m in ids]
        fetched: dict[str, Message] = {}
        broken: set[str] = set()
        for start in range(0, len(wanted), READ_CHUNK):
            chunk = wanted[start : start + READ_CHUNK]
            answers = self.api.messages([m for _, m in chunk], CLASSIFIER_HEADERS)
            for (thread_id, message_id), answer in zip(chunk, answers, strict=True):
                if isinstance(answer, GmailApiError) or answer.thread_id != thread_id or answer.id != message_id:
                    broken.add(thread_id)  # 404, an error, moved: threads.get tells the whole story
                else:
                    fetched[message_id] = answer
        done: set[str] = set()
        for thread_id, (facts, ids) in plans.items():
            if thread_id in broken:
                continue
            decision = self._decide_from_store(rows[thread_id], facts, [fetched[m] for m in ids], labels, hand_set)
            if decision is not None:
                reading.take(decision)
                done.add(thread_id)
                reading.threads_read += 1
        reading.attempted |= done
        if self.progress and done:
            self.progress("read", len(done), len(thread_ids))
        return done

    def _eligible(self, delta: Delta | None, row: ThreadRow | None) -> tuple[list[MessageFact], list[str]] | None:
        """(stored message facts, new ids to fetch) when only messages were added to a known thread, else None."""
        if delta is None or delta.full or row is None or row.state is State.CLOSED or row.provisional:
            # closed: a reopen restores INBOX by each message's SENT label, which the store lacks;
            # provisional: the store has only the messages read so far
            return None
        facts = self.store.messages(row.thread_id)
        stored = [f.message_id for f in facts]
        if not facts or len(set(stored)) != len(stored) or set(stored) != set(row.message_ids):
            return None
        if delta.deleted & set(stored):
            return None
        new = [m for m in dict.fromkeys(delta.added) if m not in delta.deleted]
        if set(new) & set(stored):
            return None
        return facts, new

    def _decide_from_store(
        self,
        row: ThreadRow,
        facts: list[MessageFact],
        fetched: list[Message],
        labels: StatusLabels,
        hand_set: dict[str, State],
    ) -> _Decision | None:
        """Classify the new messages after the stored ones and decide; None: read the whole thread instead."""
        order = {m: i for i, m in enumerate(row.message_ids)}
        facts = sorted(facts, key=lambda f: order[f.message_id])
        facts.sort(key=lambda f: f.at)  # stable: as the thread listed them, like classify_thread
        old: list[Classified] = []
        subject_set = to_set = False
        for f in facts:
            headers: dict[str, str] = {"From": f.from_addr} if f.from_addr else {}
            if not subject_set and row.subject:
                headers["Subject"], subject_set = row.subject, True
            if not to_set and f.kind == Kind.OURS_REPLY.value and row.customer:
                headers["To"], to_set = row.customer, True  # "we wrote first": the customer is our recipient
            try:
                kind = Kind(f.kind)
            except ValueError:
                return None
            old.append(
                with_flags(
                    Classified(
                        MessageMeta(id=f.message_id, internal_date=f.at, headers=headers), kind, "as classified before"
                    ),
                    f.flags,
                )
            )
        messages = [m for m in fetched if not m.label_ids & HIDDEN]
        metas = sorted((message_meta(m) for m in messages), key=lambda m: m.internal_date)
        if metas and metas[0].internal_date < facts[-1].at:
            return None  # older than what we have: the customers learned in between would differ
        customers = {f.from_addr for f in facts if f.kind == Kind.CUSTOMER.value and f.from_addr}
        if row.customer:
            customers.add(row.customer)
        added: list[Classified] = []
        for meta in metas:
            c = classify_message(meta, self.us, frozenset(customers), old + added)
            # The store keeps only some of the customers (no Reply-To, one recipient of an outbound
            # first message): a verdict that a fuller list could change needs the whole thread.
            if c.kind is Kind.OURS_FORWARD or (c.kind in (Kind.OURS_NOTE, Kind.OURS_REPLY) and not customers):
                return None
            # Nor does it keep Message-IDs: whether an auto-reply subject answers us needs the whole thread.
            if POSSIBLY_AUTOMATIC in c.flags:
                return None
            if c.kind is Kind.CUSTOMER:
                customers |= customer_addresses(meta, self.us)
            added.append(c)
        on_thread = set(row.labels).union(*(m.label_ids for m in messages))
        department = next(
            (name for name, lid in labels.departments if lid in on_thread or name == row.department), None
        )
        # Without fresh labels the stored messages carry what we set (a change by hand is a label
        # event, which reads the whole thread); INBOX is left out so that no needed write is skipped.
        current = {f.message_id: set(row.labels) for f in facts}
        labelled = [m for m in messages if "DRAFT" not in m.label_ids]
        current |= {m.id: set(m.label_ids) for m in labelled}
        sent = {m.id for m in labelled if "SENT" in m.label_ids}
        return self._conclude(row.thread_id, row, labels, hand_set, old + added, on_thread, department, current, sent)

    # ------------------------------------------------------------------ deciding
    def _policy(self, department: str | None) -> Policy:
        close_after = self.desk.sweep.close_after
        slas = [d.sla for d in self.desk.departments if d.name == department] or [d.sla for d in self.desk.departments]
        # No department label: the strictest SLA of the desk, so nothing falls through the cracks.
        first = [s.first_response for s in slas if s.first_response is not None]
        nxt = [s.next_response for s in slas if s.next_response is not None]
        return Policy(min(first) if first else None, min(nxt) if nxt else None, close_after)

    def _decide_thread(
        self, thread: Thread, row: ThreadRow | None, labels: StatusLabels, hand_set: dict[str, State]
    ) -> _Decision:
        messages = [m for m in thread.messages if not m.label_ids & HIDDEN]
        on_thread: set[str] = set().union(*(m.label_ids for m in messages))
        department = next((name for name, lid in labels.departments if lid in on_thread), None)
        classified = classify_thread([message_meta(m) for m in messages], self.us)
        labelled = [m for m in messages if "DRAFT" not in m.label_ids]
        return self._conclude(
            thread.id,
            row,
            labels,
            hand_set,
            classified,
            on_thread,
            department,
            {m.id: set(m.label_ids) for m in labelled},
            {m.id for m in labelled if "SENT" in m.label_ids},
        )

    def _conclude(
        self,
        thread_id: str,
        row: ThreadRow | None,
        labels: StatusLabels,
        hand_set: dict[str, State],
        classified: list[Classified],
        on_thread: set[str],
        department: str | None,
        current: dict[str, set[str]],
        sent: set[str],
    ) -> _Decision:
        """Decide; the new row, transition and label writes (`current`: the labelled messages' labels)."""
        present = {s for s in (labels.state_of(lid) for lid in on_thread) if s is not None}
        manual_state = None
        if row is not None and row.state is not None:
            others = present - {row.state}
            if len(others) == 1:
                manual_state = others.pop()
        elif len(present) == 1:
            manual_state = next(iter(present))
        if thread_id in hand_set:  # history saw an agent set it; our own write may have hidden it since
            manual_state = hand_set[thread_id]
        previous = Previous(row.state, row.last_counted_id, row.manual) if row is not None else None
        verdict = decide(classified, self._policy(department), self.now_ms, manual_state, previous)
        state = verdict.state
        customers = [c.message.internal_date for c in classified if c.counted and c.kind is Kind.CUSTOMER]
        last = verdict.last_counted
        new = ThreadRow(
            thread_id=thread_id,
            state=state,
            overdue=verdict.overdue,
            department=department,
            last_counted_id=last.message.id if last else None,
            last_counted_side=last.kind.value if last else None,
            last_counted_at=last.message.internal_date if last else None,
            first_customer_at=min(customers) if customers else None,
            first_response_at=verdict.first_response_at,
            due_at=verdict.due_at,
            manual=verdict.manual,
            message_ids=list(current),
            labels=sorted(labels.desired(state, verdict.overdue)),
            updated_at=self.now_ms,
            **conversation_facts(classified, self.us, state),
        )
        old_label = state_label(row.state, row.overdue) if row else None
        transition = None
        if state_label(state, verdict.overdue) != old_label:
            transition = Transition(thread_id, old_label, state_label(state, verdict.overdue), verdict.reason)
        # A provisional closed conversation was never archived (listed.py): nothing to bring back.
        reopened = row is not None and row.state is State.CLOSED and not row.provisional and state is not State.CLOSED
        return _Decision(new, transition, self._plan_labels(new, labels, current, reopened, sent))

    def _time_driven(self, row: ThreadRow, labels: StatusLabels) -> _Decision | None:
        """Overdue and closed from the stored facts, without reading Gmail; None: nothing changes."""
        if row.state is None or row.manual:
            return None
        state, overdue, reason = row.state, row.overdue, ""
        if state in (State.NEW, State.WAITING) and row.due_at is not None:
            overdue = self.now_ms > row.due_at
            reason = f"overdue by {format_duration(self.now_ms - row.due_at)}" if overdue else "no longer overdue"
        close_after = self.desk.sweep.close_after
        if (
            state is State.HANDLED
            and row.last_counted_at is not None
            and close_after is not None
            and self.now_ms - row.last_counted_at >= close_after * 1000
        ):
            state, overdue = State.CLOSED, False
            reason = (
                f"handled, nothing from the customer for {format_duration(self.now_ms - row.last_counted_at)}"
                f" (closes after {format_duration(close_after * 1000)})"
            )
        if (state, overdue) == (row.state, row.overdue):
            return None
        new = dataclasses.replace(
            row,
            state=state,
            overdue=overdue,
            due_at=None if state is State.CLOSED else row.due_at,
            waiting_since=None if state is State.CLOSED else row.waiting_since,
            labels=sorted(labels.desired(state, overdue)),
            updated_at=self.now_ms,
        )
        transition = Transition(row.thread_id, state_label(row.state, row.overdue), state_label(state, overdue), reason)
        # Without fresh labels, assume each message carries what we set last time; batchModify is idempotent.
        assumed = {m: set(row.labels) | {"INBOX"} for m in row.message_ids}
        return _Decision(new, transition, self._plan_labels(new, labels, assumed, reopened=False, sent=set()))

    def _plan_labels(
        self,
        row: ThreadRow,
        labels: StatusLabels,
        current: dict[str, set[str]],
        reopened: bool,
        sent: set[str],
        may_archive: bool = True,
    ) -> Writes:
        desired = labels.desired(row.state, row.overdue)
        remove = labels.managed - desired
        archive = self.desk.sweep.archive_closed and may_archive
        if archive and row.state is State.CLOSED:
            remove = remove | {"INBOX"}
        writes: Writes = defaultdict(list)
        for message_id, have in current.items():
            add = desired | ({"INBOX"} if archive and reopened and message_id not in sent else frozenset())
            if add - have or remove & have:
                writes[(frozenset(add), frozenset(remove))].append((message_id, row.thread_id))
        return writes

    # ------------------------------------------------------------------ writing
    def _relabel(self, writes: Writes, cursor: str) -> Relabelled:
        """One batchModify per (add, remove) set and 1000 ids; the threads whose writes failed.

        The writes are recorded as ours first (with the cursor the next run reads from), so
        that their history events are told apart from an agent's, even after a crash.
        """
        if writes:
            self.store.record_writes(
                cursor,
                self.sweep_id,
                [OwnWrite(m, add, remove) for (add, remove), entries in writes.items() for m, _ in entries],
            )
        relabelled = batch_modify(self.api, writes, "relabelling")
        if self.progress and relabelled.calls:
            self.progress("write", relabelled.calls, relabelled.calls)
        return relabelled


def _by_state(rows: Iterable[ThreadRow]) -> dict[str, int]:
    counts = {s.value: 0 for s in State} | {"overdue": 0}
    for row in rows:
        if row.state is not None:
            counts[row.state] += 1
        if row.overdue:
            counts["overdue"] += 1
    return counts
