"""bench/sweep.py's report: targets, Markdown tables, the moonshot line and the README's cost table.

Pure functions of the measured rows (bench/results.json "sweep" rows have the same shape).
"""

from __future__ import annotations

from typing import Any

from gmaildesk.gmail.costs import TABLES, units
from gmaildesk.gmail.pacing import per_user_limit

Row = dict[str, Any]
PER_MINUTE: dict[str, int] = {t: per_user_limit(t) for t in TABLES}  # Gmail's per-user limits (quota page)
PROJECT_DAILY_UNITS = 80_000_000
RUNS_PER_DAY = 24 * 60 // 5  # an incremental sweep every 5 minutes
SCOPE_DAYS = 90  # the bench desk's scope: newer_than:90d
SIZES = (1_000, 10_000, 100_000)
WRITE_UNITS = {"messages.batchModify": 50, "messages.modify": 5, "threads.modify": 10}  # the same in both tables


def get(rows: list[Row], table: str, prefix: str) -> Row:
    """The row named `prefix` exactly, else the first whose name starts with it."""
    mine = [r for r in rows if r["table"] == table]
    return next((r for r in mine if r["scenario"] == prefix), None) or next(
        r for r in mine if r["scenario"].startswith(prefix)
    )


def check(rows: list[Row], table: str, rate: float) -> list[Row]:
    full, nochange = get(rows, table, "gmaildesk: first full sweep"), get(rows, table, "gmaildesk: no-change")
    follow = get(rows, table, "gmaildesk: incremental, 100 new messages")
    fresh = get(rows, table, "gmaildesk: incremental, 100 new conversations")
    full_read = get(rows, table, "gmaildesk: first full sweep, every")
    backfill = get(rows, table, "gmaildesk: backfill")
    naive_full = get(rows, table, "naive: full pass")
    conversations = naive_full["threads_read"]  # every conversation in the scope
    per_conversation = full["quota_units"] / conversations
    ratio = naive_full["quota_units"] / full["quota_units"]
    ours = [r for r in rows if r["table"] == table and r["scenario"].startswith("gmaildesk")]
    leaked = [r["scenario"] for r in ours if r["status"] != "ok" or r["failed"]]
    misreported = [r["scenario"] for r in ours if r["reported_units"] != r["quota_units"]]
    throughput = full_read["quota_units"] / full_read["time_s"]
    out = [
        {
            "target": "first full sweep >= 3x fewer units than naive",
            "value": round(ratio, 2),
            "pass": ratio >= 3,
            "why": f"naive {naive_full['quota_units']:,} vs {full['quota_units']:,} units",
        },
        {
            "target": "first full sweep <= 15 units per conversation",
            "value": round(per_conversation, 2),
            "pass": per_conversation <= 15,
            "why": f"{full['quota_units']:,} units for {conversations:,} conversations",
        },
        {
            "target": "0 conversations disagree with a full read",
            "value": full["disagree_with_full_read"],
            "pass": full["disagree_with_full_read"] == 0,
            "why": "final status labels of the lean first sweep vs engine.run(lean=False), per conversation",
        },
        {
            "target": "the backfill reads every provisional conversation whole and ends where a full read ends",
            "value": f"{backfill['backfilled']:,} read in {backfill['sweeps']} sweeps, "
            f"{backfill['corrected']} corrected, {backfill['disagree_with_full_read']} disagree",
            "pass": backfill["backfilled"] == backfill["provisional_before"]
            and backfill["disagree_with_full_read"] == 0,
            "why": f"{backfill['quota_units']:,} units, a minute of the per-user quota per sweep",
        },
        {
            "target": "no-change incremental <= 3 calls",
            "value": nochange["api_calls"],
            "pass": nochange["api_calls"] <= 3,
            "why": f"calls: {nochange['calls_by_method']}",
        },
        {
            "target": "incremental <= 25 units per changed conversation (follow-ups, new conversations)",
            "value": f"{follow['quota_units'] / follow['changed_threads']:.1f}, "
            f"{fresh['quota_units'] / fresh['changed_threads']:.1f}",
            "pass": max(
                follow["quota_units"] / follow["changed_threads"], fresh["quota_units"] / fresh["changed_threads"]
            )
            <= 25,
            "why": f"follow-ups {follow['calls_by_method']}; new conversations {fresh['calls_by_method']}",
        },
        {
            "target": "a read batch carries up to 50 calls (full read: >= 45 calls per batch POST)",
            "value": full_read["calls_per_batch"],
            "pass": (full_read["calls_per_batch"] or 0) >= 45,
            "why": "the pacer's minute with a 20-s burst fits a batch of 50 threads.get (2,000 units); "
            f"{full_read['batches']} batches",
        },
        {
            "target": f"full read throughput >= 85% of {rate:g} units/s, no error leaked",
            "value": f"{100 * throughput / rate:.0f}% ({throughput:.0f} units/s), "
            f"429s seen {full_read['errors_429']}, leaked {len(leaked)}",
            "pass": throughput >= 0.85 * rate and not leaked,
            "why": "pacer: whole minute in any 61 s, 20 s of burst, refilling at 97%; 429 retries are the safety net",
        },
        {
            "target": "units the sweep reports = units the sandbox charged",
            "value": f"{len(ours) - len(misreported)}/{len(ours)} runs",
            "pass": not misreported,
            "why": f"the {table} table prices the calls on both sides; differing: {misreported}",
        },
    ]
    for o in out:
        o["table"] = table
    return out


