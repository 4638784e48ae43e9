"""The schema walk: every Gmail method the sandbox routes, called successfully through the real
client, with every JSON answer validated (strictly) against the discovery document."""

from __future__ import annotations

import pytest

from gmaildesk.sandbox.mime import b64url_encode, build_message
from gmaildesk.sandbox.routes import HANDLERS
from gmaildesk.sandbox.schema import ResponseValidator

SUPPORT = "support@example.com"
VISIBLE = {"labelListVisibility": "labelShow", "messageListVisibility": "show"}


def _mail(subject: str, **extra) -> bytes:
    return build_message(
        from_="Ann <ann@customer.example>",
        to=[SUPPORT],
        subject=subject,
        text="Hello there.",
        date_ms=1_700_000_000_000,
        **extra,
    )


def _walk(gmail, sandbox) -> None:
    control = sandbox.control
    first = control.deliver(SUPPORT, _mail("Question", message_id="<q@customer.example>"))
    control.deliver(
        SUPPORT, _mail("Re: Question", in_reply_to="<q@customer.example>", references=["<q@customer.example>"])
    )
    start = gmail.getProfile(userId="me").execute()["historyId"]

    labels = gmail.labels()
    labels.list(userId="me").execute()
    label = labels.create(
        userId="me", body={"name": "Walk", **VISIBLE, "color": {"backgroundColor": "#16a766", "textColor": "#ffffff"}}
    ).execute()
    labels.get(userId="me", id=label["id"]).execute()
    labels.get(userId="me", id="INBOX").execute()
    labels.patch(userId="me", id=label["id"], body={"name": "Walked"}).execute()
    labels.update(userId="me", id=label["id"], body={"id": label["id"], "name": "Walked", **VISIBLE}).execute()

    messages = gmail.messages()
    messages.list(userId="me", q="from:ann", maxResults=1).execute()
    for fmt in ("minimal", "metadata", "full", "raw"):
        messages.get(userId="me", id=first["id"], format=fmt).execute()
    inserted = messages.insert(
        userId="me", body={"raw": b64url_encode(_mail("Inserted")), "labelIds": ["INBOX"]}
    ).execute()
    imported = messages.import_(userId="me", body={"raw": b64url_encode(_mail("Imported"))}).execute()
    sent = messages.send(
        userId="me",
        body={
            "raw": b64url_encode(
                build_message(
                    from_=SUPPORT,
                    to=["ann@customer.example"],
                    subject="Re: Question",
                    text="On it.",
                    date_ms=1_700_000_100_000,
                    in_reply_to="<q@customer.example>",
                    references=["<q@customer.example>"],
                )
            )
        },
    ).execute()
    messages.modify(userId="me", id=first["id"], body={"addLabelIds": [label["id"]]}).execute()
    messages.batchModify(userId="me", body={"ids": [first["id"], sent["id"]], "removeLabelIds": ["UNREAD"]}).execute()
    messages.trash(userId="me", id=inserted["id"]).execute()
    messages.untrash(userId="me", id=inserted["id"]).execute()
    messages.delete(userId="me", id=inserted["id"]).execute()
    messages.batchDelete(userId="me", body={"ids": [imported["id"]]}).execute()
    with_file = control.deliver(SUPPORT, _attachment_mail())
    part = messages.get(userId="me", id=with_file["id"]).execute()["payload"]["parts"][1]
    messages.attachments().get(userId="me", messageId=with_file["id"], id=part["body"]["attachmentId"]).execute()

    threads = gmail.threads()
    threads.list(userId="me", maxResults=1).execute()
    for fmt in ("minimal", "metadata", "full"):
        threads.get(userId="me", id=first["threadId"], format=fmt).execute()
    threads.modify(userId="me", id=first["threadId"], body={"addLabelIds": ["STARRED"]}).execute()
    threads.trash(userId="me", id=first["threadId"]).execute()
    threads.untrash(userId="me", id=first["threadId"]).execute()
    threads.delete(userId="me", id=with_file["threadId"]).execute()

    drafts = gmail.drafts()
    reply = build_message(
        from_=SUPPORT, to=["ann@customer.example"], subject="Re: Question", text="Draft.", date_ms=1_700_000_200_000
    )
    draft = drafts.create(userId="me", body={"message": {"raw": b64url_encode(reply)}}).execute()
    drafts.list(userId="me").execute()
    for fmt in ("minimal", "metadata", "full", "raw"):
        drafts.get(userId="me", id=draft["id"], format=fmt).execute()
    drafts.update(userId="me", id=draft["id"], body={"message": {"raw": b64url_encode(reply)}}).execute()
    drafts.send(userId="me", body={"id": draft["id"]}).execute()
    doomed = drafts.create(userId="me", body={"message": {"raw": b64url_encode(reply)}}).execute()
    drafts.delete(userId="me", id=doomed["id"]).execute()

    gmail.history().list(userId="me", startHistoryId=start, historyTypes=["messageAdded", "labelAdded"]).execute()
    gmail.history().list(userId="me", startHistoryId=start).execute()
    labels.delete(userId="me", id=label["id"]).execute()

    settings = gmail.settings()
    forwarding = settings.forwardingAddresses()
    forwarding.create(userId="me", body={"forwardingEmail": "archive@elsewhere.example"}).execute()
    control.verify_forwarding(SUPPORT, "archive@elsewhere.example")
    forwarding.list(userId="me").execute()
    forwarding.get(userId="me", forwardingEmail="archive@elsewhere.example").execute()

    filters = settings.filters()
    flt = filters.create(
        userId="me",
        body={
            "criteria": {"from": "ann@customer.example", "size": 10, "sizeComparison": "larger"},
            "action": {"addLabelIds": ["STARRED"], "forward": "archive@elsewhere.example"},
        },
    ).execute()
    filters.list(userId="me").execute()
    filters.get(userId="me", id=flt["id"]).execute()
    filters.delete(userId="me", id=flt["id"]).execute()

    settings.getVacation(userId="me").execute()
    settings.updateVacation(
        userId="me",
        body={
            "enableAutoReply": True,
            "responseSubject": "Away",
            "responseBodyHtml": "<p>Back soon</p>",
            "restrictToContacts": True,
            "startTime": 1,
            "endTime": "99999999999999",
        },
    ).execute()
    settings.getVacation(userId="me").execute()
    settings.getAutoForwarding(userId="me").execute()
    settings.updateAutoForwarding(
        userId="me", body={"enabled": True, "emailAddress": "archive@elsewhere.example", "disposition": "markRead"}
    ).execute()
    settings.getAutoForwarding(userId="me").execute()
    forwarding.delete(userId="me", forwardingEmail="archive@elsewhere.example").execute()

    send_as = settings.sendAs()
    sandbox.control.register_smtp_hosts(SUPPORT, ["smtp.personal.example"])  # Gmail connects before creating
    send_as.list(userId="me").execute()
    send_as.create(
        userId="me",
        body={
            "sendAsEmail": "me@personal.example",
            "displayName": "Me",
            "treatAsAlias": False,
            "smtpMsa": {
                "host": "smtp.personal.example",
                "port": 465,
                "username": "u",
                "password": "p",
                "securityMode": "ssl",
            },
        },
    ).execute()
    send_as.verify(userId="me", sendAsEmail="me@personal.example").execute()
    send_as.get(userId="me", sendAsEmail="me@personal.example").execute()
    send_as.patch(userId="me", sendAsEmail="me@personal.example", body={"signature": "<i>Me</i>"}).execute()
    send_as.update(userId="me", sendAsEmail=SUPPORT, body={"displayName": "Support", "signature": "Thanks"}).execute()
    send_as.list(userId="me").execute()
    send_as.delete(userId="me", sendAsEmail="me@personal.example").execute()
    gmail.getProfile(userId="me").execute()


