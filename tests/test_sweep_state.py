"""The sweep's state decision: new / waiting / handled / forwarded / closed, overdue, and hand-set states."""

from __future__ import annotations

import pytest

from gmaildesk.sweep import Kind, MessageMeta, Policy, Previous, State, Us, classify_thread, decide, format_duration

S, M, H, D = 1000, 60_000, 3_600_000, 86_400_000
T0 = 1_700_000_000_000
US = Us(addresses=frozenset({"support@acme.test", "sales@acme.test"}), domains=frozenset({"acme-staff.test"}))
POLICY = Policy(first_response_s=4 * 3600, next_response_s=8 * 3600, close_after_s=7 * 86400)
ALICE = "Alice Example <alice@example.org>"


def msg(id: str, at: int, labels: tuple[str, ...] = ("INBOX",), **headers: str) -> MessageMeta:
    return MessageMeta(
        id=id,
        internal_date=at,
        label_ids=frozenset(labels),
        headers={name.replace("_", "-"): value for name, value in headers.items()},
    )


def customer(id: str, at: int, frm: str = ALICE, **more: str) -> MessageMeta:
    return msg(id, at, labels=("INBOX",), From=frm, To="support@acme.test", Subject="Re: Printer offline", **more)


def reply(id: str, at: int, frm: str = "support@acme.test", to: str = "alice@example.org", **more: str) -> MessageMeta:
    return msg(id, at, ("SENT",), From=frm, To=to, Subject="Re: Printer offline", **more)


def forward(id: str, at: int, to: str = "vendor@parts.test") -> MessageMeta:
    return msg(id, at, ("SENT",), From="support@acme.test", To=to, Subject="Fwd: Printer offline")


def ooo(id: str, at: int) -> MessageMeta:
    return customer(id, at, X_Auto_Response_Suppress="All")


def bounce(id: str, at: int) -> MessageMeta:
    return msg(
        id,
        at,
        From="Mail Delivery System <MAILER-DAEMON@mx.example.org>",
        To="support@acme.test",
        Subject="Undelivered Mail Returned to Sender",
        Return_Path="<>",
        Content_Type="multipart/report; report-type=delivery-status; boundary=x",
    )


def list_mail(id: str, at: int) -> MessageMeta:
    return msg(
        id,
        at,
        From="heidi@example.com",
        To="printers@lists.example.org",
        Subject="[printers] toner",
        List_Id="<printers.lists.example.org>",
    )


def note(id: str, at: int) -> MessageMeta:
    return msg(id, at, ("SENT",), From="support@acme.test", To="bob@acme-staff.test", Subject="Re: Printer offline")


def our_ack(id: str, at: int) -> MessageMeta:
    return reply(id, at, Auto_Submitted="auto-replied")


def draft(id: str, at: int) -> MessageMeta:
    return msg(id, at, ("DRAFT",), From="support@acme.test", To="alice@example.org", Subject="Re: Printer offline")


def verdict(messages, now: int, policy: Policy = POLICY, **kwargs):
    return decide(classify_thread(messages, US), policy, now, **kwargs)


def summary(v) -> tuple:
    return v.state, v.overdue, v.due_at, v.last_counted.message.id if v.last_counted else None


# ---------------------------------------------------------------- new and overdue


def test_new_within_the_first_response_sla():
    v = verdict([customer("c1", T0)], T0 + 1 * H)
    assert summary(v) == (State.NEW, False, T0 + 4 * H, "c1")
    assert v.reason == "customer wrote 1h ago, no reply yet; due in 3h"
    assert v.first_response_at is None and v.manual is False


def test_new_becomes_overdue_once_the_sla_passes_and_not_a_millisecond_before():
    thread = [customer("c1", T0), customer("c2", T0 + 2 * H)]  # the SLA runs from the first message
    assert verdict(thread, T0 + 4 * H).overdue is False
    v = verdict(thread, T0 + 5 * H + 30 * M)
    assert summary(v) == (State.NEW, True, T0 + 4 * H, "c2")
    assert v.reason == "customer wrote 5h30m ago, no reply yet; overdue by 1h30m"


