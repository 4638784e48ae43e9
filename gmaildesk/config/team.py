"""desk.yaml's `team:`: plain addresses and domains, and named agents who own conversations.

A named entry (`{name: Alice, email: alice@example.com, departments: [Billing]}`) is an agent:
the label `<labels.agent_prefix><name>` marks the conversations they own. Every entry's
addresses (and an agent's aliases) count as the desk's own mail for the sweep.
"""

from __future__ import annotations

import difflib

from gmaildesk.config import desk as model
from gmaildesk.config.schema import DeskFile, TeamMember
from gmaildesk.config.yaml_source import Positions


def check_team(desk: DeskFile, positions: Positions) -> None:
    """Agent names unique ignoring case; their departments exist; an address names one agent."""
    departments = [d.name for d in desk.departments]
    names: dict[str, int] = {}
    addresses: dict[str, int] = {}
    for index, entry in enumerate(desk.team):
        if entry.name is None:
            continue
        key = " ".join(entry.name.split()).casefold()
        if key in names:
            first = names[key]
            raise positions.error(
                ("team", index, "name"),
                f"'{entry.name}' is already the name of team[{first}] (line {positions.line(('team', first))})",
                ("agent names are compared ignoring case: each is one label, Agent/<name>",),
            )
        names[key] = index
        for place, department in enumerate(entry.departments):
            if department.casefold() not in {d.casefold() for d in departments}:
                close = difflib.get_close_matches(department, departments, n=1)
                hint = f"did you mean '{close[0]}'?" if close else _known(departments)
                raise positions.error(
                    ("team", index, "departments", place), f"no department '{department}' in this desk", (hint,)
                )
        mine = [("email", entry.email)] if entry.email is not None else []
        for key_name, address in [*mine, *(("aliases", a) for a in entry.aliases)]:
            folded = address.casefold()
            if folded in addresses and addresses[folded] != index:
                raise positions.error(
                    ("team", index, key_name),
                    f"'{address}' already belongs to team[{addresses[folded]}]",
                    ("a reply from that address names its agent: it can name only one",),
                )
            addresses[folded] = index
    _check_assigning(desk, positions)


def _check_assigning(desk: DeskFile, positions: Positions) -> None:
    """A department that assigns needs a named agent who takes its conversations."""
    for index, department in enumerate(desk.departments):
        if department.assign == "none":
            continue
        folded = department.name.casefold()
        serving = [
            m
            for m in desk.team
            if m.name is not None and (not m.departments or folded in {d.casefold() for d in m.departments})
        ]
        if not serving:
            raise positions.error(
                ("departments", index, "assign"),
                f"{department.assign} needs an agent, and no named team member takes {department.name}'s mail",
                (f"add to team: - {{name: Alice, email: alice@example.com, departments: [{department.name}]}}",),
            )


def _known(departments: list[str]) -> str:
    return f"departments of this desk: {', '.join(departments)}" if departments else "this desk has no departments"


def resolve_team(desk: DeskFile) -> model.Team:
    """Addresses and domains (lowercase) of every entry, and the named agents in desk.yaml's order."""
    entries = desk.team
    plain = [e.email for e in entries if e.email is not None] + [a for e in entries for a in e.aliases]
    addresses = tuple(dict.fromkeys(e.lower() for e in plain if "@" in e.lstrip("@")))
    domains = tuple(dict.fromkeys(e.lower().lstrip("@") for e in plain if "@" not in e.lstrip("@")))
    canonical = {d.name.casefold(): d.name for d in desk.departments}
    agents = tuple(_agent(e, desk.labels.agent_prefix, canonical) for e in entries if e.name is not None)
    return model.Team(addresses, domains, agents)


def _agent(entry: TeamMember, prefix: str, canonical: dict[str, str]) -> model.Agent:
    assert entry.name is not None
    name = " ".join(entry.name.split())
    return model.Agent(
        name=name,
        email=entry.email.lower() if entry.email is not None else None,
        label=prefix + name,
        departments=tuple(canonical[d.casefold()] for d in entry.departments),
        aliases=tuple(a.lower() for a in entry.aliases),
        away=entry.away,
    )
