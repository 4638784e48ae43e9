"""gmail/api.py against the sandbox through the real googleapiclient: typed answers, errors with
status and reason in their slots, paging, metering per method, the connection's clock."""

from __future__ import annotations

import httplib2
import pytest

from gmaildesk.errors import ExitCode, GmailDeskError
from gmaildesk.gmail import connect, scopes
from gmaildesk.gmail.api import MAX_MODIFY_IDS, HttpGmailApi
from gmaildesk.gmail.connection import ConnectionOptions, client_for_http
from gmaildesk.gmail.errors import GmailApiError
from gmaildesk.gmail.retry import RetryPolicy
from gmaildesk.gmail.types import Message, Modify, Profile, Thread, Usage
from gmaildesk.sandbox.mime import build_message

SUPPORT = "support@example.com"
HEADERS = ("From", "Subject")


@pytest.fixture
def api(sandbox) -> HttpGmailApi:
    return HttpGmailApi(
        connect(ConnectionOptions(endpoint=sandbox.url), scopes.SWEEP, policy=RetryPolicy(sleep=lambda seconds: None))
    )


def deliver(sandbox, subject: str, n: int = 0) -> dict:
    raw = build_message(
        from_="alice@customer.test",
        to=[SUPPORT],
        subject=subject,
        text="hello",
        message_id=f"<{subject.replace(' ', '-')}-{n}@test>",
        date_ms=int(sandbox.control.clock()["nowMs"]),
    )
    return sandbox.control.deliver(SUPPORT, raw)


def test_profile_and_labels_are_values(api):
    profile = api.profile()
    assert isinstance(profile, Profile) and profile.address == SUPPORT and profile.history_id.isdigit()
    labels = {label.name: label for label in api.labels()}
    assert labels["INBOX"].id == "INBOX" and labels["INBOX"].resource["type"] == "system"


def test_threads_and_messages_read_in_batches_with_errors_in_their_slots(api, sandbox):
    first, second = deliver(sandbox, "Printer offline"), deliver(sandbox, "Invoice")
    answers = api.threads([first["threadId"], "ffffffffffffffff", second["threadId"]], HEADERS)
    assert isinstance(answers[0], Thread) and isinstance(answers[2], Thread)
    missing = answers[1]
    assert isinstance(missing, GmailApiError) and missing.status == 404 and missing.reason == "notFound"
    (message,) = answers[0].messages
    assert message == Message(first["id"], first["threadId"], message.internal_date, message.label_ids, message.headers)
    assert dict(message.headers)["Subject"] == "Printer offline" and "INBOX" in message.label_ids
    assert message.internal_date > 0
    read = api.messages([second["id"], "ffffffffffffffff"], HEADERS)
    assert isinstance(read[0], Message) and read[0].thread_id == second["threadId"]
    assert isinstance(read[1], GmailApiError) and read[1].status == 404


def test_thread_ids_follow_every_page(api, sandbox, monkeypatch):
    ids = {deliver(sandbox, "Paged", n)["threadId"] for n in range(7)}
    monkeypatch.setattr("gmaildesk.gmail.api.LIST_PAGE", 3)
    before = api.usage()
    assert set(api.thread_ids("subject:Paged")) == ids
    assert api.usage().since(before).by_method == {"users.threads.list": 3}  # 3 + 3 + 1


def test_history_is_typed_and_a_refused_cursor_is_a_status_not_a_text(api, sandbox):
    start = api.profile().history_id
    delivered = deliver(sandbox, "After the cursor")
    history = api.history(start)
    added = [m for record in history.records for m in record.messages_added]
    assert [(m.id, m.thread_id) for m in added] == [(delivered["id"], delivered["threadId"])]
    assert int(history.history_id) > int(start)
    with pytest.raises(GmailApiError) as refused:
        api.history("not-a-number")
    assert refused.value.status == 400 and refused.value.reason == "invalidArgument"


def test_expired_history_is_a_404(api, sandbox):
    start = api.profile().history_id
    sandbox.control.configure(history_retention_seconds=1)
    deliver(sandbox, "Soon forgotten")
    sandbox.control.advance_clock(5)
    deliver(sandbox, "Later")
    with pytest.raises(GmailApiError) as expired:
        api.history(start)
    assert expired.value.status == 404


