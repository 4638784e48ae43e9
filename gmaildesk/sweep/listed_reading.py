"""Reading what the listings leave open (listed.py): a sample whole, then the customer's messages in rounds.

1. The sample: SAMPLE conversations (at least SAMPLE_MIN, a share of the rest) are read whole with
   threads.get and decided as always. Their messages' internalDates check what the listings were taken
   to say - newest first, no message missing. One that disagrees turns the listings off for the run:
   every conversation is read whole (the caller reads those not returned as done). The sample is also
   decided as the listings would have: how many differ is reported (`listing_check`).
2. Rounds of messages.get, 50 a batch: the next customer-side candidate of each conversation still
   open. A conversation whose every message got read is decided as a whole read decides it; one the
   listings decide becomes a provisional row; one still open after MAX_READS, or whose message
   failed, moved or went to spam/trash, is left to the caller's threads.get.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass

from gmaildesk.gmail.api import GmailApi
from gmaildesk.gmail.types import Message, Thread
from gmaildesk.sweep import listed
from gmaildesk.sweep.classify import (
    CLASSIFIER_HEADERS,
    Classified,
    Kind,
    MessageMeta,
    Us,
    author,
    classify_message,
)
from gmaildesk.sweep.headers import Headers
from gmaildesk.sweep.history import HIDDEN, StatusLabels
from gmaildesk.sweep.reading import Decision, Reading, message_meta
from gmaildesk.sweep.relabel import Writes
from gmaildesk.sweep.result import Transition, state_label
from gmaildesk.sweep.state import Policy, State, Verdict, keep_hand_set
from gmaildesk.sweep.store import MessageFact, ThreadRow

__all__ = ["ListedReader", "SAMPLE_MIN", "SAMPLE_SHARE", "READ_CHUNK", "sample_size"]

SAMPLE_MIN = 20
SAMPLE_SHARE = 0.005
READ_CHUNK = 50


def sample_size(conversations: int) -> int:
    """How many of the conversations the listings decide are read whole as the check."""
    return min(conversations, max(SAMPLE_MIN, int(conversations * SAMPLE_SHARE)))


PlanLabels = Callable[[ThreadRow, dict[str, set[str]]], Writes]  # (row, each message's labels) -> writes


@dataclass
class ListedReader:
    api: GmailApi
    us: Us
    now_ms: int
    labels: StatusLabels
    hand_set: Mapping[str, State]
    policy: Callable[[str | None], Policy]
    plan_labels: PlanLabels
    # Which conversations the sample takes: the same for the same mailbox and conversations, so that
    # a run killed and run again reads what the first would have (no more calls than a clean run).
    seed: str

    def read(
        self,
        shapes: Mapping[str, listed.Shape],
        reading: Reading,
        read_whole: Callable[[list[str]], list[Thread]],
        take: Callable[[Thread], None],
    ) -> set[str]:
        """Decide `shapes`; the conversations done (decided, or read whole here). The others: threads.get."""
        sample = self._sample(shapes)
        threads = read_whole(sample)
        broken, differ = self._check(shapes, threads, reading.rows)
        if broken:
            reading.listing_check = f"listings off, all read whole: {broken}"
            return set(sample)
        reading.listing_check = (
            f"{len(threads):,} of {len(shapes):,} read whole, listed newest first; {differ} decided otherwise"
        )
        rest = {t: s for t, s in shapes.items() if t not in set(sample)}
        return set(sample) | self._rounds(rest, reading, take)

    def _sample(self, shapes: Mapping[str, listed.Shape]) -> list[str]:
        return sorted(random.Random(self.seed).sample(sorted(shapes), sample_size(len(shapes))))

    def _check(
        self, shapes: Mapping[str, listed.Shape], threads: Iterable[Thread], rows: Mapping[str, ThreadRow]
    ) -> tuple[str | None, int]:
        """(what the listings got wrong about order or membership, or None; how many states differ from
        the `rows` the whole reads of `threads` decided)."""
        differ = 0
        for thread in threads:
            shape = shapes[thread.id]
            shown = [m for m in thread.messages if not m.label_ids & HIDDEN and "DRAFT" not in m.label_ids]
            dates = {m.id: m.internal_date for m in shown}
            if set(dates) != set(shape.messages):
                return f"{thread.id} holds other messages than listed", differ
            listed_dates = [dates[m] for m in shape.messages]
            if listed_dates != sorted(listed_dates):
                return f"{thread.id} not listed newest first", differ
            by_id = {m.id: m for m in shown}
            read: list[Classified] = []
            for m in shape.candidates:
                read.append(self._classify(shape, by_id[m], {c.message.id: c for c in read}))
                if read[-1].kind is Kind.CUSTOMER:
                    break
            department = self._department(shape)
            guess = listed.verdict(shape, read, self.policy(department), self.now_ms)
            exact = rows[thread.id]
            if guess is None or (guess.state, guess.overdue) != (exact.state, exact.overdue):
                differ += 1
        return None, differ

    def _rounds(self, shapes: Mapping[str, listed.Shape], reading: Reading, take: Callable[[Thread], None]) -> set[str]:
        done: set[str] = set()
        read: dict[str, dict[str, Classified]] = {t: {} for t in shapes}
        fetched: dict[str, dict[str, Message]] = {t: {} for t in shapes}
        open_ = dict(shapes)
        for round_ in range(listed.MAX_READS + 1):
            for thread_id, shape in list(open_.items()):
                if len(fetched[thread_id]) == len(shape.messages):  # every message read: decide as a whole read
                    take(Thread(thread_id, tuple(fetched[thread_id][m] for m in shape.messages)))
                    done.add(thread_id)
                    del open_[thread_id]
                    continue
                decision = self._decide(shape, list(read[thread_id].values()))
                if decision is not None:
                    reading.take(decision)
                    reading.attempted.add(thread_id)
                    reading.threads_read += 1
                    done.add(thread_id)
                    del open_[thread_id]
            if round_ == listed.MAX_READS:
                break
            wanted = [(t, s.candidates[len(read[t])]) for t, s in open_.items() if len(read[t]) < len(s.candidates)]
            for start in range(0, len(wanted), READ_CHUNK):
                chunk = wanted[start : start + READ_CHUNK]
                answers = self.api.messages([m for _, m in chunk], CLASSIFIER_HEADERS)
                for (thread_id, message_id), answer in zip(chunk, answers, strict=True):
                    # Failed, gone, moved or hidden since the listing: threads.get tells the whole story.
                    if (
                        not isinstance(answer, Message)
                        or (answer.id, answer.thread_id) != (message_id, thread_id)
                        or answer.label_ids & HIDDEN
                    ):
                        open_.pop(thread_id, None)
                        continue
                    fetched[thread_id][message_id] = answer
                    read[thread_id][message_id] = self._classify(shapes[thread_id], answer, read[thread_id])
        return done

    def _classify(self, shape: listed.Shape, message: Message, read: Mapping[str, Classified]) -> Classified:
        """A customer-side message, after what the listings make of the messages before it."""
        earlier = [self._presumed(shape, m, read) for m in shape.messages[: shape.messages.index(message.id)]]
        return classify_message(message_meta(message), self.us, frozenset(), earlier)

    @staticmethod
    def _presumed(shape: listed.Shape, message_id: str, read: Mapping[str, Classified]) -> Classified:
        if message_id in read:
            return read[message_id]
        kind = shape.presumed.get(message_id)
        if kind is None and message_id == shape.last_sent:
            kind = Kind.OURS_FORWARD if shape.forward else Kind.OURS_REPLY
        if kind is None:
            kind = Kind.OURS_REPLY if message_id in shape.sent else Kind.CUSTOMER
        return Classified(MessageMeta(message_id, 0), kind, "presumed from Gmail's listings")

    def _department(self, shape: listed.Shape) -> str | None:
        on_thread = shape.on_thread
        return next((name for name, lid in self.labels.departments if lid in on_thread), None)

    def _decide(self, shape: listed.Shape, read: Sequence[Classified]) -> Decision | None:
        department = self._department(shape)
        verdict = listed.verdict(shape, read, self.policy(department), self.now_ms)
        if verdict is None:
            return None
        present = {s for s in (self.labels.state_of(lid) for lid in shape.on_thread) if s is not None}
        manual = self.hand_set.get(shape.thread_id) or (next(iter(present)) if len(present) == 1 else None)
        counted = listed.counted_ids(shape, {c.message.id: c for c in read})
        verdict = keep_hand_set(verdict, counted, manual, None)
        row = self._row(shape, read, verdict, department, counted)
        transition = None
        if verdict.state is not None:
            transition = Transition(shape.thread_id, None, state_label(verdict.state, verdict.overdue), verdict.reason)
        return Decision(row, transition, self.plan_labels(row, {m: set(shape.labels[m]) for m in shape.messages}))

    def _row(
        self,
        shape: listed.Shape,
        read: Sequence[Classified],
        verdict: Verdict,
        department: str | None,
        counted: list[str],
    ) -> ThreadRow:
        customer = next((c for c in read if c.kind is Kind.CUSTOMER), None)
        by_id = {c.message.id: c for c in read}
        last = counted[-1] if counted else None
        side = None
        if last is not None:
            side = by_id[last].kind.value if last in by_id else self._presumed(shape, last, by_id).kind.value
        opened = customer.message.internal_date if customer is not None else None
        waiting = verdict.state in (State.NEW, State.WAITING) and not verdict.manual
        return ThreadRow(
            thread_id=shape.thread_id,
            state=verdict.state,
            overdue=verdict.overdue,
            department=department,
            last_counted_id=last,
            last_counted_side=side,
            last_counted_at=by_id[last].message.internal_date if last in by_id else None,
            first_customer_at=opened if shape.last_sent is None else None,
            first_response_at=None,
            due_at=verdict.due_at,
            manual=verdict.manual,
            message_ids=list(shape.messages),
            labels=sorted(self.labels.desired(verdict.state, verdict.overdue)),
            updated_at=self.now_ms,
            subject=_subject(customer) if customer is not None else None,
            customer=author(customer.message, self.us) or None if customer is not None else None,
            waiting_since=opened if waiting else None,
            flags=sorted(set().union(*(c.flags for c in read))) if read else [],
            provisional=True,
            messages=[
                MessageFact(
                    c.message.id,
                    c.message.internal_date,
                    c.kind.value,
                    author(c.message, self.us) or None,
                    tuple(sorted(c.flags)),
                )
                for c in read
            ],
        )


def _subject(classified: Classified) -> str | None:
    headers = classified.message.headers
    value = headers.value("Subject") if isinstance(headers, Headers) else headers.get("Subject", "")
    return value or None
