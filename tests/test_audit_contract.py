"""The audit commands' contract on a hand-built store: --json shapes (version 1), --csv, exit codes, ordering."""

from __future__ import annotations

import csv
import io
import json

import pytest

from cli_run import invoke
from gmaildesk.errors import ExitCode
from gmaildesk.sweep.store import Checkpoint, JournalEntry, MessageFact, Store, ThreadRow

H = 3_600_000
NOW = 1_800_000_000_000
DESK = """\
version: 1
mailbox: support@example.com
departments:
  - name: Billing
    sla: {first_response: 4h, next_response: 8h}
  - name: Tech
    sla: {first_response: 1h, next_response: 2h}
"""

THREAD_KEYS = {
    "thread",
    "link",
    "subject",
    "customer",
    "department",
    "state",
    "overdue",
    "manual",
    "since",
    "age_s",
    "last_actor",
    "last_at",
    "due_at",
    "due_in_s",
    "messages",
    "flags",
    "ticket",
    "owner",
}
GROUP_KEYS = {"key", "volume", "first_response", "resolution", "reopens", "sla", "backlog"}


def _row(tid, state, dept, first, last, side, due=None, overdue=False, response=None, **facts):
    return ThreadRow(
        tid,
        state=state,
        overdue=overdue,
        department=dept,
        last_counted_id=f"m-{tid}",
        last_counted_side=side,
        last_counted_at=last,
        first_customer_at=first,
        first_response_at=response,
        due_at=due,
        message_ids=["m1", "m2"],
        updated_at=NOW - H,
        **facts,
    )


def _facts(subject, customer, wait=None, agent=None, messages=()):
    return dict(
        subject=subject,
        customer=customer,
        waiting_since=wait,
        agent=agent,
        first_agent=agent,
        messages=[MessageFact(*m) for m in messages],
    )


