"""Client-side quota pacing: spend Gmail's per-user quota at its rate instead of bouncing off 429s.

Gmail meters every user in quota units per method (gmaildesk.gmail.costs) and answers 429
rateLimitExceeded once a user goes over the limit; a retry then waits a second or more, so a
long sweep that only relies on retries runs in bursts and stalls. `QuotaPacer` is a token
bucket on our side with the same rate: before each call (and each batch, charged the sum of
its parts) GmailClient asks it, and it sleeps until the units are there. It never fails a
call, only delays it; 429 retries stay as the safety net (another client sharing the user's
quota, a clock skew, a stricter limit than configured).

The bucket holds `burst_s` seconds of units (default one second: Gmail's limit is a moving
average that allows short bursts, and one second is the smallest burst every generation of
the limit allowed). A batch is kept within that burst by GmailClient: Gmail charges a batch
part by part, so a batch worth more than the burst would be partly refused however long we
waited before sending it.
"""

from __future__ import annotations

import math
import os
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from gmaildesk.errors import ExitCode, GmailDeskError
from gmaildesk.gmail.costs import units as default_cost

__all__ = ["QuotaPacer", "GMAIL_UNITS_PER_SECOND", "QUOTA_RATE_ENV", "method_id", "parse_rate", "pacer_for"]

# Gmail's per-user limit today: 6,000 quota units per minute per user = 100 units/s
# (developers.google.com/workspace/gmail/api/reference/quota, "Per user rate limit";
# see ../shared/reference/gmail-api.md §A1-A2). The oldest generation was 250 units/s.
GMAIL_UNITS_PER_SECOND = 6000 / 60
QUOTA_RATE_ENV = "GMAILDESK_QUOTA_RATE"
# The pacer spends at most this share of the limit. Gmail (and the sandbox) charge a call when
# it arrives, we when we send it; with a bucket exactly as large and fast as theirs, a call
# that happens to arrive a few ms sooner than the previous one finds their bucket a fraction
# of a unit short and draws a 429. 3% of slack absorbs ~30 ms of jitter per second of quota.
SAFETY = 0.97
_OFF = ("0", "off", "none", "no", "false")


def method_id(request: Any) -> str:
    """The discovery method id of a googleapiclient HttpRequest ("gmail.users.threads.get")."""
    return getattr(request, "methodId", None) or ""


class QuotaPacer:
    """A token bucket of quota units: `wait_for(units)` sleeps until they are available, then spends them.

    `units_per_second` is the limit; the bucket refills at `safety` times that and holds
    `burst_s` seconds of it. `cost_of(method_id)` gives the units of one call; inject `clock`
    and `sleep` in tests.
    """

    def __init__(
        self,
        units_per_second: float,
        cost_of: Callable[[str], int] = default_cost,
        *,
        burst_s: float = 1.0,
        safety: float = SAFETY,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if not units_per_second or units_per_second <= 0 or not math.isfinite(units_per_second):
            raise ValueError(f"quota rate must be a positive number of units per second, not {units_per_second!r}")
        if not 0 < safety <= 1:
            raise ValueError(f"safety must be in (0, 1], not {safety!r}")
        self.limit = float(units_per_second)
        self.rate = self.limit * safety
        self.capacity = self.rate * burst_s
        self.cost_of = cost_of
        self._clock = clock
        self._sleep = sleep
        self._tokens = self.capacity
        self._last: float | None = None
        self._lock = threading.Lock()
        self.waits = 0  # times a call had to wait
        self.waited_s = 0.0  # total time spent waiting
        self.units = 0  # units spent through the pacer

    def cost(self, requests: Iterable[Any]) -> int:
        """Units of the given HttpRequests together (a batch is charged part by part)."""
        return sum(self.cost_of(method_id(r)) for r in requests)

    def wait_for(self, units: float) -> float:
        """Block until `units` can be spent, spend them; the seconds waited.

        A charge above the bucket's capacity (one call dearer than the burst) waits for a full
        bucket and then runs into debt, which later calls wait off: the average rate holds.
        """
        waited = 0.0
        with self._lock:
            while True:
                now = self._clock()
                if self._last is not None:
                    self._tokens = min(self.capacity, self._tokens + (now - self._last) * self.rate)
                self._last = now
                need = min(units, self.capacity)
                if self._tokens >= need - 1e-9:
                    self._tokens -= units
                    self.units += int(units)
                    break
                delay = (need - self._tokens) / self.rate
                self._sleep(delay)
                waited += delay
            if waited:
                self.waits += 1
                self.waited_s += waited
        return waited

    def pace(self, requests: Iterable[Any]) -> float:
        return self.wait_for(self.cost(requests))

    def describe(self) -> dict[str, Any]:
        return {
            "units_per_second": self.limit,
            "paced_at": self.rate,
            "burst_units": self.capacity,
            "waits": self.waits,
            "waited_s": round(self.waited_s, 3),
            "units": self.units,
        }


def parse_rate(value: str | float | None, what: str = QUOTA_RATE_ENV) -> float | None:
    """A rate from text: units per second, or "6000/min"; 0 / off -> 0 (no pacing); None -> None."""
    if value is None:
        return None
    if isinstance(value, (int, float)):
        return float(value)
    text = value.strip().lower()
    if not text:
        return None
    if text in _OFF:
        return 0.0
    per = 1.0
    for suffix, seconds in (("/min", 60.0), ("/m", 60.0), ("/s", 1.0)):
        if text.endswith(suffix):
            text, per = text[: -len(suffix)].strip(), seconds
            break
    try:
        rate = float(text) / per
    except ValueError:
        rate = -1.0
    if rate < 0 or not math.isfinite(rate):
        raise GmailDeskError(
            f"{what}={value!r} is not a quota rate",
            ["Give quota units per second (100), per minute (6000/min), or 0 to turn pacing off."],
            ExitCode.USAGE,
        )
    return rate


def pacer_for(
    rate: float | None,
    endpoint: str | None,
    environ: Mapping[str, str] | None = None,
    cost_of: Callable[[str], int] = default_cost,
) -> QuotaPacer | None:
    """The pacer a connection gets: explicit rate, else $GMAILDESK_QUOTA_RATE, else Gmail's limit
    for Gmail itself and none for a sandbox (which enforces no quota unless told to). 0 = none."""
    if rate is None:
        env = os.environ if environ is None else environ
        rate = parse_rate(env.get(QUOTA_RATE_ENV))
    if rate is None:
        rate = GMAIL_UNITS_PER_SECOND if endpoint is None else 0.0
    return QuotaPacer(rate, cost_of) if rate > 0 else None
