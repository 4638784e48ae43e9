"""`gmaildesk sandbox serve` from another process: curl and the real client can use it."""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import sys

import httplib2
import pytest
from googleapiclient.discovery import build
from typer.testing import CliRunner

from cli_run import invoke
from gmaildesk.cli import app
from gmaildesk.sandbox.mime import build_message

GMAILDESK = [sys.executable, "-m", "gmaildesk"]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def served(tmp_path):
    port = _free_port()
    db = tmp_path / "sandbox.sqlite"
    proc = subprocess.Popen(
        [
            *GMAILDESK,
            "sandbox",
            "serve",
            "--port",
            str(port),
            "--db",
            str(db),
            "--user",
            "support@example.com",
            "--user",
            "devteam@example.com",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    first_line = proc.stdout.readline()
    yield proc, f"http://127.0.0.1:{port}/", first_line, db
    proc.terminate()
    proc.wait(timeout=10)


def test_serve_prints_its_url_and_answers_curl_and_the_client(served, tmp_path):
    proc, url, first_line, db = served
    assert first_line.strip() == (f"gmaildesk sandbox serving {url} for devteam@example.com, support@example.com")
    eml = tmp_path / "question.eml"
    eml.write_bytes(
        build_message(
            from_="Ann <ann@customer.example>",
            to=["support@example.com"],
            subject="Where is my order?",
            text="Order 77 has not arrived.",
            date_ms=0,
        )
    )
    curl = shutil.which("curl")
    if curl:
        out = subprocess.run(
            [
                curl,
                "-s",
                "-X",
                "POST",
                "-H",
                "Content-Type: message/rfc822",
                "--data-binary",
                f"@{eml}",
                url + "sandbox/users/support@example.com/deliver",
            ],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        delivered = json.loads(out)
        profile = json.loads(
            subprocess.run(
                [curl, "-s", url + "gmail/v1/users/me/profile"], capture_output=True, text=True, check=True
            ).stdout
        )
        assert profile["emailAddress"] == "support@example.com"
        assert profile["messagesTotal"] == 1
    else:  # curl is not everywhere; the CLI's own deliver command uses the same HTTP endpoint
        result = CliRunner().invoke(app, ["sandbox", "deliver", "--endpoint", url, str(eml)])
        assert result.exit_code == 0, result.output
        delivered = {"id": result.output.split()[2]}
    gmail = build(
        "gmail", "v1", http=httplib2.Http(timeout=10), static_discovery=True, client_options={"api_endpoint": url}
    ).users()
    listed = gmail.messages().list(userId="me", q="subject:order").execute()
    assert [m["id"] for m in listed["messages"]] == [delivered["id"]]


def test_serve_keeps_state_in_its_db_across_restarts(tmp_path):
    port = _free_port()
    db = tmp_path / "s.sqlite"
    args = [*GMAILDESK, "sandbox", "serve", "--port", str(port), "--db", str(db)]
    url = f"http://127.0.0.1:{port}/"
    for round_number in (1, 2):
        proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            proc.stdout.readline()
            gmail = build(
                "gmail",
                "v1",
                http=httplib2.Http(timeout=10),
                static_discovery=True,
                client_options={"api_endpoint": url},
            ).users()
            if round_number == 1:
                gmail.labels().create(userId="me", body={"name": "Dept/Billing"}).execute()
            names = [lab["name"] for lab in gmail.labels().list(userId="me").execute()["labels"]]
            assert "Dept/Billing" in names
        finally:
            proc.terminate()
            proc.wait(timeout=10)


def test_serve_on_a_busy_port_is_a_one_line_error():
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        result = CliRunner().invoke(app, ["sandbox", "serve", "--port", str(port)])
    assert result.exit_code == 1
    assert result.stderr.startswith(f"Error: cannot listen on 127.0.0.1:{port}: ")
    assert "Hint: Pick another --port, or 0 for a free one." in result.stderr


def test_control_commands_drive_a_sandbox(sandbox, tmp_path):
    runner = CliRunner()
    eml = tmp_path / "a.eml"
    eml.write_bytes(
        build_message(from_="bob@shop.example", to=["support@example.com"], subject="Hi", text="Hello", date_ms=0)
    )
    delivered = runner.invoke(app, ["sandbox", "deliver", "--endpoint", sandbox.url, str(eml)])
    assert delivered.exit_code == 0, delivered.output
    assert "[INBOX UNREAD]" in delivered.stdout
    before = sandbox.control.clock()["nowMs"]
    moved = runner.invoke(app, ["sandbox", "clock", "--endpoint", sandbox.url, "--advance", "2h"])
    assert moved.exit_code == 0
    assert json.loads(moved.stdout)["nowMs"] - before >= 2 * 3600 * 1000
    bad = runner.invoke(app, ["sandbox", "clock", "--endpoint", sandbox.url, "--advance", "soon"])
    assert bad.exit_code == 2
    assert bad.stderr.splitlines()[0] == "Error: --advance: 'soon' is not a duration; use e.g. 90s, 8h30m, 2d or 1w"
    # One duration parser for desk.yaml and the sandbox clock: combined units and weeks too.
    for text, seconds in (("8h30m", 30_600), ("1w", 604_800), ("1d12h", 129_600), ("90s", 90)):
        start = sandbox.control.clock()["nowMs"]
        done = runner.invoke(app, ["sandbox", "clock", "--endpoint", sandbox.url, "--advance", text])
        assert done.exit_code == 0, done.output
        assert 0 <= json.loads(done.stdout)["nowMs"] - start - seconds * 1000 < 60_000  # the clock also ticks
    counted = runner.invoke(app, ["sandbox", "counters", "--endpoint", sandbox.url])
    assert counted.exit_code == 0
    assert "total_calls" in json.loads(counted.stdout)
    faults = runner.invoke(app, ["sandbox", "faults", "--endpoint", sandbox.url, "--503", "0.5", "--seed", "3"])
    assert json.loads(faults.stdout)["rate_503"] == 0.5
    unreachable = runner.invoke(app, ["sandbox", "counters", "--endpoint", "http://127.0.0.1:9/"])
    assert unreachable.exit_code == 1
    assert unreachable.stderr.startswith("Error: cannot reach the sandbox at http://127.0.0.1:9/")


# ---------------------------------------------------------------------------------------------- rehearsal mail
CUSTOMER = "ann@customer.example"


def _headers(gmail, message_id: str) -> dict[str, str]:
    message = gmail.messages().get(userId="me", id=message_id, format="metadata").execute()
    return {h["name"].lower(): h["value"] for h in message["payload"]["headers"]}


def _sent(output: str) -> tuple[str, str]:
    """(message id, thread id) from a `... message ID in thread ID [...]` line."""
    words = output.split()
    return words[words.index("message") + 1], words[words.index("thread") + 1]


def test_a_customer_writes_in_the_team_replies_and_she_answers_in_the_same_thread(sandbox, gmail):
    url = ["--endpoint", sandbox.url]
    asked = invoke(
        ["sandbox", "send", *url, "--from", CUSTOMER, "--to", "support@example.com", "--subject", "Invoice 1042"]
        + ["Charged twice."]
    )
    question, thread = _sent(asked.stdout)
    assert asked.stdout == f"delivered to support@example.com: message {question} in thread {thread} [INBOX UNREAD]\n"

    answered = invoke(["sandbox", "reply", thread, *url, "--from", "support@example.com", "Refunded today."])
    answer, answer_thread = _sent(answered.stdout)
    assert answer_thread == thread
    assert answered.stdout.startswith("sent by support@example.com: ") and "[SENT]" in answered.stdout
    sent = _headers(gmail, answer)
    asked_headers = _headers(gmail, question)
    assert sent["to"] == CUSTOMER and sent["subject"] == "Re: Invoice 1042"
    assert sent["in-reply-to"] == asked_headers["message-id"] == sent["references"]
    assert [m["to"] for m in sandbox.control.outbox("support@example.com")] == [[CUSTOMER]]

    thanked = invoke(["sandbox", "reply", thread, *url, "--from", CUSTOMER, "Thanks!"])
    thanks, thanks_thread = _sent(thanked.stdout)
    assert thanked.stdout.startswith("delivered to support@example.com: ") and thanks_thread == thread
    headers = _headers(gmail, thanks)
    assert headers["subject"] == "Re: Invoice 1042" and headers["from"] == CUSTOMER
    assert headers["references"].split() == [asked_headers["message-id"], sent["message-id"]]
    messages = gmail.threads().get(userId="me", id=thread, format="minimal").execute()["messages"]
    assert [m["id"] for m in messages] == [question, answer, thanks]


def test_a_team_member_sends_from_her_own_mailbox_with_the_body_from_stdin(sandbox, gmail):
    url = ["--endpoint", sandbox.url]
    first = invoke(
        ["sandbox", "send", *url, "--from", "colleague@example.com", "--to", "support@example.com"]
        + ["--subject", "Crash in 4.2", "-"],
        input="Stack trace attached.\n",
    )
    own, own_thread = _sent(first.stdout)
    assert first.stdout.startswith("sent by colleague@example.com: ")
    colleague = gmail.messages().get(userId="colleague@example.com", id=own, format="raw").execute()
    assert colleague["labelIds"] == ["SENT"]
    received = gmail.messages().list(userId="me", q="subject:crash").execute()["messages"]
    assert len(received) == 1
    follow_up = invoke(
        ["sandbox", "send", *url, "--from", "colleague@example.com", "--to", "support@example.com"]
        + ["--reply-to-thread", own_thread, "Fixed in 4.3."]
    )
    again, again_thread = _sent(follow_up.stdout)
    assert again_thread == own_thread
    again_headers = (
        gmail.messages()
        .get(userId="colleague@example.com", id=again, format="metadata", metadataHeaders=["Subject", "In-Reply-To"])
        .execute()["payload"]["headers"]
    )
    assert {h["name"]: h["value"] for h in again_headers}["Subject"] == "Re: Crash in 4.2"
    in_support = gmail.messages().list(userId="me", q="subject:crash").execute()["messages"]
    assert len({m["threadId"] for m in in_support}) == 1 and len(in_support) == 2


def test_send_and_reply_refuse_bad_input_in_one_line(sandbox):
    url = ["--endpoint", sandbox.url]
    cases = [
        (["send", "--from", "ann", "--to", "support@example.com", "--subject", "S", "x"], 2, "--from: 'ann' is not"),
        (["send", "--from", CUSTOMER, "--to", "bob@else.example", "--subject", "S", "x"], 2, "--to: none of"),
        (["send", "--from", CUSTOMER, "--to", "support@example.com", "x"], 2, "--subject is needed"),
        (["reply", "nosuchthread0000", "--from", "support@example.com", "x"], 1, "reading thread nosuchthread0000"),
    ]
    for args, code, message in cases:
        result = invoke(["sandbox", args[0], *url, *args[1:]], expect=code)
        assert result.stderr.startswith(f"Error: {message}"), result.stderr
    assert (
        "Hint: The sandbox's mailboxes: colleague@example.com, support@example.com."
        in invoke(
            ["sandbox", "send", *url, "--from", CUSTOMER, "--to", "bob@else.example", "--subject", "S", "x"], expect=2
        ).stderr
    )
    assert sandbox.control.status() and sandbox.control.outbox("support@example.com") == []


def test_deliver_prints_label_names_and_refuses_what_is_not_a_message(sandbox, gmail, tmp_path):
    label = gmail.labels().create(userId="me", body={"name": "Dept/Billing"}).execute()
    gmail.settings().filters().create(
        userId="me", body={"criteria": {"subject": "invoice"}, "action": {"addLabelIds": [label["id"]]}}
    ).execute()
    good = tmp_path / "question.eml"
    good.write_bytes(
        build_message(from_=CUSTOMER, to=["support@example.com"], subject="Invoice 7", text="Hi", date_ms=0)
    )
    desk = tmp_path / "desk.yaml"
    desk.write_text("mailbox: support@example.com\ndepartments:\n  - name: Billing\n    sla: 4h\n")
    prose = tmp_path / "notes.txt"
    prose.write_text("Remember to refund Ann.\n\nFrom: nobody\n")
    for wrong, why in ((desk, "no From header"), (prose, "it does not start with a header")):
        refused = invoke(["sandbox", "deliver", "--endpoint", sandbox.url, str(good), str(wrong)], expect=2)
        assert refused.stderr.splitlines()[0] == f"Error: {wrong}: not an RFC 822 message ({why}" + (
            "; Gmail refuses such mail)" if wrong is desk else " such as 'From: ...')"
        )
        assert refused.stdout == ""
    assert gmail.getProfile(userId="me").execute()["messagesTotal"] == 0  # nothing half-delivered
    delivered = invoke(["sandbox", "deliver", "--endpoint", sandbox.url, str(good)])
    assert delivered.stdout.endswith(" [INBOX Dept/Billing UNREAD]\n"), delivered.stdout  # Label_N's name


def test_mail_to_a_send_as_alias_reaches_the_mailbox_owning_it(sandbox, gmail):
    gmail.settings().sendAs().create(userId="me", body={"sendAsEmail": "billing@example.com"}).execute()
    sandbox.control.verify_send_as("support@example.com", "billing@example.com")
    sent = invoke(
        ["sandbox", "send", "--endpoint", sandbox.url, "--from", CUSTOMER, "--to", "billing@example.com"]
        + ["--subject", "Invoice", "Charged twice."]
    )
    assert sent.stdout.startswith("delivered to support@example.com: ")
    message_id, _ = _sent(sent.stdout)
    assert _headers(gmail, message_id)["to"] == "billing@example.com"
