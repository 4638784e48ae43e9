"""Output that fits (issue 11, item 2), through the CLI on a swept sandbox mailbox of ~60 conversations.

CliRunner's stdout is not a terminal, so the audit prints tab-separated lines there unless `--format table`
asks for the table; COLUMNS sets the table's width as a terminal's width would.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path

import pytest
from rich.cells import cell_len

from cli_run import invoke
from gmaildesk.cli.table import Column, fit
from gmaildesk.sandbox import running_sandbox
from gmaildesk.sandbox.mime import build_message

SUPPORT = "support@example.com"
H = 3600
DESK = """\
version: 1
mailbox: support@example.com
departments:
  - name: Billing
    routes: [{to: billing@example.com}]
    sla: {first_response: 4h}
  - name: Technical Support
    routes: [{to: tech@example.com}]
    sla: {first_response: 8h}
  - name: Returns and Refunds
    routes: [{to: returns@example.com}]
    sla: {first_response: 1d}
send_as:
  - {address: billing@example.com, display_name: Billing}
  - {address: tech@example.com, display_name: Tech}
  - {address: returns@example.com, display_name: Returns}
sweep:
  scope: newer_than:90d
"""
ROUTES = ("billing@example.com", "tech@example.com", "returns@example.com", SUPPORT)
LONG = "the parcel arrived damaged and the replacement you promised last week never came, please advise"
# A tab in a subject (RFC 2047 lets a sender encode one; Gmail's decoding turns a newline into a space).
TAB_AND_NEWLINE = "=?utf-8?q?Tab=09inside_and=0Anewline?="
BOXES = set("─│┃━┏┓┗┛┡┩╇┳┻┣┫╋┌┐└┘├┤┬┴┼═║╭╮╰╯")


@dataclass
class Mailbox:
    url: str
    args: list[str]
    first_sweep: str  # stdout of the first full sweep, at 80 columns, piped

    def json(self, *command: str) -> dict:
        return json.loads(invoke([*command, *self.args, "--json"]).stdout)


def _deliver(sandbox, n: int, subject: str, to: str, at_ms: int) -> None:
    raw = build_message(
        from_=f"customer{n}@shop{n % 7}.example",
        to=[to],
        subject=subject,
        text="hello",
        message_id=f"<c{n}@test>",
        date_ms=at_ms,
    )
    sandbox.control.deliver(SUPPORT, raw)


@pytest.fixture(scope="module")
def mailbox(tmp_path_factory):
    """60 conversations over three departments and none: some a day old (overdue), one with a tab and a
    newline in its subject; swept once (a first full sweep) with its output kept."""
    folder = tmp_path_factory.mktemp("fit")
    with running_sandbox(users=(SUPPORT,), validate_responses=True) as sandbox, pytest.MonkeyPatch.context() as mp:
        mp.setenv("GMAILDESK_DATA_DIR", str(folder / "data"))
        desk = folder / "desk.yaml"
        desk.write_text(DESK)
        args = ["-c", str(desk), "--endpoint", sandbox.url]
        invoke(["apply", *args, "--yes", "--skip-tests"])
        for n in range(59):
            now = int(sandbox.control.clock()["nowMs"])
            subject = f"Order {1000 + n}: {LONG}" if n % 4 == 0 else f"Question {n}"
            _deliver(sandbox, n, subject, ROUTES[n % 4], now)
            if n == 20:
                sandbox.control.advance_clock(26 * H)  # the first 21 are a day old: past every SLA
        _deliver(sandbox, 99, TAB_AND_NEWLINE, SUPPORT, int(sandbox.control.clock()["nowMs"]))
        first = invoke(["sweep", *args], env={"COLUMNS": "80"}).stdout
        yield Mailbox(sandbox.url, args, first)
        assert sandbox.control.counters()["schema_violations"] == []


def _too_long(text: str, width: int) -> list[str]:
    return [line for line in text.splitlines() if cell_len(line) > width]


# ---------------------------------------------------------------------------------------------- tables
@pytest.mark.parametrize("width", [80, 120])
@pytest.mark.parametrize("command", ["status", "threads", "next", "report", "show"])
def test_a_table_fits_the_terminal_and_keeps_its_key_columns_whole(mailbox, command, width):
    listed = mailbox.json("threads")["threads"]
    extra = [listed[0]["thread"]] if command == "show" else []
    out = invoke([command, *extra, *mailbox.args, "--format", "table"], env={"COLUMNS": str(width)}).stdout
    # show's link is one line whatever the width: a URL broken in two no longer opens.
    assert [line for line in _too_long(out, width) if not line.startswith("link:")] == [], out
    assert not BOXES & set(out) - {"─"}, out  # a rule under the header, no box
    if command == "threads":
        for t in listed[:50]:
            row = next(line for line in out.splitlines() if line.startswith(t["thread"]))
            assert f" {t['department'] or '-'} " in row and f" {t['state']} " in row, row
        assert "... 10 more" in out
    if command == "status" or command == "report":
        for department in ("Billing", "Technical Support", "Returns and Refunds"):
            assert any(line.startswith(department + " ") for line in out.splitlines()), out
    if command == "next":
        assert mailbox.json("next")["thread"]["thread"] in out


def test_a_long_subject_is_shortened_with_an_ellipsis_and_hidden_columns_are_named(mailbox):
    out = invoke(["threads", *mailbox.args, "--format", "table"], env={"COLUMNS": "80"}).stdout
    assert "Order 10" in out and LONG not in out and "…" in out
    [caption] = [line.strip() for line in out.splitlines() if "not shown at this width:" in line]
    assert "customer" in caption.split(":", 1)[1] and "https://" not in out


def test_wide_output_shows_every_link_whole(mailbox):
    out = invoke(["threads", *mailbox.args, "--format", "table", "-o", "wide"], env={"COLUMNS": "80"}).stdout
    for t in mailbox.json("threads")["threads"][:50]:
        assert t["link"] in out and t["subject"].replace("\t", "\\x09").replace("\n", "\\x0a") in out


def test_report_at_120_columns_gives_the_backlog_what_it_needs_and_the_key_column_the_rest():
    """Rich, left alone, cut `Billing` to `Billi…` at 120 columns while each backlog column kept the width
    of its header word `backlog` for one digit: it shrinks every column in proportion and knows no key
    column. fit() gives key columns their whole cells first and the room left to the shortest."""
    from rich.text import Text

    columns = [Column("dept", str, key=True), *(Column(f"open {b}", str, key=True) for b in ("<1h", "1-4h"))]
    columns.append(Column("subject", str, min_width=10))
    cells = [[Text("Returns and Refunds")], [Text("3")], [Text("12")], [Text("x" * 200)]]
    # Room for all: the backlog headers on one line, the subject takes the rest.
    assert fit(columns, cells, 120) == [19, 8, 9, 120 - 19 - 8 - 9 - 6]
    # Less room: the narrowest columns grow first (headers wrap at the space), the subject keeps its minimum.
    assert fit(columns, cells, 50) == [19, 8, 7, 10]
    # No room for the subject's minimum: it is hidden; the key columns stay whole.
    assert fit(columns, cells, 40) == [19, 8, 9, None]


def test_the_columns_that_give_way_are_hidden_lowest_priority_first():
    """A column another feature adds (a ticket, an owner) gives way before the subject does."""
    from rich.text import Text

    columns = [
        Column("thread", str, key=True),
        Column("ticket", str, min_width=None),
        Column("subject", str, min_width=10, priority=2),
        Column("owner", str, min_width=6),
    ]
    cells = [[Text("x" * 16)], [Text("#1042")], [Text("y" * 50)], [Text("alice")]]
    assert fit(columns, cells, 40) == [16, 6, 14, None]
    assert fit(columns, cells, 30) == [16, None, 12, None]
    assert fit(columns, cells, 10) == [16, None, None, None]  # the key column stays whole even so


# ---------------------------------------------------------------------------------------------- piped
@pytest.mark.parametrize("command", ["status", "threads", "next", "report"])
def test_piped_output_is_tab_separated_with_one_header_line(mailbox, command):
    out = invoke([command, *mailbox.args]).stdout
    assert not BOXES & set(out) and "\x1b" not in out
    header, *rows = out.rstrip("\n").split("\n")
    names = header.split("\t")
    assert names[0] in ("thread", "dept") and len(names) >= 8
    assert rows and all(len(row.split("\t")) == len(names) for row in rows), out
    if command == "threads":
        listed = mailbox.json("threads")["threads"]
        assert [row.split("\t")[0] for row in rows] == [t["thread"] for t in listed]  # every row, in order
        assert [row.split("\t")[names.index("link")] for row in rows] == [t["link"] for t in listed]


def test_a_tab_or_newline_in_a_subject_never_breaks_a_row(mailbox):
    out = invoke(["threads", *mailbox.args]).stdout
    rows = out.rstrip("\n").split("\n")
    assert len(rows) == mailbox.json("threads")["count"] + 1
    subject = rows[0].split("\t").index("subject")
    row = next(r for r in rows if "Tab" in r)
    assert row.split("\t")[subject] == "Tab\\x09inside and newline"


def test_format_tsv_and_format_table_force_either(mailbox):
    assert invoke(["threads", *mailbox.args, "--format", "tsv"]).stdout.startswith("thread\t")
    assert "\t" not in invoke(["threads", *mailbox.args, "--format", "table"]).stdout
    invoke(["threads", *mailbox.args, "--format", "html"], expect=2)


# ---------------------------------------------------------------------------------------------- show
def _shown_time(iso_utc: str, desk: Path) -> str:
    """The time a screen shows for a JSON time: in the desk's timezone (gmaildesk.audit.zone)."""
    from datetime import datetime

    from gmaildesk.audit.zone import local_time
    from gmaildesk.config import load_desk

    ms = int(datetime.fromisoformat(iso_utc).timestamp() * 1000)
    return local_time(ms, load_desk(desk).timezone)


