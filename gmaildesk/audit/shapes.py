"""The documented, versioned JSON shapes (`{"version": 1, "kind": ...}`) and CSV rows of the audit commands.

Version 1 (pinned by tests/test_audit_contract.py). Times are ISO 8601 UTC strings
("2026-11-23T10:00:00Z") or null, clamped to 0001-01-01T00:00:00Z..9999-12-31T23:59:59Z (a forged Date
can put any int64 in the store); durations are whole seconds or null. Strings are the exact data (JSON
escapes controls); CSV is for spreadsheets and terminals: fields starting like a formula get a leading
single quote and control characters show escaped (gmaildesk.cli.safe).

thread (a row of `threads`, `next`, `show`):
  {"thread", "link", "subject", "customer", "department", "state", "overdue", "manual",
   "since", "age_s", "last_actor", "last_at", "due_at", "due_in_s", "messages", "flags", "ticket", "owner"}
  link: the conversation in desk.yaml's mailbox, https://mail.google.com/mail/?authuser=<mailbox>#all/<thread>
  (`show` takes it back, as it does the older /u/0/#inbox/<thread> form);
  subject ("" when the mail has none), customer (address of the first customer message; we wrote first:
  our first recipient) are null only for conversations an older store version has not re-read since;
  since = start of the current customer wait for new/waiting; due_in_s < 0 means overdue by that much;
  flags: the classifier's doubts about the conversation's messages ("possibly_automatic": it may be
  automatic mail but is shown rather than dropped; "unverified_sender": claims a team address that
  Gmail's Authentication-Results do not confirm), [] when none or not recorded (CSV: joined by ";");
  ticket: the conversation's number, sequential per mailbox (`show 1042` and `show '#1042'` find it),
  null until a sweep numbers it; owner: the agent whose Agent/ label the conversation carries, null when nobody's.
  "provisional": true only on a conversation decided from Gmail's listings whose facts are pending (subject,
  customer, since may be null, messages counts them all); absent on every other row (and from CSV).
status:  {"version", "kind": "status", "now", "last_sweep_at", "last_sweep_age_s", "total", "overdue",
          "by_state": {state: n}, "departments": [{"department", "counts": {state: n}, "overdue",
          "oldest_new": oldest|null, "oldest_waiting": oldest|null}], "problems": [str],
          "agents": [{"agent": name|null, "open", "overdue"}]}: open conversations per agent, null = nobody's
          oldest = {"thread", "link", "since", "age_s", "ticket"}
          "provisional": n, in the document and each department, only when some conversation's facts are
          pending (decided from Gmail's listings, not read whole yet)
threads: {"version", "kind": "threads", "now", "count", "threads": [thread]}
next:    {"version", "kind": "next", "now", "thread": thread|null}
show:    {"version", "kind": "show", "now", "thread": thread, "first_customer_at", "first_response_at",
          "history": [{"at", "from", "to", "reason"}], "messages": [message]|null}
          message = {"message", "at", "from", "kind", "counted_as", "flags"}: every message but drafts, oldest first;
          kind is the classifier's (customer, ours_reply, ours_forward, ours_note, our_ack, auto_reply,
          bounce, list); counted_as: customer, us, us (forward), note, our auto-reply, auto-reply, bounce,
          list. null when the conversation was not read since the store started recording messages.
          "messages_not_read": n only for a provisional conversation: messages lists those read so far ([] too).
report:  {"version", "kind": "report", "now", "since", "until", "by", "groups": [group], "total": group,
          "missing": [str]}; since/until: the period (until excluded)
          "pending": n, "pending_undated": n only when some of the period's conversations are provisional: they
          count in no group; undated: their first customer message is not read yet (counted in every period)
          --by agent keys: the owner (an agent's name from desk.yaml's team); without one the send-as address
          of our last reply, "(no reply)", or "?" (not recorded yet, explained in missing)
          group = {"key", "volume", "first_response": stats, "resolution": stats, "reopens",
                   "sla": {"met", "measured", "pct"}, "backlog": {"<1h", "1-4h", "4-24h", "1-3d", ">3d"}}
          stats = {"n", "median_s", "p90_s"}
"""

