"""history.list and history ids: ordering, gaps, filters, paging, shapes, expiry and resync."""

from __future__ import annotations

import itertools

import pytest

from api_errors import api_error
from gmaildesk.sandbox.mime import build_message

SUPPORT = "support@example.com"


def _mail(subject: str) -> bytes:
    return build_message(
        from_="ann@customer.example", to=[SUPPORT], subject=subject, text="Hi.", date_ms=1_700_000_000_000
    )


def _hid(gmail) -> int:
    return int(gmail.getProfile(userId="me").execute()["historyId"])


def _error(call) -> tuple[int, str]:
    return api_error(call)[:2]


def _all_history(gmail, start, **params) -> tuple[list[dict], int]:
    records, token, pages = [], None, 0
    while True:
        page = gmail.history().list(userId="me", startHistoryId=str(start), pageToken=token, **params).execute()
        pages += 1
        records += page.get("history", [])
        token = page.get("nextPageToken")
        if not token:
            return records, pages


def test_history_id_strictly_increases_on_every_change_with_gaps(gmail, sandbox):
    ids = [_hid(gmail)]
    msg = sandbox.control.deliver(SUPPORT, _mail("One"))
    ids.append(_hid(gmail))
    label = gmail.labels().create(userId="me", body={"name": "Seen"}).execute()
    for body in ({"addLabelIds": ["STARRED"]}, {"removeLabelIds": ["UNREAD"]}, {"addLabelIds": [label["id"]]}):
        gmail.messages().modify(userId="me", id=msg["id"], body=body).execute()
        ids.append(_hid(gmail))
    gmail.messages().trash(userId="me", id=msg["id"]).execute()
    ids.append(_hid(gmail))
    gmail.messages().delete(userId="me", id=msg["id"]).execute()
    ids.append(_hid(gmail))
    assert all(b > a for a, b in itertools.pairwise(ids))
    steps = {b - a for a, b in itertools.pairwise(ids)}
    assert steps != {1}  # "not contiguous with random gaps"


def test_no_op_changes_do_not_move_the_history_id(gmail, sandbox):
    msg = sandbox.control.deliver(SUPPORT, _mail("One"))
    before = _hid(gmail)
    gmail.messages().modify(userId="me", id=msg["id"], body={"addLabelIds": ["INBOX"]}).execute()  # already there
    gmail.labels().list(userId="me").execute()
    assert _hid(gmail) == before


def test_profile_and_list_report_the_latest_history_id(gmail, sandbox):
    start = _hid(gmail)
    msg = sandbox.control.deliver(SUPPORT, _mail("One"))
    latest = _hid(gmail)
    page = gmail.history().list(userId="me", startHistoryId=str(start)).execute()
    assert int(page["historyId"]) == latest
    stored = gmail.messages().get(userId="me", id=msg["id"], format="minimal").execute()
    assert int(stored["historyId"]) == latest
    empty = gmail.history().list(userId="me", startHistoryId=str(latest)).execute()
    assert "history" not in empty and int(empty["historyId"]) == latest  # nothing after the latest


def test_record_shapes(gmail, sandbox):
    start = _hid(gmail)
    msg = sandbox.control.deliver(SUPPORT, _mail("One"))
    gmail.messages().modify(
        userId="me", id=msg["id"], body={"addLabelIds": ["STARRED"], "removeLabelIds": ["UNREAD"]}
    ).execute()
    gmail.messages().delete(userId="me", id=msg["id"]).execute()
    records = gmail.history().list(userId="me", startHistoryId=str(start)).execute()["history"]
    assert [int(r["id"]) for r in records] == sorted(int(r["id"]) for r in records)
    added, relabelled, deleted = records
    short = {"id": msg["id"], "threadId": msg["threadId"]}
    assert added["messages"] == [short]
    assert added["messagesAdded"] == [{"message": {**short, "labelIds": ["INBOX", "UNREAD"]}}]
    # one modify call that adds and removes is one record carrying both changes
    assert relabelled["labelsAdded"] == [
        {"message": {**short, "labelIds": ["INBOX", "STARRED"]}, "labelIds": ["STARRED"]}
    ]
    assert relabelled["labelsRemoved"] == [
        {"message": {**short, "labelIds": ["INBOX", "STARRED"]}, "labelIds": ["UNREAD"]}
    ]
    assert deleted["messagesDeleted"][0]["message"]["id"] == msg["id"]
    assert [
        sum(k in r for k in ("messagesAdded", "messagesDeleted", "labelsAdded", "labelsRemoved")) for r in records
    ] == [1, 2, 1]


