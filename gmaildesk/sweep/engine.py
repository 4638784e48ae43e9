"""The sweep: read what changed in Gmail, decide each conversation's state, relabel, remember.

One run:
1. labels.list (status and department label ids).
2. What to read: on the first run (or --full, or when Gmail forgot or refused our history
   checkpoint) every thread of `sweep.scope`, the cursor being the profile's historyId read
   before the listing; later only threads history.list names since the cursor, plus those the
   last run left to re-read (`recheck`, `pending`). A label event that is one of our own
   writes, or touches no label we manage, is ignored; any other change of a status label
   reads the thread, and the last status an agent added by hand is kept (state.decide) even
   when our own write overwrote it meanwhile.
3. threads.get(format=metadata, only the classifier's headers), 50 per batch; classify;
   decide. Threads not read get their time-driven transitions (overdue, closed) from the store.
   Incremental shortcut: a stored thread whose only history since the checkpoint is new
   messages gets just those from messages.get (half a threads.get's units), classified after
   the messages the store kept; anything missing or odd falls back to threads.get.
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
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable

from gmaildesk.errors import ExitCode, GmailDeskError
from gmaildesk.gmail.costs import units as method_units
from gmaildesk.sweep.classify import (CLASSIFIER_HEADERS, POSSIBLY_AUTOMATIC, Classified, Kind, MessageMeta, Us,
                                     author, classify_message, classify_thread, customer_addresses, recipients)
from gmaildesk.sweep.state import Policy, Previous, State, decide, format_duration
from gmaildesk.sweep.store import Checkpoint, JournalEntry, MessageFact, OwnWrite, Pending, Store, ThreadRow

__all__ = ["run", "read_profile", "Profile", "SweepResult", "Transition", "state_label"]

MAX_MODIFY_IDS = 1000
READ_CHUNK = 50
LIST_PAGE = 500
_IGNORED_MESSAGE_LABELS = frozenset({"DRAFT", "SPAM", "TRASH"})
_HISTORY_TYPES = ["messageAdded", "messageDeleted", "labelAdded", "labelRemoved"]
# A conversation Gmail named but answered 404 for is read again until both bounds have passed.
# Field reports of Gmail's read-after-list delay are seconds (~3 s); 15 minutes and 3 runs leave
# a wide margin without keeping a really deleted thread in the store for long.
RETRY_RUNS = 3
RETRY_MS = 15 * 60 * 1000

Progress = Callable[[str, int, int], None]  # (phase, done, total)


@dataclass(frozen=True)
class Profile:
    """users.getProfile, read once per run: whose mailbox it is and where its history stands."""

    address: str
    history_id: str


def read_profile(client: Any) -> Profile:
    """The mailbox the connection reaches (1 unit); pass it to `run`, which counts the call as its own."""
    profile = client.execute(client.users().getProfile(userId="me"), "reading the profile")
    return Profile(str(profile["emailAddress"]).lower(), str(profile["historyId"]))


@dataclass
class _Delta:
    """One thread's message history since the checkpoint (incremental runs only)."""

    added: list[str] = field(default_factory=list)  # new message ids, drafts left out
    deleted: set[str] = field(default_factory=set)
    full: bool = False  # a label change (or anything else) that needs the whole thread read


@dataclass(frozen=True)
class Transition:
    thread_id: str
    from_state: str | None  # "new", "new+overdue", ... or None (no status yet)
    to_state: str | None
    reason: str

    def to_json(self) -> dict:
        return {"thread": self.thread_id, "from": self.from_state, "to": self.to_state, "reason": self.reason}


@dataclass
class SweepResult:
    full: bool = False
    resynced: bool = False
    resync_reason: str | None = None  # "history expired" (404), "history cursor refused" (400)
    dry_run: bool = False
    threads_seen: int = 0   # conversations the store knows after this sweep
    threads_read: int = 0   # conversations read from Gmail in this sweep
    transitions: list[Transition] = field(default_factory=list)
    by_state: dict[str, int] = field(default_factory=dict)
    api_calls: int = 0
    calls_by_method: dict[str, int] = field(default_factory=dict)
    quota_units: int = 0
    messages_modified: int = 0
    duration_s: float = 0.0
    errors: list[str] = field(default_factory=list)
    retrying: list[str] = field(default_factory=list)  # Gmail named them but answered 404: read again next run
    given_up: list[str] = field(default_factory=list)  # ... still 404 after the retry bounds, never seen

    @property
    def status(self) -> str:
        return "partial" if self.errors else "ok"

    @property
    def exit_code(self) -> ExitCode:
        return ExitCode.PARTIAL if self.errors else ExitCode.OK

    def transitions_by_state(self) -> dict[str, int]:
        counts: dict[str, int] = defaultdict(int)
        for t in self.transitions:
            counts[t.to_state or "none"] += 1
        return dict(sorted(counts.items()))

    def to_json(self) -> dict:
        return {
            "version": 1, "status": self.status, "full": self.full, "resynced": self.resynced,
            "resync_reason": self.resync_reason, "dry_run": self.dry_run, "threads_seen": self.threads_seen, "threads_read": self.threads_read,
            "transitions": [t.to_json() for t in self.transitions],
            "transitions_by_state": self.transitions_by_state(), "by_state": self.by_state,
            "api_calls": self.api_calls, "calls_by_method": self.calls_by_method, "quota_units": self.quota_units,
            "messages_modified": self.messages_modified, "duration_s": round(self.duration_s, 3),
            "errors": self.errors, "retrying": self.retrying, "given_up": self.given_up,
        }


