"""Gmail's threading rules and threads.* through the real client."""

from __future__ import annotations

import pytest

from api_errors import api_error
from gmaildesk.sandbox.mime import b64url_encode, build_message

SUPPORT = "support@example.com"
T0 = 1_700_000_000_000
FIRST_ID = "<first@customer.example>"


def _mail(
    subject: str,
    *,
    message_id: str | None = None,
    in_reply_to: str | None = None,
    references: tuple[str, ...] = (),
    sender: str = "Ann <ann@customer.example>",
    minute: int = 0,
) -> bytes:
    return build_message(
        from_=sender,
        to=[SUPPORT],
        subject=subject,
        text=f"Message {subject}",
        date_ms=T0 + minute * 60_000,
        message_id=message_id,
        in_reply_to=in_reply_to,
        references=list(references),
    )


def _error(call) -> tuple[int, str]:
    return api_error(call)[:2]


@pytest.fixture
def first(sandbox) -> dict:
    return sandbox.control.deliver(SUPPORT, _mail("Where is my order?", message_id=FIRST_ID))


@pytest.mark.parametrize(
    "subject, in_reply_to, references, joins",
    [
        ("Re: Where is my order?", FIRST_ID, (FIRST_ID,), True),
        ("RE: where is my order?", FIRST_ID, (), True),  # prefix and case do not matter
        ("Re: Re: Where is my order?", None, (FIRST_ID,), True),  # References alone is enough
        ("Fwd: Where is my order?", None, (FIRST_ID,), True),
        ("AW: Where is my order?", FIRST_ID, (FIRST_ID,), True),  # German reply prefix
        ("WG: Where is my order?", FIRST_ID, (FIRST_ID,), True),  # German forward prefix
        ("[support] Re: Where is my order?", FIRST_ID, (FIRST_ID,), True),  # list tag
        ("Where is my order?", None, (), False),  # same subject, no reference
        ("Re: Where is my order?", None, (), False),
        ("Re: Something else entirely", FIRST_ID, (FIRST_ID,), False),  # references but a new subject
        ("Re: Where is my order?", "<unknown@elsewhere.example>", ("<unknown@elsewhere.example>",), False),
    ],
)
def test_threading_rules(gmail, sandbox, first, subject, in_reply_to, references, joins):
    second = sandbox.control.deliver(SUPPORT, _mail(subject, in_reply_to=in_reply_to, references=references, minute=5))
    assert (second["threadId"] == first["threadId"]) is joins
    if not joins:
        assert second["threadId"] == second["id"]
    threads = gmail.threads().list(userId="me").execute()
    assert len(threads["threads"]) == (1 if joins else 2)


def test_reply_to_a_reply_joins_through_any_referenced_message(sandbox, first):
    second = sandbox.control.deliver(
        SUPPORT,
        _mail(
            "Re: Where is my order?",
            message_id="<second@example.com>",
            in_reply_to=FIRST_ID,
            references=(FIRST_ID,),
            minute=1,
        ),
    )
    third = sandbox.control.deliver(
        SUPPORT,
        _mail(
            "Re: Where is my order?", in_reply_to="<second@example.com>", references=("<second@example.com>",), minute=2
        ),
    )
    assert first["threadId"] == second["threadId"] == third["threadId"]


def test_a_conversation_breaks_after_100_messages(sandbox, first):
    from gmaildesk.sandbox import delivery

    sb = sandbox.sandbox
    mailbox = sb.mailboxes[SUPPORT]
    with sb.lock, sb.store.transaction():
        joined = [
            delivery.deliver(
                sb, mailbox, _mail("Re: Where is my order?", in_reply_to=FIRST_ID, references=(FIRST_ID,), minute=n)
            )["threadId"]
            for n in range(1, 101)
        ]
    assert joined[:99] == [first["threadId"]] * 99
    assert joined[99] != first["threadId"]  # the 101st message starts a new conversation
    assert len(mailbox.threads[first["threadId"]]) == 100


