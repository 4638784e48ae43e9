"""The lean sweep (engine.run(lean=True), sweep/lean.py) against a full read (lean=False) of the
same mailbox, through the real client and the sandbox: the classifier's hard cases must come out
the same, row for row and label for label, while a conversation of one message costs one
messages.get instead of a threads.get."""

from __future__ import annotations

import base64
import dataclasses
from pathlib import Path
from typing import Any

import pytest

from gmaildesk.config.desk import Quota
from gmaildesk.gmail.api import HttpGmailApi
from gmaildesk.sandbox.mime import build_message
from gmaildesk.sweep import engine
from gmaildesk.sweep.state import State
from gmaildesk.sweep.store import Store
from sweep_helpers import ALICE, SUPPORT, Desk, H, alias_and_team_replies, make_desk

D = 24 * H
VENDOR = "vendor@parts.test"


@pytest.fixture
def desk(sandbox, tmp_path, monkeypatch):
    config, _ = make_desk(sandbox, tmp_path, monkeypatch)
    return Desk(sandbox, config, tmp_path / "sweep.sqlite")


def _send_new(desk: Desk, to: list[str], subject: str, frm: str = SUPPORT) -> str:
    """We write first: messages.send without a threadId, a conversation of its own."""
    mid = f"<new{len(desk.threads)}@test>"
    raw = build_message(from_=frm, to=to, subject=subject, text="hello", message_id=mid, date_ms=desk.now())
    body = {"raw": base64.urlsafe_b64encode(raw).decode()}
    desk.threads[mid] = desk.client.execute(desk.users.messages().send(userId="me", body=body))["threadId"]
    return mid


def _rows(path: Path) -> dict[str, Any]:
    with Store(path) as store:
        rows = store.threads()
        return {
            t: ({k: v for k, v in dataclasses.asdict(row).items() if k != "updated_at"}, store.messages(t))
            for t, row in rows.items()
        }


def _lean_then_full(desk: Desk, tmp_path: Path) -> tuple[engine.SweepResult, dict[str, Any]]:
    """A lean first sweep, then a full read into a store of its own: the same rows, and the full
    read finds nothing to relabel (the lean run wrote exactly what a full read wants)."""
    lean = desk.sweep()
    assert lean.full and not lean.errors
    with Store(tmp_path / "full.sqlite") as store:
        full = engine.run(HttpGmailApi(desk.client), desk.desk, store, now_ms=desk.now(), lean=False)
    assert full.full and not full.errors
    assert full.messages_modified == 0
    assert "users.messages.get" not in full.calls_by_method and "users.messages.list" not in full.calls_by_method
    rows = _rows(desk.store_path)
    assert rows == _rows(tmp_path / "full.sqlite")
    return lean, rows


def _reads(result: engine.SweepResult) -> tuple[int, int]:
    """(messages.get, threads.get) calls of a sweep."""
    calls = result.calls_by_method
    return calls.get("users.messages.get", 0), calls.get("users.threads.get", 0)


def _state(rows: dict[str, Any], thread_id: str) -> State | None:
    state: State | None = rows[thread_id][0]["state"]
    return state


# ---------------------------------------------------------------- the classifier's hard cases
def test_a_note_to_ourselves_changes_nothing(desk, tmp_path):
    c1 = desk.customer()
    t1 = desk.thread_of(c1)
    desk.send(t1, to="bob@example.com", subject="Re: Printer offline", in_reply_to=c1)  # team only: a note
    t2 = desk.thread_of(_send_new(desk, ["bob@example.com", "eve@staff.example.com"], "Lunch on Friday?"))
    lean, rows = _lean_then_full(desk, tmp_path)
    assert _state(rows, t1) is State.NEW and _state(rows, t2) is None
    assert _reads(lean) == (1, 1)  # the lone note read alone, the conversation whole


def test_a_forward_without_a_prefix_is_a_forward_and_writing_first_is_a_reply(desk, tmp_path):
    c1 = desk.customer()
    t1 = desk.thread_of(c1)
    desk.send(t1, to=VENDOR, subject="Re: Printer offline", in_reply_to=c1)  # no "Fwd:", not the customer
    t2 = desk.thread_of(_send_new(desk, ["carol@customer.test"], "Your order 1042 has shipped"))
    lean, rows = _lean_then_full(desk, tmp_path)
    assert _state(rows, t1) is State.FORWARDED and _state(rows, t2) is State.HANDLED
    assert rows[t2][0]["customer"] == "carol@customer.test"
    assert _reads(lean) == (1, 1)


