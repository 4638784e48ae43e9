"""Audit numbers against a scenario with known timings driven by the sandbox clock.

Billing: first response SLA 4h, next response 8h, close after 7d. Five conversations:
A answered after 2h10m, closed, reopened, answered again 1h later; B answered after 1h;
C answered after 5h (SLA missed, journaled overdue); D answered after 3h; E still new (30m old).
"""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from gmaildesk.audit import queries
from gmaildesk.audit.db import Slas, open_store
from gmaildesk.cli import app
from gmaildesk.paths import Account
from gmaildesk.sweep.store import store_path
from sweep_helpers import ALICE, SUPPORT, Desk, H, make_desk

D = 24 * H
M = 60
BILLING = ("billing@example.com",)


@pytest.fixture(scope="function")
def scenario(sandbox, tmp_path, monkeypatch):
    # Freeze the sandbox's clock (it normally also runs in real time) so every duration is exact.
    frozen = sandbox.sandbox.now_ms()
    monkeypatch.setattr(sandbox.sandbox, "now_ms", lambda: frozen + sandbox.sandbox.clock_offset_ms)
    config, path = make_desk(sandbox, tmp_path, monkeypatch)
    desk = Desk(sandbox, config, store_path(Account(sandbox.url, config.mailbox)))
    clock = sandbox.control
    t0 = desk.now()
    a = desk.customer(subject="A", to=BILLING)
    b = desk.customer(subject="B", to=BILLING)
    desk.sweep()
    clock.advance_clock(1 * H)
    desk.send(desk.thread_of(b), in_reply_to=b, subject="Re: B")
    desk.sweep()
    clock.advance_clock(1 * H + 10 * M)
    desk.send(desk.thread_of(a), in_reply_to=a, subject="Re: A")
    c = desk.customer(subject="C", to=BILLING)
    desk.sweep()
    clock.advance_clock(5 * H)
    desk.sweep()  # C: new -> new+overdue
    desk.send(desk.thread_of(c), in_reply_to=c, subject="Re: C")
    d = desk.customer(subject="D", to=BILLING)
    desk.sweep()
    clock.advance_clock(3 * H)
    desk.send(desk.thread_of(d), in_reply_to=d, subject="Re: D")
    desk.sweep()
    clock.advance_clock(3 * D)
    desk.sweep()
    clock.advance_clock(4 * D + 60)
    desk.sweep()  # A, B, C, D closed
    a2 = desk.customer(subject="Re: A", to=BILLING, reply_to_mid=a)
    desk.sweep()  # A reopened: closed -> waiting
    clock.advance_clock(1 * H)
    desk.send(desk.thread_of(a), in_reply_to=a2, subject="Re: A")
    e = desk.customer(subject="E", to=BILLING)
    desk.sweep()
    clock.advance_clock(30 * M)
    ids = {k: desk.thread_of(v) for k, v in dict(a=a, b=b, c=c, d=d, e=e).items()}
    return desk, path, ids, t0


def test_report_numbers(scenario):
    desk, _, ids, t0 = scenario
    now = desk.now()
    with open_store(desk.store_path) as db:
        r = queries.report(db, Slas.from_desk(desk.desk), now, since_ms=now - 30 * D * 1000, by="dept")
    total = r.total
    assert total.volume == 5
    fr = sorted([1 * H, 2 * H + 10 * M, 5 * H, 3 * H])
    assert total.first_response.n == 4
    assert total.first_response.median_ms == (fr[1] + fr[2]) * 1000 // 2  # 2h35m
    assert total.first_response.p90_ms == 5 * H * 1000
    assert total.reopens == 1
    assert (total.sla_met, total.sla_measured, total.sla_pct) == (3, 4, 75.0)
    # handled/closed: B 1h, D 3h, C 5h, A 7d11h11m (to the answer after the reopen)
    assert total.resolution.n == 4
    assert total.resolution.median_ms == 4 * H * 1000
    assert total.resolution.p90_ms == (7 * D + 11 * H + 11 * M) * 1000
    assert total.backlog == {"<1h": 1, "1-4h": 0, "4-24h": 0, "1-3d": 0, ">3d": 0}
    assert [g.key for g in r.groups] == ["Billing"] and r.groups[0].volume == 5