def _attachment_mail() -> bytes:
    from email.message import EmailMessage

    msg = EmailMessage()
    msg["From"] = "ann@customer.example"
    msg["To"] = SUPPORT
    msg["Subject"] = "Photo"
    msg.set_content("A photo.")
    msg.add_attachment(b"\x89PNG\r\n", maintype="image", subtype="png", filename="p.png")
    return msg.as_bytes()


def test_every_routed_method_answers_inside_the_discovery_schema(gmail, sandbox):
    _walk(gmail, sandbox)
    counters = sandbox.control.counters()
    assert counters["errors"] == {}
    assert counters["schema_violations"] == []
    assert set(counters["validated"]) == set(HANDLERS), set(HANDLERS) ^ set(counters["validated"])


def test_every_routed_method_exists_in_the_discovery_document():
    validator = ResponseValidator()
    assert set(HANDLERS) <= set(validator.methods)


# ---- the validator itself ----------------------------------------------------------------------
@pytest.fixture(scope="module")
def validator() -> ResponseValidator:
    return ResponseValidator()


def test_validator_accepts_well_formed_bodies(validator):
    assert (
        validator.errors(
            "gmail.users.labels.get",
            {
                "id": "Label_1",
                "name": "x",
                "type": "user",
                "messagesTotal": 3,
                "color": {"backgroundColor": "#000000", "textColor": "#ffffff"},
            },
        )
        == []
    )
    assert (
        validator.errors(
            "gmail.users.history.list",
            {"history": [{"id": "5", "messagesAdded": [{"message": {"id": "a", "threadId": "a"}}]}], "historyId": "5"},
        )
        == []
    )
    assert validator.errors("gmail.users.messages.delete", None) == []


