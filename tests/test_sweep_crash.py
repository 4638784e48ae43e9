"""A sweep SIGKILLed mid-run and run again ends exactly where a clean run ends (issue 4).

The sweep runs as a real `python -m gmaildesk sweep` process against a slowed-down sandbox and
is killed at chosen points: while reading, after its Gmail writes but before its store commit,
and in an incremental run (twice in a row). After each kill the sweep is run again to the end
and compared with a reference mailbox seeded the same way and swept without crashes: the same
status labels on every conversation, the same journal (no duplicates, one row per transition),
no stale lock, and a further run that has nothing to do.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path
from unittest import mock

import pytest
from typer.testing import CliRunner

from gmaildesk.cli import app
from gmaildesk.config import load_desk
from gmaildesk.gmail import connect, scopes
from gmaildesk.gmail.api import HttpGmailApi
from gmaildesk.gmail.connection import ConnectionOptions
from gmaildesk.lock import AccountLock, lock_path
from gmaildesk.paths import Account
from gmaildesk.sandbox import delivery, running_sandbox
from gmaildesk.sandbox.mime import build_message
from gmaildesk.sweep import engine
from gmaildesk.sweep.store import Store
from sweep_helpers import ALICE, DESK, SUPPORT, H

# Each test kills sweeps in a child process and reruns them: the slowest runs in the suite (`-m "not slow"` skips them).
pytestmark = [pytest.mark.slow, pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="needs POSIX SIGKILL")]

N = 180  # conversations (+5 automatic-only); 4 threads.get batches of 50
LATENCY_MS = 100  # per HTTP request (a batch is one request): a full sweep takes ~1 s
GMAILDESK = [sys.executable, "-m", "gmaildesk"]


# ---------------------------------------------------------------- a mailbox, seeded deterministically
class Mailbox:
    """One sandbox with the desk applied and N conversations; keys are the conversation numbers."""

    def __init__(self, handle, root: Path):
        self.handle, self.control, self.sb = handle, handle.control, handle.sandbox
        self.root = root
        self.env = {**os.environ, "GMAILDESK_DATA_DIR": str(root / "data")}
        self.config = root / "desk.yaml"
        self.config.write_text(DESK.replace("ARCHIVE", "true"))
        self.store = root / "sweep.sqlite"
        self.backfill: int | None = None  # sweep --backfill N (None: the default, a minute of quota)
        result = CliRunner().invoke(
            app,
            ["apply", "-c", str(self.config), "--yes", "--skip-tests", "--endpoint", handle.url],
            env={"GMAILDESK_DATA_DIR": str(root / "data")},
            catch_exceptions=False,
        )
        assert result.exit_code in (0, 4), result.stdout + result.stderr
        self.key: dict[str, int] = {}  # thread id -> conversation number
        self.first: dict[int, str] = {}  # conversation number -> its first Message-ID

    # Everything through the sandbox's Python API under its lock: ~1 ms a message.
    def _box(self):
        return self.sb.mailbox(SUPPORT)

    def customer(self, i: int, reply: bool = False, n: int = 0, headers=()) -> None:
        mid = f"<q{i}.{n}@customer.test>"
        raw = build_message(
            from_=ALICE,
            extra_headers=tuple(headers),
            to=[SUPPORT if i % 4 else "billing@example.com"],
            subject=("Re: " if reply else "") + f"Question {i}",
            text="hello",
            message_id=mid,
            in_reply_to=self.first[i] if reply else None,
            references=[self.first[i]] if reply else (),
            date_ms=self.sb.now_ms(),
        )
        with self.sb.lock, self.sb.store.transaction():
            thread_id = delivery.deliver(self.sb, self._box(), raw)["threadId"]
        self.first.setdefault(i, mid)
        self.key[thread_id] = i

    def ours(self, i: int, forward: bool = False) -> None:
        raw = build_message(
            from_=SUPPORT,
            to=["vendor@parts.test" if forward else ALICE],
            subject=("Fwd: " if forward else "Re: ") + f"Question {i}",
            text="answer",
            in_reply_to=self.first[i],
            references=[self.first[i]],
            date_ms=self.sb.now_ms(),
        )
        thread_id = self.thread(i)
        with self.sb.lock, self.sb.store.transaction():
            assert delivery.send(self.sb, self._box(), raw, thread_id=thread_id).thread_id == thread_id

    def by_hand(self, i: int, label: str) -> None:
        """An agent puts a status label on the conversation."""
        with self.sb.lock, self.sb.store.transaction():
            box = self._box()
            label_id = box.label_by_name(label)["id"]
            for msg in box.thread(self.thread(i)):
                box.modify(msg, [label_id], [], self.sb.now_ms())

    def thread(self, i: int) -> str:
        return next(t for t, k in self.key.items() if k == i)

    def seed(self) -> None:
        """New (overdue and not), handled, forwarded, waiting, a stray hand label, and automatic-only mail."""
        kinds = {i: i % 6 for i in range(N)}
        for i in range(N):
            if kinds[i] != 4:
                self.customer(i)
        for i in range(N):
            if kinds[i] in (1, 3, 5):
                self.ours(i)
            elif kinds[i] == 2:
                self.ours(i, forward=True)
        for i in range(N):
            if kinds[i] == 3:
                self.customer(i, reply=True, n=1)
            elif kinds[i] == 5:
                # Set by hand before any sweep: without a record of ours the messages decide (handled).
                self.by_hand(i, "Status/Closed")
        self.control.advance_clock(5 * H)  # kind 0 is now past the 4h first-response SLA
        for i in range(N):
            if kinds[i] == 4:
                self.customer(i)
        for i in range(0, N, 40):  # nothing counted (automatic mail only): no status at all
            self.customer(N + i, headers=[("Auto-Submitted", "auto-generated")])
        assert len(self.key) == N + len(range(0, N, 40))

    def change(self) -> None:
        """Between two sweeps: customers answer, we answer, an agent closes conversations by hand."""
        for i in range(N):
            if i % 6 == 1 and i < N // 2:
                self.customer(i, reply=True, n=2)  # handled -> waiting
            elif i % 6 == 4:
                self.ours(i)  # new -> handled
            elif i % 12 == 5:
                self.by_hand(i, "Status/Closed")  # handled -> closed by an agent: kept, archived
            elif i % 12 == 11:
                self.customer(i, reply=True, n=2)  # handled -> waiting

    # ---------------------------------------------------------------- what we compare
    def labels(self) -> dict[int, frozenset[str]]:
        """Status labels (and INBOX) per conversation number, read from the sandbox itself."""
        with self.sb.lock:
            box = self._box()
            out = {}
            for thread_id, i in self.key.items():
                ids = set().union(*(m.labels for m in box.thread(thread_id)))
                out[i] = frozenset(
                    box.labels[lid]["name"]
                    for lid in ids
                    if lid == "INBOX" or box.labels[lid]["name"].startswith("Status/")
                )
            return out

    def journal(self) -> list[tuple[int, str | None, str | None, str]]:
        with Store(self.store) as store:
            return [(self.key[j.thread_id], j.from_state, j.to_state, j.basis) for j in store.journal()]

    def calls(self) -> dict[str, int]:
        return {k: v for k, v in self.control.counters()["calls"].items() if k.startswith("gmail.")}

    # ---------------------------------------------------------------- sweeps
    def sweep_args(self) -> list[str]:
        return [
            *GMAILDESK,
            "sweep",
            "-c",
            str(self.config),
            "--endpoint",
            self.handle.url,
            "--state",
            str(self.store),
            "--quiet",
            *(("--backfill", str(self.backfill)) if self.backfill is not None else ()),
        ]

    def sweep(self) -> subprocess.CompletedProcess:
        done = subprocess.run(self.sweep_args(), env=self.env, capture_output=True, text=True, timeout=60)
        assert done.returncode == 0, done.stdout + done.stderr
        return done

    def killed_sweep(self, when, *, what: str) -> dict[str, int]:
        """Start a sweep; SIGKILL it as soon as when(calls, seconds since its first Gmail call) holds."""
        self.control.reset_counters()
        self.control.set_faults(latency_ms=LATENCY_MS)
        proc = subprocess.Popen(
            self.sweep_args(), env=self.env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
        try:
            started = None
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline:
                calls = self.calls()
                if calls and started is None:
                    started = time.monotonic()
                if started is not None and when(calls, time.monotonic() - started):
                    break
                assert proc.poll() is None, (
                    f"the sweep ended before the kill point ({what}): {calls}\n{proc.stdout.read()}{proc.stderr.read()}"
                )
                time.sleep(0.005)
            else:
                pytest.fail(f"kill point never reached ({what})")
            assert proc.poll() is None, f"the sweep ended before the kill point ({what})"
            os.kill(proc.pid, signal.SIGKILL)
            assert proc.wait(timeout=10) == -signal.SIGKILL
            # A request the dead process had in flight still runs in the sandbox (as in Gmail): let it
            # land before anything is counted or compared.
            settled = self.calls()
            while True:
                time.sleep(LATENCY_MS / 1000 + 0.05)
                now = self.calls()
                if now == settled:
                    break
                settled = now
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
            proc.stdout.close()
            proc.stderr.close()
            self.control.clear_faults()
        # The killed process held the lock (its pid is in the lock file) and the kernel dropped it:
        account = Account(self.handle.url, SUPPORT)
        with mock.patch.dict(os.environ, {"GMAILDESK_DATA_DIR": self.env["GMAILDESK_DATA_DIR"]}):
            assert lock_path(account).read_text().split() == [str(proc.pid), "sweep"]
            with AccountLock(account):
                pass
        return settled


# ---------------------------------------------------------------- the reference: no crashes
@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    """What a clean first sweep and a clean incremental sweep after `change()` leave behind."""
    root = tmp_path_factory.mktemp("reference")
    with running_sandbox(users=(SUPPORT,)) as handle:
        box = Mailbox(handle, root)
        box.seed()
        desk = load_desk(box.config)
        client = connect(ConnectionOptions(endpoint=handle.url), scopes.SWEEP)

        def sweep(backfill: int | None = None):
            with Store(box.store) as store:
                result = engine.run(
                    HttpGmailApi(client), desk, store, now_ms=handle.sandbox.now_ms(), backfill=backfill
                )
            assert not result.errors
            return result

        first = sweep()
        after_first = box.labels(), box.journal()
        box.change()
        second = sweep(backfill=0)  # the work `change()` made; reading what the first one left pending aside
        after_second = box.labels(), box.journal()
    assert len(first.transitions) == len(after_first[1]) == N  # every conversation but the automatic ones
    assert len(second.transitions) > N // 6
    mix = Counter(frozenset(names) for names in after_first[0].values())
    assert len(mix) == 6, mix  # new, new+overdue, handled, forwarded, waiting, no status
    mix = Counter(frozenset(names) for names in after_second[0].values())
    assert frozenset({"Status/Closed"}) in mix and len(mix) == 6, mix  # closed by hand (archived) now too
    return {"first": after_first, "second": after_second, "calls": (first.api_calls, second.api_calls)}


@pytest.fixture
def mailbox(tmp_path):
    with running_sandbox(users=(SUPPORT,)) as handle:
        box = Mailbox(handle, tmp_path)
        box.seed()
        yield box


def _strip_basis(journal):
    return sorted((k, f or "", t or "") for k, f, t, _ in journal)


def _check(box: Mailbox, expected) -> None:
    labels, journal = expected
    assert box.labels() == labels
    mine = box.journal()
    keys = [(k, f, t, b) for k, f, t, b in mine]
    assert len(keys) == len(set(keys)), "duplicate journal rows"
    assert _strip_basis(mine) == _strip_basis(journal)  # one row per transition, as in the clean run


def _rerun_and_check(box: Mailbox, expected) -> dict:
    box.control.reset_counters()
    box.sweep()  # completes: exit 0, the lock was not in the way
    resume = sum(box.calls().values())
    _check(box, expected)
    rows = len(box.journal())
    box.backfill = None
    # The lean first sweep decided most conversations from Gmail's listings; the next sweeps read them
    # whole (the backfill, a minute of quota each): no label, no journal entry may change meanwhile.
    for _ in range(3):
        if not _provisional(box):
            break
        box.sweep()
        assert box.labels() == expected[0] and len(box.journal()) == rows
    assert not _provisional(box)
    box.control.reset_counters()
    box.sweep()
    idle = box.calls()
    assert sum(idle.values()) <= 4, idle  # nothing left to do (getProfile, labels.list, 2 x history.list)
    assert len(box.journal()) == rows
    assert box.labels() == expected[0]
    return {"resume_calls": resume, "idle_calls": sum(idle.values()), "journal": rows}


def _provisional(box: Mailbox) -> int:
    with Store(box.store) as store:
        return sum(row.provisional for row in store.threads().values())


def _committed(box: Mailbox) -> bool:
    with Store(box.store) as store:
        return store.checkpoint().history_id is not None


# ---------------------------------------------------------------- the kill points
KILL_POINTS = {
    "0.3s-in": lambda calls, s: s >= 0.3,
    "mid-read": lambda calls, s: (
        calls.get("gmail.users.threads.get", 0) + calls.get("gmail.users.messages.get", 0) >= N // 2
    ),
    "after-writes": lambda calls, s: calls.get("gmail.users.messages.batchModify", 0) > 0,
}


@pytest.mark.parametrize("point", list(KILL_POINTS))
def test_first_sweep_killed_then_rerun_ends_like_a_clean_run(mailbox, reference, point):
    before = mailbox.killed_sweep(KILL_POINTS[point], what=point)
    # Every kill point lies before the commit: the store holds nothing, the next run starts over.
    assert not _committed(mailbox), before
    if point == "after-writes":
        assert before.get("gmail.users.messages.batchModify", 0) > 0
        assert mailbox.journal() == []
    stats = _rerun_and_check(mailbox, reference["first"])
    assert stats["resume_calls"] <= reference["calls"][0] + 1  # at most a clean run (+ the CLI's account check)
    print(
        f"\nKILL {point}: clean run {reference['calls'][0]} calls; "
        f"calls before kill={sum(before.values())} {before}; {stats}"
    )


def test_incremental_sweep_killed_twice_then_rerun_ends_like_a_clean_run(mailbox, reference):
    mailbox.sweep()
    _check(mailbox, reference["first"])
    mailbox.change()
    mailbox.backfill = 0  # as the reference's incremental run: only what change() did
    first_rows = len(mailbox.journal())
    before = mailbox.killed_sweep(KILL_POINTS["after-writes"], what="incremental after-writes")
    assert len(mailbox.journal()) == first_rows  # the killed run committed nothing
    # Killed again while re-reading what the first crash left half done:
    again = mailbox.killed_sweep(lambda calls, s: calls.get("gmail.users.threads.get", 0) > 0, what="resume read")
    assert len(mailbox.journal()) == first_rows
    stats = _rerun_and_check(mailbox, reference["second"])
    assert stats["resume_calls"] <= reference["calls"][1] + 1
    print(
        f"\nKILL incremental: clean run {reference['calls'][1]} calls; "
        f"calls before kill={sum(before.values())} {before}; second kill {again}; {stats}"
    )