def test_insert_with_thread_id_and_matching_headers_joins(gmail, first):
    raw = _mail("Re: Where is my order?", in_reply_to=FIRST_ID, references=(FIRST_ID,), minute=3)
    inserted = (
        gmail.messages()
        .insert(userId="me", body={"raw": b64url_encode(raw), "threadId": first["threadId"], "labelIds": ["INBOX"]})
        .execute()
    )
    assert inserted["threadId"] == first["threadId"]
    unrelated = (
        gmail.messages()
        .insert(userId="me", body={"raw": b64url_encode(_mail("Other", minute=4)), "threadId": first["threadId"]})
        .execute()
    )
    assert unrelated["threadId"] != first["threadId"]  # threadId alone is not enough: headers must match


def _conversation(sandbox) -> tuple[dict, dict, dict]:
    one = sandbox.control.deliver(SUPPORT, _mail("Where is my order?", message_id=FIRST_ID))
    two = sandbox.control.deliver(
        SUPPORT, _mail("Re: Where is my order?", in_reply_to=FIRST_ID, references=(FIRST_ID,), minute=10)
    )
    sandbox.control.advance_clock(60)
    other = sandbox.control.deliver(SUPPORT, _mail("Refund", sender="bob@shop.example", minute=20))
    return one, two, other


def test_threads_list_newest_first_with_snippet_and_history_id(gmail, sandbox):
    one, two, other = _conversation(sandbox)
    listing = gmail.threads().list(userId="me").execute()
    assert [t["id"] for t in listing["threads"]] == [other["threadId"], one["threadId"]]
    assert listing["resultSizeEstimate"] == 2
    convo = listing["threads"][1]
    assert set(convo) == {"id", "snippet", "historyId"}
    assert convo["snippet"] == "Message Re: Where is my order?"  # the latest message's snippet
    assert gmail.threads().list(userId="me", q="from:bob").execute()["threads"][0]["id"] == other["threadId"]
    paged = gmail.threads().list(userId="me", maxResults=1).execute()
    assert len(paged["threads"]) == 1 and paged["nextPageToken"]
    rest = gmail.threads().list(userId="me", maxResults=1, pageToken=paged["nextPageToken"]).execute()
    assert rest["threads"][0]["id"] == one["threadId"] and "nextPageToken" not in rest


def test_threads_list_matches_if_any_message_matches(gmail, sandbox):
    one, two, _ = _conversation(sandbox)
    gmail.messages().modify(userId="me", id=two["id"], body={"addLabelIds": ["STARRED"]}).execute()
    starred = gmail.threads().list(userId="me", labelIds=["STARRED"]).execute()
    assert [t["id"] for t in starred["threads"]] == [one["threadId"]]
    assert [t["id"] for t in gmail.threads().list(userId="me", q="is:starred").execute()["threads"]] == [
        one["threadId"]
    ]


@pytest.mark.parametrize("fmt, has_payload", [("minimal", False), ("metadata", True), ("full", True)])
def test_threads_get_in_every_format(gmail, sandbox, fmt, has_payload):
    one, two, _ = _conversation(sandbox)
    thread = (
        gmail.threads()
        .get(userId="me", id=one["threadId"], format=fmt, metadataHeaders=["Subject"] if fmt == "metadata" else None)
        .execute()
    )
    assert set(thread) == {"id", "historyId", "messages"}  # labels live on messages, not on threads
    assert [m["id"] for m in thread["messages"]] == [one["id"], two["id"]]
    for msg in thread["messages"]:
        assert ("payload" in msg) is has_payload
        assert msg["threadId"] == one["threadId"]
    if fmt == "metadata":
        assert [h["name"] for h in thread["messages"][1]["payload"]["headers"]] == ["Subject"]
    if fmt == "full":
        assert thread["messages"][0]["payload"]["body"]["data"]


def test_thread_history_id_is_the_max_of_its_messages(gmail, sandbox):
    one, two, _ = _conversation(sandbox)
    gmail.messages().modify(userId="me", id=one["id"], body={"removeLabelIds": ["UNREAD"]}).execute()
    thread = gmail.threads().get(userId="me", id=one["threadId"], format="minimal").execute()
    ids = [int(m["historyId"]) for m in thread["messages"]]
    assert int(thread["historyId"]) == max(ids)
    assert int(thread["messages"][0]["historyId"]) > int(thread["messages"][1]["historyId"])  # the later change
    listed = {t["id"]: t for t in gmail.threads().list(userId="me").execute()["threads"]}
    assert listed[one["threadId"]]["historyId"] == thread["historyId"]