def test_an_out_of_office_without_rfc3834_headers_leaves_it_handled(desk, tmp_path):
    c1 = desk.customer()
    t1 = desk.thread_of(c1)
    r1 = desk.send(t1, in_reply_to=c1)
    desk.customer(subject="Automatic reply: Re: Printer offline", reply_to_mid=r1)  # a subject, no headers
    # Alone, the same kind of subject is a person's until shown otherwise: new, flagged.
    t2 = desk.thread_of(desk.customer(frm="dan@other.test", subject="Out of office: back Monday"))
    lean, rows = _lean_then_full(desk, tmp_path)
    assert _state(rows, t1) is State.HANDLED and _state(rows, t2) is State.NEW
    assert rows[t2][0]["flags"] == ["possibly_automatic"]
    assert _reads(lean) == (1, 1)


def test_a_bounce_into_our_thread_leaves_it_handled(desk, tmp_path):
    c1 = desk.customer()
    t1 = desk.thread_of(c1)
    r1 = desk.send(t1, in_reply_to=c1)
    # Gmail threads a bounce that keeps the subject (qmail's do) into the conversation.
    b1 = desk.customer(frm="MAILER-DAEMON@mx.customer.test", subject="Re: Printer offline", reply_to_mid=r1)
    assert desk.thread_of(b1) == t1
    bounce = {"subject": "Undelivered Mail Returned to Sender", "headers": [("Return-Path", "<>")]}
    t2 = desk.thread_of(desk.customer(frm="postmaster@mx.other.test", **bounce))
    lean, rows = _lean_then_full(desk, tmp_path)
    assert _state(rows, t1) is State.HANDLED and _state(rows, t2) is None
    assert _reads(lean) == (1, 1)


def test_alias_and_team_replies_count_as_ours(desk, tmp_path):
    t1, t2, t3 = alias_and_team_replies(desk)  # the colleague's: one message, ours
    lean, rows = _lean_then_full(desk, tmp_path)
    assert [_state(rows, t) for t in (t1, t2, t3)] == [State.HANDLED] * 3
    assert rows[t1][0]["department"] == "Billing"
    assert _reads(lean) == (1, 2)


def test_a_list_conversation_has_no_status_until_a_person_writes(desk, tmp_path):
    list_headers = [("List-Id", "<news.vendor.test>"), ("List-Unsubscribe", "<mailto:u@vendor.test>")]
    t1 = desk.thread_of(desk.customer(frm="news@vendor.test", subject="Monthly news", headers=list_headers))
    n2 = desk.customer(frm="news@vendor.test", subject="Price list", headers=list_headers)
    t2 = desk.thread_of(n2)
    desk.customer(subject="Re: Price list", reply_to_mid=n2)  # a customer asks about it, in the thread
    lean, rows = _lean_then_full(desk, tmp_path)
    assert _state(rows, t1) is None and _state(rows, t2) is State.NEW
    assert _reads(lean) == (1, 1)


def test_a_conversation_at_gmails_100_message_cap(desk, tmp_path):
    mid = desk.customer()
    t1 = desk.thread_of(mid)
    for i in range(99):
        if i % 2:
            mid = desk.customer(subject="Re: Printer offline", reply_to_mid=mid)
        else:
            mid = desk.send(t1, in_reply_to=mid)
    last = desk.customer(subject="Re: Printer offline", reply_to_mid=mid)
    t2 = desk.thread_of(last)
    assert t2 != t1  # the 101st message starts a conversation of its own
    lean, rows = _lean_then_full(desk, tmp_path)
    assert len(rows[t1][1]) == 100 and _state(rows, t1) is State.HANDLED
    assert _state(rows, t2) is State.NEW
    assert _reads(lean) == (1, 1)


# ---------------------------------------------------------------- what the lean path costs
def test_a_first_sweep_lists_twice_and_reads_one_message_conversations_alone(desk, tmp_path):
    singles = [desk.thread_of(desk.customer(subject=f"Question {i}")) for i in range(5)]
    for i in range(3):
        c = desk.customer(subject=f"Thread {i}")
        desk.send(desk.thread_of(c), in_reply_to=c, subject=f"Re: Thread {i}")
    lean, rows = _lean_then_full(desk, tmp_path)
    # The scope and then the whole mailbox (a conversation may reach before `newer_than:90d`).
    assert lean.calls_by_method["users.messages.list"] == 2 and "users.threads.list" not in lean.calls_by_method
    assert _reads(lean) == (5, 3) and lean.threads_read == 8
    assert all(_state(rows, t) is State.NEW for t in singles)


