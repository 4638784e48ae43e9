"""The lean first sweep decided from Gmail's listings (sweep/listed.py, listed_reading.py), against a
full read (engine.run(lean=False)) of the same mailbox, through the real client and the sandbox.

Every hard case of the classifier sits among enough plain conversations for the listings to pay. The
sample read whole as a check is switched off (SAMPLE_MIN = 0) so that every conversation takes the
listings' path; the check itself has tests of its own at the end.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from cli_run import invoke
from gmaildesk.errors import ExitCode
from gmaildesk.gmail.api import HttpGmailApi
from gmaildesk.gmail.types import MessageRef
from gmaildesk.sweep import engine, listed_reading
from gmaildesk.sweep.state import State
from gmaildesk.sweep.store import Store
from sweep_helpers import ALICE, SUPPORT, Desk, H, alias_and_team_replies, make_desk
from test_sweep_lean import _send_new

VENDOR = "vendor@parts.test"
PLAIN = 30  # conversations around the hard cases: the listings pay from about 26 on


@pytest.fixture
def desk(sandbox, tmp_path, monkeypatch):
    config, _ = make_desk(sandbox, tmp_path, monkeypatch)
    monkeypatch.setattr(listed_reading, "SAMPLE_MIN", 0)
    return Desk(sandbox, config, tmp_path / "sweep.sqlite")


def _plain(desk: Desk) -> dict[str, str]:
    """PLAIN conversations: new, handled, waiting (one in Billing), a nudge; thread -> its shape."""
    shapes = {}
    for i in range(PLAIN):
        kind = ("new", "handled", "waiting", "nudge", "billing")[i % 5]
        frm = f"p{i}@customer{i % 7}.test"
        c = desk.customer(
            subject=f"Plain {i}", frm=frm, to=("billing@example.com",) if kind == "billing" else (SUPPORT,)
        )
        t = desk.thread_of(c)
        if kind in ("handled", "waiting"):
            r = desk.send(t, to=frm, subject=f"Re: Plain {i}", in_reply_to=c)
            if kind == "waiting":
                desk.customer(subject=f"Re: Plain {i}", frm=frm, reply_to_mid=r)
        if kind == "nudge":
            desk.customer(subject=f"Re: Plain {i}", frm=frm, reply_to_mid=c)
        shapes[t] = kind
    desk.sandbox.control.advance_clock(H)
    return shapes


def _rows(path: Path) -> dict[str, dict[str, Any]]:
    with Store(path) as store:
        return {
            t: {k: v for k, v in dataclasses.asdict(row).items() if k not in ("updated_at", "messages")}
            | {"messages": store.messages(t)}
            for t, row in store.threads().items()
        }


def _full_read(desk: Desk, path: Path) -> dict[str, dict[str, Any]]:
    with Store(path) as store:
        full = engine.run(HttpGmailApi(desk.client), desk.desk, store, now_ms=desk.now(), lean=False)
    assert full.full and not full.errors and full.provisional == 0
    return _rows(path)


def _decided(rows: dict[str, dict[str, Any]]) -> dict[str, tuple[Any, ...]]:
    return {t: (r["state"], r["overdue"], r["due_at"], r["department"], r["labels"]) for t, r in rows.items()}


def _listed_then_full(
    desk: Desk, tmp_path: Path, before_lean: Callable[[], object] = lambda: None
) -> tuple[engine.SweepResult, dict, dict]:
    """A full read into a store of its own, its status labels taken off again, then a lean first
    sweep (the listings' path) of the same mailbox: (the lean sweep, its rows, the full read's rows)."""
    full = _full_read(desk, tmp_path / "full.sqlite")
    managed = [desk.label_id(n) for n in ("Status/New", "Status/Waiting", "Status/Handled", "Status/Forwarded")]
    managed += [desk.label_id(n) for n in ("Status/Closed", "Status/Overdue")]
    ids = [m for row in full.values() for m in row["message_ids"]]
    for start in range(0, len(ids), 1000):
        body = {"ids": ids[start : start + 1000], "removeLabelIds": managed}
        desk.client.execute(desk.users.messages().batchModify(userId="me", body=body))
    before_lean()
    lean = desk.sweep()
    assert lean.full and not lean.errors and lean.provisional > 0, lean.listing_check
    return lean, _rows(desk.store_path), full


def _backfill_equals_full(desk: Desk, full: dict[str, dict[str, Any]], corrected: int) -> None:
    """The next sweep reads every provisional conversation whole: the store then says, column for
    column and message for message, what the full read says; `corrected` states changed on the way."""
    again = desk.sweep(backfill=1000)
    assert not again.errors and again.provisional == 0
    assert again.corrected == corrected
    assert _rows(desk.store_path) == full


# ---------------------------------------------------------------- the classifier's hard cases
def test_hard_cases_decided_from_listings_agree_with_a_full_read(desk, tmp_path):
    _plain(desk)
    # A note to ourselves, and our own conversation among the team: read whole (sent to our address).
    c1 = desk.customer()
    note = desk.thread_of(c1)
    desk.send(note, to="bob@example.com", subject="Re: Printer offline", in_reply_to=c1)
    lunch = desk.thread_of(_send_new(desk, ["bob@example.com", "eve@staff.example.com"], "Lunch on Friday?"))
    # An out-of-office without RFC 3834 headers answering our reply; the same words from a stranger.
    c3 = desk.customer(subject="Invoice copy")
    ooo = desk.thread_of(c3)
    r3 = desk.send(ooo, subject="Re: Invoice copy", in_reply_to=c3)
    desk.customer(subject="Automatic reply: Re: Invoice copy", reply_to_mid=r3)
    stranger = desk.thread_of(desk.customer(frm="dan@other.test", subject="Out of office: back Monday"))
    # A bounce of our reply that keeps the subject; a bounce alone.
    c4 = desk.customer(subject="Lost parcel")
    bounced = desk.thread_of(c4)
    r4 = desk.send(bounced, subject="Re: Lost parcel", in_reply_to=c4)
    desk.customer(frm="MAILER-DAEMON@mx.customer.test", subject="Re: Lost parcel", reply_to_mid=r4)
    lone_bounce = desk.thread_of(
        desk.customer(
            frm="postmaster@mx.other.test",
            subject="Undelivered Mail Returned to Sender",
            headers=[("Return-Path", "<>")],
        )
    )
    alias, team, colleague = alias_and_team_replies(desk)
    # List mail alone, and a customer asking about it in its conversation.
    list_headers = [("List-Id", "<news.vendor.test>"), ("List-Unsubscribe", "<mailto:u@vendor.test>")]
    news = desk.thread_of(desk.customer(frm="news@vendor.test", subject="Monthly news", headers=list_headers))
    n2 = desk.customer(frm="news@vendor.test", subject="Price list", headers=list_headers)
    asked = desk.thread_of(n2)
    desk.customer(subject="Re: Price list", reply_to_mid=n2)
    # Gmail's 100-message cap: the 101st message starts a conversation of its own.
    mid = desk.customer(subject="Long story")
    capped = desk.thread_of(mid)
    for i in range(99):
        mid = (
            desk.customer(subject="Re: Long story", reply_to_mid=mid)
            if i % 2
            else desk.send(capped, subject="Re: Long story", in_reply_to=mid)
        )
    overflow = desk.thread_of(desk.customer(subject="Re: Long story", reply_to_mid=mid))
    assert overflow != capped
    # We write first, to a customer.
    outbound = desk.thread_of(_send_new(desk, ["carol@customer.test"], "Your order 1042 has shipped"))
    desk.sandbox.control.advance_clock(H)

    lean, rows, full = _listed_then_full(desk, tmp_path)
    assert _decided(rows) == _decided(full)
    expected = {
        note: State.NEW,
        lunch: None,
        ooo: State.HANDLED,
        stranger: State.NEW,
        bounced: State.HANDLED,
        lone_bounce: None,
        alias: State.HANDLED,
        team: State.HANDLED,
        colleague: State.HANDLED,
        news: None,
        asked: State.NEW,
        capped: State.HANDLED,
        overflow: State.NEW,
        outbound: State.HANDLED,
    }
    assert {t: full[t]["state"] for t in expected} == expected
    assert full[stranger]["flags"] == ["possibly_automatic"]
    # Read whole: whatever a search marks (our address as recipient or sender) and the capped one.
    whole = {note, lunch, alias, team, colleague, capped}
    assert {t for t in whole if rows[t]["provisional"]} == set()
    # Read message by message until every message was read: decided exactly, nothing pending.
    assert not any(rows[t]["provisional"] for t in (stranger, news, asked, overflow))
    # Decided on a presumption about our side or about machine mail: provisional until read whole.
    assert all(rows[t]["provisional"] for t in (ooo, bounced, lone_bounce, outbound))
    assert rows[ooo]["messages"] == [] and rows[ooo]["first_response_at"] is None
    _backfill_equals_full(desk, full, corrected=0)


def test_a_reply_addressed_to_a_vendor_is_the_listings_one_presumption(desk, tmp_path):
    """What no search operator tells: whom a sent message went to, against who wrote to us. The
    listings take it for a reply - handled, provisional, never closed or archived on a guessed date -
    and the backfill, reading such conversations first, corrects it to forwarded."""
    _plain(desk)
    c1 = desk.customer()
    vendor = desk.thread_of(c1)
    desk.send(vendor, to=VENDOR, subject="Re: Printer offline", in_reply_to=c1)  # no "Fwd:", not the customer
    c2 = desk.customer(subject="Broken screen")
    prefixed = desk.thread_of(c2)
    desk.send(prefixed, to=VENDOR, subject="Fwd: Broken screen", in_reply_to=c2)
    lean, rows, full = _listed_then_full(desk, tmp_path)
    assert rows[vendor]["state"] is State.HANDLED and rows[vendor]["provisional"]
    assert full[vendor]["state"] is State.FORWARDED
    assert rows[prefixed]["state"] is full[prefixed]["state"] is State.FORWARDED
    differ = {t for t in full if _decided(rows)[t] != _decided(full)[t]}
    assert differ == {vendor}
    _backfill_equals_full(desk, full, corrected=1)


def test_a_status_label_found_by_the_first_sweep_counts_as_a_full_read_counts_it(desk, tmp_path):
    """state.decide: without a record of ours, every counted message is newer than a label found on
    the conversation (a lost store must not freeze states) - the listings' path sees the label through
    its labelled listing and decides the same."""
    plain = _plain(desk)
    waiting = next(t for t, kind in plain.items() if kind == "waiting")
    body = {"addLabelIds": [desk.label_id("Status/Handled")]}
    by_hand = lambda: desk.client.execute(desk.users.threads().modify(userId="me", id=waiting, body=body))  # noqa: E731
    lean, rows, _ = _listed_then_full(desk, tmp_path, before_lean=by_hand)
    again = _full_read(desk, tmp_path / "again.sqlite")  # a full read now sees the label too
    assert _decided(rows) == _decided(again)
    assert rows[waiting]["state"] is State.WAITING and desk.status(waiting) == {"Status/Waiting", "INBOX"}


def test_overdue_and_departments_come_out_as_a_full_read_says(desk, tmp_path):
    plain = _plain(desk)
    desk.sandbox.control.advance_clock(5 * H)  # past Billing's 4h first response, not past 8h next response
    lean, rows, full = _listed_then_full(desk, tmp_path)
    assert _decided(rows) == _decided(full)
    billing = [t for t, kind in plain.items() if kind == "billing"]
    assert {rows[t]["department"] for t in billing} == {"Billing"}
    assert all(rows[t]["overdue"] and rows[t]["due_at"] for t in billing)
    waiting = [t for t, kind in plain.items() if kind == "waiting"]
    assert not any(rows[t]["overdue"] for t in waiting)


# ---------------------------------------------------------------- what the listings cost, what they save
def test_a_first_sweep_reads_one_message_of_a_waiting_conversation_and_none_of_a_handled_one(desk, tmp_path):
    plain = _plain(desk)
    # Machine mail the searches mark is presumed, not read: an out-of-office subject after our reply
    # (subject:"automatic reply"), a MAILER-DAEMON sender (from:mailer-daemon).
    for subject, frm in (("Automatic reply: Re: Toner", ALICE), ("Re: Toner", "MAILER-DAEMON@mx.customer.test")):
        c = desk.customer(subject="Toner")
        r = desk.send(desk.thread_of(c), subject="Re: Toner", in_reply_to=c)
        plain[desk.thread_of(desk.customer(subject=subject, frm=frm, reply_to_mid=r))] = "handled"
    lean, rows, full = _listed_then_full(desk, tmp_path)
    calls = lean.calls_by_method
    # new and billing: their one message; nudge and waiting: the first customer message after our last.
    reads = sum(1 for kind in plain.values() if kind != "handled")
    assert calls.get("users.messages.get", 0) == reads and "users.threads.get" not in calls
    with_reply = [t for t, kind in plain.items() if kind == "handled"]
    assert all(rows[t]["provisional"] and rows[t]["messages"] == [] for t in with_reply)
    singles = [t for t, kind in plain.items() if kind in ("new", "billing")]
    assert not any(rows[t]["provisional"] for t in singles)  # every message read: exact, facts complete
    assert lean.provisional == len(plain) - len(singles)
    _backfill_equals_full(desk, full, corrected=0)


def test_a_desk_whose_responder_answers_into_conversations_reads_them_whole(sandbox, tmp_path, monkeypatch):
    """Gmail's vacation reply without a subject of its own goes into the customer's conversation as
    our sent mail (Gmail Help 25922): no listing tells it from an agent's reply."""
    config, _ = make_desk(sandbox, tmp_path, monkeypatch)
    monkeypatch.setattr(listed_reading, "SAMPLE_MIN", 0)
    assert config.auto_ack is None
    from gmaildesk.config.desk import AutoAck

    ack = AutoAck(True, "", "We got your message.", "", False, False, None, None)
    desk = Desk(sandbox, dataclasses.replace(config, auto_ack=ack), tmp_path / "sweep.sqlite")
    _plain(desk)
    first = desk.sweep()
    assert first.provisional == 0 and first.listing_check is None
    assert first.calls_by_method["users.messages.list"] == 2  # the scope and the mailbox; no searches


