"""The resolved desk: what desk.yaml asks for, validated, with templates rendered.

This is the value handed to the engine (plan/apply/sweep/test). Everything in it
is final: full label names with prefixes, colours, department routes composed
into one Gmail query, durations in seconds, rendered template text. Where a
field is ``None`` the config left it unset and the engine must not change it.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal, Protocol
from zoneinfo import ZoneInfo

LabelKind = Literal["department", "status", "filter", "parent", "agent"]
AssignRule = Literal["round_robin", "least_open", "none"]
StatusName = Literal["new", "waiting", "handled", "forwarded", "closed", "overdue"]
STATUS_NAMES: tuple[StatusName, ...] = ("new", "waiting", "handled", "forwarded", "closed", "overdue")


@dataclass(frozen=True)
class Colour:
    """A Gmail palette colour pair (lowercase ``#rrggbb``)."""

    background: str
    text: str


@dataclass(frozen=True)
class Label:
    """A label the desk owns. ``parent`` labels exist only so that Gmail nests the others."""

    name: str
    colour: Colour | None
    kind: LabelKind


@dataclass(frozen=True)
class Sla:
    """Response targets in seconds; ``None`` when the department sets none."""

    first_response: int | None = None
    next_response: int | None = None


@dataclass(frozen=True)
class Department:
    name: str
    label: str
    colour: Colour | None
    query: str  # Gmail search matching the department's mail; "" when it has no routes
    sla: Sla
    alias: str | None = None  # send-as address (or the mailbox) answers go out from; None: not set
    assign: AssignRule = "none"  # who gets a new conversation: the next agent, the least busy, nobody


@dataclass(frozen=True)
class Statuses:
    """The six status labels the sweep moves conversations through."""

    new: Label
    waiting: Label
    handled: Label
    forwarded: Label
    closed: Label
    overdue: Label
    managed: bool = True  # False: desk.yaml says `managed: false`; the labels are not created or changed

    def all(self) -> tuple[Label, ...]:
        return tuple(getattr(self, name) for name in STATUS_NAMES)


@dataclass(frozen=True)
class FilterCriteria:
    """Gmail filter criteria; all given ones must match. ``None`` means not tested."""

    from_: str | None = None
    to: str | None = None
    subject: str | None = None
    query: str | None = None
    negated_query: str | None = None
    has_attachment: bool | None = None
    size: int | None = None  # bytes
    size_comparison: Literal["larger", "smaller"] | None = None


@dataclass(frozen=True)
class FilterActions:
    label: str | None = None  # full name of the one user label Gmail lets a filter add
    archive: bool = False
    mark_read: bool = False
    star: bool = False
    important: bool | None = None  # True: mark important, False: never important
    never_spam: bool = False
    category: Literal["primary", "social", "promotions", "updates", "forums"] | None = None
    forward: str | None = None


@dataclass(frozen=True)
class Filter:
    name: str  # the config's name, or where it came from, e.g. "filters[2]" or "department Billing"
    criteria: FilterCriteria
    actions: FilterActions


@dataclass(frozen=True)
class AutoAck:
    """The vacation responder, fully owned: empty text means that part is empty in Gmail too."""

    enabled: bool
    subject: str
    body_text: str
    body_html: str
    restrict_to_contacts: bool
    restrict_to_domain: bool
    start: dt.datetime | None  # UTC
    end: dt.datetime | None  # UTC
    mode: Literal["vacation", "sweep"] = "vacation"  # sweep: the sweep sends it, the responder stays off
    max_per_sender_per_day: int = 3  # sweep mode: acknowledgements to one address in 24 hours
    templates: AckRenderer | None = None  # sweep mode: the bodies, rendered per conversation


class AckRenderer(Protocol):
    """The sweep-mode acknowledgement's bodies for one conversation (config/ack_templates.py)."""

    def render(self, variables: Mapping[str, object]) -> tuple[str, str]:
        """(plain text, HTML) rendered with the conversation's ``ticket``, ``customer``, ... added."""
        ...


@dataclass(frozen=True)
class Smtp:
    host: str
    port: int
    username: str
    security: Literal["none", "ssl", "starttls"]
    password_env: str  # read by the engine when it applies, never at load time


@dataclass(frozen=True)
class SendAs:
    address: str
    display_name: str | None
    reply_to: str | None
    signature: str | None  # rendered HTML
    default: bool
    treat_as_alias: bool
    smtp: Smtp | None


@dataclass(frozen=True)
class Quota:
    """The Cloud project's Gmail quota (desk.yaml sweep.quota; numbers from Gmail's quota page)."""

    units_per_minute: int | None = None  # per user; None: the cost table's limit for Gmail, none for a sandbox
    costs: Literal["current", "legacy"] = "current"
    daily_units: int = 80_000_000  # per project
    project_units_per_minute: int = 1_200_000


@dataclass(frozen=True)
class Sweep:
    scope: str  # Gmail query limiting which conversations the sweep looks at
    close_after: int  # seconds
    archive_closed: bool
    quota: Quota = Quota()


@dataclass(frozen=True)
class TestMessage:
    __test__ = False  # not a pytest test class

    from_: str
    to: tuple[str, ...]
    cc: tuple[str, ...]
    subject: str
    body: str
    attachments: tuple[str, ...]  # file names


@dataclass(frozen=True)
class ConfigTest:
    """A sample message and exactly the user labels the desk's filters must give it."""

    __test__ = False  # not a pytest test class

    name: str
    message: TestMessage
    labels: tuple[str, ...]


@dataclass(frozen=True)
class Agent:
    """A named team member: the conversations they own carry their label."""

    name: str
    email: str | None  # lowercase; None: desk.yaml names the agent only
    label: str  # full name, e.g. Agent/Alice
    departments: tuple[str, ...] = ()  # as desk.yaml names them; empty: every department
    aliases: tuple[str, ...] = ()  # lowercase; a reply from one of them is this agent's
    away: bool = False  # out of the rotation

    def serves(self, department: str | None) -> bool:
        return not self.departments or department in self.departments


@dataclass(frozen=True)
class Team:
    """Addresses and whole domains whose mail counts as written by the desk; the named agents."""

    addresses: tuple[str, ...]  # lowercase
    domains: tuple[str, ...]  # lowercase, without '@'
    agents: tuple[Agent, ...] = ()  # in desk.yaml's order

    def agent(self, name: str) -> Agent | None:
        """The agent called *name* (ignoring case and repeated spaces)."""
        wanted = " ".join(name.split()).casefold()
        return next((a for a in self.agents if a.name.casefold() == wanted), None)

    def includes(self, address: str) -> bool:
        address = address.strip().lower()
        domain = address.rpartition("@")[2]
        return address in self.addresses or any(domain == d or domain.endswith("." + d) for d in self.domains)


@dataclass(frozen=True)
class Desk:
    source: Path  # the desk.yaml it came from
    mailbox: str
    team: Team
    department_prefix: str
    status_prefix: str
    departments: tuple[Department, ...]
    statuses: Statuses
    filters: tuple[Filter, ...]  # the config's own filters, not department routing
    auto_ack: AutoAck | None  # None: the config does not manage the vacation responder
    send_as: tuple[SendAs, ...]
    sweep: Sweep
    tests: tuple[ConfigTest, ...]
    labels: tuple[Label, ...]  # every label the desk owns, sorted by name so parents come first
    warnings: tuple[str, ...] = ()  # one line each, ``desk.yaml:LINE: key: message``: loaded, but worth a look
    # Where people read times: tables, the HTML report, calendar dates in --since/--until, the weekly trend.
    timezone: ZoneInfo = ZoneInfo("UTC")
    # What every template of the desk gets (vars, mailbox, departments); reply templates add their own.
    template_context: Mapping[str, object] = field(default_factory=dict)

    def routing_filters(self) -> tuple[Filter, ...]:
        """One filter per department with routes: its query -> its label."""
        return tuple(
            Filter(f"department {d.name}", FilterCriteria(query=d.query), FilterActions(label=d.label))
            for d in self.departments
            if d.query
        )

    def all_filters(self) -> tuple[Filter, ...]:
        return self.routing_filters() + self.filters

    def is_us(self, address: str) -> bool:
        """Mail from this address was written by the desk: the mailbox, a send-as alias or the team."""
        address = address.strip().lower()
        return (
            address == self.mailbox.lower()
            or any(address == s.address.lower() for s in self.send_as)
            or self.team.includes(address)
        )
