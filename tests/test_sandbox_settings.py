"""settings.*: filters (and how they act on delivery), the vacation responder, send-as,
forwarding addresses and auto-forwarding - through the real client."""

from __future__ import annotations

from email.message import EmailMessage

import pytest

from api_errors import api_error
from gmaildesk.sandbox.mime import b64url_decode, b64url_encode, build_message, parse

SUPPORT = "support@example.com"
COLLEAGUE = "colleague@example.com"
DAY_S = 24 * 3600


def _error(call) -> tuple[int, str, str]:
    return api_error(call)


def _mail(
    subject: str = "Where is my order?",
    *,
    sender: str = "Ann <ann@customer.example>",
    to: tuple[str, ...] = (SUPPORT,),
    cc: tuple[str, ...] = (),
    text: str = "Order 77 has not arrived.",
    headers: tuple[tuple[str, str], ...] = (),
) -> bytes:
    return build_message(
        from_=sender,
        to=list(to),
        cc=list(cc),
        subject=subject,
        text=text,
        date_ms=1_700_000_000_000,
        extra_headers=list(headers),
    )


def _with_attachment() -> bytes:
    msg = EmailMessage()
    msg["From"] = "ann@customer.example"
    msg["To"] = SUPPORT
    msg["Subject"] = "Scan"
    msg.set_content("Attached.")
    msg.add_attachment(b"\x89PNG" + b"\x00" * 4000, maintype="image", subtype="png", filename="scan.png")
    return msg.as_bytes()


def _create_filter(gmail, criteria: dict, action: dict) -> dict:
    return gmail.settings().filters().create(userId="me", body={"criteria": criteria, "action": action}).execute()


# ---- filters -----------------------------------------------------------------------------------
def test_filter_create_get_list_delete_and_recreate(gmail):
    filters = gmail.settings().filters()
    assert filters.list(userId="me").execute() == {}
    created = _create_filter(gmail, {"from": "ann@customer.example"}, {"addLabelIds": ["STARRED"]})
    assert created["criteria"] == {"from": "ann@customer.example"}
    assert created["action"] == {"addLabelIds": ["STARRED"]}
    assert filters.get(userId="me", id=created["id"]).execute() == created
    assert filters.list(userId="me").execute() == {"filter": [created]}
    filters.delete(userId="me", id=created["id"]).execute()
    assert _error(filters.get(userId="me", id=created["id"]))[:2] == (404, "notFound")
    assert _error(filters.delete(userId="me", id=created["id"]))[:2] == (404, "notFound")
    again = _create_filter(gmail, {"from": "ann@customer.example"}, {"addLabelIds": ["STARRED"]})
    assert again["id"] != created["id"]  # no update in the API: delete and create again


def test_identical_filter_is_refused(gmail):
    _create_filter(gmail, {"from": "ann@customer.example", "subject": "order"}, {"removeLabelIds": ["INBOX"]})
    status, reason, message = _error(
        gmail.settings()
        .filters()
        .create(
            userId="me",
            body={
                "criteria": {"subject": "order", "from": "ann@customer.example"},
                "action": {"removeLabelIds": ["INBOX"]},
            },
        )
    )
    assert (status, reason, message) == (400, "failedPrecondition", "Filter already exists")
    _create_filter(gmail, {"from": "ann@customer.example", "subject": "order"}, {"addLabelIds": ["STARRED"]})


@pytest.mark.parametrize(
    "criteria, action",
    [
        ({"from": "a@b.example"}, {"addLabelIds": ["Label_404"]}),  # label must exist
        ({"from": "a@b.example"}, {"removeLabelIds": ["NOPE"]}),
        ({"from": "a@b.example"}, {}),  # no action
        ({}, {"addLabelIds": ["STARRED"]}),  # no criteria
        ({"query": "from:(bob"}, {"addLabelIds": ["STARRED"]}),  # bad search syntax
        ({"size": 1000}, {"addLabelIds": ["STARRED"]}),  # size without comparison
        ({"from": "a@b.example"}, {"addLabelIds": ["SPAM"]}),  # filters cannot send to spam
        ({"from": "a@b.example"}, {"addLabelIds": ["SENT"]}),
    ],
)
def test_invalid_filters_are_400(gmail, criteria, action):
    assert (
        _error(gmail.settings().filters().create(userId="me", body={"criteria": criteria, "action": action}))[0] == 400
    )


