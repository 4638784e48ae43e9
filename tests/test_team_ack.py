"""auto_ack mode: sweep — ticket numbers and one acknowledgement per new customer conversation.

Config first (keys, line-numbered errors), then scenarios through the CLI on the sandbox.
"""

from __future__ import annotations

import base64
import dataclasses
import email
import email.message
import email.policy
import json
import os
import re
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path
from textwrap import dedent

import pytest

from cli_run import invoke
from desk_text import HEAD
from desk_text import load_error as _error
from desk_text import load_text as _load
from gmaildesk.desk import vacation
from gmaildesk.sandbox.mime import build_message
from gmaildesk.sweep.ack_message import Ack, ack_message_id, build, is_ack_message_id

SWEEP_ACK = "auto_ack:\n  mode: sweep\n  body_text: 'Ticket #{{ ticket }} for {{ customer.name }}: {{ subject }}'\n"


def test_sweep_mode_renders_the_sample_and_each_conversation(tmp_path):
    desk = _load(tmp_path, HEAD + SWEEP_ACK)
    ack = desk.auto_ack
    assert ack.mode == "sweep" and ack.max_per_sender_per_day == 3
    assert ack.body_text == "Ticket #1042 for Ann Example: Invoice 1042 charged twice"
    text, html = ack.templates.render(
        {"ticket": 7, "customer": {"name": "Bo", "email": "bo@x.example"}, "subject": "Hi", "department": ""}
    )
    assert (text, html) == ("Ticket #7 for Bo: Hi", "")


def test_vacation_stays_the_default_and_sweep_mode_keeps_the_responder_off(tmp_path):
    default = _load(tmp_path, HEAD + "auto_ack:\n  body_text: Thanks\n")
    assert default.auto_ack.mode == "vacation"
    assert vacation.from_desk(default.auto_ack) == {"enableAutoReply": True, "responseBodyPlainText": "Thanks"}
    swept = _load(tmp_path, HEAD + SWEEP_ACK)
    assert vacation.from_desk(swept.auto_ack) == {}  # off: one acknowledgement, not two


def test_a_vacation_template_using_ticket_is_a_line_numbered_error(tmp_path):
    error = _error(tmp_path, HEAD + "auto_ack:\n  body_text: 'Your ticket: {{ ticket }}'\n")
    assert error.message == "desk.yaml:4: auto_ack.body_text: 'ticket' is undefined"
    assert error.hints[0].startswith("`ticket` exists only with auto_ack mode: sweep")


def test_a_ticket_in_a_file_template_names_the_file_line(tmp_path):
    (tmp_path / "templates").mkdir()
    (tmp_path / "templates" / "ack.txt.j2").write_text("Hello\n\nticket {{ ticket }}\n")
    error = _error(tmp_path, HEAD + "auto_ack:\n  body_text: {file: templates/ack.txt.j2}\n")
    assert error.message == "templates/ack.txt.j2:3: 'ticket' is undefined"
    assert "mode: sweep" in error.hints[0]


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (
            "  subject: 'Ticket {{ ticket }}'\n",
            "desk.yaml:6: auto_ack.subject: in sweep mode the acknowledgement answers inside the customer's "
            "conversation as 'Re: <their subject>'; it has no subject of its own",
        ),
        (
            "  restrict_to_contacts: true\n",
            "desk.yaml:6: auto_ack.restrict_to_contacts: restrict_to_contacts is a setting of Gmail's "
            "vacation responder, which sweep mode leaves off",
        ),
        ("  max_per_sender_per_day: 0\n", "desk.yaml:6: auto_ack.max_per_sender_per_day:"),
    ],
)
def test_sweep_mode_refuses_what_cannot_apply(tmp_path, extra, message):
    error = _error(tmp_path, HEAD + SWEEP_ACK + extra)
    assert error.message.startswith(message), error.message


