"""Delivery as Gmail does it: mail that get cannot see for a few seconds (eventual consistency),
Gmail's Authentication-Results on inbound mail, and the vacation reply (subject, threading,
signature) - through the real client against the sandbox."""

from __future__ import annotations

import json

from googleapiclient.http import BatchHttpRequest

from api_errors import api_error
from cli_run import invoke
from gmaildesk.sandbox.mime import b64url_decode, b64url_encode, build_message, parse

SUPPORT = "support@example.com"
T0 = 1_700_000_000_000


def _mail(subject: str = "Where is my order?", *, sender: str = "Ann <ann@customer.example>", **extra) -> bytes:
    return build_message(
        from_=sender, to=[SUPPORT], subject=subject, text="Order 77 has not arrived.", date_ms=T0, **extra
    )


# ---- eventual consistency: fresh_not_found_s ------------------------------------------------------
def test_fresh_mail_is_listed_and_in_history_but_get_answers_404_until_it_settles(gmail, sandbox):
    start = gmail.getProfile(userId="me").execute()["historyId"]
    sandbox.control.set_faults(fresh_not_found_s=3)
    delivered = sandbox.control.deliver(SUPPORT, _mail())
    listed = gmail.messages().list(userId="me").execute()["messages"]
    assert [m["id"] for m in listed] == [delivered["id"]]
    added = gmail.history().list(userId="me", startHistoryId=start).execute()["history"]
    assert added[0]["messagesAdded"][0]["message"]["id"] == delivered["id"]
    assert gmail.threads().list(userId="me").execute()["threads"][0]["id"] == delivered["threadId"]

    for call in (
        gmail.messages().get(userId="me", id=delivered["id"]),
        gmail.threads().get(userId="me", id=delivered["threadId"]),
    ):
        assert api_error(call) == (404, "notFound", "Requested entity was not found.")

    sandbox.control.advance_clock(3)
    assert gmail.messages().get(userId="me", id=delivered["id"]).execute()["id"] == delivered["id"]
    assert gmail.threads().get(userId="me", id=delivered["threadId"]).execute()["id"] == delivered["threadId"]
    assert sandbox.control.counters()["faults"]["fresh_not_found"] == 2


def test_fresh_mail_is_404_inside_a_batch_too_and_old_mail_is_not(gmail, sandbox):
    old = sandbox.control.deliver(SUPPORT, _mail("Old question"))
    sandbox.control.advance_clock(60)
    sandbox.control.set_faults(fresh_not_found_s=5)
    inserted = gmail.messages().insert(userId="me", body={"raw": b64url_encode(_mail("Inserted"))}).execute()
    answers: dict[str, tuple] = {}
    batch = BatchHttpRequest(
        callback=lambda rid, resp, exc: answers.__setitem__(rid, (resp, exc)), batch_uri=sandbox.url + "batch/gmail/v1"
    )
    batch.add(gmail.messages().get(userId="me", id=old["id"], format="minimal"), request_id="old")
    batch.add(gmail.messages().get(userId="me", id=inserted["id"], format="minimal"), request_id="new")
    batch.add(gmail.threads().get(userId="me", id=inserted["threadId"], format="minimal"), request_id="thread")
    batch.execute()
    assert answers["old"][0]["id"] == old["id"]
    assert answers["new"][1].status_code == 404
    assert answers["thread"][1].status_code == 404


def test_an_old_thread_with_a_fresh_reply_stays_readable(gmail, sandbox):
    first = sandbox.control.deliver(SUPPORT, _mail(message_id="<q1@customer.example>"))
    sandbox.control.advance_clock(10)
    sandbox.control.set_faults(fresh_not_found_s=5)
    reply = sandbox.control.deliver(
        SUPPORT,
        _mail("Re: Where is my order?", in_reply_to="<q1@customer.example>", references=["<q1@customer.example>"]),
    )
    assert reply["threadId"] == first["threadId"]
    assert len(gmail.threads().get(userId="me", id=first["threadId"]).execute()["messages"]) == 2
    assert api_error(gmail.messages().get(userId="me", id=reply["id"]))[0] == 404


def test_faults_command_sets_fresh_not_found(sandbox):
    shown = invoke(["sandbox", "faults", "--endpoint", sandbox.url, "--fresh-not-found-s", "3"])
    assert json.loads(shown.stdout)["fresh_not_found_s"] == 3
    assert sandbox.control.status()["faults"]["fresh_not_found_s"] == 3


# ---- Authentication-Results on inbound mail ----------------------------------------------------------
def _raw_of(gmail, message_id: str) -> bytes:
    return b64url_decode(gmail.messages().get(userId="me", id=message_id, format="raw").execute()["raw"])


