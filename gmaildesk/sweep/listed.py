"""A first sweep decided from Gmail's listings: read only the customer's message that decides (issue 12).

messages.list costs 5 units for 500 ids with their conversation; threads.get costs 40 (current table).
The listings below tell, for every conversation of the scope, exactly: which messages it holds, which
of them we sent (SENT), which are drafts, which carry a status or department label, and which match a
search operator. They cannot tell what no operator sees: Auto-Submitted, List-Id with a person in
Reply-To, Precedence, and whom a sent message went to compared with who wrote to us. So:

- The customer's side is read. Of the messages after our last sent one, the first that no listing marks
  as machine mail is read with messages.get and classified (classify.py, every rule): a CUSTOMER there
  makes the conversation new (nothing sent by us) or waiting, due from that message's date - what a full
  read decides. Anything else reads the next one (at most MAX_READS), then the conversation whole.
- Our side is presumed. A sent message that no search marks - to one of our addresses (a note, a form,
  a colleague), a forward or out-of-office subject, a no-reply sender, the vacation responder's subject,
  one of the acknowledgements the sweep sent - is taken for a reply, a "Fwd:" subject for a forward.
  The presumption is the one thing a full read may contradict (a reply addressed to a vendor is a
  forward: "Re:" and all, only the addresses differ), so the row is `provisional`: handled or
  forwarded, never closed or archived on a guessed date, and read whole by the next sweeps (the
  backfill, engine.py) which then fill in the message facts the audit shows as pending meanwhile.
- Machine mail marked by a listing is presumed what the classifier would make of it: a MAILER-DAEMON
  or postmaster sender a bounce (classify: a robot sender is a bounce, whatever else it says), an
  out-of-office subject after our reply an auto-reply (classify: a subject that answers us) - unless an
  earlier message of the conversation matches the same search (then the words are its topic).
- A conversation any other search marks (our address among a sent message's recipients, a sender of
  ours in received mail, messages outside the scope, Gmail's 100-message cap) is read whole, as is every
  conversation of a desk whose vacation responder answers *into* conversations (no subject of its own:
  Gmail Help 25922) - its replies look like ours to every operator.

Undocumented habits relied on, checked at run time (engine.py reads a sample whole and falls back to
reading everything if one fails): messages.list answers newest first (Gmail's web UI order; the API
reference only says "lists the messages"), so a conversation's order is its listing order reversed.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from gmaildesk.gmail.api import GmailApi
from gmaildesk.gmail.costs import CostTable, units
from gmaildesk.gmail.types import MessageRef
from gmaildesk.sweep.classify import Classified, Kind, Us
from gmaildesk.sweep.state import Policy, State, Verdict, format_duration, with_deadline

__all__ = ["Listing", "Shape", "MAX_READS", "THREAD_CAP", "pays", "list_mailbox", "shapes", "verdict", "counted_ids"]

MAX_READS = 2  # customer-side messages read one by one before the conversation is read whole
THREAD_CAP = 100  # Gmail starts a new conversation after 100 messages (Gmail Help 5900)
# Search terms for the classifier's machine cues that an operator can see. Gmail matches words, not
# the anchored patterns of automatic.py, hence the "no earlier message matched" rule above.
_AUTO_SUBJECTS = (
    '"automatic reply"',
    '"auto reply"',
    "autoreply",
    '"auto response"',
    '"automated response"',
    '"out of office"',
    '"out of the office"',
    "auto",
    "abwesenheitsnotiz",
    '"automatische antwort"',
    '"réponse automatique"',
    '"respuesta automática"',
    '"risposta automatica"',
    '"automatisch antwoord"',
)
_ROBOTS = ("mailer-daemon", "postmaster", "mdaemon")
_NO_REPLY = ("noreply", "no-reply", "donotreply", "do-not-reply")
_FORWARDS = ("fwd", "fw")


@dataclass(frozen=True)
class Listing:
    """What the listings of one sweep say, per message id."""

    order: dict[str, list[str]]  # conversation -> its messages, newest first (listing order), in scope
    everywhere: dict[str, set[str]]  # conversation -> its messages anywhere (spam and trash left out)
    sent: set[str]
    drafts: set[str]
    labels: dict[str, set[str]]  # message -> the status and department label ids it carries
    read_whole: dict[str, str]  # message -> why its conversation must be read whole
    robot: set[str]  # received from a MAILER-DAEMON or postmaster
    auto_subject: set[str]  # received, an out-of-office subject
    forward_subject: set[str]  # sent, a "Fwd:" subject
    before_close: set[str]  # sent before now - close_after
    our_acks: set[str] = field(default_factory=set)  # acknowledgements the sweep sent (store)


@dataclass(frozen=True)
class Shape:
    """One conversation as the listings show it, oldest message first, drafts left out."""

    thread_id: str
    messages: tuple[str, ...]
    sent: frozenset[str]  # ours (SENT), presumed replies; our acknowledgements left out
    last_sent: str | None  # our newest sent message, presumed a reply (or a forward)
    forward: bool  # ... with a "Fwd:" subject: presumed a forward
    closed: bool  # ... sent before the close cutoff
    candidates: tuple[str, ...]  # received after it, not marked as machine mail: read in this order
    presumed: dict[str, Kind]  # unread messages and what the listings make of them
    labels: dict[str, set[str]]  # message -> its status and department label ids

    @property
    def on_thread(self) -> set[str]:
        return set().union(*self.labels.values()) if self.labels else set()


_SEARCHES = 11  # list_mailbox's listings besides one per label
_TERMS_PER_QUERY = 20


def pays(conversations: int, labels: int, table: CostTable) -> bool:
    """The listings cost less than they save: each conversation they decide reads one messages.get
    at most instead of a threads.get (a small mailbox is read whole sooner than listed)."""
    saved = units("users.threads.get", table) - units("users.messages.get", table)
    return conversations * saved > (_SEARCHES + labels) * units("users.messages.list", table)


def _query(scope: str, expr: str) -> str:
    return f"({scope}) {expr}" if scope.strip() else expr


def _any(operator: str, values: Iterable[str]) -> str:
    return "{" + " ".join(f"{operator}:{v}" for v in values) + "}"


def _ids(refs: Iterable[MessageRef]) -> set[str]:
    return {r.id for r in refs}


def list_mailbox(
    api: GmailApi,
    scope: str,
    in_scope: Sequence[MessageRef],
    everything: Sequence[MessageRef],
    us: Us,
    label_ids: Iterable[str],
    close_cutoff_s: int | None,
    vacation_subject: str = "",
    our_acks: Iterable[str] = (),
) -> Listing:
    """Every listing the decision needs: about 9 searches plus one per label, pages of 500 ids."""
    order: dict[str, list[str]] = defaultdict(list)
    for ref in in_scope:
        order[ref.thread_id].append(ref.id)
    everywhere: dict[str, set[str]] = defaultdict(set)
    for ref in everything:
        everywhere[ref.thread_id].add(ref.id)
    labels: dict[str, set[str]] = defaultdict(set)
    for label_id in sorted(set(label_ids)):
        for ref in api.message_refs(scope, [label_id]):
            labels[ref.id].add(label_id)
    ours = sorted(us.addresses) + [f"@{d}" for d in sorted(us.domains)]
    read_whole: dict[str, str] = {}
    # A few addresses a query: googleapiclient turns a GET longer than 2,048 characters into a POST
    # with X-HTTP-Method-Override (googleapiclient/http.py, MAX_URI_LENGTH): short queries never need it.
    for start in range(0, len(ours), _TERMS_PER_QUERY):
        chunk = ours[start : start + _TERMS_PER_QUERY]
        for m in _ids(api.message_refs(_query(scope, f"in:sent {_any('to', chunk)}"))):
            read_whole.setdefault(m, "sent to one of our addresses")
        for m in _ids(api.message_refs(_query(scope, f"-in:sent {_any('from', chunk)}"))):
            read_whole.setdefault(m, "received from one of our addresses")
    marks = [_any("subject", _AUTO_SUBJECTS), _any("from", _NO_REPLY)]
    if vacation_subject.strip():
        marks.append(f'subject:"{vacation_subject.strip()}"')
    for m in _ids(api.message_refs(_query(scope, f"in:sent {{{' '.join(marks)}}}"))):
        read_whole.setdefault(m, "sent, an automatic reply's subject or sender")
    return Listing(
        order=dict(order),
        everywhere=dict(everywhere),
        sent=_ids(api.message_refs(scope, ["SENT"])),
        drafts=_ids(api.message_refs(scope, ["DRAFT"])),
        labels=dict(labels),
        read_whole=read_whole,
        robot=_ids(api.message_refs(_query(scope, f"-in:sent {_any('from', _ROBOTS)}"))),
        auto_subject=_ids(api.message_refs(_query(scope, f"-in:sent {_any('subject', _AUTO_SUBJECTS)}"))),
        forward_subject=_ids(api.message_refs(_query(scope, f"in:sent {_any('subject', _FORWARDS)}"))),
        before_close=(
            _ids(api.message_refs(_query(scope, f"in:sent before:{close_cutoff_s}")))
            if close_cutoff_s is not None
            else set()
        ),
        our_acks=set(our_acks),
    )


def shapes(listing: Listing, thread_ids: Iterable[str]) -> tuple[dict[str, Shape], list[str]]:
    """(conversations the listings decide, with what to read; conversations to read whole)."""
    decided: dict[str, Shape] = {}
    whole: list[str] = []
    for thread_id in thread_ids:
        shape = _shape(listing, thread_id)
        if shape is None:
            whole.append(thread_id)
        else:
            decided[thread_id] = shape
    return decided, whole


def _shape(listing: Listing, thread_id: str) -> Shape | None:
    listed = listing.order.get(thread_id, [])
    if not listed or set(listed) != listing.everywhere.get(thread_id, set()) or len(listed) >= THREAD_CAP:
        return None  # messages outside the scope, or at Gmail's cap: the conversation is read whole
    messages = tuple(m for m in reversed(listed) if m not in listing.drafts)
    if not messages or any(m in listing.read_whole for m in messages):
        return None
    presumed: dict[str, Kind] = {m: Kind.OUR_ACK for m in messages if m in listing.our_acks}
    sent = [m for m in messages if m in listing.sent and m not in presumed]
    last_sent = sent[-1] if sent else None
    after = messages[messages.index(last_sent) + 1 :] if last_sent else messages
    candidates: list[str] = []
    for position, m in enumerate(messages):
        if m in presumed or m in listing.sent:
            continue
        earlier = messages[:position]
        if m in listing.robot:
            presumed[m] = Kind.BOUNCE
        elif (
            last_sent is not None
            and m in after
            and m in listing.auto_subject
            and not any(e in listing.auto_subject for e in earlier)
        ):
            presumed[m] = Kind.AUTO_REPLY
        elif m in after:
            candidates.append(m)
    forward = last_sent is not None and last_sent in listing.forward_subject
    if forward and any(m in listing.forward_subject for m in messages[: messages.index(last_sent or "")]):
        return None  # "Fwd" is a word of the conversation's topic, not a prefix: read it
    return Shape(
        thread_id,
        messages,
        frozenset(sent),
        last_sent,
        forward,
        last_sent in listing.before_close,
        tuple(candidates),
        presumed,
        {m: set(listing.labels.get(m, ())) for m in messages},
    )


def verdict(shape: Shape, read: Sequence[Classified], policy: Policy, now_ms: int) -> Verdict | None:
    """The state the listings decide, from the customer messages read (oldest first); None: read it whole.

    `read`: the candidates read so far, in order. The first CUSTOMER among them opens the wait; a
    candidate after it that was not read counts as the customer's too (it is not machine mail by any
    listing) - it moves nothing but the newest counted message.
    """
    customer = next((c for c in read if c.kind is Kind.CUSTOMER), None)
    if customer is None and len(read) < len(shape.candidates):
        return None  # not decided yet: the caller reads the next candidate, or the whole conversation
    if customer is not None:
        start = customer.message.internal_date
        newest = shape.candidates[-1] if shape.candidates else customer.message.id
        last = next((c for c in read if c.message.id == newest), customer)
        ago = format_duration(now_ms - start)
        if shape.last_sent is None:
            return _timed(
                State.NEW, f"customer wrote {ago} ago, no reply yet", start, policy.first_response_s, last, now_ms
            )
        return _timed(
            State.WAITING,
            f"customer wrote {ago} ago after our last message",
            start,
            policy.next_response_s,
            last,
            now_ms,
        )
    if shape.last_sent is None:
        return Verdict(None, False, None, None, None, "nothing counted (only automatic mail, bounces or lists)")
    if shape.forward:
        return Verdict(State.FORWARDED, False, None, None, None, "we forwarded last (Gmail's listings)")
    if shape.closed and policy.close_after_s is not None:
        closes = format_duration(policy.close_after_s * 1000)
        return Verdict(State.CLOSED, False, None, None, None, f"handled, our last message is older than {closes}")
    return Verdict(State.HANDLED, False, None, None, None, "we wrote last (Gmail's listings)")


def _timed(state: State, reason: str, start: int, sla_s: int | None, last: Classified, now_ms: int) -> Verdict:
    return with_deadline(state, reason, None if sla_s is None else start + sla_s * 1000, last, None, now_ms)


def counted_ids(shape: Shape, read: Mapping[str, Classified]) -> list[str]:
    """The messages presumed counted, oldest first: our sent ones and the customer's candidates."""
    counted = []
    for m in shape.messages:
        if m in shape.presumed:
            continue
        if m in read and not read[m].counted:
            continue
        counted.append(m)
    return counted