# ---------------------------------------------------------------- the check of the listings' habits
class _OldestFirst(HttpGmailApi):
    """A Gmail that lists oldest first: what the listings took for granted no longer holds."""

    def message_refs(self, query: str, label_ids=()) -> list[MessageRef]:
        return list(reversed(super().message_refs(query, label_ids)))


def test_a_listing_not_newest_first_turns_the_listings_off_for_the_run(desk, tmp_path, monkeypatch):
    monkeypatch.setattr(listed_reading, "SAMPLE_MIN", 20)
    _plain(desk)
    with Store(desk.store_path) as store:
        lean = engine.run(_OldestFirst(desk.client), desk.desk, store, now_ms=desk.now())
    assert not lean.errors and lean.provisional == 0
    assert lean.listing_check is not None and lean.listing_check.startswith("listings off, all read whole: ")
    assert lean.listing_check.endswith(" not listed newest first")
    full = _full_read(desk, tmp_path / "full.sqlite")
    assert _rows(desk.store_path) == full


def test_the_sample_read_whole_reports_what_it_found(desk, tmp_path, monkeypatch):
    monkeypatch.setattr(listed_reading, "SAMPLE_MIN", 10)
    _plain(desk)
    lean = desk.sweep()
    assert lean.listing_check == f"10 of {PLAIN} read whole, listed newest first; 0 decided otherwise"
    assert lean.calls_by_method["users.threads.get"] == 10
    assert lean.provisional > 0