def test_only_one_user_label_per_filter(gmail):
    ids = [gmail.labels().create(userId="me", body={"name": n}).execute()["id"] for n in ("A", "B")]
    assert (
        _error(
            gmail.settings()
            .filters()
            .create(userId="me", body={"criteria": {"from": "x@y.example"}, "action": {"addLabelIds": ids}})
        )[0]
        == 400
    )


def test_forward_needs_a_verified_forwarding_address(gmail, sandbox):
    body = {"criteria": {"from": "vip@customer.example"}, "action": {"forward": "archive@elsewhere.example"}}
    assert _error(gmail.settings().filters().create(userId="me", body=body)) == (
        400,
        "failedPrecondition",
        "Unrecognized forwarding address",
    )
    pending = (
        gmail.settings()
        .forwardingAddresses()
        .create(userId="me", body={"forwardingEmail": "archive@elsewhere.example"})
        .execute()
    )
    assert pending["verificationStatus"] == "pending"
    assert _error(gmail.settings().filters().create(userId="me", body=body))[:2] == (400, "failedPrecondition")
    sandbox.control.verify_forwarding(SUPPORT, "archive@elsewhere.example")
    created = gmail.settings().filters().create(userId="me", body=body).execute()
    assert created["action"] == {"forward": "archive@elsewhere.example"}
    delivered = sandbox.control.deliver(SUPPORT, _mail("Urgent", sender="vip@customer.example"))
    assert delivered["forwardedTo"] == ["archive@elsewhere.example"]
    forwarded = [e for e in sandbox.control.outbox(SUPPORT) if e["kind"] == "forward"]
    assert [(e["to"], e["subject"]) for e in forwarded] == [(["archive@elsewhere.example"], "Urgent")]


@pytest.mark.parametrize(
    "criteria, hits, misses",
    [
        ({"from": "ann@customer.example"}, [_mail()], [_mail(sender="bob@shop.example")]),
        ({"from": "customer.example"}, [_mail()], [_mail(sender="bob@shop.example")]),
        ({"to": "support"}, [_mail()], [_mail(to=(COLLEAGUE,))]),
        ({"to": "colleague@example.com"}, [_mail(to=(SUPPORT, COLLEAGUE)), _mail(cc=(COLLEAGUE,))], [_mail()]),
        ({"subject": "refund"}, [_mail("Refund request")], [_mail("Order")]),
        ({"query": "invoice OR receipt"}, [_mail(text="your receipt")], [_mail(text="hello")]),
        ({"from": "customer.example", "negatedQuery": "urgent"}, [_mail(text="calm")], [_mail(text="URGENT now")]),
        ({"hasAttachment": True}, [_with_attachment()], [_mail()]),
        ({"size": 2000, "sizeComparison": "larger"}, [_with_attachment()], [_mail()]),
        ({"size": 2000, "sizeComparison": "smaller"}, [_mail()], [_with_attachment()]),
        ({"from": "ann@customer.example", "subject": "order"}, [_mail()], [_mail("Refund")]),  # all must hold
    ],
)
def test_filters_apply_on_delivery(gmail, sandbox, criteria, hits, misses):
    label = gmail.labels().create(userId="me", body={"name": "Filtered"}).execute()
    flt = _create_filter(gmail, criteria, {"addLabelIds": [label["id"]], "removeLabelIds": ["INBOX"]})
    for raw in hits:
        delivered = sandbox.control.deliver(SUPPORT, raw)
        assert delivered["filtersApplied"] == [flt["id"]]
        assert delivered["labelIds"] == sorted([label["id"], "UNREAD"])  # labelled and archived
    for raw in misses:
        delivered = sandbox.control.deliver(SUPPORT, raw)
        assert delivered["filtersApplied"] == []
        assert delivered["labelIds"] == ["INBOX", "UNREAD"]


