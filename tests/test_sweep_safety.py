"""The sweep, safe against other people, Gmail's habits and the disk (issue 8 items 10-12, issue 9 item 4).

- An agent's label change made while a sweep runs is never skipped, and a hand-set state
  survives later sweeps and the SLA passing (only the sweep's own recorded writes are ignored).
- A conversation Gmail names but answers 404 for is retried on the next runs, reported, and
  given up only after RETRY_RUNS runs and RETRY_MS.
- A store belongs to one account; a second sandbox with the same address starts from nothing.
- The store file: private modes, a schema version, and one-line errors for every disk failure.
"""

from __future__ import annotations

import json
import os
import sqlite3
import stat
import subprocess
import sys
import time
from pathlib import Path
from unittest import mock

import pytest

from cli_run import invoke
from gmaildesk.errors import ExitCode, GmailDeskError
from gmaildesk.lock import AccountLock, lock_path
from gmaildesk.paths import Account
from gmaildesk.sandbox import running_sandbox
from gmaildesk.sweep import engine
from gmaildesk.sweep.store import SCHEMA_VERSION, Store, store_path
from sweep_helpers import SUPPORT, Desk, H, make_desk

GMAILDESK = [sys.executable, "-m", "gmaildesk"]


@pytest.fixture
def env(sandbox, tmp_path, monkeypatch):
    config, path = make_desk(sandbox, tmp_path, monkeypatch)
    desk = Desk(sandbox, config, store_path(Account(sandbox.url, config.mailbox)))
    return desk, ["sweep", "-c", str(path), "--endpoint", sandbox.url]


def _by_hand(desk: Desk, thread_id: str, add: str, remove: tuple[str, ...] = ()) -> None:
    """An agent changes the status in Gmail's web UI: the whole conversation, through the API."""
    body = {"addLabelIds": [desk.label_id(add)], "removeLabelIds": [desk.label_id(r) for r in remove]}
    desk.client.execute(desk.users.threads().modify(userId="me", id=thread_id, body=body))


# ---------------------------------------------------------------- 10: nobody's change is skipped
@pytest.mark.parametrize("when", ["read", "write"])
def test_an_agents_change_during_a_run_survives_the_next_sweeps_and_the_sla(env, when):
    """`read`: the agent acts after the sweep read the thread, so the sweep's own write then
    overwrites the label (history still shows who set what). `write`: after the sweep's writes,
    where the old label cursor (moved past the run's own writes) skipped it."""
    desk, _ = env
    mid = desk.customer()
    t = desk.thread_of(mid)
    other = desk.thread_of(desk.customer(subject="Another question"))
    acted: list[str] = []

    def agent(phase, done, total):
        if phase == when and not acted:
            _by_hand(desk, t, "Status/Handled", remove=("Status/New",))
            acted.append(phase)

    first = desk.sweep(progress=agent)
    assert acted and first.full
    if when == "read":  # the run's own write came after the agent's: the label is ours for now
        assert desk.status(t) == {"Status/New", "INBOX"}
    second = desk.sweep()
    assert [(x.thread_id, x.to_state) for x in second.transitions] in ([], [(t, "handled")])
    assert desk.status(t) == {"Status/Handled", "INBOX"}
    with Store(desk.store_path) as store:
        assert store.threads()[t].state == "handled" and store.threads()[t].manual
    desk.sandbox.control.advance_clock(5 * H)  # past the 4h first-response SLA
    late = desk.sweep()
    assert [(x.thread_id, x.to_state) for x in late.transitions] == [(other, "new+overdue")]
    assert desk.status(t) == {"Status/Handled", "INBOX"}
    desk.sweep()
    assert desk.status(t) == {"Status/Handled", "INBOX"}
    desk.customer(subject="Re: Printer offline", reply_to_mid=mid)  # the customer writes: rules again
    assert [(x.thread_id, x.to_state) for x in desk.sweep().transitions] == [(t, "new+overdue")]