def moonshot(rows: list[Row], table: str) -> str:
    """Units of the lists-only pass and how long until every conversation has a status label."""
    lists, full = get(rows, table, "lists-only"), get(rows, table, "gmaildesk: first full sweep")
    naive_full = get(rows, table, "naive: full pass")
    per_minute = PER_MINUTE[table]
    writes = sum(units * full["calls_by_method"].get(method, 0) for method, units in WRITE_UNITS.items())
    floor = lists["quota_units"] + writes
    return (
        f"moonshot ({table}): a lists-only pass is {lists['quota_units']:,} units ({lists['list_queries']} searches, "
        f"{lists['pages']} pages of 500, {lists['conversations_listed']:,} conversations); with the status writes "
        f"({writes:,} units of batchModify) every conversation could carry a status label after "
        f"{floor / per_minute:.2f} min at {per_minute:,} units/min. gmaildesk's first full sweep takes "
        f"{full['quota_units'] / per_minute:.1f} min of quota ({full['time_s'] / 60:.1f} min measured), "
        f"the naive pass {naive_full['quota_units'] / per_minute:.1f} min."
    )


def markdown(rows: list[Row], title: str) -> str:
    lines = [
        f"**{title}**",
        "",
        "| scenario | API calls | HTTP requests | quota units | 429s | time s | quota-bound min s | units/s |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        lines.append(
            f"| {r['scenario']} | {r['api_calls']:,} | {r['http_requests']:,} | {r['quota_units']:,} | "
            f"{r['errors_429']} | {r['time_s']:,} | {r['quota_bound_s']:,} | {r['throughput_units_s']} |"
        )
    return "\n".join(lines)


def ratios(rows: list[Row], table: str) -> str:
    pairs = [
        ("first full sweep", "gmaildesk: first full sweep", "naive: full pass"),
        ("no-change incremental", "gmaildesk: no-change", "naive: no-change"),
        ("100 new messages vs naive full pass", "gmaildesk: incremental, 100 new messages", "naive: pass after"),
        (
            "100 new messages vs naive history-based",
            "gmaildesk: incremental, 100 new messages",
            "naive: history-based incremental, 100 new messages",
        ),
        (
            "100 new conversations vs naive history-based",
            "gmaildesk: incremental, 100 new conversations",
            "naive: history-based incremental, 100 new conversations",
        ),
    ]
    lines = [
        "| gmaildesk against | calls naive/gmaildesk | units naive/gmaildesk | time naive/gmaildesk |",
        "|---|---:|---:|---:|",
    ]
    for name, ours, theirs in pairs:
        a, b = get(rows, table, ours), get(rows, table, theirs)
        lines.append(
            f"| {name} | {b['api_calls'] / a['api_calls']:,.1f}x | {b['quota_units'] / a['quota_units']:,.1f}x "
            f"| {b['time_s'] / a['time_s']:,.1f}x |"
        )
    return "\n".join(lines)


