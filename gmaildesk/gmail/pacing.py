"""Client-side quota pacing: spend Gmail's quota at its rate instead of bouncing off 429s.

Gmail meters quota units per method (gmaildesk.gmail.costs) against two per-minute limits, per
user and per Cloud project, and a per-project daily threshold (Gmail's quota page,
developers.google.com/workspace/gmail/api/reference/quota: 6,000 units/min per user and
1,200,000 units/min per project for projects created from May 2026, 15,000/min per user before;
80,000,000 units/day per project). Over a per-minute limit it answers 429; a retry then waits
a second or more, so a sweep that only relied on retries would run in bursts and stall.

`QuotaPacer` (one per mailbox) models the per-user limit on our side, before each call (and
each batch, charged the sum of its parts):
  * a minute's window: at most the minute's budget in ANY 60 s. Google Cloud enforces rate
    quotas "at a per-minute (60 second) interval" (cloud.google.com/compute/api-quota, Cloud's
    description of rate quotas); keeping every sliding minute under the limit is safe whatever
    the server's window alignment;
  * a burst: a token bucket refilling at the minute's rate and holding DEFAULT_BURST_S seconds
    of it, so a fresh pacer does not spend the whole minute at once. 20 s is 2,000 units at
    6,000/min: one batch of 50 threads.get (the batch guide's recommended maximum of 50 calls,
    at the dearest read, 40 units). Gmail answers bursts beyond that with "Too many concurrent
    requests for user" 429s (handle-errors guide); the batch guide calls >50 calls too many.
`ProjectBudget` (shared by every mailbox of one run, thread-safe) is the per-project minute and
the daily guard: a call that would pass `daily_units` today (midnight Pacific, when Google's
daily quotas reset) raises DailyQuotaExceeded instead of being sent.

Pacing never fails a call within the limits, only delays it; 429 retries stay as the safety net
(another client on the same quota, clock skew, a stricter limit than configured).
"""

from __future__ import annotations

import datetime as dt
import math
import os
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Mapping
from typing import Any
from zoneinfo import ZoneInfo

from gmaildesk.errors import ExitCode, GmailDeskError
from gmaildesk.gmail.costs import DEFAULT_TABLE, CostTable, cost_function

__all__ = [
    "DailyQuotaExceeded",
    "ProjectBudget",
    "QuotaPacer",
    "GMAIL_UNITS_PER_MINUTE",
    "GMAIL_UNITS_PER_SECOND",
    "LEGACY_UNITS_PER_MINUTE",
    "PROJECT_UNITS_PER_MINUTE",
    "PROJECT_DAILY_UNITS",
    "QUOTA_RATE_ENV",
    "QUOTA_COSTS_ENV",
    "method_id",
    "per_user_limit",
    "parse_rate",
    "pacer_for",
]

# Gmail's quota page (see the module docstring; ../shared/reference/gmail-api.md §A1).
GMAIL_UNITS_PER_MINUTE = 6_000  # per user, projects created from 2026-05-01
LEGACY_UNITS_PER_MINUTE = 15_000  # per user, projects that used the API before
GMAIL_UNITS_PER_SECOND = GMAIL_UNITS_PER_MINUTE / 60
PROJECT_UNITS_PER_MINUTE = 1_200_000
PROJECT_DAILY_UNITS = 80_000_000  # "daily billing threshold", cannot be increased
WINDOW_S = 60.0
DEFAULT_BURST_S = 20.0
# Google's daily quotas reset at midnight Pacific time (cloud.google.com/docs/quotas/overview).
QUOTA_DAY_ZONE = ZoneInfo("America/Los_Angeles")
QUOTA_RATE_ENV = "GMAILDESK_QUOTA_RATE"
QUOTA_COSTS_ENV = "GMAILDESK_QUOTA_COSTS"
# Gmail (and the sandbox) charge a call when it arrives, we when we send it: with limits exactly
# as tight as theirs, a call that arrives a few ms later or sooner than we reckoned finds theirs
# a fraction short and draws a 429. So the bucket refills at 97% of the rate, and our minute is
# a second longer than theirs (its limit whole: batches are charged in coarse steps, and 97% of
# 6,000 would fit two batches of 2,000 a minute, not three).
SAFETY = 0.97
WINDOW_GUARD_S = 1.0
_EPSILON = 1e-9
_OFF = ("0", "off", "none", "no", "false")


