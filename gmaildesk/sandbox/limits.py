"""Quota, fault injection and call counters: the sandbox's imitation of Gmail's limits."""

from __future__ import annotations

import math
import random
import threading
import time
from collections import defaultdict, deque
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

from gmaildesk.sandbox.errors import ApiError

# Quota units per method from Gmail's quota page. "current" is the table in force for Cloud
# projects created from 1 May 2026 (body reads cost more); "legacy" is the earlier table.
_LEGACY_COSTS = {
    "gmail.users.getProfile": 1,
    "gmail.users.history.list": 2,
    "gmail.users.labels.create": 5,
    "gmail.users.labels.delete": 5,
    "gmail.users.labels.update": 5,
    "gmail.users.labels.patch": 5,
    "gmail.users.labels.get": 1,
    "gmail.users.labels.list": 1,
    "gmail.users.messages.list": 5,
    "gmail.users.messages.get": 5,
    "gmail.users.messages.modify": 5,
    "gmail.users.messages.batchModify": 50,
    "gmail.users.messages.batchDelete": 50,
    "gmail.users.messages.insert": 25,
    "gmail.users.messages.import": 25,
    "gmail.users.messages.send": 100,
    "gmail.users.messages.delete": 10,
    "gmail.users.messages.trash": 5,
    "gmail.users.messages.untrash": 5,
    "gmail.users.messages.attachments.get": 5,
    "gmail.users.threads.list": 10,
    "gmail.users.threads.get": 10,
    "gmail.users.threads.modify": 10,
    "gmail.users.threads.trash": 10,
    "gmail.users.threads.untrash": 10,
    "gmail.users.threads.delete": 20,
    "gmail.users.drafts.create": 10,
    "gmail.users.drafts.delete": 10,
    "gmail.users.drafts.get": 5,
    "gmail.users.drafts.list": 5,
    "gmail.users.drafts.send": 100,
    "gmail.users.drafts.update": 15,
    "gmail.users.settings.filters.create": 5,
    "gmail.users.settings.filters.delete": 5,
    "gmail.users.settings.filters.get": 1,
    "gmail.users.settings.filters.list": 1,
    "gmail.users.settings.getVacation": 1,
    "gmail.users.settings.updateVacation": 5,
    "gmail.users.settings.getAutoForwarding": 1,
    "gmail.users.settings.updateAutoForwarding": 5,
    "gmail.users.settings.sendAs.list": 1,
    "gmail.users.settings.sendAs.get": 1,
    "gmail.users.settings.sendAs.create": 100,
    "gmail.users.settings.sendAs.update": 100,
    "gmail.users.settings.sendAs.patch": 100,
    "gmail.users.settings.sendAs.verify": 100,
    "gmail.users.settings.sendAs.delete": 5,
    "gmail.users.settings.forwardingAddresses.list": 1,
    "gmail.users.settings.forwardingAddresses.get": 1,
    "gmail.users.settings.forwardingAddresses.create": 100,
    "gmail.users.settings.forwardingAddresses.delete": 5,
}
_CURRENT_COSTS = {
    **_LEGACY_COSTS,
    "gmail.users.messages.get": 20,
    "gmail.users.messages.trash": 20,
    "gmail.users.messages.attachments.get": 20,
    "gmail.users.drafts.get": 20,
    "gmail.users.threads.get": 40,
    "gmail.users.threads.trash": 20,
}
COST_TABLES = {"current": _CURRENT_COSTS, "legacy": _LEGACY_COSTS}
DEFAULT_COST = 5


def method_cost(method_id: str, table: str = "current") -> int:
    return COST_TABLES[table].get(method_id, DEFAULT_COST)


class QuotaGate:
    """Per-user limit: at most `units_per_second` x `window_s` units in ANY `window_s` seconds.

    Gmail's limit is "per minute per user" (quota page, developers.google.com/workspace/gmail/
    api/reference/quota) and Google Cloud enforces rate quotas over 60-second intervals
    (cloud.google.com/compute/api-quota). A sliding window is the strictest reading: it refuses
    whatever any alignment of the server's minute could refuse. window_s=1 models the oldest
    generation's per-second "moving average (allows short bursts)".
    """

    def __init__(
        self,
        units_per_second: float | None = None,
        table: str = "current",
        clock: Callable[[], float] = time.monotonic,
        window_s: float = 60.0,
    ) -> None:
        self.units_per_second = units_per_second
        self.table = table
        self.window_s = window_s
        self._clock = clock
        self._spent: dict[str, deque[tuple[float, int]]] = {}
        self._totals: dict[str, int] = {}
        self._lock = threading.Lock()

    def configure(
        self, units_per_second: float | None, table: str | None = None, window_s: float | None = None
    ) -> None:
        if table and table not in COST_TABLES:  # checked first: a refused call changes nothing
            raise ApiError(400, f"unknown cost table {table!r}; use one of {sorted(COST_TABLES)}")
        with self._lock:
            self.units_per_second = units_per_second
            if table:
                self.table = table
            if window_s:
                self.window_s = window_s
            self._spent.clear()
            self._totals.clear()

    def cost(self, method_id: str) -> int:
        return method_cost(method_id, self.table)

    def charge(self, user: str, units: int) -> None:
        rate = self.units_per_second
        if not rate:
            return
        with self._lock:
            now = self._clock()
            spent = self._spent.setdefault(user, deque())
            total = self._totals.get(user, 0)
            while spent and spent[0][0] <= now - self.window_s:
                total -= spent.popleft()[1]
            if total + units > rate * self.window_s + 1e-9:
                self._totals[user] = total
                raise ApiError(
                    429,
                    "Quota exceeded for quota metric 'Queries' and limit 'Queries per minute per user' "
                    "of service 'gmail.googleapis.com' for consumer 'project_number:sandbox'.",
                    "rateLimitExceeded",
                    domain="usageLimits",
                )
            spent.append((now, units))
            self._totals[user] = total + units

    def describe(self) -> dict[str, Any]:
        return {"units_per_second": self.units_per_second, "costs": self.table, "window_s": self.window_s}


