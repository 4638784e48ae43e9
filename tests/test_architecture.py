"""The layout keeps its promises: layers import downward only, commands stay thin and documented.

The layers, top down; each may import the ones it points at (and itself):

    cli ─────────────> desk, sweep, audit, team ──> config ──> gmail's shared rules (GMAIL_SHARED_RULES)
     │                  desk, sweep, team ───> gmail
     │                  audit, team ─────────> the sweep store's schema and state names (SWEEP_RECORDS)
     ├──> demo ──────> desk, sweep, audit, team, config, gmail, sandbox   (the story on an embedded sandbox)
     └──> sandbox (only `gmaildesk sandbox ...`, cli/sandbox.py)
    sandbox ─────────> gmail's shared rules, never the product
    neutral: errors, paths, lock; every layer may import them, they import no layer above them.

Third-party frameworks stay in one layer each: typer, click and rich in cli/ (everything below it
returns values the CLI renders), Google's client libraries in gmail/ (the one Gmail boundary).

The checker reads imports with `ast` (every import counts: top-level, inside functions, under
TYPE_CHECKING) and is itself tested on synthetic trees, so that a rule that can no longer fail is
noticed.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest
import typer.main

from gmaildesk.cli import app

PACKAGE = Path(__file__).resolve().parents[1] / "gmaildesk"

# First matching prefix wins, so the more specific names come first.
LAYER_OF: tuple[tuple[str, str], ...] = (
    ("gmaildesk.cli", "cli"),
    ("gmaildesk.__main__", "cli"),
    ("gmaildesk.demo", "demo"),
    ("gmaildesk.desk", "desk"),
    ("gmaildesk.sweep", "sweep"),
    ("gmaildesk.audit", "audit"),
    ("gmaildesk.team", "team"),
    ("gmaildesk.config", "config"),
    ("gmaildesk.gmail", "gmail"),
    ("gmaildesk.sandbox", "sandbox"),
    ("gmaildesk.errors", "neutral"),
    ("gmaildesk.paths", "neutral"),
    ("gmaildesk.lock", "neutral"),
)

MAY_IMPORT: dict[str, frozenset[str]] = {
    "cli": frozenset({"cli", "demo", "desk", "sweep", "audit", "team", "config", "gmail", "sandbox", "neutral"}),
    "demo": frozenset({"demo", "desk", "sweep", "audit", "team", "config", "gmail", "sandbox", "neutral"}),
    "desk": frozenset({"desk", "config", "gmail", "neutral"}),
    "sweep": frozenset({"sweep", "config", "gmail", "neutral"}),
    # Offline: the audit reads the sweep's store, never Gmail.
    "audit": frozenset({"audit", "config", "neutral"}),
    # A team's actions on one conversation (assign, reply from a template): Gmail plus the store's records.
    "team": frozenset({"team", "config", "gmail", "neutral"}),
    "config": frozenset({"config", "neutral"}),
    "gmail": frozenset({"gmail", "neutral"}),
    "sandbox": frozenset({"sandbox", "neutral"}),
    "neutral": frozenset({"neutral"}),
}

# Gmail's own rules, pure functions shared by the product and the sandbox (which must agree with
# Gmail on them): search syntax, label names, the label colour palette, filter criteria as a query.
# They import nothing of the connection, so reaching them loads no Google library.
GMAIL_SHARED_RULES = frozenset(
    {
        "gmaildesk.gmail.query",
        "gmaildesk.gmail.labels",
        "gmaildesk.gmail.palette",
        "gmaildesk.gmail.filter_query",
    }
)

# The audit reads what the sweep wrote: it checks the store's schema version (sweep/store.py) and names
# states and durations as the sweep does (sweep/state.py). Never the engine that talks to Gmail.
SWEEP_RECORDS = frozenset({"gmaildesk.sweep.store", "gmaildesk.sweep.state"})

# Modules a layer may import beyond MAY_IMPORT.
ALSO_MAY_IMPORT: dict[str, frozenset[str]] = {
    "config": GMAIL_SHARED_RULES,
    "sandbox": GMAIL_SHARED_RULES,
    "audit": SWEEP_RECORDS,
    "team": SWEEP_RECORDS,
}

# Layers only some modules of a permitted layer may reach.
ONLY_FROM: dict[str, frozenset[str]] = {
    "sandbox": frozenset({"gmaildesk.cli.sandbox", "gmaildesk.demo"}),
    "demo": frozenset({"gmaildesk.cli.demo"}),
}

# Top-level third-party packages that belong to one layer.
FRAMEWORKS: dict[str, str] = {
    "typer": "cli",
    "click": "cli",
    "rich": "cli",
    "googleapiclient": "gmail",
    "google": "gmail",
    "google_auth_httplib2": "gmail",
    "google_auth_oauthlib": "gmail",
    "httplib2": "gmail",
    "oauthlib": "gmail",
    "requests": "gmail",
}

# The sandbox serves and validates against the discovery document that ships inside the client
# library (data, not the client): googleapiclient.discovery_cache, and nothing else of it.
FRAMEWORK_EXCEPTIONS: dict[str, frozenset[str]] = {
    "sandbox": frozenset({"googleapiclient.discovery_cache"}),
}


# ----------------------------------------------------------------------------------------- the checker
def layer_of(module: str) -> str | None:
    """The layer of a gmaildesk module; None for a module of no layer (the package root)."""
    for prefix, layer in LAYER_OF:
        if module == prefix or module.startswith(prefix + "."):
            return layer
    return None


def _within(name: str, modules: Iterable[str]) -> bool:
    return any(name == m or name.startswith(m + ".") for m in modules)


def module_graph(root: Path) -> dict[str, set[str]]:
    """Every module under *root* (a package folder) -> the names it imports.

    `from gmaildesk.gmail import query` counts as gmaildesk.gmail.query (a module), not as the package."""
    base = root.name
    files = {_module_name(path, root, base): path for path in sorted(root.rglob("*.py"))}
    graph: dict[str, set[str]] = {}
    for module, path in files.items():
        names: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
            if isinstance(node, ast.Import):
                names.update(alias.name for alias in node.names)
            elif isinstance(node, ast.ImportFrom):
                source = _absolute(node, module, is_package=path.name == "__init__.py")
                for alias in node.names:
                    names.add(f"{source}.{alias.name}" if f"{source}.{alias.name}" in files else source)
        graph[module] = names
    return graph


def _module_name(path: Path, root: Path, base: str) -> str:
    parts = [base, *path.relative_to(root).with_suffix("").parts]
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _absolute(node: ast.ImportFrom, module: str, *, is_package: bool) -> str:
    if not node.level:
        return node.module or ""
    package = module.split(".") if is_package else module.split(".")[:-1]
    anchor = package[: len(package) - node.level + 1]
    return ".".join([*anchor, node.module] if node.module else anchor)


def violations(graph: Mapping[str, Iterable[str]], package: str = "gmaildesk") -> list[str]:
    """Every import in *graph* the layer rules forbid, one readable line each; [] when all is well."""
    found: list[str] = []
    for module, imported in sorted(graph.items()):
        here = layer_of(module)
        if here is None and module != package:
            found.append(f"{module} belongs to no layer: add it to LAYER_OF")
            continue
        for name in sorted(set(imported)):
            problem = _problem(module, here, name, package)
            if problem:
                found.append(f"{module} imports {name}: {problem}")
    return found


def _problem(module: str, here: str | None, name: str, package: str) -> str | None:
    if name == package or name.startswith(package + "."):
        there = layer_of(name)
        if here is None or there is None:
            return None  # the package root: imports nothing, imported for its version only
        if there == here:
            return None
        allowed = there in MAY_IMPORT[here] or _within(name, ALSO_MAY_IMPORT.get(here, ()))
        if not allowed:
            return f"{here} may import {', '.join(sorted(MAY_IMPORT[here]))}" + (
                f" and {', '.join(sorted(ALSO_MAY_IMPORT[here]))}" if here in ALSO_MAY_IMPORT else ""
            )
        if there in ONLY_FROM and not _within(module, ONLY_FROM[there]):
            return f"only {', '.join(sorted(ONLY_FROM[there]))} may import the {there} layer"
        return None
    owner = FRAMEWORKS.get(name.split(".")[0])
    if owner is None or owner == here or _within(name, FRAMEWORK_EXCEPTIONS.get(here or "", ())):
        return None
    return f"{name.split('.')[0]} belongs in {owner}/ only"


# ----------------------------------------------------------------------------------------- the rules
def test_every_layer_imports_only_what_it_may() -> None:
    graph = module_graph(PACKAGE)
    assert {"gmaildesk.cli", "gmaildesk.sweep.engine", "gmaildesk.sandbox.core", "gmaildesk.paths"} <= set(graph)
    assert violations(graph) == []


def test_the_rules_name_only_modules_that_exist() -> None:
    graph = module_graph(PACKAGE)
    for name in (*GMAIL_SHARED_RULES, *SWEEP_RECORDS, *(m for ms in ONLY_FROM.values() for m in ms)):
        assert name in graph, f"{name} is named in a rule but does not exist"


def test_the_shared_rules_load_no_google_library() -> None:
    """What config/ and the sandbox reach of gmail/ imports only the standard library and itself."""
    graph = module_graph(PACKAGE)
    for module in GMAIL_SHARED_RULES:
        outside = {
            n
            for n in graph[module]
            if n.startswith("gmaildesk.") and n not in GMAIL_SHARED_RULES or n.split(".")[0] in FRAMEWORKS
        }
        assert not outside, f"{module} imports {sorted(outside)}"


_LOADED = """
import importlib, pathlib, sys
root = pathlib.Path({root!r})
for path in sorted((root / {folder!r}).rglob("*.py")):
    parts = ["gmaildesk", *path.relative_to(root).with_suffix("").parts]
    importlib.import_module(".".join(parts[:-1] if parts[-1] == "__init__" else parts))
