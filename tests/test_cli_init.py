"""`gmaildesk init`: writes the packaged example, refuses to overwrite, --force overwrites."""

from __future__ import annotations

import inspect
from pathlib import Path

import typer
from typer.testing import CliRunner

from gmaildesk.cli import _DeskGroup
from gmaildesk.cli.init import init, register
from gmaildesk.config import load_desk
from gmaildesk.config.example import example_files
from gmaildesk.errors import ExitCode

EXPECTED = [
    "desk.yaml",
    "templates/ack-ticket.txt.j2",
    "templates/ack.html.j2",
    "templates/ack.txt.j2",
    "templates/signature.html.j2",
    "templates/replies/closing.html.j2",
    "templates/replies/closing.txt.j2",
    "templates/replies/need-more-info.txt.j2",
    "templates/replies/refund-received.txt.j2",
]


def _app() -> typer.Typer:
    # The command on a root like gmaildesk's own (same error handling), so it stays a subcommand.
    app = typer.Typer(cls=_DeskGroup)

    @app.callback()
    def root() -> None:
        """gmaildesk"""

    register(app)
    return app


def run(args: list[str], expect: ExitCode = ExitCode.OK):
    result = CliRunner().invoke(_app(), ["init", *args], catch_exceptions=expect != ExitCode.OK)
    assert result.exit_code == expect, f"stdout:\n{result.stdout}\nstderr:\n{result.stderr}"
    return result


def test_init_writes_desk_and_templates_that_load(tmp_path: Path):
    target = tmp_path / "mydesk"
    result = run([str(target)])
    written = sorted(p.relative_to(target).as_posix() for p in target.rglob("*") if p.is_file())
    assert written == sorted(EXPECTED)
    assert result.stdout.splitlines() == [f"wrote {target / name}" for name in EXPECTED] + [
        f"Next: edit {target / 'desk.yaml'} for your desk."
    ]
    assert result.stderr == ""
    desk = load_desk(target / "desk.yaml")
    assert [d.name for d in desk.departments] == ["Billing", "Technical", "Sales"]


def test_init_defaults_to_the_current_folder(tmp_path: Path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    run([])
    assert (tmp_path / "desk.yaml").is_file() and (tmp_path / "templates" / "ack.txt.j2").is_file()


def test_init_refuses_to_overwrite_and_writes_nothing(tmp_path: Path):
    (tmp_path / "desk.yaml").write_text("mine\n")
    result = run([str(tmp_path)], expect=ExitCode.ERROR)
    assert result.stderr.splitlines() == [
        f"Error: {tmp_path / 'desk.yaml'} already exists; nothing was written",
        "Hint: add --force to overwrite them (other files are left alone), or choose another folder",
    ]
    assert result.stdout == ""
    assert (tmp_path / "desk.yaml").read_text() == "mine\n"
    assert not (tmp_path / "templates").exists()


def test_init_counts_every_existing_file(tmp_path: Path):
    run([str(tmp_path)])
    result = run([str(tmp_path)], expect=ExitCode.ERROR)
    assert result.stderr.splitlines()[0] == (
        f"Error: {tmp_path / 'desk.yaml'} and 8 more files already exist; nothing was written"
    )


def test_force_overwrites_the_example_files_only(tmp_path: Path):
    (tmp_path / "desk.yaml").write_text("mine\n")
    (tmp_path / "templates").mkdir()
    (tmp_path / "templates" / "custom.txt.j2").write_text("keep me\n")
    run([str(tmp_path), "--force"])
    assert (tmp_path / "desk.yaml").read_bytes() == dict(example_files())["desk.yaml"]
    assert (tmp_path / "templates" / "custom.txt.j2").read_text() == "keep me\n"
    load_desk(tmp_path / "desk.yaml")


def test_init_into_a_file_is_an_error(tmp_path: Path):
    (tmp_path / "notes.txt").write_text("x")
    result = run([str(tmp_path / "notes.txt")], expect=ExitCode.ERROR)
    assert result.stderr.splitlines()[0] == f"Error: {tmp_path / 'notes.txt'} is a file, not a folder"


def test_help_is_the_docstring_with_an_example():
    result = CliRunner().invoke(_app(), ["init", "--help"])
    assert result.exit_code == 0
    assert "Write a commented desk.yaml and its templates/" in result.stdout
    assert "--force" in result.stdout
    assert "Example: gmaildesk init mydesk" in result.stdout
    assert inspect.cleandoc(init.__doc__).splitlines()[-1] == "Example: gmaildesk init mydesk"


def test_example_files_come_from_the_package_data():
    files = dict(example_files())
    assert sorted(files) == sorted(EXPECTED)
    assert files["desk.yaml"].startswith(b"# desk.yaml")


def test_pyproject_ships_the_package_data():
    # What makes `init` work from an installed wheel: gmaildesk/data/** is package data.
    pyproject = (Path(__file__).resolve().parents[1] / "pyproject.toml").read_text()
    assert 'gmaildesk = ["py.typed", "data/**/*"]' in pyproject
