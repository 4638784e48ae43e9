"""The audit over provisional conversations (issue 12, item 1): decided from Gmail's listings, facts pending.

Stores are built directly (sweep.store.Store.commit) with ThreadRow(provisional=True) rows as the lean first
sweep writes them: state, deadline and department right; first response and agents NULL; subject, customer
and the first customer message NULL unless the sweep read the customer's message; `messages` only what was
read. `status` counts them, `threads`/`next`/`show` say "(pending)", `report` leaves them out of every figure
and says how many it left out; a store without them prints exactly what it printed before.
"""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft202012Validator
from referencing import Registry, Resource

from cli_run import invoke
from gmaildesk.audit.shapes import THREAD_FIELDS
from gmaildesk.paths import Account
from gmaildesk.sweep.state import State
from gmaildesk.sweep.store import Checkpoint, JournalEntry, MessageFact, Store, ThreadRow, store_path

H = 3_600_000
NOW = 1_800_000_000_000  # 2027-01-15T08:00:00Z
DESK = """\
version: 1
mailbox: {mailbox}
departments:
  - name: Billing
    sla: {{first_response: 4h, next_response: 8h}}
  - name: Tech
    sla: {{first_response: 1h, next_response: 2h}}
"""
SCHEMAS = Path(__file__).resolve().parent.parent / "docs" / "schemas"
REGISTRY: Registry = Registry().with_resources(
    (p.name, Resource.from_contents(json.loads(p.read_text()))) for p in SCHEMAS.glob("*.schema.json")
)
PENDING_STATUS = "facts pending for 3 conversations (decided from Gmail's listings; the next sweeps read them)"


def _read(tid: str, state: str, dept: str, first: int, last: int, side: str, **facts: Any) -> ThreadRow:
    """A conversation the sweep read whole."""
    return ThreadRow(
        tid,
        state=State(state),
        department=dept,
        last_counted_id=f"{tid}-1",
        last_counted_side=side,
        last_counted_at=last,
        first_customer_at=first,
        message_ids=[f"{tid}-1"],
        updated_at=NOW - H,
        messages=[MessageFact(f"{tid}-1", first, "customer", "ann@cust.test")],
        **facts,
    )


def _provisional(tid: str, state: str, dept: str, ids: int, **facts: Any) -> ThreadRow:
    """A conversation decided from Gmail's listings: no first response, no agent, *ids* messages listed."""
    return ThreadRow(
        tid,
        state=State(state),
        department=dept,
        message_ids=[f"{tid}-{n}" for n in range(1, ids + 1)],
        updated_at=NOW - H,
        provisional=True,
        **facts,
    )


READ = [
    _read("a01", "new", "Billing", NOW - 5 * H, NOW - 5 * H, "customer", due_at=NOW - H, overdue=True,
          subject="Charged twice", customer="ann@cust.test", waiting_since=NOW - 5 * H),
    _read("a02", "handled", "Tech", NOW - 10 * H, NOW - 9 * H, "ours_reply", first_response_at=NOW - 9 * H,
          subject="Login", customer="ed@cust.test", agent="tech@example.com", first_agent="tech@example.com"),
    _read("a03", "closed", "Billing", NOW - 30 * H, NOW - 20 * H, "ours_reply", first_response_at=NOW - 28 * H,
          subject="Refund", customer="cy@cust.test", agent="billing@example.com"),
]  # fmt: skip
PROVISIONAL = [
    # The sweep read the customer's message that decides new: its facts are there, the rest pending.
    _provisional(
        "p01", "new", "Billing", 3, first_customer_at=NOW - 3 * H, last_counted_at=NOW - 3 * H,
        last_counted_side="customer", waiting_since=NOW - 3 * H, due_at=NOW + H, subject="Invoice",
        customer="di@cust.test", messages=[MessageFact("p01-3", NOW - 3 * H, "customer", "di@cust.test")],
    ),
    # Decided from the listings alone: overdue from the `after:` cut-offs, nothing read.
    _provisional("p02", "new", "Tech", 2, due_at=NOW - 2 * H, overdue=True),
    _provisional("p03", "handled", "Tech", 4, first_customer_at=NOW - 8 * H),
]  # fmt: skip
JOURNAL = [JournalEntry("a01", None, "new", "customer wrote 0s ago, no reply yet", NOW - 5 * H, "a01-1")]


def _store(path: Path, rows: list[ThreadRow]) -> Path:
    with Store(path) as store:
        store.commit(Checkpoint(history_id="1", last_sweep_at=NOW - 10 * 60_000), rows, JOURNAL, "sweep-1")
    return path


