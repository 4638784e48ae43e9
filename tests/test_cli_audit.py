"""The audit commands' wiring: closed choices as typer options, --refresh through the sweep service, and
"now" from the connection (the sandbox's clock for a sandbox), never a guess."""

from __future__ import annotations

import json
import socket
from pathlib import Path
from typing import Any

import pytest

from cli_run import invoke
from gmaildesk.audit import queries
from gmaildesk.audit.db import Slas, iso, open_store
from gmaildesk.cli.audit import GroupBy, SortOrder, StateFilter
from gmaildesk.errors import ExitCode
from gmaildesk.lock import AccountLock
from gmaildesk.paths import Account
from gmaildesk.sweep import service
from gmaildesk.sweep.store import store_path
from sweep_helpers import Desk, make_desk

H = 3600


@pytest.fixture
def env(sandbox: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Desk, list[str]]:
    config, path = make_desk(sandbox, tmp_path, monkeypatch)
    desk = Desk(sandbox, config, store_path(Account(sandbox.url, config.mailbox)))
    desk.customer(subject="Invoice 1042 charged twice", to=("billing@example.com",))
    sandbox.control.reset_counters()
    return desk, ["-c", str(path), "--endpoint", sandbox.url]


@pytest.mark.parametrize(
    ("command", "flag", "choices"),
    [
        ("threads", "--status", ["new", "waiting", "handled", "forwarded", "closed", "open", "overdue"]),
        ("threads", "--sort", ["age", "sla"]),
        ("report", "--by", ["dept", "week", "agent"]),
    ],
)
def test_help_lists_every_choice_of_a_closed_option(command: str, flag: str, choices: list[str]) -> None:
    shown = invoke([command, "--help"], env={"COLUMNS": "200"}).stdout  # wide enough for rich not to wrap
    row = next(line for line in shown.splitlines() if line.startswith("│") and flag in line.replace(",", " ").split())
    assert f"<{'|'.join(choices)}>" in row


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["threads", "--sort", "oldest"], "'oldest' is not one of 'age', 'sla'"),
        (["threads", "--state", "pending"], "'pending' is not one of 'new', 'waiting', 'handled', 'forwarded',"),
        (["threads", "--status", "bogus"], "'bogus' is not one of"),
        (["report", "--by", "moon"], "'moon' is not one of 'dept', 'week', 'agent'"),
    ],
)
def test_a_value_outside_the_choices_is_a_usage_error(tmp_path: Path, args: list[str], message: str) -> None:
    """typer refuses it before the command runs: no desk.yaml, store or Gmail is needed to say so."""
    result = invoke([*args, "-c", str(tmp_path / "none.yaml")], ExitCode.USAGE)
    assert result.stdout == ""
    assert message in " ".join(result.stderr.replace("│", "").split())


def test_the_choices_are_what_the_audit_engine_takes(env: tuple[Desk, list[str]]) -> None:
    desk, args = env
    invoke(["sweep", *args, "--quiet"])
    assert {s.value for s in StateFilter} == {*queries.STATES, "open", "overdue"}
    db = open_store(desk.store_path)
    try:
        now = desk.now()
        slas = Slas.from_desk(desk.desk)
        for order in SortOrder:
            rows = queries.threads(db, slas, now, sort=order.value)
            assert [t.thread_id for t in rows] == list(desk.threads.values())
        for by in GroupBy:
            assert queries.report(db, slas, now, since_ms=0, by=by.value).total.volume == 1
        with pytest.raises(ValueError, match="unknown sort"):
            queries.threads(db, slas, now, sort="oldest")
    finally:
        db.close()


def test_choices_ignore_case(env: tuple[Desk, list[str]]) -> None:
    desk, args = env
    invoke(["sweep", *args, "--quiet"])
    rows = json.loads(invoke(["threads", *args, "--state", "NEW", "--sort", "SLA", "--json"]).stdout)["threads"]
    assert [t["thread"] for t in rows] == list(desk.threads.values())
    groups = json.loads(invoke(["report", *args, "--by", "Agent", "--json"]).stdout)["groups"]
    assert [g["key"] for g in groups] == ["(no reply)"]