def test_show_is_key_value_lines_then_messages_then_history_with_ages_as_of_now(sandbox, tmp_path, monkeypatch):
    monkeypatch.setenv("GMAILDESK_DATA_DIR", str(tmp_path / "data"))
    desk = tmp_path / "desk.yaml"
    desk.write_text(DESK)
    args = ["-c", str(desk), "--endpoint", sandbox.url]
    invoke(["apply", *args, "--yes", "--skip-tests"])
    _deliver(sandbox, 1, "Invoice 1042 charged twice", "billing@example.com", int(sandbox.control.clock()["nowMs"]))
    invoke(["sweep", *args, "--quiet"])
    thread = json.loads(invoke(["threads", *args, "--json"]).stdout)["threads"][0]
    since = _shown_time(thread["since"], desk)  # JSON is UTC; screens show the desk's timezone

    def facts(out: str) -> dict[str, str]:
        head = out.split("\n\n")[0].splitlines()
        return {line.split(":", 1)[0]: line.split(":", 1)[1].strip() for line in head}

    first = invoke(["show", thread["thread"], *args, "--format", "table"], env={"COLUMNS": "80"}).stdout
    shown = facts(first)
    assert shown["thread"] == thread["thread"] and shown["link"] == thread["link"]
    assert shown["subject"] == "Invoice 1042 charged twice" and shown["customer"] == "customer1@shop1.example"
    assert shown["department"] == "Billing" and shown["state"] == "new"
    assert re.fullmatch(re.escape(since) + r" \(\d+s ago\)", shown["new since"])
    assert "Messages (1):" in first and "State history (journal):" in first
    sandbox.control.advance_clock(3 * H)
    later = invoke(["show", thread["thread"], *args], env={"COLUMNS": "80"}).stdout
    assert facts(later)["new since"] == f"{since} (3h ago)"  # computed now, not at the sweep
    assert re.search(r"\(in (1h|59m)\)$", facts(later)["SLA deadline"])
    messages, history = later.split("Messages (1):\n")[1].split("\n\nState history (journal):\n")
    assert messages.splitlines()[0].split("\t")[:3] == ["at", "counted as", "from"]
    assert messages.splitlines()[1].split("\t")[:3] == [since, "customer", "customer1@shop1.example"]
    assert history.splitlines()[1].split("\t")[:3][1:] == ["-", "new"]
    assert re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d \S+", history.splitlines()[1].split("\t")[0])  # absolute


