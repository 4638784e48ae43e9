"""Gmail's limits as the sandbox imitates them: batches, quota, per-method counters and units,
fault injection, and Google's error shape."""

from __future__ import annotations

import json
import time

import httplib2
import pytest
from googleapiclient.discovery import build
from googleapiclient.errors import HttpError
from googleapiclient.http import BatchHttpRequest

from gmaildesk.sandbox.limits import COST_TABLES
from gmaildesk.sandbox.mime import build_message

SUPPORT = "support@example.com"


def _mail(subject: str = "Hello") -> bytes:
    return build_message(
        from_="ann@customer.example", to=[SUPPORT], subject=subject, text="Hi.", date_ms=1_700_000_000_000
    )


def _batch(sandbox, path: str, requests: list) -> tuple[dict, dict]:
    results, errors = {}, {}

    def callback(request_id, response, exception):
        if exception is not None:
            errors[request_id] = exception
        else:
            results[request_id] = response

    batch = BatchHttpRequest(callback=callback, batch_uri=sandbox.url + path)
    for request in requests:
        batch.add(request)
    batch.execute()
    return results, errors


# ---- batch -------------------------------------------------------------------------------------
@pytest.mark.parametrize("path", ["batch", "batch/gmail/v1"])
def test_batch_of_100_at_both_paths(gmail, sandbox, path):
    msg_id = sandbox.control.deliver(SUPPORT, _mail())["id"]
    sandbox.control.reset_counters()
    requests = [gmail.messages().get(userId="me", id=msg_id, format="minimal") for _ in range(99)]
    requests.append(gmail.labels().get(userId="me", id="Label_404"))
    results, errors = _batch(sandbox, path, requests)
    assert len(results) == 99 and all(r["id"] == msg_id for r in results.values())
    [(request_id, error)] = errors.items()
    assert request_id == "100"
    assert error.status_code == 404 and error.error_details[0]["reason"] == "notFound"
    counters = sandbox.control.counters()
    assert (counters["batches"], counters["http_requests"]) == (1, 1)
    assert counters["calls"]["gmail.users.messages.get"] == 99  # n calls in a batch count as n
    assert counters["units"]["gmail.users.messages.get"] == 99 * 20
    assert counters["errors"] == {"gmail.users.labels.get": {"404": 1}}


def test_batch_of_101_is_refused(gmail, sandbox):
    requests = [gmail.labels().get(userId="me", id="INBOX") for _ in range(101)]
    with pytest.raises(HttpError) as caught:
        _batch(sandbox, "batch/gmail/v1", requests)
    assert caught.value.status_code == 400
    assert sandbox.control.counters()["total_calls"] == 0


def test_batch_carries_bodies_and_mixed_methods(gmail, sandbox):
    msg_id = sandbox.control.deliver(SUPPORT, _mail())["id"]
    results, errors = _batch(
        sandbox,
        "batch",
        [
            gmail.messages().modify(userId="me", id=msg_id, body={"addLabelIds": ["STARRED"]}),
            gmail.labels().create(userId="me", body={"name": "From batch"}),
            gmail.messages().batchModify(userId="me", body={"ids": [msg_id], "removeLabelIds": ["UNREAD"]}),
        ],
    )
    assert errors == {}
    assert "STARRED" in results["1"]["labelIds"]
    assert results["2"]["name"] == "From batch"
    assert gmail.messages().get(userId="me", id=msg_id, format="minimal").execute()["labelIds"] == ["INBOX", "STARRED"]


def test_new_batch_http_request_points_at_google_not_the_sandbox(gmail):
    """Why the suite always passes batch_uri: the client ignores api_endpoint for batches (#1107)."""
    service = build(
        "gmail",
        "v1",
        http=httplib2.Http(),
        static_discovery=True,
        client_options={"api_endpoint": "http://127.0.0.1:9/"},
    )
    assert service.new_batch_http_request()._batch_uri == "https://gmail.googleapis.com/batch"


