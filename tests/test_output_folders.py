"""Output paths in a folder that does not exist are one-line errors, never created (only the data dir is)."""

from __future__ import annotations

import pytest

from cli_run import invoke
from gmaildesk.errors import ExitCode
from test_desk_cli import DESK, api_calls, write


@pytest.fixture
def env(sandbox, tmp_path, monkeypatch):
    monkeypatch.setenv("GMAILDESK_DATA_DIR", str(tmp_path / "data"))
    return sandbox


def test_sweep_store_in_a_missing_folder_is_a_one_line_error(env, tmp_path):
    config = write(tmp_path, DESK)
    missing = tmp_path / "no" / "such"
    for option in (["sweep"], ["status"], ["threads"], ["show", "1a2b"], ["next"], ["report"], ["status", "--refresh"]):
        result = invoke([*option, *config, "--endpoint", env.url, "--store", str(missing / "s.sqlite")], ExitCode.USAGE)
        assert result.stderr.splitlines() == [
            f"Error: --store {missing / 's.sqlite'}: the folder {missing} does not exist",
            f"Hint: create it first (mkdir -p {missing}), or choose another --store FILE",
        ]
    assert not (tmp_path / "no").exists()
    assert api_calls(env) == {}  # refused before Gmail is asked anything


def test_export_to_a_missing_folder_is_a_one_line_error(env, tmp_path):
    missing = tmp_path / "no" / "such"
    result = invoke(["export", "--endpoint", env.url, "-o", str(missing / "desk.yaml")], ExitCode.USAGE)
    assert result.stderr.splitlines() == [
        f"Error: cannot write {missing / 'desk.yaml'}: the folder {missing} does not exist",
        f"Hint: create it first (mkdir -p {missing}), or choose another -o FILE",
    ]
    assert not (tmp_path / "no").exists()
    assert api_calls(env) == {}


def test_export_to_a_file_that_cannot_be_written_is_a_one_line_error(env, tmp_path):
    target = tmp_path / "desk.yaml"
    target.symlink_to(tmp_path / "gone" / "desk.yaml")  # exists as a name, cannot be written through
    result = invoke(["export", "--endpoint", env.url, "-o", str(target), "--force"], ExitCode.ERROR)
    assert result.stderr.splitlines() == [
        f"Error: cannot write {target}: No such file or directory",
        "Hint: choose another -o FILE",
    ]
    assert not (tmp_path / "gone").exists()
