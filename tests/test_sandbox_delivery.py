"""Delivery as Gmail does it: mail that get cannot see for a few seconds (eventual consistency),
Gmail's Authentication-Results on inbound mail, and the vacation reply (subject, threading,
signature) - through the real client against the sandbox."""

from __future__ import annotations

import json

from googleapiclient.http import BatchHttpRequest

from api_errors import api_error
from cli_run import invoke
from gmaildesk.sandbox.mime import b64url_encode, build_message

SUPPORT = "support@example.com"
T0 = 1_700_000_000_000


def _mail(subject: str = "Where is my order?", *, sender: str = "Ann <ann@customer.example>", **extra) -> bytes:
    return build_message(from_=sender, to=[SUPPORT], subject=subject, text="Order 77 has not arrived.",
                         date_ms=T0, **extra)


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

    for call in (gmail.messages().get(userId="me", id=delivered["id"]),
                 gmail.threads().get(userId="me", id=delivered["threadId"])):
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
    batch = BatchHttpRequest(callback=lambda rid, resp, exc: answers.__setitem__(rid, (resp, exc)),
                             batch_uri=sandbox.url + "batch/gmail/v1")
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
    reply = sandbox.control.deliver(SUPPORT, _mail("Re: Where is my order?", in_reply_to="<q1@customer.example>",
                                                   references=["<q1@customer.example>"]))
    assert reply["threadId"] == first["threadId"]
    assert len(gmail.threads().get(userId="me", id=first["threadId"]).execute()["messages"]) == 2
    assert api_error(gmail.messages().get(userId="me", id=reply["id"]))[0] == 404


def test_faults_command_sets_fresh_not_found(sandbox):
    shown = invoke(["sandbox", "faults", "--endpoint", sandbox.url, "--fresh-not-found-s", "3"])
    assert json.loads(shown.stdout)["fresh_not_found_s"] == 3
    assert sandbox.control.status()["faults"]["fresh_not_found_s"] == 3


