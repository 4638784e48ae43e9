"""Connection options, batching and error translation, with the real client over HTTP to the sandbox."""

from __future__ import annotations

import socket
import time
from pathlib import Path

import httplib2
import pytest
from googleapiclient.http import BatchHttpRequest

from gmaildesk.errors import ExitCode, GmailDeskError
from gmaildesk.gmail import ConnectionOptions, GmailClient, connect, scopes
from gmaildesk.gmail.client import MAX_BATCH_CALLS
from gmaildesk.gmail.connection import PRODUCTION_BATCH_URI, client_for_http, new_http
from gmaildesk.gmail.errors import (
    LOGIN_AGAIN,
    MORE_SCOPES,
    QUOTA_EXHAUSTED,
    SANDBOX_NOT_RUNNING,
    SERVER_TROUBLE,
    SERVICE_ACCOUNT_NEEDED,
)
from gmaildesk.gmail.retry import RetryPolicy
from gmaildesk.sandbox.oauth import USER, Grant

FAST = RetryPolicy(max_attempts=4, base_delay=0.001, max_delay=0.005)


class RecordingHttp(httplib2.Http):
    """An httplib2.Http that remembers what it sent (a subclass, not a patch)."""

    def __init__(self, headers: dict[str, str] | None = None):
        super().__init__(timeout=30, proxy_info=None)
        self.sent: list[tuple[str, str, int]] = []
        self.extra_headers = headers or {}

    def request(self, uri, method="GET", body=None, headers=None, *args, **kwargs):
        self.sent.append((method, uri, len(body or b"")))
        return super().request(uri, method, body, {**(headers or {}), **self.extra_headers}, *args, **kwargs)


def _client(sandbox, http=None, policy=FAST) -> GmailClient:
    return client_for_http(http or RecordingHttp(), sandbox.url, policy)


def _bearer_client(sandbox, scope_set: frozenset[str], policy=FAST) -> GmailClient:
    """A client whose calls carry a sandbox user token with exactly these scopes."""
    grant = Grant(USER, "support@example.com", scope_set, "test-client")
    token = sandbox.sandbox.auth.issue_access_token(grant, now=time.time())
    return _client(sandbox, RecordingHttp(headers={"Authorization": f"Bearer {token}"}), policy)


# ---- options ---------------------------------------------------------------------------------


def test_options_normalize_the_endpoint_and_derive_the_batch_uri():
    options = ConnectionOptions(endpoint="http://127.0.0.1:8765")
    assert options.endpoint == "http://127.0.0.1:8765/"
    assert options.batch_uri == "http://127.0.0.1:8765/batch/gmail/v1"
    assert ConnectionOptions().batch_uri == PRODUCTION_BATCH_URI


def test_options_from_env_fall_back_to_environment_variables():
    env = {
        "GMAILDESK_ENDPOINT": "http://localhost:9000/",
        "GMAILDESK_SERVICE_ACCOUNT": "/keys/sa.json",
        "GMAILDESK_USER": "support@example.com",
    }
    options = ConnectionOptions.from_env(environ=env)
    assert options == ConnectionOptions("http://localhost:9000/", Path("/keys/sa.json"), "support@example.com")
    explicit = ConnectionOptions.from_env(endpoint="http://127.0.0.1:1/", environ={"GMAILDESK_ENDPOINT": "x"})
    assert explicit.endpoint == "http://127.0.0.1:1/"
    assert ConnectionOptions.from_env(environ={}) == ConnectionOptions()


@pytest.mark.parametrize(
    "kwargs, fragment",
    [
        ({"service_account": Path("sa.json")}, "--service-account needs --user"),
        ({"user": "support@example.com"}, "--user only applies with --service-account"),
        ({"endpoint": "http://gmail.example.com/"}, "unencrypted"),
        ({"endpoint": "ftp://127.0.0.1/"}, "must be an http(s) URL"),
    ],
)
def test_bad_option_combinations_are_usage_errors(kwargs, fragment):
    with pytest.raises(GmailDeskError) as caught:
        ConnectionOptions(**kwargs)
    assert fragment in caught.value.message
    assert caught.value.exit_code == ExitCode.USAGE


def test_production_client_targets_gmail_for_calls_and_batches():
    client = client_for_http(httplib2.Http(), None)
    assert client.users().labels().list(userId="me").uri.startswith("https://gmail.googleapis.com/gmail/v1/")
    assert client.batch_uri == PRODUCTION_BATCH_URI
    assert not client.loopback


