"""The sweep engine end to end against the sandbox: transitions with the sandbox clock, the
incremental path and its call counts, history expiry, faults, crash safety and the journal."""

from __future__ import annotations

import pytest

from sweep_helpers import ALICE, Desk, H, make_desk

D = 24 * H


@pytest.fixture
def desk(sandbox, tmp_path, monkeypatch):
    config, _ = make_desk(sandbox, tmp_path, monkeypatch)
    return Desk(sandbox, config, tmp_path / "sweep.sqlite")


def test_new_overdue_handled_waiting_closed_reopen(desk):
    c1 = desk.customer()
    t = desk.thread_of(c1)
    r = desk.sweep()
    assert r.full and [(x.from_state, x.to_state) for x in r.transitions] == [(None, "new")]
    assert desk.status(t) == {"Status/New", "INBOX"}

    desk.sandbox.control.advance_clock(5 * H)  # past the 4h first-response SLA
    r = desk.sweep()
    assert not r.full and r.threads_read == 0  # time-driven: from the store
    assert [(x.from_state, x.to_state) for x in r.transitions] == [("new", "new+overdue")]
    assert desk.status(t) == {"Status/New", "Status/Overdue", "INBOX"}

    desk.send(t, in_reply_to=c1)
    r = desk.sweep()
    assert [(x.from_state, x.to_state) for x in r.transitions] == [("new+overdue", "handled")]
    assert desk.status(t) == {"Status/Handled", "INBOX"}

    c2 = desk.customer(subject="Re: Printer offline", reply_to_mid=c1)
    assert desk.thread_of(c2) == t
    r = desk.sweep()
    assert [(x.from_state, x.to_state) for x in r.transitions] == [("handled", "waiting")]
    assert desk.status(t) == {"Status/Waiting", "INBOX"}

    desk.send(t, in_reply_to=c2)
    desk.sweep()
    desk.sandbox.control.advance_clock(3 * D)  # cron keeps the history cursor fresh
    assert desk.sweep().transitions == []
    desk.sandbox.control.advance_clock(4 * D + 60)
    r = desk.sweep()
    assert [(x.from_state, x.to_state) for x in r.transitions] == [("handled", "closed")]
    assert r.threads_read == 0
    assert desk.status(t) == {"Status/Closed"}  # archived: INBOX removed

    desk.customer(subject="Re: Printer offline", reply_to_mid=c2)
    r = desk.sweep()
    assert [(x.from_state, x.to_state) for x in r.transitions] == [("closed", "waiting")]
    assert desk.status(t) == {"Status/Waiting", "INBOX"}


def test_out_of_office_and_bounce_after_our_reply_leave_it_handled(desk):
    c1 = desk.customer()
    t = desk.thread_of(c1)
    desk.send(t, in_reply_to=c1)
    desk.sweep()
    assert desk.status(t) == {"Status/Handled", "INBOX"}
    desk.customer(
        subject="Automatic reply: Re: Printer offline",
        reply_to_mid=c1,
        headers=[("Auto-Submitted", "auto-replied"), ("X-Auto-Response-Suppress", "All")],
    )
    desk.customer(
        frm="MAILER-DAEMON@mx.customer.test",
        subject="Undelivered Mail Returned to Sender",
        reply_to_mid=c1,
        headers=[("Return-Path", "<>")],
    )
    r = desk.sweep()
    assert r.transitions == []
    assert desk.status(t) == {"Status/Handled", "INBOX"}


def test_forward_then_customer_reply(desk):
    c1 = desk.customer()
    t = desk.thread_of(c1)
    desk.send(t, to="vendor@parts.test", subject="Fwd: Printer offline", in_reply_to=c1)
    desk.sweep()
    assert desk.status(t) == {"Status/Forwarded", "INBOX"}
    desk.customer(subject="Re: Printer offline", reply_to_mid=c1)
    r = desk.sweep()
    assert [(x.from_state, x.to_state) for x in r.transitions] == [("forwarded", "waiting")]