def state_label(state: str | None, overdue: bool) -> str | None:
    if state is None:
        return None
    return f"{state}+overdue" if overdue else state


class _Meter:
    """Counts logical calls per method (retries are in client.stats, not here) for the summary."""

    def __init__(self, client: Any):
        self.client = client
        self.calls: dict[str, int] = defaultdict(int)
        self.start_calls = client.stats.calls

    def execute(self, method: str, request: Any, what: str) -> Any:
        self.calls[method] += 1
        return self.client.execute(request, what)

    def execute_batch(self, method: str, requests: list, what: str) -> list:
        if not requests:
            return []
        self.calls[method] += len(requests)
        return self.client.execute_batch(requests, what)

    def units(self) -> int:
        return sum(method_units(m) * n for m, n in self.calls.items())


@dataclass
class _Labels:
    status: dict[State, str]  # state -> label id
    overdue: str
    departments: list[tuple[str, str]]  # (department name, label id) in desk order

    @property
    def managed(self) -> frozenset[str]:
        return frozenset(self.status.values()) | {self.overdue}

    def desired(self, state: str | None, overdue: bool) -> frozenset[str]:
        if state is None:
            return frozenset()
        return frozenset({self.status[State(state)]} | ({self.overdue} if overdue else set()))

    def state_of(self, label_id: str) -> State | None:
        for state, lid in self.status.items():
            if lid == label_id:
                return state
        return None


def run(client: Any, desk: Any, store: Store, *, full: bool = False, dry_run: bool = False, now_ms: int,
        progress: Progress | None = None, profile: Profile | None = None) -> SweepResult:
    """One sweep of desk.mailbox; see the module docstring. Raises GmailDeskError when nothing could be done.

    `profile`: read_profile() just before this run (the caller's account check); it is this run's
    getProfile call and a full run's history cursor. Without it a full run reads the profile itself.
    """
    started = time.monotonic()
    meter = _Meter(client)
    if profile is not None:
        meter.calls["users.getProfile"] += 1
        meter.start_calls -= 1
    result = _Sweep(client, desk, store, meter, now_ms, dry_run, progress, profile).run(full)
    result.calls_by_method = dict(sorted(meter.calls.items()))
    result.api_calls = client.stats.calls - meter.start_calls
    result.quota_units = meter.units()
    result.duration_s = time.monotonic() - started
    return result


