"""Client-side quota pacing: the token bucket with an injected clock, how GmailClient uses it,
and against the sandbox's quota gate: a paced burst draws no 429 and takes the quota-bound time."""

from __future__ import annotations

import datetime as dt
import threading
import time

import pytest

from gmaildesk.errors import ExitCode, GmailDeskError
from gmaildesk.gmail import ConnectionOptions, connect, scopes
from gmaildesk.gmail.pacing import (
    GMAIL_UNITS_PER_SECOND,
    DailyQuotaExceeded,
    ProjectBudget,
    QuotaPacer,
    pacer_for,
    parse_rate,
)
from gmaildesk.gmail.retry import RetryPolicy
from gmaildesk.sandbox.limits import method_cost
from gmaildesk.sandbox.mime import build_message


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


def pacer(rate=100.0, **kw):
    clock = FakeClock()
    kw.setdefault("safety", 1.0)
    return QuotaPacer(rate, clock=clock, sleep=clock.sleep, **kw), clock


def test_default_safety_keeps_three_percent_below_the_limit():
    p = QuotaPacer(100)
    assert p.limit == 100 and p.rate == pytest.approx(97)
    assert p.minute == pytest.approx(5820)  # never more than 97% of 6,000 units in any 60 s
    assert p.capacity == pytest.approx(1940)  # 20 s of burst


def test_the_default_burst_carries_a_batch_of_fifty_threads_get():
    # 50 calls (the batch guide's maximum) of the dearest read (threads.get, 40 units) at 6,000/min
    assert QuotaPacer(100, safety=1.0).capacity == 50 * 40
    assert QuotaPacer(250, safety=1.0).capacity == 5000  # legacy 15,000/min: 20 s of it


def test_a_full_bucket_lets_the_burst_through_then_paces_at_the_rate():
    p, clock = pacer(100, burst_s=1)
    for _ in range(10):
        assert p.wait_for(10) == 0  # 100 units of burst
    assert clock.sleeps == []
    assert p.wait_for(40) == pytest.approx(0.4)
    assert p.wait_for(40) == pytest.approx(0.4)
    assert clock.now - 1000 == pytest.approx(0.8)
    assert p.waits == 2 and p.units == 180


def test_long_run_average_is_the_rate():
    p, clock = pacer(250)
    for _ in range(1000):
        p.wait_for(10)
    # 10,000 units at 250/s, the first 5,000 (20 s of burst) free: 20 s
    assert clock.now - 1000 == pytest.approx(20.0)


def test_no_sixty_seconds_ever_carry_more_than_the_minute():
    p, clock = pacer(100)  # 6,000 units a minute, 2,000 of burst
    spent: list[tuple[float, int]] = []
    for _ in range(600):
        p.wait_for(40)
        spent.append((clock.now, 40))
    for at, _ in spent:
        assert sum(u for t, u in spent if at <= t < at + 60) <= 6000
    # 24,000 units at 6,000/min: the burst only shifts the start, the minute binds the average
    assert clock.now - 1000 == pytest.approx(220, abs=1)


def test_idle_time_refills_but_never_above_the_burst():
    p, clock = pacer(100, burst_s=1)
    p.wait_for(100)
    clock.now += 60  # a minute idle: still only one second's worth
    assert p.wait_for(100) == 0
    assert p.wait_for(50) == pytest.approx(0.5)


def test_a_charge_above_the_burst_waits_for_a_full_bucket_then_runs_into_debt():
    p, clock = pacer(100, burst_s=1)
    p.wait_for(60)
    assert p.wait_for(250) == pytest.approx(0.6)  # never fails, never waits forever
    assert p.wait_for(10) == pytest.approx(1.6)  # the debt of 150 units plus the 10


def test_a_charge_above_the_whole_minute_waits_for_an_empty_window():
    p, clock = pacer(1, burst_s=60)  # 60 units a minute
    p.wait_for(30)
    assert p.wait_for(100) == pytest.approx(60)  # the 30 must leave the window first
    assert p.wait_for(1) == pytest.approx(60)  # the debt of 40 units over the minute leaves with it
    assert p.units == 131


def test_cost_of_requests_uses_their_method_id():
    class Req:
        def __init__(self, method):
            self.methodId = method

    p, _ = pacer(100)
    assert p.cost([Req("gmail.users.threads.get"), Req("gmail.users.history.list")]) == 42
    legacy, _ = pacer(250, cost_of=lambda m: method_cost(m, "legacy"))
    assert legacy.cost([Req("gmail.users.threads.get")] * 3) == 30


def test_rate_from_options_environment_and_default():
    assert GMAIL_UNITS_PER_SECOND == 100
    assert pacer_for(None, None, {}).limit == 100  # Gmail itself: paced by default
    assert pacer_for(None, "http://127.0.0.1:1/", {}) is None  # a sandbox: only when asked
    assert pacer_for(None, "http://127.0.0.1:1/", {"GMAILDESK_QUOTA_RATE": "250"}).limit == 250
    assert pacer_for(None, None, {"GMAILDESK_QUOTA_RATE": "off"}) is None
    assert pacer_for(0, None, {}) is None
    assert pacer_for(50, None, {"GMAILDESK_QUOTA_RATE": "250"}).limit == 50  # explicit wins
    assert parse_rate("6000/min") == 100 and parse_rate("15000/m") == 250 and parse_rate(" ") is None
    with pytest.raises(GmailDeskError):
        parse_rate("fast")
    with pytest.raises(GmailDeskError):
        ConnectionOptions(quota_units_per_second=-1)
    opts = ConnectionOptions.from_env(environ={"GMAILDESK_QUOTA_RATE": "6000/min"})
    assert opts.quota_units_per_second == 100