@pytest.fixture
def env(tmp_path, monkeypatch):
    monkeypatch.setenv("GMAILDESK_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setattr("gmaildesk.cli.options.now_ms", lambda options: NOW)
    config = tmp_path / "desk.yaml"
    config.write_text(DESK)
    store = tmp_path / "s.sqlite"
    rows = [
        _row(
            "a01",
            "new",
            "Billing",
            NOW - 5 * H,
            NOW - 5 * H,
            "customer",
            due=NOW - H,
            overdue=True,  # overdue 1h
            **_facts(
                "Charged twice",
                "ann@cust.test",
                NOW - 5 * H,
                messages=[
                    ("m-a01", NOW - 5 * H, "customer", "ann@cust.test"),
                    ("ack-a01", NOW - 5 * H + 1000, "our_ack", "billing@example.com"),
                ],
            ),
        ),
        _row(
            "a02",
            "new",
            "Tech",
            NOW - 30 * 60_000,
            NOW - 30 * 60_000,
            "customer",
            due=NOW + 30 * 60_000,
            **_facts("VPN down", "bo@cust.test", NOW - 30 * 60_000),
        ),
        _row(
            "a03",
            "waiting",
            "Billing",
            NOW - 50 * H,
            NOW - 3 * H,
            "customer",
            due=NOW + 5 * H,
            response=NOW - 49 * H,
            **_facts("Refund", "cy@cust.test", NOW - 3 * H, agent="billing@example.com"),
        ),
        _row(
            "a04",
            "new",
            "Billing",
            NOW - 2 * H,
            NOW - 2 * H,
            "customer",
            due=NOW + 2 * H,
            **_facts("", "di@cust.test", NOW - 2 * H),
        ),
        _row(
            "a05",
            "handled",
            "Tech",
            NOW - 10 * H,
            NOW - 9 * H,
            "ours_reply",
            response=NOW - 9 * H,
            **_facts("Login", "ed@cust.test", agent="tech@example.com"),
        ),
        # Swept by an older version: no subject, customer, wait start or messages recorded.
        _row("a06", "new", "Billing", NOW - 6 * H, NOW - 6 * H, "customer", due=NOW - 2 * H),  # deadline passed since
    ]
    journal = [
        JournalEntry("a01", None, "new", "customer wrote 0s ago, no reply yet", NOW - 5 * H, "m-a01"),
        JournalEntry("a01", "new", "new+overdue", "overdue by 1h", NOW - H, "m-a01"),
    ]
    with Store(store) as s:
        s.commit(Checkpoint(history_id="1", last_sweep_at=NOW - 10 * 60_000), rows, journal, "sweep-1")
    return ["-c", str(config), "--store", str(store)]


def run(args, code=0):
    return invoke(args, code)


def test_status_json_shape_and_check_codes(env):
    doc = json.loads(run(["status", *env, "--json"]).stdout)
    assert set(doc) == {
        "version",
        "kind",
        "now",
        "last_sweep_at",
        "last_sweep_age_s",
        "total",
        "overdue",
        "by_state",
        "departments",
        "problems",
        "agents",
    }
    assert doc["agents"] == []  # the team names no agent
    assert doc["version"] == 1 and doc["kind"] == "status" and doc["now"] == "2027-01-15T08:00:00Z"
    assert doc["total"] == 6 and doc["overdue"] == 2 and doc["last_sweep_age_s"] == 600
    billing = doc["departments"][0]
    assert set(billing) == {"department", "counts", "overdue", "oldest_new", "oldest_waiting"}
    assert billing["department"] == "Billing" and billing["counts"] == {
        "new": 3,
        "waiting": 1,
        "handled": 0,
        "forwarded": 0,
        "closed": 0,
    }
    assert billing["oldest_new"] == {
        "thread": "a06",
        "link": "https://mail.google.com/mail/?authuser=support@example.com#all/a06",
        "since": "2027-01-15T02:00:00Z",
        "age_s": 6 * 3600,
        "ticket": None,  # written straight into the store: no sweep has numbered it
    }
    assert billing["oldest_waiting"]["thread"] == "a03" and billing["oldest_waiting"]["age_s"] == 3 * 3600
    assert doc["problems"] == ["2 conversations overdue"]
    result = run(["status", *env, "--check"], code=8)
    assert "Check failed: 2 conversations overdue" in result.stderr
    run(["status", *env, "--check", "--max-age", "5m"], code=8)
    run(["status", *env], code=0)  # without --check, overdue is not an error


def test_status_check_passes_when_fresh_and_nothing_overdue(tmp_path, env):
    run(["threads", *env, "--state", "overdue", "--json"])
    with Store(tmp_path / "s.sqlite") as s:
        s.db.execute("DELETE FROM threads WHERE thread_id IN ('a01', 'a06')")
    run(["status", *env, "--check"], code=0)
    run(["status", *env, "--check", "--max-age", "5m"], code=8)


def test_threads_json_csv_filters_and_sorts(env):
    doc = json.loads(run(["threads", *env, "--json"]).stdout)
    assert doc["version"] == 1 and doc["kind"] == "threads" and doc["count"] == 6
    assert [t["thread"] for t in doc["threads"]] == ["a05", "a06", "a01", "a03", "a04", "a02"]  # oldest first
    first = doc["threads"][1]
    assert set(first) == THREAD_KEYS
    assert first == {
        "thread": "a06",
        "link": "https://mail.google.com/mail/?authuser=support@example.com#all/a06",
        "subject": None,
        "customer": None,
        "department": "Billing",
        "state": "new",
        "overdue": True,
        "manual": False,
        "since": "2027-01-15T02:00:00Z",
        "age_s": 21600,
        "last_actor": "customer",
        "last_at": "2027-01-15T02:00:00Z",
        "due_at": "2027-01-15T06:00:00Z",
        "due_in_s": -7200,
        "messages": 2,
        "flags": [],
        "ticket": None,  # written straight into the store: no sweep has numbered it
        "owner": None,
    }
    known = doc["threads"][2]
    assert (known["thread"], known["subject"], known["customer"], known["since"]) == (
        "a01",
        "Charged twice",
        "ann@cust.test",
        "2027-01-15T03:00:00Z",
    )
    assert doc["threads"][4]["subject"] == "" and doc["threads"][4]["customer"] == "di@cust.test"
    waiting = json.loads(run(["threads", *env, "--state", "waiting", "--json"]).stdout)["threads"]
    assert [t["thread"] for t in waiting] == ["a03"] and waiting[0]["since"] == "2027-01-15T05:00:00Z"
    old = json.loads(run(["threads", *env, "--older-than", "2h", "--dept", "billing", "--json"]).stdout)
    assert [t["thread"] for t in old["threads"]] == ["a06", "a01", "a03", "a04"]
    text = run(["threads", *env, "--state", "open", "--sort", "sla", "--csv"]).stdout
    table = list(csv.reader(io.StringIO(text)))
    assert table[0] == [
        "thread",
        "link",
        "subject",
        "customer",
        "department",
        "state",
        "overdue",
        "manual",
        "since",
        "age_s",
        "last_actor",
        "last_at",
        "due_at",
        "due_in_s",
        "messages",
        "flags",
        "ticket",
        "owner",
    ]
    assert [r[0] for r in table[1:]] == ["a06", "a01", "a02", "a04", "a03"]
    assert table[1][6] == "true" and table[1][2] == "" and table[2][2:4] == ["Charged twice", "ann@cust.test"]
    run(["threads", *env, "--state", "bogus"], code=2)


def test_next_orders_overdue_then_deadline_then_age(env):
    assert json.loads(run(["next", *env, "--json"]).stdout)["thread"]["thread"] == "a06"  # most overdue
    doc = json.loads(run(["next", *env, "--dept", "Tech", "--json"]).stdout)
    assert doc == {"version": 1, "kind": "next", "now": "2027-01-15T08:00:00Z", "thread": doc["thread"]}
    assert doc["thread"]["thread"] == "a02" and doc["thread"]["due_in_s"] == 1800
    assert "?authuser=support@example.com#all/a06" in run(["next", *env]).stdout
    # A department desk.yaml does not have is a usage error with a did-you-mean, never "nothing to handle".
    for command in ("next", "threads"):
        typo = run([command, *env, "--dept", "Biling", "--json"], ExitCode.USAGE)
        assert typo.stdout == ""
        assert typo.stderr.splitlines()[0] == "Error: --dept Biling: no such department in desk.yaml"
        assert "did you mean Billing?" in typo.stderr
    assert "did you mean" not in run(["next", *env, "--dept", "Nobody"], ExitCode.USAGE).stderr


def test_show_by_id_and_gmail_url(env):
    by_url = json.loads(run(["show", *env, "--json", "https://mail.google.com/mail/u/0/#inbox/a01"]).stdout)
    assert set(by_url) == {
        "version",
        "kind",
        "now",
        "thread",
        "first_customer_at",
        "first_response_at",
        "history",
        "messages",
    }
    assert by_url["kind"] == "show" and set(by_url["thread"]) == THREAD_KEYS
    assert by_url["messages"] == [
        {
            "message": "m-a01",
            "at": "2027-01-15T03:00:00Z",
            "from": "ann@cust.test",
            "kind": "customer",
            "counted_as": "customer",
            "flags": [],
        },
        {
            "message": "ack-a01",
            "at": "2027-01-15T03:00:01Z",
            "from": "billing@example.com",
            "kind": "our_ack",
            "counted_as": "our auto-reply",
            "flags": [],
        },
    ]
    assert json.loads(run(["show", *env, "--json", "a06"]).stdout)["messages"] is None  # not recorded
    assert by_url["history"] == [
        {"at": "2027-01-15T03:00:00Z", "from": None, "to": "new", "reason": "customer wrote 0s ago, no reply yet"},
        {"at": "2027-01-15T07:00:00Z", "from": "new", "to": "new+overdue", "reason": "overdue by 1h"},
    ]
    assert json.loads(run(["show", *env, "--json", "a01"]).stdout) == by_url
    assert run(["show", *env, "--json", "https://mail.google.com/mail/u/0/#label/Support%2FBilling/a01"]).exit_code == 0
    text = run(["show", *env, "--csv", "a01"]).stdout
    assert text.splitlines()[0] == "thread,at,from,to,reason" and len(text.splitlines()) == 3
    assert "not in the sweep store" in run(["show", *env, "zzz"], code=1).stderr
    run(["show", *env, "https://example.com/x"], code=2)


def test_report_json_and_csv_shape(env):
    doc = json.loads(run(["report", *env, "--json"]).stdout)
    assert set(doc) == {"version", "kind", "now", "since", "until", "by", "groups", "total", "missing"}
    assert doc["version"] == 1 and doc["by"] == "dept" and [g["key"] for g in doc["groups"]] == ["Billing", "Tech"]
    total = doc["total"]
    assert set(total) == GROUP_KEYS and total["volume"] == 6
    assert set(total["first_response"]) == {"n", "median_s", "p90_s"}
    assert total["first_response"] == {"n": 2, "median_s": 3600, "p90_s": 3600}  # a03 1h, a05 1h
    assert total["sla"] == {"met": 2, "measured": 4, "pct": 50.0}  # a03, a05 met; a01, a06 missed
    assert total["backlog"] == {"<1h": 1, "1-4h": 2, "4-24h": 2, "1-3d": 0, ">3d": 0}
    assert total["resolution"] == {"n": 1, "median_s": 3600, "p90_s": 3600}
    agent = json.loads(run(["report", *env, "--by", "agent", "--json"]).stdout)
    assert [(g["key"], g["volume"]) for g in agent["groups"]] == [
        ("(no reply)", 4),
        ("billing@example.com", 1),
        ("tech@example.com", 1),
    ] and agent["missing"] == []
    text = run(["report", *env, "--csv", "--by", "week"]).stdout
    rows = list(csv.reader(io.StringIO(text)))
    assert rows[0][:4] == ["key", "volume", "first_response_n", "first_response_median_s"]
    assert rows[-1][0] == "total" and rows[-1][1] == "6"
    run(["report", *env, "--by", "moon"], code=2)
    run(["report", *env, "--json", "--csv"], code=2)


def test_tables_render_and_missing_store(tmp_path, env):
    for command in (["status"], ["threads"], ["next"], ["report"], ["show", "a06"]):
        assert run([*command, *env]).stdout.strip()
    shown = run(["show", "a01", *env]).stdout
    assert "Messages" in shown and "our auto-reply" in shown and "ann@cust.test" in shown
    missing = ["-c", env[1], "--store", str(tmp_path / "nope.sqlite")]
    assert "no sweep store" in run(["status", *missing], code=1).stderr


def test_report_html_is_self_contained(tmp_path, env):
    page = tmp_path / "report.html"
    run(["report", *env, "--html", str(page)])
    text = page.read_text()
    assert text.startswith("<!DOCTYPE html>") and text.count("<svg") == 6 and "Billing" in text
    assert "http://" not in text.replace('xmlns="http://www.w3.org/2000/svg"', "") and "https://" not in text
    assert "<script" not in text and "<link" not in text


def test_report_html_renders_headless(tmp_path, env):
    import shutil
    import subprocess

    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    if browser is None:
        pytest.skip("chromium is not installed")
    page, png = tmp_path / "report.html", tmp_path / "report.png"
    run(["report", *env, "--html", str(page)])
    # No background networking: the page must render with no connection at all.
    subprocess.run(
        [
            browser,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            f"--user-data-dir={tmp_path / 'profile'}",
            f"--screenshot={png}",
            "--window-size=1000,1200",
            page.as_uri(),
        ],
        check=True,
        timeout=60,
        capture_output=True,
    )
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 5000


def test_a_store_from_a_newer_gmaildesk_is_refused(tmp_path, env):
    import sqlite3

    from gmaildesk.sweep.store import SCHEMA_VERSION

    db = sqlite3.connect(tmp_path / "s.sqlite")
    db.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    db.close()
    result = run(["threads", *env], code=1)
    assert result.stderr.splitlines()[0] == (
        f"Error: {tmp_path / 's.sqlite'} was made by a newer gmaildesk (store "
        f"version {SCHEMA_VERSION + 1}; this one reads up to {SCHEMA_VERSION})"
    )
    assert result.stdout == ""