class _Sweep:
    def __init__(self, client: Any, desk: Any, store: Store, meter: _Meter, now_ms: int, dry_run: bool,
                 progress: Progress | None, profile: Profile | None):
        self.client, self.desk, self.store, self.meter = client, desk, store, meter
        self.users = client.users()
        self.now_ms = now_ms
        self.dry_run = dry_run
        self.progress = progress
        self.us = Us(addresses=frozenset({desk.mailbox, *desk.team.addresses, *(s.address for s in desk.send_as)}),
                     domains=frozenset(desk.team.domains))
        self.result = SweepResult(dry_run=dry_run)
        self.profile = profile
        self.sweep_id = uuid.uuid4().hex
        self.deltas: dict[str, _Delta] = {}  # filled by an incremental run's history
        self.hand_set: dict[str, State] = {}  # thread -> the status an agent added last (history order)
        self.missing: dict[str, tuple[str, ...]] = {}  # thread -> new messages not shown; (): 404 for the thread
        self.failed: set[str] = set()  # threads whose read failed (not a 404): the next run retries them

    # ------------------------------------------------------------------ the run
    def run(self, full: bool) -> SweepResult:
        checkpoint = self.store.checkpoint()
        rows = self.store.threads()
        pending = self.store.pending()
        labels = self._labels()
        new_cp = Checkpoint(label_ids={s.value: i for s, i in labels.status.items()} | {"overdue": labels.overdue})
        to_read: list[str] = []
        cursor: str | None = None
        if not full and checkpoint.history_id is not None:
            changes = self._history(checkpoint, rows, labels)
            if changes is None:
                self.result.resynced = True
                full = True
            else:
                to_read, cursor = changes
        if full or checkpoint.history_id is None:
            self.result.full = True
            # Read before the listing: whatever changes from here on is in the history after it.
            cursor = self._profile().history_id
            to_read = self._list_scope()
        new_cp.history_id = new_cp.labels_history_id = cursor
        recheck = self.store.recheck()
        for thread_id in [*pending, *recheck]:  # Gmail answered 404 / others changed it during the last run
            self.deltas.setdefault(thread_id, _Delta()).full = True
        for thread_id, hand_state in recheck.items():
            if hand_state and thread_id not in self.hand_set:  # this run's history is newer
                self.hand_set[thread_id] = State(hand_state)
        to_read = list(dict.fromkeys([*to_read, *pending, *recheck]))

        new_rows: dict[str, ThreadRow] = {}
        groups: dict[tuple[frozenset, frozenset], list[tuple[str, str]]] = defaultdict(list)  # -> (msg, thread)
        dropped: list[str] = []
        attempted = self._read_threads(to_read, rows, labels, new_rows, groups)
        self._check_shown(new_rows, pending)
        still_pending = self._bound_retries(pending, rows, dropped)
        for thread_id, row in rows.items():
            if thread_id not in new_rows and thread_id not in dropped and thread_id not in attempted:
                self._time_driven(row, labels, new_rows, groups)

        failed_threads = set() if self.dry_run else self._relabel(groups, cursor)
        new_recheck = {t: s for t, s in recheck.items() if t in self.failed}  # not read: keep for the next run
        if groups and not self.dry_run and not self.result.errors:
            settled = self._settle(cursor, groups, {**rows, **new_rows}, labels)
            if settled is not None:
                new_cp.history_id = new_cp.labels_history_id = settled[0]
                new_recheck |= {t: s.value if s else None for t, s in settled[1].items()}
        committed = {t: r for t, r in new_rows.items() if t not in failed_threads}
        self.result.transitions = [t for t in self.result.transitions if t.thread_id not in failed_threads]
        if self.result.errors:  # keep the old cursor: the next run re-reads what this one missed
            new_cp.history_id, new_cp.labels_history_id = checkpoint.history_id, checkpoint.labels_history_id
        new_cp.last_sweep_at = self.now_ms
        journal = [JournalEntry(t.thread_id, t.from_state, t.to_state, t.reason, self.now_ms,
                                (committed[t.thread_id].last_counted_id or "") if t.thread_id in committed else "")
                   for t in self.result.transitions]
        final = {**rows, **committed}
        for thread_id in dropped:
            final.pop(thread_id, None)
        self.result.threads_seen = len(final)
        self.result.by_state = _by_state(final.values())
        if not self.dry_run:
            self.store.commit(new_cp, list(committed.values()), journal, self.sweep_id, dropped,
                              still_pending.values(), new_recheck)
        return self.result

    def _profile(self) -> Profile:
        if self.profile is None:
            self.meter.calls["users.getProfile"] += 1
            self.profile = read_profile(self.client)
        return self.profile

    def _check_shown(self, new_rows: dict[str, ThreadRow], pending: dict[str, Pending]) -> None:
        """A thread read fine but without a new message history named (or one still missing from
        an earlier run): Gmail has not shown it yet; decided on what is there, and read again later."""
        for thread_id, row in new_rows.items():
            if thread_id not in self.deltas or row.messages is None:
                continue
            delta = self.deltas[thread_id]
            named = [m for m in [*delta.added, *pending.get(thread_id, Pending(thread_id, 0, 0)).message_ids]
                     if m not in delta.deleted]
            shown = {m.message_id for m in row.messages} | set(row.message_ids)
            lacking = tuple(dict.fromkeys(m for m in named if m not in shown))
            if lacking:
                self.missing[thread_id] = lacking

    def _bound_retries(self, pending: dict[str, Pending], rows: dict[str, ThreadRow],
                       dropped: list[str]) -> dict[str, Pending]:
        """The pending set after this run; fills result.retrying / given_up and `dropped`."""
        still = {t: p for t, p in pending.items() if t in self.failed}  # not read (an error): unchanged
        for thread_id, lacking in self.missing.items():
            before = pending.get(thread_id)
            entry = Pending(thread_id, before.first_missing_at if before else self.now_ms,
                            (before.runs if before else 0) + 1, lacking)
            if entry.runs >= RETRY_RUNS and self.now_ms - entry.first_missing_at >= RETRY_MS:
                if not lacking and thread_id in rows:
                    dropped.append(thread_id)  # a thread we knew is gone for good (deleted)
                else:
                    self.result.given_up.append(thread_id)
            else:
                still[thread_id] = entry
                self.result.retrying.append(thread_id)
        return still

    # ------------------------------------------------------------------ reading
    def _labels(self) -> _Labels:
        listing = self.meter.execute("users.labels.list", self.users.labels().list(userId="me"), "listing labels")
        by_name = {label["name"]: label["id"] for label in listing.get("labels", [])}
        statuses = self.desk.statuses
        missing = [getattr(statuses, n).name for n in ("new", "waiting", "handled", "forwarded", "closed", "overdue")
                   if getattr(statuses, n).name not in by_name]
        if missing:
            raise GmailDeskError(f"status label{'s' if len(missing) > 1 else ''} {', '.join(missing)} "
                                 f"{'do' if len(missing) > 1 else 'does'} not exist in {self.desk.mailbox}",
                                 ["create them with `gmaildesk apply -c desk.yaml`"])
        return _Labels(status={s: by_name[getattr(statuses, s.value).name] for s in State},
                       overdue=by_name[statuses.overdue.name],
                       departments=[(d.name, by_name[d.label]) for d in self.desk.departments if d.label in by_name])

    def _list_scope(self) -> list[str]:
        ids: list[str] = []
        token = None
        while True:
            kwargs = {"userId": "me", "q": self.desk.sweep.scope, "maxResults": LIST_PAGE}
            if token:
                kwargs["pageToken"] = token
            page = self.meter.execute("users.threads.list", self.users.threads().list(**kwargs),
                                      "listing conversations")
            ids.extend(t["id"] for t in page.get("threads", []))
            token = page.get("nextPageToken")
            if not token:
                return list(dict.fromkeys(ids))

    def _history_pages(self, start: str, resync: bool = True) -> tuple[list[dict], str] | None:
        records: list[dict] = []
        token = None
        while True:
            kwargs = {"userId": "me", "startHistoryId": start, "historyTypes": _HISTORY_TYPES, "maxResults": LIST_PAGE}
            if token:
                kwargs["pageToken"] = token
            try:
                page = self.meter.execute("users.history.list", self.users.history().list(**kwargs),
                                          "reading the mailbox history")
            except GmailDeskError as error:
                # 404: Gmail no longer has that history ("a full sync" is the documented answer,
                # users.history.list reference). 400: the cursor itself was refused (a store edited
                # or damaged, or an id of another mailbox) - the same cure, never a run that fails forever.
                status = _status(error)
                if status in (404, 400) and not resync:
                    return None
                if status in (404, 400):
                    self.result.resync_reason = ("history expired" if status == 404
                                                 else "history cursor refused (HTTP 400)")
                    return None
                raise
            records.extend(page.get("history", []))
            token = page.get("nextPageToken")
            if not token:
                return records, str(page["historyId"])

    def _history(self, cp: Checkpoint, rows: dict[str, ThreadRow], labels: _Labels) -> tuple[list[str], str] | None:
        """(threads to read, the new cursor); None when Gmail no longer has (or refuses) the history."""
        pages = self._history_pages(cp.history_id)
        if pages is None:
            return None
        records, cursor = pages
        # A store from before own writes were recorded kept a second cursor after its last writes:
        # label events up to it are ours (or were seen).
        seen_until = (int(cp.labels_history_id) if (cp.labels_history_id or "").isdigit()
                      and cp.labels_history_id != cp.history_id else 0)
        threads, self.deltas = self._scan(records, rows, self.store.own_writes(), labels, self.hand_set, seen_until)
        return threads, cursor

    def _scan(self, records: list[dict], rows: dict[str, ThreadRow], own: dict[str, list[OwnWrite]],
              labels: _Labels, hand_set: dict[str, State], seen_until: int = 0) -> tuple[list[str], dict[str, _Delta]]:
        """The threads history records name as changed, with their deltas; fills `hand_set`."""
        threads: dict[str, None] = {}
        deltas: dict[str, _Delta] = defaultdict(_Delta)
        managed = labels.managed
        for record in records:  # in history order
            for entry in record.get("messagesAdded", []):
                message = entry["message"]
                if not set(message.get("labelIds") or ()) & {"DRAFT"}:
                    threads[message["threadId"]] = None
                    deltas[message["threadId"]].added.append(message["id"])
            for entry in record.get("messagesDeleted", []):
                if entry["message"]["threadId"] in rows:
                    threads[entry["message"]["threadId"]] = None
                    deltas[entry["message"]["threadId"]].deleted.add(entry["message"]["id"])
            for key in ("labelsAdded", "labelsRemoved"):
                for entry in (record.get(key, []) if int(record["id"]) > seen_until else ()):
                    message = entry["message"]
                    thread_id = message["threadId"]
                    touched = set(entry.get("labelIds") or ())
                    if touched & {"SPAM", "TRASH"}:
                        threads[thread_id] = None
                        deltas[thread_id].full = True
                    elif touched & managed:
                        mine = _own_write(own, message["id"], touched & managed, added=key == "labelsAdded")
                        if mine is None or not mine.committed:
                            # Not ours, or ours from a run that died before its commit (the store does
                            # not know the state it wrote): read the thread.
                            threads[thread_id] = None
                            deltas[thread_id].full = True
                        if mine is None:
                            _note_hand_set(hand_set, thread_id, touched, labels, added=key == "labelsAdded")
        return list(threads), dict(deltas)

    def _settle(self, cursor: str, groups: dict, rows: dict[str, ThreadRow],
                labels: _Labels) -> tuple[str, dict[str, State | None]] | None:
        """After our writes: what happened in the mailbox since this run's start, our writes aside.

        Reads the history from the run's cursor once more (the pages our own writes fill would
        otherwise be read by the next run). Every other change - an agent's status label, a
        message that arrived meanwhile - becomes a thread to re-read next run (with the status
        set by hand); the cursor then moves to the end of what was read. None: keep `cursor`.
        """
        try:
            pages = self._history_pages(cursor, resync=False)
        except GmailDeskError:
            return None  # the next run reads from the run's start instead: slower, as safe
        if pages is None:
            return None
        records, end = pages
        own: dict[str, list[OwnWrite]] = defaultdict(list)
        for (add, remove), entries in groups.items():
            for message_id, _ in entries:
                own[message_id].append(OwnWrite(message_id, add, remove, committed=True))
        hand_set: dict[str, State] = {}
        threads, _ = self._scan(records, rows, own, labels, hand_set)
        return end, {t: hand_set.get(t) for t in threads}

    def _read_threads(self, thread_ids: list[str], rows: dict[str, ThreadRow], labels: _Labels,
                      new_rows: dict[str, ThreadRow], groups: dict) -> set[str]:
        """Read, classify, decide; returns the ids attempted (failed or 404: those keep their old row untouched)."""
        handled: set[str] = set()
        if self.deltas:
            done = self._read_new_messages([t for t in thread_ids if t in self.deltas], rows, labels, new_rows,
                                           groups)
            handled |= done
            thread_ids = [t for t in thread_ids if t not in done]
        for start in range(0, len(thread_ids), READ_CHUNK):
            chunk = thread_ids[start:start + READ_CHUNK]
            # One resource for the chunk: googleapiclient rebuilds every method on each .threads().
            threads = self.users.threads()
            requests = [threads.get(userId="me", id=t, format="metadata", metadataHeaders=list(CLASSIFIER_HEADERS))
                        for t in chunk]
            answers = self.meter.execute_batch("users.threads.get", requests, "reading conversations")
            for thread_id, answer in zip(chunk, answers):
                handled.add(thread_id)
                if isinstance(answer, GmailDeskError):
                    if _status(answer) == 404:
                        self.missing[thread_id] = ()  # named by history or list a moment ago: not yet, or gone
                        continue
                    self.failed.add(thread_id)
                    self.result.errors.append(f"conversation {thread_id}: {answer.message}")
                    continue
                self.result.threads_read += 1
                self._decide_thread(answer, rows.get(thread_id), labels, new_rows, groups)
            if self.progress:
                self.progress("read", min(start + READ_CHUNK, len(thread_ids)), len(thread_ids))
        return handled

    def _read_new_messages(self, thread_ids: list[str], rows: dict[str, ThreadRow], labels: _Labels,
                           new_rows: dict, groups: dict) -> set[str]:
        """The incremental shortcut: for stored threads that only gained messages, messages.get just those.

        Returns the threads decided this way; the others (not eligible, a message missing, an
        error, a classification that needs the whole thread) are left to threads.get.
        """
        plans: dict[str, tuple[list, list[str]]] = {}  # thread -> (stored facts, new message ids)
        for thread_id in thread_ids:
            plan = self._eligible(thread_id, rows.get(thread_id))
            if plan is not None:
                plans[thread_id] = plan
        wanted = [(t, m) for t, (_, ids) in plans.items() for m in ids]
        fetched: dict[str, dict] = {}
        broken: set[str] = set()
        for start in range(0, len(wanted), READ_CHUNK):
            chunk = wanted[start:start + READ_CHUNK]
            messages = self.users.messages()  # one resource per chunk, as for threads
            requests = [messages.get(userId="me", id=m, format="metadata", metadataHeaders=list(CLASSIFIER_HEADERS))
                        for _, m in chunk]
            answers = self.meter.execute_batch("users.messages.get", requests, "reading new messages")
            for (thread_id, message_id), answer in zip(chunk, answers):
                if (isinstance(answer, GmailDeskError) or not isinstance(answer, dict)
                        or answer.get("threadId") != thread_id or answer.get("id") != message_id):
                    broken.add(thread_id)  # 404, an error, moved: threads.get tells the whole story
                else:
                    fetched[message_id] = answer
        done: set[str] = set()
        for thread_id, (facts, ids) in plans.items():
            if thread_id in broken:
                continue
            if self._decide_from_store(rows[thread_id], facts, [fetched[m] for m in ids], labels, new_rows, groups):
                done.add(thread_id)
                self.result.threads_read += 1
        if self.progress and done:
            self.progress("read", len(done), len(thread_ids))
        return done

    def _eligible(self, thread_id: str, row: ThreadRow | None) -> tuple[list, list[str]] | None:
        """(stored message facts, new ids to fetch) when only messages were added to a known thread, else None."""
        delta = self.deltas.get(thread_id)
        if delta is None or delta.full or row is None or row.state == State.CLOSED.value:
            return None  # closed: a reopen restores INBOX by each message's SENT label, which the store lacks
        facts = self.store.messages(thread_id)
        stored = [f.message_id for f in facts]
        if not facts or len(set(stored)) != len(stored) or set(stored) != set(row.message_ids):
            return None
        if delta.deleted & set(stored):
            return None
        new = [m for m in dict.fromkeys(delta.added) if m not in delta.deleted]
        if set(new) & set(stored):
            return None
        return facts, new

    def _decide_from_store(self, row: ThreadRow, facts: list, fetched: list[dict], labels: _Labels,
                           new_rows: dict, groups: dict) -> bool:
        """Classify the new messages after the stored ones and decide; False: read the whole thread instead."""
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
                return False
            old.append(_with_flags(Classified(MessageMeta(id=f.message_id, internal_date=f.at, headers=headers),
                                              kind, "as classified before"), f.flags))
        messages = [m for m in fetched if not set(m.get("labelIds") or ()) & {"SPAM", "TRASH"}]
        metas = sorted((MessageMeta.from_gmail(m) for m in messages), key=lambda m: m.internal_date)
        if metas and metas[0].internal_date < facts[-1].at:
            return False  # older than what we have: the customers learned in between would differ
        customers = {f.from_addr for f in facts if f.kind == Kind.CUSTOMER.value and f.from_addr}
        if row.customer:
            customers.add(row.customer)
        added: list[Classified] = []
        for meta in metas:
            c = classify_message(meta, self.us, frozenset(customers), old + added)
            # The store keeps only some of the customers (no Reply-To, one recipient of an outbound
            # first message): a verdict that a fuller list could change needs the whole thread.
            if c.kind is Kind.OURS_FORWARD or (c.kind in (Kind.OURS_NOTE, Kind.OURS_REPLY) and not customers):
                return False
            # Nor does it keep Message-IDs: whether an auto-reply subject answers us needs the whole thread.
            if POSSIBLY_AUTOMATIC in c.flags:
                return False
            if c.kind is Kind.CUSTOMER:
                customers |= customer_addresses(meta, self.us)
            added.append(c)
        on_thread = set(row.labels).union(*(set(m.get("labelIds") or ()) for m in messages))
        department = next((name for name, lid in labels.departments if lid in on_thread or name == row.department),
                          None)
        # Without fresh labels the stored messages carry what we set (a change by hand is a label
        # event, which reads the whole thread); INBOX is left out so that no needed write is skipped.
        current = {f.message_id: set(row.labels) for f in facts}
        labelled = [m for m in messages if "DRAFT" not in (m.get("labelIds") or ())]
        current |= {m["id"]: set(m.get("labelIds") or ()) for m in labelled}
        sent = {m["id"] for m in labelled if "SENT" in (m.get("labelIds") or ())}
        self._conclude(row.thread_id, row, labels, new_rows, groups, old + added, on_thread, department, current,
                       sent)
        return True

    # ------------------------------------------------------------------ deciding
    def _policy(self, department: str | None) -> Policy:
        close_after = self.desk.sweep.close_after
        slas = [d.sla for d in self.desk.departments if d.name == department] or [d.sla for d in self.desk.departments]
        # No department label: the strictest SLA of the desk, so nothing falls through the cracks.
        first = [s.first_response for s in slas if s.first_response is not None]
        nxt = [s.next_response for s in slas if s.next_response is not None]
        return Policy(min(first) if first else None, min(nxt) if nxt else None, close_after)

    def _decide_thread(self, thread: dict, row: ThreadRow | None, labels: _Labels, new_rows: dict, groups: dict) -> None:
        thread_id = thread["id"]
        messages = [m for m in thread.get("messages", []) if not set(m.get("labelIds") or ()) & {"SPAM", "TRASH"}]
        on_thread = set().union(*(set(m.get("labelIds") or ()) for m in messages)) if messages else set()
        department = next((name for name, lid in labels.departments if lid in on_thread), None)
        classified = classify_thread([MessageMeta.from_gmail(m) for m in messages], self.us)
        labelled = [m for m in messages if "DRAFT" not in (m.get("labelIds") or ())]
        self._conclude(thread_id, row, labels, new_rows, groups, classified, on_thread, department,
                       {m["id"]: set(m.get("labelIds") or ()) for m in labelled},
                       {m["id"] for m in labelled if "SENT" in (m.get("labelIds") or ())})

    def _conclude(self, thread_id: str, row: ThreadRow | None, labels: _Labels, new_rows: dict, groups: dict,
                  classified: list[Classified], on_thread: set[str], department: str | None,
                  current: dict[str, set[str]], sent: set[str]) -> None:
        """Decide, record the new row and transition, plan the label writes (`current`: the labelled messages)."""
        present = {s for s in (labels.state_of(lid) for lid in on_thread) if s is not None}
        manual_state = None
        if row is not None and row.state is not None:
            others = present - {State(row.state)}
            if len(others) == 1:
                manual_state = others.pop()
        elif len(present) == 1:
            manual_state = next(iter(present))
        if thread_id in self.hand_set:  # history saw an agent set it; our own write may have hidden it since
            manual_state = self.hand_set[thread_id]
        previous = (Previous(State(row.state) if row.state else None, row.last_counted_id, row.manual)
                    if row is not None else None)
        verdict = decide(classified, self._policy(department), self.now_ms, manual_state, previous)
        state = verdict.state.value if verdict.state else None
        customers = [c.message.internal_date for c in classified if c.counted and c.kind is Kind.CUSTOMER]
        last = verdict.last_counted
        new = ThreadRow(thread_id=thread_id, state=state, overdue=verdict.overdue, department=department,
                        last_counted_id=last.message.id if last else None,
                        last_counted_side=last.kind.value if last else None,
                        last_counted_at=last.message.internal_date if last else None,
                        first_customer_at=min(customers) if customers else None,
                        first_response_at=verdict.first_response_at, due_at=verdict.due_at, manual=verdict.manual,
                        message_ids=list(current),
                        labels=sorted(labels.desired(state, verdict.overdue)), updated_at=self.now_ms,
                        **_facts(classified, self.us, state))
        new_rows[thread_id] = new
        old_label = state_label(row.state, row.overdue) if row else None
        if state_label(state, verdict.overdue) != old_label:
            self.result.transitions.append(Transition(thread_id, old_label, state_label(state, verdict.overdue),
                                                      verdict.reason))
        reopened = row is not None and row.state == State.CLOSED.value and state != State.CLOSED.value
        self._plan_labels(new, labels, groups, current, reopened, sent)

    def _time_driven(self, row: ThreadRow, labels: _Labels, new_rows: dict, groups: dict) -> None:
        """Overdue and closed from the stored facts, without reading Gmail."""
        if row.state is None or row.manual:
            return
        state, overdue, reason = row.state, row.overdue, ""
        if state in (State.NEW.value, State.WAITING.value) and row.due_at is not None:
            overdue = self.now_ms > row.due_at
            reason = (f"overdue by {format_duration(self.now_ms - row.due_at)}" if overdue
                      else "no longer overdue")
        close_after = self.desk.sweep.close_after
        if (state == State.HANDLED.value and row.last_counted_at is not None and close_after is not None
                and self.now_ms - row.last_counted_at >= close_after * 1000):
            state, overdue = State.CLOSED.value, False
            reason = (f"handled, nothing from the customer for {format_duration(self.now_ms - row.last_counted_at)}"
                      f" (closes after {format_duration(close_after * 1000)})")
        if (state, overdue) == (row.state, row.overdue):
            return
        new = ThreadRow(**{**row.__dict__, "state": state, "overdue": overdue,
                           "due_at": None if state == State.CLOSED.value else row.due_at,
                           "waiting_since": None if state == State.CLOSED.value else row.waiting_since,
                           "labels": sorted(labels.desired(state, overdue)), "updated_at": self.now_ms})
        new_rows[row.thread_id] = new
        self.result.transitions.append(Transition(row.thread_id, state_label(row.state, row.overdue),
                                                  state_label(state, overdue), reason))
        # Without fresh labels, assume each message carries what we set last time; batchModify is idempotent.
        assumed = {m: set(row.labels) | {"INBOX"} for m in row.message_ids}
        self._plan_labels(new, labels, groups, assumed, reopened=False, sent=set())

    def _plan_labels(self, row: ThreadRow, labels: _Labels, groups: dict, current: dict[str, set[str]],
                     reopened: bool, sent: set[str]) -> None:
        desired = labels.desired(row.state, row.overdue)
        remove = labels.managed - desired
        archive = self.desk.sweep.archive_closed
        if archive and row.state == State.CLOSED.value:
            remove = remove | {"INBOX"}
        for message_id, have in current.items():
            add = desired | ({"INBOX"} if archive and reopened and message_id not in sent else frozenset())
            if add - have or remove & have:
                groups[(frozenset(add), frozenset(remove))].append((message_id, row.thread_id))

    # ------------------------------------------------------------------ writing
    def _relabel(self, groups: dict, cursor: str | None) -> set[str]:
        """One batchModify per (add, remove) set and 1000 ids; the threads whose writes failed.

        The writes are recorded as ours first (with the cursor the next run reads from), so
        that their history events are told apart from an agent's, even after a crash.
        """
        if groups and cursor is not None:
            self.store.record_writes(cursor, self.sweep_id, [OwnWrite(m, add, remove)
                                                             for (add, remove), entries in groups.items()
                                                             for m, _ in entries])
        requests, members = [], []
        for (add, remove), entries in sorted(groups.items(), key=lambda kv: (sorted(kv[0][0]), sorted(kv[0][1]))):
            for start in range(0, len(entries), MAX_MODIFY_IDS):
                part = entries[start:start + MAX_MODIFY_IDS]
                body = {"ids": [m for m, _ in part], "addLabelIds": sorted(add), "removeLabelIds": sorted(remove)}
                requests.append(self.users.messages().batchModify(userId="me", body=body))
                members.append({t for _, t in part})
                self.result.messages_modified += len(part)
        failed: set[str] = set()
        answers = self.meter.execute_batch("users.messages.batchModify", requests, "relabelling conversations")
        for threads, answer in zip(members, answers):
            if isinstance(answer, GmailDeskError):
                self.result.errors.append(f"relabelling {len(threads)} conversations: {answer.message}")
                failed |= threads
        if self.progress and requests:
            self.progress("write", len(requests), len(requests))
        return failed