def test_overdue_disappears_once_we_reply():
    thread = [customer("c1", T0), reply("r1", T0 + 5 * H)]
    v = verdict(thread, T0 + 6 * H)
    assert summary(v) == (State.HANDLED, False, None, "r1")
    assert v.reason == "we replied last (1h ago)"


def test_no_sla_means_never_overdue():
    v = verdict([customer("c1", T0)], T0 + 30 * D, Policy(None, None, None))
    assert summary(v) == (State.NEW, False, None, "c1")


# ---------------------------------------------------------------- waiting, handled, forwarded


def test_waiting_after_our_reply_and_a_customer_answer():
    thread = [customer("c1", T0), reply("r1", T0 + 1 * H), customer("c2", T0 + 3 * H)]
    v = verdict(thread, T0 + 4 * H)
    assert summary(v) == (State.WAITING, False, T0 + 3 * H + 8 * H, "c2")
    assert v.reason == "customer wrote last (1h ago) after our reply; due in 7h"


def test_waiting_overdue_counts_from_the_customers_first_message_after_our_reply():
    thread = [customer("c1", T0), reply("r1", T0 + 1 * H), customer("c2", T0 + 3 * H), customer("c3", T0 + 10 * H)]
    v = verdict(thread, T0 + 12 * H)
    assert summary(v) == (State.WAITING, True, T0 + 11 * H, "c3")
    assert v.reason == "customer wrote last (2h ago) after our reply; overdue by 1h"


def test_handled_when_we_replied_last():
    v = verdict([customer("c1", T0), reply("r1", T0 + 1 * H)], T0 + 3 * H)
    assert summary(v) == (State.HANDLED, False, None, "r1")


def test_forwarded_when_we_handed_it_on():
    v = verdict([customer("c1", T0), forward("f1", T0 + 1 * H)], T0 + 2 * H)
    assert summary(v) == (State.FORWARDED, False, None, "f1")
    assert v.reason == "we forwarded last (1h ago), the customer has not written since"


def test_forward_then_customer_reply_is_waiting():
    thread = [customer("c1", T0), forward("f1", T0 + 1 * H), customer("c2", T0 + 2 * H)]
    v = verdict(thread, T0 + 2 * H + 5 * M)
    assert summary(v) == (State.WAITING, False, T0 + 10 * H, "c2")
    assert v.reason == "customer wrote last (5m ago) after our forward; due in 7h55m"


def test_a_vendors_answer_to_our_forward_needs_us_again():
    thread = [customer("c1", T0), forward("f1", T0 + 1 * H), customer("v1", T0 + 2 * H, frm="vendor@parts.test")]
    assert verdict(thread, T0 + 3 * H).state is State.WAITING


def test_replying_after_a_forward_is_handled():
    thread = [customer("c1", T0), forward("f1", T0 + 1 * H), reply("r1", T0 + 2 * H)]
    assert verdict(thread, T0 + 3 * H).state is State.HANDLED


# ---------------------------------------------------------------- messages that never change a state


def test_customer_out_of_office_after_our_reply_stays_handled():
    thread = [customer("c1", T0), reply("r1", T0 + 1 * H), ooo("o1", T0 + 1 * H + 1 * M)]
    v = verdict(thread, T0 + 2 * H)
    assert summary(v) == (State.HANDLED, False, None, "r1")
    assert [c.kind for c in classify_thread(thread, US)] == [Kind.CUSTOMER, Kind.OURS_REPLY, Kind.AUTO_REPLY]


def test_bounce_of_our_reply_stays_handled():
    thread = [customer("c1", T0), reply("r1", T0 + 1 * H), bounce("b1", T0 + 1 * H + 10 * S)]
    assert summary(verdict(thread, T0 + 2 * H)) == (State.HANDLED, False, None, "r1")


@pytest.mark.parametrize("extra", [our_ack, note, draft, list_mail, ooo, bounce])
def test_uncounted_mail_leaves_a_new_thread_new(extra):
    v = verdict([customer("c1", T0), extra("x1", T0 + 1 * M)], T0 + 1 * H)
    assert summary(v) == (State.NEW, False, T0 + 4 * H, "c1")


