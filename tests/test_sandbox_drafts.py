"""users.drafts through the real client, and messages.send's threading cases a reply meets."""

from __future__ import annotations

import re

import pytest
from googleapiclient.http import MediaInMemoryUpload

from api_errors import api_error
from gmail_client import gmail_users
from gmaildesk.sandbox import running_sandbox
from gmaildesk.sandbox.mime import b64url_decode, b64url_encode, build_message, parse

SUPPORT = "support@example.com"
T0 = 1_700_000_000_000
QUESTION_ID = "<q1@customer.example>"


def _question(subject: str = "Where is my order?", message_id: str = QUESTION_ID) -> bytes:
    return build_message(
        from_="Ann <ann@customer.example>",
        to=[SUPPORT],
        subject=subject,
        text="Order 77 has not arrived.",
        date_ms=T0,
        message_id=message_id,
    )


def _reply(
    subject: str = "Re: Where is my order?",
    *,
    answering: str | None = QUESTION_ID,
    to: str = "ann@customer.example",
    extra: list[tuple[str, str]] | None = None,
) -> bytes:
    return build_message(
        from_=SUPPORT,
        to=[to] if to else [],
        subject=subject,
        text="It left the warehouse today.",
        date_ms=T0 + 60_000,
        in_reply_to=answering,
        references=[answering] if answering else [],
        extra_headers=extra or [],
    )


def _create(gmail, raw: bytes, thread_id: str | None = None, **message) -> dict:
    body = {"raw": b64url_encode(raw), **message}
    if thread_id:
        body["threadId"] = thread_id
    return gmail.drafts().create(userId="me", body={"message": body}).execute()


def _headers(message: dict) -> dict[str, str]:
    return {h["name"]: h["value"] for h in message["payload"]["headers"]}


def _thread_ids(gmail, thread_id: str) -> list[str]:
    return [m["id"] for m in gmail.threads().get(userId="me", id=thread_id, format="minimal").execute()["messages"]]


def _history(gmail, start: str) -> list[tuple[str, str]]:
    """(kind, message id) of every change since `start`, in order."""
    answer = gmail.history().list(userId="me", startHistoryId=start).execute()
    changes: list[tuple[str, str]] = []
    for record in answer.get("history", []):
        for kind in ("messagesAdded", "messagesDeleted", "labelsAdded", "labelsRemoved"):
            changes.extend((kind, entry["message"]["id"]) for entry in record.get(kind, []))
    return changes


@pytest.fixture
def question(sandbox) -> dict:
    return sandbox.control.deliver(SUPPORT, _question())


# ---- create and get ----------------------------------------------------------------------------
def test_create_answers_a_draft_with_the_draft_label_only(gmail, question):
    draft = _create(gmail, _reply(), question["threadId"], labelIds=["INBOX", "STARRED"])
    assert set(draft) == {"id", "message"}
    assert re.fullmatch(r"r-\d+", draft["id"])
    assert set(draft["message"]) == {"id", "threadId", "labelIds"}
    assert draft["message"]["labelIds"] == ["DRAFT"]
    assert draft["message"]["id"] != question["id"]
    stored = gmail.messages().get(userId="me", id=draft["message"]["id"], format="minimal").execute()
    assert stored["labelIds"] == ["DRAFT"]


def test_get_in_every_format(gmail, question):
    draft = _create(gmail, _reply(extra=[("X-Gmaildesk-Agent", "Alice")]), question["threadId"])
    full = gmail.drafts().get(userId="me", id=draft["id"]).execute()
    assert full["id"] == draft["id"] and full["message"]["id"] == draft["message"]["id"]
    assert _headers(full["message"])["X-Gmaildesk-Agent"] == "Alice"  # custom headers are kept
    raw = gmail.drafts().get(userId="me", id=draft["id"], format="raw").execute()
    assert parse(b64url_decode(raw["message"]["raw"])).header("In-Reply-To") == QUESTION_ID
    minimal = gmail.drafts().get(userId="me", id=draft["id"], format="minimal").execute()
    assert "payload" not in minimal["message"] and "raw" not in minimal["message"]


@pytest.mark.parametrize(
    "body, message",
    [
        ({}, "Missing draft message"),
        ({"message": {}}, "Missing draft message"),
        ({"message": {"threadId": "18c0000000000001"}}, "Missing draft message"),
        ({"message": {"raw": "a"}}, "Invalid value for ByteString: raw"),
        ({"message": "raw"}, "Invalid value at 'draft.message'"),
    ],
)
def test_create_without_a_usable_message_is_400(gmail, body, message):
    assert api_error(gmail.drafts().create(userId="me", body=body)) == (400, "invalidArgument", message)
    assert gmail.drafts().list(userId="me").execute().get("drafts") is None


