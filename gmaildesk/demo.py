"""The `make demo` story: an embedded sandbox set up from the example desk.yaml, a realistic
morning of support mail, and the mailbox read back through the real Gmail client exactly as
production reads Gmail.

Later issues (sweep, audit) extend the story; each step returns data and the CLI renders it.
"""

from __future__ import annotations

import dataclasses
import email
import email.policy
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from email.message import EmailMessage
from pathlib import Path
from typing import Any

from gmaildesk.config import Desk, load_desk
from gmaildesk.config.example import write_example
from gmaildesk.desk import apply as desk_apply
from gmaildesk.desk import plan as desk_plan
from gmaildesk.desk import read
from gmaildesk.desk.ownership import Ownership
from gmaildesk.errors import GmailDeskError
from gmaildesk.gmail import ConnectionOptions, connect, scopes
from gmaildesk.gmail.api import HttpGmailApi
from gmaildesk.gmail.client import GmailClient
from gmaildesk.sandbox import SandboxHandle, running_sandbox
from gmaildesk.sandbox.delivery import deliver, store_message
from gmaildesk.sandbox.mime import b64url_decode, b64url_encode, build_message
from gmaildesk.sweep import ack as sweep_ack
from gmaildesk.sweep import assign as sweep_assign
from gmaildesk.sweep import engine as sweep_engine
from gmaildesk.sweep.result import SweepResult
from gmaildesk.sweep.store import Store
from gmaildesk.team.owners import find_agent
from gmaildesk.team.reply import ReplyRequest, reply, reply_template

SUPPORT = "support@example.com"
COLLEAGUE = "devteam@example.com"
HOUR_MS = 3600 * 1000
HISTORY = "help@example.org"  # a second desk, with months of mail, in a sandbox of its own
HISTORY_CONVERSATIONS = 300
HISTORY_DESK = f"""\
version: 1
mailbox: {HISTORY}
departments:
  - name: Help
    sla: {{first_response: 4h, next_response: 8h}}
sweep:
  scope: newer_than:90d
"""


@dataclass
class ThreadRow:
    thread_id: str
    subject: str
    messages: int
    last_from: str
    labels: list[str]


@dataclass
class DeskSetup:
    plan_text: str
    applied: int
    status: str
    replan_text: str


@dataclass
class SweepRun:
    title: str
    transitions: list[str]
    by_state: dict[str, int]
    api_calls: int
    threads_read: int


@dataclass
class FirstSweep:
    """A first sweep of a mailbox with history: decided from Gmail's listings, then backfilled."""

    conversations: int
    messages: int
    read_all_units: int  # what reading every conversation costs (a dry run of the full read)
    listed_units: int  # the lean first sweep, every status label set
    provisional: int
    check: str | None
    differ: list[str]  # conversations labelled otherwise than reading everything labels them
    backfill_sweeps: int
    backfill_units: int
    corrected: list[str]  # the backfill's changes of state


@dataclass
class DemoResult:
    url: str
    desk: DeskSetup | None = None
    sweeps: list[SweepRun] = field(default_factory=list)
    status: dict[str, Any] | None = None  # what `gmaildesk status --json` prints at the end of the story
    report: dict[str, Any] | None = None  # what `gmaildesk report --json` prints
    steps: list[str] = field(default_factory=list)
    replies: list[str] = field(default_factory=list)  # `gmaildesk reply` from a template, and a collision
    acknowledgements: list[str] = field(default_factory=list)  # auto_ack mode: sweep, with a ticket number
    history: FirstSweep | None = None  # a second mailbox's first sweep, decided from Gmail's listings
    threads: list[ThreadRow] = field(default_factory=list)
    colleague_inbox: list[str] = field(default_factory=list)
    outbox: list[dict[str, Any]] = field(default_factory=list)
    api_calls: int = 0
    quota_units: int = 0
    units_by_method: dict[str, int] = field(default_factory=dict)


Finale = Callable[["DemoResult", Path, Path, str], None]