def test_threads_modify_applies_to_every_message(gmail, sandbox):
    one, two, other = _conversation(sandbox)
    label = gmail.labels().create(userId="me", body={"name": "Orders"}).execute()
    result = (
        gmail.threads()
        .modify(userId="me", id=one["threadId"], body={"addLabelIds": [label["id"]], "removeLabelIds": ["UNREAD"]})
        .execute()
    )
    assert [sorted(m["labelIds"]) for m in result["messages"]] == [sorted(["INBOX", label["id"]])] * 2
    assert result["id"] == one["threadId"]
    untouched = gmail.messages().get(userId="me", id=other["id"], format="minimal").execute()
    assert untouched["labelIds"] == ["INBOX", "UNREAD"]
    later = sandbox.control.deliver(
        SUPPORT, _mail("Re: Where is my order?", in_reply_to=FIRST_ID, references=(FIRST_ID,), minute=30)
    )
    assert later["threadId"] == one["threadId"]
    assert label["id"] not in later["labelIds"]  # new messages do not inherit a thread's labels


@pytest.mark.parametrize("body", [{"addLabelIds": ["SENT"]}, {"addLabelIds": ["Label_77"]}])
def test_threads_modify_refuses_bad_labels(gmail, sandbox, body):
    one, _, _ = _conversation(sandbox)
    assert _error(gmail.threads().modify(userId="me", id=one["threadId"], body=body)) == (400, "invalidArgument")


def test_threads_trash_and_untrash(gmail, sandbox):
    one, two, _ = _conversation(sandbox)
    trashed = gmail.threads().trash(userId="me", id=one["threadId"]).execute()
    assert all("TRASH" in m["labelIds"] and "INBOX" not in m["labelIds"] for m in trashed["messages"])
    assert [t["id"] for t in gmail.threads().list(userId="me").execute()["threads"]] != [one["threadId"]]
    assert one["threadId"] not in {t["id"] for t in gmail.threads().list(userId="me").execute()["threads"]}
    assert one["threadId"] in {
        t["id"] for t in gmail.threads().list(userId="me", includeSpamTrash=True).execute()["threads"]
    }
    restored = gmail.threads().untrash(userId="me", id=one["threadId"]).execute()
    assert [sorted(m["labelIds"]) for m in restored["messages"]] == [["INBOX", "UNREAD"]] * 2


def test_threads_delete_removes_every_message(gmail, sandbox):
    one, two, other = _conversation(sandbox)
    gmail.threads().delete(userId="me", id=one["threadId"]).execute()
    assert gmail.getProfile(userId="me").execute()["messagesTotal"] == 1
    assert _error(gmail.messages().get(userId="me", id=two["id"])) == (404, "notFound")


@pytest.mark.parametrize("method", ["get", "modify", "trash", "untrash", "delete"])
def test_unknown_thread_is_404(gmail, method):
    threads = gmail.threads()
    call = {
        "get": lambda: threads.get(userId="me", id="0000000000000001"),
        "modify": lambda: threads.modify(userId="me", id="0000000000000001", body={"addLabelIds": ["STARRED"]}),
        "trash": lambda: threads.trash(userId="me", id="0000000000000001"),
        "untrash": lambda: threads.untrash(userId="me", id="0000000000000001"),
        "delete": lambda: threads.delete(userId="me", id="0000000000000001"),
    }[method]()
    assert _error(call) == (404, "notFound")


def test_an_outlook_auto_reply_to_our_answer_stays_in_the_conversation(gmail, sandbox):
    first = sandbox.control.deliver(
        SUPPORT,
        build_message(
            from_="carla@retail.example",
            to=[SUPPORT],
            subject="Change of delivery address",
            text="New address",
            date_ms=1_700_000_000_000,
            message_id="<q1@retail.example>",
        ),
    )
    ooo = sandbox.control.deliver(
        SUPPORT,
        build_message(
            from_="carla@retail.example",
            to=[SUPPORT],
            subject="Automatic reply: Re: Change of delivery address",
            text="I am out of the office.",
            date_ms=1_700_000_100_000,
            in_reply_to="<q1@retail.example>",
            extra_headers=[("Auto-Submitted", "auto-replied"), ("X-Auto-Response-Suppress", "All")],
        ),
    )
    assert ooo["threadId"] == first["threadId"]