# ---------------------------------------------------------------- from the command line
def test_the_sweep_says_what_it_decided_from_listings_and_backfill_reads_it(sandbox, tmp_path, monkeypatch):
    config, path = make_desk(sandbox, tmp_path, monkeypatch)
    desk = Desk(sandbox, config, tmp_path / "unused.sqlite")
    plain = _plain(desk)
    args = ["sweep", "-c", str(path), "--endpoint", sandbox.url, "--store", str(tmp_path / "s.sqlite")]
    first = invoke(args, env={"COLUMNS": "80"}).stdout
    provisional = sum(1 for kind in plain.values() if kind not in ("new", "billing"))
    sample = listed_reading.SAMPLE_MIN  # the real one here: 20 of the 30 read whole as the check
    assert provisional > 0
    lines = first.splitlines()
    decided = next(line for line in lines if line.startswith("From listings: "))
    assert decided.endswith(" conversations; their facts are read by the next sweeps.")
    assert f"Check: {sample} of {PLAIN} read whole, listed newest first; 0 decided otherwise." in lines
    assert max(len(line) for line in lines) <= 80
    invoke([*args, "--backfill", "-1"], expect=ExitCode.USAGE)
    again = invoke([*args, "--backfill", "1000", "--json"]).stdout
    doc = json.loads(again)
    assert doc["provisional"] == 0 and doc["corrected"] == 0 and doc["backfilled"] == int(decided.split()[2])
    assert doc["listing_check"] is None and doc["full"] is False
    idle = json.loads(invoke([*args, "--json"]).stdout)
    assert idle["backfilled"] == 0 and idle["api_calls"] <= 3