def test_manual_closed_is_kept_until_the_customer_writes(desk):
    c1 = desk.customer()
    t = desk.thread_of(c1)
    desk.send(t, in_reply_to=c1)
    desk.sweep()
    closed = desk.label_id("Status/Closed")
    desk.client.execute(desk.users.threads().modify(userId="me", id=t, body={"addLabelIds": [closed]}))
    r = desk.sweep()
    assert [(x.from_state, x.to_state) for x in r.transitions] == [("handled", "closed")]
    assert desk.status(t) == {"Status/Closed"}  # our Handled removed; archived like any closed
    desk.sandbox.control.advance_clock(30 * D)
    assert desk.sweep().transitions == []  # kept
    desk.customer(subject="Re: Printer offline", reply_to_mid=c1)
    r = desk.sweep()
    assert [(x.from_state, x.to_state) for x in r.transitions] == [("closed", "waiting")]
    assert desk.status(t) == {"Status/Waiting", "INBOX"}


def test_aliases_and_team_count_as_us(desk):
    c1 = desk.customer()
    t = desk.thread_of(c1)
    # A colleague (team address) answers the customer with the desk in Cc.
    desk.customer(
        frm="bob@example.com", to=(ALICE,), cc=("support@example.com",), subject="Re: Printer offline", reply_to_mid=c1
    )
    desk.sweep()
    assert desk.status(t) == {"Status/Handled", "INBOX"}
    c3 = desk.customer(subject="Invoice", to=("billing@example.com",))
    t3 = desk.thread_of(c3)
    desk.customer(
        frm="billing@example.com", to=(ALICE,), cc=("support@example.com",), subject="Re: Invoice", reply_to_mid=c3
    )
    desk.sweep()
    assert desk.status(t3) == {"Status/Handled", "INBOX"}


def _many(desk, n: int) -> list[str]:
    mids = [desk.customer(subject=f"Question {i}") for i in range(n)]
    for i, mid in enumerate(mids):
        if i % 3 == 1:
            desk.send(desk.thread_of(mid), in_reply_to=mid, subject=f"Re: Question {i}")
        elif i % 3 == 2:
            desk.send(desk.thread_of(mid), in_reply_to=mid, subject=f"Fwd: Question {i}", to="vendor@parts.test")
    return mids


def test_incremental_call_counts_and_the_journal(desk):
    mids = _many(desk, 12)
    desk.sandbox.control.reset_counters()
    first = desk.sweep()
    full_calls = desk.calls()
    assert first.full and first.threads_read == 12 and len(first.transitions) == 12
    # Lean: the 4 conversations of one message are read with messages.get, the 8 others whole.
    assert full_calls["gmail.users.threads.get"] == 8 and full_calls["gmail.users.messages.get"] == 4
    assert full_calls["gmail.users.messages.batchModify"] == 3  # one per state: new, handled, forwarded
    assert first.by_state["new"] == 4 and first.by_state["handled"] == 4 and first.by_state["forwarded"] == 4

    desk.sandbox.control.reset_counters()
    second = desk.sweep()  # nothing changed; our own relabelling must not count as a change
    assert sum(desk.calls().values()) <= 3, desk.calls()
    assert second.threads_read == 0 and second.transitions == [] and not second.full
    assert second.api_calls == sum(desk.calls().values())

    for i, mid in enumerate(mids[:3]):
        desk.customer(subject=f"Re: Question {i}", reply_to_mid=mid)
    desk.sandbox.control.reset_counters()
    third = desk.sweep()
    calls = desk.calls()
    # Only new messages since the checkpoint: each is read alone (messages.get), not its thread.
    assert third.threads_read == 3 and calls["gmail.users.messages.get"] == 3
    assert "gmail.users.threads.get" not in calls
    # Question 0 was new and stays new; 1 (handled) and 2 (forwarded) now wait for us.
    assert sorted((t.from_state, t.to_state) for t in third.transitions) == [
        ("forwarded", "waiting"),
        ("handled", "waiting"),
    ]
    from gmaildesk.sweep.store import Store

    with Store(desk.store_path) as store:
        journal = store.journal()
    assert len(journal) == len(first.transitions) + len(third.transitions)
    desk.sandbox.control.reset_counters()
    assert desk.sweep().transitions == [] and sum(desk.calls().values()) <= 3
    print(
        f"\nCALLS full={sum(full_calls.values())} {full_calls}\n  no-change={second.api_calls} "
        f"after-3={sum(calls.values())} {calls}"
    )


