"""CLI conventions (issue 11, item 6): --version, -h, shell completion, help placeholders in words."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import typer

from cli_run import invoke
from gmaildesk import __version__
from gmaildesk.cli import app

# What typer or click print for a parameter that names no metavar: its Python type or its variable name.
_PYTHON_PLACEHOLDER = re.compile(
    r"<(?:bool|int|float|str|path|file|dir|datetime|uuid|dict|tuple|list\[[^\]]*\])>|\{\w+\}", re.IGNORECASE
)


def _command_paths(command: Any, path: tuple[str, ...] = ()) -> Iterator[tuple[str, ...]]:
    yield path
    for name, sub in getattr(command, "commands", {}).items():  # typer vendors click: no isinstance
        yield from _command_paths(sub, (*path, name))


_ALL_COMMANDS = list(_command_paths(typer.main.get_command(app)))


def test_version_long_and_short() -> None:
    for flag in ("--version", "-V"):
        result = invoke([flag])
        assert result.stdout == f"gmaildesk {__version__}\n"


def test_version_is_eager_and_needs_no_command() -> None:
    assert invoke(["-V", "sweep"]).stdout == f"gmaildesk {__version__}\n"


def test_every_command_has_h_for_help_with_placeholders_in_words() -> None:
    assert len(_ALL_COMMANDS) >= 20
    for path in _ALL_COMMANDS:
        short = invoke([*path, "-h"], terminal_width=200)
        if path in {(), ("sandbox",), ("sweep",), ("sandbox", "serve")}:  # the root, a group, both levels
            assert short.stdout == invoke([*path, "--help"], terminal_width=200).stdout
        assert "Usage:" in short.stdout
        found = _PYTHON_PLACEHOLDER.findall(short.stdout)
        assert not found, f"`gmaildesk {' '.join(path)} --help` shows Python placeholders {found}"


def test_the_placeholder_check_refuses_what_typer_prints_by_default() -> None:
    # The pattern the walk above relies on recognises typer's own defaults, so it can fail.
    for shown in ("--json  <bool>", "--limit <int>", "files... <list[Path]>", "deliver [OPTIONS] {files}..."):
        assert _PYTHON_PLACEHOLDER.search(shown), shown
    for fine in ("FILE...", "<age|sla>", "DURATION", "#all/<id>"):
        assert not _PYTHON_PLACEHOLDER.search(fine), fine


def test_flags_show_no_type_and_options_show_their_word() -> None:
    serve = invoke(["sandbox", "serve", "-h"], terminal_width=200).stdout
    assert re.search(r"--port\s+PORT\b", serve)
    assert re.search(r"--allow-remote\s{2,}Allow", serve)
    deliver = invoke(["sandbox", "deliver", "-h"], terminal_width=200).stdout
    assert "[OPTIONS] FILE..." in deliver
    assert re.search(r"--to\s+EMAIL\b", deliver)
    assert re.search(r"--advance\s+DURATION\b", invoke(["sandbox", "clock", "-h"], terminal_width=200).stdout)


def test_root_help_offers_version_and_completion() -> None:
    out = invoke(["-h"], terminal_width=200).stdout
    assert "Exit codes: 0 done, 1 error, 2 bad usage" in out
    for option in ("--version", "-V", "--install-completion", "--show-completion", "--help", "-h"):
        assert re.search(rf"(?<![\w-]){re.escape(option)}(?![\w-])", out), option


def test_show_completion_bash_prints_a_completion_script() -> None:
    result = invoke(["--show-completion", "bash"], prog_name="gmaildesk")
    assert "_gmaildesk_completion()" in result.stdout
    assert "complete -o default -F _gmaildesk_completion gmaildesk" in result.stdout
    assert "_GMAILDESK_COMPLETE=complete_bash" in result.stdout


def test_install_completion_bash_writes_the_script_and_sources_it(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))
    result = invoke(["--install-completion", "bash"], prog_name="gmaildesk")
    assert "bash completion installed in" in result.stdout
    script = tmp_path / ".bash_completions" / "gmaildesk.sh"
    assert "complete -o default -F _gmaildesk_completion gmaildesk" in script.read_text()
    assert f"source '{script}'" in (tmp_path / ".bashrc").read_text()
