"""Client-side quota pacing: the token bucket with an injected clock, how GmailClient uses it,
and against the sandbox's quota gate: a paced burst draws no 429 and takes the quota-bound time."""

from __future__ import annotations

import datetime as dt
import threading

import pytest

from gmaildesk.errors import ExitCode, GmailDeskError
from gmaildesk.gmail import ConnectionOptions, connect, costs, scopes
from gmaildesk.gmail.connection import quota_pacer
from gmaildesk.gmail.costs import CostTable
from gmaildesk.gmail.pacing import (
    GMAIL_UNITS_PER_SECOND,
    DailyQuotaExceeded,
    ProjectBudget,
    QuotaPacer,
    pacer_for,
    parse_rate,
)
from gmaildesk.gmail.retry import RetryPolicy
from gmaildesk.gmail.types import Usage
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
    assert p.minute == 6000  # never more than 6,000 units in any 61 s
    assert p.capacity == 2000  # 20 s of burst, whole: a batch of 50 threads.get


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
    assert 220 <= clock.now - 1000 <= 230


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
    assert p.wait_for(100) == pytest.approx(61)  # the 30 must leave the (61-s) window first
    assert p.wait_for(1) == pytest.approx(61)  # the debt of 40 units over the minute leaves with it
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


def _deliver(sandbox, count: int) -> list[str]:
    return [
        sandbox.control.deliver(
            "support@example.com",
            build_message(
                from_=f"c{i}@customer.test",
                to=["support@example.com"],
                subject=f"Q {i}",
                text="hi",
                date_ms=sandbox.sandbox.now_ms(),
            ),
        )["id"]
        for i in range(count)
    ]


def _paced_client(sandbox, clock: FakeClock, rate: float, table: str, **kw):
    """A client paced on `clock`, the sandbox's quota gate on the same clock; a 429 is a failure."""
    sandbox.sandbox.quota._clock = clock
    client = connect(
        ConnectionOptions(endpoint=sandbox.url, quota_units_per_second=0),
        scopes.READ,
        policy=RetryPolicy(max_attempts=1, sleep=clock.sleep),
    )
    client.pacer = QuotaPacer(rate, cost_of=lambda m: method_cost(m, table), clock=clock, sleep=clock.sleep, **kw)
    return client


def test_a_batch_of_fifty_threads_get_passes_gmails_minute(sandbox):
    """6,000 units/min enforced per minute (the sandbox's sliding window): 50 threads.get (2,000 units)
    go in one HTTP batch without a 429, and three batches (6,000 units) fit in one minute only paced."""
    ids = _deliver(sandbox, 50)
    sandbox.control.set_quota(100, "current")  # 6,000 units in any 60 s
    sandbox.control.reset_counters()
    clock = FakeClock()
    client = _paced_client(sandbox, clock, 100, "current")
    threads = client.users().threads()
    for _ in range(4):
        answers = client.execute_batch([threads.get(userId="me", id=i, format="minimal") for i in ids])
        assert all(isinstance(a, dict) for a in answers)
    counters = sandbox.control.counters()
    assert counters["errors"] == {} and counters["total_units"] == 8000
    assert client.stats.batches == 4 and client.stats.rate_limited == 0
    # 8,000 units, at most 6,000 in any 61 s: the fourth batch waits for the first to leave it
    assert 60 <= clock.now - 1000 <= 80
    assert client.pacer.waits >= 2


def test_paced_calls_against_the_sandbox_minute_get_no_429(sandbox):
    """60 units a minute with legacy costs: 250 units of gets take the quota-bound time, no 429."""
    ids = _deliver(sandbox, 40)
    sandbox.control.set_quota(1, "legacy")
    sandbox.control.reset_counters()
    clock = FakeClock()
    client = _paced_client(sandbox, clock, 1, "legacy")
    users = client.users()
    results = client.execute_batch([users.messages().get(userId="me", id=i, format="minimal") for i in ids])
    for i in ids[:10]:
        client.execute(users.messages().get(userId="me", id=i, format="minimal"))
    counters = sandbox.control.counters()
    assert all(isinstance(r, dict) for r in results)
    assert counters["errors"] == {} and counters["total_units"] == 250
    assert client.stats.batches == 10  # 20 units of burst: 4 gets a batch
    # at most 60 units in any 60 s: 250 units need more than 190 s; at 97% about 238 s
    assert 190 <= clock.now - 1000 <= 260
    assert client.stats.paced_waits > 0