def test_filter_actions_mark_read_star_and_trash(gmail, sandbox):
    _create_filter(
        gmail, {"from": "ann@customer.example"}, {"addLabelIds": ["STARRED", "IMPORTANT"], "removeLabelIds": ["UNREAD"]}
    )
    _create_filter(gmail, {"from": "noise@ads.example"}, {"addLabelIds": ["TRASH"]})
    assert sandbox.control.deliver(SUPPORT, _mail())["labelIds"] == ["IMPORTANT", "INBOX", "STARRED"]
    trashed = sandbox.control.deliver(SUPPORT, _mail("Sale", sender="noise@ads.example"))
    assert "TRASH" in trashed["labelIds"]
    assert [m["id"] for m in gmail.messages().list(userId="me", q="from:noise").execute().get("messages", [])] == []


def test_filters_never_act_on_insert(gmail, sandbox):
    _create_filter(gmail, {"from": "ann@customer.example"}, {"removeLabelIds": ["INBOX"]})
    inserted = (
        gmail.messages().insert(userId="me", body={"raw": b64url_encode(_mail()), "labelIds": ["INBOX"]}).execute()
    )
    assert inserted["labelIds"] == ["INBOX"]


# ---- vacation settings -------------------------------------------------------------------------
def test_vacation_defaults_and_roundtrip(gmail, sandbox):
    settings = gmail.settings()
    off = {"enableAutoReply": False, "restrictToContacts": False, "restrictToDomain": False}
    assert settings.getVacation(userId="me").execute() == off  # false booleans included, as Gmail answers
    now = sandbox.control.clock()["nowMs"]
    saved = settings.updateVacation(
        userId="me",
        body={
            "enableAutoReply": True,
            "responseSubject": "Out of office",
            "responseBodyPlainText": "Back Monday.",
            "startTime": now - 1000,
            "endTime": str(now + DAY_S * 1000),
            "restrictToDomain": False,
        },
    ).execute()
    assert saved == {
        "enableAutoReply": True,
        "responseSubject": "Out of office",
        "responseBodyPlainText": "Back Monday.",
        "startTime": str(now - 1000),
        "endTime": str(now + DAY_S * 1000),
        "restrictToContacts": False,
        "restrictToDomain": False,
    }
    assert settings.getVacation(userId="me").execute() == saved


@pytest.mark.parametrize("start, end", [(5000, 5000), ("9000", "1000"), (2000, "1999")])
def test_vacation_start_must_precede_end(gmail, start, end):
    status, _, message = _error(
        gmail.settings().updateVacation(
            userId="me", body={"enableAutoReply": True, "responseSubject": "Away", "startTime": start, "endTime": end}
        )
    )
    assert (status, message) == (400, "Start time must be before end time")


@pytest.mark.parametrize(
    "body",
    [
        {"enableAutoReply": True},
        {"enableAutoReply": True, "responseSubject": "", "responseBodyPlainText": "", "responseBodyHtml": ""},
    ],
)
def test_enabling_needs_a_subject_or_body(gmail, body):
    assert _error(gmail.settings().updateVacation(userId="me", body=body))[0] == 400


@pytest.mark.parametrize(
    "body",
    [
        {"enableAutoReply": False, "startTime": "soon"},
        {"enableAutoReply": False, "endTime": -5},
        {"enableAutoReply": True, "responseSubject": "Two\nlines"},
    ],
)
def test_vacation_rejects_bad_values(gmail, body):
    assert _error(gmail.settings().updateVacation(userId="me", body=body))[0] == 400