def test_production_connect_without_login_says_how_to_log_in(tmp_path, monkeypatch):
    monkeypatch.setenv("GMAILDESK_CONFIG_DIR", str(tmp_path))
    with pytest.raises(GmailDeskError) as caught:
        connect(ConnectionOptions(), scopes.READ)
    assert caught.value.exit_code == ExitCode.AUTH
    assert "not logged in" in caught.value.message
    assert "gmaildesk auth login" in caught.value.hints[0]


def test_every_http_object_has_a_timeout():
    assert new_http("http://127.0.0.1:1/").timeout == 60
    assert new_http(None, 5).timeout == 5


# ---- sandbox, anonymous ------------------------------------------------------------------------


def test_anonymous_sandbox_connection_sends_no_authorization(sandbox):
    http = RecordingHttp()
    client = _client(sandbox, http)
    profile = client.execute(client.users().getProfile(userId="me"), "reading the profile")
    assert profile["emailAddress"] == "support@example.com"
    assert http.sent == [("GET", f"{sandbox.url}gmail/v1/users/me/profile?alt=json", 0)]
    assert connect(ConnectionOptions(endpoint=sandbox.url), scopes.READ).http.__class__ is httplib2.Http


def test_batch_of_120_goes_out_as_three_posts_of_at_most_50(sandbox):
    http = RecordingHttp()
    client = _client(sandbox, http)
    users = client.users()
    requests = [users.labels().get(userId="me", id=["INBOX", "SENT", "STARRED"][n % 3]) for n in range(120)]
    results = client.execute_batch(requests, "reading labels")
    posts = [entry for entry in http.sent if entry[0] == "POST"]
    assert [uri for _, uri, _ in posts] == [f"{sandbox.url}batch/gmail/v1"] * 3
    assert [r["id"] for r in results] == [["INBOX", "SENT", "STARRED"][n % 3] for n in range(120)]
    assert client.stats.batches == 3 and client.stats.calls == 120
    counters = sandbox.control.counters()
    assert counters["batches"] == 3 and counters["calls"]["gmail.users.labels.get"] == 120
    assert MAX_BATCH_CALLS == 50


def test_batch_parts_failing_with_429_and_503_are_rebatched_until_they_succeed(sandbox):
    # A part fails a round 3 times in 10; twelve rounds leave about 5e-7 per part.
    client = _client(sandbox, policy=RetryPolicy(max_attempts=12, base_delay=0.001, max_delay=0.005))
    users = client.users()
    sandbox.control.set_faults(rate_429=0.15, rate_503=0.15, seed=11)
    results = client.execute_batch([users.labels().get(userId="me", id="INBOX") for _ in range(120)])
    sandbox.control.clear_faults()
    faults = sandbox.control.counters()["faults"]
    assert all(isinstance(r, dict) and r["id"] == "INBOX" for r in results)
    assert faults["429"] > 0 and faults["503"] > 0
    assert client.stats.batch_parts_resent == faults["429"] + faults["503"]
    assert client.stats.batches > 3


def test_non_retryable_part_comes_back_as_an_error_in_its_slot(sandbox):
    client = _client(sandbox)
    users = client.users()
    requests = [
        users.labels().get(userId="me", id="INBOX"),
        users.labels().get(userId="me", id="Label_404"),
        users.labels().get(userId="me", id="SENT"),
    ]
    first, missing, last = client.execute_batch(requests, "reading labels")
    assert first["id"] == "INBOX" and last["id"] == "SENT"
    assert isinstance(missing, GmailDeskError)
    assert missing.message == "reading labels: Requested entity was not found. (HTTP 404)"
    assert missing.exit_code == ExitCode.ERROR and missing.hints == ()
    assert client.stats.batch_parts_resent == 0


def test_same_request_object_can_be_added_to_a_new_batch(sandbox):
    """What re-batching relies on: the library only serializes a request, so it can be sent again."""
    client = _client(sandbox)
    request = client.users().labels().get(userId="me", id="INBOX")
    seen = []
    for _ in range(2):
        batch = BatchHttpRequest(callback=lambda rid, resp, exc: seen.append((resp, exc)), batch_uri=client.batch_uri)
        batch.add(request, request_id="0")
        batch.execute(http=client.http)
    assert [(resp["id"], exc) for resp, exc in seen] == [("INBOX", None), ("INBOX", None)]
    assert request.execute()["id"] == "INBOX"


