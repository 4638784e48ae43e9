"""Benchmark the audit commands on a 100,000-conversation sweep store.

Builds a synthetic store with the store's own schema (gmaildesk.sweep.store.Store creates the
tables and indexes; rows are written directly, in one transaction — seconds, not a sweep):
a realistic mix of states (closed 55%, handled 15%, forwarded 8%, waiting 10%, new 12%), four
departments plus unlabelled mail, first customer messages spread over 90 days, ~2.5 journal
rows and ~3 messages per conversation, subjects, customers and send-as agents.

Then times `status`, `threads --state waiting` and `report` (by department, --since 30d):
  * in-process: the query functions on an open read-only store (open included), median of runs;
  * CLI: a full subprocess `python -m gmaildesk <command> -c desk.yaml --store FILE`, the
    default table output to a pipe, median of runs; and `python -m gmaildesk --help` alone,
    which is the interpreter + CLI import cost every command pays.

Writes the "audit" section of bench/results.json (other sections are left as they are) and
prints a Markdown table.  Usage: .venv/bin/python bench/audit.py [--threads 100000] [--runs 5]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from gmaildesk.audit import queries
from gmaildesk.audit.db import Slas, open_store
from gmaildesk.config import load_desk
from gmaildesk.sweep.store import Store  # the store's own schema

T = TypeVar("T")

RESULTS = Path(__file__).with_name("results.json")
H = 3_600_000
D = 24 * H
DESK = """\
version: 1
mailbox: support@example.com
departments:
  - name: Billing
    routes: [{to: billing@example.com}]
    sla: {first_response: 4h, next_response: 8h}
  - name: Tech
    routes: [{to: tech@example.com}]
    sla: {first_response: 1h, next_response: 2h}
  - name: Sales
    routes: [{to: sales@example.com}]
    sla: {first_response: 8h, next_response: 1d}
  - name: Returns
    routes: [{to: returns@example.com}]
    sla: {first_response: 1d, next_response: 2d}
send_as:
  - address: billing@example.com
  - address: tech@example.com
sweep:
  scope: newer_than:90d
  close_after: 7d