def _header_values(gmail, message_id: str, name: str) -> list[str]:
    headers = (
        gmail.messages()
        .get(userId="me", id=message_id, format="metadata", metadataHeaders=[name])
        .execute()["payload"]["headers"]
    )
    return [h["value"] for h in headers if h["name"].lower() == name.lower()]


def test_inbound_mail_carries_gmails_authentication_results_on_top(gmail, sandbox):
    forged = b"Authentication-Results: evil.example; dkim=pass; spf=pass; dmarc=pass\r\n" + _mail()
    delivered = sandbox.control.deliver(SUPPORT, forged)
    raw = _raw_of(gmail, delivered["id"])
    assert raw.startswith(b"Delivered-To: support@example.com\r\nAuthentication-Results: mx.google.com;\r\n")
    values = _header_values(gmail, delivered["id"], "Authentication-Results")
    assert [" ".join(v.split()) for v in values] == [
        "mx.google.com; dkim=pass header.i=@customer.example; spf=pass smtp.mailfrom=customer.example; "
        "dmarc=pass (p=NONE) header.from=customer.example",
        "evil.example; dkim=pass; spf=pass; dmarc=pass",  # the sender's own claim stays below Gmail's
    ]


def test_a_forged_from_can_be_delivered_failing_authentication(gmail, sandbox, tmp_path):
    spoof = _mail("Refund approved", sender="Boss <support@example.com>")
    delivered = sandbox.control.deliver(SUPPORT, spoof, authentication="fail")
    assert [" ".join(v.split()) for v in _header_values(gmail, delivered["id"], "Authentication-Results")] == [
        "mx.google.com; dkim=none; spf=fail smtp.mailfrom=example.com; dmarc=fail (p=NONE) header.from=example.com"
    ]
    eml = tmp_path / "spoof.eml"
    eml.write_bytes(_mail("Second spoof", sender="support@example.com"))
    shown = invoke(["sandbox", "deliver", "--endpoint", sandbox.url, "--authentication", "fail", str(eml)])
    message_id = shown.stdout.split()[2]
    assert "spf=fail" in _header_values(gmail, message_id, "Authentication-Results")[0]
    bad = invoke(["sandbox", "deliver", "--endpoint", sandbox.url, "--authentication", "maybe", str(eml)], expect=2)
    assert "maybe" in bad.stderr


def test_json_delivery_takes_authentication_and_refuses_other_values(sandbox):
    import urllib.request

    def post(body: dict) -> tuple[int, dict]:
        request = urllib.request.Request(
            sandbox.url + f"sandbox/users/{SUPPORT}/deliver",
            data=json.dumps(body).encode(),
            method="POST",
            headers={"Content-Type": "application/json"},
        )
        try:
            with urllib.request.urlopen(request, timeout=10) as response:
                return response.status, json.loads(response.read())
        except urllib.error.HTTPError as error:
            return error.code, json.loads(error.read())

    raw = b64url_encode(_mail())
    assert post({"raw": raw, "authentication": "fail"})[0] == 200
    status, answer = post({"raw": raw, "authentication": "sometimes"})
    assert (status, answer["error"]["message"]) == (400, "authentication must be one of pass, fail, not 'sometimes'")
    assert post({"raw": raw, "spam": "yes"})[1]["error"]["message"] == "spam must be true or false, not 'yes'"


def test_mail_we_send_gets_no_authentication_results(gmail, sandbox):
    sent = (
        gmail.messages()
        .send(userId="me", body={"raw": b64url_encode(b"To: ann@customer.example\r\nSubject: Hello\r\n\r\nHi Ann")})
        .execute()
    )
    assert b"Authentication-Results" not in _raw_of(gmail, sent["id"])
    # the same mail delivered to another sandbox user is inbound there, and gets Gmail's verdict
    gmail.messages().send(
        userId="me", body={"raw": b64url_encode(b"To: colleague@example.com\r\nSubject: Hello\r\n\r\nHi")}
    ).execute()
    colleague = gmail.messages().list(userId="colleague@example.com").execute()["messages"][0]
    raw = b64url_decode(
        gmail.messages().get(userId="colleague@example.com", id=colleague["id"], format="raw").execute()["raw"]
    )
    assert b"spf=pass smtp.mailfrom=example.com" in raw


# ---- the vacation reply ----------------------------------------------------------------------------
def _responder(gmail, **settings) -> None:
    gmail.settings().updateVacation(userId="me", body={"enableAutoReply": True, **settings}).execute()


