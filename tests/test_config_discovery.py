"""Which desk.yaml a command uses: -c, else $GMAILDESK_CONFIG, else desk.yaml in the current folder or the
nearest folder above it; when there is none, the error says where it looked."""

from __future__ import annotations

from pathlib import Path

import pytest

from cli_run import invoke
from gmaildesk.errors import ExitCode

HEAD = "version: 1\nmailbox: support@example.com\n"
DEPARTMENT = """\
departments:
  - name: Billing
    routes: [{subject: invoice}]
"""


def _desk(folder: Path, tests: int) -> Path:
    """A desk whose `gmaildesk test` says how many tests it has: which desk was used shows in the count."""
    entries = "".join(
        f"  - name: invoice {n}\n"
        f"    message: {{from: a@customer.example, subject: invoice {n}}}\n"
        f"    labels: [Dept/Billing]\n"
        for n in range(tests)
    )
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "desk.yaml"
    path.write_text(HEAD + DEPARTMENT + "tests:\n" + entries)
    return path


@pytest.fixture
def desk_tree(tmp_path, monkeypatch):
    """tmp/desk.yaml (1 test) with a subfolder tmp/replies/2026 to work in."""
    monkeypatch.delenv("GMAILDESK_CONFIG", raising=False)
    _desk(tmp_path, 1)
    sub = tmp_path / "replies" / "2026"
    sub.mkdir(parents=True)
    return tmp_path, sub


def test_desk_yaml_in_the_current_folder_is_used(desk_tree, monkeypatch):
    root, _ = desk_tree
    monkeypatch.chdir(root)
    assert invoke(["test"]).stdout.splitlines()[-1] == "1 passed."


def test_desk_yaml_is_found_from_a_subfolder(desk_tree, monkeypatch):
    _, sub = desk_tree
    monkeypatch.chdir(sub)
    assert invoke(["test"]).stdout.splitlines()[-1] == "1 passed."


def test_the_nearest_desk_yaml_above_wins(desk_tree, monkeypatch):
    root, sub = desk_tree
    _desk(root / "replies", 2)
    monkeypatch.chdir(sub)
    assert invoke(["test"]).stdout.splitlines()[-1] == "2 passed."


def test_the_environment_variable_beats_discovery_and_c_beats_both(desk_tree, monkeypatch):
    root, sub = desk_tree
    other = _desk(root / "elsewhere", 3)
    flag = _desk(root / "flag", 4)
    monkeypatch.chdir(sub)
    monkeypatch.setenv("GMAILDESK_CONFIG", str(other))
    assert invoke(["test"]).stdout.splitlines()[-1] == "3 passed."
    assert invoke(["test", "-c", str(flag)]).stdout.splitlines()[-1] == "4 passed."


def test_a_missing_environment_file_is_named(desk_tree, monkeypatch):
    root, sub = desk_tree
    monkeypatch.chdir(sub)
    monkeypatch.setenv("GMAILDESK_CONFIG", str(root / "gone.yaml"))
    result = invoke(["test"], ExitCode.ERROR)
    assert result.stderr.splitlines()[0] == f"Error: {root / 'gone.yaml'}: no such file"


def test_no_desk_anywhere_says_where_it_looked(tmp_path, monkeypatch):
    monkeypatch.delenv("GMAILDESK_CONFIG", raising=False)
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    if any((folder / "desk.yaml").is_file() for folder in work.resolve().parents):
        pytest.skip("a desk.yaml above the temporary folder would be found")
    for command in (["test"], ["plan"], ["sweep", "--endpoint", "http://127.0.0.1:9/"]):
        result = invoke(command, ExitCode.ERROR)
        assert result.stdout == ""
        assert result.stderr.splitlines() == [
            f"Error: no desk.yaml in {work.resolve()} or any folder above it, and $GMAILDESK_CONFIG is not set",
            "Hint: pass -c FILE, or set GMAILDESK_CONFIG=FILE",
            "Hint: `gmaildesk init` writes a commented example to start from",
        ]


def test_templates_beside_a_desk_found_above_are_read_from_its_folder(tmp_path, monkeypatch):
    monkeypatch.delenv("GMAILDESK_CONFIG", raising=False)
    (tmp_path / "templates").mkdir()
    (tmp_path / "templates" / "ack.txt.j2").write_text("We answer within a day.\n")
    (tmp_path / "desk.yaml").write_text(HEAD + "auto_ack:\n  body_text: {file: templates/ack.txt.j2}\n")
    sub = tmp_path / "notes"
    sub.mkdir()
    monkeypatch.chdir(sub)
    assert invoke(["test"]).stdout == "No tests in desk.yaml.\n"


def test_shell_completion_works_where_there_is_no_desk(tmp_path, monkeypatch):
    monkeypatch.delenv("GMAILDESK_CONFIG", raising=False)
    monkeypatch.chdir(tmp_path)
    if any((folder / "desk.yaml").is_file() for folder in tmp_path.resolve().parents):
        pytest.skip("a desk.yaml above the temporary folder would be found")
    completion = {"_GMAILDESK_COMPLETE": "complete_bash", "COMP_WORDS": "gmaildesk plan --exi", "COMP_CWORD": "2"}
    result = invoke([], env=completion, prog_name="gmaildesk")
    assert result.stdout.split() == ["--exit-code"]