def run_demo(finale: Finale | None = None) -> DemoResult:
    """Run the whole story on a fresh in-memory sandbox and return what it shows.

    `finale(result, desk_path, store_path, url)` runs last, while the sandbox is still up, so
    a caller can show the real `gmaildesk status` and `report` on the demo's desk.
    """
    with running_sandbox(users=(SUPPORT, COLLEAGUE)) as sb, tempfile.TemporaryDirectory() as work:
        result = DemoResult(url=sb.url)
        client = connect(ConnectionOptions(endpoint=sb.url), scopes.SWEEP)
        api = HttpGmailApi(client)
        desk = _set_up_desk(client, api, Path(work), result)
        _morning_of_mail(sb, client, result)
        with Store(Path(work) / "sweep.sqlite") as store:
            result.sweeps.append(_sweep(sb, api, desk, store, "First sweep: every conversation gets its state"))
            sb.control.advance_clock(26 * 3600)
            result.sweeps.append(
                _sweep(sb, api, desk, store, "A day later, no new mail: the sweep reads nothing, the clock decides")
            )
            _ticket_acknowledgement(sb, api, Path(work), store, result)
        _reply_from_template(api, desk, result)
        _read_back(sb, client, result)
        result.history = _first_sweep_of_a_history(Path(work))
        counters = sb.control.counters()
        result.api_calls = counters["total_calls"]
        result.quota_units = counters["total_units"]
        result.units_by_method = counters["units"]
        result.outbox = [{k: e[k] for k in ("kind", "to", "subject")} for e in sb.control.outbox(SUPPORT)]
        result.status, result.report = _audit(desk, Path(work) / "sweep.sqlite", sb.sandbox.now_ms())
        if finale is not None:
            finale(result, Path(work) / "desk.yaml", Path(work) / "sweep.sqlite", sb.url)
        return result


def _audit(desk: Desk, store_path: Path, now_ms: int) -> tuple[dict[str, Any], dict[str, Any]]:
    """The operator's view of the demo desk: status and a 30-day report, as their --json shapes."""
    from gmaildesk.audit import queries, shapes
    from gmaildesk.audit.db import Slas, open_store

    db = open_store(store_path)
    try:
        slas = Slas.from_desk(desk)
        status = shapes.status_json(queries.status(db, slas, now_ms, mailbox=desk.mailbox), [])
        report = shapes.report_json(queries.report(db, slas, now_ms, since_ms=now_ms - 30 * 86_400_000, by="dept"))
    finally:
        db.close()
    return status, report


def _swept(sb: SandboxHandle, api: HttpGmailApi, desk: Desk, store: Store) -> SweepResult:
    """One sweep as `gmaildesk sweep` runs it (sweep/service.py): states, owners, tickets, acknowledgements."""
    before, now_ms = api.usage(), sb.sandbox.now_ms()
    outcome = sweep_engine.run(api, desk, store, now_ms=now_ms)
    sweep_assign.assign(api, desk, store, outcome, now_ms)
    sweep_ack.after_sweep(api, desk, store, outcome, now_ms, before)
    return outcome


def _sweep(sb: SandboxHandle, api: HttpGmailApi, desk: Desk, store: Store, title: str) -> SweepRun:
    outcome = _swept(sb, api, desk, store)
    names = {t.thread_id: t for t in outcome.transitions}
    lines = [
        f"{_subject(api, thread_id)}: {t.from_state or '-'} -> {t.to_state} ({t.reason})"
        for thread_id, t in names.items()
    ]
    return SweepRun(title, lines, dict(outcome.by_state), outcome.api_calls, outcome.threads_read)


def _subject(api: HttpGmailApi, thread_id: str) -> str:
    (thread,) = api.threads([thread_id], ["Subject"])
    if isinstance(thread, GmailDeskError):
        raise thread
    return next((value for name, value in thread.messages[0].headers if name.lower() == "subject"), thread_id)