def test_a_conversation_reaching_before_the_scope_is_read_whole(desk, tmp_path):
    c1 = desk.customer(subject="Old question")
    old = desk.thread_of(c1)
    desk.send(old, in_reply_to=c1, subject="Re: Old question")
    desk.sandbox.control.advance_clock(100 * D)
    desk.customer(subject="Re: Old question", reply_to_mid=c1)  # only this one is in newer_than:90d
    lean, rows = _lean_then_full(desk, tmp_path)
    assert _state(rows, old) is State.WAITING and _reads(lean) == (0, 1)


def test_an_incremental_new_conversation_of_one_message_costs_one_messages_get(desk, tmp_path):
    c1 = desk.customer()
    desk.sandbox.control.advance_clock(100 * D)  # c1's conversation is out of newer_than:90d
    first = desk.sweep()
    assert first.threads_seen == 0
    t2 = desk.thread_of(desk.customer(subject="Refund"))
    second = desk.sweep()
    assert _reads(second) == (1, 0) and second.threads_read == 1
    assert [(x.thread_id, x.to_state) for x in second.transitions] == [(t2, "new")]
    # A reply to a conversation from before the scope (not in the store, named after its first
    # message) is read whole: one message of it would make a new conversation of a waiting one.
    desk.customer(subject="Re: Printer offline", reply_to_mid=c1)
    third = desk.sweep()
    assert _reads(third) == (0, 1)
    assert [(x.thread_id, x.to_state) for x in third.transitions] == [(desk.thread_of(c1), "new+overdue")]
    with Store(tmp_path / "full.sqlite") as store:
        engine.run(HttpGmailApi(desk.client), desk.desk, store, now_ms=desk.now(), lean=False)
    assert _rows(desk.store_path) == _rows(tmp_path / "full.sqlite")


def test_a_thread_older_than_its_id_turns_the_incremental_shortcut_off(desk, tmp_path):
    """Gmail names a conversation after the message that started it (not documented): a thread
    read in the same run that shows otherwise sends the new conversations to threads.get."""
    c1 = desk.customer()
    t1 = desk.thread_of(c1)
    desk.sweep()
    earlier = build_message(
        from_=ALICE,
        to=[SUPPORT],
        subject="Re: Printer offline",
        text="as I wrote last week",
        message_id="<earlier@test>",
        references=[c1],
        date_ms=desk.now() - 7 * D * 1000,
    )
    body = {"raw": base64.urlsafe_b64encode(earlier).decode(), "threadId": t1, "labelIds": ["INBOX"]}
    imported = desk.client.execute(desk.users.messages().import_(userId="me", body=body))
    assert imported["threadId"] == t1  # older than the message the thread is named after
    t2 = desk.thread_of(desk.customer(subject="Refund"))
    second = desk.sweep()
    # t1: its new message is older than the stored ones (read alone, then whole); t2 whole too.
    assert _reads(second) == (1, 2)
    assert {x.thread_id: x.to_state for x in second.transitions} == {t1: "new+overdue", t2: "new"}
    with Store(tmp_path / "full.sqlite") as store:
        engine.run(HttpGmailApi(desk.client), desk.desk, store, now_ms=desk.now(), lean=False)
    assert _rows(desk.store_path) == _rows(tmp_path / "full.sqlite")


# ---------------------------------------------------------------- after a lost history
def _by_hand(desk: Desk, thread_id: str, add: str, remove: tuple[str, ...] = ()) -> None:
    body = {"addLabelIds": [desk.label_id(add)], "removeLabelIds": [desk.label_id(r) for r in remove]}
    desk.client.execute(desk.users.threads().modify(userId="me", id=thread_id, body=body))


def _transitions(result: engine.SweepResult) -> set[tuple[str, str | None, str | None]]:
    return {(x.thread_id, x.from_state, x.to_state) for x in result.transitions}