def test_closed_from_listings_is_archived_only_once_read_whole(desk, tmp_path):
    """A conversation we answered before the close cutoff is closed by the listings (in:sent before:),
    but not archived on a presumption: the backfill archives what a full read closes, and leaves the
    inbox alone where the read finds a forward (an agent's own archiving included)."""
    c1 = desk.customer(subject="Old order")
    closed = desk.thread_of(c1)
    desk.send(closed, subject="Re: Old order", in_reply_to=c1)
    c2 = desk.customer(subject="Old repair")
    vendor = desk.thread_of(c2)
    desk.send(vendor, to=VENDOR, subject="Re: Old repair", in_reply_to=c2)
    desk.sandbox.control.advance_clock(8 * 24 * H)  # past close_after: 7d
    _plain(desk)
    lean = desk.sweep()
    assert not lean.errors
    with Store(desk.store_path) as store:
        rows = store.threads()
    assert rows[closed].state is rows[vendor].state is State.CLOSED
    assert rows[closed].provisional and rows[vendor].provisional
    assert desk.status(closed) == {"Status/Closed", "INBOX"}  # not archived on a presumption
    archive = {"removeLabelIds": ["INBOX"]}  # an agent archives the other one by hand
    desk.client.execute(desk.users.threads().modify(userId="me", id=vendor, body=archive))
    again = desk.sweep(backfill=1000)
    assert not again.errors and again.provisional == 0
    assert desk.status(closed) == {"Status/Closed"}  # read whole: closed, so archived now
    assert desk.status(vendor) == {"Status/Forwarded"}  # corrected; the agent's archiving stands


def test_a_message_gmail_lists_but_does_not_show_yet_is_retried_not_guessed(desk, tmp_path):
    """Gmail is briefly inconsistent after delivery (the sandbox's fresh_not_found_s): a customer
    message the listings named answers 404. Its conversation goes to threads.get (404 too), is
    reported as retrying and decided on the next run, as a full read decides it - never guessed."""
    plain = _plain(desk)
    desk.sandbox.control.set_faults(fresh_not_found_s=30)
    late = desk.thread_of(desk.customer(subject="Just arrived"))
    first = desk.sweep()
    assert first.retrying == [late] and not first.errors
    with Store(desk.store_path) as store:
        assert late not in store.threads() and len(store.threads()) == len(plain)
    desk.sandbox.control.advance_clock(60)
    second = desk.sweep()
    assert second.retrying == [] and [t.to_state for t in second.transitions if t.thread_id == late] == ["new"]
