"""Assignment: named agents in `team:`, their Agent/ labels, the sweep's rotation, replies, hand-set labels,
`gmaildesk assign`, and the audit by agent. Config first, then scenarios through the CLI on the sandbox."""

from __future__ import annotations

import base64
import json
import sqlite3
from pathlib import Path
from typing import Any

import pytest

from cli_run import invoke
from desk_text import HEAD
from desk_text import load_error as _error
from desk_text import load_text as _load
from gmaildesk.config import load_desk
from gmaildesk.errors import ExitCode
from gmaildesk.gmail import connect, scopes
from gmaildesk.gmail.connection import ConnectionOptions
from gmaildesk.paths import Account
from gmaildesk.sandbox.mime import build_message
from gmaildesk.sweep.store import store_path

SUPPORT = "support@example.com"

BILLING = "departments:\n  - name: Billing\n    routes: [{to: billing@example.com}]\n    assign: round_robin\n"


# --- config ------------------------------------------------------------------------------------------------
def test_named_agents_plain_addresses_and_domains_load_together(tmp_path: Path) -> None:
    desk = _load(
        tmp_path,
        HEAD
        + "team:\n  - lead@partner.example\n  - '@staff.example.com'\n"
        + "  - {name: Alice, email: Alice@Example.com, departments: [billing], aliases: [alice.b@example.com]}\n"
        + "  - {name: '  Bob  Smith ', email: bob@example.com, away: true}\n"
        + "labels: {agent_prefix: 'Team/'}\n"
        + BILLING,
    )
    alice, bob = desk.team.agents
    assert (alice.name, alice.email, alice.label, alice.departments) == (
        "Alice",
        "alice@example.com",
        "Team/Alice",
        ("Billing",),
    )
    assert alice.aliases == ("alice.b@example.com",) and not alice.away
    assert (bob.name, bob.label, bob.departments, bob.away) == ("Bob Smith", "Team/Bob Smith", (), True)
    assert bob.serves("Billing") and bob.serves("Sales") and not alice.serves("Sales")
    assert desk.team.agent("bob  SMITH") is bob and desk.team.agent("Carol") is None
    assert desk.departments[0].assign == "round_robin"
    # Every entry's mail is the desk's own: the sweep never takes a colleague for a customer.
    for address in ("lead@partner.example", "x@staff.example.com", "alice@example.com", "alice.b@example.com"):
        assert desk.is_us(address)
    assert {"Team/Alice", "Team/Bob Smith", "Team"} <= {label.name for label in desk.labels}
    assert next(label for label in desk.labels if label.name == "Team/Alice").kind == "agent"


def test_defaults_no_agents_and_no_assignment(tmp_path: Path) -> None:
    desk = _load(tmp_path, HEAD + "team: [bob@example.com]\ndepartments: [{name: Billing}]\n")
    assert desk.team.agents == () and desk.departments[0].assign == "none"
    assert desk.team.addresses == ("bob@example.com",)


def test_an_agent_may_be_named_only(tmp_path: Path) -> None:
    """What export writes (Gmail holds the name, not the address): a label and a place in the rotation,
    no reply attributed to them."""
    desk = _load(tmp_path, HEAD + "team:\n  - {name: Alice}\n  - bob@example.com\n")
    (alice,) = desk.team.agents
    assert (alice.name, alice.email, alice.label) == ("Alice", None, "Agent/Alice")
    assert desk.team.addresses == ("bob@example.com",)