def per_user_limit(costs: CostTable) -> int:
    """Gmail's units per minute per user for projects on the cost table *costs* (the quota page)."""
    return LEGACY_UNITS_PER_MINUTE if costs == "legacy" else GMAIL_UNITS_PER_MINUTE


def method_id(request: Any) -> str:
    """The discovery method id of a googleapiclient HttpRequest ("gmail.users.threads.get")."""
    return getattr(request, "methodId", None) or ""


class DailyQuotaExceeded(GmailDeskError):
    """The next call would take the project past its daily units: stop rather than be refused."""


class _Window:
    """Units spent in the last `span` seconds, and how long until `units` more fit under `limit`."""

    def __init__(self, limit: float, span: float = WINDOW_S + WINDOW_GUARD_S) -> None:
        self.limit = limit
        self.span = span
        self._spent: deque[tuple[float, float]] = deque()
        self._total = 0.0

    def _expire(self, now: float) -> None:
        while self._spent and self._spent[0][0] <= now - self.span:
            self._total -= self._spent.popleft()[1]

    def delay(self, now: float, units: float) -> float:
        """Seconds until `units` fit. A charge above the whole limit waits for an empty window."""
        self._expire(now)
        excess = self._total + min(units, self.limit) - self.limit
        if excess <= _EPSILON:
            return 0.0
        for at, spent in self._spent:
            excess -= spent
            if excess <= _EPSILON:
                return at + self.span - now
        return self.span  # unreachable: the window's own total covers any excess

    def spend(self, now: float, units: float) -> None:
        self._spent.append((now, units))
        self._total += units


class _Bucket:
    """A token bucket: refills `rate` units/s up to `capacity`; a charge above it runs into debt."""

    def __init__(self, rate: float, capacity: float) -> None:
        self.rate = rate
        self.capacity = capacity
        self._tokens = capacity
        self._last: float | None = None

    def _refill(self, now: float) -> None:
        if self._last is not None:
            self._tokens = min(self.capacity, self._tokens + (now - self._last) * self.rate)
        self._last = now

    def delay(self, now: float, units: float) -> float:
        self._refill(now)
        need = min(units, self.capacity)
        return 0.0 if self._tokens >= need - _EPSILON else (need - self._tokens) / self.rate

    def spend(self, now: float, units: float) -> None:
        self._refill(now)
        self._tokens -= units


def _positive(value: float, what: str) -> float:
    if isinstance(value, bool) or not value or value <= 0 or not math.isfinite(value):
        raise ValueError(f"{what} must be a positive number, not {value!r}")
    return float(value)


class ProjectBudget:
    """One Cloud project's quota, shared by every mailbox (and thread) of a run: the per-minute
    limit and the daily guard. Several QuotaPacers draw from one budget; it is thread-safe."""

    def __init__(
        self,
        units_per_minute: float = PROJECT_UNITS_PER_MINUTE,
        daily_units: float = PROJECT_DAILY_UNITS,
        *,
        clock: Callable[[], float] = time.monotonic,
        today: Callable[[], dt.date] | None = None,
    ) -> None:
        self.units_per_minute = _positive(units_per_minute, "project units per minute")
        self.daily_units = _positive(daily_units, "daily units")
        self._window = _Window(self.units_per_minute)
        self._clock = clock
        self._today = today or (lambda: dt.datetime.now(QUOTA_DAY_ZONE).date())
        self._day = self._today()
        self._lock = threading.Lock()
        self.units_today = 0.0  # units this run spent since the quota day began
        self.units = 0.0  # units spent through the budget

    def claim(self, units: float) -> float:
        """Spend `units` if the project's minute has room now (0.0), else the seconds to wait;
        raise DailyQuotaExceeded, spending nothing, when they would pass the day's units."""
        with self._lock:
            day = self._today()
            if day != self._day:
                self._day, self.units_today = day, 0.0
            if self.units_today + units > self.daily_units:
                raise DailyQuotaExceeded(
                    f"stopped before the project's daily quota: {self.units_today:,.0f} units spent today, "
                    f"the next call needs {units:,.0f} of the {self.daily_units:,.0f} allowed",
                    [
                        "Google resets daily quotas at midnight Pacific time; the next run after it goes on.",
                        "The limit is sweep.quota.daily_units in desk.yaml.",
                    ],
                    ExitCode.QUOTA,
                )
            now = self._clock()
            delay = self._window.delay(now, units)
            if delay > _EPSILON:
                return delay
            self._window.spend(now, units)
            self.units_today += units
            self.units += units
            return 0.0

    def describe(self) -> dict[str, Any]:
        return {
            "units_per_minute": self.units_per_minute,
            "daily_units": self.daily_units,
            "units_today": int(self.units_today),
        }


