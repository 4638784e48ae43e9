"""Every closed value is checked before anything runs: a wrong one is exit 2 naming the flag typed, the
valid choices and, for a near miss, the one meant (issue 11, item 3)."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from cli_run import invoke
from gmaildesk.errors import ExitCode
from sweep_helpers import Desk, make_desk


def _error(result) -> str:
    """The message in typer's error box, as one line: the frame, its title and the line breaks rich adds removed."""
    inside = re.sub("[\u2500-\u257f]", " ", result.stderr.partition("Error")[2])
    return " ".join(inside.split())


@pytest.mark.parametrize(
    ("args", "said"),
    [
        (["threads", "--status", "waitng"], "Invalid value for '--status': 'waitng' is not one of 'new', 'waiting', "),
        (["threads", "--status", "overdu"], "did you mean 'overdue'?"),
        (
            ["threads", "--sort", "SLAs"],
            "Invalid value for '--sort': 'SLAs' is not one of 'age', 'sla'; did you mean 'sla'?",
        ),
        (
            ["report", "--by", "wek"],
            "Invalid value for '--by': 'wek' is not one of 'dept', 'week', 'agent'; did you mean 'week'?",
        ),
        (["report", "--by", "agents"], "did you mean 'agent'?"),
    ],
)
def test_a_near_miss_is_exit_2_with_the_choices_and_the_one_meant(tmp_path: Path, args: list[str], said: str) -> None:
    result = invoke([*args, "-c", str(tmp_path / "none.yaml")], ExitCode.USAGE)
    assert result.stdout == ""
    assert said in _error(result)
    assert "Value error" not in result.stderr  # pydantic's prefix, which typer would pass on


def test_a_value_like_no_choice_lists_the_choices_and_guesses_nothing(tmp_path: Path) -> None:
    result = invoke(["threads", "--sort", "zzz", "-c", str(tmp_path / "none.yaml")], ExitCode.USAGE)
    assert _error(result) == "Invalid value for '--sort': 'zzz' is not one of 'age', 'sla'"


def _option_rows(command: str) -> list[str]:
    """The options --help lists (the first word of each row of its options panel)."""
    shown = invoke([command, "--help"], env={"COLUMNS": "200"}).stdout
    return [line.strip("│ ").split()[0] for line in shown.splitlines() if line.startswith("│ --")]


# --- --store names the sweep store everywhere; --state is its old, hidden name -----------------------------


@pytest.fixture
def swept(sandbox: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Desk, list[str], Path]:
    """One Billing conversation, swept into a store of its own (not the data dir's)."""
    config, path = make_desk(sandbox, tmp_path, monkeypatch)
    desk = Desk(sandbox, config, tmp_path / "elsewhere.sqlite")
    desk.customer(subject="Invoice 1042 charged twice", to=("billing@example.com",))
    desk.sweep()
    now = desk.now()  # the sandbox's clock runs on: the audit reads it once, for comparable answers
    monkeypatch.setattr("gmaildesk.cli.options.now_ms", lambda options: now)
    return desk, ["-c", str(path), "--endpoint", sandbox.url], desk.store_path


@pytest.mark.parametrize(
    ("command", "key"),
    [(["status"], "total"), (["next"], "thread"), (["report"], "total")],
)
def test_every_reader_takes_the_store_as_store_and_under_its_old_name(
    swept: tuple[Desk, list[str], Path], command: list[str], key: str
) -> None:
    desk, args, store = swept
    by_store = json.loads(invoke([*command, *args, "--store", str(store), "--json"]).stdout)
    by_state = json.loads(invoke([*command, *args, "--state", str(store), "--json"]).stdout)
    assert by_store == by_state and by_store[key]
    # Without either, the data dir's store is read: there is none there, so the file really was the one named.
    assert "no sweep store" in invoke([*command, *args, "--json"], ExitCode.ERROR).stderr


def test_show_takes_the_store_under_both_names(swept: tuple[Desk, list[str], Path]) -> None:
    desk, args, store = swept
    thread = next(iter(desk.threads.values()))
    for flag in ("--store", "--state"):
        assert (
            json.loads(invoke(["show", thread, *args, flag, str(store), "--json"]).stdout)["thread"]["thread"] == thread
        )


def test_the_old_name_is_not_in_help_and_the_store_is() -> None:
    for command in ("status", "show", "next", "report"):
        rows = _option_rows(command)
        assert "--store" in rows and "--state" not in rows, command


def test_two_different_files_under_both_names_is_a_usage_error(swept: tuple[Desk, list[str], Path]) -> None:
    desk, args, store = swept
    other = store.with_name("other.sqlite")
    result = invoke(["status", *args, "--store", str(store), "--state", str(other)], ExitCode.USAGE)
    assert result.stderr.splitlines() == [
        f"Error: --store {store} and --state {other} name two files",
        "Hint: --state is --store's old name: give --store alone",
    ]


def test_threads_filters_by_status_and_state_is_that_filter_s_old_name(swept: tuple[Desk, list[str], Path]) -> None:
    desk, args, store = swept
    for flag in ("--status", "--state"):
        rows = json.loads(invoke(["threads", *args, "--store", str(store), flag, "new", "--json"]).stdout)["threads"]
        assert [t["thread"] for t in rows] == list(desk.threads.values())
        none = json.loads(invoke(["threads", *args, "--store", str(store), flag, "waiting", "--json"]).stdout)
        assert none["threads"] == []
    assert "--state" not in _option_rows("threads")


def test_threads_state_given_a_file_names_the_flag_typed_and_points_to_store(tmp_path: Path) -> None:
    """The issue's `threads --state x.sqlite`: answered about --state (typed), never --status (not typed)."""
    result = invoke(["threads", "-c", str(tmp_path / "none.yaml"), "--state", "x.sqlite"], ExitCode.USAGE)
    said = _error(result)
    assert said.startswith("Invalid value for '--state': 'x.sqlite' is not one of 'new', 'waiting', ")
    assert said.endswith("; the sweep store is named with --store x.sqlite")
    assert "--status" not in result.stderr


def test_sweep_writes_the_store_named_by_store_or_by_its_old_name(swept: tuple[Desk, list[str], Path]) -> None:
    desk, args, store = swept
    for flag, name in (("--store", "by-store.sqlite"), ("--state", "by-state.sqlite")):
        path = store.with_name(name)
        doc = json.loads(invoke(["sweep", *args, flag, str(path), "--json"]).stdout)
        assert doc["threads_seen"] == 1 and path.is_file()
    assert "--state" not in _option_rows("sweep") and "--store" in _option_rows("sweep")


def test_plan_takes_the_ownership_record_as_ownership_and_under_its_old_name(
    swept: tuple[Desk, list[str], Path],
) -> None:
    desk, args, store = swept
    record = store.with_name("ownership.json")
    invoke(["apply", *args, "--yes", "--skip-tests", "--ownership", str(record)])
    assert record.is_file()
    for flag in ("--ownership", "--state"):
        assert "No changes" in invoke(["plan", *args, flag, str(record)]).stdout
    for command in ("plan", "apply", "export"):
        assert "--ownership" in _option_rows(command) and "--state" not in _option_rows(command)