def _facts(classified: list[Classified], us: Us, state: str | None) -> dict:
    """What the audit shows of a conversation, from the metadata already read (no extra calls):
    subject, customer, the send-as addresses of our first and last replies, the start of the
    current customer wait, and every message (no drafts) with its time, kind and sender."""
    shown = [c for c in classified if c.kind is not Kind.DRAFT]  # classify_thread returns date order
    subject = next((c.message.headers.value("Subject") for c in shown if c.message.headers.value("Subject")), "")
    customer = next((author(c.message, us) for c in shown if c.kind is Kind.CUSTOMER and author(c.message, us)), None)
    replies = [c for c in shown if c.kind is Kind.OURS_REPLY]
    if customer is None and replies:  # we wrote first: whoever we wrote to
        customer = next((r for r in recipients(replies[0].message) if not us.includes(r)), None)
    agents = [a for a in (author(c.message, us) for c in replies) if a]
    waiting_since = None
    counted = [c for c in shown if c.counted]
    if state in (State.NEW.value, State.WAITING.value) and counted and counted[-1].kind is Kind.CUSTOMER:
        start = len(counted) - 1
        while start > 0 and counted[start - 1].kind is Kind.CUSTOMER:
            start -= 1
        waiting_since = counted[start].message.internal_date
    flags = [tuple(sorted(getattr(c, "flags", frozenset()))) for c in shown]
    return {"subject": subject, "customer": customer, "agent": agents[-1] if agents else None,
            "first_agent": agents[0] if agents else None, "waiting_since": waiting_since,
            "flags": sorted(set().union(*flags)),
            "messages": [MessageFact(c.message.id, c.message.internal_date, c.kind.value,
                                     author(c.message, us) or None, f) for c, f in zip(shown, flags)]}