def test_an_unknown_mode_names_the_choices(tmp_path):
    error = _error(tmp_path, HEAD + "auto_ack:\n  body_text: x\n  mode: sweeping\n")
    assert error.message.startswith("desk.yaml:5: auto_ack.mode:"), error.message
    assert "sweep" in error.message + " ".join(error.hints)


def test_a_department_alias_must_be_one_of_ours(tmp_path):
    text = HEAD + dedent(
        """\
        send_as:
          - address: billing@example.com
        departments:
          - name: Billing
            alias: biling@example.com
        """
    )
    error = _error(tmp_path, text)
    assert error.message == (
        "desk.yaml:7: departments[0].alias: 'biling@example.com' is neither the mailbox nor a send_as address"
    )
    assert error.hints[0] == "did you mean 'billing@example.com'?"
    good = _load(tmp_path, text.replace("biling@", "billing@"))
    assert good.departments[0].alias == "billing@example.com"
    mailbox = _load(tmp_path, text.replace("biling@", "support@"))
    assert mailbox.departments[0].alias == "support@example.com"


# ---------------------------------------------------------------- scenarios through the CLI, on the sandbox
ACK_DESK = """\
version: 1
mailbox: support@example.com
team: [bob@example.com]
vars: {company: Acme}
departments:
  - name: Billing
    routes: [{to: billing@example.com}]
    alias: billing@example.com
send_as:
  - address: billing@example.com
    display_name: Acme Billing
auto_ack:
  mode: sweep
  max_per_sender_per_day: 3
  body_text: |
    Hello {{ customer.name or customer.email }},
    we have your message about "{{ subject }}".
    Your ticket number is #{{ ticket }}{% if department %} ({{ department }}){% endif %}.
    {{ company }} Support
"""
SUPPORT = "support@example.com"
_TICKET = re.compile(r"Your ticket number is #(\d+)")


class AckDesk:
    """A sandbox mailbox with ACK_DESK applied; mail in through the sandbox, sweeps through the CLI."""

    def __init__(self, sandbox, tmp_path: Path, monkeypatch, desk_text: str = ACK_DESK):
        monkeypatch.setenv("GMAILDESK_DATA_DIR", str(tmp_path / "data"))
        self.sandbox, self.control = sandbox, sandbox.control
        self.path = tmp_path / "desk.yaml"
        self.path.write_text(desk_text)
        invoke(["apply", "-c", str(self.path), "--yes", "--skip-tests", "--endpoint", sandbox.url], expect=ANY_OK)
        self.control.verify_send_as(SUPPORT, "billing@example.com")
        self.n = 0

    def mail(self, frm: str, subject: str, to: str = SUPPORT, headers=(), authentication: str = "pass", **kw) -> str:
        """Deliver one message to the mailbox; its thread id."""
        self.n += 1
        raw = build_message(
            from_=frm,
            to=[to],
            subject=subject,
            text="hello",
            message_id=f"<m{self.n}@sender.test>",
            extra_headers=tuple(headers),
            date_ms=int(self.control.clock()["nowMs"]),
            **kw,
        )
        self.control.advance_clock(1)
        return self.control.deliver(SUPPORT, raw, authentication=authentication)["threadId"]

    def sweep(self) -> dict:
        result = invoke(["sweep", "-c", str(self.path), "--endpoint", self.sandbox.url, "--json"])
        return json.loads(result.stdout)

    def acks(self) -> list[email.message.EmailMessage]:
        """The acknowledgements that left the mailbox, parsed."""
        parsed = [
            email.message_from_bytes(base64.urlsafe_b64decode(entry["raw"]), policy=email.policy.default)
            for entry in self.control.outbox(SUPPORT, include_raw=True)
        ]
        return [m for m in parsed if m["Auto-Submitted"] == "auto-replied"]

    def thread_of_message_id(self, gmail, message_id: str) -> str:
        found = gmail.messages().list(userId="me", q=f"rfc822msgid:{message_id.strip('<>')}").execute()
        (only,) = found["messages"]
        return only["threadId"]


ANY_OK = 0