# ---------------------------------------------------------------------------------------------- sweep
def _section(out: str, start: str, end: str) -> list[str]:
    lines = out.splitlines()
    first = next(i for i, line in enumerate(lines) if line.startswith(start))
    last = next(i for i, line in enumerate(lines) if line.startswith(end))
    return lines[first + 1 : last]


def test_a_first_full_sweep_prints_a_summary_not_a_line_per_conversation(mailbox):
    out = mailbox.first_sweep
    assert out.startswith("Changed 60 of 60 conversations (full scan")
    assert _too_long(out, 80) == [] and not BOXES & set(out)
    counts = _section(out, "By transition:", "Most urgent")
    assert sum(int(line.split()[-1]) for line in counts) == 60
    assert any(line.split()[:3] == ["-", "->", "new+overdue"] for line in counts), counts
    urgent = _section(out, "Most urgent 20 of", "Now:")
    header, *rows = urgent
    assert header.split() == ["thread", "subject", "dept", "state", "age", "due"]
    assert len(rows) == 20
    assert all("overdue" in row for row in rows)  # 21 are overdue: they come first, the longest waiting first
    assert "--verbose lists all 60 transitions" in out
    assert len(out.splitlines()) < 40


def test_verbose_lists_every_transition(mailbox, tmp_path):
    """A sweep into a fresh store is a first full sweep again: --verbose lists all 60 with their subjects."""
    out = invoke(
        ["sweep", *mailbox.args, "--verbose"], env={"COLUMNS": "120", "GMAILDESK_DATA_DIR": str(tmp_path)}
    ).stdout
    assert _too_long(out, 120) == []
    ids = {t["thread"] for t in mailbox.json("threads")["threads"]}
    listed = [line.split()[0] for line in out.splitlines() if line.startswith("  ") and line.split()[0] in ids]
    assert sorted(listed) == sorted(ids)
    assert "Order 1000: the parcel" in out and "By transition:" in out and "Most urgent" not in out