def test_race_an_agent_relabels_while_a_slow_sweep_runs(env, tmp_path):
    """Must show (issue 8): a real `gmaildesk sweep` process against a slowed-down sandbox; an
    agent sets Status/Handled by hand through the client while it reads; the state survives."""
    desk, args = env
    mids = [desk.customer(subject=f"Question {i}") for i in range(120)]
    chosen = desk.thread_of(mids[-1])  # listed newest first: read in the first batch
    env_vars = {**os.environ, "GMAILDESK_DATA_DIR": os.environ["GMAILDESK_DATA_DIR"]}
    desk.sandbox.control.reset_counters()
    desk.sandbox.control.set_faults(latency_ms=150)
    proc = subprocess.Popen(
        [*GMAILDESK, *args, "--quiet"], env=env_vars, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        deadline = time.monotonic() + 30
        while sum(desk.calls().get(f"gmail.users.{m}.get", 0) for m in ("threads", "messages")) < 50:
            assert proc.poll() is None and time.monotonic() < deadline, proc.communicate()
            time.sleep(0.01)
        _by_hand(desk, chosen, "Status/Handled", remove=("Status/New",))
        assert proc.poll() is None  # the agent acted during the run
        out, err = proc.communicate(timeout=60)
        assert proc.returncode == 0 and out == "" and err == "", out + err
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        desk.sandbox.control.clear_faults()
    for _ in range(2):
        invoke([*args, "--quiet"])
    assert desk.status(chosen) == {"Status/Handled", "INBOX"}
    desk.sandbox.control.advance_clock(5 * H)
    doc = json.loads(invoke([*args, "--json"]).stdout)
    assert doc["transitions_by_state"] == {"new+overdue": 119}
    assert desk.status(chosen) == {"Status/Handled", "INBOX"}
    assert desk.status(desk.thread_of(mids[0])) == {"Status/New", "Status/Overdue", "INBOX"}


def test_the_sweeps_own_writes_cost_nothing_next_time(env):
    """The run reads the history of its own window once more after writing: its own events are
    passed there (the next run starts after them), anything else is re-read next time."""
    desk, args = env
    for i in range(3):
        desk.customer(subject=f"Question {i}")
    first = json.loads(invoke([*args, "--json"]).stdout)
    assert first["calls_by_method"]["users.history.list"] == 1  # the settle: the run's own window
    with Store(desk.store_path) as store:
        assert store.own_writes() == {} and store.recheck() == {}  # the cursor is past them now
    desk.sandbox.control.reset_counters()
    doc = json.loads(invoke([*args, "--json"]).stdout)
    assert doc["threads_read"] == 0 and doc["transitions"] == []
    assert doc["calls_by_method"] == {"users.getProfile": 1, "users.labels.list": 1, "users.history.list": 1}
    assert doc["api_calls"] == sum(desk.calls().values()) == 3


def test_without_the_settle_the_next_run_tells_own_writes_from_an_agents(env, monkeypatch):
    """If reading the history after the writes fails, the cursor stays at the run's start: the
    next run meets the recorded own writes (ignored) and the agent's change (kept)."""
    desk, _ = env
    t = desk.thread_of(desk.customer())
    others = [desk.thread_of(desk.customer(subject=f"Other {i}")) for i in range(2)]

    def agent(phase, done, total):
        if phase == "read":
            _by_hand(desk, t, "Status/Handled")

    monkeypatch.setattr(engine._Sweep, "_settle", lambda self, *a: None)
    desk.sweep(progress=agent)
    with Store(desk.store_path) as store:
        assert len(store.own_writes()) == 3  # recorded before the writes, committed with the run
    monkeypatch.undo()
    desk.sandbox.control.reset_counters()
    second = desk.sweep()
    assert second.threads_read == 1 and desk.calls()["gmail.users.threads.get"] == 1  # the agent's, not ours
    assert [(x.thread_id, x.to_state) for x in second.transitions] == [(t, "handled")]
    assert desk.status(t) == {"Status/Handled", "INBOX"} and all(
        desk.status(o) == {"Status/New", "INBOX"} for o in others
    )


# ---------------------------------------------------------------- 11: 404 right after list/history
def test_a_conversation_gmail_does_not_show_yet_is_retried_and_then_labelled(env):
    desk, args = env
    desk.sweep()  # a first sweep of an empty mailbox: later runs are incremental
    desk.sandbox.control.set_faults(fresh_not_found_s=60)  # gmailpush#10: 404 for a few seconds
    t = desk.thread_of(desk.customer())
    doc = json.loads(invoke([*args, "--json"]).stdout)
    assert doc["retrying"] == [t] and doc["given_up"] == [] and doc["transitions"] == [] and doc["status"] == "ok"
    text = invoke(args).stdout
    assert f"Retrying 1 conversations Gmail named but did not show yet (404): {t}" in text
    with Store(desk.store_path) as store:
        assert store.pending()[t].runs == 2
    desk.sandbox.control.advance_clock(61)
    doc = json.loads(invoke([*args, "--json"]).stdout)
    assert doc["retrying"] == [] and [(x["thread"], x["to"]) for x in doc["transitions"]] == [(t, "new")]
    assert desk.status(t) == {"Status/New", "INBOX"}
    with Store(desk.store_path) as store:
        assert store.pending() == {}
    assert sum(desk.sandbox.control.counters()["faults"].values()) >= 2


def test_a_new_message_gmail_does_not_show_yet_falls_back_to_its_thread(env):
    """messages.get of a fresh follow-up answers 404; its thread (not all fresh) shows it: read
    there in the same run, nothing left pending."""
    desk, args = env
    mid = desk.customer()
    t = desk.thread_of(mid)
    desk.send(t, in_reply_to=mid)
    invoke([*args, "--quiet"])
    desk.sandbox.control.advance_clock(120)  # the first messages are settled
    desk.sandbox.control.set_faults(fresh_not_found_s=60)
    desk.customer(subject="Re: Printer offline", reply_to_mid=mid)
    desk.sandbox.control.reset_counters()
    doc = json.loads(invoke([*args, "--json"]).stdout)
    assert doc["calls_by_method"]["users.messages.get"] == 1 and doc["calls_by_method"]["users.threads.get"] == 1
    assert desk.sandbox.control.counters()["faults"].get("fresh_not_found") == 1
    assert [(x["thread"], x["from"], x["to"]) for x in doc["transitions"]] == [(t, "handled", "waiting")]
    assert doc["retrying"] == []


def test_a_first_full_sweep_retries_too_and_gives_up_only_after_3_runs_and_15_minutes(env):
    desk, args = env
    desk.sandbox.control.set_faults(fresh_not_found_s=3600)
    t = desk.thread_of(desk.customer())
    assert json.loads(invoke([*args, "--json"]).stdout)["retrying"] == [t]  # full scan: listed, 404
    for _ in range(3):  # 4 runs within 3 minutes: still retried (15 minutes not over)
        desk.sandbox.control.advance_clock(60)
        assert json.loads(invoke([*args, "--json"]).stdout)["retrying"] == [t]
    desk.sandbox.control.advance_clock(13 * 60)
    result = invoke([*args, "--quiet"])
    assert result.stdout == ""
    assert result.stderr == f"Warning: gave up on 1 conversation Gmail named but never showed: {t}\n"
    with Store(desk.store_path) as store:
        assert store.pending() == {}


def test_a_known_conversation_that_stays_404_is_dropped_after_the_bounds(env):
    desk, args = env
    t = desk.thread_of(desk.customer())
    invoke([*args, "--quiet"])
    desk.client.execute(desk.users.threads().delete(userId="me", id=t))
    for minutes in (0, 5, 5):
        desk.sandbox.control.advance_clock(minutes * 60)
        doc = json.loads(invoke([*args, "--json"]).stdout)
        assert doc["retrying"] == [t] and doc["threads_seen"] == 1
    desk.sandbox.control.advance_clock(6 * 60)
    assert desk.sweep().retrying == []  # a 404 after 3 runs and 15 minutes: gone
    with Store(desk.store_path) as store:
        assert store.threads() == {} and store.pending() == {}


# ---------------------------------------------------------------- 9-4: a refused cursor
def test_a_refused_history_cursor_resyncs_and_says_so(env):
    desk, args = env
    t = desk.thread_of(desk.customer())
    invoke([*args, "--quiet"])
    with Store(desk.store_path) as store:  # a store edited or damaged by hand
        store.db.execute("UPDATE checkpoint SET history_id = 'x7', labels_history_id = 'x7'")
    result = invoke(args)
    assert "(full scan, history cursor refused (HTTP 400): full resync; read 1)" in result.stdout
    with Store(desk.store_path) as store:
        assert store.checkpoint().history_id.isdigit() and store.threads()[t].state == "new"
    assert json.loads(invoke([*args, "--json"]).stdout)["resynced"] is False


# ---------------------------------------------------------------- 12: state belongs to an account
def test_a_second_sandbox_with_the_same_address_starts_with_a_full_scan(env, tmp_path):
    desk, args = env
    desk.customer()
    invoke([*args, "--quiet"])  # the rehearsal
    with running_sandbox(users=(SUPPORT,)) as second:
        apply = ["apply", "-c", args[2], "--yes", "--skip-tests", "--endpoint", second.url]
        assert invoke(apply, expect=ExitCode.OK).exit_code == 0
        from gmaildesk.sandbox.mime import build_message

        for i in range(2):
            second.control.deliver(
                SUPPORT,
                build_message(
                    from_=f"c{i}@customer.test",
                    to=[SUPPORT],
                    subject=f"Real {i}",
                    text="hi",
                    date_ms=int(second.control.clock()["nowMs"]),
                ),
            )
        doc = json.loads(invoke(["sweep", "-c", args[2], "--endpoint", second.url, "--json"]).stdout)
        assert doc["full"] is True and doc["threads_seen"] == 2 and doc["transitions_by_state"] == {"new": 2}
        first_store = store_path(Account(desk.sandbox.url, SUPPORT))
        second_store = store_path(Account(second.url, SUPPORT))
        assert first_store != second_store and first_store.parent.parent != second_store.parent.parent
        with Store(first_store) as a, Store(second_store) as b:
            assert len(a.threads()) == 1 and len(b.threads()) == 2
            assert a.account()[1] == b.account()[1] == SUPPORT and a.account()[0] != b.account()[0]
        # --state pointing both accounts at one file: refused, the file untouched
        shared = tmp_path / "shared.sqlite"
        invoke([*args, "--quiet", "--state", str(shared)])
        before = shared.read_bytes()
        second.control.reset_counters()
        result = invoke(
            ["sweep", "-c", args[2], "--endpoint", second.url, "--state", str(shared)], expect=ExitCode.ERROR
        )
        assert result.stdout == ""
        assert result.stderr.splitlines()[0] == (
            f"Error: {shared} holds the sweep state of {SUPPORT} "
            f"({Account(desk.sandbox.url, SUPPORT).key.split('/')[0]})"
            f", not of {SUPPORT} ({Account(second.url, SUPPORT).key.split('/')[0]})"
        )
        assert "--store" in result.stderr
        assert {k: v for k, v in second.control.counters()["calls"].items() if k.startswith("gmail.")} == {
            "gmail.users.getProfile": 1
        }  # whose mailbox it is; nothing else
        with Store(shared) as store:
            assert len(store.threads()) == 1
        assert shared.read_bytes() == before


# ---------------------------------------------------------------- 9-4: the file itself
def _modes(folder: Path) -> dict[str, int]:
    return {p.name: stat.S_IMODE(p.stat().st_mode) for p in folder.iterdir()}


def test_store_files_are_private_and_versioned(env):
    desk, args = env
    desk.customer()
    invoke([*args, "--quiet"])
    folder = desk.store_path.parent
    assert stat.S_IMODE(folder.stat().st_mode) == 0o700
    with Store(desk.store_path) as store:  # open: the -wal and -shm files exist now
        modes = _modes(folder)
        assert {"sweep.sqlite", "sweep.sqlite-wal", "sweep.sqlite-shm"} <= set(modes)
        assert all(mode == 0o600 for mode in modes.values()), modes
        assert store.db.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    desk.store_path.chmod(0o644)  # loosened by hand (or an older gmaildesk): tightened on open
    folder.chmod(0o755)
    invoke([*args, "--quiet"])
    assert stat.S_IMODE(desk.store_path.stat().st_mode) == 0o600
    assert stat.S_IMODE(folder.stat().st_mode) == 0o700


def test_a_store_from_a_newer_gmaildesk_is_refused(env):
    desk, args = env
    invoke([*args, "--quiet"])
    with sqlite3.connect(desk.store_path) as db:
        db.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    before = desk.store_path.read_bytes()
    result = invoke(args, expect=ExitCode.ERROR)
    assert result.stderr.splitlines()[0] == (
        f"Error: {desk.store_path} was made by a newer gmaildesk "
        f"(store version {SCHEMA_VERSION + 1}; this one knows up to "
        f"{SCHEMA_VERSION})"
    )
    assert "upgrade gmaildesk" in result.stderr
    assert desk.store_path.read_bytes() == before


@pytest.mark.parametrize(
    "damage, expected",
    [
        ("truncated", "the file is damaged (truncated or overwritten)"),
        ("garbage", "it is not a sweep store (or its header is damaged)"),
        ("bad-json", "bad JSON in the row of thread"),
    ],
)
def test_a_damaged_store_is_one_line_naming_the_file_and_the_fix(env, damage, expected):
    desk, args = env
    for i in range(40):
        desk.customer(subject=f"Question {i} " + "x" * 200)
    invoke([*args, "--quiet"])
    path = desk.store_path
    if damage == "truncated":
        data = path.read_bytes()
        path.write_bytes(data[: len(data) // 2])
    elif damage == "garbage":
        path.write_bytes(b"this is not a database" * 100)
    else:
        with sqlite3.connect(path) as db:
            db.execute("UPDATE threads SET labels = '[\"Label_1\"' WHERE rowid = (SELECT min(rowid) FROM threads)")
    result = invoke(args, expect=ExitCode.ERROR)
    first = result.stderr.splitlines()[0]
    assert first.startswith("Error: ") and str(path) in first and expected in first, result.stderr
    assert "move it aside" in result.stderr or "move the file aside" in result.stderr
    assert result.stdout == ""


def test_disk_full_while_saving_is_one_line_and_leaves_the_previous_state(env):
    """SQLITE_FULL for real: the store may not grow (max_page_count), the way a full disk stops it."""
    desk, _ = env
    desk.customer()
    desk.sweep()
    before = Store(desk.store_path)
    cp = before.checkpoint()
    before.close()
    for i in range(60):
        desk.customer(subject=f"Question {i} " + "y" * 300)
    real_init = Store.__init__

    def full_disk(self, *a, **kw):
        real_init(self, *a, **kw)
        pages = self.db.execute("PRAGMA page_count").fetchone()[0]
        self.db.execute(f"PRAGMA max_page_count = {pages}")

    with mock.patch.object(Store, "__init__", full_disk), pytest.raises(GmailDeskError) as caught:
        desk.sweep()
    assert "the sweep store" in caught.value.message and str(desk.store_path) in caught.value.message
    assert caught.value.message.endswith("the disk is full"), caught.value.message
    assert "cannot rollback" not in caught.value.message and "free space" in caught.value.hints[0]
    with Store(desk.store_path) as store:
        assert store.checkpoint() == cp and len(store.threads()) == 1
    assert len(desk.sweep().transitions) == 60  # space again: the next run does it all


@pytest.fixture
def tiny_disk(tmp_path):
    mount = tmp_path / "tiny"
    mount.mkdir()
    if (
        os.geteuid() != 0
        or subprocess.run(
            ["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(mount)], capture_output=True
        ).returncode
        != 0
    ):
        pytest.skip("cannot mount a tmpfs here (needs root); the max_page_count test covers SQLITE_FULL")
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], capture_output=True)


def test_a_full_disk_for_real_then_space_again(env, tiny_disk):
    desk, args = env
    store = tiny_disk / "sweep.sqlite"
    invoke([*args, "--quiet", "--state", str(store)])
    for i in range(150):
        desk.customer(subject=f"Question {i} " + "z" * 500)
    filler = tiny_disk / "filler"
    fd = os.open(filler, os.O_WRONLY | os.O_CREAT, 0o600)
    try:
        while True:
            os.write(fd, b"\0" * 1024)
    except OSError:
        pass
    finally:
        os.close(fd)
    result = invoke([*args, "--quiet", "--state", str(store)], expect=ExitCode.ERROR)
    assert len(result.stderr.splitlines()) == 2, result.stderr  # the error and its hint
    assert result.stderr.startswith("Error: ") and str(store) in result.stderr
    assert "the disk is full" in result.stderr and "cannot rollback" not in result.stderr
    filler.unlink()
    doc = json.loads(invoke([*args, "--json", "--state", str(store)]).stdout)
    assert doc["threads_seen"] == 150


def test_a_read_only_folder_is_one_line(env, tmp_path):
    desk, args = env
    folder = tmp_path / "ro"
    folder.mkdir()
    if os.geteuid() == 0:  # root writes anywhere: a read-only mount instead of a mode
        if (
            subprocess.run(
                ["mount", "-t", "tmpfs", "-o", "ro,size=64k", "tmpfs", str(folder)], capture_output=True
            ).returncode
            != 0
        ):
            pytest.skip("root without mount rights: cannot make a read-only folder")
    else:
        folder.chmod(0o500)
    try:
        result = invoke([*args, "--state", str(folder / "sweep.sqlite")], expect=ExitCode.ERROR)
    finally:
        if os.geteuid() == 0:
            subprocess.run(["umount", "-l", str(folder)], capture_output=True)
        else:
            folder.chmod(0o700)
    lines = result.stderr.splitlines()
    assert lines[0].startswith(f"Error: cannot create the sweep store {folder / 'sweep.sqlite'}: "), result.stderr
    assert "writable" in result.stderr and len(lines) == 2


# ---------------------------------------------------------------- the lock
def test_a_symlink_planted_at_the_lock_path_is_refused_and_its_target_untouched(env, tmp_path):
    desk, args = env
    account = Account(desk.sandbox.url, SUPPORT)
    target = tmp_path / "precious.txt"
    target.write_text("keep me\n")
    path = lock_path(account)
    path.unlink()  # left by apply, which takes the same lock
    path.symlink_to(target)
    desk.sandbox.control.reset_counters()
    result = invoke(args, expect=ExitCode.ERROR)
    assert result.stderr.splitlines()[0] == f"Error: {path} is a symbolic link; refusing to use it as a lock file"
    assert target.read_text() == "keep me\n"
    assert desk.calls() == {"gmail.users.getProfile": 1}  # whose lock; nothing else


def test_a_store_reached_through_a_symlink_meets_the_same_lock(env, tmp_path):
    desk, args = env
    invoke([*args, "--quiet"])
    link = tmp_path / "link.sqlite"
    link.symlink_to(desk.store_path)
    with AccountLock(Account(desk.sandbox.url, SUPPORT), "sweep"):
        result = invoke([*args, "--quiet", "--state", str(link)], expect=ExitCode.LOCKED)
    assert "another gmaildesk run is working on support@example.com" in result.stderr


# ---------------------------------------------------------------- the classifier's flags
def test_the_classifiers_flags_are_kept_per_thread_and_message(env):
    desk, args = env
    mid = desk.customer(
        subject="Contact form: refund please",
        headers=[("List-Unsubscribe", "<mailto:leave@forms.example>"), ("Reply-To", "carol@customer.test")],
        frm="forms@webforms.example",
    )
    t = desk.thread_of(mid)
    invoke([*args, "--quiet"])
    with Store(desk.store_path) as store:
        row = store.threads()[t]
        assert row.state == "new" and row.flags == ["possibly_automatic"]
        assert [m.flags for m in store.messages(t)] == [("possibly_automatic",)]
    desk.customer(subject="Re: Contact form: refund please", reply_to_mid=mid, frm="carol@customer.test")
    invoke([*args, "--quiet"])  # incremental: the stored message keeps its flag
    with Store(desk.store_path) as store:
        assert store.threads()[t].flags == ["possibly_automatic"]
        assert [m.flags for m in store.messages(t)] == [("possibly_automatic",), ()]


# ---------------------------------------------------------------- upgrading a store
def test_a_store_from_before_versions_is_migrated_and_its_own_writes_stay_its_own(env):
    """A store written before the schema version: two cursors (messages from the run's start,
    labels after its own writes) and no record of its writes. The upgrade keeps that meaning:
    the first run after it reads nothing and marks nothing as set by hand."""
    desk, args = env
    for i in range(3):
        desk.customer(subject=f"Question {i}")
    start = desk.client.execute(desk.users.getProfile(userId="me"))["historyId"]
    invoke([*args, "--quiet"])
    after_writes = desk.client.execute(desk.users.getProfile(userId="me"))["historyId"]
    with sqlite3.connect(desk.store_path) as db:  # what the earlier gmaildesk left behind
        db.execute("UPDATE checkpoint SET history_id = ?, labels_history_id = ?", (start, after_writes))
        db.execute("DROP TABLE own_writes")
        db.execute("DROP TABLE recheck")
        db.execute("PRAGMA user_version = 0")
    desk.sandbox.control.reset_counters()
    doc = json.loads(invoke([*args, "--json"]).stdout)
    assert doc["threads_read"] == 0 and doc["transitions"] == [] and doc["resynced"] is False
    with Store(desk.store_path) as store:
        assert store.db.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
        assert not any(r.manual for r in store.threads().values())