def test_a_thread_of_only_list_mail_has_no_state():
    v = verdict([list_mail("l1", T0), list_mail("l2", T0 + H)], T0 + 10 * D)
    assert (v.state, v.overdue, v.due_at, v.last_counted, v.first_response_at) == (None, False, None, None, None)
    assert v.reason == "nothing counted yet (only automatic mail, bounces, lists, drafts or notes)"


def test_a_thread_of_only_automatic_mail_has_no_state():
    assert verdict([ooo("o1", T0), bounce("b1", T0 + H), our_ack("a1", T0 + 2 * H)], T0 + 3 * H).state is None


# ---------------------------------------------------------------- closed, and reopened


def test_closed_exactly_when_close_after_has_passed_since_our_reply():
    thread = [customer("c1", T0), reply("r1", T0 + 1 * H)]
    assert verdict(thread, T0 + 1 * H + 7 * D - 1).state is State.HANDLED
    v = verdict(thread, T0 + 1 * H + 7 * D)
    assert summary(v) == (State.CLOSED, False, None, "r1")
    assert v.reason == "handled, nothing from the customer for 7d (closes after 7d)"


def test_an_auto_reply_does_not_delay_or_prevent_closing():
    thread = [customer("c1", T0), reply("r1", T0 + 1 * H), ooo("o1", T0 + 6 * D)]
    assert verdict(thread, T0 + 1 * H + 7 * D).state is State.CLOSED


def test_never_closed_without_close_after_and_forwarded_never_closes():
    assert (
        verdict([customer("c1", T0), reply("r1", T0 + H)], T0 + 365 * D, Policy(3600, 3600, None)).state
        is State.HANDLED
    )
    assert verdict([customer("c1", T0), forward("f1", T0 + H)], T0 + 365 * D).state is State.FORWARDED


def test_reopen_after_closed_is_waiting():
    thread = [customer("c1", T0), reply("r1", T0 + 1 * H), customer("c2", T0 + 9 * D)]
    v = verdict(thread, T0 + 9 * D + 1 * H)
    assert summary(v) == (State.WAITING, False, T0 + 9 * D + 8 * H, "c2")


# ---------------------------------------------------------------- states set by hand


def test_manual_closed_is_kept_until_the_customer_writes():
    thread = [customer("c1", T0), reply("r1", T0 + 1 * H)]
    # The agent applied Status/Closed; the last sweep had recorded handled at r1.
    v = verdict(thread, T0 + 2 * H, manual_state=State.CLOSED, previous=Previous(State.HANDLED, "r1"))
    assert (v.state, v.manual, v.overdue, v.due_at) == (State.CLOSED, True, False, None)
    assert v.reason == "kept: set by hand to closed, no counted message since"
    recorded = Previous(v.state, v.last_counted.message.id, manual=v.manual)
    # Next sweeps: an out-of-office and a bounce arrive; still the agent's closed.
    thread += [ooo("o1", T0 + 3 * H), bounce("b1", T0 + 4 * H)]
    v = verdict(thread, T0 + 5 * H, previous=recorded)
    assert (v.state, v.manual) == (State.CLOSED, True)
    # The customer writes: the rules apply again.
    thread.append(customer("c2", T0 + 6 * H))
    v = verdict(thread, T0 + 7 * H, previous=recorded)
    assert (v.state, v.manual, v.due_at) == (State.WAITING, False, T0 + 14 * H)


def test_manual_closed_on_an_overdue_new_thread_is_not_overdue():
    v = verdict([customer("c1", T0)], T0 + 2 * D, manual_state=State.CLOSED, previous=Previous(State.NEW, "c1"))
    assert (v.state, v.overdue, v.due_at, v.manual) == (State.CLOSED, False, None, True)


def test_a_counted_message_of_ours_also_ends_a_manual_state():
    thread = [customer("c1", T0), reply("r1", T0 + H), reply("r2", T0 + 2 * H)]
    v = verdict(thread, T0 + 3 * H, previous=Previous(State.WAITING, "r1", manual=True))
    assert (v.state, v.manual) == (State.HANDLED, False)


def test_a_customer_message_the_last_sweep_did_not_see_overrides_the_hand_set_state():
    thread = [customer("c1", T0), reply("r1", T0 + H), customer("c2", T0 + 2 * H)]
    v = verdict(thread, T0 + 3 * H, manual_state=State.CLOSED, previous=Previous(State.HANDLED, "r1"))
    assert (v.state, v.manual) == (State.WAITING, False)