def test_restrict_to_domain_is_for_workspace_accounts(gmail, sandbox):
    body = {"enableAutoReply": True, "responseSubject": "Away", "restrictToDomain": True}
    assert gmail.settings().updateVacation(userId="me", body=body).execute()["restrictToDomain"] is True
    sandbox.control.add_user("someone@gmail.com")
    assert _error(gmail.settings().updateVacation(userId="someone@gmail.com", body=body))[0] == 400


# ---- the vacation responder on delivery --------------------------------------------------------
def _vacation(gmail, **extra) -> None:
    gmail.settings().updateVacation(
        userId="me",
        body={
            "enableAutoReply": True,
            "responseSubject": "[Away]",
            "responseBodyPlainText": "Back on Monday.",
            **extra,
        },
    ).execute()


def test_vacation_reply_lands_in_sent_in_the_thread_and_the_outbox(gmail, sandbox):
    _vacation(gmail, responseSubject="")  # with a subject the reply is a separate conversation (test_sandbox_delivery)
    delivered = sandbox.control.deliver(SUPPORT, _mail())
    reply = delivered["autoReply"]
    assert reply["to"] == "ann@customer.example"
    stored = gmail.messages().get(userId="me", id=reply["id"], format="full").execute()
    assert stored["threadId"] == delivered["threadId"]
    assert stored["labelIds"] == ["SENT"]
    headers = {h["name"]: h["value"] for h in stored["payload"]["headers"]}
    assert headers["Auto-Submitted"] == "auto-replied"
    assert headers["Subject"] == "Re: Where is my order?"
    assert headers["To"] == "ann@customer.example"
    original = (
        gmail.messages()
        .get(userId="me", id=delivered["id"], format="metadata", metadataHeaders=["Message-ID"])
        .execute()
    )
    assert headers["In-Reply-To"] == original["payload"]["headers"][0]["value"]
    [entry] = sandbox.control.outbox(SUPPORT, include_raw=True)
    assert (entry["kind"], entry["to"], entry["seq"]) == ("vacation", ["ann@customer.example"], reply["outboxSeq"])
    assert "Back on Monday." in parse(b64url_decode(entry["raw"])).text


def test_vacation_is_silent_when_disabled(gmail, sandbox):
    gmail.settings().updateVacation(userId="me", body={"enableAutoReply": False, "responseSubject": "Away"}).execute()
    assert sandbox.control.deliver(SUPPORT, _mail())["autoReply"] is None
    assert sandbox.control.outbox(SUPPORT) == []


def test_vacation_only_inside_its_window(gmail, sandbox):
    now = sandbox.control.clock()["nowMs"]
    _vacation(gmail, startTime=str(now + DAY_S * 1000), endTime=str(now + 3 * DAY_S * 1000))
    assert sandbox.control.deliver(SUPPORT, _mail())["autoReply"] is None  # not started yet
    sandbox.control.advance_clock(2 * DAY_S)
    assert sandbox.control.deliver(SUPPORT, _mail())["autoReply"] is not None
    sandbox.control.advance_clock(2 * DAY_S)
    assert sandbox.control.deliver(SUPPORT, _mail(sender="new@customer.example"))["autoReply"] is None  # over


def test_vacation_answers_a_sender_once_per_four_days(gmail, sandbox):
    _vacation(gmail)
    assert sandbox.control.deliver(SUPPORT, _mail("One"))["autoReply"] is not None
    assert sandbox.control.deliver(SUPPORT, _mail("Two"))["autoReply"] is None
    assert sandbox.control.deliver(SUPPORT, _mail("Three", sender="bob@shop.example"))["autoReply"] is not None
    sandbox.control.advance_clock(3 * DAY_S)
    assert sandbox.control.deliver(SUPPORT, _mail("Four"))["autoReply"] is None
    sandbox.control.advance_clock(DAY_S + 60)
    assert sandbox.control.deliver(SUPPORT, _mail("Five"))["autoReply"] is not None
    assert [e["kind"] for e in sandbox.control.outbox(SUPPORT)] == ["vacation"] * 3


