"""The retry decision, the backoff arithmetic, the loop, and a fault-injection run through the sandbox."""

from __future__ import annotations

import http.client
import json
import ssl
import time

import httplib2
import pytest
from googleapiclient.errors import HttpError

from gmaildesk.gmail import scopes
from gmaildesk.gmail.connection import ConnectionOptions, connect
from gmaildesk.gmail.retry import RetryPolicy, call_with_retry, failure_signal, is_retryable, should_retry


@pytest.mark.parametrize(
    "status, reason, expected",
    [
        (None, None, True),  # the connection failed: no answer at all
        (429, "rateLimitExceeded", True),
        (429, None, True),
        (500, "backendError", True),
        (502, None, True),
        (503, "backendError", True),
        (504, None, True),
        (403, "rateLimitExceeded", True),
        (403, "userRateLimitExceeded", True),
        (403, "forbidden", False),
        (403, "insufficientPermissions", False),
        (403, "dailyLimitExceeded", False),
        (403, "domainPolicy", False),
        (403, None, False),
        (400, "invalidArgument", False),
        (401, "authError", False),
        (404, "notFound", False),
        (409, "aborted", False),
    ],
)
def test_is_retryable_decision_table(status, reason, expected):
    assert is_retryable(status, reason) is expected


def _http_error(status: int, reason: str | None = None) -> HttpError:
    body = {"error": {"code": status, "message": "x", "errors": [{"reason": reason, "message": "x"}]}}
    return HttpError(httplib2.Response({"status": status}), json.dumps(body).encode())


@pytest.mark.parametrize(
    "error, expected",
    [
        (_http_error(503, "backendError"), True),
        (_http_error(403, "userRateLimitExceeded"), True),
        (_http_error(403, "forbidden"), False),
        (ConnectionResetError(), True),
        (http.client.RemoteDisconnected("closed"), True),
        (BrokenPipeError(), True),
        (TimeoutError("timed out"), True),
        (http.client.IncompleteRead(b""), True),
        (http.client.BadStatusLine("garbage"), True),
        (ssl.SSLError("bad record mac"), True),
        (ConnectionRefusedError(), False),  # nothing listens: retrying only delays the hint
        (ssl.SSLCertVerificationError("bad certificate"), False),
        (httplib2.ServerNotFoundError("Unable to find the server"), False),
        (ValueError("a bug"), False),
    ],
)
def test_which_exceptions_are_retried(error, expected):
    assert should_retry(error) is expected


def test_failure_signal_reads_the_reason_from_the_error_body():
    assert failure_signal(_http_error(403, "rateLimitExceeded")) == (403, "rateLimitExceeded")
    assert failure_signal(ConnectionResetError()) == (None, None)
    assert failure_signal(KeyError("x")) is None


def test_backoff_doubles_from_base_delay_plus_jitter_and_is_capped():
    policy = RetryPolicy(base_delay=1.0, max_delay=32.0, rand=lambda: 0.0)
    assert [policy.delay(n) for n in range(1, 8)] == [1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 32.0]
    jittered = RetryPolicy(base_delay=1.0, max_delay=32.0, rand=lambda: 0.5)
    assert [jittered.delay(n) for n in range(1, 7)] == [1.5, 2.5, 4.5, 8.5, 16.5, 32.0]
    assert all(RetryPolicy(rand=lambda: 0.999).delay(n) <= 32.0 for n in range(1, 20))


def test_jitter_spreads_delays_and_never_goes_below_base_delay():
    import random

    rng = random.Random(7)
    policy = RetryPolicy(base_delay=1.0, rand=rng.random)
    delays = [policy.delay(1) for _ in range(200)]
    assert min(delays) >= 1.0 and max(delays) < 2.0
    assert len({round(d, 3) for d in delays}) > 100


def test_loop_retries_retryable_errors_then_succeeds():
    slept: list[float] = []
    policy = RetryPolicy(max_attempts=5, base_delay=1.0, sleep=slept.append, rand=lambda: 0.0)
    outcomes = [_http_error(503), ConnectionResetError(), _http_error(429), "ok"]
    hooks: list[tuple[int, str, float]] = []

    def flaky():
        outcome = outcomes.pop(0)
        if isinstance(outcome, Exception):
            raise outcome
        return outcome

    result = call_with_retry(flaky, policy, on_retry=lambda n, e, d: hooks.append((n, type(e).__name__, d)))
    assert result == "ok"
    assert slept == [1.0, 2.0, 4.0]
    assert hooks == [(1, "HttpError", 1.0), (2, "ConnectionResetError", 2.0), (3, "HttpError", 4.0)]


def test_loop_gives_up_after_max_attempts_and_reraises_the_last_error():
    slept: list[float] = []
    calls = []
    policy = RetryPolicy(max_attempts=3, sleep=slept.append, rand=lambda: 0.0)

    def always_busy():
        calls.append(1)
        raise _http_error(429, "rateLimitExceeded")

    with pytest.raises(HttpError) as caught:
        call_with_retry(always_busy, policy)
    assert caught.value.status_code == 429
    assert len(calls) == 3 and slept == [1.0, 2.0]


def test_loop_does_not_retry_permanent_errors():
    slept: list[float] = []
    calls = []

    def not_found():
        calls.append(1)
        raise _http_error(404, "notFound")

    with pytest.raises(HttpError):
        call_with_retry(not_found, RetryPolicy(sleep=slept.append))
    assert calls == [1] and slept == []


def test_500_calls_survive_30_percent_503s_and_5_percent_dropped_connections(sandbox):
    """Plain and batched calls through the real client all succeed; the sandbox saw the faults."""
    # With 30% 503s and 5% drops a call fails one attempt about 1 time in 3; twelve attempts
    # leave a chance of about 0.335**12 = 2e-6 per call. The seed makes the run repeatable.
    policy = RetryPolicy(max_attempts=12, base_delay=0.001, max_delay=0.01)
    client = connect(ConnectionOptions(endpoint=sandbox.url), scopes.READ, policy=policy)
    users = client.users()
    sandbox.control.reset_counters()
    sandbox.control.set_faults(rate_503=0.3, drop=0.05, seed=1)
    started = time.monotonic()

    plain = []
    for n in range(200):
        request = [
            users.labels().get(userId="me", id="INBOX"),
            users.labels().list(userId="me"),
            users.getProfile(userId="me"),
        ][n % 3]
        plain.append(client.execute(request, "fault run"))
    batched = client.execute_batch(
        [users.labels().get(userId="me", id=["INBOX", "SENT", "TRASH"][n % 3]) for n in range(300)], "fault run"
    )

    elapsed = time.monotonic() - started
    sandbox.control.clear_faults()
    counters = sandbox.control.counters()
    assert all(isinstance(result, dict) for result in plain + batched)
    assert [batched[n]["id"] for n in range(3)] == ["INBOX", "SENT", "TRASH"]
    assert counters["faults"]["503"] > 100 and counters["faults"]["drop"] > 0
    assert counters["total_calls"] > 500  # retries reached the server
    assert client.stats.retries > 0 and client.stats.batch_parts_resent > 0
    assert client.stats.batches >= 6
    assert elapsed < 20
