"""A `--db FILE` sandbox keeps everything across a restart."""

from __future__ import annotations

import pytest
from googleapiclient.errors import HttpError

from gmail_client import gmail_users
from gmaildesk.sandbox import running_sandbox
from gmaildesk.sandbox.mime import b64url_decode, b64url_encode, build_message

SUPPORT = "support@example.com"
COLLEAGUE = "colleague@example.com"
USERS = (SUPPORT, COLLEAGUE)
DAY_S = 24 * 3600


def _client(handle):
    return gmail_users(handle.url)


def _mail(subject: str, **extra) -> bytes:
    return build_message(
        from_="Ann <ann@customer.example>",
        to=[SUPPORT],
        subject=subject,
        text="Hello.",
        date_ms=1_700_000_000_000,
        **extra,
    )


def _snapshot(gmail) -> dict:
    settings = gmail.settings()
    messages = gmail.messages().list(userId="me", includeSpamTrash=True).execute()["messages"]
    return {
        "profile": gmail.getProfile(userId="me").execute(),
        "labels": sorted(gmail.labels().list(userId="me").execute()["labels"], key=lambda lab: lab["id"]),
        "messages": [gmail.messages().get(userId="me", id=m["id"], format="raw").execute() for m in messages],
        "threads": gmail.threads().list(userId="me").execute(),
        "filters": settings.filters().list(userId="me").execute(),
        "vacation": settings.getVacation(userId="me").execute(),
        "sendAs": settings.sendAs().list(userId="me").execute(),
        "forwarding": settings.forwardingAddresses().list(userId="me").execute(),
        "colleague": gmail.getProfile(userId=COLLEAGUE).execute(),
    }


def test_a_restarted_sandbox_keeps_its_state(tmp_path):
    db = str(tmp_path / "s.sqlite")
    with running_sandbox(USERS, db=db, validate_responses=True) as first:
        gmail = _client(first)
        start = gmail.getProfile(userId="me").execute()["historyId"]
        label = (
            gmail.labels()
            .create(
                userId="me",
                body={"name": "Kept/Nested", "color": {"backgroundColor": "#16a766", "textColor": "#ffffff"}},
            )
            .execute()
        )
        question = first.control.deliver(SUPPORT, _mail("Question", message_id="<q@customer.example>"))
        gmail.messages().modify(userId="me", id=question["id"], body={"addLabelIds": [label["id"]]}).execute()
        spam = first.control.deliver(SUPPORT, _mail("Pills"), spam=True)
        gmail.messages().trash(userId="me", id=spam["id"]).execute()
        gmail.settings().filters().create(
            userId="me", body={"criteria": {"subject": "invoice"}, "action": {"addLabelIds": [label["id"]]}}
        ).execute()
        first.control.register_smtp_hosts(SUPPORT, ["smtp.p.example"])
        gmail.settings().sendAs().create(
            userId="me",
            body={
                "sendAsEmail": "me@personal.example",
                "smtpMsa": {"host": "smtp.p.example", "port": 587, "password": "pw"},
            },
        ).execute()
        gmail.settings().forwardingAddresses().create(userId="me", body={"forwardingEmail": COLLEAGUE}).execute()
        gmail.settings().updateVacation(
            userId="me", body={"enableAutoReply": True, "responseSubject": "Away", "endTime": "99999999999999"}
        ).execute()
        first.control.deliver(
            SUPPORT, _mail("Re: Question", in_reply_to="<q@customer.example>", references=["<q@customer.example>"])
        )  # auto-replied once
        gmail.messages().send(
            userId="me", body={"raw": b64url_encode(b"To: colleague@example.com\r\nSubject: Hi\r\n\r\nx")}
        ).execute()
        first.control.advance_clock(3 * DAY_S)
        first.control.set_delegated(COLLEAGUE, False)
        clock = first.control.clock()
        before = _snapshot(gmail)
        history_before = gmail.history().list(userId="me", startHistoryId=start).execute()

    with running_sandbox(USERS, db=db, validate_responses=True) as second:
        gmail = _client(second)
        assert _snapshot(gmail) == before
        assert gmail.history().list(userId="me", startHistoryId=start).execute() == history_before
        after_clock = second.control.clock()
        assert after_clock["offsetMs"] == clock["offsetMs"]
        assert after_clock["nowMs"] >= clock["nowMs"]
        assert second.control.status()["users"] == sorted(USERS)

        # the state keeps working: threading, filters, vacation memory, label and history sequences
        reply = second.control.deliver(
            SUPPORT, _mail("Re: Question", in_reply_to="<q@customer.example>", references=["<q@customer.example>"])
        )
        assert reply["threadId"] == question["threadId"]
        assert reply["autoReply"] is None  # still inside the four-day window from before the restart
        invoice = second.control.deliver(SUPPORT, _mail("Invoice 7"))
        assert label["id"] in invoice["labelIds"]
        newer = gmail.labels().create(userId="me", body={"name": "After restart"}).execute()
        assert newer["id"] != label["id"]
        assert int(gmail.getProfile(userId="me").execute()["historyId"]) > int(before["profile"]["historyId"])
        sent = [m for m in before["messages"] if "SENT" in m.get("labelIds", [])]
        assert any(b"Subject: Hi" in b64url_decode(m["raw"]) for m in sent)
        alias = gmail.settings().sendAs().get(userId="me", sendAsEmail="me@personal.example").execute()
        assert alias["smtpMsa"] == {"host": "smtp.p.example", "port": 587, "securityMode": "securityModeUnspecified"}
        with pytest.raises(HttpError) as caught:
            gmail.settings().sendAs().create(userId=COLLEAGUE, body={"sendAsEmail": "x@example.com"}).execute()
        assert caught.value.status_code == 403  # the delegation flag survived too


def test_history_expiry_survives_a_restart(tmp_path):
    db = str(tmp_path / "s.sqlite")
    with running_sandbox(USERS, db=db) as first:
        gmail = _client(first)
        start = gmail.getProfile(userId="me").execute()["historyId"]
        first.control.deliver(SUPPORT, _mail("Old"))
        first.control.advance_clock(8 * DAY_S)
    with running_sandbox(USERS, db=db) as second:
        gmail = _client(second)
        with pytest.raises(HttpError) as caught:
            gmail.history().list(userId="me", startHistoryId=start).execute()
        assert caught.value.status_code == 404
