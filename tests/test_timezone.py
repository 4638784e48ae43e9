"""The desk's timezone (desk.yaml `timezone:`, else the machine's): where people read times, while JSON stays
UTC (issue 11, items 3 and 9)."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import tzlocal

from cli_run import invoke
from gmaildesk.config import load_desk
from gmaildesk.config.example import write_example
from gmaildesk.errors import ExitCode
from gmaildesk.sweep.state import State
from gmaildesk.sweep.store import Checkpoint, Store, ThreadRow

MINIMAL = "version: 1\nmailbox: support@example.com\n"
PARIS = ZoneInfo("Europe/Paris")


def _desk(tmp_path: Path, extra: str = "") -> Path:
    path = tmp_path / "desk.yaml"
    path.write_text(MINIMAL + extra)
    return path


# --- the key ---------------------------------------------------------------------------------------------


def test_an_iana_name_is_the_desk_s_zone(tmp_path: Path) -> None:
    assert load_desk(_desk(tmp_path, "timezone: Europe/Paris\n")).timezone == ZoneInfo("Europe/Paris")


@pytest.mark.parametrize(
    ("written", "meant"),
    [
        ("Europe/Pari", "Europe/Paris"),
        ("europe/paris", "Europe/Paris"),
        ("Paris", "Europe/Paris"),
        ("New York", "America/New_York"),
    ],
)
def test_a_near_miss_is_one_line_with_the_zone_meant(tmp_path: Path, written: str, meant: str) -> None:
    config = _desk(tmp_path, f"timezone: {written}\n")
    result = invoke(["plan", "-c", str(config), "--endpoint", "http://127.0.0.1:9/"], ExitCode.ERROR)
    assert result.stderr.splitlines() == [
        f"Error: desk.yaml:3: timezone: '{written}' is not a time zone",
        f"Hint: did you mean '{meant}'?",
    ]


def test_a_value_that_is_no_zone_at_all_says_what_to_write(tmp_path: Path) -> None:
    result = invoke(
        ["plan", "-c", str(_desk(tmp_path, "timezone: 1\n")), "--endpoint", "http://127.0.0.1:9/"], ExitCode.ERROR
    )
    assert result.stderr.splitlines() == [
        "Error: desk.yaml:3: timezone: expected an IANA time zone name such as Europe/Paris, America/New_York or UTC, "
        "got the number 1"
    ]


def test_without_the_key_the_desk_reads_times_in_the_machine_s_zone(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TZ", "Asia/Tokyo")
    tzlocal.reload_localzone()
    try:
        assert load_desk(_desk(tmp_path)).timezone == ZoneInfo("Asia/Tokyo")
    finally:
        monkeypatch.undo()
        tzlocal.reload_localzone()


def test_the_example_desk_is_on_paris_time(tmp_path: Path) -> None:
    write_example(tmp_path)
    assert load_desk(tmp_path / "desk.yaml").timezone == ZoneInfo("Europe/Paris")


# --- the period of a report, in the desk's timezone --------------------------------------------------------

H = 3_600_000
D = 24 * H
NOW = 1_797_000_000_000  # 2026-12-11T14:40:00Z, well after November
# Four conversations at the edges of November, Paris time (CET, UTC+1), each in a department of its own so
# the report says which were counted: Oct 31 23:30 and Dec 1 00:30 are October and December in Paris; Nov 1
# 00:30 and Nov 30 23:30 are November (in UTC the first of those is still October, the last Dec 1 is not).
EDGES = {
    "Oct31-2330": datetime(2026, 10, 31, 23, 30, tzinfo=PARIS),
    "Nov01-0030": datetime(2026, 11, 1, 0, 30, tzinfo=PARIS),
    "Nov30-2330": datetime(2026, 11, 30, 23, 30, tzinfo=PARIS),
    "Dec01-0030": datetime(2026, 12, 1, 0, 30, tzinfo=PARIS),
}


def _row(n: int, department: str, started: int) -> ThreadRow:
    return ThreadRow(
        f"{n:016x}",
        state=State.CLOSED,
        department=department,
        last_counted_id=f"m{n}",
        last_counted_side="ours_reply",
        last_counted_at=started + H,
        first_customer_at=started,
        first_response_at=started + H,
        due_at=None,
        message_ids=[f"m{n}"],
        updated_at=started + H,
        agent="billing@example.com",
        first_agent="billing@example.com",
    )


@pytest.fixture
def edges(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Path, Path]:
    monkeypatch.setenv("GMAILDESK_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setattr("gmaildesk.cli.options.now_ms", lambda options: NOW)
    departments = "".join(f"  - name: {name}\n    sla: {{first_response: 4h}}\n" for name in EDGES)
    config = _desk(tmp_path, f"timezone: Europe/Paris\ndepartments:\n{departments}")
    store = tmp_path / "s.sqlite"
    rows = [_row(n, name, int(at.timestamp() * 1000)) for n, (name, at) in enumerate(EDGES.items(), 1)]
    with Store(store) as s:
        s.commit(Checkpoint(history_id="1", last_sweep_at=NOW - H), rows, [], "sweep-1")
    return config, store


def _november(config: Path, store: Path, *more: str) -> dict[str, Any]:
    args = ["report", "-c", str(config), "--store", str(store), "--since", "2026-11-01", "--until", "2026-11-30"]
    return json.loads(invoke([*args, *more, "--json"]).stdout)


def test_november_s_report_counts_november_in_the_desk_s_zone(edges: tuple[Path, Path]) -> None:
    config, store = edges
    doc = _november(config, store)
    assert {g["key"] for g in doc["groups"]} == {"Nov01-0030", "Nov30-2330"} and doc["total"]["volume"] == 2
    # JSON keeps UTC: Paris's November is Oct 31 23:00Z to Nov 30 23:00Z.
    assert (doc["since"], doc["until"]) == ("2026-10-31T23:00:00Z", "2026-11-30T23:00:00Z")


def test_the_same_dates_on_a_desk_in_utc_count_utc_s_november(edges: tuple[Path, Path]) -> None:
    config, store = edges
    config.write_text(config.read_text().replace("timezone: Europe/Paris", "timezone: UTC"))
    doc = _november(config, store)
    assert {g["key"] for g in doc["groups"]} == {"Nov30-2330", "Dec01-0030"}
    assert (doc["since"], doc["until"]) == ("2026-11-01T00:00:00Z", "2026-12-01T00:00:00Z")


def test_november_s_table_and_page_are_titled_with_the_period_and_the_zone(
    edges: tuple[Path, Path], tmp_path: Path
) -> None:
    config, store = edges
    page = tmp_path / "november.html"
    args = ["report", "-c", str(config), "--store", str(store), "--since", "2026-11-01", "--until", "2026-11-30"]
    shown = invoke([*args, "--html", str(page), "--format", "table"], env={"COLUMNS": "120"}).stdout
    assert "Report 2026-11-01 to 2026-11-30 (Europe/Paris) by dept" in shown
    html = page.read_text()
    assert "<h1>support@example.com: support report, 2026-11-01 to 2026-11-30</h1>" in html
    assert "from 2026-11-01 00:00 CET to 2026-12-01 00:00 CET" in html
    assert "Times are Europe/Paris time" in html


def test_a_date_and_time_without_an_offset_is_read_in_the_desk_s_zone(edges: tuple[Path, Path]) -> None:
    config, store = edges
    args = ["report", "-c", str(config), "--store", str(store), "--json"]
    doc = json.loads(invoke([*args, "--since", "2026-11-01T00:00", "--until", "2026-12-01T00:00Z"]).stdout)
    assert {g["key"] for g in doc["groups"]} == {"Nov01-0030", "Nov30-2330", "Dec01-0030"}
    assert (doc["since"], doc["until"]) == ("2026-10-31T23:00:00Z", "2026-12-01T00:00:00Z")


def test_durations_still_count_back_from_now(edges: tuple[Path, Path]) -> None:
    config, store = edges
    args = ["report", "-c", str(config), "--store", str(store), "--json"]
    doc = json.loads(invoke([*args, "--since", "10d16h"]).stdout)  # from Nov 30 22:40Z: Dec 1 00:30 Paris only
    assert {g["key"] for g in doc["groups"]} == {"Dec01-0030"}
    assert doc["until"] == "2026-12-11T14:40:00Z"  # no --until: now
    doc = json.loads(invoke([*args, "--since", "60d", "--until", "2w"]).stdout)  # up to Nov 27 14:40Z
    assert {g["key"] for g in doc["groups"]} == {"Oct31-2330", "Nov01-0030"}


@pytest.mark.parametrize(
    ("since", "until", "said"),
    [
        ("2026-11-31", None, "Error: --since 2026-11-31: day is out of range for month"),
        ("yesterday", None, "Error: --since: 'yesterday' is not a duration"),
        ("2026-11-30", "2026-11-01", "Error: --since 2026-11-30 00:00 CET is not before --until 2026-11-02 00:00 CET"),
        ("1969-12-31", None, "Error: --since 1969-12-31: outside the years 1970-9998"),
    ],
)
def test_a_bad_period_is_exit_2_before_the_store_is_read(
    edges: tuple[Path, Path], since: str, until: str | None, said: str
) -> None:
    config, store = edges
    args = [
        "report",
        "-c",
        str(config),
        "--store",
        str(store),
        "--since",
        since,
        *(["--until", until] if until else []),
    ]
    result = invoke(args, ExitCode.USAGE)
    assert result.stderr.splitlines()[0].startswith(said) and result.stdout == ""
    assert result.stderr.splitlines()[1].startswith("Hint: ")


# --- the times tables show -------------------------------------------------------------------------------


def _screen(edges: tuple[Path, Path], *args: str) -> str:
    config, store = edges
    return invoke([*args, "-c", str(config), "--store", str(store), "--format", "table"], env={"COLUMNS": "120"}).stdout


def test_show_and_status_give_times_in_the_desk_s_zone_and_json_keeps_utc(edges: tuple[Path, Path]) -> None:
    config, store = edges
    thread = f"{3:016x}"  # Nov 30 23:30 Paris; our reply an hour later, on Dec 1
    shown = _screen(edges, "show", thread)
    assert "closed since:  2026-12-01 00:30 CET" in shown and "last:          us, 2026-12-01 00:30 CET" in shown
    doc = json.loads(invoke(["show", thread, "-c", str(config), "--store", str(store), "--json"]).stdout)
    assert doc["thread"]["since"] == "2026-11-30T23:30:00Z" and doc["first_customer_at"] == "2026-11-30T22:30:00Z"
    assert "last sweep 2026-12-11 14:40 CET (1h ago)" in _screen(edges, "status")
    status = json.loads(invoke(["status", "-c", str(config), "--store", str(store), "--json"]).stdout)
    assert status["last_sweep_at"] == "2026-12-11T13:40:00Z"


def test_the_same_store_on_a_desk_in_new_york_shows_new_york_times(edges: tuple[Path, Path]) -> None:
    config, store = edges
    config.write_text(config.read_text().replace("Europe/Paris", "America/New_York"))
    assert "closed since:  2026-11-30 18:30 EST" in _screen(edges, "show", f"{3:016x}")


def test_summer_times_carry_summer_s_abbreviation() -> None:
    from gmaildesk.audit.zone import local_time

    july = int(datetime(2026, 7, 1, 10, 0, tzinfo=ZoneInfo("UTC")).timestamp() * 1000)
    assert local_time(july, PARIS) == "2026-07-01 12:00 CEST"
    assert local_time(july, ZoneInfo("UTC")) == "2026-07-01 10:00 UTC"