def _set_up_desk(client: GmailClient, api: HttpGmailApi, work: Path, result: DemoResult) -> Desk:
    """`gmaildesk init` + `plan` + `apply` of the example desk, then a second plan: empty."""
    write_example(work)
    desk = load_desk(work / "desk.yaml")
    # The example forwards crash reports to the dev team; Gmail only forwards to an address
    # the mailbox has verified (same domain: accepted at once).
    client.execute(
        client.users().settings().forwardingAddresses().create(userId="me", body={"forwardingEmail": COLLEAGUE}),
        "adding the dev team as forwarding address",
    )
    record = Ownership.load(work / "desk-state.json", desk.mailbox)
    plan = desk_plan.build(desk, read.current(api), record)
    outcome = desk_apply.execute(plan, api, record)
    replan = desk_plan.build(desk, read.current(api), record)
    result.desk = DeskSetup(plan.render_text(), len(outcome.done), outcome.status, replan.render_text())
    return desk


def _customer_mail(
    sb: SandboxHandle, sender: str, subject: str, text: str, to: str = SUPPORT, **extra: Any
) -> dict[str, Any]:
    raw = build_message(from_=sender, to=[to], subject=subject, text=text, date_ms=sb.sandbox.now_ms(), **extra)
    return sb.control.deliver(SUPPORT, raw)


def _reply(
    client: GmailClient, thread_id: str, to: str, subject: str, text: str, delegate: str | None = None
) -> dict[str, Any]:
    """Answer the newest message of a thread through messages.send, threaded as Gmail requires; a
    *delegate* writes from the shared address, named in Sender: (Gmail Help 138350)."""
    users = client.users()
    thread = client.execute(
        users.threads().get(userId="me", id=thread_id, format="metadata", metadataHeaders=["Message-ID", "References"]),
        "reading the thread",
    )
    last = thread["messages"][-1]["payload"]["headers"]
    message_id = next(h["value"] for h in last if h["name"].lower() == "message-id")
    refs = next((h["value"] for h in last if h["name"].lower() == "references"), "")
    raw = build_message(
        from_=f"Acme Support <{SUPPORT}>",
        to=[to],
        subject=subject,
        text=text,
        in_reply_to=message_id,
        references=[*refs.split(), message_id],
        date_ms=0,
        extra_headers=[("Sender", delegate)] if delegate else (),
    )
    sent: dict[str, Any] = client.execute(
        users.messages().send(userId="me", body={"raw": b64url_encode(raw), "threadId": thread_id}), "sending a reply"
    )
    return sent


