"""Benchmark many mailboxes: 4 sandbox mailboxes swept in parallel against one after another.

Gmail's quota is per user ("Per user rate limit", developers.google.com/workspace/gmail/api/reference/
quota), so a sweep of several mailboxes that runs them side by side should take about as long as the
slowest of them, where one after another takes their sum. Both runs here go through the real command
(`gmaildesk sweep`, in process) and the real googleapiclient over HTTP against an embedded sandbox that
enforces the per-user limit (a 60-second sliding window per user, 429 beyond it), with the client's pacer
at the same rate (GMAILDESK_QUOTA_RATE), and a service account acting for each mailbox:

  * sequential: `gmaildesk sweep -c DESK --service-account KEY --user MAILBOX` once per mailbox;
  * parallel:   `gmaildesk sweep -c DESK1 -c DESK2 ... --service-account KEY` (sweep/many.py).

Each run has its own sandbox, seeded identically (--threads conversations per mailbox: new, answered,
answered then followed up), and its own data dir, so both start with a first full sweep. Real time,
no simulation. Writes the "many" section of bench/results.json (other sections kept) and prints the ratio.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from typer.testing import CliRunner

from gmaildesk.cli import app
from gmaildesk.gmail.pacing import QUOTA_COSTS_ENV, QUOTA_RATE_ENV
from gmaildesk.sandbox import SandboxHandle, delivery, running_sandbox
from gmaildesk.sandbox.mime import build_message

RESULTS = Path(__file__).with_name("results.json")
MAILBOXES = ("billing@acme.example", "tech@acme.example", "sales@acme.example", "returns@acme.example")
DESK = """\
version: 1
mailbox: {mailbox}
departments:
  - name: Support
    sla: {{first_response: 4h, next_response: 8h}}
sweep:
  scope: newer_than:90d
"""


def _key(folder: Path, token_uri: str) -> Path:
    """A service-account key file whose token_uri is the sandbox's (it checks the JWT's claims)."""
    pem = (
        rsa.generate_private_key(public_exponent=65537, key_size=2048)
        .private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
        .decode()
    )
    path = folder / "service-account.json"
    key = {
        "type": "service_account",
        "project_id": "gmaildesk-bench",
        "private_key_id": "k1",
        "private_key": pem,
        "client_email": "desk@gmaildesk-bench.iam.gserviceaccount.com",
        "client_id": "1",
        "token_uri": token_uri,
    }
    path.write_text(json.dumps(key))
    return path


def _seed(sb: SandboxHandle, mailbox: str, n: int) -> None:
    """n conversations: a third new, a third answered, a third answered and then followed up."""
    core, mb = sb.sandbox, sb.sandbox.mailbox(mailbox)
    for i in range(n):
        customer, subject = f"customer{i}@shop.test", f"Order {i}"
        first = f"<c{i}.0@{mailbox}>"
        raw = build_message(
            from_=customer, to=[mailbox], subject=subject, text="Where is it?", message_id=first, date_ms=core.now_ms()
        )
        thread = delivery.deliver(core, mb, raw)["threadId"]
        if i % 3 == 0:
            continue
        reply = f"<r{i}@{mailbox}>"
        raw = build_message(
            from_=mailbox,
            to=[customer],
            subject=f"Re: {subject}",
            text="On its way.",
            message_id=reply,
            in_reply_to=first,
            references=[first],
            date_ms=core.now_ms(),
        )
        delivery.store_message(core, mb, raw, label_ids=["SENT"], date_source="receivedTime", thread_id=thread)
        if i % 3 == 2:
            raw = build_message(
                from_=customer,
                to=[mailbox],
                subject=f"Re: {subject}",
                text="Still not here.",
                message_id=f"<c{i}.1@{mailbox}>",
                in_reply_to=reply,
                references=[first, reply],
                date_ms=core.now_ms(),
            )
            delivery.deliver(core, mb, raw)


def _gmaildesk(args: list[str]) -> dict[str, Any]:
    result = CliRunner().invoke(app, [*args, "--json"], catch_exceptions=False)
    if result.exit_code != 0:
        raise SystemExit(f"gmaildesk {' '.join(args)} exited {result.exit_code}: {result.stdout}{result.stderr}")
    doc: dict[str, Any] = json.loads(result.stdout)
    return doc


def _prepare(sb: SandboxHandle, folder: Path, n: int) -> tuple[list[Path], list[str]]:
    """Desks applied (without quota), mailboxes seeded; the sweep's connection flags."""
    os.environ["GMAILDESK_DATA_DIR"] = str(folder / "data")
    key = _key(folder, f"{sb.url}sandbox/oauth/token")
    connection = ["--endpoint", sb.url, "--service-account", str(key)]
    paths = []
    for mailbox in MAILBOXES:
        sb.control.add_user(mailbox)
        path = folder / mailbox.split("@")[0] / "desk.yaml"
        path.parent.mkdir()
        path.write_text(DESK.format(mailbox=mailbox))
        _gmaildesk(["apply", "-c", str(path), "--yes", "--skip-tests", *connection, "--user", mailbox])
        _seed(sb, mailbox, n)
        paths.append(path)
    return paths, connection