def readme_table(rows: list[Row], messages_per_conversation: float, tables: list[str]) -> str:
    """The README's "What a sweep costs": per-conversation figures of this run scaled to 1k/10k/100k.

    A day of incremental runs: one every 5 minutes (288), a 90-day scope holding N conversations
    means N/90 new conversations a day, each bringing (messages/conversations - 1) further
    messages later (the bench mailbox's mix); each is priced at what the 100-change runs cost
    beyond a no-change run.
    """
    per_message = messages_per_conversation - 1
    lines = [
        "| conversations | cost table | first full sweep | at the per-user limit | naive full pass "
        "| then the backfill, from idle quota | a day of incremental runs | share of the project's daily units |",
        "|---:|---|---:|---:|---:|---:|---:|---:|",
    ]
    for size in SIZES:
        for table in tables:
            full, nochange = get(rows, table, "gmaildesk: first full sweep"), get(rows, table, "gmaildesk: no-change")
            naive_full = get(rows, table, "naive: full pass")
            conversations = naive_full["threads_read"]  # every conversation in the scope
            follow = get(rows, table, "gmaildesk: incremental, 100 new messages")
            fresh = get(rows, table, "gmaildesk: incremental, 100 new conversations")
            per_follow = (follow["quota_units"] - nochange["quota_units"]) / follow["changed_threads"]
            per_fresh = (fresh["quota_units"] - nochange["quota_units"]) / fresh["changed_threads"]
            first = full["quota_units"] / conversations * size
            new_per_day = size / SCOPE_DAYS
            day = RUNS_PER_DAY * nochange["quota_units"] + new_per_day * (per_fresh + per_message * per_follow)
            per_minute = PER_MINUTE[table]
            backfill = get(rows, table, "gmaildesk: backfill")
            scale = size / conversations
            sweeps = -(-backfill["provisional_before"] * scale // (per_minute // units("users.threads.get", table)))  # type: ignore[arg-type]
            lines.append(
                f"| {size:,} | {table} ({per_minute:,}/min) | {first:,.0f} units | {first / per_minute:,.1f} min "
                f"| {naive_full['quota_units'] * scale:,.0f} units "
                f"| {backfill['quota_units'] * scale:,.0f} units over {sweeps:,.0f} sweep{'s' if sweeps != 1 else ''} "
                f"| {day:,.0f} units "
                f"| {100 * day / PROJECT_DAILY_UNITS:.3f}% |"
            )
    return "\n".join(lines)


def render(
    rows: list[Row],
    tables: list[tuple[str, float]],
    calibration: list[Row],
    checks: list[Row],
    meta: dict[str, Any],
    readme: str,
) -> str:
    out: list[str] = [""]
    mailbox = meta["mailbox"]
    for table, rate in tables:
        title = (
            f"{table} cost table, {rate * 60:,.0f} units/min enforced, {mailbox['threads']:,} conversations "
            f"({mailbox['messages']:,} messages); time = real + simulated quota waits"
        )
        out += [markdown([r for r in rows if r["table"] == table], title), "", ratios(rows, table), ""]
        out += [moonshot(rows, table), ""]
    if calibration:
        out += [markdown(calibration, "calibration: the same sweep in simulated and in REAL time"), ""]
    out.append("| table | target | value | result |\n|---|---|---|---|")
    out += [f"| {c['table']} | {c['target']} | {c['value']} | {'PASS' if c['pass'] else 'FAIL'} |" for c in checks]
    out += [""] + [f"FAIL ({c['table']}) {c['target']}: {c['why']}" for c in checks if not c["pass"]]
    out += [
        f"{r['table']}: {r['scenario']} disagreed with gmaildesk on {r['disagree_with_gmaildesk']} conversations"
        for r in rows
        if "disagree_with_gmaildesk" in r
    ]
    out += ["", "What a sweep costs (README):", "", readme, "", f"total run time {meta['run_s']} s"]
    return "\n".join(out)