# ---- quota -------------------------------------------------------------------------------------
def test_quota_429_then_recovery(gmail, sandbox):
    sandbox.control.set_quota(10, window_s=1)  # 10 units in any second
    gmail.messages().list(userId="me").execute()  # 5 units
    gmail.messages().list(userId="me").execute()  # 5 units: the bucket is empty now
    with pytest.raises(HttpError) as caught:
        gmail.messages().list(userId="me").execute()
    assert caught.value.status_code == 429
    detail = caught.value.error_details[0]
    assert (detail["reason"], detail["domain"]) == ("rateLimitExceeded", "usageLimits")
    body = json.loads(caught.value.content)["error"]
    assert (body["code"], body["status"]) == (429, "RESOURCE_EXHAUSTED")
    assert sandbox.control.counters()["errors"]["gmail.users.messages.list"] == {"429": 1}
    time.sleep(1.05)  # both calls leave the one-second window
    assert gmail.messages().list(userId="me").execute()["resultSizeEstimate"] == 0
    sandbox.control.set_quota(None)
    for _ in range(10):
        gmail.messages().list(userId="me").execute()


def test_quota_is_per_user(gmail, sandbox):
    sandbox.control.set_quota(5, window_s=1)
    gmail.messages().list(userId="me").execute()
    with pytest.raises(HttpError):
        gmail.messages().list(userId="me").execute()
    gmail.messages().list(userId="colleague@example.com").execute()  # a separate bucket


def test_quota_charges_every_part_of_a_batch(gmail, sandbox):
    sandbox.control.set_quota(10, window_s=1)
    results, errors = _batch(sandbox, "batch", [gmail.messages().list(userId="me") for _ in range(3)])
    assert sorted(results) == ["1", "2"]
    assert errors["3"].status_code == 429  # the client never retries inside a batch


# ---- counters ----------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "table, get_units, thread_units, trash_units",
    [
        ("current", 20, 40, 20),
        ("legacy", 5, 10, 5),
    ],
)
def test_counters_count_calls_and_units_per_method(gmail, sandbox, table, get_units, thread_units, trash_units):
    msg_id = sandbox.control.deliver(SUPPORT, _mail())["id"]
    sandbox.control.set_quota(None, costs=table)
    sandbox.control.reset_counters()
    for _ in range(3):
        gmail.messages().get(userId="me", id=msg_id).execute()
    gmail.threads().get(userId="me", id=msg_id).execute()
    gmail.messages().trash(userId="me", id=msg_id).execute()
    gmail.labels().list(userId="me").execute()
    gmail.getProfile(userId="me").execute()
    gmail.messages().send(
        userId="me", body={"raw": "RnJvbTogc3VwcG9ydEBleGFtcGxlLmNvbQ0KVG86IGFAYi5leGFtcGxlDQoNCmhp"}
    ).execute()
    counters = sandbox.control.counters()
    assert counters["calls"] == {
        "gmail.users.messages.get": 3,
        "gmail.users.threads.get": 1,
        "gmail.users.messages.trash": 1,
        "gmail.users.labels.list": 1,
        "gmail.users.getProfile": 1,
        "gmail.users.messages.send": 1,
    }
    assert counters["units"] == {
        "gmail.users.messages.get": 3 * get_units,
        "gmail.users.threads.get": thread_units,
        "gmail.users.messages.trash": trash_units,
        "gmail.users.labels.list": 1,
        "gmail.users.getProfile": 1,
        "gmail.users.messages.send": 100,
    }
    assert counters["total_calls"] == 8
    assert counters["total_units"] == sum(counters["units"].values())
    assert counters["http_requests"] == 8 and counters["batches"] == 0
    reset = sandbox.control.reset_counters()
    assert (reset["calls"], reset["units"], reset["total_calls"], reset["http_requests"]) == ({}, {}, 0, 0)


def test_failed_calls_count_but_cost_nothing(gmail, sandbox):
    with pytest.raises(HttpError):
        gmail.messages().get(userId="me", id="0000000000000001").execute()
    counters = sandbox.control.counters()
    assert counters["calls"] == {"gmail.users.messages.get": 1}
    assert counters["units"] == {"gmail.users.messages.get": 0}
    assert counters["errors"] == {"gmail.users.messages.get": {"404": 1}}


def test_cost_tables_cover_every_routed_method():
    from gmaildesk.sandbox.routes import HANDLERS

    for table in COST_TABLES.values():
        assert set(HANDLERS) <= set(table)
    assert COST_TABLES["current"]["gmail.users.messages.send"] == 100
    assert COST_TABLES["legacy"]["gmail.users.messages.batchModify"] == 50


