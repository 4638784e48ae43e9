"""Installing gmaildesk as a user would (`pip install .`, `pipx install .`): the wheel built from a
copy of the source, its contents, and the `gmaildesk` command it installs into a fresh venv."""

from __future__ import annotations

import json
import re
import shlex
import shutil
import subprocess
import sys
import sysconfig
import venv
import zipfile
from pathlib import Path

import pytest

from cli_run import invoke

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


@pytest.mark.slow  # with the next one ~11 s: a wheel build (pip fetches the setuptools backend), a venv
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


@pytest.mark.slow
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


def _quick_start() -> list[str]:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    block = readme.split("on a local Gmail sandbox (no Google account needed):\n\n```\n", 1)[1].split("```", 1)[0]
    return [line.split("  #", 1)[0].strip() for line in block.splitlines()]


def test_the_readme_quick_start_runs_as_written(sandbox, gmail, tmp_path, monkeypatch):
    """Every line of the README's first-screen quick start, in order, against a sandbox: the
    `serve` line is the fixture, curl is the same request made with the real client."""
    lines = _quick_start()
    assert len(lines) == 10
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("GMAILDESK_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("GMAILDESK_CONFIG_DIR", str(tmp_path / "config"))
    monkeypatch.setenv("COLUMNS", "200")
    outputs: list[str] = []
    thread_id = ""
    for line in lines:
        for command in (shlex.split(part) for part in line.split(" && ")):
            if command[:3] == ["gmaildesk", "sandbox", "serve"]:
                assert command[-1] == "&"
                for user in (command[i + 1] for i, word in enumerate(command) if word == "--user"):
                    if user not in sandbox.control.status()["users"]:
                        sandbox.control.add_user(user)
            elif command[0] == "export":
                name, _, value = command[1].partition("=")
                assert (name, value) == ("GMAILDESK_ENDPOINT", "http://127.0.0.1:8765/")
                monkeypatch.setenv(name, sandbox.url)
            elif command[0] == "cd":
                monkeypatch.chdir(command[1])
            elif command[0] == "curl":
                assert command[command.index("-X") + 1] == "POST"
                assert command[command.index("-X") + 2].endswith("gmail/v1/users/me/settings/forwardingAddresses")
                body = json.loads(command[command.index("-d") + 1])
                assert gmail.settings().forwardingAddresses().create(userId="me", body=body).execute()
            else:
                assert command[0] == "gmaildesk", line
                args = [thread_id if word == "THREAD_ID" else word for word in command[1:]]
                outputs.append(invoke(args).stdout)
                if command[1:3] == ["sandbox", "send"]:
                    thread_id = outputs[-1].split()[outputs[-1].split().index("thread") + 1]
    sent = next(o for o in outputs if o.startswith("delivered to "))
    assert sent.startswith("delivered to support@example.com: ") and "[INBOX Dept/Billing UNREAD]" in sent
    assert "- -> new" in outputs[outputs.index(sent) + 1]
    assert "new -> handled" in next(o for o in outputs if "-> handled" in o)
    assert json.loads(outputs[-1])["offsetMs"] == 2 * 86400 * 1000


def _in_source(fragment: str, source: str) -> bool:
    """`fragment` as the source writes it: a word naming a file, a variable or a value (desk.yaml,
    $GMAILDESK_CONFIG) may stand there as an f-string field ({DESK_FILE}, ${CONFIG_ENV})."""
    words = [
        re.escape(word) if re.fullmatch(r"[\w,;:()'-]+", word) else rf"(?:{re.escape(word)}|\S*\{{[^}}]*\}}\S*)"
        for word in fragment.split()
    ]
    return re.search(r"\s+".join(words), source) is not None


def test_the_readme_troubleshooting_table_quotes_messages_gmaildesk_prints():
    """Each message the table is keyed by is text gmaildesk (or the sandbox playing Gmail) really
    prints: its literal parts, between `...` and the placeholders, appear in the source."""
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    table = readme.split("### Troubleshooting\n", 1)[1].split("\n### ", 1)[0]
    rows = [line for line in table.splitlines() if line.startswith("| `")]
    assert len(rows) >= 8
    source = " ".join(p.read_text(encoding="utf-8") for p in (ROOT / "gmaildesk").rglob("*.py")).replace("`", "")
    for row in rows:
        seen, code = row.split(" | ")[:2]
        assert code.strip().isdigit(), row
        for quoted in re.findall(r"`([^`]+)`", seen):
            # A message joins its parts with ": " and ends Gmail's with "(HTTP status)".
            for fragment in re.split(r"\.\.\.|: |\(HTTP \d+ ?|\b(?:X|Y|FILE|DIR)\b", quoted):
                if len(fragment.strip()) >= 12:
                    assert _in_source(fragment.strip(), source), f"README troubleshooting quotes {fragment.strip()!r}"
