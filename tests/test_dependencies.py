"""Every third-party package the code imports is declared in pyproject.toml, and every declared one is used.

gmaildesk's imports must be runtime dependencies, except the sandbox's response validation (jsonschema),
which only tests switch on; the tests' own imports may also come from the test extra.
"""

from __future__ import annotations

import ast
import importlib.metadata
import importlib.util
import re
import sys
import tomllib
from functools import cache
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
# Imported by gmaildesk, declared in the test extra on purpose: the module and why.
TEST_ONLY = {"jsonschema": "gmaildesk/sandbox/schema.py, the response validation only tests switch on"}


def _name(requirement: str) -> str:
    found = re.match(r"[A-Za-z0-9][A-Za-z0-9._-]*", requirement)
    assert found, requirement
    return _normalized(found.group())


def _normalized(distribution: str) -> str:
    return re.sub(r"[-_.]+", "-", distribution).lower()  # PEP 503


def _declared(requirements: list[str]) -> set[str]:
    return {_name(r) for r in requirements if not r.startswith(PROJECT["name"])}


def _imports(folder: Path) -> dict[str, set[str]]:
    """Absolute imports of third-party modules under folder: module -> the files importing it."""
    local = {path.stem for path in folder.glob("*.py")}  # tests import their helpers as top-level modules
    found: dict[str, set[str]] = {}
    for path in sorted(folder.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                modules = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                modules = [node.module]
            else:
                continue
            for module in modules:
                top = module.partition(".")[0]
                if top not in sys.stdlib_module_names and top not in local and top != "gmaildesk":
                    found.setdefault(module, set()).add(str(path.relative_to(ROOT)))
    return found


@cache
def _installed_files() -> dict[str, str]:
    """Each installed file, as a path relative to its sys.path entry, and its distribution."""
    return {
        file.as_posix(): _normalized(dist.metadata["Name"])
        for dist in importlib.metadata.distributions()
        for file in dist.files or ()
        if file.suffix == ".py"
    }


def _relative_to_sys_path(path: Path) -> str | None:
    entries = [entry for entry in sys.path if entry and path.is_relative_to(entry)]
    return path.relative_to(max(entries, key=len)).as_posix() if entries else None  # the innermost entry


def _distribution_of(module: str) -> str:
    """The installed distribution that provides module (namespace packages such as google.* included)."""
    spec = importlib.util.find_spec(module)
    assert spec is not None, f"{module} is imported but not installed"
    origin = spec.origin if spec.has_location else None
    if origin is None:  # a package without __init__.py: any file inside it will do
        folder = Path(next(iter(spec.submodule_search_locations or ())))
        origin = str(next(folder.glob("*.py")))
    relative = _relative_to_sys_path(Path(origin))
    found = _installed_files().get(relative) if relative else None
    assert found is not None, f"no installed distribution provides {module} ({origin})"
    return found


def test_the_package_imports_only_what_it_declares_and_declares_only_what_it_imports() -> None:
    runtime = _declared(PROJECT["dependencies"])
    test_extra = _declared(PROJECT["optional-dependencies"]["test"])
    used: dict[str, set[str]] = {}
    for module, files in _imports(ROOT / "gmaildesk").items():
        used.setdefault(_distribution_of(module), set()).update(files)
    undeclared = {
        distribution: sorted(files)
        for distribution, files in used.items()
        if distribution not in runtime and not (distribution in TEST_ONLY and distribution in test_extra)
    }
    assert undeclared == {}
    assert runtime - set(used) == set(), "declared in [project] dependencies but imported nowhere in gmaildesk/"
    assert set(TEST_ONLY) <= set(used), "TEST_ONLY names a package gmaildesk no longer imports"


def test_the_tests_import_only_declared_packages() -> None:
    allowed = _declared(PROJECT["dependencies"]) | _declared(PROJECT["optional-dependencies"]["test"])
    undeclared = {
        module: sorted(files)
        for module, files in _imports(ROOT / "tests").items()
        if _distribution_of(module) not in allowed
    }
    assert undeclared == {}


def test_the_checker_sees_a_namespace_package_and_a_renamed_module() -> None:
    # google.auth and google.oauth2 share the google namespace with other distributions; yaml is PyYAML's.
    assert _distribution_of("google.auth.exceptions") == "google-auth"
    assert _distribution_of("google.oauth2.credentials") == "google-auth"
    assert _distribution_of("googleapiclient.discovery") == "google-api-python-client"
    assert _distribution_of("yaml") == "pyyaml"
    assert _name("google-auth-httplib2>=0.2") == "google-auth-httplib2" and _name("PyYAML>=6") == "pyyaml"