# ---- fault injection ---------------------------------------------------------------------------
def test_seeded_503_on_every_call(gmail, sandbox):
    sandbox.control.set_faults(rate_503=1.0, seed=7)
    for _ in range(4):
        with pytest.raises(HttpError) as caught:
            gmail.labels().list(userId="me").execute()
        assert caught.value.status_code == 503
        assert caught.value.error_details[0]["reason"] == "backendError"
    counters = sandbox.control.counters()
    assert counters["faults"] == {"503": 4}
    assert counters["errors"] == {"gmail.users.labels.list": {"503": 4}}
    sandbox.control.clear_faults()
    assert gmail.labels().list(userId="me").execute()["labels"]


def test_client_retries_injected_faults_with_num_retries(gmail, sandbox):
    sandbox.control.set_faults(rate_429=0.5, rate_500=0.5, seed=3)
    request = gmail.labels().list(userId="me")
    request._sleep = lambda seconds: None
    with pytest.raises(HttpError):
        request.execute(num_retries=2)
    assert sum(sandbox.control.counters()["faults"].values()) == 3  # one try and two retries


def test_seeded_faults_are_reproducible(gmail, sandbox):
    def pattern() -> list[int]:
        sandbox.control.set_faults(rate_500=0.5, seed=42)
        out = []
        for _ in range(12):
            try:
                gmail.getProfile(userId="me").execute()
                out.append(200)
            except HttpError as error:
                out.append(error.status_code)
        return out

    first = pattern()
    assert pattern() == first
    assert set(first) == {200, 500}


def test_dropped_connection_is_a_connection_error(gmail, sandbox):
    sandbox.control.set_faults(drop=1.0)
    with pytest.raises(ConnectionError):
        gmail.labels().list(userId="me").execute()
    counters = sandbox.control.counters()
    assert counters["faults"]["drop"] >= 1
    assert counters["total_calls"] == 0


def test_latency_is_added_to_every_call(gmail, sandbox):
    sandbox.control.set_faults(latency_ms=150)
    started = time.monotonic()
    gmail.labels().list(userId="me").execute()
    assert time.monotonic() - started >= 0.15
    sandbox.control.clear_faults()
    started = time.monotonic()
    gmail.labels().list(userId="me").execute()
    assert time.monotonic() - started < 0.15


def test_control_refuses_bad_fault_settings(sandbox):
    from gmaildesk.errors import GmailDeskError

    for settings in ({"rate_503": 2}, {"explode": 1}):
        with pytest.raises(GmailDeskError):
            sandbox.control.set_faults(**settings)


# ---- error shape -------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "make_call, code, reason, status",
    [
        (lambda g: g.messages().get(userId="me", id="0000000000000001"), 404, "notFound", "NOT_FOUND"),
        (lambda g: g.labels().create(userId="me", body={"name": "INBOX"}), 400, "invalidArgument", "INVALID_ARGUMENT"),
        (lambda g: g.messages().list(userId="me", q="frm:bob"), 400, "invalidArgument", "INVALID_ARGUMENT"),
    ],
)
def test_errors_have_googles_json_shape(gmail, make_call, code, reason, status):
    with pytest.raises(HttpError) as caught:
        make_call(gmail).execute()
    body = json.loads(caught.value.content)
    assert set(body) == {"error"}
    error = body["error"]
    assert set(error) == {"code", "message", "errors", "status"}
    assert (error["code"], error["status"]) == (code, status)
    assert error["errors"] == [{"message": error["message"], "domain": "global", "reason": reason}]
    assert caught.value.resp["content-type"].startswith("application/json")


def test_unknown_paths_and_verbs(sandbox):
    http = httplib2.Http()
    response, content = http.request(sandbox.url + "gmail/v1/users/me/nothing-here")
    assert response.status == 404 and json.loads(content)["error"]["errors"][0]["reason"] == "notFound"
    response, content = http.request(sandbox.url + "gmail/v1/users/me/labels", "DELETE")
    assert response.status == 405
    response, _ = http.request(sandbox.url + "gmail/v1/users/me/labels?alt=json", "GET")
    assert response.status == 200
    response, _ = http.request(
        sandbox.url + "gmail/v1/users/me/messages/batchModify?",
        "POST",
        body=json.dumps({"ids": ["0000000000000001"], "addLabelIds": ["STARRED"]}),
        headers={"Content-Type": "application/json"},
    )
    assert response.status == 204
