"""desk.yaml sweep.quota reaching `gmaildesk sweep`: the units `--json` reports are priced by the
cost table in force (desk.yaml, or GMAILDESK_QUOTA_COSTS over it) and match what the sandbox
charged under that table; the daily guard stops a sweep with one line and exit 6."""

from __future__ import annotations

import json

import pytest

from cli_run import invoke
from gmaildesk.errors import ExitCode
from gmaildesk.gmail import costs
from gmaildesk.paths import Account
from gmaildesk.sweep.store import Store, store_path
from sweep_helpers import Desk, make_desk


@pytest.fixture
def env(sandbox, tmp_path, monkeypatch):
    monkeypatch.delenv("GMAILDESK_QUOTA_RATE", raising=False)
    monkeypatch.delenv("GMAILDESK_QUOTA_COSTS", raising=False)
    config, path = make_desk(sandbox, tmp_path, monkeypatch)
    desk = Desk(sandbox, config, store_path(Account(sandbox.url, config.mailbox)))
    for i in range(4):
        mid = desk.customer(subject=f"Question {i}")
        if i % 2:
            desk.send(desk.thread_of(mid), in_reply_to=mid, subject=f"Re: Question {i}")
    return desk, path


def quota(path, *lines: str) -> list[str]:
    path.write_text(path.read_text() + "  quota:\n" + "".join(f"    {line}\n" for line in lines))
    return ["sweep", "-c", str(path), "--json"]


def sweep_json(sandbox, args: list[str], table: str, expect: int = ExitCode.OK) -> dict:
    sandbox.control.set_quota(None, table)  # the sandbox prices calls by the same table, quota not enforced
    sandbox.control.reset_counters()
    doc = json.loads(invoke([*args, "--endpoint", sandbox.url], expect=expect).stdout)
    assert doc["quota_units"] == sandbox.control.counters()["total_units"]
    return doc


@pytest.mark.parametrize("table, threads_get", [("current", 40), ("legacy", 10)])
def test_sweep_json_units_follow_the_desks_cost_table(sandbox, env, table, threads_get):
    desk, path = env
    doc = sweep_json(sandbox, quota(path, f"costs: {table}"), table)
    assert doc["quota_costs"] == table and doc["rate_limited"] == 0
    assert doc["quota_units"] == sum(costs.units(m, table) * n for m, n in doc["calls_by_method"].items())
    assert costs.units("users.threads.get", table) == threads_get
    desk.customer(subject="One more")
    later = sweep_json(sandbox, ["sweep", "-c", str(path), "--json"], table)  # an incremental run too
    assert later["full"] is False and later["quota_costs"] == table


def test_the_environment_overrides_the_desks_cost_table(sandbox, env, monkeypatch):
    desk, path = env
    monkeypatch.setenv("GMAILDESK_QUOTA_COSTS", "legacy")
    doc = sweep_json(sandbox, quota(path, "costs: current"), "legacy")
    assert doc["quota_costs"] == "legacy"
    current = sum(costs.units(m) * n for m, n in doc["calls_by_method"].items())
    assert doc["quota_units"] < current  # the same calls, priced lower: body reads cost 4x less


def test_a_bad_cost_table_in_the_environment_is_a_usage_error(sandbox, env, monkeypatch):
    desk, path = env
    monkeypatch.setenv("GMAILDESK_QUOTA_COSTS", "2026")
    result = invoke(["sweep", "-c", str(path), "--endpoint", sandbox.url], expect=ExitCode.USAGE)
    assert result.stderr.splitlines()[0] == "Error: GMAILDESK_QUOTA_COSTS='2026' is not a quota cost table"


def test_the_daily_guard_stops_the_sweep_with_one_line(sandbox, env):
    desk, path = env
    args = quota(path, "units_per_minute: 600000", "daily_units: 10")  # paced (fast), ten units a day
    sandbox.control.reset_counters()
    result = invoke([*args, "--endpoint", sandbox.url], expect=ExitCode.QUOTA)
    lines = result.stderr.strip().splitlines()
    assert lines[0].startswith("Error: stopped before the project's daily quota: ")
    assert "of the 10 allowed" in lines[0]
    assert any("sweep.quota.daily_units" in line for line in lines[1:])
    assert result.stdout == ""
    assert sandbox.control.counters()["total_units"] <= 10  # the call that would pass it was never sent
    with Store(desk.store_path) as store:
        assert store.checkpoint().history_id is None  # no run recorded as done