def test_saving_the_settings_again_resets_the_window(gmail, sandbox):
    _vacation(gmail)
    assert sandbox.control.deliver(SUPPORT, _mail("One"))["autoReply"] is not None
    assert sandbox.control.deliver(SUPPORT, _mail("Two"))["autoReply"] is None
    _vacation(gmail)  # "You edit the automatic reply": the same settings written again count
    assert sandbox.control.deliver(SUPPORT, _mail("Three"))["autoReply"] is not None


@pytest.mark.parametrize(
    "case, raw, spam",
    [
        ("mailing list", _mail(headers=(("List-Id", "<customers.lists.example>"),)), False),
        ("bulk precedence", _mail(headers=(("Precedence", "bulk"),)), False),
        ("auto-submitted", _mail(headers=(("Auto-Submitted", "auto-generated"),)), False),
        ("auto-reply", _mail(headers=(("Auto-Submitted", "auto-replied"),)), False),
        ("mailer-daemon", _mail("Undeliverable", sender="MAILER-DAEMON@mx.customer.example"), False),
        ("noreply", _mail(sender="no-reply@shop.example"), False),
        ("ourselves", _mail(sender=SUPPORT), False),
        ("spam", _mail(), True),
    ],
)
def test_vacation_never_answers(gmail, sandbox, case, raw, spam):
    _vacation(gmail)
    assert sandbox.control.deliver(SUPPORT, raw, spam=spam)["autoReply"] is None, case
    assert sandbox.control.outbox(SUPPORT) == []


def test_vacation_never_answers_our_aliases(gmail, sandbox):
    gmail.settings().sendAs().create(userId="me", body={"sendAsEmail": "help@example.com"}).execute()
    _vacation(gmail)
    assert sandbox.control.deliver(SUPPORT, _mail(sender="help@example.com"))["autoReply"] is None


def test_vacation_reply_to_a_sandbox_colleague_is_delivered_to_them(gmail, sandbox):
    _vacation(gmail, responseSubject="")  # threaded: no subject of its own
    gmail.messages().send(userId=COLLEAGUE, body={"raw": b64url_encode(_mail("Lunch?", sender=COLLEAGUE))}).execute()
    inbox = gmail.messages().list(userId=COLLEAGUE, labelIds=["INBOX"]).execute()
    [reply] = inbox["messages"]
    headers = {
        h["name"]: h["value"]
        for h in gmail.messages()
        .get(userId=COLLEAGUE, id=reply["id"], format="metadata")
        .execute()["payload"]["headers"]
    }
    assert headers["Auto-Submitted"] == "auto-replied" and headers["Subject"] == "Re: Lunch?"
    # and the colleague's own send is threaded with the auto-reply
    sent = gmail.messages().list(userId=COLLEAGUE, labelIds=["SENT"]).execute()["messages"][0]
    assert reply["threadId"] == sent["threadId"]


def test_two_vacationing_users_do_not_answer_each_others_auto_replies(gmail, sandbox):
    for user in (SUPPORT, COLLEAGUE):
        gmail.settings().updateVacation(
            userId=user, body={"enableAutoReply": True, "responseSubject": "Away"}
        ).execute()
    gmail.messages().send(userId=COLLEAGUE, body={"raw": b64url_encode(_mail("Ping", sender=COLLEAGUE))}).execute()
    assert [e["kind"] for e in sandbox.control.outbox(COLLEAGUE)] == ["sent"]
    assert [e["kind"] for e in sandbox.control.outbox(SUPPORT)] == ["vacation"]


# ---- send-as -----------------------------------------------------------------------------------
def test_send_as_lists_the_primary_address(gmail):
    [primary] = gmail.settings().sendAs().list(userId="me").execute()["sendAs"]
    assert primary["sendAsEmail"] == SUPPORT
    assert primary["isPrimary"] is True and primary["isDefault"] is True
    assert gmail.settings().sendAs().get(userId="me", sendAsEmail=SUPPORT).execute() == primary