def test_unknown_drafts_are_404(gmail, question):
    unknown = "r-1234567890"
    assert api_error(gmail.drafts().get(userId="me", id=unknown))[0] == 404
    assert api_error(gmail.drafts().delete(userId="me", id=unknown))[0] == 404
    update = gmail.drafts().update(userId="me", id=unknown, body={"message": {"raw": b64url_encode(_reply())}})
    assert api_error(update)[0] == 404
    assert api_error(gmail.drafts().send(userId="me", body={"id": unknown}))[0] == 404
    assert api_error(gmail.drafts().send(userId="me", body={}))[:2] == (400, "invalidArgument")


# ---- threading ---------------------------------------------------------------------------------
def test_a_reply_draft_joins_the_conversation(gmail, question):
    draft = _create(gmail, _reply(), question["threadId"])
    assert draft["message"]["threadId"] == question["threadId"]
    assert _thread_ids(gmail, question["threadId"]) == [question["id"], draft["message"]["id"]]


@pytest.mark.parametrize(
    "subject, answering",
    [
        ("Re: Something else", QUESTION_ID),  # "The Subject headers must match"
        ("Re: Where is my order?", None),  # no References / In-Reply-To
    ],
)
def test_a_draft_that_breaks_a_threading_rule_starts_its_own_conversation(gmail, question, subject, answering):
    draft = _create(gmail, _reply(subject, answering=answering), question["threadId"])
    assert draft["message"]["threadId"] == draft["message"]["id"]
    assert _thread_ids(gmail, question["threadId"]) == [question["id"]]


def test_a_draft_given_another_conversations_thread_id_does_not_join_either(gmail, sandbox, question):
    other = sandbox.control.deliver(SUPPORT, _question("Refund please", "<q2@customer.example>"))
    draft = _create(gmail, _reply(), other["threadId"])  # headers answer the first conversation
    assert draft["message"]["threadId"] not in (question["threadId"], other["threadId"])


# ---- labels, list, history ---------------------------------------------------------------------
def test_labels_cannot_be_put_on_a_draft_message(gmail, question):
    draft = _create(gmail, _reply(), question["threadId"])
    modify = gmail.messages().modify(userId="me", id=draft["message"]["id"], body={"addLabelIds": ["STARRED"]})
    assert api_error(modify)[0] == 400
    batch = gmail.messages().batchModify(
        userId="me", body={"ids": [draft["message"]["id"]], "addLabelIds": ["STARRED"]}
    )
    assert api_error(batch)[0] == 400
    # threads.modify labels the conversation's mail and leaves its draft alone
    gmail.threads().modify(userId="me", id=question["threadId"], body={"addLabelIds": ["STARRED"]}).execute()
    thread = gmail.threads().get(userId="me", id=question["threadId"], format="minimal").execute()
    assert [m["labelIds"] for m in thread["messages"]] == [["INBOX", "STARRED", "UNREAD"], ["DRAFT"]]


def test_list_names_id_and_thread_only_newest_first_with_paging_and_q(gmail, sandbox, question):
    first = _create(gmail, _reply(), question["threadId"])
    sandbox.control.advance_clock(60)
    second = _create(gmail, _reply("Hello Bob", answering=None, to="bob@customer.example"))
    listing = gmail.drafts().list(userId="me").execute()
    assert listing["drafts"] == [
        {"id": second["id"], "message": {"id": second["message"]["id"], "threadId": second["message"]["threadId"]}},
        {"id": first["id"], "message": {"id": first["message"]["id"], "threadId": first["message"]["threadId"]}},
    ]
    assert listing["resultSizeEstimate"] == 2
    page = gmail.drafts().list(userId="me", maxResults=1).execute()
    assert [d["id"] for d in page["drafts"]] == [second["id"]]
    rest = gmail.drafts().list(userId="me", maxResults=1, pageToken=page["nextPageToken"]).execute()
    assert [d["id"] for d in rest["drafts"]] == [first["id"]] and "nextPageToken" not in rest
    assert [d["id"] for d in gmail.drafts().list(userId="me", q="to:bob").execute()["drafts"]] == [second["id"]]
    # drafts are messages too: messages.list shows them under DRAFT
    drafts_label = gmail.messages().list(userId="me", labelIds=["DRAFT"]).execute()["messages"]
    assert {m["id"] for m in drafts_label} == {first["message"]["id"], second["message"]["id"]}


