"""`gmaildesk plan` shows changed texts as unified diffs, coloured on a terminal only, mail data escaped."""

from __future__ import annotations

from pathlib import Path

import pytest

from cli_run import invoke
from gmaildesk.cli import desk as desk_cli

HEAD = "version: 1\nmailbox: support@example.com\n"
BODY = "Thank you for writing.\nWe answer within a day.\nThe support team"
FILTER = """\
filters:
  - name: crashes
    match: {query: "subject:crash from:alerts@example.com -label:done -from:noreply@example.com"}
    actions: {labels: [Crashes]}
"""
GREEN, RED, YELLOW, RESET = "\x1b[32m", "\x1b[31m", "\x1b[33m", "\x1b[0m"


@pytest.fixture
def env(sandbox, tmp_path, monkeypatch):
    monkeypatch.setenv("GMAILDESK_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.delenv("NO_COLOR", raising=False)
    return sandbox


def _desk(tmp_path: Path, body: str = BODY, filters: str = FILTER) -> list[str]:
    path = tmp_path / "desk.yaml"
    indented = "\n".join("    " + line for line in body.splitlines())
    path.write_text(HEAD + f"auto_ack:\n  body_text: |\n{indented}\n" + filters)
    return ["-c", str(path)]


def _applied(env, tmp_path: Path) -> list[str]:
    common = [*_desk(tmp_path), "--endpoint", env.url]
    invoke(["apply", "--yes", *common])
    return common


def test_a_changed_template_is_shown_as_a_unified_diff(env, tmp_path):
    common = _applied(env, tmp_path)
    _desk(tmp_path, BODY.replace("within a day", "within four hours"))
    shown = invoke(["plan", *common]).stdout.splitlines()
    assert shown[:2] == ["~ vacation", "    responseBodyPlainText: changed, 63 -> 68 characters"]
    assert shown[2:9] == [
        "      --- responseBodyPlainText (in Gmail)",
        "      +++ responseBodyPlainText (desk.yaml)",
        "      @@ -1,3 +1,3 @@",
        "       Thank you for writing.",
        "      -We answer within a day.",
        "      +We answer within four hours.",
        "       The support team",
    ]
    assert shown[9] == "Plan: 0 to create, 1 to change, 0 to delete, 0 refused."
    assert "\x1b" not in "\n".join(shown), "piped output has no colour"


def test_a_changed_filter_query_is_diffed_term_by_term(env, tmp_path):
    common = _applied(env, tmp_path)
    _desk(tmp_path, filters=FILTER.replace("from:alerts@example.com", "from:pager@example.com"))
    shown = invoke(["plan", *common]).stdout.splitlines()
    assert shown[0] == "~ filter filter:crashes"
    diff = [line[6:] for line in shown if line.startswith("      ")]
    assert [line for line in diff if line[:1] in "+-" and line[:3] not in ("---", "+++")] == [
        "-from:alerts@example.com",
        "+from:pager@example.com",
    ]
    assert " subject:crash" in diff and " -label:done" in diff  # unchanged terms as context


def test_a_short_filter_query_is_not_diffed(env, tmp_path):
    short = FILTER.replace(" -from:noreply@example.com", "")
    common = [*_desk(tmp_path, filters=short), "--endpoint", env.url]
    invoke(["apply", "--yes", *common])
    _desk(tmp_path, filters=short.replace("alerts@", "pager@"))
    shown = invoke(["plan", *common]).stdout.splitlines()
    assert shown[:3] == [
        "~ filter filter:crashes",
        "    - (subject:crash from:alerts@example.com -label:done) -> label Crashes",
        "    + (subject:crash from:pager@example.com -label:done) -> label Crashes",
    ]
    assert shown[3].startswith("Plan: ")


def test_a_new_template_is_shown_whole_and_an_unchanged_one_not_at_all(env, tmp_path):
    common = [*_desk(tmp_path), "--endpoint", env.url]
    shown = invoke(["plan", *common]).stdout.splitlines()
    assert "      +We answer within a day." in shown and "      --- responseBodyPlainText (in Gmail)" in shown
    invoke(["apply", "--yes", *common])
    assert invoke(["plan", *common]).stdout == "No changes\n"


def test_on_a_terminal_lines_are_coloured_by_sign(env, tmp_path, monkeypatch):
    common = _applied(env, tmp_path)
    _desk(tmp_path, BODY.replace("within a day", "today"), FILTER.replace("Crashes", "Crash"))
    monkeypatch.setattr(desk_cli, "_stdout_is_terminal", lambda: True)
    shown = invoke(["plan", *common]).stdout.splitlines()
    assert f"{YELLOW}~ vacation{RESET}" in shown
    assert f"{RED}      -We answer within a day.{RESET}" in shown
    assert f"{GREEN}      +We answer today.{RESET}" in shown
    assert f"{GREEN}+ label Crash{RESET}" in shown
    assert "       The support team" in shown, "context lines stay plain"


def test_no_color_turns_colour_off_on_a_terminal(env, tmp_path, monkeypatch):
    common = _applied(env, tmp_path)
    _desk(tmp_path, BODY.replace("within a day", "today"))
    monkeypatch.setattr(desk_cli, "_stdout_is_terminal", lambda: True)
    monkeypatch.setenv("NO_COLOR", "1")
    assert "\x1b" not in invoke(["plan", *common]).stdout


def test_escape_sequences_gmail_holds_are_shown_escaped_even_in_colour(env, tmp_path, monkeypatch, gmail):
    common = _applied(env, tmp_path)
    vacation = gmail.settings().getVacation(userId="me").execute()
    vacation["responseBodyPlainText"] = "Thank you.\n\x1b[2JWe answer \u202etoday"
    gmail.settings().updateVacation(userId="me", body=vacation).execute()
    monkeypatch.setattr(desk_cli, "_stdout_is_terminal", lambda: True)
    shown = invoke(["plan", *common]).stdout.splitlines()
    assert f"{RED}      -\\x1b[2JWe answer \\u202etoday{RESET}" in shown
    assert all("\x1b[2J" not in line and "\u202e" not in line for line in shown)