def test_whole_batch_failing_for_good_fills_its_slots_and_the_later_ones(sandbox):
    client = _client(sandbox, policy=RetryPolicy(max_attempts=2, base_delay=0.001, max_delay=0.001))
    users = client.users()
    sandbox.control.set_faults(drop=1.0, seed=1)
    results = client.execute_batch([users.labels().get(userId="me", id="INBOX") for _ in range(60)], "reading")
    sandbox.control.clear_faults()
    assert all(isinstance(r, GmailDeskError) for r in results)
    assert results[0] is results[59]
    assert results[0].message.startswith("reading (batch of 50 calls): connection lost")
    assert client.stats.batches == 2  # the first chunk twice; the second never sent


# ---- error translation with real HttpErrors from the sandbox -------------------------------------


def test_401_asks_to_log_in_again(sandbox):
    client = _client(sandbox, RecordingHttp(headers={"Authorization": "Bearer not-a-token"}))
    with pytest.raises(GmailDeskError) as caught:
        client.execute(client.users().labels().list(userId="me"), "listing labels")
    assert caught.value.message.startswith("listing labels: Request had invalid authentication credentials.")
    assert caught.value.message.endswith("(HTTP 401)")
    assert caught.value.hints == (LOGIN_AGAIN,)
    assert caught.value.exit_code == ExitCode.AUTH


def test_403_on_send_as_for_a_user_token_points_at_service_accounts(sandbox):
    client = _bearer_client(sandbox, frozenset({scopes.SETTINGS_SHARING}))
    request = client.users().settings().sendAs().create(userId="me", body={"sendAsEmail": "billing@example.com"})
    with pytest.raises(GmailDeskError) as caught:
        client.execute(request, "creating send-as 'billing@example.com'")
    assert caught.value.message == (
        "creating send-as 'billing@example.com': Access restricted to service accounts "
        "that have been delegated domain-wide authority (HTTP 403)"
    )
    assert caught.value.hints == (SERVICE_ACCOUNT_NEEDED,)
    assert caught.value.exit_code == ExitCode.AUTH


def test_403_insufficient_scopes_asks_for_more_scopes(sandbox):
    client = _bearer_client(sandbox, frozenset({scopes.LABELS}))
    with pytest.raises(GmailDeskError) as caught:
        client.execute(client.users().getProfile(userId="me"), "reading the profile")
    assert "Request had insufficient authentication scopes. (HTTP 403)" in caught.value.message
    assert caught.value.hints == (MORE_SCOPES,)
    assert caught.value.exit_code == ExitCode.AUTH


def test_429_after_retries_is_a_quota_error(sandbox):
    client = _client(sandbox)
    sandbox.control.set_faults(rate_429=1.0, seed=1)
    with pytest.raises(GmailDeskError) as caught:
        client.execute(client.users().labels().list(userId="me"), "listing labels")
    sandbox.control.clear_faults()
    assert caught.value.message.endswith("(HTTP 429, after 4 attempts)")
    assert caught.value.hints == (QUOTA_EXHAUSTED,)
    assert caught.value.exit_code == ExitCode.QUOTA
    assert client.stats.calls == 4 and client.stats.retries == 3


def test_503_after_retries_says_gmail_has_trouble(sandbox):
    client = _client(sandbox)
    sandbox.control.set_faults(rate_503=1.0, seed=1)
    with pytest.raises(GmailDeskError) as caught:
        client.execute(client.users().labels().list(userId="me"))
    sandbox.control.clear_faults()
    assert "(HTTP 503, after 4 attempts)" in caught.value.message
    assert caught.value.hints == (SERVER_TROUBLE,) and caught.value.exit_code == ExitCode.ERROR


def test_404_is_a_plain_error(sandbox):
    client = _client(sandbox)
    with pytest.raises(GmailDeskError) as caught:
        client.execute(client.users().labels().get(userId="me", id="Label_9"), "reading label 'Label_9'")
    assert caught.value.message == "reading label 'Label_9': Requested entity was not found. (HTTP 404)"
    assert caught.value.hints == () and caught.value.exit_code == ExitCode.ERROR
    assert client.stats.retries == 0


def test_409_conflict_keeps_gmails_message(sandbox):
    client = _client(sandbox)
    body = {"name": "Dept/Billing", "labelListVisibility": "labelShow", "messageListVisibility": "show"}
    client.execute(client.users().labels().create(userId="me", body=body))
    with pytest.raises(GmailDeskError) as caught:
        client.execute(client.users().labels().create(userId="me", body=body), "creating label 'Dept/Billing'")
    assert caught.value.message == "creating label 'Dept/Billing': Label name exists or conflicts (HTTP 409)"