@pytest.mark.parametrize(
    "method, body, fragment",
    [
        ("gmail.users.labels.get", {"id": "Label_1", "messagesTotal": "5"}, "'5' is not of type 'integer'"),
        ("gmail.users.labels.get", {"id": "Label_1", "type": "custom"}, "'custom' is not one of"),
        ("gmail.users.labels.get", {"id": "Label_1", "bogusField": 1}, "bogusField"),
        ("gmail.users.settings.getVacation", {"enableAutoReply": "yes"}, "'yes' is not of type 'boolean'"),
        ("gmail.users.settings.getVacation", {"startTime": 1767225600000}, "is not of type 'string'"),
        (
            "gmail.users.settings.sendAs.get",
            {"sendAsEmail": "a@b", "verificationStatus": "verified"},
            "'verified' is not one of",
        ),
        ("gmail.users.threads.get", {"id": "t", "labelIds": ["INBOX"]}, "labelIds"),  # threads have no labels
        (
            "gmail.users.history.list",
            {"history": [{"id": "1", "messagesAdded": [{"message": {"id": "a", "x": 1}}]}]},
            "history/0/messagesAdded/0/message",
        ),
        (
            "gmail.users.messages.get",
            {"id": "a", "payload": {"headers": [{"name": "A", "value": 1}]}},
            "payload/headers/0/value",
        ),
    ],
)
def test_validator_catches_bad_bodies(validator, method, body, fragment):
    problems = validator.errors(method, body)
    assert problems
    assert any(fragment in p for p in problems), problems


def test_validator_refuses_a_body_for_a_method_without_one(validator):
    assert validator.errors("gmail.users.messages.batchModify", {"ok": True}) == [
        "gmail.users.messages.batchModify has no response body in Gmail"
    ]


def test_a_schema_violation_becomes_a_500_and_is_recorded(gmail, sandbox, monkeypatch):
    from googleapiclient.errors import HttpError

    real_get = sandbox.sandbox.mailboxes[SUPPORT].label_with_counts
    monkeypatch.setattr(
        sandbox.sandbox.mailboxes[SUPPORT],
        "label_with_counts",
        lambda label_id: {**real_get(label_id), "messagesTotal": "many"},
    )
    with pytest.raises(HttpError) as caught:
        gmail.labels().get(userId="me", id="INBOX").execute()
    assert caught.value.status_code == 500
    assert caught.value.error_details[0]["reason"] == "sandboxSchemaViolation"
    violations = sandbox.control.counters()["schema_violations"]
    assert violations[0]["method"] == "gmail.users.labels.get"
    sandbox.sandbox.counters.violations.clear()  # the fixture's own no-violation check stays meaningful