@pytest.fixture
def desks(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[list[str], list[str]]:
    """The same desk over two stores: with the provisional conversations, and without them."""
    monkeypatch.setenv("GMAILDESK_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setattr("gmaildesk.cli.options.now_ms", lambda options: NOW)
    config = tmp_path / "desk.yaml"
    config.write_text(DESK.format(mailbox="support@example.com"))
    with_pending = _store(tmp_path / "pending.sqlite", [*READ, *PROVISIONAL])
    without = _store(tmp_path / "read.sqlite", READ)
    return ["-c", str(config), "--store", str(with_pending)], ["-c", str(config), "--store", str(without)]


def _json(args: list[str]) -> dict[str, Any]:
    doc: dict[str, Any] = json.loads(invoke([*args, "--json"]).stdout)
    schema = json.loads((SCHEMAS / f"{doc['kind']}.schema.json").read_text())
    errors = [e.message for e in Draft202012Validator(schema, registry=REGISTRY).iter_errors(doc)]
    assert errors == [], errors
    return doc


def _table(args: list[str], width: int = 200) -> str:
    return str(invoke([*args, "--format", "table"], env={"COLUMNS": str(width)}).stdout)


# ---------------------------------------------------------------------------------------------- status
def test_status_says_how_many_conversations_have_pending_facts(desks: tuple[list[str], list[str]]) -> None:
    pending, read = desks
    text = _table(["status", *pending])
    assert text.count(PENDING_STATUS) == 1
    assert "6 conversations, 2 overdue" in text  # their states count as any other's
    tsv = invoke(["status", *pending, "--format", "tsv"])
    assert PENDING_STATUS not in tsv.stdout and PENDING_STATUS in tsv.stderr  # the rows stay pure
    doc = _json(["status", *pending])
    assert doc["provisional"] == 3 and doc["total"] == 6
    assert {d["department"]: d["provisional"] for d in doc["departments"]} == {"Billing": 1, "Tech": 2}
    # Nothing new without them: no line, no key.
    assert "pending" not in _table(["status", *read]) and "pending" not in invoke(["status", *read]).stderr
    plain = _json(["status", *read])
    assert "provisional" not in plain and all("provisional" not in d for d in plain["departments"])


def test_one_pending_conversation_is_said_in_the_singular(tmp_path: Path, desks: tuple[list[str], list[str]]) -> None:
    config = desks[0][1]
    store = _store(tmp_path / "one.sqlite", [*READ, PROVISIONAL[1]])
    text = _table(["status", "-c", config, "--store", str(store)])
    assert "facts pending for 1 conversation (decided from Gmail's listings; the next sweeps read it)" in text


# ---------------------------------------------------------------------------------------------- threads, next
def test_threads_show_pending_subject_and_customer(desks: tuple[list[str], list[str]]) -> None:
    pending, read = desks
    for table in (_table(["threads", *pending]), _table(["threads", *pending, "-o", "wide"], width=300)):
        row = next(line for line in table.splitlines() if "p02" in line)
        cells = row.split("https://")[0]  # the link (-o wide) has its own '?'
        assert cells.count("(pending)") == 2 and "None" not in cells and "?" not in cells
        assert "Tech" in row and "overdue 2h" in row
        invoice = next(line for line in table.splitlines() if "p01" in line)  # read: shown as read
        assert "Invoice" in invoice and "di@cust.test" in invoice and "(pending)" not in invoice
    tsv = list(csv.reader(io.StringIO(invoke(["threads", *pending, "--format", "tsv"]).stdout), delimiter="\t"))
    rows = {r[0]: dict(zip(tsv[0], r, strict=True)) for r in tsv[1:]}
    assert (rows["p02"]["subject"], rows["p02"]["customer"], rows["p02"]["owner"]) == ("(pending)", "(pending)", "-")
    assert rows["p03"]["state"] == "handled" and rows["p03"]["subject"] == "(pending)"
    doc = _json(["threads", *pending])
    by_id = {t["thread"]: t for t in doc["threads"]}
    assert by_id["p02"]["provisional"] is True and by_id["p02"]["subject"] is None and by_id["p02"]["messages"] == 2
    assert by_id["p01"]["provisional"] is True and by_id["p01"]["customer"] == "di@cust.test"
    assert all("provisional" not in by_id[t] for t in ("a01", "a02", "a03"))
    data = list(csv.reader(io.StringIO(invoke(["threads", *pending, "--csv"]).stdout)))
    assert data[0] == THREAD_FIELDS  # CSV: the fixed columns, a null subject empty
    assert dict(zip(data[0], next(r for r in data if r[0] == "p02"), strict=True))["subject"] == ""
    assert {len(r) for r in data} == {len(data[0])}
    assert "(pending)" not in _table(["threads", *read]) and "provisional" not in invoke(["threads", *read]).stdout


def test_next_picks_a_provisional_conversation_by_its_deadline_and_says_pending(
    desks: tuple[list[str], list[str]],
) -> None:
    pending, _ = desks
    text = _table(["next", *pending])
    assert "p02" in text and text.count("(pending)") == 2  # overdue longest, decided from the listings
    assert _json(["next", *pending])["thread"]["provisional"] is True


# ---------------------------------------------------------------------------------------------- show
def test_show_says_facts_pending_and_how_many_messages_are_not_read(desks: tuple[list[str], list[str]]) -> None:
    pending, _ = desks
    text = _table(["show", "p01", *pending])
    assert (
        "facts:         pending — decided from Gmail's listings; the next sweeps read it whole "
        "(gmaildesk sweep --backfill N reads them now)"
    ) in text
    assert "1st response:  pending" in text and "Messages (1 read, 2 not read yet):" in text
    assert "di@cust.test" in text.split("Messages (")[1]  # the message that was read is listed
    nothing_read = _table(["show", "p02", *pending])
    assert "Messages (0 read, 2 not read yet):" in nothing_read and "not recorded yet" not in nothing_read
    assert "subject:       (pending)" in nothing_read and "customer:      (pending)" in nothing_read
    assert "None" not in nothing_read
    doc = _json(["show", "p01", *pending])
    assert doc["messages_not_read"] == 2 and [m["message"] for m in doc["messages"]] == ["p01-3"]
    assert doc["first_response_at"] is None and doc["thread"]["provisional"] is True
    empty = _json(["show", "p03", *pending])
    assert (empty["messages"], empty["messages_not_read"]) == ([], 4)
    # A conversation read whole: no facts line, no first response line, its messages as before.
    read = _table(["show", "a01", *pending])
    assert "pending" not in read and "Messages (1):" in read
    assert "messages_not_read" not in _json(["show", "a01", *pending])


# ---------------------------------------------------------------------------------------------- report
def _without_pending(doc: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in doc.items() if k not in ("pending", "pending_undated")}


@pytest.mark.parametrize("by", ["dept", "week", "agent"])
def test_report_figures_leave_provisional_conversations_out(desks: tuple[list[str], list[str]], by: str) -> None:
    pending, read = desks
    with_them, without = _json(["report", *pending, "--by", by]), _json(["report", *read, "--by", by])
    assert _without_pending(with_them) == without  # every number as if they were not there
    assert (with_them["pending"], with_them["pending_undated"]) == (3, 1)  # p02: not yet dated
    assert "pending" not in without and without["total"]["volume"] == 3
    assert (
        invoke(["report", *pending, "--by", by, "--csv"]).stdout
        == invoke(["report", *read, "--by", by, "--csv"]).stdout
    )


def test_report_text_and_html_say_how_many_are_pending(tmp_path: Path, desks: tuple[list[str], list[str]]) -> None:
    pending, read = desks
    line = (
        "Note: facts pending for 3 conversations of this period, 1 of them not yet dated (decided from Gmail's "
        "listings): not counted in these figures until the next sweeps read them"
    )
    text = _table(["report", *pending], width=400)
    assert line in text
    without = _table(["report", *read], width=400)
    assert text.replace(line + "\n", "") == without
    assert line in invoke(["report", *pending, "--format", "tsv"]).stderr
    # A narrower period: p03 (8h ago) falls out, p01 (3h ago) stays, the undated p02 is in every period.
    since = ["--since", "2027-01-15T04:00", "--until", "2027-01-15T09:00"]
    narrow = _json(["report", *pending, *since])
    assert (narrow["pending"], narrow["pending_undated"]) == (2, 1)
    page, page_read = tmp_path / "pending.html", tmp_path / "read.html"
    invoke(["report", *pending, "--html", str(page)])
    invoke(["report", *read, "--html", str(page_read)])
    html = page.read_text()
    assert html.count("facts pending for 3 conversations of this period") == 1
    assert html.replace(html[html.index('<p class="note">Note: facts pending') :].split("</p>")[0] + "</p>", "") == (
        page_read.read_text()
    )
    assert "pending" not in page_read.read_text()


def test_a_store_from_before_provisional_rows_reads_as_none_pending(tmp_path: Path) -> None:
    """A version 3 store (no provisional column): the audit opens it read-only and finds nothing pending."""
    import sqlite3

    path = _store(tmp_path / "old.sqlite", READ)
    db = sqlite3.connect(path)
    db.execute("DROP INDEX threads_provisional")
    db.execute("ALTER TABLE threads DROP COLUMN provisional")
    db.execute("PRAGMA user_version = 3")
    db.commit()
    db.close()
    config = tmp_path / "desk.yaml"
    config.write_text(DESK.format(mailbox="support@example.com"))
    args = ["-c", str(config), "--store", str(path)]
    assert "provisional" not in _json(["status", *args]) and "pending" not in _json(["report", *args])
    assert _json(["report", *args])["total"]["volume"] == 3 and _json(["threads", *args])["count"] == 3


# ---------------------------------------------------------------------------------------------- many mailboxes
def test_merged_report_and_status_over_mailboxes_count_pending(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GMAILDESK_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setattr("gmaildesk.cli.options.now_ms", lambda options: NOW)
    args = []
    for mailbox, rows in (("billing@example.com", [*READ, *PROVISIONAL]), ("tech@example.com", READ)):
        config = tmp_path / f"{mailbox}.yaml"
        config.write_text(DESK.format(mailbox=mailbox))
        path = store_path(Account(None, mailbox))
        path.parent.mkdir(parents=True, exist_ok=True)
        _store(path, rows)
        args += ["-c", str(config)]
    report = _json(["report", *args])
    assert report["kind"] == "report-many" and (report["pending"], report["pending_undated"]) == (3, 1)
    billing, tech = (m["report"] for m in report["mailboxes"])
    assert billing["pending"] == 3 and "pending" not in tech
    assert _without_pending(billing)["total"] == tech["total"]  # same read conversations, same figures
    assert report["total"]["volume"] == 6  # the read ones of both mailboxes, none of the provisional
    text = _table(["report", *args], width=400)
    assert "Note: billing@example.com: facts pending for 3 conversations of this period" in text
    status = _json(["status", *args])
    assert status["provisional"] == 3 and status["mailboxes"][0]["status"]["provisional"] == 3
    assert "provisional" not in status["mailboxes"][1]["status"]
    assert f"billing@example.com: {PENDING_STATUS}" in _table(["status", *args])


# ---------------------------------------------------------------------------------------------- through a real sweep
def test_a_lean_first_sweep_shows_pending_facts_until_the_backfill_reads_them(
    sandbox: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The rows the lean first sweep writes (sandbox, real client), as the audit shows them, then read whole."""
    from gmaildesk.sweep import listed_reading
    from sweep_helpers import Desk, make_desk

    config, path = make_desk(sandbox, tmp_path, monkeypatch)
    monkeypatch.setattr(listed_reading, "SAMPLE_MIN", 0)  # no sample read whole: every one by the listings
    desk = Desk(sandbox, config, store_path(Account(sandbox.url, config.mailbox)))
    for i in range(30):  # enough for the listings to pay
        first = desk.customer(subject=f"Order {i}", frm=f"c{i}@customer.test")
        if i % 3 == 0:
            desk.send(desk.thread_of(first), to=f"c{i}@customer.test", subject=f"Re: Order {i}", in_reply_to=first)
    sandbox.control.advance_clock(3600)
    args = ["-c", str(path), "--endpoint", sandbox.url]
    swept = json.loads(invoke(["sweep", *args, "--json"]).stdout)
    n = swept["provisional"]
    assert n > 0
    status = _json(["status", *args])
    assert status["provisional"] == n and status["total"] == 30
    assert f"facts pending for {n} conversations" in _table(["status", *args])
    rows = [t for t in _json(["threads", *args])["threads"] if t.get("provisional")]
    assert len(rows) == n
    text = _table(["threads", *args], width=250)
    assert "None" not in text
    detail = _json(["show", rows[0]["thread"], *args])
    assert detail["first_response_at"] is None
    assert detail["messages_not_read"] + len(detail["messages"]) == rows[0]["messages"]
    assert "facts:         pending" in _table(["show", rows[0]["thread"], *args])
    report = _json(["report", *args])
    assert report["pending"] == n and report["total"]["volume"] == 30 - n
    # The backfill reads them whole: nothing pending, every conversation in the figures.
    invoke(["sweep", *args, "--backfill", "1000"])
    assert "provisional" not in _json(["status", *args])
    assert "pending" not in _table(["status", *args])
    after = _json(["report", *args])
    assert "pending" not in after and after["total"]["volume"] == 30
    assert after["total"]["first_response"]["n"] == 10  # every reply we sent, now read
