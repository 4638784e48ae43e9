"""Installing gmaildesk as a user would (`pip install .`, `pipx install .`): the wheel built from a
copy of the source, its contents, and the `gmaildesk` command it installs into a fresh venv."""

from __future__ import annotations

import shutil
import subprocess
import sys
import sysconfig
import venv
import zipfile
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow  # ~11 s: a wheel build (pip fetches the setuptools backend) and a venv

ROOT = Path(__file__).resolve().parent.parent
SHIPPED = ("pyproject.toml", "README.md")


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    """The wheel `pip wheel` builds from a copy (the shared checkout's build/ is left alone)."""
    base = tmp_path_factory.mktemp("install")
    source = base / "src"
    shutil.copytree(ROOT / "gmaildesk", source / "gmaildesk", ignore=shutil.ignore_patterns("__pycache__"))
    for name in SHIPPED:
        shutil.copy2(ROOT / name, source / name)
    built = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", str(source), "--no-deps", "--disable-pip-version-check", "-q"]
        + ["-w", str(base / "dist")],
        capture_output=True,
        text=True,
        timeout=240,
    )
    if built.returncode != 0 and "No matching distribution found for setuptools" in built.stderr:
        pytest.skip("pip cannot fetch the build backend (setuptools>=77): no network and no cache")
    assert built.returncode == 0, built.stderr
    (found,) = (base / "dist").glob("gmaildesk-*-py3-none-any.whl")
    return found


def test_the_wheel_ships_the_package_its_data_and_the_command(wheel):
    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())
        entry_points = archive.read(next(n for n in names if n.endswith(".dist-info/entry_points.txt"))).decode()
    assert "[console_scripts]\ngmaildesk = gmaildesk.cli:main" in entry_points
    data = {n for n in names if n.startswith("gmaildesk/data/")}
    shipped_data = {p.relative_to(ROOT).as_posix() for p in (ROOT / "gmaildesk" / "data").rglob("*") if p.is_file()}
    assert data == shipped_data and "gmaildesk/data/config/desk.yaml" in data
    assert {"gmaildesk/py.typed", "gmaildesk/cli/__init__.py", "gmaildesk/sandbox/server.py"} <= names
    assert not any(n.startswith(("tests/", "bench/")) or "__pycache__" in n for n in names)


def test_the_installed_command_runs_from_a_fresh_venv(wheel, tmp_path):
    target = tmp_path / "venv"
    venv.create(target, with_pip=False)  # pip comes from the project's venv (`pip --python`), no ensurepip
    python = target / "bin" / "python"
    site = Path(
        subprocess.run(
            [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    )
    # The dependencies, without the network: the project venv's site-packages as a plain path entry (its
    # .pth files, the editable gmaildesk among them, are not processed from there).
    (site / "project_deps.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    installed = subprocess.run(
        [sys.executable, "-m", "pip", "--python", str(python), "install", "--no-deps", "-q"]
        + ["--disable-pip-version-check", str(wheel)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert installed.returncode == 0, installed.stderr
    command = target / "bin" / "gmaildesk"

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([str(command), *args], cwd=tmp_path, capture_output=True, text=True, timeout=60)

    helped = run("--help")
    assert helped.returncode == 0, helped.stderr
    assert "sandbox" in helped.stdout and "Traceback" not in helped.stderr
    origin = subprocess.run(
        [str(python), "-c", "import gmaildesk; print(gmaildesk.__file__)"], cwd=tmp_path, capture_output=True, text=True
    )
    assert Path(origin.stdout.strip()).is_relative_to(site), origin.stdout  # the wheel's copy, not the checkout
    started = run("init", "mydesk")
    assert started.returncode == 0, started.stderr
    assert (tmp_path / "mydesk" / "desk.yaml").read_text() == (ROOT / "gmaildesk/data/config/desk.yaml").read_text()
    again = run("init", "mydesk")
    assert again.returncode == 1 and again.stderr.startswith("Error: ") and "Traceback" not in again.stderr