"""
DEPARTMENTS = [
    ("Billing", 4 * H, 8 * H),
    ("Tech", 1 * H, 2 * H),
    ("Sales", 8 * H, D),
    ("Returns", D, 2 * D),
    (None, 1 * H, 2 * H),
]
AGENTS = ["support@example.com", "billing@example.com", "tech@example.com"]
STATES = [("closed", 55), ("handled", 15), ("forwarded", 8), ("waiting", 10), ("new", 12)]


# The columns written here; later ones (flags, ...) keep the store's defaults.
_THREAD_COLUMNS = (
    "thread_id",
    "state",
    "overdue",
    "department",
    "last_counted_id",
    "last_counted_side",
    "last_counted_at",
    "first_customer_at",
    "first_response_at",
    "due_at",
    "manual",
    "message_ids",
    "labels",
    "updated_at",
    "subject",
    "customer",
    "agent",
    "first_agent",
    "waiting_since",
)


def build(path: Path, n: int, now: int, seed: int = 5) -> dict[str, Any]:
    """Write n synthetic conversations; returns row counts."""
    rng = random.Random(seed)
    with Store(path):  # creates the schema and indexes exactly as the sweep does
        pass
    state_pool = [s for s, w in STATES for _ in range(w)]
    threads: list[tuple[Any, ...]] = []
    journal: list[tuple[Any, ...]] = []
    messages: list[tuple[Any, ...]] = []
    for i in range(n):
        tid = f"{0x18C0000000000000 + i * 7919:x}"
        dept, first_sla, next_sla = DEPARTMENTS[rng.randrange(len(DEPARTMENTS))]
        state = rng.choice(state_pool)
        customer = f"customer{rng.randrange(n // 3)}@example.net"
        agent = rng.choice(AGENTS)
        if state == "new":
            first = now - int(rng.expovariate(1 / (6 * H)))
        elif state == "waiting":
            first = now - rng.randrange(2 * H, 30 * D)
        else:
            first = now - rng.randrange(H, 90 * D)
        msgs = [(f"{tid}a", first, "customer", customer)]
        response: int | None = None
        due: int | None = None
        waiting_since: int | None = None
        last_side, last_at = "customer", first
        if state != "new":
            response = first + int(rng.expovariate(1 / (first_sla * 0.7)))
            kind = "ours_forward" if state == "forwarded" else "ours_reply"
            msgs.append((f"{tid}b", response, kind, agent))
            last_side, last_at = kind, response
            if state == "waiting":
                waiting_since = min(now - 1000, response + rng.randrange(H, 3 * D))
                msgs.append((f"{tid}c", waiting_since, "customer", customer))
                last_side, last_at = "customer", waiting_since
                due = waiting_since + next_sla
            elif rng.random() < 0.3:
                msgs.append((f"{tid}c", response + 60_000, rng.choice(["auto_reply", "bounce", "list"]), customer))
        else:
            waiting_since, due = first, first + first_sla
            if rng.random() < 0.5:
                msgs.append((f"{tid}b", first + 30_000, "our_ack", "support@example.com"))
        overdue = int(due is not None and now > due)
        if state != "new" and rng.random() < 0.6:
            msgs.insert(1, (f"{tid}k", first + 30_000, "our_ack", "support@example.com"))
        if state == "closed" and response is not None and rng.random() < 0.3:
            msgs.append((f"{tid}d", response + 2 * H, "customer", customer))
            msgs.append((f"{tid}e", response + 3 * H, "ours_reply", agent))
            last_at = response + 3 * H
        ids = [m[0] for m in msgs]
        threads.append(
            (
                tid,
                state,
                overdue,
                dept,
                ids[-1],
                last_side,
                last_at,
                first,
                response if state != "forwarded" else None,
                due,
                0,
                json.dumps(ids),
                "[]",
                now - 10 * 60_000,
                f"Question {i} about order {rng.randrange(10**6)}",
                customer,
                agent if response else None,
                agent if response else None,
                waiting_since,
            )
        )
        messages.extend((tid, *m) for m in msgs)
        # Journal: one row per transition the conversation went through, at sweep times.
        path_states = {
            "new": ["new"],
            "waiting": ["new", "handled", "waiting"],
            "handled": ["new", "handled"],
            "forwarded": ["new", "forwarded"],
            "closed": ["new", "handled", "closed"],
        }[state]
        if state != "new" and rng.random() < 0.5:
            path_states = path_states[1:]  # first seen already answered (e.g. the first sweep)
        if state == "closed" and rng.random() < 0.2:
            path_states += ["waiting", "handled", "closed"]  # a reopen
        if overdue or (response is not None and response - first > first_sla and path_states[0] == "new"):
            path_states.insert(1, "new+overdue")
        prev = ""
        for k, to in enumerate(path_states):
            journal.append(
                (
                    tid,
                    prev,
                    to,
                    f"synthetic {prev or 'none'} -> {to}",
                    first + k * 600_000,
                    f"s{k}",
                    ids[min(k, len(ids) - 1)] + (str(k) if k >= len(ids) else ""),
                )
            )
            prev = to
    with Store(path) as store:
        db = store.db
        assert db is not None  # open inside `with`
        db.execute("BEGIN")
        db.executemany(
            f"INSERT INTO threads ({', '.join(_THREAD_COLUMNS)}) VALUES ({', '.join('?' * len(_THREAD_COLUMNS))})",
            threads,
        )
        db.executemany(
            "INSERT OR IGNORE INTO journal (thread_id, from_state, to_state, reason, at, sweep_id, basis) "
            "VALUES (?, ?, ?, ?, ?, ?, ?)",
            journal,
        )
        db.executemany(
            "INSERT INTO messages (thread_id, message_id, at, kind, from_addr) VALUES (?, ?, ?, ?, ?)", messages
        )
        db.execute(
            "INSERT OR REPLACE INTO checkpoint (id, history_id, labels_history_id, last_sweep_at, label_ids) "
            "VALUES (1, '1', '1', ?, '{}')",
            (now - 10 * 60_000,),
        )
        db.execute("COMMIT")
        db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        db.execute("ANALYZE")
    return {"threads": len(threads), "journal": len(journal), "messages": len(messages)}


def _median_time(fn: Callable[[], T], runs: int) -> tuple[float, T | None]:
    times: list[float] = []
    result: T | None = None
    for _ in range(runs):
        start = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times), result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=100_000)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--no-write", action="store_true", help="do not update bench/results.json")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="gmaildesk-audit-bench-") as tmp:
        tmp_path = Path(tmp)
        config = tmp_path / "desk.yaml"
        config.write_text(DESK)
        store = tmp_path / "sweep.sqlite"
        now = int(time.time() * 1000)
        start = time.perf_counter()
        counts = build(store, args.threads, now)
        build_s = time.perf_counter() - start
        size_mb = store.stat().st_size / 1e6
        slas = Slas.from_desk(load_desk(config))

        def inproc(fn: Callable[[sqlite3.Connection], object]) -> Callable[[], object]:
            def call() -> object:
                with open_store(store) as db:
                    return fn(db)

            return call

        commands = {
            "status": (inproc(lambda db: queries.status(db, slas, now)), ["status"]),
            "threads --state waiting": (
                inproc(lambda db: queries.threads(db, slas, now, state="waiting")),
                ["threads", "--state", "waiting"],
            ),
            "report (by dept, 30d)": (
                inproc(lambda db: queries.report(db, slas, now, since_ms=now - 30 * D, by="dept")),
                ["report"],
            ),
        }
        env = {**os.environ, "COLUMNS": "160"}
        base = [sys.executable, "-m", "gmaildesk"]

        def cli(argv: list[str]) -> Callable[[], str]:
            def call() -> str:
                done = subprocess.run(
                    [*base, *argv, "-c", str(config), "--store", str(store)], env=env, capture_output=True, text=True
                )
                if done.returncode != 0:
                    raise SystemExit(f"{' '.join(argv)} failed ({done.returncode}): {done.stderr}")
                return done.stdout

            return call

        cli_runs = max(3, args.runs // 2 + 1)
        help_s, _ = _median_time(
            lambda: subprocess.run([*base, "--help"], env=env, capture_output=True, check=True), cli_runs
        )
        rows = []
        for name, (fn, argv) in commands.items():
            in_s, result = _median_time(fn, args.runs)
            cli_s, _ = _median_time(cli(argv), cli_runs)
            json_s, _ = _median_time(cli([*argv, "--json"]), cli_runs)
            size = (
                len(result)
                if isinstance(result, list)
                else result.total
                if isinstance(result, queries.Status)
                else result.total.volume
                if isinstance(result, queries.Report)
                else 0
            )
            rows.append(
                {
                    "command": name,
                    "rows": size,
                    "in_process_s": round(in_s, 3),
                    "cli_s": round(cli_s, 3),
                    "cli_json_s": round(json_s, 3),
                    "cli_minus_startup_s": round(cli_s - help_s, 3),
                }
            )

    print(
        f"\nAudit on a {counts['threads']:,}-conversation store ({counts['journal']:,} journal rows, "
        f"{counts['messages']:,} messages, {size_mb:.0f} MB; built in {build_s:.1f} s); "
        f"{os.cpu_count()} CPUs, Python {platform.python_version()}\n"
    )
    print("| command | rows | in-process s | CLI s (table) | CLI s (--json) | CLI minus startup s |")
    print("|---|---:|---:|---:|---:|---:|")
    for r in rows:
        print(
            f"| {r['command']} | {r['rows']:,} | {r['in_process_s']} | {r['cli_s']} | {r['cli_json_s']} | "
            f"{r['cli_minus_startup_s']} |"
        )
    print(f"| `python -m gmaildesk --help` (startup) | | | {help_s:.3f} | | |")

    if not args.no_write:
        data = json.loads(RESULTS.read_text()) if RESULTS.exists() else {}
        data["audit"] = {
            "python": platform.python_version(),
            "cpus": os.cpu_count(),
            "store": {**counts, "size_mb": round(size_mb, 1), "build_s": round(build_s, 2)},
            "runs": args.runs,
            "cli_runs": cli_runs,
            "cli_startup_s": round(help_s, 3),
            "target_s": 1.0,
            "rows": rows,
        }
        RESULTS.write_text(json.dumps(data, indent=2) + "\n")
        print(f"\nWrote the 'audit' section of {RESULTS}")


if __name__ == "__main__":
    main()