def test_client_splits_batches_to_fit_the_burst(sandbox):
    client = connect(ConnectionOptions(endpoint=sandbox.url, quota_units_per_second=100), scopes.READ)
    assert client.pacer is not None and client.pacer.limit == 100
    client.pacer = QuotaPacer(100, safety=1.0, sleep=lambda s: None)  # current table, no real waits
    users = client.users()
    labels = [users.labels().get(userId="me", id="INBOX") for _ in range(60)]  # 1 unit each
    client.execute_batch(labels)
    assert client.stats.batches == 2  # 50 + 10: the call limit binds
    threads = users.threads()
    answers = client.execute_batch([threads.get(userId="me", id=f"{n:016x}") for n in range(50)])
    assert client.stats.batches == 2 + 1  # 50 threads.get = 2,000 units: one batch, as Gmail allows
    assert all(isinstance(a, GmailDeskError) for a in answers)  # unknown ids: 404 in their slots
    client.pacer = QuotaPacer(100, safety=1.0, burst_s=1, sleep=lambda s: None)
    client.execute_batch([users.messages().get(userId="me", id=f"{n:016x}") for n in range(12)])  # 20 units each
    assert client.stats.batches == 3 + 3  # 5 + 5 + 2: a 100-unit burst binds
    assert client.execute(users.getProfile(userId="me"))["emailAddress"] == "support@example.com"
    assert connect(ConnectionOptions(endpoint=sandbox.url), scopes.READ).pacer is None


def test_paced_burst_against_the_sandbox_quota_gets_no_429(sandbox):
    """50 units/s with legacy costs: 1 unit of burst lost per batch boundary at most, no error."""
    control = sandbox.control
    ids = [
        control.deliver(
            "support@example.com",
            build_message(
                from_=f"c{i}@customer.test",
                to=["support@example.com"],
                subject=f"Q {i}",
                text="hi",
                date_ms=sandbox.sandbox.now_ms(),
            ),
        )["id"]
        for i in range(40)
    ]
    control.set_quota(50, "legacy")
    control.reset_counters()
    client = connect(
        ConnectionOptions(endpoint=sandbox.url, quota_units_per_second=0),
        scopes.READ,
        policy=RetryPolicy(max_attempts=1),
    )  # a 429 would surface as a failure
    client.pacer = QuotaPacer(50, cost_of=lambda m: method_cost(m, "legacy"), burst_s=1)
    users = client.users()
    start = time.monotonic()
    results = client.execute_batch([users.messages().get(userId="me", id=i, format="minimal") for i in ids])
    for i in ids[:10]:
        client.execute(users.messages().get(userId="me", id=i, format="minimal"))
    elapsed = time.monotonic() - start
    counters = control.counters()
    assert all(isinstance(r, dict) for r in results)
    assert counters["errors"] == {}
    assert counters["total_units"] == 250
    # 250 units at 50/s with 50 units of burst: 4 s is the quota-bound minimum (4.15 s at 97%)
    assert 3.9 <= elapsed <= 6.0
    assert client.stats.paced_waits > 0
    control.set_quota(None)


class SharedClock:
    """A fake clock several threads sleep on: time moves by the longest sleep asked for."""

    def __init__(self) -> None:
        self.now = 1000.0
        self._lock = threading.Lock()

    def __call__(self) -> float:
        with self._lock:
            return self.now

    def sleep(self, seconds: float) -> None:
        with self._lock:
            self.now += seconds


def test_the_project_budget_is_shared_by_pacers_in_threads():
    clock = SharedClock()
    project = ProjectBudget(units_per_minute=3000, daily_units=10**9, safety=1.0, clock=clock)
    pacers = [QuotaPacer(100, safety=1.0, project=project, clock=clock, sleep=clock.sleep) for _ in range(4)]
    spent: list[tuple[float, int]] = []
    lock = threading.Lock()

    def work(p: QuotaPacer) -> None:
        for _ in range(100):
            p.wait_for(40)
            with lock:
                spent.append((clock(), 40))

    threads = [threading.Thread(target=work, args=(p,)) for p in pacers]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert project.units == 16_000 == sum(p.units for p in pacers)
    # four mailboxes of 6,000/min each may not pass the project's 3,000/min together
    for at, _ in spent:
        assert sum(u for t, u in spent if at <= t < at + 60) <= 3000 + 40
    assert all(p.waits for p in pacers)


def test_the_daily_guard_stops_before_the_call_that_would_pass_it():
    clock = FakeClock()
    project = ProjectBudget(daily_units=100, clock=clock, today=lambda: dt.date(2026, 12, 1))
    p = QuotaPacer(100, project=project, clock=clock, sleep=clock.sleep)
    p.wait_for(60)
    p.wait_for(40)
    with pytest.raises(DailyQuotaExceeded) as caught:
        p.wait_for(1)
    error = caught.value
    assert error.exit_code == ExitCode.QUOTA
    assert "daily quota" in str(error) and "100 units spent today" in str(error)
    assert any("daily_units" in hint for hint in error.hints)
    assert project.units_today == 100 and p.units == 100  # the refused call spent nothing


def test_the_daily_guard_starts_again_on_a_new_quota_day():
    days = iter([dt.date(2026, 12, 1)] * 3 + [dt.date(2026, 12, 2)] * 3)
    project = ProjectBudget(daily_units=100, today=lambda: next(days))
    assert project.claim(100) == 0
    with pytest.raises(DailyQuotaExceeded):
        project.claim(1)
    assert project.claim(100) == 0  # midnight Pacific passed: a new day's units
    assert project.units_today == 100 and project.units == 200