@pytest.mark.parametrize(
    "types, expected",
    [
        (["messageAdded"], {"messagesAdded"}),
        (["labelAdded", "labelRemoved"], {"labelsAdded", "labelsRemoved"}),  # repeated query parameter
        (["messageDeleted"], {"messagesDeleted"}),
        (None, {"messagesAdded", "labelsAdded", "labelsRemoved", "messagesDeleted"}),
    ],
)
def test_history_types_filter(gmail, sandbox, types, expected):
    start = _hid(gmail)
    msg = sandbox.control.deliver(SUPPORT, _mail("One"))
    gmail.messages().modify(userId="me", id=msg["id"], body={"addLabelIds": ["STARRED"]}).execute()
    gmail.messages().modify(userId="me", id=msg["id"], body={"removeLabelIds": ["UNREAD"]}).execute()
    gmail.messages().delete(userId="me", id=msg["id"]).execute()
    records = gmail.history().list(userId="me", startHistoryId=str(start), historyTypes=types).execute()["history"]
    kinds = {k for r in records for k in r if k not in ("id", "messages")}
    assert kinds == expected


def test_history_types_unknown_value_is_rejected_by_the_client(gmail):
    with pytest.raises(TypeError):
        gmail.history().list(userId="me", startHistoryId="1", historyTypes=["messageRead"])


def test_label_id_filter(gmail, sandbox):
    start = _hid(gmail)
    inbox = sandbox.control.deliver(SUPPORT, _mail("One"))
    spam = sandbox.control.deliver(SUPPORT, _mail("Pills"), spam=True)
    gmail.messages().modify(userId="me", id=spam["id"], body={"addLabelIds": ["STARRED"]}).execute()
    spam_only = gmail.history().list(userId="me", startHistoryId=str(start), labelId="SPAM").execute()["history"]
    assert {r["messages"][0]["id"] for r in spam_only} == {spam["id"]}
    assert len(spam_only) == 2
    inbox_only = gmail.history().list(userId="me", startHistoryId=str(start), labelId="INBOX").execute()["history"]
    assert [r["messages"][0]["id"] for r in inbox_only] == [inbox["id"]]


def test_paging(gmail, sandbox):
    start = _hid(gmail)
    for n in range(7):
        sandbox.control.deliver(SUPPORT, _mail(f"Mail {n}"))
    records, pages = _all_history(gmail, start, maxResults=3)
    assert (len(records), pages) == (7, 3)
    assert len({r["id"] for r in records}) == 7
    first = gmail.history().list(userId="me", startHistoryId=str(start), maxResults=3).execute()
    assert len(first["history"]) == 3 and first["nextPageToken"]
    big = gmail.history().list(userId="me", startHistoryId=str(start), maxResults=5000).execute()
    assert len(big["history"]) == 7 and "nextPageToken" not in big


@pytest.mark.parametrize("start", [None, "", "abc", "-5", "12.5"])
def test_missing_or_invalid_start_history_id_is_400(gmail, start):
    if start is None:  # discovery does not mark it required, so the client sends the call
        assert _error(gmail.history().list(userId="me")) == (400, "invalidArgument")
        return
    assert _error(gmail.history().list(userId="me", startHistoryId=start)) == (400, "invalidArgument")


def test_expired_history_is_404_and_the_client_can_resync(gmail, sandbox):
    start = _hid(gmail)
    old = sandbox.control.deliver(SUPPORT, _mail("Old"))
    assert gmail.history().list(userId="me", startHistoryId=str(start)).execute()["history"]
    sandbox.control.advance_clock(8 * 24 * 3600)  # Gmail keeps history "at least a week"
    sandbox.control.deliver(SUPPORT, _mail("New"))
    assert _error(gmail.history().list(userId="me", startHistoryId=str(start))) == (404, "notFound")

    # The documented recovery: a full sync, then continue from the profile's historyId.
    listed = gmail.messages().list(userId="me").execute()
    assert old["id"] in {m["id"] for m in listed["messages"]} and len(listed["messages"]) == 2
    resync_from = _hid(gmail)
    gmail.messages().modify(userId="me", id=old["id"], body={"addLabelIds": ["STARRED"]}).execute()
    records = gmail.history().list(userId="me", startHistoryId=str(resync_from)).execute()["history"]
    assert [r["labelsAdded"][0]["labelIds"] for r in records] == [["STARRED"]]


def test_short_retention_configured_through_control(gmail, sandbox):
    start = _hid(gmail)
    sandbox.control.deliver(SUPPORT, _mail("One"))
    sandbox.control.configure(history_retention_seconds=60)
    assert gmail.history().list(userId="me", startHistoryId=str(start)).execute()["history"]
    sandbox.control.advance_clock(120)
    assert _error(gmail.history().list(userId="me", startHistoryId=str(start))) == (404, "notFound")
    assert "history" not in gmail.history().list(userId="me", startHistoryId=str(_hid(gmail))).execute()


def test_a_start_id_after_the_latest_is_an_empty_answer(gmail):
    page = gmail.history().list(userId="me", startHistoryId=str(_hid(gmail) + 1000)).execute()
    assert "history" not in page