def test_first_response_exactly_2h10m_and_history(scenario):
    desk, _, ids, _ = scenario
    with open_store(desk.store_path) as db:
        detail = queries.show(db, Slas.from_desk(desk.desk), desk.now(), ids["a"])
    assert detail.first_response_at - detail.first_customer_at == (2 * H + 10 * M) * 1000
    assert [(h.from_state, h.to_state) for h in detail.history] == [
        (None, "new"),
        ("new", "handled"),
        ("handled", "closed"),
        ("closed", "waiting"),
        ("waiting", "handled"),
    ]
    assert all(h.reason for h in detail.history)
    # The facts the sweep records from the metadata it already reads.
    assert (detail.info.subject, detail.info.customer, detail.info.agent) == ("A", ALICE, SUPPORT)
    assert [(m.kind, m.from_addr) for m in detail.messages] == [
        ("customer", ALICE),
        ("ours_reply", SUPPORT),
        ("customer", ALICE),
        ("ours_reply", SUPPORT),
    ]
    assert detail.messages[1].at - detail.messages[0].at == (2 * H + 10 * M) * 1000
    assert detail.messages[3].at - detail.messages[2].at == 1 * H * 1000


def test_status_next_and_threads(scenario):
    desk, _, ids, _ = scenario
    now = desk.now()
    slas = Slas.from_desk(desk.desk)
    with open_store(desk.store_path) as db:
        s = queries.status(db, slas, now)
        nxt = queries.next_thread(db, slas, now)
        closed = queries.threads(db, slas, now, state="closed")
    assert s.by_state == {"new": 1, "waiting": 0, "handled": 1, "forwarded": 0, "closed": 3}
    assert s.overdue == 0 and s.last_sweep_at == now - 30 * M * 1000
    billing = s.departments[0]
    assert billing.department == "Billing" and billing.oldest_new.thread_id == ids["e"]
    assert billing.oldest_new.age_ms == 30 * M * 1000
    assert nxt.thread_id == ids["e"] and nxt.link.endswith("#all/" + ids["e"])
    assert nxt.due_at - nxt.since_at == 4 * H * 1000
    assert {t.thread_id for t in closed} == {ids["b"], ids["c"], ids["d"]}
    assert all(t.last_actor == "us" for t in closed)
    assert sorted(t.subject for t in closed) == ["B", "C", "D"] and {t.customer for t in closed} == {ALICE}
    assert nxt.subject == "E" and nxt.since_at == now - 30 * M * 1000
    with open_store(desk.store_path) as db:
        agents = queries.report(db, slas, now, since_ms=now - 30 * D * 1000, by="agent")
    assert [(g.key, g.volume) for g in agents.groups] == [("(no reply)", 1), (SUPPORT, 4)] and agents.missing == []


def test_cli_report_json_and_status_check(scenario):
    desk, path, ids, _ = scenario
    base = ["-c", str(path), "--endpoint", desk.sandbox.url]
    run = CliRunner().invoke
    doc = json.loads(run(app, ["report", *base, "--json"], catch_exceptions=False).stdout)
    assert doc["total"]["first_response"] == {"n": 4, "median_s": 9300, "p90_s": 5 * H}
    assert doc["total"]["sla"] == {"met": 3, "measured": 4, "pct": 75.0} and doc["total"]["reopens"] == 1
    # last sweep 30m ago: stale for --max-age 15m, fine for 1h; nothing overdue.
    assert run(app, ["status", *base, "--check"]).exit_code == 8
    assert run(app, ["status", *base, "--check", "--max-age", "1h"]).exit_code == 0
    desk.sandbox.control.advance_clock(4 * H)  # E passes its 4h first-response deadline
    result = run(app, ["status", *base, "--check", "--max-age", "1d"])
    assert result.exit_code == 8 and "1 conversation overdue" in result.stderr
    shown = run(app, ["show", *base, "--json", f"https://mail.google.com/mail/u/0/#inbox/{ids['a']}"])
    assert shown.exit_code == 0, shown.stderr
    assert [h["to"] for h in json.loads(shown.stdout)["history"]][-2:] == ["waiting", "handled"]
    nxt = json.loads(run(app, ["next", *base, "--json"]).stdout)
    assert nxt["thread"]["thread"] == ids["e"] and nxt["thread"]["overdue"] is True
    # --refresh runs the sweep first: E becomes new+overdue in the store.
    assert run(app, ["status", *base, "--refresh", "--json"]).exit_code == 0
    with open_store(desk.store_path) as db:
        assert db.execute("SELECT overdue FROM threads WHERE thread_id = ?", (ids["e"],)).fetchone() == (1,)
