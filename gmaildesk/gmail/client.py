"""GmailClient: run googleapiclient requests with gmaildesk's retries, batching and errors."""

from __future__ import annotations

import urllib.parse
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field, fields
from ipaddress import ip_address
from typing import TYPE_CHECKING, Any

from googleapiclient.http import BatchHttpRequest, HttpRequest

from gmaildesk.errors import ExitCode, GmailDeskError
from gmaildesk.gmail.costs import DEFAULT_TABLE, CostTable
from gmaildesk.gmail.errors import translate
from gmaildesk.gmail.pacing import DailyQuotaExceeded, QuotaPacer, method_id
from gmaildesk.gmail.retry import (
    FORBIDDEN,
    RATE_LIMIT_REASONS,
    TOO_MANY_REQUESTS,
    RetryPolicy,
    call_with_retry,
    failure_signal,
    is_retryable,
)

if TYPE_CHECKING:
    from gmaildesk.paths import Account

# Gmail accepts 100 calls per batch but recommends at most 50: larger batches draw
# "Too many concurrent requests for user" 429s (Gmail batch guide).
MAX_BATCH_CALLS = 50

_UNSET = object()  # a slot not answered yet (a successful answer may be None or "")

# Whole-batch failures after which no call can succeed until the user acts: raise them.
_FATAL_EXIT_CODES = frozenset({ExitCode.AUTH, ExitCode.USAGE})


@dataclass
class CallStats:
    """What a client did, for --json summaries."""

    calls: int = 0  # API calls sent, each batch part and each attempt counted
    retries: int = 0  # waits before sending again (plain retries and batch rounds)
    batches: int = 0  # batch POSTs sent
    batch_parts_resent: int = 0
    paced_waits: int = 0  # times the quota pacer held a call or batch back
    paced_s: float = 0.0  # seconds spent waiting for quota
    rate_limited: int = 0  # answers refused for quota (429, or 403 rate-limit reasons), each part counted
    # Logical calls per discovery method ("users.threads.get"), each once whatever its retries.
    by_method: Counter[str] = field(default_factory=Counter)

    def as_dict(self) -> dict[str, int | float]:
        return {f.name: getattr(self, f.name) for f in fields(self) if f.name != "by_method"}

    def count(self, requests: Sequence[HttpRequest]) -> None:
        self.by_method.update(method_id(r).removeprefix("gmail.") for r in requests)