def test_an_unpaced_client_meets_the_minute_as_counted_429s(sandbox):
    """Without the pacer the sandbox refuses what passes the minute; the refusals are counted."""
    ids = _deliver(sandbox, 20)
    sandbox.control.set_quota(1, "current")  # 60 units a minute: three messages.get
    client = connect(
        ConnectionOptions(endpoint=sandbox.url), scopes.READ, policy=RetryPolicy(max_attempts=2, sleep=lambda s: None)
    )
    answers = client.execute_batch([client.users().messages().get(userId="me", id=i) for i in ids[:5]])
    assert [isinstance(a, dict) for a in answers] == [True, True, True, False, False]
    assert client.stats.rate_limited == 4  # two parts refused, twice
    assert all(a.exit_code == ExitCode.QUOTA for a in answers[3:])


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
    project = ProjectBudget(units_per_minute=3000, daily_units=10**9, clock=clock)
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


def test_quota_settings_reach_the_connection(sandbox):
    opts = ConnectionOptions.from_env(environ={"GMAILDESK_QUOTA_COSTS": " Legacy "})
    assert opts.quota_costs == "legacy" and opts.quota_units_per_second is None
    with pytest.raises(GmailDeskError) as caught:
        ConnectionOptions.from_env(environ={"GMAILDESK_QUOTA_COSTS": "cheap"})
    assert caught.value.exit_code == ExitCode.USAGE and "GMAILDESK_QUOTA_COSTS='cheap'" in caught.value.message
    assert "current" in caught.value.hints[0] and "legacy" in caught.value.hints[0]
    # the desk's sweep.quota fills only what the environment left unset
    desk_quota = ConnectionOptions(endpoint=sandbox.url).with_quota(600, "legacy", 1000, 50_000)
    assert desk_quota.quota_units_per_second == 10 and desk_quota.quota_costs == "legacy"
    env_first = ConnectionOptions(endpoint=sandbox.url, quota_units_per_second=5, quota_costs="current")
    assert env_first.with_quota(600, "legacy").quota_units_per_second == 5
    assert env_first.with_quota(600, "legacy").quota_costs == "current"
    client = connect(desk_quota, scopes.READ)
    assert client.costs == "legacy" and client.pacer is not None and client.pacer.limit == 10
    assert client.pacer.cost_of("gmail.users.threads.get") == 10
    budget = client.pacer.project
    assert budget is not None and budget.daily_units == 1000 and budget.units_per_minute == 50_000
    unpaced = connect(ConnectionOptions(endpoint=sandbox.url).with_quota(None, "legacy"), scopes.READ)
    assert unpaced.pacer is None and unpaced.costs == "legacy"  # a sandbox is paced only when asked


def test_gmail_itself_is_paced_at_the_limit_of_its_cost_table(monkeypatch):
    monkeypatch.delenv("GMAILDESK_QUOTA_RATE", raising=False)
    shared = ProjectBudget()
    tables: tuple[tuple[CostTable, int], ...] = (("current", 100), ("legacy", 250))
    for table, per_second in tables:
        paced = quota_pacer(ConnectionOptions(quota_costs=table, project=shared))
        assert paced is not None and paced.limit == per_second and paced.project is shared
    monkeypatch.setenv("GMAILDESK_QUOTA_RATE", "off")
    assert quota_pacer(ConnectionOptions()) is None


def test_client_and_sandbox_price_every_method_alike():
    for table in ("current", "legacy"):
        for method in costs.COSTS[table]:
            assert costs.units(method, table) == method_cost(f"gmail.{method}", table), (table, method)
    assert costs.units("gmail.users.threads.get") == 40 and costs.units("users.threads.get", "legacy") == 10


def test_usage_prices_calls_by_the_table_in_force():
    earlier = Usage(3, {"users.threads.get": 1}, "legacy", rate_limited=1)
    now = Usage(10, {"users.threads.get": 3, "users.messages.get": 2}, "legacy", rate_limited=4)
    assert now.units == 3 * 10 + 2 * 5
    assert now.since(earlier) == Usage(7, {"users.messages.get": 2, "users.threads.get": 2}, "legacy", 3)
    assert now.since(earlier).units == 2 * 10 + 2 * 5
    assert Usage(1, {"users.threads.get": 1}).units == 40  # current unless told