def test_a_dry_run_first_sweep_summarises_without_an_urgent_list(mailbox, tmp_path):
    """No store yet and none written: counts by transition, nothing read from a store."""
    out = invoke(["sweep", *mailbox.args, "--dry-run"], env={"COLUMNS": "80", "GMAILDESK_DATA_DIR": str(tmp_path)})
    assert out.stdout.startswith("Would change 60 of 60 conversations (full scan")
    assert "By transition:" in out.stdout and "Most urgent" not in out.stdout and "thread " not in out.stdout
    assert not (tmp_path / "stores").exists() or not any((tmp_path / "stores").rglob("*.sqlite"))


def test_a_sweep_with_few_changes_lists_each_with_its_subject(sandbox, tmp_path, monkeypatch):
    monkeypatch.setenv("GMAILDESK_DATA_DIR", str(tmp_path / "data"))
    desk = tmp_path / "desk.yaml"
    desk.write_text(DESK)
    args = ["-c", str(desk), "--endpoint", sandbox.url]
    invoke(["apply", *args, "--yes", "--skip-tests"])
    invoke(["sweep", *args, "--quiet"])
    now = int(sandbox.control.clock()["nowMs"])
    _deliver(sandbox, 1, f"Order 7: {LONG}", "tech@example.com", now)
    _deliver(sandbox, 2, "Refund for order 8", "returns@example.com", now)
    out = invoke(["sweep", *args], env={"COLUMNS": "80"}).stdout
    assert out.startswith("Changed 2 of 2 conversations (incremental")
    assert _too_long(out, 80) == []
    header = out.splitlines()[1].split()
    assert header == ["thread", "change", "subject", "why"]
    rows = [line for line in out.splitlines()[2:] if " -> new " in line]
    assert len(rows) == 2 and any("Refund for order 8" in row for row in rows)
    assert any("Order 7: the" in row and "…" in row for row in rows)