def test_history_expired_means_a_reported_full_resync(desk):
    desk.customer()
    desk.sweep()
    desk.sandbox.control.configure(history_retention_seconds=1)
    desk.customer(subject="Another")
    desk.sandbox.control.advance_clock(5)
    r = desk.sweep()
    assert r.resynced and r.full and r.threads_read == 1  # the first conversation is as stored: not read again
    assert [t.to_state for t in r.transitions] == ["new"]


def _labels_everywhere(desk) -> dict[str, set[str]]:
    listing = desk.client.execute(desk.users.threads().list(userId="me", maxResults=500))
    return {t["id"]: desk.status(t["id"]) for t in listing.get("threads", [])}


def test_faults_end_with_the_labels_of_a_clean_run(sandbox, tmp_path, monkeypatch):
    config, _ = make_desk(sandbox, tmp_path, monkeypatch)
    desk = Desk(sandbox, config, tmp_path / "sweep.sqlite")
    mids = _many(desk, 15)
    desk.sandbox.control.set_faults(rate_503=0.2, latency_ms=5, seed=7)
    results = [desk.sweep()]
    for i, mid in enumerate(mids[:4]):
        desk.customer(subject=f"Re: Question {i}", reply_to_mid=mid)
    results.append(desk.sweep())
    while results[-1].errors and len(results) < 6:  # partial: the next run completes it
        results.append(desk.sweep())
    assert not results[-1].errors
    assert sum(desk.sandbox.control.counters()["faults"].values()) > 0  # faults did happen
    desk.sandbox.control.clear_faults()
    faulty = _labels_everywhere(desk)
    clean_store = tmp_path / "clean.sqlite"
    clean = Desk(sandbox, config, clean_store)
    clean.sweep(full=True)  # a fresh store, no faults: what the labels must be
    assert _labels_everywhere(desk) == faulty
    assert sum(1 for labels in faulty.values() if any(name.startswith("Status/") for name in labels)) == 15


def test_a_crash_before_the_commit_is_redone_without_duplicates(desk, monkeypatch):
    _many(desk, 6)
    from gmaildesk.sweep import store as store_module

    real = store_module.Store.commit

    def crash(self, *args, **kwargs):
        raise KeyboardInterrupt("killed after the Gmail writes")

    monkeypatch.setattr(store_module.Store, "commit", crash)
    with pytest.raises(KeyboardInterrupt):
        desk.sweep()
    monkeypatch.setattr(store_module.Store, "commit", real)
    r = desk.sweep()
    assert len(r.transitions) == 6
    from gmaildesk.sweep.store import Store

    with Store(desk.store_path) as store:
        assert len(store.journal()) == 6
        # The same transitions recorded again (a crash right after COMMIT is replayed) add nothing.
        store.commit(store.checkpoint(), [], store.journal(), "again")
        assert len(store.journal()) == 6
    assert desk.sweep().transitions == []


