"""Replies from templates as Gmail drafts: the typed drafts calls, `templates`, `reply`, `drafts`, collisions.

Through the CLI against the sandbox, read back with the real client: the draft's place in the conversation,
its threading headers, alias and signature; --send; missing variables; unknown templates; another agent's
draft (exit 4) and --force."""

from __future__ import annotations

import base64
import sqlite3
from email import message_from_bytes
from email.policy import default
from pathlib import Path
from typing import Any

import pytest

from cli_run import invoke
from gmaildesk.errors import ExitCode
from gmaildesk.gmail import connect, scopes
from gmaildesk.gmail.api import HttpGmailApi
from gmaildesk.gmail.connection import ConnectionOptions
from gmaildesk.paths import Account
from gmaildesk.sandbox.mime import b64url_decode, build_message, parse
from gmaildesk.sweep.store import store_path

SUPPORT = "support@example.com"
DESK = """\
version: 1
mailbox: support@example.com
team:
  - {name: Alice, email: alice@example.com}
  - {name: Bob, email: bob@example.com}
vars:
  company: Acme
  hours: "Mon-Fri 9:00-17:00"
departments:
  - name: Billing
    routes: [{to: billing@example.com}]
    alias: billing@example.com
send_as:
  - address: billing@example.com
    display_name: Acme Billing
    signature: "<b>{{ alias.display_name }}</b><br>{{ alias.address }}"
"""


def _raw(subject: str, message_id: str, date_ms: int, to: str = "billing@example.com") -> bytes:
    return build_message(
        from_="Ann Example <ann@customer.example>",
        to=[to],
        subject=subject,
        text="I was charged twice for order 1042.",
        date_ms=date_ms,
        message_id=message_id,
    )


# ---- the typed boundary ------------------------------------------------------------------------
def test_drafts_calls_through_http_gmail_api(sandbox: Any) -> None:
    api = HttpGmailApi(connect(ConnectionOptions(endpoint=sandbox.url), scopes.SWEEP))
    question = sandbox.control.deliver(SUPPORT, _raw("Invoice", "<q@customer.example>", 1_700_000_000_000))
    reply = build_message(
        from_=SUPPORT,
        to=["ann@customer.example"],
        subject="Re: Invoice",
        text="Looking into it.",
        date_ms=1_700_000_060_000,
        in_reply_to="<q@customer.example>",
        references=["<q@customer.example>"],
    )
    draft = api.create_draft(reply, question["threadId"])
    assert draft.id.startswith("r-") and draft.thread_id == question["threadId"]
    assert api.drafts() == [draft]
    updated = api.update_draft(draft.id, reply, question["threadId"])
    assert updated.id == draft.id and updated.message_id != draft.message_id
    sent = api.send_draft(draft.id)
    assert sent.thread_id == question["threadId"] and sent.label_ids == frozenset({"SENT"})
    assert api.drafts() == []
    assert api.usage().by_method == {
        "users.drafts.create": 1,
        "users.drafts.list": 2,
        "users.drafts.update": 1,
        "users.drafts.send": 1,
    }


