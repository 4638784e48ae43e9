"""When to retry a Gmail call (the decision) and how (the backoff loop), kept apart.

googleapiclient retries plain calls only when asked (`num_retries`), never honours
Retry-After, and never retries inside a batch; gmaildesk always passes num_retries=0 and
retries with this policy instead, so plain and batched calls back off the same way.
"""

from __future__ import annotations

import http.client
import random
import ssl
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TypeVar

from google.auth.exceptions import TransportError
from googleapiclient.errors import HttpError

TOO_MANY_REQUESTS = 429
FORBIDDEN = 403
SERVER_ERROR_MIN = 500

# 403 reasons Google documents as "use exponential backoff" (handle-errors guide); any other
# 403 (forbidden, insufficientPermissions, domainPolicy, dailyLimitExceeded) will not heal.
RATE_LIMIT_REASONS = frozenset({"rateLimitExceeded", "userRateLimitExceeded"})

# Transport failures worth another try: the server dropped or reset the connection, sent a
# truncated or garbled answer, or did not answer in time. Deliberately left out:
# - ConnectionRefusedError: nothing listens there. For a loopback endpoint that means the
#   sandbox is not running, and retrying only delays the hint that says so.
# - httplib2.ServerNotFoundError (DNS): the machine is offline or the name is wrong; the
#   next attempt seconds later will not differ, so fail fast.
# - ssl.SSLCertVerificationError: a certificate problem is configuration, not weather.
TRANSIENT_CONNECTION_ERRORS: tuple[type[BaseException], ...] = (
    ConnectionError,  # incl. RemoteDisconnected, ConnectionResetError, BrokenPipeError
    TimeoutError,  # socket.timeout is an alias since Python 3.10
    http.client.IncompleteRead,
    http.client.BadStatusLine,
    ssl.SSLError,
)
PERMANENT_CONNECTION_ERRORS: tuple[type[BaseException], ...] = (
    ConnectionRefusedError,
    ssl.SSLCertVerificationError,
)


def is_retryable(status: int | None, reason: str | None) -> bool:
    """Whether a failed call may succeed if sent again; status None means a transport failure."""
    if status is None:
        return True
    if status == TOO_MANY_REQUESTS or status >= SERVER_ERROR_MIN:
        return True
    return status == FORBIDDEN and reason in RATE_LIMIT_REASONS


def error_reason(error: HttpError) -> str | None:
    """The `errors[0].reason` of a Google JSON error body (e.g. rateLimitExceeded), if any."""
    details = error.error_details
    if isinstance(details, list) and details and isinstance(details[0], dict):
        reason = details[0].get("reason")
        return reason if isinstance(reason, str) else None
    return None


def failure_signal(error: BaseException) -> tuple[int | None, str | None] | None:
    """(status, reason) for is_retryable, or None when the error is not a call failure we retry."""
    if isinstance(error, HttpError):
        return error.status_code, error_reason(error)
    if isinstance(error, TransportError) and error.args and isinstance(error.args[0], BaseException):
        # google-auth wraps transport failures of a token refresh; judge the wrapped one.
        return failure_signal(error.args[0])
    if isinstance(error, PERMANENT_CONNECTION_ERRORS):
        return None
    if isinstance(error, TRANSIENT_CONNECTION_ERRORS):
        return None, None
    return None


def should_retry(error: BaseException) -> bool:
    signal = failure_signal(error)
    return signal is not None and is_retryable(*signal)


@dataclass
class RetryPolicy:
    """Capped exponential backoff with jitter; inject `sleep` and `rand` in tests.

    The wait before retry n (n = 1, 2, ...) is base_delay * 2**(n-1) plus up to one
    base_delay of jitter, capped at max_delay: about 1-2 s, 2-3 s, 4-5 s ... with the
    defaults, which follows Google's advice (start at least one second after the error,
    then double, add random milliseconds).
    """

    max_attempts: int = 7
    base_delay: float = 1.0
    max_delay: float = 32.0
    sleep: Callable[[float], None] = field(default=time.sleep, repr=False)
    rand: Callable[[], float] = field(default=random.random, repr=False)

    def delay(self, retry_number: int) -> float:
        """Seconds to wait before retry number `retry_number` (1 for the first retry)."""
        backoff = self.base_delay * 2.0 ** (retry_number - 1)
        return min(self.max_delay, backoff + self.rand() * self.base_delay)


T = TypeVar("T")
RetryHook = Callable[[int, BaseException, float], None]


def call_with_retry(fn: Callable[[], T], policy: RetryPolicy, on_retry: RetryHook | None = None) -> T:
    """Call `fn` until it succeeds, fails for good, or uses up the policy's attempts.

    `on_retry(retry_number, error, delay)` runs before each wait. The last error is
    re-raised unchanged; translating it for the user is the caller's business.
    """
    attempt = 1
    while True:
        try:
            return fn()
        except Exception as error:
            if attempt >= policy.max_attempts or not should_retry(error):
                raise
            delay = policy.delay(attempt)
            if on_retry is not None:
                on_retry(attempt, error, delay)
            policy.sleep(delay)
            attempt += 1