@pytest.mark.parametrize(
    ("text", "message", "hint"),
    [
        (
            "team:\n  - {name: Alice, email: a@example.com}\n  - {name: alice, email: b@example.com}\n",
            "desk.yaml:5: team[1].name: 'alice' is already the name of team[0] (line 4)",
            "agent names are compared ignoring case: each is one label, Agent/<name>",
        ),
        (
            "team:\n  - {name: Alice, email: a@example.com, departments: [Biling]}\n" + BILLING,
            "desk.yaml:4: team[0].departments[0]: no department 'Biling' in this desk",
            "did you mean 'Billing'?",
        ),
        (
            "team:\n  - {name: Alice, email: a@example.com, departments: [Sales]}\n",
            "desk.yaml:4: team[0].departments[0]: no department 'Sales' in this desk",
            "this desk has no departments",
        ),
        (
            "team:\n  - {away: true}\n",
            "desk.yaml:4: team[0]: a team entry needs email: (an address or a domain), or name: for an agent",
            None,
        ),
        (
            "team:\n  - {email: a@example.com, away: true}\n",
            "desk.yaml:4: team[0].away: away is for a named agent",
            "add name: (their label is Agent/<name>)",
        ),
        (
            "team:\n  - {name: Alice, email: example.com}\n",
            "desk.yaml:4: team[0].email: an agent's email is one address, not the domain 'example.com'",
            None,
        ),
        (
            "team:\n  - {name: Alice, emial: a@example.com}\n",
            "desk.yaml:4: team[0].emial: unknown key",
            "did you mean 'email'?",
        ),
        (
            "team:\n  - 42\n",
            "desk.yaml:4: team[0]: expected an address, a domain or {name: ..., email: ...}, got the number 42",
            "e.g. - lead@partner.example, - example.com or - {name: Alice, email: alice@example.com}",
        ),
        (
            "team:\n  - {name: Alice, email: a@example.com}\n"
            "  - {name: Bob, email: b@example.com, aliases: [A@example.com]}\n",
            "desk.yaml:5: team[1].aliases: 'A@example.com' already belongs to team[0]",
            "a reply from that address names its agent: it can name only one",
        ),
        (
            "team:\n  - {name: Alice, email: a@example.com, departments: [Billing]}\n"
            + BILLING
            + "  - name: Sales\n    assign: least_open\n",
            "desk.yaml:10: departments[1].assign: least_open needs an agent, "
            "and no named team member takes Sales's mail",
            "add to team: - {name: Alice, email: alice@example.com, departments: [Sales]}",
        ),
        (
            "departments:\n  - name: Billing\n    assign: round_robbin\n",
            "desk.yaml:5: departments[0].assign: 'round_robbin' is not one of 'round_robin', 'least_open' or 'none'",
            None,
        ),
        (
            "labels: {agent_prefix: Agent}\n",
            "desk.yaml:3: labels.agent_prefix: 'Agent' must end with '/' (or be empty for top-level labels)",
            "did you mean 'Agent/'?",
        ),
        (
            "team:\n  - {name: Billing, email: a@example.com}\nlabels: {agent_prefix: 'Dept/'}\n" + BILLING,
            "desk.yaml:4: team[0].name: label 'Dept/Billing' is already the label of departments[0], line 7",
            "Gmail label names are unique regardless of case; rename one",
        ),
    ],
)
def test_team_mistakes_are_one_line_errors(tmp_path: Path, text: str, message: str, hint: str | None) -> None:
    error = _error(tmp_path, HEAD + text)
    assert error.message == message
    if hint is not None:
        assert error.hints[0] == hint


# --- scenarios on the sandbox ------------------------------------------------------------------------------
TEAM_DESK = """\
version: 1
mailbox: support@example.com
team:
  - {name: Alice, email: alice@example.com, departments: [Billing]}
  - {name: Bob, email: bob@example.com}
  - {name: Carol, email: carol@example.com, away: true}
  - lead@partner.example
departments:
  - name: Billing
    routes: [{to: billing@example.com}]
    assign: RULE
send_as:
  - address: billing@example.com
"""