class QuotaPacer:
    """One mailbox's per-user limit: `wait_for(units)` sleeps until they are available, then spends them.

    `units_per_second` is the limit (the per-minute limit / 60); the pacer keeps every 61-s
    window within the minute's budget and smooths it with a bucket of `burst_s` seconds
    refilling at `safety` times the rate. `cost_of(method_id)` gives the units of one call;
    `project`, when given, is drawn from too. Inject `clock` and `sleep` in tests (the
    project budget's clock must be the same).
    """

    def __init__(
        self,
        units_per_second: float,
        cost_of: Callable[[str], int] | None = None,
        *,
        burst_s: float = DEFAULT_BURST_S,
        safety: float = SAFETY,
        project: ProjectBudget | None = None,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if not units_per_second or units_per_second <= 0 or not math.isfinite(units_per_second):
            raise ValueError(f"quota rate must be a positive number of units per second, not {units_per_second!r}")
        if not 0 < safety <= 1:
            raise ValueError(f"safety must be in (0, 1], not {safety!r}")
        self.limit = float(units_per_second)
        self.rate = self.limit * safety
        self.minute = self.limit * WINDOW_S  # the most the pacer spends in any 61 s
        # The most one charge (one batch) may carry: parts beyond it would meet an exhausted limit.
        self.capacity = min(self.limit * _positive(burst_s, "burst_s"), self.minute)
        self.cost_of = cost_of or cost_function(DEFAULT_TABLE)
        self.project = project
        self._window = _Window(self.minute)
        self._bucket = _Bucket(self.rate, self.capacity)
        self._clock = clock
        self._sleep = sleep
        self._lock = threading.Lock()
        self.waits = 0  # times a call had to wait
        self.waited_s = 0.0  # total time spent waiting
        self.units = 0  # units spent through the pacer

    def cost(self, requests: Iterable[Any]) -> int:
        """Units of the given HttpRequests together (a batch is charged part by part)."""
        return sum(self.cost_of(method_id(r)) for r in requests)

    def wait_for(self, units: float) -> float:
        """Block until `units` can be spent here and in the project, spend them; the seconds waited.

        A charge above the burst waits for a full bucket and then runs into debt, which later
        calls wait off: the average rate holds. Raises DailyQuotaExceeded (nothing spent) when
        the project's day has no room for it.
        """
        waited = 0.0
        with self._lock:
            while True:
                now = self._clock()
                delay = max(self._bucket.delay(now, units), self._window.delay(now, units))
                if delay <= _EPSILON and self.project is not None:
                    delay = self.project.claim(units)
                if delay <= _EPSILON:
                    self._bucket.spend(now, units)
                    self._window.spend(now, units)
                    self.units += int(units)
                    break
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
    cost_of: Callable[[str], int] | None = None,
    *,
    project: ProjectBudget | None = None,
) -> QuotaPacer | None:
    """The pacer a connection gets: explicit rate, else $GMAILDESK_QUOTA_RATE, else Gmail's limit
    for Gmail itself and none for a sandbox (which enforces no quota unless told to). 0 = none."""
    if rate is None:
        env = os.environ if environ is None else environ
        rate = parse_rate(env.get(QUOTA_RATE_ENV))
    if rate is None:
        rate = GMAIL_UNITS_PER_SECOND if endpoint is None else 0.0
    return QuotaPacer(rate, cost_of, project=project) if rate > 0 else None