print("\\n".join(sorted(sys.modules)))
"""


@pytest.mark.parametrize(
    ("folder", "forbidden"),
    [
        (
            "sandbox",
            (
                "gmaildesk.cli",
                "gmaildesk.demo",
                "gmaildesk.desk",
                "gmaildesk.sweep",
                "gmaildesk.audit",
                "gmaildesk.config",
                "gmaildesk.gmail.client",
                "gmaildesk.gmail.connection",
                "googleapiclient.discovery",
                "googleapiclient.http",
                "typer",
                "rich",
            ),
        ),
        (
            "audit",
            (
                "gmaildesk.cli",
                "gmaildesk.desk",
                "gmaildesk.sweep.engine",
                "gmaildesk.gmail.client",
                "googleapiclient",
                "typer",
                "rich",
            ),
        ),
        ("sweep", ("gmaildesk.cli", "gmaildesk.demo", "gmaildesk.desk", "gmaildesk.audit", "typer", "rich")),
        ("desk", ("gmaildesk.cli", "gmaildesk.demo", "gmaildesk.sweep", "gmaildesk.audit", "typer", "rich")),
        (
            "config",
            (
                "gmaildesk.cli",
                "gmaildesk.desk",
                "gmaildesk.sweep",
                "gmaildesk.gmail.client",
                "googleapiclient",
                "typer",
                "rich",
            ),
        ),
        (
            "gmail",
            (
                "gmaildesk.cli",
                "gmaildesk.config",
                "gmaildesk.desk",
                "gmaildesk.sweep",
                "gmaildesk.audit",
                "gmaildesk.sandbox",
                "typer",
                "rich",
            ),
        ),
    ],
)
def test_importing_a_layer_loads_nothing_it_must_not_reach(folder: str, forbidden: tuple[str, ...]) -> None:
    """The same rules at run time, package __init__s included (a fresh interpreter imports every module)."""
    loaded = subprocess.run(
        [sys.executable, "-c", _LOADED.format(root=str(PACKAGE), folder=folder)],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    assert f"gmaildesk.{folder}" in loaded
    assert [m for m in loaded if _within(m, forbidden)] == []


def test_nothing_below_the_cli_exits_the_process() -> None:
    for path in PACKAGE.rglob("*.py"):
        if path.is_relative_to(PACKAGE / "cli"):
            continue
        source = path.read_text(encoding="utf-8")
        for call in ("sys.exit(", "os._exit(", "SystemExit"):
            assert call not in source, f"{path.relative_to(PACKAGE)} uses {call}"


def test_modules_stay_small() -> None:
    for path in PACKAGE.rglob("*.py"):
        lines = len(path.read_text(encoding="utf-8").splitlines())
        assert lines <= 800, f"{path.relative_to(PACKAGE)} has {lines} lines"


# ----------------------------------------------------------------------------------------- the checker's own tests
def _tree(tmp_path: Path, files: dict[str, str]) -> Path:
    root = tmp_path / "gmaildesk"
    for name, source in {**dict.fromkeys(_PACKAGES, ""), **files}.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(source, encoding="utf-8")
    return root


_PACKAGES = (
    "__init__.py",
    "cli/__init__.py",
    "desk/__init__.py",
    "sweep/__init__.py",
    "audit/__init__.py",
    "config/__init__.py",
    "gmail/__init__.py",
    "sandbox/__init__.py",
)

_GOOD = {
    "cli/sweep.py": "import typer\nfrom rich.progress import Progress\nfrom gmaildesk.sweep import service\n",
    "cli/sandbox.py": "from gmaildesk.sandbox import core\n",
    "sweep/service.py": "from gmaildesk.gmail import connection\nfrom gmaildesk.lock import AccountLock\n",
    "sweep/engine.py": "from gmaildesk.gmail.api import GmailApi\nfrom gmaildesk.config import Desk\n",
    "audit/db.py": "from gmaildesk.sweep.store import SCHEMA_VERSION\n",
    "gmail/api.py": "from googleapiclient.http import HttpRequest\nfrom gmaildesk.errors import GmailDeskError\n",
    "gmail/query.py": "import re\n",
    "sandbox/core.py": "from gmaildesk.gmail import query\nfrom gmaildesk.errors import GmailDeskError\n"
    "def doc():\n    from googleapiclient.discovery_cache import get_static_doc\n",
    "paths.py": "from gmaildesk.errors import GmailDeskError\n",
}


def test_the_checker_passes_a_well_layered_tree(tmp_path: Path) -> None:
    graph = module_graph(_tree(tmp_path, _GOOD))
    assert graph["gmaildesk.sandbox.core"] >= {"gmaildesk.gmail.query", "googleapiclient.discovery_cache"}
    assert violations(graph) == []


@pytest.mark.parametrize(
    ("file", "source", "expected"),
    [
        ("sweep/engine.py", "from gmaildesk.desk import plan\n", "sweep may import"),
        ("sweep/engine.py", "def f():\n    from gmaildesk.desk.plan import Plan\n", "sweep may import"),
        ("desk/apply.py", "import gmaildesk.sweep.state\n", "desk may import"),
        ("sweep/engine.py", "from googleapiclient.http import BatchHttpRequest\n", "googleapiclient belongs in gmail/"),
        (
            "desk/apply.py",
            "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from googleapiclient import errors\n",
            "googleapiclient belongs in gmail/",
        ),
        ("sweep/engine.py", "import typer\n", "typer belongs in cli/"),
        ("audit/queries.py", "from rich.table import Table\n", "rich belongs in cli/"),
        ("desk/plan.py", "import click\n", "click belongs in cli/"),
        ("audit/db.py", "from gmaildesk.sweep import engine\n", "audit may import"),
        ("audit/db.py", "from gmaildesk.gmail import connect\n", "audit may import"),
        ("sandbox/core.py", "from gmaildesk.desk import plan\n", "sandbox may import"),
        ("sandbox/core.py", "from gmaildesk.config import load_desk\n", "sandbox may import"),
        ("sandbox/core.py", "from gmaildesk.gmail import client\n", "sandbox may import"),
        ("sandbox/core.py", "import gmaildesk.gmail\n", "sandbox may import"),
        ("sandbox/core.py", "from googleapiclient.discovery import build\n", "googleapiclient belongs in gmail/"),
        ("config/load.py", "from gmaildesk.gmail.connection import connect\n", "config may import"),
        ("gmail/api.py", "from gmaildesk.sweep.state import State\n", "gmail may import"),
        ("gmail/query.py", "from gmaildesk.sandbox import core\n", "gmail may import"),
        ("paths.py", "from gmaildesk.desk.ownership import data_dir\n", "neutral may import"),
        ("lock.py", "from gmaildesk.cli import safe\n", "neutral may import"),
        ("cli/sweep.py", "from gmaildesk.sandbox import SandboxControl\n", "only gmaildesk.cli.sandbox"),
        ("desk/session.py", "from ..sweep import store\n", "desk may import"),
        ("newlayer.py", "", "belongs to no layer"),
    ],
)
def test_the_checker_catches_each_kind_of_breach(tmp_path: Path, file: str, source: str, expected: str) -> None:
    found = violations(module_graph(_tree(tmp_path, {**_GOOD, file: source})))
    assert len(found) == 1 and expected in found[0], found


# ----------------------------------------------------------------------------------------- commands
def _commands(group: Any, prefix: str = "") -> Iterator[tuple[str, Any]]:
    for name, command in group.commands.items():
        if hasattr(command, "commands"):  # a group (typer may vendor click, so no isinstance)
            yield from _commands(command, f"{prefix}{name} ")
        else:
            yield f"{prefix}{name}", command


def test_every_command_has_help_with_an_example_and_its_exit_codes() -> None:
    root = typer.main.get_command(app)
    commands = dict(_commands(root))
    assert {
        "demo",
        "sandbox serve",
        "sandbox deliver",
        "auth login",
        "auth status",
        "auth logout",
        "plan",
        "apply",
        "test",
        "sweep",
        "status",
        "threads",
        "show",
        "next",
        "report",
    } <= set(commands)
    for name, command in commands.items():
        assert command.help and "Example: gmaildesk " in command.help, f"`gmaildesk {name}` lacks an Example:"
        assert "Exit codes: 0 " in command.help, f"`gmaildesk {name}` does not list its exit codes"


def _callbacks(group: typer.Typer) -> Iterator[Any]:
    for command in group.registered_commands:
        yield command.callback
    for subgroup in group.registered_groups:
        if subgroup.typer_instance is not None:
            yield from _callbacks(subgroup.typer_instance)


# A command parses its options, calls one engine or service function and renders the result; tables and
# other rendering live in helpers (cli/audit_view.py), behaviour below the CLI. Counted in statements
# (imports aside), not lines, so that formatting does not move it; `sandbox serve` has 14.
COMMAND_STATEMENTS = 15


def _statements(function: ast.FunctionDef) -> int:
    body = function.body[1:] if ast.get_docstring(function) else function.body
    return sum(
        1
        for top in body
        for node in ast.walk(top)
        if isinstance(node, ast.stmt) and not isinstance(node, (ast.Import, ast.ImportFrom))
    )


def test_every_command_is_thin() -> None:
    callbacks = list(_callbacks(app))
    assert len(callbacks) >= 20
    for callback in callbacks:
        source = Path(callback.__code__.co_filename)
        tree = ast.parse(source.read_text(encoding="utf-8"))
        function = next(n for n in ast.walk(tree) if isinstance(n, ast.FunctionDef) and n.name == callback.__name__)
        count = _statements(function)
        assert count <= COMMAND_STATEMENTS, f"{source.name}::{callback.__name__} has {count} statements"


def test_the_thinness_count_sees_nested_statements() -> None:
    function = ast.parse('def f():\n    """Doc."""\n    import x\n    for a in b:\n        if a:\n            g(a)\n')
    assert _statements(function.body[0]) == 3  # type: ignore[arg-type]


def test_help_shows_each_paragraph_as_one_line_for_the_terminal_to_wrap() -> None:
    for name, command in _commands(typer.main.get_command(app)):
        assert all("\n" not in paragraph for paragraph in command.help.split("\n\n")), name