def test_partial_runs_keep_the_checkpoint_and_the_next_runs_complete(sandbox, tmp_path, monkeypatch):
    from gmaildesk.errors import ExitCode
    from gmaildesk.gmail import connect, scopes
    from gmaildesk.gmail.connection import ConnectionOptions
    from gmaildesk.gmail.retry import RetryPolicy

    config, _ = make_desk(sandbox, tmp_path, monkeypatch)
    desk = Desk(sandbox, config, tmp_path / "sweep.sqlite")
    mids = _many(desk, 12)
    desk.sweep()
    for i, mid in enumerate(mids[:6]):
        desk.customer(subject=f"Re: Question {i}", reply_to_mid=mid)
    desk.sandbox.control.advance_clock(5 * H)
    fragile = Desk(sandbox, config, desk.store_path)
    fragile.client = connect(
        ConnectionOptions(endpoint=sandbox.url), scopes.SWEEP, policy=RetryPolicy(max_attempts=1, sleep=lambda s: None)
    )
    fragile.users = fragile.client.users()
    batch_only = {"failed": 0}
    results = []
    sandbox.control.set_faults(rate_503=0.3, seed=3)
    for _ in range(20):
        try:
            results.append(fragile.sweep())
        except Exception:  # a single call (labels.list, history.list) failed: the whole run fails, nothing saved
            batch_only["failed"] += 1
            continue
        if not results[-1].errors:
            break
    sandbox.control.clear_faults()
    assert results and not results[-1].errors
    assert any(r.exit_code == ExitCode.PARTIAL for r in results)  # seed 3: several partial runs first
    faulty = _labels_everywhere(desk)
    Desk(sandbox, config, tmp_path / "clean.sqlite").sweep(full=True)
    assert _labels_everywhere(desk) == faulty
    from gmaildesk.sweep.store import Store

    with Store(desk.store_path) as store:
        journal = store.journal()
    keys = [(j.thread_id, j.from_state, j.to_state) for j in journal]
    assert len(keys) == len(set(keys))  # no duplicate transitions


def _thread_row(desk, thread_id):
    from gmaildesk.sweep.store import Store

    with Store(desk.store_path) as store:
        return store.threads()[thread_id], store.messages(thread_id)


def test_the_store_records_subject_customer_agents_wait_and_messages(desk):
    c1 = desk.customer(subject="Invoice", to=("billing@example.com",))
    t = desk.thread_of(c1)
    # Our first reply from the billing alias (a send-as address), later one from the mailbox itself.
    desk.customer(frm="billing@example.com", to=(ALICE,), subject="Re: Invoice", reply_to_mid=c1)
    desk.sweep()
    row, messages = _thread_row(desk, t)
    assert (row.subject, row.customer, row.agent, row.first_agent) == (
        "Invoice",
        ALICE,
        "billing@example.com",
        "billing@example.com",
    )
    assert row.waiting_since is None and [m.kind for m in messages] == ["customer", "ours_reply"]

    desk.sandbox.control.advance_clock(H)
    c3 = desk.customer(subject="Re: Invoice", reply_to_mid=c1)
    desk.sandbox.control.advance_clock(H)
    desk.customer(
        subject="Automatic reply: Re: Invoice",
        reply_to_mid=c1,
        frm="ooo@customer.test",
        headers=[("Auto-Submitted", "auto-replied")],
    )
    c5 = desk.customer(subject="Re: Invoice", reply_to_mid=c1)
    desk.sweep()
    row, messages = _thread_row(desk, t)
    assert row.state == "waiting", messages
    assert len(messages) == 5, messages
    assert row.waiting_since == messages[2].at and messages[2].at < messages[4].at  # the wait's first message
    assert [(m.kind, m.from_addr) for m in messages] == [
        ("customer", ALICE),
        ("ours_reply", "billing@example.com"),
        ("customer", ALICE),
        ("auto_reply", "ooo@customer.test"),
        ("customer", ALICE),
    ]
    assert row.last_counted_id == messages[4].message_id and c3 != c5

    desk.send(t, in_reply_to=c5, subject="Re: Invoice")
    desk.sweep()
    row, messages = _thread_row(desk, t)
    assert (row.state, row.agent, row.first_agent, row.waiting_since) == (
        "handled",
        "support@example.com",
        "billing@example.com",
        None,
    )
    assert len(messages) == 6
    # Time-driven transitions (no read) keep the facts and the messages.
    desk.sandbox.control.advance_clock(3 * D)
    desk.sweep()  # cron keeps the history cursor fresh
    desk.sandbox.control.advance_clock(5 * D)
    r = desk.sweep()
    assert r.threads_read == 0 and [x.to_state for x in r.transitions] == ["closed"]
    closed, kept = _thread_row(desk, t)
    assert (closed.subject, closed.agent) == ("Invoice", "support@example.com") and kept == messages