from __future__ import annotations

from typing import Any

from gmaildesk.audit.db import iso
from gmaildesk.audit.queries import (
    AGING_BUCKETS,
    STATES,
    Oldest,
    Report,
    ReportGroup,
    Stats,
    Status,
    ThreadDetail,
    ThreadInfo,
)

VERSION = 1

THREAD_FIELDS = [
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


def _s(ms: int | None) -> int | None:
    return None if ms is None else ms // 1000 if ms >= 0 else -((-ms) // 1000)


def thread_json(t: ThreadInfo, now_ms: int) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "thread": t.thread_id,
        "link": t.link,
        "subject": t.subject,
        "customer": t.customer,
        "department": t.department,
        "state": t.state,
        "overdue": t.overdue,
        "manual": t.manual,
        "since": iso(t.since_at),
        "age_s": _s(t.age_ms),
        "last_actor": t.last_actor,
        "last_at": iso(t.last_at),
        "due_at": iso(t.due_at),
        "due_in_s": None if t.due_at is None else _s(t.due_at - now_ms),
        "messages": t.messages,
        "flags": list(t.flags),
        "ticket": t.ticket,
        "owner": t.owner,
    }
    if t.provisional:  # only then: every other row's document stays as it was
        doc["provisional"] = True
    return doc


def _oldest(o: Oldest | None) -> dict[str, Any] | None:
    return (
        None
        if o is None
        else {
            "thread": o.thread_id,
            "link": o.link,
            "since": iso(o.since_at),
            "age_s": _s(o.age_ms),
            "ticket": o.ticket,
        }
    )


def status_json(s: Status, problems: list[str]) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "version": VERSION,
        "kind": "status",
        "now": iso(s.now_ms),
        "last_sweep_at": iso(s.last_sweep_at),
        "last_sweep_age_s": _s(s.sweep_age_ms),
        "total": s.total,
        "overdue": s.overdue,
        "by_state": s.by_state,
        "departments": [
            {
                "department": d.department,
                "counts": {k: d.counts.get(k, 0) for k in STATES},
                "overdue": d.overdue,
                "oldest_new": _oldest(d.oldest_new),
                "oldest_waiting": _oldest(d.oldest_waiting),
            }
            for d in s.departments
        ],
        "problems": problems,
        "agents": [{"agent": a.agent, "open": a.open, "overdue": a.overdue} for a in s.agents],
    }
    if s.pending:
        doc["provisional"] = s.pending
        for department, d in zip(doc["departments"], s.departments, strict=True):
            department["provisional"] = d.pending
    return doc


def threads_json(rows: list[ThreadInfo], now_ms: int) -> dict[str, Any]:
    return {
        "version": VERSION,
        "kind": "threads",
        "now": iso(now_ms),
        "count": len(rows),
        "threads": [thread_json(t, now_ms) for t in rows],
    }


def next_json(t: ThreadInfo | None, now_ms: int) -> dict[str, Any]:
    return {
        "version": VERSION,
        "kind": "next",
        "now": iso(now_ms),
        "thread": None if t is None else thread_json(t, now_ms),
    }


def show_json(d: ThreadDetail, now_ms: int) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "version": VERSION,
        "kind": "show",
        "now": iso(now_ms),
        "thread": thread_json(d.info, now_ms),
        "first_customer_at": iso(d.first_customer_at),
        "first_response_at": iso(d.first_response_at),
        "history": [{"at": iso(h.at), "from": h.from_state, "to": h.to_state, "reason": h.reason} for h in d.history],
        "messages": None
        if d.messages is None
        else [
            {
                "message": m.message_id,
                "at": iso(m.at),
                "from": m.from_addr,
                "kind": m.kind,
                "counted_as": m.counted_as,
                "flags": list(m.flags),
            }
            for m in d.messages
        ],
    }
    if d.info.provisional:
        doc["messages_not_read"] = d.not_read
    return doc