def test_send_as_same_domain_is_accepted_external_is_pending_until_verified(gmail, sandbox):
    send_as = gmail.settings().sendAs()
    same = send_as.create(userId="me", body={"sendAsEmail": "Help@Example.com", "displayName": "Help"}).execute()
    assert (same["sendAsEmail"], same["verificationStatus"], same["isPrimary"]) == (
        "help@example.com",
        "accepted",
        False,
    )
    sandbox.control.register_smtp_hosts(SUPPORT, ["smtp.personal.example:587"])  # Gmail connects to it first
    external = send_as.create(
        userId="me",
        body={
            "sendAsEmail": "me@personal.example",
            "smtpMsa": {
                "host": "smtp.personal.example",
                "port": 587,
                "username": "me",
                "password": "s3cret",
                "securityMode": "starttls",
            },
        },
    ).execute()
    assert external["verificationStatus"] == "pending"
    assert external["smtpMsa"] == {"host": "smtp.personal.example", "port": 587, "securityMode": "starttls"}
    assert [e["kind"] for e in sandbox.control.outbox(SUPPORT)] == ["verification"]
    send_as.verify(userId="me", sendAsEmail="me@personal.example").execute()
    assert [e["kind"] for e in sandbox.control.outbox(SUPPORT)] == ["verification"] * 2
    assert send_as.get(userId="me", sendAsEmail="me@personal.example").execute()["verificationStatus"] == "pending"
    sandbox.control.verify_send_as(SUPPORT, "me@personal.example")
    verified = send_as.get(userId="me", sendAsEmail="me@personal.example").execute()
    assert verified["verificationStatus"] == "accepted"
    assert _error(send_as.verify(userId="me", sendAsEmail="me@personal.example"))[:2] == (400, "failedPrecondition")
    listed = send_as.list(userId="me").execute()["sendAs"]
    assert {s["sendAsEmail"] for s in listed} == {SUPPORT, "help@example.com", "me@personal.example"}
    assert all("password" not in s.get("smtpMsa", {}) and "username" not in s.get("smtpMsa", {}) for s in listed)


def test_sending_as_a_pending_alias_is_rewritten_to_the_default(gmail):
    gmail.settings().sendAs().create(userId="me", body={"sendAsEmail": "me@personal.example"}).execute()
    raw = _mail("Hi", sender="me@personal.example", to=("ann@customer.example",))
    sent = gmail.messages().send(userId="me", body={"raw": b64url_encode(raw)}).execute()
    headers = (
        gmail.messages()
        .get(userId="me", id=sent["id"], format="metadata", metadataHeaders=["From"])
        .execute()["payload"]["headers"]
    )
    assert headers == [{"name": "From", "value": SUPPORT}]


def test_send_as_duplicate_is_409(gmail):
    gmail.settings().sendAs().create(userId="me", body={"sendAsEmail": "help@example.com"}).execute()
    assert _error(gmail.settings().sendAs().create(userId="me", body={"sendAsEmail": "HELP@example.com"}))[0] == 409
    assert _error(gmail.settings().sendAs().create(userId="me", body={"sendAsEmail": SUPPORT}))[0] == 409


def test_send_as_patch_update_and_default_moves(gmail):
    send_as = gmail.settings().sendAs()
    send_as.create(
        userId="me",
        body={"sendAsEmail": "help@example.com", "displayName": "Help", "replyToAddress": "desk@example.com"},
    ).execute()
    patched = send_as.patch(
        userId="me", sendAsEmail="help@example.com", body={"signature": "<b>Help desk</b>", "isDefault": True}
    ).execute()
    assert patched["isDefault"] is True
    assert (patched["displayName"], patched["replyToAddress"]) == ("Help", "desk@example.com")
    primary = send_as.get(userId="me", sendAsEmail=SUPPORT).execute()
    assert primary["isDefault"] is False and primary["isPrimary"] is True
    updated = send_as.update(userId="me", sendAsEmail="help@example.com", body={"displayName": "Helpdesk"}).execute()
    assert (updated["displayName"], updated["replyToAddress"], updated["signature"]) == ("Helpdesk", "", "")
    assert updated["isDefault"] is True
    assert _error(send_as.patch(userId="me", sendAsEmail=SUPPORT, body={"isDefault": False}))[0] == 400
    send_as.patch(userId="me", sendAsEmail=SUPPORT, body={"isDefault": True, "signature": "Thanks"}).execute()
    defaults = [s["sendAsEmail"] for s in send_as.list(userId="me").execute()["sendAs"] if s["isDefault"]]
    assert defaults == [SUPPORT]