class GmailClient:
    """A Gmail service plus the policy to run its requests; `user_id` is "me" for every mode."""

    def __init__(
        self,
        service: Any,
        batch_uri: str,
        http: Any,
        policy: RetryPolicy | None = None,
        user_id: str = "me",
        pacer: QuotaPacer | None = None,
    ):
        self.service = service
        self.batch_uri = batch_uri
        self.http = http
        self.policy = policy or RetryPolicy()
        self.user_id = user_id
        self.stats = CallStats()
        self.loopback = is_loopback_url(batch_uri)
        # Consulted before every call and every batch POST (retries included); None: no pacing.
        self.pacer = pacer
        self.endpoint: str | None = None  # the sandbox base URL, None for Gmail (set by connection.py)
        self.costs: CostTable = DEFAULT_TABLE  # the quota cost table the project is on (set by connection.py)

    def account(self) -> Account:
        """The account this connection really reaches (users.getProfile, 1 unit) on its endpoint."""
        from gmaildesk.paths import Account

        profile = self.execute(self.users().getProfile(userId=self.user_id), "reading the profile")
        return Account(self.endpoint, str(profile["emailAddress"]).lower())

    def users(self) -> Any:
        """The `users()` resource, the root of every Gmail call."""
        return self.service.users()

    def execute(self, request: HttpRequest, what: str = "") -> Any:
        """Run one request with retries; raise GmailDeskError once it fails for good."""
        attempts = 0
        self.stats.count([request])

        def attempt() -> Any:
            nonlocal attempts
            attempts += 1
            self._pace([request])
            self.stats.calls += 1
            try:
                return request.execute(num_retries=0)  # the policy retries, not the library
            except Exception as error:
                self._note_refusal(error)
                raise

        try:
            return call_with_retry(attempt, self.policy, on_retry=self._count_retry)
        except DailyQuotaExceeded:
            raise  # its own message says it all; nothing was sent
        except Exception as error:
            translated = translate(error, what, loopback=self.loopback, attempts=attempts)
            if translated is None:
                raise
            raise translated from error

    def execute_batch(self, requests: Sequence[HttpRequest], what: str = "") -> list[Any]:
        """Run requests in batches of at most MAX_BATCH_CALLS; results in input order.

        A call that fails for good is returned as a GmailDeskError in its slot: the caller
        decides. If a whole batch POST fails for good, its unanswered calls and every later
        one get that error, unsent; when that error is about credentials (AUTH, USAGE) it is
        raised instead, since no call can succeed until the user acts.
        """
        results: list[Any] = [_UNSET] * len(requests)
        self.stats.count(requests)
        for indexes in self._chunks(requests):
            failure = self._run_chunk(requests, indexes, results, what)
            if failure is not None:
                results = [failure if result is _UNSET else result for result in results]
                break
        return results

    def _chunks(self, requests: Sequence[HttpRequest]) -> list[list[int]]:
        """Indexes in batches of at most MAX_BATCH_CALLS and, when paced, at most the pacer's burst
        in units (Gmail charges a batch part by part: parts beyond the burst would draw 429s)."""
        limit = self.pacer.capacity if self.pacer is not None else float("inf")
        chunks: list[list[int]] = []
        current: list[int] = []
        units = 0.0
        for index, request in enumerate(requests):
            cost = self.pacer.cost([request]) if self.pacer is not None else 0
            if current and (len(current) >= MAX_BATCH_CALLS or units + cost > limit):
                chunks.append(current)
                current, units = [], 0.0
            current.append(index)
            units += cost
        if current:
            chunks.append(current)
        return chunks

    def _pace(self, requests: Sequence[HttpRequest]) -> None:
        if self.pacer is None:
            return
        waited = self.pacer.pace(requests)
        if waited:
            self.stats.paced_waits += 1
            self.stats.paced_s += waited

    def _run_chunk(
        self, requests: Sequence[HttpRequest], indexes: list[int], results: list[Any], what: str
    ) -> GmailDeskError | None:
        """Send one chunk, re-batching retryable failures; the error if the whole POST failed for good."""
        pending = indexes
        attempt = 1
        while True:
            try:
                outcomes = self._post_batch(requests, pending)
            except DailyQuotaExceeded:
                raise  # no later call may be sent today: stop the run, not just this batch
            except Exception as error:
                self._note_refusal(error)
                signal = failure_signal(error)
                if signal is not None and is_retryable(*signal) and attempt < self.policy.max_attempts:
                    self._back_off(attempt, error)
                    self.stats.batch_parts_resent += len(pending)
                    attempt += 1
                    continue
                translated = translate(
                    error, _batch_context(what, len(pending)), loopback=self.loopback, attempts=attempt
                )
                if translated is None:
                    raise
                if translated.exit_code in _FATAL_EXIT_CODES:
                    raise translated from error
                return translated
            retry_later = []
            for index in pending:
                response, failure = outcomes[index]
                if failure is None:
                    results[index] = response
                    continue
                self._note_refusal(failure)
                signal = failure_signal(failure)
                if signal is not None and is_retryable(*signal) and attempt < self.policy.max_attempts:
                    retry_later.append(index)
                    continue
                translated = translate(failure, what, loopback=self.loopback, attempts=attempt)
                if translated is None:
                    raise failure
                results[index] = translated
            if not retry_later:
                return None
            self._back_off(attempt, outcomes[retry_later[0]][1])
            self.stats.batch_parts_resent += len(retry_later)
            pending = retry_later
            attempt += 1

    def _post_batch(self, requests: Sequence[HttpRequest], indexes: list[int]) -> dict[int, tuple[Any, Any]]:
        outcomes: dict[int, tuple[Any, Any]] = {}

        def collect(request_id: str, response: Any, error: Exception | None) -> None:
            outcomes[int(request_id)] = (response, error)

        # Built here with an explicit URI: service.new_batch_http_request() ignores the
        # api_endpoint client option and would post to Google (googleapis/google-api-python-client#1107).
        batch = BatchHttpRequest(callback=collect, batch_uri=self.batch_uri)
        for index in indexes:
            # The same HttpRequest may be added to a new batch after a failed round: the batch
            # only serializes it (copying its headers) and runs its postproc on the answer.
            batch.add(requests[index], request_id=str(index))
        self._pace([requests[index] for index in indexes])
        self.stats.batches += 1
        self.stats.calls += len(indexes)
        batch.execute(http=self.http)
        return outcomes

    def _back_off(self, attempt: int, error: BaseException) -> None:
        delay = self.policy.delay(attempt)
        self._count_retry(attempt, error, delay)
        self.policy.sleep(delay)

    def _count_retry(self, attempt: int, error: BaseException, delay: float) -> None:
        self.stats.retries += 1

    def _note_refusal(self, error: BaseException) -> None:
        """Count an answer refused for quota: the pacer's safety net at work."""
        signal = failure_signal(error)
        if signal is not None and (
            signal[0] == TOO_MANY_REQUESTS or (signal[0] == FORBIDDEN and signal[1] in RATE_LIMIT_REASONS)
        ):
            self.stats.rate_limited += 1


def _batch_context(what: str, size: int) -> str:
    return f"{what} (batch of {size} calls)" if what else f"batch of {size} calls"


def is_loopback_url(uri: str | None) -> bool:
    """True for URLs on 127.0.0.0/8, ::1 or localhost: a sandbox, never Google."""
    host = urllib.parse.urlsplit(uri or "").hostname or ""
    if host == "localhost":
        return True
    try:
        return ip_address(host).is_loopback
    except ValueError:
        return False