def test_a_manual_state_equal_to_the_rules_is_not_manual():
    thread = [customer("c1", T0), reply("r1", T0 + H)]
    v = verdict(thread, T0 + 2 * H, manual_state=State.HANDLED, previous=Previous(State.WAITING, "c1"))
    assert (v.state, v.manual, v.reason) == (State.HANDLED, False, "we replied last (1h ago)")


def test_without_a_previous_record_the_messages_decide():
    v = verdict([customer("c1", T0)], T0 + H, manual_state=State.CLOSED)
    assert (v.state, v.manual) == (State.NEW, False)


def test_manual_state_on_a_thread_with_nothing_counted_is_kept():
    v = verdict([list_mail("l1", T0)], T0 + H, manual_state=State.CLOSED, previous=Previous(None, None))
    assert (v.state, v.manual) == (State.CLOSED, True)


def test_an_anchor_no_longer_in_the_thread_lets_the_messages_decide():
    v = verdict([customer("c1", T0)], T0 + H, previous=Previous(State.CLOSED, "gone", manual=True))
    assert (v.state, v.manual) == (State.NEW, False)


# ---------------------------------------------------------------- us, first response, ordering


@pytest.mark.parametrize("sender", ["sales@acme.test", "dan@acme-staff.test", "SUPPORT+vip@Acme.test"])
def test_aliases_team_domains_and_subaddresses_count_as_us(sender):
    # Inbound from a team address counts as us only as Gmail authenticated it (issue 9).
    passed = f"mx.google.com; dmarc=pass (p=NONE) header.from={sender.rpartition('@')[2].lower()}"
    thread = [
        customer("c1", T0),
        msg(
            "r1",
            T0 + H,
            ("INBOX",),
            From=sender,
            To="alice@example.org",
            Subject="Re: Printer offline",
            Authentication_Results=passed,
        ),
    ]
    assert summary(verdict(thread, T0 + 2 * H)) == (State.HANDLED, False, None, "r1")


def test_a_stranger_is_not_us():
    thread = [
        customer("c1", T0),
        msg("x1", T0 + H, From="eve@elsewhere.test", To="alice@example.org", Subject="Re: Printer offline"),
    ]
    assert verdict(thread, T0 + 2 * H).state is State.NEW


def test_first_response_at_is_our_first_reply_after_the_first_customer_message():
    thread = [
        customer("c1", T0),
        note("n1", T0 + 1 * H),
        forward("f1", T0 + 2 * H),
        reply("r1", T0 + 2 * H + 10 * M),
        customer("c2", T0 + 5 * H),
        reply("r2", T0 + 6 * H),
    ]
    v = verdict(thread, T0 + 7 * H)
    assert v.first_response_at == T0 + 2 * H + 10 * M
    assert format_duration(v.first_response_at - T0) == "2h10m"


def test_first_response_when_we_wrote_first():
    outbound = [reply("o1", T0, to="lead@prospect.example"), customer("c1", T0 + H, frm="lead@prospect.example")]
    v = verdict(outbound, T0 + 2 * H)
    assert (v.state, v.first_response_at) == (State.WAITING, None)
    v = verdict(outbound + [reply("r1", T0 + 3 * H, to="lead@prospect.example")], T0 + 4 * H)
    assert (v.state, v.first_response_at) == (State.HANDLED, T0 + 3 * H)


def test_decide_orders_messages_by_internal_date():
    thread = [customer("c1", T0), reply("r1", T0 + H), customer("c2", T0 + 2 * H)]
    classified = classify_thread(thread, US)
    assert decide(list(reversed(classified)), POLICY, T0 + 3 * H) == decide(classified, POLICY, T0 + 3 * H)


@pytest.mark.parametrize(
    "ms, text",
    [
        (0, "0s"),
        (-5 * S, "0s"),
        (45 * S, "45s"),
        (12 * M, "12m"),
        (2 * H, "2h"),
        (2 * H + 10 * M, "2h10m"),
        (3 * D, "3d"),
        (3 * D + 4 * H + 59 * M, "3d4h"),
    ],
)
def test_format_duration(ms, text):
    assert format_duration(ms) == text