def test_batch_modify_answers_per_change_and_refuses_more_than_gmail_takes(api, sandbox):
    delivered = deliver(sandbox, "Label me")
    outcome = api.batch_modify(
        [
            Modify((delivered["id"],), frozenset({"STARRED"}), frozenset({"INBOX"})),
            Modify(("x",), frozenset({"Label_does_not_exist"}), frozenset()),
        ]
    )
    assert outcome[0] is None
    assert isinstance(outcome[1], GmailApiError) and outcome[1].status == 400
    (thread,) = api.threads([delivered["threadId"]], HEADERS)
    assert isinstance(thread, Thread) and thread.messages[0].label_ids >= {"STARRED"}
    assert "INBOX" not in thread.messages[0].label_ids
    with pytest.raises(ValueError, match="at most 1000"):
        api.batch_modify([Modify(tuple(f"m{i}" for i in range(MAX_MODIFY_IDS + 1)), frozenset(), frozenset())])


def test_usage_counts_each_logical_call_once_by_method(sandbox):
    api = HttpGmailApi(
        connect(
            ConnectionOptions(endpoint=sandbox.url),
            scopes.SWEEP,
            policy=RetryPolicy(max_attempts=3, sleep=lambda seconds: None),
        )
    )
    delivered = deliver(sandbox, "Metered")
    before = api.usage()
    api.threads([delivered["threadId"]] * 3, HEADERS)
    sandbox.control.set_faults(rate_503=1.0, seed=1)
    with pytest.raises(GmailApiError):
        api.labels()
    sandbox.control.clear_faults()
    used = api.usage().since(before)
    assert used.by_method == {"users.threads.get": 3, "users.labels.list": 1}  # 3 attempts, one call
    assert used.calls == 3 + 3 and used.units == 3 * 40 + 1
    assert Usage(5, {"users.threads.get": 2}).units == 80


def test_translated_errors_carry_status_and_reason_and_keep_them_with_context(api):
    with pytest.raises(GmailApiError) as caught:
        api.client.execute(api.client.users().labels().get(userId="me", id="Label_nope"), "reading a label")
    error = caught.value
    assert (error.status, error.reason, error.exit_code) == (404, "notFound", ExitCode.ERROR)
    assert isinstance(error, GmailDeskError)
    wider = error.with_context("apply")
    assert isinstance(wider, GmailApiError) and (wider.status, wider.reason) == (404, "notFound")
    assert wider.message.startswith("apply: reading a label: ")


def test_a_refused_connection_is_an_api_error_without_status(sandbox):
    api = HttpGmailApi(client_for_http(httplib2.Http(timeout=5), "http://127.0.0.1:9/", RetryPolicy(max_attempts=1)))
    with pytest.raises(GmailApiError) as caught:
        api.profile()
    assert caught.value.status is None and "connection refused" in caught.value.message


def test_clock_is_the_sandbox_clock_for_a_sandbox(api, sandbox):
    sandbox.control.advance_clock(3600)
    assert abs(api.clock() - int(sandbox.control.clock()["nowMs"])) < 1000


def test_clock_fails_loudly_for_an_endpoint_that_is_no_sandbox(sandbox):
    # Any other server on the endpoint: here the sandbox's Gmail routes under a path prefix it does not serve.
    api = HttpGmailApi(client_for_http(httplib2.Http(timeout=5), sandbox.url + "elsewhere/"))
    with pytest.raises(GmailApiError) as caught:
        api.clock()
    assert caught.value.status == 404 and "no sandbox time" in caught.value.message
    unreachable = HttpGmailApi(client_for_http(httplib2.Http(timeout=5), "http://127.0.0.1:9/"))
    with pytest.raises(GmailApiError) as refused:
        unreachable.clock()
    assert refused.value.status is None and refused.value.hints


def test_clock_is_the_system_clock_for_gmail():
    import time

    api = HttpGmailApi(client_for_http(httplib2.Http(timeout=5), None))
    assert abs(api.clock() - time.time() * 1000) < 5000