def _morning_of_mail(sb: SandboxHandle, client: GmailClient, result: DemoResult) -> None:
    steps = result.steps
    ann = _customer_mail(
        sb,
        "Ann Lee <ann@customer.example>",
        "Invoice 1042 charged twice",
        "Hello, my card was charged twice for invoice 1042. Can you refund one?",
        to="billing@example.com",
    )
    steps.append("Ann (customer) writes to billing@ about a double charge; the desk acknowledges it")
    sb.control.advance_clock(2 * 3600 + 600)
    _reply(
        client,
        ann["threadId"],
        "ann@customer.example",
        "Re: Invoice 1042 charged twice",
        "Hi Ann, sorry about that - the duplicate charge is refunded today.",
        delegate="alice@example.com",
    )
    steps.append("2h10m later Alice answers Ann as the shared mailbox (Sender: Alice): the sweep makes her the owner")
    sb.control.advance_clock(1800)
    thanks = build_message(
        from_="Ann Lee <ann@customer.example>",
        to=["billing@example.com"],
        subject="Re: Invoice 1042 charged twice",
        text="Thanks! One more question: can I get a PDF receipt?",
        date_ms=sb.sandbox.now_ms(),
        in_reply_to=_last_message_id(client, ann["threadId"]),
    )
    sb.control.deliver(SUPPORT, thanks)
    steps.append("Ann answers back in the same conversation")

    bob = _customer_mail(
        sb,
        "Bob Ray <bob@shop.example>",
        "App crashes on login",
        "Since the update the app crashes as soon as I log in.",
    )
    steps.append("Bob reports a crash")
    sb.control.advance_clock(15 * 60)
    _reply(
        client, bob["threadId"], COLLEAGUE, "Fwd: App crashes on login", "Dev team, can you look at Bob's crash below?"
    )
    steps.append("We forward Bob's report to the dev team (a sandbox mailbox too)")

    carla = _customer_mail(
        sb,
        "Carla Diaz <carla@retail.example>",
        "Change of delivery address",
        "Please ship my order to the new address below.",
    )
    sb.control.advance_clock(40 * 60)
    _reply(
        client,
        carla["threadId"],
        "carla@retail.example",
        "Re: Change of delivery address",
        "Done, the order ships to the new address.",
    )
    ooo = build_message(
        from_="Carla Diaz <carla@retail.example>",
        to=[SUPPORT],
        subject="Automatic reply: Re: Change of delivery address",
        text="I am out of the office until Monday.",
        date_ms=sb.sandbox.now_ms(),
        in_reply_to=_last_message_id(client, carla["threadId"]),
        extra_headers=[("Auto-Submitted", "auto-replied"), ("X-Auto-Response-Suppress", "All")],
    )
    sb.control.deliver(SUPPORT, ooo)
    steps.append("Carla's out-of-office answers our reply")

    bounce = build_message(
        from_="Mail Delivery Subsystem <mailer-daemon@mx.example>",
        to=[SUPPORT],
        subject="Undelivered Mail Returned to Sender",
        text="This is the mail system at host mx.example. Your message could not be delivered.",
        date_ms=sb.sandbox.now_ms(),
        extra_headers=[("Auto-Submitted", "auto-replied"), ("Return-Path", "<>")],
    )
    sb.control.deliver(SUPPORT, bounce)
    steps.append("A bounce arrives from a mailer-daemon")
    newsletter = build_message(
        from_="Tools Weekly <news@tools.example>",
        to=[SUPPORT],
        subject="This week in tools",
        text="Ten tools for your support team.",
        date_ms=sb.sandbox.now_ms(),
        extra_headers=[
            ("List-Id", "Tools Weekly <weekly.tools.example>"),
            ("List-Unsubscribe", "<mailto:unsubscribe@tools.example>"),
            ("Precedence", "list"),
        ],
    )
    sb.control.deliver(SUPPORT, newsletter)
    steps.append("A newsletter (list mail) arrives")


def _reply_from_template(api: HttpGmailApi, desk: Desk, result: DemoResult) -> None:
    """`gmaildesk reply`: Alice drafts Ann's answer from templates/replies/closing; Bob's reply is refused
    while her draft is in the conversation; Alice sends it (--send)."""
    (ann,) = api.thread_ids('subject:"Invoice 1042 charged twice"')
    alice = ReplyRequest(ann, "closing", find_agent(desk, "Alice"))
    template = reply_template(desk, alice)
    drafted = reply(desk, api, alice, template, None)
    result.replies.append(
        f"Alice: reply --template closing -> draft {drafted.draft_id} in Ann's conversation, "
        f"from {drafted.sender} with its signature: {drafted.subject}"
    )
    try:
        reply(desk, api, dataclasses.replace(alice, agent=find_agent(desk, "Bob")), template, None)
    except GmailDeskError as refused:
        result.replies.append(f"Bob: reply --template closing -> exit {int(refused.exit_code)}: {refused.message}")
    sent = reply(desk, api, dataclasses.replace(alice, send=True), template, None)
    result.replies.append(
        f"Alice: reply --template closing --send -> her draft replaced and sent ({sent.message_id}, SENT, "
        "in Ann's conversation)"
    )


