"""The bad-config table (tests/test_config_errors.py CASES) through the real commands: `gmaildesk plan`
and `gmaildesk apply --yes` against a sandbox each print exactly `Error: <message>` and the hints,
exit 1, print nothing on stdout, and the sandbox's counters prove not one API call was made."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from gmaildesk.cli import app
from gmaildesk.errors import ExitCode
from gmaildesk.sandbox import running_sandbox
from test_config_errors import CASES

COMMANDS = {"plan": ["plan"], "apply": ["apply", "--yes"]}


@pytest.fixture(scope="module")
def shared_sandbox():
    with running_sandbox(users=("support@example.com",), validate_responses=True) as handle:
        yield handle


def _write_case(folder: Path, yaml_text: str, files: dict[str, str]) -> Path:
    desk = folder / "desk.yaml"
    desk.write_text(yaml_text, encoding="utf-8")
    for relative, content in files.items():
        (folder / relative).parent.mkdir(parents=True, exist_ok=True)
        (folder / relative).write_text(content, encoding="utf-8")
    return desk


def test_the_table_has_at_least_20_bad_configs():
    assert len(CASES) >= 20


@pytest.mark.parametrize("command", COMMANDS)
@pytest.mark.parametrize(("yaml_text", "message", "hints", "files"), CASES)
def test_a_bad_config_stops_the_command_before_any_api_call(
    shared_sandbox, tmp_path, monkeypatch, command, yaml_text, message, hints, files
):
    monkeypatch.setenv("GMAILDESK_DATA_DIR", str(tmp_path / "data"))
    desk = _write_case(tmp_path, yaml_text, files)
    shared_sandbox.control.reset_counters()

    result = CliRunner().invoke(
        app, [*COMMANDS[command], "-c", str(desk), "--endpoint", shared_sandbox.url], catch_exceptions=False
    )

    assert result.exit_code == ExitCode.ERROR, result.stderr
    expected_hints = [hint.replace("{folder}", str(tmp_path.resolve())) for hint in hints]
    assert result.stderr.splitlines() == [f"Error: {message}", *(f"Hint: {hint}" for hint in expected_hints)]
    assert result.stdout == ""
    assert shared_sandbox.control.counters()["total_calls"] == 0
    assert not (tmp_path / "data").exists(), "no ownership record is written either"