def _with_flags(classified: Classified, flags: tuple[str, ...]) -> Classified:
    """A stored message's flags back on its rebuilt verdict (when the classifier has flags)."""
    if not flags or "flags" not in getattr(Classified, "__dataclass_fields__", {}):
        return classified
    return dataclasses.replace(classified, flags=frozenset(flags))


def _status(error: GmailDeskError) -> int | None:
    """The HTTP status behind a failed call, if there was one."""
    cause = error.__cause__
    status = getattr(cause, "status_code", None) or getattr(getattr(cause, "resp", None), "status", None)
    if status is None:
        for code in (404, 400):
            if f"(HTTP {code}" in error.message:
                return code
    return int(status) if status is not None else None


def _note_hand_set(hand_set: dict[str, State], thread_id: str, touched: set[str], labels: _Labels, *,
                   added: bool) -> None:
    """Someone else's status label change, in history order: the last status added by hand
    wins, one removed by hand is withdrawn."""
    states = [s for s in (labels.state_of(lid) for lid in touched) if s is not None]
    if added and len(states) == 1:
        hand_set[thread_id] = states[0]
    elif not added and hand_set.get(thread_id) in states:
        del hand_set[thread_id]


def _own_write(own: dict[str, list[OwnWrite]], message_id: str, labels: set[str], *,
               added: bool) -> OwnWrite | None:
    """The recorded write of ours that explains the history event (labels added to / removed from
    the message), a committed one first; None: someone else's change."""
    matches = [w for w in own.get(message_id, ()) if labels <= (w.added if added else w.removed)]
    return max(matches, key=lambda w: w.committed) if matches else None


def _by_state(rows: Iterable[ThreadRow]) -> dict[str, int]:
    counts = {s.value: 0 for s in State} | {"overdue": 0}
    for row in rows:
        if row.state is not None:
            counts[row.state] += 1
        if row.overdue:
            counts["overdue"] += 1
    return counts