def test_after_a_lost_history_only_conversations_that_changed_are_read(desk, tmp_path):
    quiet = desk.thread_of(desk.customer(subject="Quiet"))  # new; overdue by the clock alone
    c2 = desk.customer(subject="Follow-up")
    t2 = desk.thread_of(c2)
    r2 = desk.send(t2, in_reply_to=c2, subject="Re: Follow-up")
    c3 = desk.customer(subject="By hand")
    t3 = desk.thread_of(c3)
    desk.send(t3, in_reply_to=c3, subject="Re: By hand")
    desk.customer(subject="Re: By hand", reply_to_mid=c3)
    c4 = desk.customer(subject="Deleted")
    t4 = desk.thread_of(c4)
    r4 = desk.send(t4, in_reply_to=c4, subject="Re: Deleted")
    desk.sweep()

    desk.sandbox.control.configure(history_retention_seconds=1)
    desk.customer(subject="Re: Follow-up", reply_to_mid=r2)  # t2: a new message
    _by_hand(desk, t3, "Status/Handled", remove=("Status/Waiting",))  # t3: an agent's status
    desk.client.execute(desk.users.messages().delete(userId="me", id=_message_id(desk, t4, r4)))  # t4: one gone
    t5 = desk.thread_of(desk.customer(subject="Brand new"))
    desk.sandbox.control.advance_clock(5 * H)

    with Store(desk.store_path) as store:  # the full read, on a copy of the store, writes nothing
        copy = tmp_path / "full.sqlite"
        store.db.execute("VACUUM INTO ?", (str(copy),))
    with Store(copy) as store:
        full = engine.run(HttpGmailApi(desk.client), desk.desk, store, now_ms=desk.now(), lean=False, dry_run=True)
    lean = desk.sweep()
    assert lean.resynced and full.resynced and not lean.errors
    assert _transitions(lean) == _transitions(full) and lean.by_state == full.by_state
    assert {(quiet, "new", "new+overdue"), (t4, "handled", "new+overdue"), (t5, None, "new+overdue")} <= _transitions(
        lean
    )
    assert _reads(lean) == (2, 2) and _reads(full) == (0, 5)  # t4 (one message left), t5 alone; `quiet` not at all
    with Store(desk.store_path) as store:
        assert store.threads()[t3].state is State.HANDLED and store.threads()[t3].manual


def test_after_a_lost_history_an_unchanged_mailbox_costs_listings_only(desk):
    for i in range(4):
        c = desk.customer(subject=f"Question {i}")
        if i % 2:
            desk.send(desk.thread_of(c), in_reply_to=c, subject=f"Re: Question {i}")
    desk.sweep()
    desk.sandbox.control.configure(history_retention_seconds=1)
    read = {"removeLabelIds": ["UNREAD"]}  # an agent reads the mail: no status touched
    desk.client.execute(desk.users.threads().modify(userId="me", id=desk.thread_of(c), body=read))
    desk.sandbox.control.advance_clock(5)
    again = desk.sweep()
    assert again.resynced and again.threads_read == 0 and again.transitions == []
    assert _reads(again) == (0, 0)
    # The scope, the mailbox, one listing per status label (new, waiting, handled, forwarded, closed, overdue).
    assert again.calls_by_method["users.messages.list"] == 2 + 6


def _message_id(desk: Desk, thread_id: str, rfc_id: str) -> str:
    thread = desk.client.execute(
        desk.users.threads().get(userId="me", id=thread_id, format="metadata", metadataHeaders=["Message-ID"])
    )
    return next(
        m["id"]
        for m in thread["messages"]
        if any(h["value"] == rfc_id for h in m["payload"]["headers"] if h["name"].lower() == "message-id")
    )


def test_the_mailbox_is_listed_only_when_that_costs_less_than_it_saves(sandbox, tmp_path, monkeypatch):
    """Under the legacy table a messages.list page (5 units) costs what one messages.get saves
    against a threads.get (10 - 5): one conversation of one message is not worth listing the mailbox.
    The table is the connection's (desk.yaml's sweep.quota.costs unless $GMAILDESK_QUOTA_COSTS says
    otherwise); the engine is given the desk's too, which the environment overrides."""
    monkeypatch.setenv("GMAILDESK_QUOTA_COSTS", "legacy")
    config, _ = make_desk(sandbox, tmp_path, monkeypatch)
    desk = Desk(
        sandbox,
        dataclasses.replace(config, sweep=dataclasses.replace(config.sweep, quota=Quota(costs="legacy"))),
        tmp_path / "s",
    )
    t1 = desk.thread_of(desk.customer(subject="One"))
    first = desk.sweep()
    assert first.calls_by_method["users.messages.list"] == 1 and _reads(first) == (0, 1)
    t2 = desk.thread_of(desk.customer(subject="Two"))
    t3 = desk.thread_of(desk.customer(subject="Three"))
    again = desk.sweep(full=True)  # three candidates, a mailbox of three messages: one page pays
    assert again.calls_by_method["users.messages.list"] == 2 and _reads(again) == (3, 0)
    with Store(desk.store_path) as store:
        assert {t: r.state for t, r in store.threads().items()} == {t: State.NEW for t in (t1, t2, t3)}