def test_connection_refused_on_loopback_asks_whether_the_sandbox_runs():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    client = client_for_http(new_http("http://127.0.0.1/"), f"http://127.0.0.1:{port}/", FAST)
    with pytest.raises(GmailDeskError) as caught:
        client.execute(client.users().labels().list(userId="me"), "listing labels")
    assert caught.value.message == "listing labels: connection refused"
    assert caught.value.hints == (SANDBOX_NOT_RUNNING,)
    assert client.stats.calls == 1  # refused is not retried


def test_auth_failures_inside_a_batch_stay_in_their_slots(sandbox):
    client = _bearer_client(sandbox, frozenset({scopes.LABELS}))
    users = client.users()
    label, profile = client.execute_batch(
        [users.labels().get(userId="me", id="INBOX"), users.getProfile(userId="me")], "reading"
    )
    assert label["id"] == "INBOX"
    assert isinstance(profile, GmailDeskError) and profile.exit_code == ExitCode.AUTH
    assert profile.hints == (MORE_SCOPES,)


def _google_error(status: int, reason: str, message: str = "m", uri: str = "https://x/gmail/v1/users/me/labels"):
    import json as _json

    from googleapiclient.errors import HttpError

    body = {
        "error": {
            "code": status,
            "message": message,
            "errors": [{"domain": "usageLimits", "reason": reason, "message": message}],
        }
    }
    return HttpError(httplib2.Response({"status": status}), _json.dumps(body).encode(), uri=uri)


@pytest.mark.parametrize(
    "error, exit_code, hint_fragment",
    [
        (_google_error(403, "rateLimitExceeded", "Too many concurrent requests for user"), ExitCode.QUOTA, "quota"),
        (_google_error(403, "userRateLimitExceeded"), ExitCode.QUOTA, "quota"),
        (_google_error(403, "dailyLimitExceeded"), ExitCode.QUOTA, "daily"),
        (
            _google_error(403, "forbidden", uri="https://x/gmail/v1/users/me/settings/forwardingAddresses?alt=json"),
            ExitCode.AUTH,
            "domain-wide delegation",
        ),
        (_google_error(400, "failedPrecondition", "Precondition check failed."), ExitCode.USAGE, "--user"),
        (_google_error(400, "invalidArgument", "Invalid label name"), ExitCode.ERROR, None),
    ],
)
def test_translation_of_reasons_the_sandbox_does_not_inject(error, exit_code, hint_fragment):
    from gmaildesk.gmail.errors import translate

    translated = translate(error, "doing it")
    assert translated.exit_code == exit_code
    assert translated.message.startswith("doing it: ")
    if hint_fragment is None:
        assert translated.hints == ()
    else:
        assert hint_fragment in " ".join(translated.hints)


def test_refresh_error_and_unknown_errors():
    from google.auth.exceptions import RefreshError

    from gmaildesk.gmail.errors import translate

    refused = translate(
        RefreshError("invalid_grant: Token has been expired or revoked.", {"error": "invalid_grant"}), "listing labels"
    )
    assert refused.message == (
        "listing labels: refreshing the access token failed: invalid_grant: Token has been expired or revoked."
    )
    assert refused.hints == (LOGIN_AGAIN,) and refused.exit_code == ExitCode.AUTH
    assert translate(KeyError("a bug")) is None


def test_connect_reaches_the_sandbox_for_uploads_and_batches_too(sandbox):
    """api_endpoint alone leaves /upload/ URLs on https and batches on Google's host; the factory
    roots the whole discovery document at the endpoint instead."""
    from googleapiclient.http import MediaInMemoryUpload

    from gmaildesk.sandbox.mime import build_message

    client = connect(ConnectionOptions(endpoint=sandbox.url), scopes.SWEEP)
    raw = build_message(
        from_="ann@customer.example",
        to=["support@example.com"],
        subject="Uploaded",
        text="via media upload",
        date_ms=1_700_000_000_000,
    )
    request = (
        client.users()
        .messages()
        .insert(
            userId="me",
            body={"labelIds": ["INBOX"]},
            media_body=MediaInMemoryUpload(raw, mimetype="message/rfc822", resumable=False),
        )
    )
    assert request.uri.startswith(sandbox.url + "upload/gmail/v1/users/me/messages?")
    inserted = client.execute(request)
    assert (
        client.execute(client.users().messages().get(userId="me", id=inserted["id"]))["snippet"] == "via media upload"
    )
    assert client.service.new_batch_http_request()._batch_uri == sandbox.url + "batch"
    assert client.batch_uri == sandbox.url + "batch/gmail/v1"
