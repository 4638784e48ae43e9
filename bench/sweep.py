"""Benchmark the sweep: gmaildesk's engine against two naive sweeps, side by side, quota enforced.

One process, one embedded sandbox, the real googleapiclient over HTTP:
  * a mailbox of --threads conversations (default 10,000, about 2.8 messages each: new, handled,
    waiting, forwarded, with out-of-office replies, bounces and list mail mixed in), seeded
    through the sandbox's Python API (fast, uncounted), after `gmaildesk apply` of a desk;
  * per cost table, in order: the naive full pass; gmaildesk's first full sweep reading every
    conversation (engine.run(lean=False)) and its lean first full sweep (the default), each from
    bare labels, their final states compared conversation by conversation; a no-change
    incremental (gmaildesk, and the naive full pass again: the strawman); 100 customer
    follow-ups into existing conversations (gmaildesk incremental, the naive history-based
    incremental, the naive full pass); 100 new conversations (gmaildesk incremental, naive
    history-based); and the lists-only pass (bench/naive.py) for the moonshot line;
  * under both of Gmail's cost tables at their per-user limits: "legacy" (15,000 units/min,
    threads.get 10) and "current" (6,000 units/min, threads.get 40).

Every client is paced by gmaildesk.gmail.pacing.QuotaPacer (Gmail's per-minute limit, 20 s of
burst) and the sandbox enforces the quota per minute (429 beyond it). A full sweep of 10,000
conversations takes minutes to over an hour of quota, so the runs use SIMULATED time: the
sandbox's quota window and the client's pacer and retry backoff share one clock that is the
real monotonic clock plus every wait the client asked for, and the waits are skipped.
"time s" = real compute time + simulated waits, i.e. what the run would take in real time.
A calibration at the end runs gmaildesk's full-read sweep on a --calibration mailbox
(default 200 conversations) at 30 units/s (legacy) in simulated and in REAL time, to show the
simulation holds.

Writes the "sweep" section of bench/results.json (other sections, e.g. bench/many.py's
"many", are kept) and prints Markdown tables, including the README's "What a sweep costs".
Sections are functions of their own (`table_rows`, `calibration_rows`) for other benches to reuse.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import random
import sys
import tempfile
import time
from collections.abc import Callable, Iterable, Sequence
from functools import partial
from pathlib import Path
from typing import Any

import naive
import sweep_report
from typer.testing import CliRunner

from gmaildesk.cli import app
from gmaildesk.config import Desk, load_desk
from gmaildesk.gmail import ConnectionOptions, connect, scopes
from gmaildesk.gmail.api import HttpGmailApi
from gmaildesk.gmail.client import GmailClient
from gmaildesk.gmail.pacing import QuotaPacer
from gmaildesk.gmail.retry import RetryPolicy
from gmaildesk.sandbox import SandboxHandle, delivery, running_sandbox
from gmaildesk.sandbox.limits import method_cost
from gmaildesk.sandbox.mime import build_message
from gmaildesk.sweep import engine
from gmaildesk.sweep.store import Store

RESULTS = Path(__file__).with_name("results.json")
SUPPORT = "support@example.com"
H = 3600
TABLES = (("legacy", 250.0), ("current", 100.0))  # Gmail's per-user limits, units/s: 15,000 and 6,000 a minute
FOLLOW_UPS = 100
NEW_CONVERSATIONS = 100
CALIBRATION_RATE = 30.0
Conv = dict[str, Any]  # one seeded conversation, or one row of results
Run = Callable[[GmailClient], Conv]  # one measured sweep on a fresh client


def _cost(method: str, table: str) -> int:
    return method_cost(method, table)


DESK = """\
version: 1
mailbox: support@example.com
team: [bob@example.com, "@staff.example.com"]
departments:
  - name: Billing
    routes: [{to: billing@example.com}]
    sla: {first_response: 4h, next_response: 8h}
send_as:
  - address: billing@example.com
    display_name: Acme Billing
sweep:
  scope: newer_than:90d
  close_after: 7d
  archive_closed: true
