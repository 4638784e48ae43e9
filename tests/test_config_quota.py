"""desk.yaml `sweep.quota`: the project's Gmail quota, with defaults from Gmail's quota page; a bad
value is one `desk.yaml:LINE: sweep.quota.KEY: message` line with a hint, exit 1 from the CLI."""

from __future__ import annotations

from pathlib import Path

import pytest

from cli_run import invoke
from gmaildesk.config import load_desk
from gmaildesk.errors import ExitCode, GmailDeskError

HEAD = "version: 1\nmailbox: support@example.com\nsweep:\n  quota:\n"  # the key is on line 5
TABLE_HINT = "current: Cloud projects created since 2026-05-01"


def write(tmp_path: Path, body: str) -> Path:
    path = tmp_path / "desk.yaml"
    path.write_text(HEAD + "".join(f"    {line}\n" for line in body.splitlines()))
    return path


def test_defaults_are_gmails_current_quota(tmp_path):
    path = tmp_path / "desk.yaml"
    path.write_text("version: 1\nmailbox: support@example.com\n")
    quota = load_desk(path).sweep.quota
    assert quota.units_per_minute is None  # Gmail: the cost table's limit; a sandbox: not paced
    assert quota.costs == "current"
    assert quota.daily_units == 80_000_000 and quota.project_units_per_minute == 1_200_000


def test_a_project_on_the_legacy_quota(tmp_path):
    quota = load_desk(write(tmp_path, "units_per_minute: 15000\ncosts: legacy\ndaily_units: 1000000")).sweep.quota
    assert (quota.units_per_minute, quota.costs, quota.daily_units) == (15_000, "legacy", 1_000_000)


@pytest.mark.parametrize(
    "body, message, hint",
    [
        (
            "units_per_minute: 6000.5",
            "units_per_minute: expected a whole number of quota units, got the number 6000.5",
            "Gmail allows 6000 per user per minute",
        ),
        (
            "units_per_minute: '6000/min'",
            "units_per_minute: expected a whole number of quota units, got '6000/min'",
            "or 15000 (older ones)",
        ),
        ("units_per_minute: 0", "units_per_minute: must be between 1 and 1,200,000 quota units, got 0", "Quotas page"),
        ("costs: cheap", "costs: 'cheap' is not a quota cost table", TABLE_HINT),
        ("costs: Legacy", "costs: 'Legacy' is not a quota cost table", "legacy: projects on the earlier quota"),
        ("daily_units: true", "daily_units: expected a whole number of quota units, got true (true/false)", "80000000"),
        ("daily_units: 90000000", "daily_units: must be between 1 and 80,000,000 quota units, got 90,000,000", ""),
        (
            "units_per_minute: 20000\nproject_units_per_minute: 10000",
            "units_per_minute: 20,000 is more than project_units_per_minute (10,000)",
            "A user's quota is part of the project's.",
        ),
        ("unit_per_minute: 6000", "unit_per_minute: unknown key", "did you mean 'units_per_minute'?"),
    ],
)
def test_bad_values_name_the_line_and_key_with_a_hint(tmp_path, body, message, hint):
    with pytest.raises(GmailDeskError) as caught:
        load_desk(write(tmp_path, body))
    assert caught.value.message == f"desk.yaml:5: sweep.quota.{message}"
    assert any(hint in h for h in caught.value.hints)


def test_the_cli_prints_one_line_and_exits_1(tmp_path):
    path = write(tmp_path, "costs: cheap")
    result = invoke(["test", "-c", str(path)], expect=ExitCode.ERROR)
    lines = result.stderr.strip().splitlines()
    assert lines[0] == "Error: desk.yaml:5: sweep.quota.costs: 'cheap' is not a quota cost table"
    assert TABLE_HINT in lines[1] and len(lines) == 2 and result.stdout == ""