def test_an_older_store_file_is_migrated_on_open(desk):
    import sqlite3

    from gmaildesk.audit.db import open_store
    from gmaildesk.sweep.store import SCHEMA_VERSION, Store

    old = sqlite3.connect(desk.store_path)
    old.executescript("""
        CREATE TABLE checkpoint (id INTEGER PRIMARY KEY CHECK (id = 1), history_id TEXT, labels_history_id TEXT,
            last_sweep_at INTEGER, label_ids TEXT);
        CREATE TABLE threads (thread_id TEXT PRIMARY KEY, state TEXT, overdue INTEGER NOT NULL DEFAULT 0,
            department TEXT, last_counted_id TEXT, last_counted_side TEXT, last_counted_at INTEGER,
            first_customer_at INTEGER, first_response_at INTEGER, due_at INTEGER, manual INTEGER NOT NULL DEFAULT 0,
            message_ids TEXT NOT NULL DEFAULT '[]', labels TEXT NOT NULL DEFAULT '[]', updated_at INTEGER);
        CREATE TABLE journal (id INTEGER PRIMARY KEY AUTOINCREMENT, thread_id TEXT NOT NULL, from_state TEXT NOT NULL,
            to_state TEXT NOT NULL, reason TEXT NOT NULL, at INTEGER NOT NULL, sweep_id TEXT NOT NULL,
            basis TEXT NOT NULL, UNIQUE (thread_id, from_state, to_state, basis));
        INSERT INTO threads (thread_id, state, first_customer_at, last_counted_side)
            VALUES ('old1', 'new', 1, 'customer');
    """)
    old.commit()
    old.close()
    with open_store(desk.store_path) as db:  # the audit reads an old file as it is (read-only)
        assert db.execute("SELECT subject, agent, waiting_since FROM threads").fetchall() == [(None, None, None)]
        assert db.execute("SELECT count(*) FROM messages").fetchone() == (0,)
    with Store(desk.store_path) as store:
        columns = {r[1] for r in store.db.execute("PRAGMA table_info(threads)")}
        assert {"subject", "customer", "agent", "first_agent", "waiting_since", "flags"} <= columns
        assert store.db.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
        indexes = {r[0] for r in store.db.execute("SELECT name FROM sqlite_master WHERE type = 'index'")}
        assert {"threads_state", "threads_first_customer_at", "journal_to_state"} <= indexes
        assert store.threads()["old1"].subject is None
    c1 = desk.customer(subject="After the upgrade")
    desk.sweep(full=True)
    row, messages = _thread_row(desk, desk.thread_of(c1))
    assert row.subject == "After the upgrade" and [m.kind for m in messages] == ["customer"]


def _message_labels(desk) -> dict[str, dict[str, set[str]]]:
    """thread -> message -> its status labels and INBOX (per message, not the thread's union)."""
    names = {lab["id"]: lab["name"] for lab in desk.client.execute(desk.users.labels().list(userId="me"))["labels"]}
    out = {}
    for t in desk.client.execute(desk.users.threads().list(userId="me", maxResults=500)).get("threads", []):
        thread = desk.client.execute(desk.users.threads().get(userId="me", id=t["id"], format="minimal"))
        out[t["id"]] = {
            m["id"]: {
                n for n in (names.get(i, i) for i in m.get("labelIds", [])) if n.startswith("Status/") or n == "INBOX"
            }
            for m in thread["messages"]
        }
    return out


def _stored(path):
    from gmaildesk.sweep.store import Store

    with Store(path) as store:
        rows = store.threads()
        return {
            t: (
                {k: v for k, v in r.__dict__.items() if k not in ("updated_at", "messages", "message_ids")},
                sorted(r.message_ids),
                store.messages(t),
            )
            for t, r in rows.items()
        }


