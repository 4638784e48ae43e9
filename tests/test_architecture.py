"""The layout keeps its promises: layers import downward only, commands stay thin and documented."""

from __future__ import annotations

import ast
from pathlib import Path

import typer.main

from gmaildesk.cli import app

PACKAGE = Path(__file__).resolve().parents[1] / "gmaildesk"


def _imports(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
    return names


def _modules(folder: str) -> list[Path]:
    return sorted((PACKAGE / folder).rglob("*.py"))


def test_below_the_cli_nothing_imports_typer_or_the_cli():
    for folder in ("gmail", "sandbox", "desk"):
        for path in _modules(folder):
            bad = {n for n in _imports(path) if n == "typer" or n.startswith(("typer.", "gmaildesk.cli"))}
            assert not bad, f"{path.relative_to(PACKAGE)} imports {sorted(bad)}"


def test_the_connection_layer_does_not_depend_on_the_sandbox():
    for path in _modules("gmail"):
        bad = {n for n in _imports(path) if n.startswith("gmaildesk.sandbox")}
        assert not bad, f"{path.relative_to(PACKAGE)} imports {sorted(bad)}"


def test_the_desk_engine_does_not_know_the_client_library_or_the_sandbox():
    for path in _modules("desk"):
        bad = {n for n in _imports(path) if n.startswith(("googleapiclient", "gmaildesk.sandbox"))}
        assert not bad, f"{path.relative_to(PACKAGE)} imports {sorted(bad)}"


def test_nothing_below_the_cli_exits_the_process():
    for folder in ("gmail", "sandbox", "desk"):
        for path in _modules(folder):
            source = path.read_text()
            assert "sys.exit(" not in source, f"{path.relative_to(PACKAGE)} calls sys.exit"


def test_modules_stay_small():
    for path in PACKAGE.rglob("*.py"):
        lines = len(path.read_text().splitlines())
        assert lines <= 800, f"{path.relative_to(PACKAGE)} has {lines} lines"


def _commands(group, prefix: str = ""):
    for name, command in group.commands.items():
        if hasattr(command, "commands"):  # a group (typer may vendor click, so no isinstance)
            yield from _commands(command, f"{prefix}{name} ")
        else:
            yield f"{prefix}{name}", command


def test_every_command_has_help_with_an_example():
    root = typer.main.get_command(app)
    commands = dict(_commands(root))
    assert {"demo", "sandbox serve", "sandbox deliver", "auth login", "auth status", "auth logout",
                                "plan", "apply", "test"} <= set(commands)
    for name, command in commands.items():
        assert command.help and "Example: gmaildesk " in command.help, f"`gmaildesk {name}` lacks an Example:"
