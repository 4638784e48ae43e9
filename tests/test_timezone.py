"""The desk's timezone (desk.yaml `timezone:`, else the machine's): where people read times, while JSON stays
UTC (issue 11, items 3 and 9)."""

from __future__ import annotations

from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
import tzlocal

from cli_run import invoke
from gmaildesk.config import load_desk
from gmaildesk.config.example import write_example
from gmaildesk.errors import ExitCode

MINIMAL = "version: 1\nmailbox: support@example.com\n"


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