@dataclass
class FaultConfig:
    rate_429: float = 0.0
    rate_500: float = 0.0
    rate_503: float = 0.0
    drop: float = 0.0
    latency_ms: float = 0.0
    # Eventual consistency: a message or thread that arrived less than this many seconds ago
    # (sandbox clock) answers 404 to messages.get/threads.get although list and history name it.
    # Gmail does this for a few seconds after delivery (byeokim/gmailpush#10: a ~3 s delay fixed it;
    # shared/reference/gmail-api.md, "Briefly inconsistent").
    fresh_not_found_s: float = 0.0
    seed: int | None = None


# Bounds on each fault setting: a value outside them is a 400, never a sandbox that stops answering.
_PROBABILITIES = ("rate_429", "rate_500", "rate_503", "drop")
MAX_LATENCY_MS = 60_000
MAX_FRESH_NOT_FOUND_S = 3600


def real_number(name: str, value: object, low: float, high: float) -> float:
    """A finite JSON number within [low, high]; anything else (NaN, 1e308, "5", true) is a 400."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise ApiError(400, f"{name} must be a finite number, not {value!r}")
    if not low <= value <= high:
        raise ApiError(400, f"{name} must be between {low:g} and {high:g}, not {value:g}")
    return value


class Faults:
    """Random failures per call: 429/500/503 answers, dropped connections, added latency, and
    fresh mail that get cannot see yet."""

    def __init__(self) -> None:
        self.config = FaultConfig()
        self._rng = random.Random()
        self._lock = threading.Lock()

    def configure(self, **settings: Any) -> FaultConfig:  # JSON values, checked below
        unknown = set(settings) - set(FaultConfig.__dataclass_fields__)
        if unknown:
            raise ApiError(400, f"unknown fault setting(s): {', '.join(sorted(unknown))}")
        config = FaultConfig(**settings)
        for name in _PROBABILITIES:
            real_number(f"fault {name} (a probability)", getattr(config, name), 0, 1)
        real_number("fault latency_ms", config.latency_ms, 0, MAX_LATENCY_MS)
        real_number("fault fresh_not_found_s", config.fresh_not_found_s, 0, MAX_FRESH_NOT_FOUND_S)
        seed = config.seed
        if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int) or abs(seed) >= 2**63):
            raise ApiError(400, f"fault seed must be an integer or null, not {seed!r}")
        with self._lock:
            self.config = config
            self._rng = random.Random(config.seed)
        return config

    def latency(self) -> float:
        return self.config.latency_ms / 1000.0

    def fresh_not_found_ms(self) -> int:
        return int(self.config.fresh_not_found_s * 1000)

    def roll_drop(self) -> bool:
        with self._lock:
            return self.config.drop > 0 and self._rng.random() < self.config.drop

    def roll_error(self) -> ApiError | None:
        with self._lock:
            c = self.config
            r = self._rng.random()
        if r < c.rate_429:
            return ApiError(429, "Too many concurrent requests for user", "rateLimitExceeded", domain="usageLimits")
        if r < c.rate_429 + c.rate_500:
            return ApiError(500, "Backend Error", "backendError")
        if r < c.rate_429 + c.rate_500 + c.rate_503:
            return ApiError(503, "The service is currently unavailable.", "backendError")
        return None

    def describe(self) -> dict[str, Any]:
        return asdict(self.config)


class Counters:
    """Calls, quota units, errors and injected faults per method; resettable."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.reset()

    def reset(self) -> None:
        with self._lock:
            self.calls: dict[str, int] = defaultdict(int)
            self.units: dict[str, int] = defaultdict(int)
            self.errors: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
            self.faults: dict[str, int] = defaultdict(int)
            self.validated: dict[str, int] = defaultdict(int)
            self.violations: list[dict[str, Any]] = []
            self.http_requests = 0
            self.batches = 0

    def record_call(self, method_id: str, units: int, status: int) -> None:
        with self._lock:
            self.calls[method_id] += 1
            self.units[method_id] += units
            if status >= 400:
                self.errors[method_id][str(status)] += 1

    def record_fault(self, kind: str) -> None:
        with self._lock:
            self.faults[kind] += 1

    def record_http(self, *, batch: bool = False) -> None:
        with self._lock:
            self.http_requests += 1
            if batch:
                self.batches += 1

    def record_validated(self, method_id: str) -> None:
        with self._lock:
            self.validated[method_id] += 1

    def record_violation(self, method_id: str, problems: list[str]) -> None:
        with self._lock:
            self.violations.append({"method": method_id, "problems": problems[:5]})

    def snapshot(self) -> dict[str, Any]:
        with self._lock:
            return {
                "calls": dict(self.calls),
                "units": dict(self.units),
                "errors": {m: dict(e) for m, e in self.errors.items()},
                "faults": dict(self.faults),
                "validated": dict(self.validated),
                "schema_violations": list(self.violations),
                "total_calls": sum(self.calls.values()),
                "total_units": sum(self.units.values()),
                "http_requests": self.http_requests,
                "batches": self.batches,
            }