def _body(message: email.message.EmailMessage) -> str:
    part = message.get_body(preferencelist=("plain",))
    return part.get_content() if part is not None else ""


def test_four_customers_get_one_acknowledgement_each_in_their_conversation(sandbox, gmail, tmp_path, monkeypatch):
    desk = AckDesk(sandbox, tmp_path, monkeypatch)
    old = desk.mail("old@history.test", "Written before acknowledgements began")
    first = desk.sweep()
    assert first["acks_sent"] == 0 and first["tickets_assigned"] == 1  # the history is numbered, not answered
    assert first["acks_skipped"] == {"before acknowledgements began": 1}  # recorded once, never looked at again
    customers = {
        desk.mail("Ann Lee <ann@a.test>", "Invoice 7 charged twice", to="billing@example.com"): "ann@a.test",
        desk.mail("ben@b.test", "Cannot log in"): "ben@b.test",
        desk.mail("Cat <cat@c.test>", "Refund please", to="billing@example.com"): "cat@c.test",
        desk.mail("dan@d.test", "Re: a question"): "dan@d.test",
    }
    desk.mail(
        "MAILER-DAEMON@mx.a.test", "Undelivered Mail Returned to Sender", headers=[("X-Failed-Recipients", "x@a.test")]
    )
    desk.mail("news@list.test", "Weekly digest", headers=[("List-Id", "<digest.list.test>")])
    desk.mail("Bob <bob@example.com>", "Note for billing", to="billing@example.com")
    swept = desk.sweep()
    assert swept["acks_sent"] == 4, swept
    assert swept["acks_skipped"] == {"bounce": 1, "list": 1, "ourselves": 1}
    acks = desk.acks()
    assert len(acks) == 4
    tickets = set()
    by_recipient = {str(a["To"]): a for a in acks}
    assert set(by_recipient) == set(customers.values())
    for thread_id, customer in customers.items():
        ack = by_recipient[customer]
        assert desk.thread_of_message_id(gmail, ack["Message-ID"]) == thread_id  # in the customer's conversation
        assert ack["In-Reply-To"] == f"<m{list(customers).index(thread_id) + 2}@sender.test>"
        assert ack["In-Reply-To"] in ack["References"]
        assert ack["X-Auto-Response-Suppress"] == "All" and ack["Precedence"] is None
        found = _TICKET.search(_body(ack))
        assert found, _body(ack)
        tickets.add(int(found.group(1)))
    assert len(tickets) == 4 and min(tickets) > 1  # distinct, and after the history's number 1
    ann = by_recipient["ann@a.test"]
    assert ann["Subject"] == "Re: Invoice 7 charged twice"
    assert ann["From"].addresses[0].addr_spec == "billing@example.com"  # the department's alias
    assert "Hello Ann Lee," in _body(ann) and "(Billing)" in _body(ann)
    dan = by_recipient["dan@d.test"]
    assert dan["Subject"] == "Re: a question"  # no second prefix: the subject still matches
    assert dan["From"].addresses[0].addr_spec == SUPPORT  # written to the mailbox, no department
    assert old not in customers
    again = desk.sweep()
    assert again["acks_sent"] == 0 and again["acks_skipped"] == {} and len(desk.acks()) == 4
    # Our acknowledgements are ours, automatic: the conversations stay new, not handled.
    assert set(again["by_state"]) <= {"new"} or again["by_state"].get("handled", 0) == 0