# ---- the desk and its mailbox ------------------------------------------------------------------
class Desk:
    """DESK (with `gmaildesk init`'s example templates) applied on the sandbox; mail in, the CLI, Gmail read back."""

    def __init__(self, sandbox: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.setenv("GMAILDESK_DATA_DIR", str(tmp_path / "data"))
        monkeypatch.delenv("GMAILDESK_AGENT", raising=False)
        self.folder = tmp_path / "desk"
        invoke(["init", str(self.folder)])
        self.path = self.folder / "desk.yaml"
        self.path.write_text(DESK)
        self.args = ["-c", str(self.path), "--endpoint", sandbox.url]
        self.sandbox = sandbox
        invoke(["apply", *self.args, "--yes", "--skip-tests"])
        self.client = connect(ConnectionOptions(endpoint=sandbox.url), scopes.SWEEP)
        self.users = self.client.users()
        self.n = 0

    def deliver(self, subject: str = "Invoice 1042 charged twice", to: str = "billing@example.com") -> str:
        self.n += 1
        now = int(self.sandbox.control.clock()["nowMs"])
        answer = self.sandbox.control.deliver(SUPPORT, _raw(subject, f"<q{self.n}@customer.example>", now, to))
        self.sandbox.control.advance_clock(60)
        return str(answer["threadId"])

    def reply(self, thread: str, *args: str, expect: int = ExitCode.OK, env: dict[str, str] | None = None) -> Any:
        return invoke(["reply", thread, *args, *self.args], expect=expect, env=env)

    def drafts(self) -> list[dict[str, Any]]:
        return list(self.client.execute(self.users.drafts().list(userId="me")).get("drafts", []))

    def raw_of(self, message_id: str) -> bytes:
        message = self.client.execute(self.users.messages().get(userId="me", id=message_id, format="raw"))
        return b64url_decode(message["raw"])

    def thread(self, thread_id: str) -> list[dict[str, Any]]:
        answer = self.client.execute(self.users.threads().get(userId="me", id=thread_id, format="minimal"))
        return list(answer["messages"])

    def store(self) -> sqlite3.Connection:
        return sqlite3.connect(store_path(Account(self.sandbox.url, SUPPORT)))


@pytest.fixture
def desk(sandbox: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Desk:
    return Desk(sandbox, tmp_path, monkeypatch)


def _text(raw: bytes) -> str:
    message = parse(raw)
    return message.text


# ---- templates ---------------------------------------------------------------------------------
def test_init_writes_reply_templates_that_templates_lists(desk: Desk) -> None:
    listed = invoke(["templates", "-c", str(desk.path)]).stdout.splitlines()
    assert listed == [
        "closing  (text, html)  uses agent.name, company, customer.name, hours",
        "need-more-info  (text)  uses agent.name, company, customer.name, subject, ticket",
        "refund-received  (text)  uses agent.name, amount, company, customer.name, ticket",
    ]


def test_templates_without_a_replies_folder(tmp_path: Path) -> None:
    (tmp_path / "desk.yaml").write_text(DESK)
    result = invoke(["templates", "-c", str(tmp_path / "desk.yaml")])
    assert result.stdout == f"No reply templates in {tmp_path / 'templates' / 'replies'}.\n"


# ---- reply -------------------------------------------------------------------------------------
def test_reply_leaves_a_threaded_draft_from_the_alias_with_its_signature(desk: Desk) -> None:
    thread = desk.deliver()
    invoke(["sweep", *desk.args, "--quiet"])
    result = desk.reply(thread, "--template", "refund-received", "--var", "amount=12.50 EUR", "--agent", "alice")
    [draft] = desk.drafts()
    assert result.stdout.splitlines() == [
        f"{thread}: draft saved (draft {draft['id']})",
        "  from billing@example.com to ann@customer.example: Re: Invoice 1042 charged twice",
        "  owner: Alice",
        "  review it in Gmail's Drafts, or send it with --send",
    ]
    assert draft["message"]["threadId"] == thread
    assert [m["id"] for m in desk.thread(thread)][-1] == draft["message"]["id"]
    raw = desk.raw_of(draft["message"]["id"])
    message = parse(raw)
    assert message.header("From") == "Acme Billing <billing@example.com>"
    assert message.header("To") == "Ann Example <ann@customer.example>"
    assert message.header("Subject") == "Re: Invoice 1042 charged twice"
    assert message.header("In-Reply-To") == "<q1@customer.example>"
    assert message.header("References") == "<q1@customer.example>"
    assert message.header("X-Gmaildesk-Agent") == "Alice"
    body = _text(raw)
    assert body.startswith("Hello Ann Example,\n\nwe have refunded 12.50 EUR to the card")
    assert "Alice, Acme Support" in body
    assert body.rstrip().endswith("-- \nAcme Billing\nbilling@example.com")
    # The replying agent owns the conversation nobody owned: the store and the Agent/ label say so.
    with desk.store() as db:
        assert db.execute("SELECT agent, how FROM owners WHERE thread_id = ?", (thread,)).fetchall() == [
            ("Alice", "command")
        ]


def test_send_threads_it_and_it_shows_as_sent(desk: Desk) -> None:
    thread = desk.deliver()
    result = desk.reply(thread, "-t", "closing", "--send", env={"GMAILDESK_AGENT": "Bob"})
    messages = desk.thread(thread)
    assert [m["labelIds"] for m in messages][-1] == ["SENT"]
    assert result.stdout.splitlines()[0] == f"{thread}: sent (message {messages[-1]['id']})"
    assert "owner: not set (the conversation is not in the sweep store yet" in result.stdout
    assert desk.drafts() == []
    [entry] = desk.sandbox.control.outbox(SUPPORT, include_raw=True)
    sent = parse(b64url_decode(entry["raw"]))
    assert entry["to"] == ["ann@customer.example"]
    assert sent.header("In-Reply-To") == "<q1@customer.example>"
    assert sent.header("X-Gmaildesk-Agent") == "Bob"
    html = message_from_bytes(b64url_decode(entry["raw"]), policy=default).get_body(("html",))
    assert html is not None
    content = html.get_content()
    assert content.startswith("<p>Hello Ann Example,</p>")
    assert '<div class="gmail_signature">-- <br><b>Acme Billing</b><br>billing@example.com</div>' in content


def test_a_missing_variable_is_one_line_naming_it_and_no_draft_is_written(desk: Desk) -> None:
    thread = desk.deliver()
    result = desk.reply(thread, "-t", "refund-received", "--agent", "Alice", expect=ExitCode.ERROR)
    lines = result.stderr.splitlines()
    assert lines[0] == "Error: templates/replies/refund-received.txt.j2:7: 'amount' is undefined"
    assert lines[1].startswith("Hint: variables given: agent.email, agent.name, company, customer.email")
    assert lines[-1] == "Hint: pass one yourself with --var NAME=VALUE"
    assert desk.drafts() == []


def test_ticket_is_given_once_the_conversation_has_one(desk: Desk) -> None:
    (desk.folder / "templates" / "replies" / "ticket.txt.j2").write_text("Your ticket: {{ ticket }}\n")
    thread = desk.deliver()
    result = desk.reply(thread, "-t", "ticket", "--agent", "Alice", expect=ExitCode.ERROR)  # not swept yet
    assert result.stderr.splitlines()[0] == "Error: templates/replies/ticket.txt.j2:1: 'ticket' is undefined"
    assert "Hint: no ticket number yet: the first sweep that knows the conversation numbers it" in (
        result.stderr.splitlines()
    )
    assert desk.drafts() == []
    invoke(["sweep", *desk.args, "--quiet"])
    with desk.store() as db:
        (number,) = db.execute("SELECT number FROM tickets WHERE thread_id = ?", (thread,)).fetchone()
    # the ticket names the conversation too; `me` is $GMAILDESK_AGENT
    result = desk.reply(f"#{number}", "-t", "ticket", "--agent", "me", env={"GMAILDESK_AGENT": "alice"})
    assert result.stdout.startswith(f"{thread}: draft saved")
    [draft] = desk.drafts()
    assert draft["message"]["threadId"] == thread
    assert _text(desk.raw_of(draft["message"]["id"])).startswith(f"Your ticket: {number}\n\n-- \n")
    unknown = desk.reply(f"#{number + 1}", "-t", "ticket", "--agent", "Alice", expect=ExitCode.ERROR)
    assert unknown.stderr.splitlines()[0] == (
        f"Error: no conversation has ticket #{number + 1} in the sweep store of support@example.com"
    )


@pytest.mark.parametrize(
    ("args", "env", "message", "hint"),
    [
        (["-t", "closng", "--agent", "Alice"], None, "no reply template 'closng' in", "did you mean 'closing'?"),
        (
            ["-t", "thanks", "--agent", "Alice"],
            None,
            "no reply template 'thanks' in",
            "reply templates of this desk: closing, need-more-info, refund-received (`gmaildesk templates` lists them)",
        ),
        (["-t", "closing", "--agent", "Alcie"], None, "no agent 'Alcie' in", "did you mean 'Alice'?"),
        (["-t", "closing"], None, "who is replying? name yourself with --agent NAME or $GMAILDESK_AGENT", None),
        (["-t", "closing", "--var", "1st=x"], {"GMAILDESK_AGENT": "Bob"}, "--var '1st=x': expected key=value", None),
        (["-t", "closing", "--var", "amount"], {"GMAILDESK_AGENT": "Bob"}, "--var 'amount': expected key=value", None),
    ],
)
def test_usage_errors_before_any_gmail_call(
    desk: Desk, args: list[str], env: dict[str, str] | None, message: str, hint: str | None
) -> None:
    thread = desk.deliver()
    desk.sandbox.control.reset_counters()
    result = desk.reply(thread, *args, expect=ExitCode.USAGE, env=env)
    assert result.stderr.splitlines()[0].startswith(f"Error: {message}")
    if hint:
        assert f"Hint: {hint}" in result.stderr.splitlines()
    assert desk.sandbox.control.counters()["total_calls"] == 0


def test_an_unknown_conversation_is_an_error(desk: Desk) -> None:
    result = desk.reply("18c2f0a1b2c3d4e5", "-t", "closing", "--agent", "Alice", expect=ExitCode.ERROR)
    assert result.stderr.splitlines()[0] == "Error: no conversation 18c2f0a1b2c3d4e5 in support@example.com"


def test_the_address_the_customer_wrote_to_when_the_department_has_no_alias(desk: Desk) -> None:
    thread = desk.deliver(subject="Hello", to=SUPPORT)  # no department: the mailbox answers
    desk.reply(thread, "-t", "closing", "--agent", "Alice")
    [draft] = desk.drafts()
    message = parse(desk.raw_of(draft["message"]["id"]))
    assert (message.header("From"), message.header("Subject")) == (SUPPORT, "Re: Hello")
    assert "-- " not in _text(desk.raw_of(draft["message"]["id"]))  # the mailbox has no signature in DESK


# ---- collisions --------------------------------------------------------------------------------
def test_a_second_agent_is_refused_while_the_first_draft_exists(desk: Desk) -> None:
    thread = desk.deliver()
    desk.reply(thread, "-t", "closing", "--agent", "Alice")
    [alices] = desk.drafts()
    result = desk.reply(thread, "-t", "closing", "--agent", "Bob", expect=ExitCode.DRAFT_CONFLICT)
    assert int(ExitCode.DRAFT_CONFLICT) == 4
    first = result.stderr.splitlines()[0]
    assert first.startswith(f"Error: conversation {thread} already has a draft by Alice since ")
    assert first.endswith(" UTC")
    assert desk.drafts() == [alices]
    listed = invoke(["drafts", thread, *desk.args]).stdout
    assert listed.startswith(f"{alices['id']}  Alice  since ")
    # Alice again: her draft is replaced, never doubled
    again = desk.reply(thread, "-t", "need-more-info", "--agent", "Alice")
    assert f"{thread}: replaced your draft (draft {alices['id']})" in again.stdout
    [replaced] = desk.drafts()
    assert replaced["id"] == alices["id"] and replaced["message"]["id"] != alices["message"]["id"]
    # Bob with --force: his own draft beside hers
    forced = desk.reply(thread, "-t", "closing", "--agent", "Bob", "--force")
    assert "also in the conversation: a draft by Alice" in forced.stdout
    assert len(desk.drafts()) == 2


def test_a_draft_written_in_gmail_counts_as_someone_elses(desk: Desk) -> None:
    thread = desk.deliver()
    raw = build_message(
        from_=SUPPORT,
        to=["ann@customer.example"],
        subject="Re: Invoice 1042 charged twice",
        text="Typed in Gmail.",
        date_ms=int(desk.sandbox.control.clock()["nowMs"]),
        in_reply_to="<q1@customer.example>",
        references=["<q1@customer.example>"],
    )
    body = {"message": {"raw": base64.urlsafe_b64encode(raw).decode(), "threadId": thread}}
    desk.client.execute(desk.users.drafts().create(userId="me", body=body))
    result = desk.reply(thread, "-t", "closing", "--agent", "Alice", expect=ExitCode.DRAFT_CONFLICT)
    assert "already has a draft by someone in Gmail (no gmaildesk agent recorded)" in result.stderr
    assert "written in Gmail  since" in invoke(["drafts", thread, *desk.args]).stdout


def test_drafts_of_a_conversation_without_any(desk: Desk) -> None:
    thread = desk.deliver()
    assert invoke(["drafts", thread, *desk.args]).stdout == f"No drafts in conversation {thread}.\n"


def test_the_example_templates_ship_in_the_repository_too() -> None:
    package = Path(__file__).resolve().parents[1] / "gmaildesk" / "data" / "templates" / "replies"
    copies = Path(__file__).resolve().parents[1] / "templates" / "replies"
    assert {p.name: p.read_bytes() for p in package.iterdir()} == {p.name: p.read_bytes() for p in copies.iterdir()}


def test_reply_answers_the_reply_to_address_and_keeps_a_re_subject(desk: Desk) -> None:
    raw = build_message(
        from_="=?utf-8?q?Ren=C3=A9e_M=C3=BCller?= <renee@customer.example>",
        to=["billing@example.com"],
        subject="Re: Your invoice",
        text="Please answer my assistant.",
        date_ms=int(desk.sandbox.control.clock()["nowMs"]),
        message_id="<r1@customer.example>",
        references=["<older@example.com>"],
        extra_headers=[("Reply-To", "assistant@customer.example")],
    )
    thread = desk.sandbox.control.deliver(SUPPORT, raw)["threadId"]
    desk.reply(thread, "-t", "closing", "--agent", "Bob")
    [draft] = desk.drafts()
    message = parse(desk.raw_of(draft["message"]["id"]))
    assert message.header("To") == "Renée Müller <assistant@customer.example>"
    assert message.header("Subject") == "Re: Your invoice"
    assert message.header("References") == "<older@example.com> <r1@customer.example>"
    assert _text(desk.raw_of(draft["message"]["id"])).startswith("Hello Renée Müller,")


# ---- the templates module, offline -------------------------------------------------------------
def _templates(tmp_path: Path, files: dict[str, str]) -> Path:
    folder = tmp_path / "templates" / "replies"
    folder.mkdir(parents=True)
    for name, text in files.items():
        (folder / name).write_text(text)
    return tmp_path


def test_variables_used_are_dotted_where_a_field_is_read(tmp_path: Path) -> None:
    from gmaildesk.team.reply_templates import find_template, variables_used

    folder = _templates(
        tmp_path,
        {
            "a.txt.j2": "{{ customer.name }} {{ customer }} {% for d in departments %}{{ d.name }}{% endfor %}",
            "a.html.j2": "<p>{{ agent.name|upper }} {% set local = 1 %}{{ local }} {{ order }}</p>",
        },
    )
    assert variables_used(folder, find_template(folder, "a")) == [
        "agent.name",
        "customer",
        "customer.name",
        "departments",
        "order",
    ]


def test_an_html_only_template_gets_a_text_part_and_escapes_variables(tmp_path: Path) -> None:
    from gmaildesk.team.reply_templates import find_template, render

    folder = _templates(tmp_path, {"h.html.j2": "<p>Hello {{ name }},</p><p>done.<br>Bye</p>"})
    text, html = render(folder, find_template(folder, "h"), {"name": "<Ann & co>"})
    assert html == "<p>Hello &lt;Ann &amp; co&gt;,</p><p>done.<br>Bye</p>"
    assert text == "Hello <Ann & co>,\ndone.\nBye\n"


@pytest.mark.parametrize(
    ("files", "message"),
    [
        (
            {"x.txt.j2": "Hi\n{% if %}\n"},
            "templates/replies/x.txt.j2:2: Expected an expression, got 'end of statement block'",
        ),
        (
            {"x.txt.j2": "Hi\n{% include 'templates/replies/part.txt.j2' %}\n", "part.txt.j2": "a\nb {{ nope }}\n"},
            "templates/replies/part.txt.j2:2: 'nope' is undefined",
        ),
        ({"x.txt.j2": "{{ customer.phone }}"}, "templates/replies/x.txt.j2:1: 'dict object' has no attribute 'phone'"),
    ],
)
def test_template_errors_are_one_line_with_file_and_line(tmp_path: Path, files: dict[str, str], message: str) -> None:
    from gmaildesk.errors import GmailDeskError
    from gmaildesk.team.reply_templates import find_template, render

    folder = _templates(tmp_path, files)
    with pytest.raises(GmailDeskError) as caught:
        render(folder, find_template(folder, "x"), {"customer": {"name": "Ann"}})
    assert caught.value.message == message


def test_a_signature_with_its_own_delimiter_gets_no_second_one(desk: Desk) -> None:
    desk.path.write_text(
        DESK.replace('"<b>{{ alias.display_name }}</b>', '"<div>--<br><b>{{ alias.display_name }}</b>')
    )
    thread = desk.deliver()
    desk.reply(thread, "-t", "closing", "--agent", "Alice")
    [draft] = desk.drafts()
    raw = desk.raw_of(draft["message"]["id"])
    assert _text(raw).rstrip().endswith("Alice, Acme Support\n\n--\nAcme Billing\nbilling@example.com")
    html = message_from_bytes(raw, policy=default).get_body(("html",))
    assert html is not None
    assert '<div class="gmail_signature"><div>--<br><b>Acme Billing</b>' in html.get_content()


def test_a_running_sweep_leaves_the_owner_unset_but_the_draft_written(desk: Desk) -> None:
    from gmaildesk.lock import AccountLock

    thread = desk.deliver()
    invoke(["sweep", *desk.args, "--quiet"])
    with AccountLock(Account(desk.sandbox.url, SUPPORT), "sweep"):
        result = desk.reply(thread, "-t", "closing", "--agent", "Bob")
    assert "  owner: not set (a sweep or apply was running; `gmaildesk assign` sets it)" in result.stdout.splitlines()
    assert len(desk.drafts()) == 1
    with desk.store() as db:
        assert db.execute("SELECT agent FROM owners WHERE thread_id = ?", (thread,)).fetchall() == []


def test_show_lists_the_drafts_and_whose_they_are_with_drafts(desk: Desk) -> None:
    thread = desk.deliver()
    invoke(["sweep", *desk.args])
    desk.reply(thread, "-t", "closing", "--agent", "Alice")
    [alices] = desk.drafts()
    offline = invoke(["show", thread, *desk.args]).stdout
    assert "Drafts" not in offline  # the audit stays offline unless asked
    shown = invoke(["show", thread, "--drafts", *desk.args]).stdout
    assert thread in shown.splitlines()[0]
    assert f"Drafts (live):\n{alices['id']}  Alice  since " in shown


def test_a_collision_names_the_time_in_the_desks_timezone(desk: Desk) -> None:
    desk.path.write_text(DESK + "timezone: Europe/Paris\n")
    thread = desk.deliver()
    desk.reply(thread, "-t", "closing", "--agent", "Alice")
    refused = desk.reply(thread, "-t", "closing", "--agent", "Bob", expect=ExitCode.DRAFT_CONFLICT)
    assert refused.stderr.splitlines()[0].endswith((" CET", " CEST"))
    assert invoke(["drafts", thread, *desk.args]).stdout.rstrip().endswith((" CET", " CEST"))