def _ticket_acknowledgement(sb: SandboxHandle, api: HttpGmailApi, work: Path, store: Store, result: DemoResult) -> None:
    """The team switches auto_ack to mode: sweep (apply turns Gmail's responder off); the sweep answers
    none of the conversations it already knows and acknowledges the next new customer with her ticket
    number, in her own conversation."""
    path = work / "desk.yaml"
    vacation = "  body_text: {file: templates/ack.txt.j2}\n  body_html: {file: templates/ack.html.j2}\n"
    sweep_mode = "  mode: sweep\n  body_text: {file: templates/ack-ticket.txt.j2}\n"
    path.write_text(path.read_text().replace(vacation, sweep_mode))
    desk = load_desk(path)
    record = Ownership.load(work / "desk-state.json", desk.mailbox)
    plan = desk_plan.build(desk, read.current(api), record)
    desk_apply.execute(plan, api, record)
    switched = " ".join(line.strip() for line in plan.render_text().splitlines() if "enableAutoReply" in line)
    result.acknowledgements.append(f"desk.yaml: auto_ack mode: sweep; apply: {switched or 'responder already off'}")
    run = _swept(sb, api, desk, store)
    known = len(store.threads())
    result.acknowledgements.append(
        f"sweep: {run.acks_sent} of the {known} conversations it knows acknowledged (they came before mode: sweep)"
    )
    sb.control.advance_clock(600)
    _customer_mail(
        sb, "Dana Wu <dana@bigco.example>", "Pricing for 40 seats", "Could you send a quote?", to="sales@example.com"
    )
    run = _swept(sb, api, desk, store)
    ack = sb.control.outbox(SUPPORT, include_raw=True)[-1]
    message = email.message_from_bytes(b64url_decode(ack["raw"]), policy=email.policy.default)
    body = message.get_body(preferencelist=("plain",))
    text = body.get_content() if isinstance(body, EmailMessage) else ""
    ticket = next((line.strip() for line in text.splitlines() if "ticket number" in line), "")
    result.acknowledgements.append(
        f"Dana writes to sales@; sweep: {run.acks_sent} acknowledged, to {', '.join(ack['to'])}, "
        f'"{ack["subject"]}" in her conversation (Auto-Submitted: {message["Auto-Submitted"]}): {ticket}'
    )


def _last_message_id(client: GmailClient, thread_id: str) -> str:
    thread = client.execute(
        client.users().threads().get(userId="me", id=thread_id, format="metadata", metadataHeaders=["Message-ID"]),
        "reading the thread",
    )
    headers = thread["messages"][-1]["payload"]["headers"]
    return str(next(h["value"] for h in headers if h["name"].lower() == "message-id"))


def _read_back(sb: SandboxHandle, client: GmailClient, result: DemoResult) -> None:
    """List every conversation and fetch them in one batch, the way gmaildesk reads Gmail."""
    users = client.users()
    listing = client.execute(users.threads().list(userId="me", maxResults=100), "listing threads")
    ids = [t["id"] for t in listing.get("threads", [])]
    threads = client.execute_batch(
        [users.threads().get(userId="me", id=i, format="metadata", metadataHeaders=["From", "Subject"]) for i in ids],
        "reading threads",
    )
    labels = {lab["id"]: lab["name"] for lab in client.execute(users.labels().list(userId="me"))["labels"]}
    for thread in threads:
        first, last = thread["messages"][0], thread["messages"][-1]
        header = {h["name"].lower(): h["value"] for h in first["payload"]["headers"]}
        last_from = next((h["value"] for h in last["payload"]["headers"] if h["name"].lower() == "from"), "")
        names = sorted({labels.get(i, i) for m in thread["messages"] for i in m.get("labelIds", [])})
        result.threads.append(
            ThreadRow(thread["id"], header.get("subject", ""), len(thread["messages"]), last_from, names)
        )
    # The sandbox serves several mailboxes; the dev team's is addressed by its userId.
    inbox = client.execute(users.messages().list(userId=COLLEAGUE, labelIds=["INBOX"]))
    for ref in inbox.get("messages", []):
        msg = client.execute(
            users.messages().get(userId=COLLEAGUE, id=ref["id"], format="metadata", metadataHeaders=["Subject"])
        )
        result.colleague_inbox.append(msg["payload"]["headers"][0]["value"])