def _reply_of(gmail, delivered: dict) -> tuple[dict, bytes]:
    reply = gmail.messages().get(userId="me", id=delivered["autoReply"]["id"], format="raw").execute()
    return reply, b64url_decode(reply["raw"])


def test_a_responder_with_a_subject_answers_in_a_separate_conversation(gmail, sandbox):
    _responder(gmail, responseSubject="We got your message", responseBodyPlainText="We answer within a day.")
    delivered = sandbox.control.deliver(SUPPORT, _mail(message_id="<q1@customer.example>"))
    reply, raw = _reply_of(gmail, delivered)
    parsed = parse(raw)
    assert parsed.subject == "We got your message Where is my order?"
    assert parsed.in_reply_to == () and parsed.references == ()
    assert parsed.header("Auto-Submitted") == "auto-replied"
    assert reply["labelIds"] == ["SENT"]
    assert reply["threadId"] != delivered["threadId"]
    assert len(gmail.threads().get(userId="me", id=delivered["threadId"]).execute()["messages"]) == 1
    # the customer answers the acknowledgement: Gmail puts that in the acknowledgement's conversation,
    # not in the original question's
    answer = sandbox.control.deliver(
        SUPPORT, _mail(f"Re: {parsed.subject}", in_reply_to=parsed.message_id, references=[parsed.message_id])
    )
    assert answer["threadId"] == reply["threadId"] != delivered["threadId"]
    assert sandbox.control.outbox(SUPPORT)[0]["subject"] == "We got your message Where is my order?"


def test_a_responder_without_a_subject_replies_in_the_conversation(gmail, sandbox):
    _responder(gmail, responseBodyPlainText="We answer within a day.")
    delivered = sandbox.control.deliver(
        SUPPORT, _mail(message_id="<q2@customer.example>", references=["<earlier@customer.example>"])
    )
    reply, raw = _reply_of(gmail, delivered)
    parsed = parse(raw)
    assert parsed.subject == "Re: Where is my order?"
    assert parsed.in_reply_to == ("<q2@customer.example>",)
    assert parsed.references == ("<earlier@customer.example>", "<q2@customer.example>")
    assert reply["threadId"] == delivered["threadId"]
    assert reply["labelIds"] == ["SENT"]
    assert b"Authentication-Results" not in raw


def test_the_primary_signature_shows_below_the_reply(gmail, sandbox):
    gmail.settings().sendAs().patch(
        userId="me",
        sendAsEmail=SUPPORT,
        body={"displayName": "Acme Support", "signature": "<b>Acme</b> Support<br>+1 555 0100"},
    ).execute()
    _responder(gmail, responseBodyHtml="<p>Thanks, we will answer soon.</p>")
    parsed = parse(_reply_of(gmail, sandbox.control.deliver(SUPPORT, _mail()))[1])
    assert parsed.from_.name == "Acme Support"
    assert parsed.text.index("Thanks, we will answer soon.") < parsed.text.index("-- \nAcme Support\n+1 555 0100")
    html = [p for p in parsed.payload("full")["parts"] if p["mimeType"] == "text/html"][0]
    markup = b64url_decode(html["body"]["data"]).decode()
    assert markup.index("we will answer soon") < markup.index('<div class="gmail_signature"><b>Acme</b> Support')


def test_a_crlf_in_an_encoded_subject_neither_crashes_delivery_nor_enters_the_reply(gmail, sandbox):
    _responder(gmail, responseBodyPlainText="Thanks.")
    hostile = (
        b"From: ann@customer.example\r\nTo: support@example.com\r\n"
        b"Subject: =?utf-8?q?Invoice=0D=0ABcc:_victim@example.org?=\r\n\r\nHi\r\n"
    )
    delivered = sandbox.control.deliver(SUPPORT, hostile)
    raw = _reply_of(gmail, delivered)[1]
    assert b"\r\nBcc:" not in raw
    assert parse(raw).subject == "Re: Invoice Bcc: victim@example.org"
    assert sandbox.control.outbox(SUPPORT)[0]["to"] == ["ann@customer.example"]


def test_the_four_day_window_still_holds_for_separate_replies(gmail, sandbox):
    _responder(gmail, responseSubject="Received", responseBodyPlainText="Thanks.")
    assert sandbox.control.deliver(SUPPORT, _mail("One"))["autoReply"] is not None
    assert sandbox.control.deliver(SUPPORT, _mail("Two"))["autoReply"] is None
    sandbox.control.advance_clock(4 * 24 * 3600 + 1)
    assert sandbox.control.deliver(SUPPORT, _mail("Three"))["autoReply"] is not None