def test_update_keeps_the_draft_id_and_replaces_its_message(gmail, question):
    draft = _create(gmail, _reply(), question["threadId"])
    start = gmail.getProfile(userId="me").execute()["historyId"]
    changed = _reply(extra=[("X-Revision", "2")])
    updated = (
        gmail.drafts()
        .update(
            userId="me",
            id=draft["id"],
            body={"id": draft["id"], "message": {"raw": b64url_encode(changed), "threadId": question["threadId"]}},
        )
        .execute()
    )
    assert updated["id"] == draft["id"]
    assert updated["message"]["id"] != draft["message"]["id"]  # "the underlying message IDs change"
    assert updated["message"]["threadId"] == question["threadId"]
    assert api_error(gmail.messages().get(userId="me", id=draft["message"]["id"]))[0] == 404
    assert _history(gmail, start) == [
        ("messagesDeleted", draft["message"]["id"]),
        ("messagesAdded", updated["message"]["id"]),
    ]
    got = gmail.drafts().get(userId="me", id=draft["id"], format="metadata").execute()
    assert _headers(got["message"])["X-Revision"] == "2"
    assert api_error(gmail.drafts().update(userId="me", id=draft["id"], body={}))[:3] == (
        400,
        "invalidArgument",
        "Missing draft message",
    )


def test_delete_removes_draft_and_message_for_good(gmail, question):
    draft = _create(gmail, _reply(), question["threadId"])
    start = gmail.getProfile(userId="me").execute()["historyId"]
    gmail.drafts().delete(userId="me", id=draft["id"]).execute()
    assert api_error(gmail.drafts().get(userId="me", id=draft["id"]))[0] == 404
    assert api_error(gmail.messages().get(userId="me", id=draft["message"]["id"]))[0] == 404
    assert _history(gmail, start) == [("messagesDeleted", draft["message"]["id"])]
    assert _thread_ids(gmail, question["threadId"]) == [question["id"]]


def test_deleting_a_drafts_message_deletes_the_draft(gmail, question):
    draft = _create(gmail, _reply(), question["threadId"])
    gmail.messages().delete(userId="me", id=draft["message"]["id"]).execute()
    assert api_error(gmail.drafts().get(userId="me", id=draft["id"]))[0] == 404
    assert gmail.drafts().list(userId="me").execute().get("drafts") is None


# ---- send --------------------------------------------------------------------------------------
def test_send_files_a_new_sent_message_in_the_conversation(gmail, sandbox, question):
    draft = _create(gmail, _reply(extra=[("X-Gmaildesk-Agent", "Alice")]), question["threadId"])
    start = gmail.getProfile(userId="me").execute()["historyId"]
    sent = gmail.drafts().send(userId="me", body={"id": draft["id"]}).execute()
    assert sent["labelIds"] == ["SENT"]
    assert sent["id"] != draft["message"]["id"]  # "a new message with an updated ID"
    assert sent["threadId"] == question["threadId"]
    assert _thread_ids(gmail, question["threadId"]) == [question["id"], sent["id"]]
    assert api_error(gmail.drafts().get(userId="me", id=draft["id"]))[0] == 404
    assert gmail.drafts().list(userId="me").execute().get("drafts") is None
    assert _history(gmail, start) == [("messagesDeleted", draft["message"]["id"]), ("messagesAdded", sent["id"])]
    [entry] = sandbox.control.outbox(SUPPORT, include_raw=True)
    assert (entry["kind"], entry["to"], entry["subject"]) == (
        "sent",
        ["ann@customer.example"],
        "Re: Where is my order?",
    )
    head = parse(b64url_decode(entry["raw"]))
    assert head.header("In-Reply-To") == QUESTION_ID and head.header("X-Gmaildesk-Agent") == "Alice"
    assert head.message_id  # Gmail gives the sent mail a Message-ID


def test_send_with_a_message_replaces_the_content_first(gmail, sandbox, question):
    draft = _create(gmail, _reply(), question["threadId"])
    final = _reply(extra=[("X-Revision", "final")])
    body = {"id": draft["id"], "message": {"raw": b64url_encode(final), "threadId": question["threadId"]}}
    sent = gmail.drafts().send(userId="me", body=body).execute()
    assert sent["threadId"] == question["threadId"]
    [entry] = sandbox.control.outbox(SUPPORT, include_raw=True)
    assert parse(b64url_decode(entry["raw"])).header("X-Revision") == "final"


def test_a_draft_without_recipients_is_not_sent_and_stays(gmail, sandbox, question):
    draft = _create(gmail, _reply(to=""), question["threadId"])
    assert api_error(gmail.drafts().send(userId="me", body={"id": draft["id"]}))[0] == 400
    kept = gmail.drafts().get(userId="me", id=draft["id"], format="minimal").execute()
    assert kept["message"]["id"] == draft["message"]["id"] and kept["message"]["labelIds"] == ["DRAFT"]
    assert sandbox.control.outbox(SUPPORT) == []