def _first_sweep_of_a_history(work: Path) -> FirstSweep:
    """Months of mail in another mailbox, swept for the first time: what reading every conversation
    would cost (a dry run), what the lean first sweep costs deciding from Gmail's listings, and the
    next sweeps reading those conversations whole (the backfill). Its own sandbox: the counters of
    the story above stay the story's."""
    with running_sandbox(users=(HISTORY,)) as sb:
        client = connect(ConnectionOptions(endpoint=sb.url), scopes.SWEEP)
        api = HttpGmailApi(client)
        (work / "history").mkdir()
        (work / "history" / "desk.yaml").write_text(HISTORY_DESK)
        desk = load_desk(work / "history" / "desk.yaml")
        record = Ownership.load(work / "history" / "desk-state.json", desk.mailbox)
        desk_apply.execute(desk_plan.build(desk, read.current(api), record), api, record)
        messages = _seed_history(sb)
        now_ms = sb.sandbox.now_ms()
        with Store(work / "history" / "read-all.sqlite") as store:
            everything = sweep_engine.run(api, desk, store, now_ms=now_ms, lean=False, dry_run=True)
        with Store(work / "history" / "sweep.sqlite") as store:
            listed = sweep_engine.run(api, desk, store, now_ms=now_ms)
            runs, units, corrected = 0, 0, []
            while _provisional(store) and runs < 10:
                later = sweep_engine.run(api, desk, store, now_ms=sb.sandbox.now_ms())
                runs, units = runs + 1, units + later.quota_units
                corrected += [f"{t.from_state} -> {t.to_state}" for t in later.transitions]
        truth = {t.thread_id: t.to_state for t in everything.transitions}
        first = {t.thread_id: t.to_state for t in listed.transitions}
        differ = [f"{first.get(t)}, where reading says {s}" for t, s in truth.items() if first.get(t) != s]
        return FirstSweep(
            HISTORY_CONVERSATIONS + 1,
            messages,
            everything.quota_units,
            listed.quota_units,
            listed.provisional,
            listed.listing_check,
            differ,
            runs,
            units,
            corrected,
        )


def _provisional(store: Store) -> int:
    return sum(row.provisional for row in store.threads().values())


def _seed_history(sb: SandboxHandle) -> int:
    """HISTORY_CONVERSATIONS conversations over the last weeks - a third new, a third answered, a third
    answered and followed up - and one answered to a vendor instead (a forward without "Fwd:"); the
    number of messages. Delivered through the sandbox's own API: seconds, not minutes."""
    core = sb.sandbox
    mailbox = core.mailbox(HISTORY)
    ids: list[str] = []  # every Message-ID so far: each message answers the one before in its conversation

    def mail(frm: str, to: str, subject: str, thread: str | None = None, *, sent: bool = False) -> str:
        earlier = ids[-1:] if thread else []
        ids.append(f"<h{len(ids)}@{HISTORY.split('@')[1]}>")
        raw = build_message(
            from_=frm,
            to=[to],
            subject=subject,
            text="...",
            message_id=ids[-1],
            in_reply_to=earlier[0] if earlier else None,
            references=earlier,
            date_ms=core.now_ms(),
        )
        if sent:  # Gmail threads our reply into the conversation it answers
            labels = ["SENT"]
            return store_message(
                core, mailbox, raw, label_ids=labels, date_source="receivedTime", thread_id=thread
            ).thread_id
        return str(deliver(core, mailbox, raw)["threadId"])

    with core.lock, core.store.transaction():
        for i in range(HISTORY_CONVERSATIONS):
            customer, subject = f"customer{i}@shop.example", f"Order {1000 + i}"
            thread = mail(customer, HISTORY, subject)
            if i % 3:
                mail(HISTORY, customer, f"Re: {subject}", thread, sent=True)
            if i % 3 == 2:
                mail(customer, HISTORY, f"Re: {subject}", thread)
            core.clock_offset_ms += 20 * 60 * 1000
        vendor = mail("dora@shop.example", HISTORY, "Broken hinge")
        mail(HISTORY, "repairs@vendor.example", "Re: Broken hinge", vendor, sent=True)
    return len(ids)
