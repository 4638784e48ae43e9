"""Loop guards of the sweep's acknowledgement (auto_ack mode: sweep): it never answers a machine,
never answers itself, and never floods one sender (RFC 3834 §2)."""

from __future__ import annotations

from test_team_ack import AckDesk


def _reasons(swept: dict) -> dict[str, int]:
    return swept["acks_skipped"]


def test_an_auto_reply_to_our_acknowledgement_gets_none(sandbox, tmp_path, monkeypatch):
    desk = AckDesk(sandbox, tmp_path, monkeypatch)
    desk.sweep()
    desk.mail("Eve <eve@e.test>", "Where is my order")
    assert desk.sweep()["acks_sent"] == 1
    (ack,) = desk.acks()
    ours = ack["Message-ID"]
    # Her out-of-office answers in the same conversation (same subject, In-Reply-To ours) ...
    desk.mail(
        "eve@e.test",
        "Re: Where is my order",
        headers=[("Auto-Submitted", "auto-replied")],
        in_reply_to=ours,
        references=[ours],
    )
    # ... as does Outlook's, prefixed "Automatic reply:" (Gmail threads it by its References).
    desk.mail("eve@e.test", "Automatic reply: Re: Where is my order", in_reply_to=ours, references=[ours])
    # Her company's helpdesk acknowledges ours with a subject of its own and, like FreeScout's, no
    # Auto-Submitted: a new conversation, from a person's address, that names our acknowledgement.
    desk.mail("help@e.test", "[Ticket #99812] We received your request", in_reply_to=ours, references=[ours])
    # A responder that marks itself, in a conversation of its own.
    desk.mail("eve@e.test", "Out of office", headers=[("Auto-Submitted", "auto-replied")])
    swept = desk.sweep()
    assert swept["acks_sent"] == 0
    assert _reasons(swept) == {"answers our acknowledgement": 1, "automatic": 1}
    assert len(desk.acks()) == 1


def test_a_customer_mailing_ten_times_in_a_day_gets_three(sandbox, tmp_path, monkeypatch):
    desk = AckDesk(sandbox, tmp_path, monkeypatch)
    desk.sweep()
    sent = 0
    skipped = 0
    for batch in range(5):  # ten new conversations in a day, a sweep after every two
        for n in range(2):
            desk.mail("frank@f.test", f"Question {batch * 2 + n}")
        desk.control.advance_clock(3600)
        swept = desk.sweep()
        sent += swept["acks_sent"]
        skipped += _reasons(swept).get("per-sender limit", 0)
    assert (sent, skipped) == (3, 7)
    assert len(desk.acks()) == 3
    desk.mail("grace@g.test", "Another customer the same day")  # the limit is per sender
    assert desk.sweep()["acks_sent"] == 1
    desk.control.advance_clock(86_400)
    desk.mail("frank@f.test", "A day later")
    assert desk.sweep()["acks_sent"] == 1  # 24 hours on, frank is acknowledged again


def test_no_reply_senders_get_none(sandbox, tmp_path, monkeypatch):
    desk = AckDesk(sandbox, tmp_path, monkeypatch)
    desk.sweep()
    desk.mail("noreply@shop.test", "Your order has shipped")  # a machine: the classifier's AUTO_REPLY
    # A form that sends as no-reply with a person in Reply-To is customer mail, but the ack would go
    # to the no-reply From: none.
    desk.mail("do-not-reply@forms.test", "Contact form: refund", headers=[("Reply-To", "hana@h.test")])
    desk.mail("postmaster@mx.test", "About your domain")
    swept = desk.sweep()
    assert swept["acks_sent"] == 0
    assert sum(_reasons(swept).values()) == 3
    assert set(_reasons(swept)) <= {"automatic", "no-reply", "bounce"}
    assert desk.acks() == []


def test_our_own_alias_gets_none(sandbox, tmp_path, monkeypatch):
    desk = AckDesk(sandbox, tmp_path, monkeypatch)
    desk.sweep()
    desk.mail("Acme Billing <billing@example.com>", "Internal: a refund to check")  # our alias, authenticated
    desk.mail("billing@example.com", "Forged: pay this", authentication="fail")  # claims our alias
    desk.mail("support+tests@example.com", "A plus address of the mailbox", authentication="fail")
    desk.mail("bob@example.com", "From the team")
    swept = desk.sweep()
    assert swept["acks_sent"] == 0
    assert _reasons(swept) == {"ourselves": 4}
    assert desk.acks() == []