# ---- uploads, quota, persistence -------------------------------------------------------------
def test_create_update_and_send_by_media_upload(uploads, gmail, sandbox, question):
    def media(raw: bytes) -> MediaInMemoryUpload:
        return MediaInMemoryUpload(raw, mimetype="message/rfc822", resumable=False)

    draft = (
        uploads.drafts()
        .create(userId="me", body={"message": {"threadId": question["threadId"]}}, media_body=media(_reply()))
        .execute()
    )
    assert draft["message"]["threadId"] == question["threadId"]
    updated = (
        uploads.drafts()
        .update(
            userId="me",
            id=draft["id"],
            body={"message": {"threadId": question["threadId"]}},
            media_body=media(_reply(extra=[("X-Revision", "2")])),
        )
        .execute()
    )
    assert updated["id"] == draft["id"] and updated["message"]["threadId"] == question["threadId"]
    sent = uploads.drafts().send(userId="me", body={"id": draft["id"]}, media_body=media(_reply())).execute()
    assert sent["labelIds"] == ["SENT"] and sent["threadId"] == question["threadId"]


def test_quota_units_of_drafts_calls(gmail, sandbox, question):
    sandbox.control.reset_counters()
    draft = _create(gmail, _reply(), question["threadId"])
    gmail.drafts().get(userId="me", id=draft["id"]).execute()
    gmail.drafts().list(userId="me").execute()
    gmail.drafts().update(userId="me", id=draft["id"], body={"message": {"raw": b64url_encode(_reply())}}).execute()
    gmail.drafts().send(userId="me", body={"id": draft["id"]}).execute()
    doomed = _create(gmail, _reply())
    gmail.drafts().delete(userId="me", id=doomed["id"]).execute()
    units = sandbox.control.counters()["units"]
    # Gmail's quota page: create 10, delete 10, get 20 (5 before May 2026), list 5, send 100, update 15.
    assert {m.removeprefix("gmail.users.drafts."): n for m, n in units.items()} == {
        "create": 20,
        "get": 20,
        "list": 5,
        "update": 15,
        "send": 100,
        "delete": 10,
    }


def test_drafts_survive_a_restart(tmp_path):
    db = str(tmp_path / "s.sqlite")

    with running_sandbox((SUPPORT,), db=db) as first:
        question = first.control.deliver(SUPPORT, _question())
        draft = _create(gmail_users(first.url), _reply(), question["threadId"])
    with running_sandbox((SUPPORT,), db=db) as second:
        again = gmail_users(second.url).drafts().get(userId="me", id=draft["id"], format="minimal").execute()
        assert again["message"] == draft["message"] | {
            "historyId": again["message"]["historyId"],
            "internalDate": again["message"]["internalDate"],
            "sizeEstimate": again["message"]["sizeEstimate"],
            "snippet": again["message"]["snippet"],
        }


# ---- messages.send: the threading cases a reply meets ------------------------------------------
def _send(gmail, raw: bytes, thread_id: str) -> dict:
    return gmail.messages().send(userId="me", body={"raw": b64url_encode(raw), "threadId": thread_id}).execute()


def test_send_with_thread_id_and_headers_joins(gmail, question):
    assert _send(gmail, _reply(), question["threadId"])["threadId"] == question["threadId"]


def test_send_with_another_subject_starts_a_new_conversation(gmail, question):
    sent = _send(gmail, _reply("Your refund"), question["threadId"])
    assert sent["threadId"] == sent["id"]
    assert _thread_ids(gmail, question["threadId"]) == [question["id"]]


def test_send_with_another_conversations_thread_id_starts_a_new_one(gmail, sandbox, question):
    other = sandbox.control.deliver(SUPPORT, _question("Refund please", "<q2@customer.example>"))
    sent = _send(gmail, _reply(), other["threadId"])  # headers and subject answer the first one
    assert sent["threadId"] == sent["id"]
    assert _thread_ids(gmail, other["threadId"]) == [other["id"]]
    assert _thread_ids(gmail, question["threadId"]) == [question["id"]]


def test_send_with_thread_id_but_no_reference_headers_starts_a_new_one(gmail, question):
    # The documented rule needs all three (threadId, References/In-Reply-To, subject); Gmail has been seen
    # to thread on threadId alone (openclaw/gogcli#512), so the sandbox is the stricter of the two.
    sent = _send(gmail, _reply(answering=None), question["threadId"])
    assert sent["threadId"] == sent["id"]
