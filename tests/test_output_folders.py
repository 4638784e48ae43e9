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
    for option in (["sweep"], ["status"]):
        result = invoke([*option, *config, "--endpoint", env.url, "--state", str(missing / "s.sqlite")], ExitCode.USAGE)
        assert result.stderr.splitlines() == [
            f"Error: the folder of the sweep store {missing / 's.sqlite'} does not exist: {missing}",
            f"Hint: create it first (mkdir -p {missing}), or leave the option out to use the data dir",
        ]
    assert not (tmp_path / "no").exists()
    assert set(api_calls(env)) <= {"gmail.users.getProfile"}  # which mailbox: asked before the store is named