class Team:
    """The sandbox mailbox of TEAM_DESK: mail in, sweeps and commands through the CLI, labels read back."""

    def __init__(self, sandbox: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, rule: str) -> None:
        monkeypatch.setenv("GMAILDESK_DATA_DIR", str(tmp_path / "data"))
        monkeypatch.delenv("GMAILDESK_AGENT", raising=False)
        self.path = tmp_path / "desk.yaml"
        self.path.write_text(TEAM_DESK.replace("RULE", rule))
        self.args = ["-c", str(self.path), "--endpoint", sandbox.url]
        self.sandbox = sandbox
        invoke(["apply", *self.args, "--yes", "--skip-tests"], expect=ExitCode.OK)
        self.client = connect(ConnectionOptions(endpoint=sandbox.url), scopes.SWEEP)
        self.users = self.client.users()
        self.n = 0

    def now(self) -> int:
        return int(self.sandbox.control.clock()["nowMs"])

    def deliver(self, frm: str, subject: str, to: str = "billing@example.com", reply_to: str | None = None) -> str:
        """A message into the mailbox; its thread id."""
        self.n += 1
        raw = build_message(
            from_=frm,
            to=[to],
            subject=subject,
            text="hello",
            message_id=f"<m{self.n}@test>",
            in_reply_to=reply_to,
            references=[reply_to] if reply_to else (),
            date_ms=self.now(),
        )
        self.sandbox.control.advance_clock(60)
        return str(self.sandbox.control.deliver(SUPPORT, raw)["threadId"])

    def send(self, thread_id: str, to: str, subject: str, reply_to: str, headers: tuple = ()) -> None:
        """The shared mailbox answers in the conversation (messages.send), e.g. with a delegate's Sender:."""
        self.n += 1
        raw = build_message(
            from_=SUPPORT,
            to=[to],
            subject=subject,
            text="answer",
            message_id=f"<m{self.n}@test>",
            in_reply_to=reply_to,
            references=[reply_to],
            extra_headers=headers,
            date_ms=self.now(),
        )
        body = {"raw": base64.urlsafe_b64encode(raw).decode(), "threadId": thread_id}
        self.client.execute(self.users.messages().send(userId="me", body=body))

    def sweep(self) -> None:
        invoke(["sweep", *self.args, "--quiet"])

    def labels(self) -> dict[str, str]:
        return {lab["name"]: lab["id"] for lab in self.client.execute(self.users.labels().list(userId="me"))["labels"]}

    def agents_on(self, thread_id: str) -> set[str]:
        """The Agent/ labels on any message of the conversation, as Gmail has them."""
        names = {v: k for k, v in self.labels().items()}
        thread = self.client.execute(self.users.threads().get(userId="me", id=thread_id, format="minimal"))
        found = {names.get(i, i) for m in thread["messages"] for i in m.get("labelIds", [])}
        return {n.removeprefix("Agent/") for n in found if n.startswith("Agent/")}

    def hand_label(self, thread_id: str, add: str | None = None, remove: str | None = None) -> None:
        """What a person does in Gmail's UI: an agent label put on / taken off the whole conversation."""
        labels = self.labels()
        body = {
            "addLabelIds": [labels[f"Agent/{add}"]] if add else [],
            "removeLabelIds": [labels[f"Agent/{remove}"]] if remove else [],
        }
        self.client.execute(self.users.threads().modify(userId="me", id=thread_id, body=body))

    def owners(self) -> dict[str, tuple[str, str]]:
        store = store_path(Account(self.sandbox.url, SUPPORT))
        db = sqlite3.connect(store)
        try:
            return {t: (a, h) for t, a, h in db.execute("SELECT thread_id, agent, how FROM owners")}
        finally:
            db.close()