def test_incremental_reads_only_the_new_messages_and_agrees_with_a_full_sweep(desk, tmp_path):
    mids = _many(desk, 12)
    desk.sweep()
    desk.sandbox.control.advance_clock(H)
    followed = mids[:7]
    for i, mid in enumerate(followed):
        desk.customer(subject=f"Re: Question {i}", reply_to_mid=mid)
    # Two more kinds of new message: an out-of-office and our reply to the customer.
    desk.customer(
        subject="Automatic reply: Re: Question 8",
        frm="ooo@customer.test",
        reply_to_mid=mids[8],
        headers=[("Auto-Submitted", "auto-replied")],
    )
    desk.send(desk.thread_of(mids[9]), in_reply_to=mids[9], subject="Re: Question 9")
    n = len(followed) + 2
    desk.sandbox.control.advance_clock(5 * H)  # past the SLAs too
    desk.sandbox.control.reset_counters()
    r = desk.sweep()
    calls = desk.calls()
    assert calls["gmail.users.messages.get"] == n and "gmail.users.threads.get" not in calls, calls
    assert r.threads_read == n and not r.errors
    assert r.calls_by_method["users.messages.get"] == n

    incremental = _message_labels(desk)
    inc_store = _stored(desk.store_path)
    from gmaildesk.sweep.store import Store

    with Store(desk.store_path) as store:
        journal = store.journal()
        rows = store.threads()
    clean = Desk(desk.sandbox, desk.desk, tmp_path / "clean.sqlite")
    full = clean.sweep(full=True)
    assert not full.errors and full.threads_read == 12
    assert _message_labels(desk) == incremental  # per thread, per message
    assert _stored(clean.store_path) == inc_store  # states, facts, messages: what a full read learns
    # The journal: the first sweep's transitions, then exactly this sweep's, each on its basis.
    assert len(journal) == 12 + len(r.transitions)
    assert {(j.thread_id, j.from_state, j.to_state, j.basis) for j in journal[12:]} == {
        (t.thread_id, t.from_state, t.to_state, rows[t.thread_id].last_counted_id) for t in r.transitions
    }
    # 0, 3, 6 still new (now overdue), 9 answered; 1, 4 handled and 2, 5 forwarded now wait; 8 unchanged.
    assert sorted((t.from_state, t.to_state) for t in r.transitions) == sorted(
        [("new", "new+overdue")] * 3
        + [("new", "handled")]
        + [("handled", "waiting")] * 2
        + [("forwarded", "waiting")] * 2
    )
    desk.sandbox.control.reset_counters()
    assert desk.sweep().transitions == [] and sum(desk.calls().values()) <= 3


def test_incremental_falls_back_to_the_whole_thread(desk):
    mids = _many(desk, 6)
    c = desk.customer(subject="Closed one")
    desk.send(desk.thread_of(c), in_reply_to=c, subject="Re: Closed one")
    desk.sweep()
    desk.sandbox.control.advance_clock(8 * D)
    desk.sweep()
    assert desk.status(desk.thread_of(c)) == {"Status/Closed"}
    # A forward (the stored customers may be incomplete), a reopened closed thread (INBOX per
    # message), a deleted stored message: threads.get; a plain follow-up: messages.get.
    desk.send(desk.thread_of(mids[0]), in_reply_to=mids[0], subject="Fwd: Question 0", to="vendor@parts.test")
    desk.customer(subject="Re: Closed one", reply_to_mid=c)
    desk.client.execute(desk.users.messages().delete(userId="me", id=_gmail_id(desk, desk.thread_of(mids[1]), 1)))
    desk.customer(subject="Re: Question 3", reply_to_mid=mids[3])
    desk.sandbox.control.reset_counters()
    r = desk.sweep()
    calls = desk.calls()
    assert calls["gmail.users.threads.get"] == 3 and calls["gmail.users.messages.get"] == 2, calls
    assert not r.errors
    got = sorted((t.from_state, t.to_state) for t in r.transitions)
    assert ("closed", "waiting") in got and ("new+overdue", "forwarded") in got
    assert desk.status(desk.thread_of(c)) == {"Status/Waiting", "INBOX"}


def _gmail_id(desk, thread_id: str, index: int) -> str:
    thread = desk.client.execute(desk.users.threads().get(userId="me", id=thread_id, format="minimal"))
    return thread["messages"][index]["id"]