@pytest.mark.slow
@pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="needs POSIX SIGKILL")
def test_a_sweep_killed_between_send_and_commit_acknowledges_once(sandbox, tmp_path, monkeypatch):
    desk = AckDesk(sandbox, tmp_path, monkeypatch)
    desk.sweep()
    threads = [desk.mail(f"c{i}@cust{i}.test", f"Problem {i}") for i in range(3)]
    args = [sys.executable, "-m", "gmaildesk", "sweep", "-c", str(desk.path), "--endpoint", sandbox.url, "--quiet"]
    env = {**os.environ, "GMAILDESK_DATA_DIR": str(tmp_path / "data")}
    desk.control.reset_counters()
    desk.control.set_faults(latency_ms=150)  # each send is answered 150 ms after the one before went out
    proc = subprocess.Popen(args, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 30
        while desk.control.counters()["calls"].get("gmail.users.messages.send", 0) < 1:
            assert proc.poll() is None, proc.communicate()
            assert time.monotonic() < deadline, "the sweep never sent"
            time.sleep(0.005)
        os.kill(proc.pid, signal.SIGKILL)  # the first acknowledgement is out; its row still says 'intent'
        assert proc.wait(timeout=10) == -signal.SIGKILL
        time.sleep(0.4)  # a send the dead process had in flight still lands, as in Gmail
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        proc.stdout.close()
        proc.stderr.close()
        desk.control.clear_faults()
    sent_before = len(desk.acks())
    assert sent_before >= 1
    store = next((tmp_path / "data").rglob("sweep.sqlite"))
    with sqlite3.connect(store) as db:
        statuses = [r[0] for r in db.execute("SELECT status FROM acks ORDER BY thread_id")]
    assert statuses.count("intent") >= sent_before  # sent, but the store never heard of it
    again = desk.sweep()
    assert again["acks_sent"] == 3 and again["status"] == "ok"
    acks = desk.acks()
    assert len(acks) == 3  # one per conversation: the intents were found in Gmail, not sent again
    assert sorted(str(a["To"]) for a in acks) == [f"c{i}@cust{i}.test" for i in range(3)]
    with sqlite3.connect(store) as db:
        rows = db.execute("SELECT thread_id, status FROM acks ORDER BY thread_id").fetchall()
    assert rows == sorted((t, "sent") for t in threads)
    assert desk.sweep()["acks_sent"] == 0 and len(desk.acks()) == 3


def test_tickets_number_conversations_oldest_first_and_show_finds_them(sandbox, tmp_path, monkeypatch):
    desk = AckDesk(sandbox, tmp_path, monkeypatch)
    first = desk.mail("ann@a.test", "First")
    second = desk.mail("ben@b.test", "Second")
    assert desk.sweep()["tickets_assigned"] == 2  # a first full sweep: oldest first
    third = desk.mail("cat@c.test", "Third")
    assert desk.sweep()["tickets_assigned"] == 1
    args = ["-c", str(desk.path), "--endpoint", sandbox.url]
    rows = json.loads(invoke(["threads", *args, "--json"]).stdout)["threads"]
    assert {r["thread"]: r["ticket"] for r in rows} == {first: 1, second: 2, third: 3}
    for reference in ("#2", "2", " #2 "):
        shown = json.loads(invoke(["show", reference, *args, "--json"]).stdout)
        assert shown["thread"]["thread"] == second and shown["thread"]["ticket"] == 2
    assert json.loads(invoke(["next", *args, "--json"]).stdout)["thread"]["ticket"] == 1
    status = json.loads(invoke(["status", *args, "--json"]).stdout)
    assert [d["oldest_new"]["ticket"] for d in status["departments"]] == [1]  # the oldest new one, by its number
    table = invoke(["threads", *args, "--format", "tsv"]).stdout.splitlines()
    ticket_at = table[0].split("\t").index("ticket")
    assert sorted(line.split("\t")[ticket_at] for line in table[1:]) == ["#1", "#2", "#3"]
    assert "ticket:        #2" in invoke(["show", "#2", *args]).stdout.splitlines()
    missing = invoke(["show", "#99", *args], expect=1)
    assert missing.stderr.startswith("Error: no conversation has ticket number #99 in the sweep store")
    assert desk.sweep()["tickets_assigned"] == 0  # numbers are given once


def test_the_sweep_report_says_what_was_acknowledged(sandbox, tmp_path, monkeypatch):
    desk = AckDesk(sandbox, tmp_path, monkeypatch)
    desk.sweep()
    desk.mail("ann@a.test", "Help")
    desk.mail("noreply@shop.test", "Your receipt")
    out = invoke(["sweep", "-c", str(desk.path), "--endpoint", sandbox.url]).stdout
    assert "Acknowledged 1 new conversations; none for 1: 1 automatic." in out.splitlines()
    quiet = invoke(["sweep", "-c", str(desk.path), "--endpoint", sandbox.url]).stdout
    assert "Acknowledged" not in quiet  # nothing new: no line


def test_after_its_end_the_sweep_acknowledges_no_one(sandbox, tmp_path, monkeypatch):
    ended = ACK_DESK.replace(
        "  max_per_sender_per_day: 3\n", "  max_per_sender_per_day: 3\n  end: 2000-01-01T00:00:00Z\n"
    )
    desk = AckDesk(sandbox, tmp_path, monkeypatch, ended)
    desk.sweep()
    desk.mail("ann@a.test", "Help")
    swept = desk.sweep()
    assert (swept["acks_sent"], swept["acks_skipped"]) == (0, {"after auto_ack end": 1})
    assert desk.acks() == []


def test_mail_that_came_while_acknowledgements_were_off_gets_none_when_they_are_on_again(
    sandbox, tmp_path, monkeypatch
):
    desk = AckDesk(sandbox, tmp_path, monkeypatch)
    desk.sweep()
    on = desk.path.read_text()
    desk.path.write_text(on.replace("  mode: sweep\n", "  mode: sweep\n  enabled: false\n"))
    desk.mail("ann@a.test", "Written while they were off")
    assert desk.sweep()["acks_sent"] == 0
    desk.path.write_text(on)
    assert desk.sweep()["acks_skipped"] == {"before acknowledgements began": 1}
    desk.mail("ben@b.test", "Written after they were on again")
    assert desk.sweep()["acks_sent"] == 1
    assert [str(a["To"]) for a in desk.acks()] == ["ben@b.test"]


# ---------------------------------------------------------------- the message itself, without Gmail
def _ack(**changes) -> Ack:
    base = Ack(
        sender="billing@example.com",
        sender_name="Acme Billing",
        recipient="ann@a.test",
        subject="Invoice 7",
        message_id=ack_message_id(12, "1A2B", "Support@Example.com"),
        in_reply_to="<c1@a.test>",
        references=tuple(f"<r{i}@a.test>" for i in range(30)) + ("<c1@a.test>",),
        text="Your ticket number is #12.",
        html="",
        date_ms=1_800_000_000_000,
    )
    return dataclasses.replace(base, **changes)


def test_the_message_threads_and_marks_itself_automatic():
    message = email.message_from_bytes(build(_ack()), policy=email.policy.default)
    assert message["Message-ID"] == "<ack-12-1a2b@gmaildesk.example.com>"
    assert message["Subject"] == "Re: Invoice 7" and message["In-Reply-To"] == "<c1@a.test>"
    references = str(message["References"]).split()
    assert len(references) == 20 and references[-1] == "<c1@a.test>"  # the newest ids, the customer's last
    assert (message["Auto-Submitted"], message["X-Auto-Response-Suppress"], message["Precedence"]) == (
        "auto-replied",
        "All",
        None,
    )
    assert is_ack_message_id(message["Message-ID"]) and not is_ack_message_id("<c1@a.test>")


@pytest.mark.parametrize(
    ("subject", "expected"),
    [
        ("RE: Invoice 7", "RE: Invoice 7"),  # already a reply: no second prefix
        ("Fwd: Invoice 7", "Re: Fwd: Invoice 7"),
        ("Line\r\nBcc: evil@x.test", "Re: Line Bcc: evil@x.test"),  # one header line, nothing injected
        ("", "Re:"),
    ],
)
def test_the_subject_stays_the_customers(subject, expected):
    message = email.message_from_bytes(build(_ack(subject=subject)), policy=email.policy.default)
    assert message["Subject"] == expected and message["Bcc"] is None
