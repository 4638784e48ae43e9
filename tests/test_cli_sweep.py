"""`gmaildesk sweep` through the CLI: --dry-run, --json, --quiet, the lock, --state, the sandbox's clock."""

from __future__ import annotations

import json

import pytest

from cli_run import invoke
from gmaildesk.errors import ExitCode
from gmaildesk.lock import AccountLock
from gmaildesk.paths import Account
from gmaildesk.sweep.store import Store, store_path
from sweep_helpers import Desk, make_desk


@pytest.fixture
def env(sandbox, tmp_path, monkeypatch):
    config, path = make_desk(sandbox, tmp_path, monkeypatch)
    desk = Desk(sandbox, config, store_path(Account(sandbox.url, config.mailbox)))
    for i in range(3):
        mid = desk.customer(subject=f"Question {i}")
        if i:
            desk.send(desk.thread_of(mid), in_reply_to=mid, subject=f"Re: Question {i}")
    sandbox.control.reset_counters()
    return desk, ["sweep", "-c", str(path), "--endpoint", sandbox.url]


def test_dry_run_writes_nothing(env):
    desk, args = env
    result = invoke([*args, "--dry-run"])
    assert "Would change 3 of 3 conversations (full scan" in result.stdout
    assert " -> new " in result.stdout and " -> handled " in result.stdout
    assert desk.calls().get("gmail.users.messages.batchModify", 0) == 0
    with Store(desk.store_path) as store:
        assert store.checkpoint().history_id is None and store.threads() == {} and store.journal() == []
    result = invoke([*args, "--json"])  # the real run still has everything to do
    assert len(json.loads(result.stdout)["transitions"]) == 3


def test_json_summary_shape(env):
    desk, args = env
    doc = json.loads(invoke([*args, "--json"]).stdout)
    assert set(doc) >= {
        "version",
        "status",
        "full",
        "resynced",
        "dry_run",
        "threads_seen",
        "threads_read",
        "transitions",
        "transitions_by_state",
        "by_state",
        "api_calls",
        "quota_units",
        "duration_s",
        "errors",
    }
    assert doc["status"] == "ok" and doc["full"] is True and doc["threads_seen"] == 3
    assert doc["transitions_by_state"] == {"handled": 2, "new": 1}
    assert doc["by_state"]["new"] == 1 and doc["by_state"]["handled"] == 2
    assert doc["api_calls"] == sum(desk.calls().values())
    assert doc["transitions"][0].keys() == {"thread", "from", "to", "reason"}
    again = json.loads(invoke([*args, "--json"]).stdout)
    # getProfile (whose store) is one of them
    assert again["full"] is False and again["transitions"] == [] and again["api_calls"] <= 4


def test_quiet_prints_nothing_on_success(env):
    _, args = env
    result = invoke([*args, "--quiet"])
    assert result.stdout == "" and result.stderr == ""


def test_a_second_sweep_while_one_runs_exits_7(env):
    desk, args = env
    with AccountLock(Account(desk.sandbox.url, desk.desk.mailbox)):
        result = invoke([*args, "--quiet"], ExitCode.LOCKED)
    assert result.stdout == ""
    assert result.stderr.startswith("Error: another gmaildesk run is working on support@example.com")
    assert desk.calls() == {"gmail.users.getProfile": 1}  # who the connection reaches; nothing else
    invoke([*args, "--quiet"])  # released: runs


def test_state_option_picks_the_store(env, tmp_path):
    desk, args = env
    other = tmp_path / "elsewhere.sqlite"
    invoke([*args, "--quiet", "--state", str(other)])
    with Store(other) as store:
        assert len(store.threads()) == 3 and len(store.journal()) == 3


def test_the_sweep_runs_on_the_sandbox_clock(env):
    """The clock comes with the connection: moved 5h on, the sandbox makes Billing's 4h first response late."""
    desk, args = env
    refund = desk.thread_of(desk.customer(subject="Refund", to=("billing@example.com",)))
    assert json.loads(invoke([*args, "--json"]).stdout)["by_state"]["overdue"] == 0
    desk.sandbox.control.advance_clock(5 * 3600)
    doc = json.loads(invoke([*args, "--json"]).stdout)
    assert doc["threads_read"] == 0  # nothing changed in Gmail: the clock alone
    assert {"thread": refund, "from": "new", "to": "new+overdue", "reason": "overdue by 1h"} in doc["transitions"]