def test_refresh_sweeps_first_through_the_sweep_service(env: tuple[Desk, list[str]]) -> None:
    desk, args = env
    doc = json.loads(invoke(["status", *args, "--refresh", "--json"]).stdout)
    assert doc["total"] == 1 and doc["by_state"]["new"] == 1
    calls = desk.calls()
    # A first sweep, lean: the scope and the mailbox listed (messages.list), the one conversation read.
    assert calls["gmail.users.getProfile"] == 1 and calls["gmail.users.messages.list"] == 2
    assert calls.get("gmail.users.messages.batchModify", 0) == 1  # the status label written
    assert "Status/New" in desk.status(next(iter(desk.threads.values())))


def test_a_partial_refresh_warns_and_shows_the_store(
    env: tuple[Desk, list[str]], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The real sweep runs; one failed conversation is added to its result (a Gmail 500 after every retry is
    too slow to provoke here): the audit says so on stderr and still shows what the store has."""
    desk, args = env
    real = service.sweep_once

    def partial(*positional: Any, **named: Any) -> Any:
        result = real(*positional, **named)
        result.errors.append("conversation 1a2b: Gmail failed (HTTP 500)")
        return result

    monkeypatch.setattr(service, "sweep_once", partial)
    result = invoke(["status", *args, "--refresh", "--json"])
    assert json.loads(result.stdout)["total"] == 1
    assert result.stderr.splitlines() == [
        "Error: conversation 1a2b: Gmail failed (HTTP 500)",
        "Warning: the sweep was partial; showing what the store has.",
    ]


def test_refresh_stops_when_another_run_holds_the_mailbox(env: tuple[Desk, list[str]]) -> None:
    """Only a partial sweep lets the audit go on to the store; a refused one ends the command with its code."""
    desk, args = env
    with AccountLock(Account(desk.sandbox.url, desk.desk.mailbox)):
        result = invoke(["threads", *args, "--refresh"], ExitCode.LOCKED)
    assert result.stdout == ""
    assert result.stderr.startswith("Error: another gmaildesk run is working on support@example.com")
    assert not desk.store_path.exists()


def test_now_is_the_sandbox_clock(env: tuple[Desk, list[str]]) -> None:
    """Billing answers first within 4h: the sandbox's clock, moved 5h on, makes the conversation overdue,
    although the system clock has hardly moved."""
    desk, args = env
    invoke(["sweep", *args, "--quiet"])
    assert json.loads(invoke(["threads", *args, "--state", "overdue", "--json"]).stdout)["threads"] == []
    desk.sandbox.control.advance_clock(5 * H)
    overdue = json.loads(invoke(["threads", *args, "--state", "overdue", "--json"]).stdout)["threads"]
    assert [t["thread"] for t in overdue] == list(desk.threads.values())
    assert json.loads(invoke(["next", *args, "--json"]).stdout)["now"] == iso(desk.now())


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.mark.parametrize("where", ["nothing listening", "not a sandbox"])
def test_an_endpoint_that_tells_no_time_is_an_error_not_a_guess(env: tuple[Desk, list[str]], where: str) -> None:
    """Before, the CLI probed the endpoint and fell back to the system clock on any exception."""
    desk, args = env
    invoke(["sweep", *args, "--quiet"])
    endpoint = (
        f"http://127.0.0.1:{_free_port()}/" if where == "nothing listening" else f"{desk.sandbox.url}elsewhere/"
    )  # a server that answers, but 404 for the sandbox's status
    result = invoke(
        ["status", args[0], args[1], "--endpoint", endpoint, "--state", str(desk.store_path)], ExitCode.ERROR
    )
    assert result.stdout == ""
    first = result.stderr.splitlines()[0]
    assert first.startswith("Error: ") and "sandbox" in first and endpoint in first
