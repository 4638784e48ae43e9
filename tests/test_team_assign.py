"""Assignment: named agents in `team:`, their Agent/ labels, the sweep's rotation, replies, hand-set labels,
`gmaildesk assign`, and the audit by agent. Config first, then scenarios through the CLI on the sandbox."""

from __future__ import annotations

from pathlib import Path
from textwrap import dedent

import pytest

from gmaildesk.config import load_desk
from gmaildesk.errors import GmailDeskError

HEAD = "version: 1\nmailbox: support@example.com\n"
BILLING = "departments:\n  - name: Billing\n    routes: [{to: billing@example.com}]\n    assign: round_robin\n"


def _load(tmp_path: Path, text: str):
    path = tmp_path / "desk.yaml"
    path.write_text(dedent(text))
    return load_desk(path)


def _error(tmp_path: Path, text: str) -> GmailDeskError:
    with pytest.raises(GmailDeskError) as caught:
        _load(tmp_path, text)
    return caught.value


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