@pytest.fixture
def team(sandbox: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Team:
    return Team(sandbox, tmp_path, monkeypatch, "round_robin")


def test_apply_creates_one_label_per_agent_and_then_has_nothing_to_do(team: Team) -> None:
    names = set(team.labels())
    assert {"Agent/Alice", "Agent/Bob", "Agent/Carol"} <= names
    plan = invoke(["plan", *team.args]).stdout
    assert "Agent/" not in plan


def test_round_robin_gives_two_agents_two_conversations_each(team: Team) -> None:
    customers = [team.deliver(f"c{i}@customer.test", f"Invoice {i}") for i in range(4)]
    colleague = team.deliver("alice@example.com", "Note for billing: the new price list")
    partner = team.deliver("lead@partner.example", "Our invoices for November")
    team.sweep()
    owners = [team.agents_on(t) for t in customers]
    assert owners == [{"Alice"}, {"Bob"}, {"Alice"}, {"Bob"}]  # Carol is away
    # A team member's mail into the department is the desk's own, not a customer to assign.
    assert team.agents_on(colleague) == set() and team.agents_on(partner) == set()
    assert {team.owners()[t] for t in customers} == {("Alice", "rotation"), ("Bob", "rotation")}
    # The rotation goes on where it stopped; a second sweep with nothing new assigns nothing.
    team.sweep()
    fifth = team.deliver("c5@customer.test", "Invoice 5")
    team.sweep()
    assert team.agents_on(fifth) == {"Alice"}
    assert [team.agents_on(t) for t in customers] == owners


def test_least_open_gives_the_agent_with_fewest_open_conversations(
    sandbox: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    team = Team(sandbox, tmp_path, monkeypatch, "least_open")
    first, second = team.deliver("c1@customer.test", "One"), team.deliver("c2@customer.test", "Two")
    team.sweep()
    assert [team.agents_on(first), team.agents_on(second)] == [{"Alice"}, {"Bob"}]
    invoke(["assign", second, "Alice", *team.args])  # Alice: 2 open, Bob: 0
    third, fourth = team.deliver("c3@customer.test", "Three"), team.deliver("c4@customer.test", "Four")
    team.sweep()
    assert [team.agents_on(third), team.agents_on(fourth)] == [{"Bob"}, {"Bob"}]


def test_the_first_sweep_assigns_what_awaits_an_answer_not_the_answered_history(team: Team) -> None:
    answered = team.deliver("old@customer.test", "Old question")
    team.send(answered, "old@customer.test", "Re: Old question", "<m1@test>")
    waiting = team.deliver("new@customer.test", "New question")
    team.sweep()
    assert team.agents_on(answered) == set() and team.agents_on(waiting) == {"Alice"}


def test_a_reply_by_an_agent_makes_them_the_owner(
    sandbox: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    team = Team(sandbox, tmp_path, monkeypatch, "none")
    by_address = team.deliver("ann@customer.test", "Printer offline", to=SUPPORT)
    by_delegate = team.deliver("bo@customer.test", "Refund please", to=SUPPORT)
    team.sweep()
    assert team.owners() == {}  # assign: none
    team.deliver("bob@example.com", "Re: Printer offline", to="ann@customer.test", reply_to="<m1@test>")
    # Gmail Help 138350: a delegate's mail goes out from the shared address with Sender: naming them.
    team.send(by_delegate, "bo@customer.test", "Re: Refund please", "<m2@test>", (("Sender", "alice@example.com"),))
    team.sweep()
    assert team.agents_on(by_address) == {"Bob"} and team.agents_on(by_delegate) == {"Alice"}
    assert team.owners() == {by_address: ("Bob", "reply"), by_delegate: ("Alice", "reply")}
    # An owner stays: another agent's later reply does not take the conversation.
    team.deliver("ann@customer.test", "Re: Printer offline", to=SUPPORT, reply_to="<m3@test>")
    team.deliver("alice@example.com", "Re: Printer offline", to="ann@customer.test", reply_to="<m5@test>")
    team.sweep()
    assert team.agents_on(by_address) == {"Bob"}


def test_a_hand_set_agent_label_wins_and_survives_sweeps(team: Team) -> None:
    first, second = team.deliver("c1@customer.test", "One"), team.deliver("c2@customer.test", "Two")
    team.sweep()
    assert team.agents_on(first) == {"Alice"}
    team.hand_label(first, add="Bob")  # a colleague hands it to Bob in Gmail
    team.sweep()
    assert team.agents_on(first) == {"Bob"}  # Alice's label was gmaildesk's: removed; Bob's kept
    assert team.owners()[first] == ("Bob", "hand")
    team.deliver("c1@customer.test", "Re: One", reply_to="<m1@test>")
    team.sweep()
    team.sweep()
    assert team.agents_on(first) == {"Bob"} and team.owners()[first] == ("Bob", "hand")
    # Taken off by hand: nobody owns it, and the sweep does not hand it out again.
    team.hand_label(second, remove="Bob")
    team.sweep()
    team.sweep()
    assert team.agents_on(second) == set() and second not in team.owners()


def test_assign_and_assign_none(team: Team) -> None:
    thread = team.deliver("c1@customer.test", "One")
    team.sweep()
    assert team.agents_on(thread) == {"Alice"}
    result = invoke(["assign", thread, "bob", *team.args])
    assert result.stdout == f"{thread}: Alice -> Bob\n"
    assert team.agents_on(thread) == {"Bob"} and team.owners()[thread] == ("Bob", "command")
    assert invoke(["assign", thread, "Bob", *team.args]).stdout == f"{thread}: already Bob; nothing changed\n"
    assert invoke(["assign", f"https://mail.google.com/mail/#all/{thread}", "--none", *team.args]).stdout == (
        f"{thread}: Bob -> unassigned\n"
    )
    assert team.agents_on(thread) == set() and thread not in team.owners()
    team.sweep()
    assert team.agents_on(thread) == set()


@pytest.mark.parametrize(
    ("args", "env", "message", "hint"),
    [
        (["Alicia"], {}, "Error: no agent 'Alicia' in", "Hint: did you mean 'Alice'?"),
        (["Zed"], {}, "Error: no agent 'Zed' in", "Hint: agents of this desk: Alice, Bob, Carol"),
        ([], {}, "Error: give an AGENT or --none (not both)", "Hint: e.g. gmaildesk assign THREAD Alice"),
        (["Bob", "--none"], {}, "Error: give an AGENT or --none (not both)", None),
        (["me"], {}, "Error: AGENT me: $GMAILDESK_AGENT is not set", "Hint: export GMAILDESK_AGENT=YourName"),
    ],
)
def test_assign_usage_errors(team: Team, args: list[str], env: dict[str, str], message: str, hint: str | None) -> None:
    thread = team.deliver("c1@customer.test", "One")
    team.sweep()
    result = invoke(["assign", thread, *args, *team.args], expect=ExitCode.USAGE, env=env)
    assert result.stdout == "" and result.stderr.startswith(message)
    if hint is not None:
        assert hint in result.stderr
    assert team.agents_on(thread) == {"Alice"}


def test_assign_by_ticket_number(team: Team) -> None:
    thread = team.deliver("c1@customer.test", "One")
    team.sweep()
    number = _json(["show", thread, *team.args, "--json"])["thread"]["ticket"]
    assert invoke(["assign", f"#{number}", "Bob", *team.args]).stdout == f"{thread}: Alice -> Bob\n"
    result = invoke(["assign", "999", "Bob", *team.args], expect=ExitCode.ERROR)
    assert result.stderr.startswith("Error: no conversation has ticket number 999 in the sweep store")


def test_assign_me_is_the_agent_named_in_the_environment(team: Team) -> None:
    thread = team.deliver("c1@customer.test", "One")
    team.sweep()
    invoke(["assign", thread, "me", *team.args], env={"GMAILDESK_AGENT": "Carol"})
    assert team.agents_on(thread) == {"Carol"}


def test_assign_a_conversation_the_store_does_not_know(team: Team) -> None:
    result = invoke(["assign", "18c2f0a1b2c3d4e5", "Bob", *team.args], expect=ExitCode.ERROR)
    assert result.stderr.startswith("Error: conversation 18c2f0a1b2c3d4e5 is not in the sweep store")


def test_export_writes_the_agents_it_can_name_and_plans_empty(team: Team, tmp_path: Path) -> None:
    exported = tmp_path / "exported.yaml"
    result = invoke(["export", "-o", str(exported), "--endpoint", team.sandbox.url])
    assert "plan on the exported file is not empty" not in result.stderr
    text = exported.read_text()
    assert "team:\n" in text and "  - {name: Alice}\n" in text and "  - {name: Carol}\n" in text
    assert "Gmail holds the agent's name (their label) but not their address" in text
    agents = load_desk(exported).team.agents
    assert [(a.name, a.email) for a in agents] == [("Alice", None), ("Bob", None), ("Carol", None)]
    assert "No changes" in invoke(["plan", "-c", str(exported), "--endpoint", team.sandbox.url]).stdout


# --- the audit by agent ------------------------------------------------------------------------------------
def _json(args: list[str], **kwargs: Any) -> Any:
    return json.loads(invoke(args, **kwargs).stdout)


def test_threads_and_next_by_agent(team: Team) -> None:
    customers = [team.deliver(f"c{i}@customer.test", f"Invoice {i}") for i in range(4)]
    team.sweep()
    mine = _json(["threads", *team.args, "--agent", "alice", "--json"])["threads"]
    assert [(t["thread"], t["owner"]) for t in mine] == [(customers[0], "Alice"), (customers[2], "Alice")]
    assert _json(["threads", *team.args, "--agent", "Carol", "--json"])["threads"] == []
    first = _json(["next", *team.args, "--agent", "me", "--json"], env={"GMAILDESK_AGENT": "Bob"})["thread"]
    assert (first["thread"], first["owner"]) == (customers[1], "Bob")
    shown = _json(["show", customers[3], *team.args, "--json"])["thread"]
    assert shown["owner"] == "Bob"
    assert "owner:         Bob" in invoke(["show", customers[3], *team.args]).stdout
    table = invoke(["threads", *team.args, "--format", "table"], env={"COLUMNS": "200"}).stdout
    header = next(line for line in table.splitlines() if "thread" in line and "subject" in line)
    assert "owner" in header
    assert all(("Alice" in line) != ("Bob" in line) for line in table.splitlines() if "Invoice" in line)


@pytest.mark.parametrize(
    ("command", "value", "env", "message", "hint"),
    [
        ("threads", "Alicia", {}, "Error: no agent 'Alicia' in", "Hint: did you mean 'Alice'?"),
        ("next", "me", {}, "Error: --agent me: $GMAILDESK_AGENT is not set", "Hint: export GMAILDESK_AGENT="),
        ("next", "me", {"GMAILDESK_AGENT": "Zoe"}, "Error: no agent 'Zoe' in", "Hint: agents of this desk:"),
    ],
)
def test_an_unknown_agent_is_a_usage_error(
    team: Team, command: str, value: str, env: dict[str, str], message: str, hint: str
) -> None:
    team.sweep()
    result = invoke([command, *team.args, "--agent", value], expect=ExitCode.USAGE, env=env)
    assert result.stdout == "" and result.stderr.startswith(message) and hint in result.stderr


def test_agent_me_unset_is_refused_before_the_store_is_read(team: Team) -> None:
    result = invoke(["threads", *team.args, "--agent", "me"], expect=ExitCode.USAGE)
    assert result.stderr.startswith("Error: --agent me: $GMAILDESK_AGENT is not set")


def test_report_by_agent_groups_by_owner_then_by_the_replying_address(team: Team) -> None:
    for i in range(4):
        team.deliver(f"c{i}@customer.test", f"Invoice {i}")
    unowned = team.deliver("d@customer.test", "Question", to=SUPPORT)  # no department: nobody assigned
    team.send(unowned, "d@customer.test", "Re: Question", f"<m{team.n}@test>")
    team.sweep()
    groups = _json(["report", *team.args, "--by", "agent", "--json"])["groups"]
    assert {g["key"]: g["volume"] for g in groups} == {"Alice": 2, "Bob": 2, SUPPORT: 1}


def test_status_shows_open_conversations_per_agent(team: Team) -> None:
    for i in range(4):
        team.deliver(f"c{i}@customer.test", f"Invoice {i}")
    team.deliver("d@customer.test", "Question", to=SUPPORT)
    team.sweep()
    agents = _json(["status", *team.args, "--json"])["agents"]
    assert agents == [
        {"agent": "Alice", "open": 2, "overdue": 0},
        {"agent": "Bob", "open": 2, "overdue": 0},
        {"agent": "Carol", "open": 0, "overdue": 0},
        {"agent": None, "open": 1, "overdue": 0},
    ]
    text = invoke(["status", *team.args, "--format", "tsv"]).stdout
    assert "agent\topen\toverdue\nAlice\t2\t0\nBob\t2\t0\nCarol\t0\t0\n(nobody)\t1\t0\n" in text


def test_a_run_killed_between_intent_and_label_write_is_completed_by_the_next(team: Team) -> None:
    """The owners row is written (labelled=0) before messages.batchModify: what a run killed in between
    leaves. The next sweep writes the label it meant (or confirms the one that landed), once."""
    missing, landed = team.deliver("c1@customer.test", "One"), team.deliver("c2@customer.test", "Two")
    team.sweep()
    team.hand_label(missing, remove="Alice")  # as if the batchModify never went out
    db = sqlite3.connect(store_path(Account(team.sandbox.url, SUPPORT)))
    with db:
        db.execute("UPDATE owners SET labelled = 0")
    db.close()
    team.sweep()
    assert team.agents_on(missing) == {"Alice"} and team.agents_on(landed) == {"Bob"}
    assert team.owners() == {missing: ("Alice", "rotation"), landed: ("Bob", "rotation")}
    db = sqlite3.connect(store_path(Account(team.sandbox.url, SUPPORT)))
    assert db.execute("SELECT count(*) FROM owners WHERE labelled = 0").fetchone() == (0,)
    db.close()


def test_replies_in_conversations_a_lean_first_sweep_did_not_read_make_owners_once_backfilled(
    sandbox: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A lean first sweep decides answered conversations from Gmail's listings without reading our
    replies (sweep/listed.py); the backfill reads them whole, and then who answered owns them."""
    from gmaildesk.sweep import listed_reading

    monkeypatch.setattr(listed_reading, "SAMPLE_MIN", 0)  # every conversation through the listings
    team = Team(sandbox, tmp_path, monkeypatch, "none")
    answered = []
    for i in range(30):
        thread = team.deliver(f"c{i}@customer.test", f"Question {i}", to=SUPPORT)
        sender = (("Sender", "alice@example.com"),)  # Gmail Help 138350: a delegate answers from the shared address
        team.send(thread, f"c{i}@customer.test", f"Re: Question {i}", f"<m{team.n}@test>", sender)
        answered.append(thread)
    first = _json(["sweep", *team.args, "--json", "--backfill", "0"])
    assert first["provisional"] == 30 and team.owners() == {}
    again = _json(["sweep", *team.args, "--json"])
    assert again["backfilled"] == 30 and again["corrected"] == 0
    assert team.owners() == {t: ("Alice", "reply") for t in answered}
    assert all(team.agents_on(t) == {"Alice"} for t in answered)
