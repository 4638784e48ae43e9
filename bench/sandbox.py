"""Benchmark the foundation: sandbox throughput and the client's batching/retry cost.

Runs in one process against an embedded sandbox, through the real googleapiclient:
  1. 500 messages.get one by one vs. in batches of 50 (calls, HTTP requests, wall time);
  2. the same 500 batched reads with 30% injected 503s and 5% dropped connections
     (retries needed, everything must still succeed);
  3. 500 reads with quota enforced at 250 units/s (legacy costs: 5 units each), showing the
     client keeps to the quota-bound minimum time without leaking an error.
Writes the "sandbox" section of bench/results.json and prints a table.
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from gmaildesk.gmail import ConnectionOptions, connect, scopes
from gmaildesk.gmail.client import GmailClient
from gmaildesk.gmail.retry import RetryPolicy
from gmaildesk.sandbox import running_sandbox
from gmaildesk.sandbox.mime import build_message
from gmaildesk.sandbox.running import SandboxHandle

N = 500
RESULTS = Path(__file__).with_name("results.json")


def _seed(sb: SandboxHandle) -> list[str]:
    ids = []
    for i in range(N):
        raw = build_message(
            from_=f"customer{i}@example.net",
            to=["support@example.com"],
            subject=f"Question {i}",
            text=f"Hello, question number {i}.",
            date_ms=sb.sandbox.now_ms(),
        )
        ids.append(sb.control.deliver("support@example.com", raw)["id"])
    return ids


def _measure(sb: SandboxHandle, client: GmailClient, label: str, run: Callable[[], object]) -> dict[str, Any]:
    sb.control.reset_counters()
    start = time.perf_counter()
    run()
    wall = time.perf_counter() - start
    c = sb.control.counters()
    return {
        "scenario": label,
        "api_calls": c["total_calls"],
        "http_requests": c["http_requests"],
        "quota_units": c["total_units"],
        "faults": sum(c["faults"].values()),
        "client_retries": client.stats.retries,
        "wall_s": round(wall, 3),
    }


def main() -> int:
    rows: list[dict[str, Any]] = []
    with running_sandbox() as sb:
        ids = _seed(sb)
        fast = RetryPolicy(base_delay=0.01, max_delay=0.2)

        def fresh() -> GmailClient:
            client = connect(ConnectionOptions(endpoint=sb.url), scopes.READ)
            client.policy = fast
            return client

        def gets(client: GmailClient) -> list[Any]:
            return [client.users().messages().get(userId="me", id=i, format="minimal") for i in ids]

        client = fresh()
        rows.append(_measure(sb, client, "500 gets, one by one", lambda: [client.execute(r) for r in gets(client)]))
        client = fresh()
        rows.append(_measure(sb, client, "500 gets, batches of 50", lambda: client.execute_batch(gets(client))))
        sb.control.set_faults(rate_503=0.3, drop=0.05, seed=7)
        client = fresh()
        results: list[Any] = []
        rows.append(
            _measure(
                sb,
                client,
                "500 gets, batched, 30% 503 + 5% drops",
                lambda: results.extend(client.execute_batch(gets(client))),
            )
        )
        failed = sum(1 for r in results if not isinstance(r, dict))
        rows[-1]["failed"] = failed
        sb.control.clear_faults()
        sb.control.set_quota(250, "legacy")
        client = connect(ConnectionOptions(endpoint=sb.url), scopes.READ)  # default backoff: 1 s, doubling
        quota_results: list[Any] = []
        rows.append(
            _measure(
                sb,
                client,
                "500 gets, batched, quota 250 units/s",
                lambda: quota_results.extend(client.execute_batch(gets(client))),
            )
        )
        rows[-1]["failed"] = sum(1 for r in quota_results if not isinstance(r, dict))
        rows[-1]["quota_bound_min_s"] = round(N * 5 / 250 - 1, 2)  # 1 s of burst is free
        failed += rows[-1]["failed"]
    print(f"{'scenario':45} {'calls':>6} {'http':>5} {'units':>6} {'faults':>6} {'retries':>7} {'wall s':>7}")
    for r in rows:
        print(
            f"{r['scenario']:45} {r['api_calls']:6} {r['http_requests']:5} {r['quota_units']:6} {r['faults']:6} "
            f"{r['client_retries']:7} {r['wall_s']:7}"
        )
    data = json.loads(RESULTS.read_text()) if RESULTS.exists() else {}
    data["sandbox"] = {"python": sys.version.split()[0], "rows": rows}
    RESULTS.write_text(json.dumps(data, indent=2) + "\n")
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