def test_send_as_delete_and_primary_cannot_be_deleted(gmail):
    send_as = gmail.settings().sendAs()
    send_as.create(userId="me", body={"sendAsEmail": "help@example.com", "isDefault": True}).execute()
    assert _error(send_as.delete(userId="me", sendAsEmail=SUPPORT))[0] == 400
    send_as.delete(userId="me", sendAsEmail="help@example.com").execute()
    assert _error(send_as.get(userId="me", sendAsEmail="help@example.com"))[:2] == (404, "notFound")
    assert send_as.get(userId="me", sendAsEmail=SUPPORT).execute()["isDefault"] is True  # default falls back


def test_consumer_account_cannot_create_send_as_or_forwarding(gmail, sandbox):
    sandbox.control.set_delegated(SUPPORT, False)
    assert _error(gmail.settings().sendAs().create(userId="me", body={"sendAsEmail": "help@example.com"}))[:2] == (
        403,
        "forbidden",
    )
    assert _error(gmail.settings().forwardingAddresses().create(userId="me", body={"forwardingEmail": "a@b.example"}))[
        :2
    ] == (403, "forbidden")
    # the primary address can still be edited
    assert (
        gmail.settings()
        .sendAs()
        .patch(userId="me", sendAsEmail=SUPPORT, body={"signature": "Thanks"})
        .execute()["signature"]
        == "Thanks"
    )


# ---- forwarding --------------------------------------------------------------------------------
def test_forwarding_addresses_lifecycle(gmail, sandbox):
    forwarding = gmail.settings().forwardingAddresses()
    assert forwarding.list(userId="me").execute() == {}
    created = forwarding.create(userId="me", body={"forwardingEmail": "archive@elsewhere.example"}).execute()
    assert created == {"forwardingEmail": "archive@elsewhere.example", "verificationStatus": "pending"}
    same_domain = forwarding.create(userId="me", body={"forwardingEmail": COLLEAGUE}).execute()
    assert same_domain["verificationStatus"] == "accepted"
    assert _error(forwarding.create(userId="me", body={"forwardingEmail": "archive@elsewhere.example"}))[0] == 409
    assert forwarding.get(userId="me", forwardingEmail="archive@elsewhere.example").execute() == created
    assert len(forwarding.list(userId="me").execute()["forwardingAddresses"]) == 2
    forwarding.delete(userId="me", forwardingEmail="archive@elsewhere.example").execute()
    assert _error(forwarding.get(userId="me", forwardingEmail="archive@elsewhere.example"))[:2] == (404, "notFound")
    assert [e["kind"] for e in sandbox.control.outbox(SUPPORT)] == ["verification"]


def test_auto_forwarding(gmail, sandbox):
    settings = gmail.settings()
    assert settings.getAutoForwarding(userId="me").execute() == {"enabled": False}
    body = {"enabled": True, "emailAddress": "archive@elsewhere.example", "disposition": "archive"}
    assert _error(settings.updateAutoForwarding(userId="me", body=body))[:2] == (400, "failedPrecondition")
    settings.forwardingAddresses().create(userId="me", body={"forwardingEmail": "archive@elsewhere.example"}).execute()
    sandbox.control.verify_forwarding(SUPPORT, "archive@elsewhere.example")
    assert settings.updateAutoForwarding(userId="me", body=body).execute() == body
    assert settings.getAutoForwarding(userId="me").execute() == body