def measure(parallel: bool, n: int, per_minute: float, costs: str) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp, running_sandbox(users=("admin@acme.example",)) as sb:
        paths, connection = _prepare(sb, Path(tmp), n)
        sb.control.set_quota(per_minute / 60, costs)
        sb.control.reset_counters()
        started = time.perf_counter()
        if parallel:
            doc = _gmaildesk(["sweep", *(a for p in paths for a in ("-c", str(p))), *connection])
            results = [m["result"] for m in doc["mailboxes"]]
        else:
            results = [
                _gmaildesk(["sweep", "-c", str(p), *connection, "--user", m])
                for p, m in zip(paths, MAILBOXES, strict=True)
            ]
        seconds = time.perf_counter() - started
        counters = sb.control.counters()
    refused = sum(n for per in counters["errors"].values() for n in per.values())
    return {
        "mode": "parallel" if parallel else "sequential",
        "mailboxes": len(MAILBOXES),
        "conversations_each": n,
        "time_s": round(seconds, 2),
        "quota_units": counters["total_units"],
        "api_calls": counters["total_calls"],
        "refused_calls": refused,
        "threads_read": sum(r["threads_read"] for r in results),
        "per_mailbox_units": [r["quota_units"] for r in results],
        "status": "ok" if all(r["status"] == "ok" for r in results) else "partial",
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=500, help="conversations per mailbox")
    parser.add_argument("--per-minute", type=float, default=6000, help="per-user quota units per minute")
    parser.add_argument("--costs", choices=("current", "legacy"), default="current", help="the cost table")
    parser.add_argument("--no-write", action="store_true", help="do not update bench/results.json")
    args = parser.parse_args(argv)
    os.environ[QUOTA_RATE_ENV] = f"{args.per_minute:g}/min"  # the client paces at the sandbox's limit
    os.environ[QUOTA_COSTS_ENV] = args.costs
    rows = [measure(False, args.threads, args.per_minute, args.costs)]
    print(f"sequential: {rows[0]['time_s']} s", flush=True)
    rows.append(measure(True, args.threads, args.per_minute, args.costs))
    print(f"parallel: {rows[1]['time_s']} s", flush=True)
    ratio = round(rows[0]["time_s"] / rows[1]["time_s"], 2)
    print("\n| mode | mailboxes | conversations each | time s | quota units | calls | 429s |")
    print("|---|---|---|---|---|---|---|")
    for r in rows:
        print(
            f"| {r['mode']} | {r['mailboxes']} | {r['conversations_each']} | {r['time_s']} | {r['quota_units']:,} "
            f"| {r['api_calls']:,} | {r['refused_calls']} |"
        )
    print(
        f"\n{len(MAILBOXES)} mailboxes in parallel: {ratio}x faster than one after another "
        f"({args.per_minute:g} units/min per user, {args.costs} costs)."
    )
    if not args.no_write:
        data = json.loads(RESULTS.read_text()) if RESULTS.exists() else {}
        data["many"] = {
            "python": sys.version.split()[0],
            "per_user_units_per_minute": args.per_minute,
            "costs": args.costs,
            "rows": rows,
            "parallel_speedup": ratio,
        }
        RESULTS.write_text(json.dumps(data, indent=2) + "\n")
    return 0 if all(r["status"] == "ok" for r in rows) else 1


if __name__ == "__main__":
    raise SystemExit(main())