def _stats(s: Stats) -> dict[str, Any]:
    return {"n": s.n, "median_s": _s(s.median_ms), "p90_s": _s(s.p90_ms)}


def group_json(g: ReportGroup) -> dict[str, Any]:
    return {
        "key": g.key,
        "volume": g.volume,
        "first_response": _stats(g.first_response),
        "resolution": _stats(g.resolution),
        "reopens": g.reopens,
        "sla": {"met": g.sla_met, "measured": g.sla_measured, "pct": g.sla_pct},
        "backlog": dict(g.backlog),
    }


def report_json(r: Report) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "version": VERSION,
        "kind": "report",
        "now": iso(r.now_ms),
        "since": iso(r.since_ms),
        "until": iso(r.now_ms if r.until_ms is None else r.until_ms),
        "by": r.by,
        "groups": [group_json(g) for g in r.groups],
        "total": group_json(r.total),
        "missing": r.missing,
    }
    if r.pending.count:
        doc["pending"], doc["pending_undated"] = r.pending.count, r.pending.undated
    return doc


# ---------------------------------------------------------------------------------------------- CSV
def _cell(v: object) -> object:
    if isinstance(v, list):
        return ";".join(v)
    return "" if v is None else str(v).lower() if isinstance(v, bool) else v


def threads_csv(rows: list[ThreadInfo], now_ms: int) -> tuple[list[str], list[list[Any]]]:
    docs = (thread_json(t, now_ms) for t in rows)
    return THREAD_FIELDS, [[_cell(doc[k]) for k in THREAD_FIELDS] for doc in docs]


STATUS_FIELDS = [
    "department",
    *STATES,
    "overdue",
    "oldest_new",
    "oldest_new_age_s",
    "oldest_waiting",
    "oldest_waiting_age_s",
]


def status_csv(s: Status) -> tuple[list[str], list[list[Any]]]:
    rows = []
    for d in s.departments:
        rows.append(
            [
                _cell(d.department),
                *(d.counts.get(k, 0) for k in STATES),
                d.overdue,
                _cell(d.oldest_new and d.oldest_new.thread_id),
                _cell(d.oldest_new and _s(d.oldest_new.age_ms)),
                _cell(d.oldest_waiting and d.oldest_waiting.thread_id),
                _cell(d.oldest_waiting and _s(d.oldest_waiting.age_ms)),
            ]
        )
    return STATUS_FIELDS, rows


HISTORY_FIELDS = ["thread", "at", "from", "to", "reason"]


def show_csv(d: ThreadDetail) -> tuple[list[str], list[list[Any]]]:
    return HISTORY_FIELDS, [
        [d.info.thread_id, iso(h.at), _cell(h.from_state), _cell(h.to_state), h.reason] for h in d.history
    ]


REPORT_FIELDS = [
    "key",
    "volume",
    "first_response_n",
    "first_response_median_s",
    "first_response_p90_s",
    "resolution_n",
    "resolution_median_s",
    "resolution_p90_s",
    "reopens",
    "sla_met",
    "sla_measured",
    "sla_pct",
    *(f"backlog_{b}" for b, _ in AGING_BUCKETS),
]


def report_csv(r: Report) -> tuple[list[str], list[list[Any]]]:
    rows = []
    for g in [*r.groups, r.total]:
        fr, res = g.first_response, g.resolution
        rows.append(
            [
                g.key,
                g.volume,
                fr.n,
                _cell(_s(fr.median_ms)),
                _cell(_s(fr.p90_ms)),
                res.n,
                _cell(_s(res.median_ms)),
                _cell(_s(res.p90_ms)),
                g.reopens,
                g.sla_met,
                g.sla_measured,
                _cell(g.sla_pct),
                *(g.backlog[b] for b, _ in AGING_BUCKETS),
            ]
        )
    return REPORT_FIELDS, rows