"""


# ---------------------------------------------------------------- simulated time
class SimClock:
    """Real monotonic time plus every wait asked for; the waits themselves are skipped."""

    def __init__(self, simulate: bool):
        self.simulate = simulate
        self.offset = 0.0

    def __call__(self) -> float:
        return time.monotonic() + self.offset

    def sleep(self, seconds: float) -> None:
        if seconds <= 0:
            return
        if self.simulate:
            self.offset += seconds
        else:
            time.sleep(seconds)


# ---------------------------------------------------------------- the mailbox
class Mailbox:
    """The seeded mailbox: per conversation its subject, customer, Message-IDs and kind."""

    def __init__(self, sb: SandboxHandle, n: int):
        self.sb, self.core = sb, sb.sandbox
        self.mb = self.core.mailbox(SUPPORT)
        self.n = n
        self.convs: list[Conv] = []

    def _raw(
        self, conv: Conv, *, frm: str, to: str, subject: str, text: str, headers: Sequence[tuple[str, str]] = ()
    ) -> tuple[bytes, str]:
        mid = f"<t{conv['i']}.m{len(conv['mids'])}@bench.test>"
        last = conv["mids"][-1] if conv["mids"] else None
        raw = build_message(
            from_=frm,
            to=[to],
            subject=subject,
            text=text,
            message_id=mid,
            in_reply_to=last,
            references=list(conv["mids"]),
            extra_headers=tuple(headers),
            date_ms=self.core.now_ms(),
        )
        conv["mids"].append(mid)
        return raw, mid

    def customer(self, conv: Conv, text: str = "Any news?") -> None:
        subject = conv["subject"] if not conv["mids"] else f"Re: {conv['subject']}"
        raw, _ = self._raw(conv, frm=conv["customer"], to=conv["to"], subject=subject, text=text)
        answer = delivery.deliver(self.core, self.mb, raw)
        conv.setdefault("thread", answer["threadId"])

    def ours(self, conv: Conv, forward: bool = False) -> None:
        if forward:
            raw, _ = self._raw(
                conv,
                frm=SUPPORT,
                to="vendor@parts.test",
                subject=f"Fwd: {conv['subject']}",
                text="Could you look at this?",
            )
        else:
            raw, _ = self._raw(
                conv,
                frm=conv["to"],
                to=conv["customer"],
                subject=f"Re: {conv['subject']}",
                text="Thanks, here is the answer.",
            )
        delivery.store_message(
            self.core, self.mb, raw, label_ids=["SENT"], date_source="receivedTime", thread_id=conv["thread"]
        )

    def _inject(self, conv: Conv, raw: bytes) -> None:
        """Gmail threads an auto-reply or a bounce into the conversation it answers."""
        now = self.core.now_ms()
        self.mb.add_message(
            raw,
            internal_date=now,
            label_ids=["INBOX", "UNREAD"],
            now_ms=now,
            thread_id=conv["thread"],
            force_thread=True,
            msg_id=self.core.new_message_id(now, self.mb),
        )

    def out_of_office(self, conv: Conv) -> None:
        raw, _ = self._raw(
            conv,
            frm=conv["customer"],
            to=conv["to"],
            subject=f"Automatic reply: Re: {conv['subject']}",
            text="I am out of the office until Monday.",
            headers=[("Auto-Submitted", "auto-replied"), ("X-Auto-Response-Suppress", "All")],
        )
        self._inject(conv, raw)

    def bounce(self, conv: Conv) -> None:
        domain = conv["customer"].split("@")[1]
        raw, _ = self._raw(
            conv,
            frm=f"MAILER-DAEMON@mx.{domain}",
            to=conv["to"],
            subject="Undelivered Mail Returned to Sender",
            text=f"<{conv['customer']}>: host mx.{domain} said: 550 5.1.1 User unknown",
            headers=[("Return-Path", "<>"), ("Auto-Submitted", "auto-replied")],
        )
        self._inject(conv, raw)

    def newsletter(self, conv: Conv) -> None:
        raw, _ = self._raw(
            conv,
            frm=f"news@{conv['customer'].split('@')[1]}",
            to=SUPPORT,
            subject=conv["subject"],
            text="This month's news.",
            headers=[("List-Id", "<news.vendor.test>"), ("List-Unsubscribe", "<mailto:u@vendor.test>")],
        )
        conv["thread"] = delivery.deliver(self.core, self.mb, raw)["threadId"]

    def seed(self) -> float:
        """About 2.8 messages per conversation, spread over six hours of the sandbox clock."""
        start = time.perf_counter()
        for i in range(self.n):
            self.convs.append(
                {
                    "i": i,
                    "kind": i % 20,
                    "subject": f"Question {i} about order {1000 + i}",
                    "customer": f"c{i}@customer{i % 97}.test",
                    "to": "billing@example.com" if i % 10 == 3 else SUPPORT,
                    "mids": [],
                }
            )
        # (phase, kinds, action): what happens to which conversations in each hour

        def k(*kinds: int) -> list[Conv]:
            return [c for c in self.convs if c["kind"] in kinds]

        phases: list[list[tuple[list[Conv], Callable[[Conv], None]]]] = [
            [(k(*range(0, 4), *range(5, 18), 19), self.customer), (k(18), self.newsletter)],
            [
                (k(0, 1, 19), self.customer),  # a nudge: still new
                (k(*range(5, 15), 16, 17), self.ours),
                (k(15), lambda c: self.ours(c, forward=True)),
            ],
            [(k(5, 6, 7), self.out_of_office), (k(8, 9, *range(10, 15), 17), self.customer), (k(16), self.bounce)],
            [(k(8, 9, 17), self.ours), (k(12, 13, 14), self.customer)],
            [(k(17), self.customer), (k(4), self.customer)],  # late arrivals: new, not overdue yet
        ]
        with self.core.lock, self.core.store.transaction():
            for phase in phases:
                for convs, action in phase:
                    for conv in convs:
                        action(conv)
                self.core.clock_offset_ms += H * 1000
        return time.perf_counter() - start

    def follow_ups(self, count: int, seed: int) -> list[Conv]:
        """`count` customer follow-ups into existing conversations (handled or waiting ones)."""
        rng = random.Random(seed)
        chosen = rng.sample([c for c in self.convs if 5 <= c["kind"] <= 14 or c["kind"] in (16, 17)], count)
        with self.core.lock, self.core.store.transaction():
            for conv in chosen:
                self.customer(conv, text="Following up on this, please.")
        return chosen

    def new_conversations(self, count: int) -> list[Conv]:
        """`count` new conversations of one customer message each."""
        fresh = [
            {
                "i": self.n + len(self.convs) + k,
                "kind": 0,
                "subject": f"New question {k} about order {90_000 + k}",
                "customer": f"n{len(self.convs) + k}@newcustomer{k % 31}.test",
                "to": SUPPORT,
                "mids": [],
            }
            for k in range(count)
        ]
        with self.core.lock, self.core.store.transaction():
            for conv in fresh:
                self.customer(conv, text="Hello, a new question.")
        self.convs.extend(fresh)
        return fresh

    def history_id(self) -> str:
        with self.core.lock:
            return str(self.mb.history_id)

    # direct label surgery, invisible to the counters
    def labels_of(self, thread_ids: Iterable[str]) -> dict[str, set[str]]:
        with self.core.lock:
            return {m.id: set(m.labels) for t in thread_ids for m in (self.mb.messages[i] for i in self.mb.threads[t])}

    def restore(self, snapshot: dict[str, set[str]]) -> None:
        with self.core.lock, self.core.store.transaction():
            now = self.core.now_ms()
            for mid, labels in snapshot.items():
                msg = self.mb.messages[mid]
                self.mb.modify(msg, sorted(labels - msg.labels), sorted(msg.labels - labels), now)

    def strip(self, managed: set[str]) -> None:
        with self.core.lock, self.core.store.transaction():
            now = self.core.now_ms()
            for msg in list(self.mb.messages.values()):
                if msg.labels & managed:
                    self.mb.modify(msg, [], sorted(msg.labels & managed), now)

    def statuses(self, managed: set[str]) -> dict[str, frozenset[str]]:
        with self.core.lock:
            return {
                t: frozenset(set().union(*(self.mb.messages[i].labels for i in ids)) & managed)
                for t, ids in self.mb.threads.items()
            }


# ---------------------------------------------------------------- measuring
class Bench:
    def __init__(self, sb: SandboxHandle, desk: Desk, box: Mailbox, clock: SimClock, workdir: Path):
        self.sb, self.desk, self.box, self.clock, self.workdir = sb, desk, box, clock, workdir
        self.sb.sandbox.quota._clock = clock  # the sandbox's quota window lives on the same clock
        self.managed = managed_ids(sb, desk)
        self.last_desired: dict[str, frozenset[str]] = {}

    def client(self, table: str, rate: float) -> GmailClient:
        client = connect(
            ConnectionOptions(endpoint=self.sb.url, quota_units_per_second=0, quota_costs=table),  # type: ignore[arg-type]
            scopes.SWEEP,
            policy=RetryPolicy(sleep=self.clock.sleep),
        )  # production backoff, on the same clock
        client.pacer = QuotaPacer(rate, cost_of=partial(_cost, table=table), clock=self.clock, sleep=self.clock.sleep)
        return client

    def measure(self, label: str, table: str, rate: float, run: Run) -> Conv:
        control = self.sb.control
        control.set_quota(rate, table, window_s=60)  # Gmail's per-minute limit; also empties the window
        control.reset_counters()
        client = self.client(table, rate)
        offset0, start = self.clock.offset, time.perf_counter()
        outcome = run(client)
        real = time.perf_counter() - start
        total = real + (self.clock.offset - offset0)
        c = control.counters()
        errors = sum(n for per in c["errors"].values() for n in per.values())
        units = c["total_units"]
        calls = c["total_calls"] - errors
        in_batches = c["total_calls"] - (c["http_requests"] - c["batches"])  # every other request is one call
        row = {
            "scenario": label,
            "table": table,
            "rate": rate,
            "api_calls": calls,
            "http_requests": c["http_requests"],
            "batches": c["batches"],
            "calls_per_batch": round(in_batches / c["batches"], 1) if c["batches"] else None,
            "quota_units": units,
            "errors_429": errors,
            "rate_limited_seen": client.stats.rate_limited,
            "client_retries": client.stats.retries,
            "time_s": round(total, 2),
            "real_s": round(real, 2),
            "quota_bound_s": round(units / rate, 2),
            "throughput_units_s": round(units / total, 1) if total else None,
            "calls_by_method": {k.removeprefix("gmail.users."): v for k, v in sorted(c["calls"].items())},
        }
        row.update(outcome)
        return row

    def _sweep(self, client: GmailClient, store_path: Path, lean: bool) -> engine.SweepResult:
        quota = dataclasses.replace(self.desk.sweep.quota, costs=client.costs)  # as desk.yaml would say
        desk = dataclasses.replace(self.desk, sweep=dataclasses.replace(self.desk.sweep, quota=quota))
        with Store(store_path) as store:
            return engine.run(HttpGmailApi(client), desk, store, now_ms=self.sb.sandbox.now_ms(), lean=lean)

    def gmaildesk(self, store_path: Path, *, lean: bool = True) -> Run:
        def run(client: GmailClient) -> Conv:
            r = self._sweep(client, store_path, lean)
            return {
                "status": r.status,
                "threads_read": r.threads_read,
                "transitions": len(r.transitions),
                "failed": len(r.errors),
                "errors": r.errors[:3],
                "reported_units": r.quota_units,
                "provisional": r.provisional,
                "listing_check": r.listing_check,
            }

        return run

    def backfill(self, store_path: Path) -> Run:
        """Sweeps after the lean first one until no conversation is provisional (each reads a minute's worth)."""

        def run(client: GmailClient) -> Conv:
            with Store(store_path) as store:
                before = sum(r.provisional for r in store.threads().values())
            runs = backfilled = corrected = failed = reported = 0
            left = before
            while left and runs < 1000:
                r = self._sweep(client, store_path, True)
                runs, backfilled, corrected = runs + 1, backfilled + r.backfilled, corrected + r.corrected
                failed, reported = failed + len(r.errors), reported + r.quota_units
                with Store(store_path) as store:
                    left = sum(row.provisional for row in store.threads().values())
            return {
                "status": "ok" if not failed and not left else "partial",
                "failed": failed,
                "sweeps": runs,
                "provisional_before": before,
                "backfilled": backfilled,
                "corrected": corrected,
                "reported_units": reported,
            }

        return run

    def naive(self, how: Callable[[GmailClient], Conv]) -> Run:
        def run(client: GmailClient) -> Conv:
            out = how(client)
            self.last_desired = out.pop("desired", {})
            out["status"] = "ok" if not out["failed"] else "partial"
            return out

        return run

    def naive_full(self) -> Run:
        return self.naive(lambda c: naive.full_pass(c, self.desk, self.sb.sandbox.now_ms()))

    def naive_history(self, cursor: str) -> Run:
        return self.naive(lambda c: naive.history_incremental(c, self.desk, self.sb.sandbox.now_ms(), cursor))

    def lists_only(self) -> Run:
        return self.naive(lambda c: naive.lists_only_pass(c, self.desk, self.sb.sandbox.now_ms()))

    def disagreements(self, reference: dict[str, frozenset[str]], threads: Iterable[str] | None = None) -> int:
        """Conversations whose status labels differ from `reference` (all of them, or `threads`)."""
        now = self.box.statuses(self.managed)
        keys = reference.keys() | now.keys() if threads is None else set(threads)
        return sum(1 for t in keys if now.get(t, frozenset()) != reference.get(t, frozenset()))


def setup(sb: SandboxHandle, workdir: Path, n: int) -> tuple[Desk, Mailbox, dict[str, Any]]:
    os.environ["GMAILDESK_DATA_DIR"] = str(workdir / "data")
    path = workdir / "desk.yaml"
    path.write_text(DESK)
    result = CliRunner().invoke(app, ["apply", "-c", str(path), "--yes", "--skip-tests", "--endpoint", sb.url])
    if result.exit_code not in (0, 4):
        raise SystemExit(f"apply failed: {result.output}")
    desk = load_desk(path)
    box = Mailbox(sb, n)
    seeded = box.seed()
    threads = len({c["thread"] for c in box.convs})
    messages = len(box.mb.messages)
    return desk, box, {"threads": threads, "messages": messages, "seed_s": round(seeded, 1)}


def managed_ids(sb: SandboxHandle, desk: Desk) -> set[str]:
    mb = sb.sandbox.mailbox(SUPPORT)
    names = {getattr(desk.statuses, s).name for s in ("new", "waiting", "handled", "forwarded", "closed", "overdue")}
    return {lid for lid, label in mb.labels.items() if label.get("name") in names}


def table_rows(bench: Bench, table: str, rate: float, seed: int) -> list[Conv]:
    """Every scenario under one cost table, in an order where each starts from a known state."""
    box, rows = bench.box, []
    full_store, lean_store = bench.workdir / f"full-{table}.sqlite", bench.workdir / f"lean-{table}.sqlite"
    full_store.unlink(missing_ok=True)
    lean_store.unlink(missing_ok=True)

    def measure(label: str, run: Run) -> Conv:
        rows.append(bench.measure(label, table, rate, run))
        return rows[-1]

    box.strip(bench.managed)
    measure("naive: full pass", bench.naive_full())
    naive_states = dict(bench.last_desired)
    box.strip(bench.managed)
    measure("gmaildesk: first full sweep, every conversation read", bench.gmaildesk(full_store, lean=False))
    full_read = box.statuses(bench.managed)
    rows[-1]["disagree_with_naive"] = bench.disagreements(naive_states)
    box.strip(bench.managed)
    first = measure("gmaildesk: first full sweep", bench.gmaildesk(lean_store))
    first["disagree_with_full_read"] = bench.disagreements(full_read)
    first["disagree_with_naive"] = bench.disagreements(naive_states)
    backfill = measure(
        "gmaildesk: backfill, the next sweeps read every provisional conversation", bench.backfill(lean_store)
    )
    backfill["disagree_with_full_read"] = bench.disagreements(full_read)
    measure("gmaildesk: no-change incremental", bench.gmaildesk(lean_store))
    measure("naive: no-change pass", bench.naive_full())

    cursor = box.history_id()
    changed = {c["thread"] for c in box.follow_ups(FOLLOW_UPS, seed)}
    before = box.labels_of(changed)
    ours = measure(f"gmaildesk: incremental, {FOLLOW_UPS} new messages", bench.gmaildesk(lean_store))
    ours["changed_threads"] = len(changed)
    after = box.statuses(bench.managed)
    box.restore(before)  # each baseline finds the same work to do
    theirs = measure(f"naive: history-based incremental, {FOLLOW_UPS} new messages", bench.naive_history(cursor))
    theirs["changed_threads"] = len(changed)
    theirs["disagree_with_gmaildesk"] = bench.disagreements(after, changed)
    box.restore(before)
    measure(f"naive: pass after {FOLLOW_UPS} new messages", bench.naive_full())["changed_threads"] = len(changed)
    bench.measure("settle", table, rate, bench.gmaildesk(lean_store))  # reads the baselines' writes; not reported

    cursor = box.history_id()
    fresh = {c["thread"] for c in box.new_conversations(NEW_CONVERSATIONS)}
    before = box.labels_of(fresh)
    ours = measure(f"gmaildesk: incremental, {NEW_CONVERSATIONS} new conversations", bench.gmaildesk(lean_store))
    ours["changed_threads"] = len(fresh)
    after = box.statuses(bench.managed)
    box.restore(before)
    theirs = measure(
        f"naive: history-based incremental, {NEW_CONVERSATIONS} new conversations", bench.naive_history(cursor)
    )
    theirs["changed_threads"] = len(fresh)
    theirs["disagree_with_gmaildesk"] = bench.disagreements(after, fresh)
    bench.measure("settle", table, rate, bench.gmaildesk(lean_store))

    measure("lists-only pass (moonshot floor)", bench.lists_only())
    return rows


def calibration_rows(n: int) -> tuple[list[Conv], dict[str, Any]]:
    """gmaildesk's full-read sweep of `n` conversations at CALIBRATION_RATE, simulated then real."""
    rows = []
    with tempfile.TemporaryDirectory() as tmp, running_sandbox(users=(SUPPORT,)) as sb:
        workdir = Path(tmp)
        desk, box, info = setup(sb, workdir, n)
        for simulate in (True, False):
            bench = Bench(sb, desk, box, SimClock(simulate=simulate), workdir)
            box.strip(bench.managed)
            store = workdir / f"cal-{simulate}.sqlite"
            label = f"gmaildesk: full read, {info['threads']} conversations, {'simulated' if simulate else 'REAL'} time"
            rows.append(bench.measure(label, "legacy", CALIBRATION_RATE, bench.gmaildesk(store, lean=False)))
        sb.sandbox.quota._clock = time.monotonic
    return rows, info


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--threads", type=int, default=10_000)
    parser.add_argument("--tables", default="legacy,current", help="cost tables to run (legacy,current)")
    parser.add_argument(
        "--calibration", type=int, default=200, help="conversations for the real-time check (0: skip; ~80 s)"
    )
    parser.add_argument("--no-write", action="store_true", help="do not update bench/results.json")
    args = parser.parse_args(argv)
    tables = [(t, r) for t, r in TABLES if t in args.tables.split(",")]
    started = time.perf_counter()
    rows: list[Conv] = []
    meta: dict[str, Any] = {"python": sys.version.split()[0], "threads_requested": args.threads}
    with tempfile.TemporaryDirectory() as tmp, running_sandbox(users=(SUPPORT,)) as sb:
        workdir = Path(tmp)
        desk, box, info = setup(sb, workdir, args.threads)
        meta["mailbox"] = info
        print(
            f"seeded {info['threads']:,} conversations, {info['messages']:,} messages in {info['seed_s']} s", flush=True
        )
        bench = Bench(sb, desk, box, SimClock(simulate=True), workdir)
        for n, (table, rate) in enumerate(tables):
            rows += table_rows(bench, table, rate, seed=n)
            print(f"{table}: done at {time.perf_counter() - started:.0f} s", flush=True)
        sb.sandbox.quota._clock = time.monotonic
    calibration: list[Conv] = []
    if args.calibration:
        calibration, meta["calibration_mailbox"] = calibration_rows(args.calibration)
    meta["run_s"] = round(time.perf_counter() - started, 1)
    checks = [c for table, rate in tables for c in sweep_report.check(rows, table, rate)]
    readme = sweep_report.readme_table(rows, info["messages"] / info["threads"], [t for t, _ in tables])
    print(sweep_report.render(rows, tables, calibration, checks, meta, readme))
    if not args.no_write:
        data = json.loads(RESULTS.read_text()) if RESULTS.exists() else {}
        data["sweep"] = {**meta, "rows": rows, "calibration": calibration, "targets": checks, "readme_table": readme}
        RESULTS.write_text(json.dumps(data, indent=2) + "\n")
    leaked = any(r["status"] != "ok" for r in rows + calibration)
    return 1 if leaked else 0


if __name__ == "__main__":
    raise SystemExit(main())
