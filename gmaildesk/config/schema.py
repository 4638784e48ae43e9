"""The desk.yaml file, version 1, as pydantic models: shape and single-field checks only.

Checks that need several fields at once (duplicate labels, loops, templates)
live in checks.py; the resolved value the engine uses is desk.Desk.
"""

from __future__ import annotations

import difflib
from typing import Annotated, Any, ClassVar, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    ValidatorFunctionWrapHandler,
    WrapValidator,
    field_validator,
    model_validator,
)

from gmaildesk.config import fields, quota
from gmaildesk.config.fields import (
    Account,
    Duration,
    Email,
    EnvName,
    Instant,
    NonEmpty,
    PaletteColour,
    Query,
    Size,
    TeamEntry,
    TimeZone,
    fail,
)
from gmaildesk.config.routes import check_route_value, check_words

CATEGORIES = ("primary", "social", "promotions", "updates", "forums")
ASSIGN_RULES = ("round_robin", "least_open", "none")
RESERVED_VARS = ("mailbox", "departments", "alias")


class Section(BaseModel):
    """Base of every mapping in desk.yaml: unknown keys are errors that suggest the right key."""

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)
    # Keys refused with a specific explanation, checked before anything else in the mapping.
    refused_keys: ClassVar[dict[str, tuple[str, tuple[str, ...]]]] = {}

    @model_validator(mode="before")
    @classmethod
    def _known_keys(cls, data: Any) -> Any:
        if isinstance(data, dict):
            for key in data:
                if key in cls.refused_keys:
                    message, hints = cls.refused_keys[key]
                    fail(message, *hints, subkey=key)
            allowed = [f.alias or name for name, f in cls.model_fields.items()]
            for key in data:
                if key not in allowed:
                    close = difflib.get_close_matches(str(key), allowed, n=1)
                    hint = f"did you mean '{close[0]}'?" if close else f"valid keys here: {', '.join(allowed)}"
                    fail("unknown key", hint, subkey=key)
        elif data is not None:
            fail(f"expected a mapping (key: value lines), got {fields.describe(data)}")
        return data


class Colour(Section):
    background: PaletteColour
    text: PaletteColour


ColourSetting = Annotated[Colour, BeforeValidator(fields.colour_shorthand)]


def _prefix(value: object) -> object:
    if isinstance(value, str) and value and not value.endswith("/"):
        fail(f"'{value}' must end with '/' (or be empty for top-level labels)", f"did you mean '{value}/'?")
    return value


Prefix = Annotated[str, BeforeValidator(_prefix)]


class Labels(Section):
    department_prefix: Prefix = "Dept/"
    agent_prefix: Prefix = "Agent/"  # a named team member's conversations: Agent/<name>


class Status(Section):
    name: NonEmpty | None = None
    color: ColourSetting | None = None


class Statuses(Section):
    prefix: Prefix = "Status/"
    managed: bool = True  # false: gmaildesk neither creates nor changes the status labels (export of a fresh mailbox)
    new: Status = Status()
    waiting: Status = Status()
    handled: Status = Status()
    forwarded: Status = Status()
    closed: Status = Status()
    overdue: Status = Status()


class Route(Section):
    """One way mail reaches a department; exactly one key per route."""

    to: str | None = None
    from_: str | None = Field(None, alias="from")
    subject: str | None = None
    words: list[NonEmpty] | None = None
    query: Query | None = None

    @field_validator("to", "from_", "subject", mode="before")
    @classmethod
    def _operator_value(cls, value: Any, info: ValidationInfo) -> Any:
        return check_route_value(str(info.field_name).rstrip("_"), value)

    @field_validator("words", mode="before")
    @classmethod
    def _words(cls, value: Any) -> Any:
        return check_words(value)

    @model_validator(mode="after")
    def _exactly_one(self) -> Route:
        given = [f.alias or name for name, f in type(self).model_fields.items() if getattr(self, name) is not None]
        if len(given) != 1:
            found = f"found {', '.join(given)}" if given else "found none"
            fail(
                f"a route has exactly one of to, from, subject, words, query; {found}",
                "write one route per condition (any route matching is enough), "
                "or use query: for conditions that must all hold",
            )
        return self


class Sla(Section):
    first_response: Duration | None = None
    next_response: Duration | None = None


class Department(Section):
    name: NonEmpty
    color: ColourSetting | None = None
    routes: list[Route] = []
    sla: Sla | None = None
    alias: Email | None = None  # the send-as address the desk answers this department's mail from
    assign: Literal[ASSIGN_RULES] = "none"  # type: ignore[valid-type]  # who gets a new conversation


class Match(Section):
    from_: str | None = Field(None, alias="from")
    to: str | None = None
    subject: str | None = None
    query: Query | None = None
    negated_query: Query | None = None
    has_attachment: bool | None = None
    larger: Size | None = None
    smaller: Size | None = None

    @field_validator("from_", "to", "subject", mode="before")
    @classmethod
    def _operator_value(cls, value: Any, info: ValidationInfo) -> Any:
        return fields.check_operator_value(str(info.field_name).rstrip("_"), value)

    @model_validator(mode="after")
    def _criteria(self) -> Match:
        if self.larger is not None and self.smaller is not None:
            fail("a filter can test larger or smaller, not both", subkey="smaller")
        if all(getattr(self, name) is None for name in type(self).model_fields):
            fail("a filter needs at least one condition", "e.g. from, to, subject, query or has_attachment")
        return self


class Actions(Section):
    labels: list[NonEmpty] = []
    archive: bool = False
    mark_read: bool = False
    star: bool = False
    important: bool | None = None
    never_spam: bool = False
    category: Literal[CATEGORIES] | None = None  # type: ignore[valid-type]
    forward: Email | None = None

    @field_validator("labels")
    @classmethod
    def _one_user_label(cls, labels: list[str]) -> list[str]:
        if len(labels) > 1:
            fail(
                f"a Gmail filter can add only one user label; this one lists {len(labels)}",
                "write one filter per label, each with the same match",
            )
        return labels

    @model_validator(mode="after")
    def _something(self) -> Actions:
        defaults = {name: f.default for name, f in type(self).model_fields.items()}
        if all(getattr(self, name) == default for name, default in defaults.items()):
            fail(
                "a filter needs at least one action",
                "e.g. labels, archive, mark_read, star, important, never_spam, category or forward",
            )
        return self


class Filter(Section):
    name: NonEmpty | None = None
    match: Match
    actions: Actions


class Template(Section):
    """Inline text, or ``{file: path}`` relative to desk.yaml's folder."""

    text: str | None = None
    file: NonEmpty | None = None

    @model_validator(mode="after")
    def _one_source(self) -> Template:
        if (self.text is None) == (self.file is None):
            fail("a template is inline text or {file: path/to/template.j2}")
        return self


def _template_shorthand(value: object) -> object:
    if isinstance(value, str):
        return {"text": value}
    if not isinstance(value, dict):
        fail(f"expected template text or {{file: path/to/template.j2}}, got {fields.describe(value)}")
    return value


TemplateSetting = Annotated[Template, BeforeValidator(_template_shorthand)]


class AutoAck(Section):
    enabled: bool = True
    subject: TemplateSetting | None = None
    body_text: TemplateSetting | None = None
    body_html: TemplateSetting | None = None
    restrict_to_contacts: bool = False
    restrict_to_domain: bool = False
    start: Instant | None = None
    end: Instant | None = None
    mode: Literal["vacation", "sweep"] = "vacation"  # sweep: the sweep sends one per new conversation
    max_per_sender_per_day: int = Field(3, ge=1, le=100)  # sweep mode only


class Smtp(Section):
    host: NonEmpty
    port: int = Field(587, ge=1, le=65535)
    username: NonEmpty
    security: Literal["none", "ssl", "starttls"] = "starttls"
    password_env: EnvName

    refused_keys = {
        "password": (
            "the SMTP password must not be written in desk.yaml",
            ("set password_env: SOME_NAME and export SOME_NAME where `gmaildesk apply` runs",),
        )
    }


class SendAs(Section):
    address: Email
    display_name: str | None = None
    reply_to: Email | None = None
    signature: TemplateSetting | None = None
    default: bool = False
    treat_as_alias: bool = True
    smtp: Smtp | None = None


class Quota(Section):
    """The Cloud project's Gmail quota (gmaildesk/config/quota.py); unset units_per_minute: the
    cost table's per-user limit for Gmail, no pacing for a sandbox."""

    units_per_minute: quota.UnitsPerMinute = None
    costs: quota.CostTableName = "current"
    daily_units: quota.DailyUnits = quota.PROJECT_DAILY_UNITS
    project_units_per_minute: quota.ProjectUnitsPerMinute = quota.PROJECT_UNITS_PER_MINUTE

    @model_validator(mode="after")
    def _user_within_project(self) -> Quota:
        if self.units_per_minute is not None and self.units_per_minute > self.project_units_per_minute:
            fail(
                f"{self.units_per_minute:,} is more than project_units_per_minute ({self.project_units_per_minute:,})",
                "A user's quota is part of the project's.",
                subkey="units_per_minute",
            )
        return self


class Sweep(Section):
    scope: Query = "newer_than:90d"
    close_after: Duration = 7 * 86_400
    archive_closed: bool = False
    quota: Quota = Quota()


class TestMessage(Section):
    __test__ = False  # not a pytest test class

    from_: Email = Field(alias="from")
    to: list[Email] | None = None
    cc: list[Email] = []
    subject: str = ""
    body: str = ""
    attachments: list[NonEmpty] = []

    @field_validator("to", "cc", mode="before")
    @classmethod
    def _one_or_many(cls, value: Any) -> Any:
        return [value] if isinstance(value, str) else value


class ConfigTest(Section):
    name: NonEmpty
    message: TestMessage
    labels: list[NonEmpty] = []


class TeamMember(Section):
    """A team entry: a plain address or domain (only `email` set), or a named agent."""

    name: NonEmpty | None = None
    email: TeamEntry | None = None  # an agent may go without (export knows only names): no reply is then theirs
    departments: list[NonEmpty] = []  # empty: every department
    aliases: list[Email] = []  # addresses whose replies are this agent's (e.g. a send-as alias of theirs)
    away: bool = False  # out of the rotation; keeps what they own

    @model_validator(mode="after")
    def _named_agent(self) -> TeamMember:
        if self.name is None:
            if self.email is None:
                fail("a team entry needs email: (an address or a domain), or name: for an agent")
            for key in ("departments", "aliases", "away"):
                if getattr(self, key):
                    fail(f"{key} is for a named agent", "add name: (their label is Agent/<name>)", subkey=key)
        elif self.email is not None and not fields.is_email(self.email):
            fail(f"an agent's email is one address, not the domain '{self.email}'", subkey="email")
        return self


def _team_item(value: object, handler: ValidatorFunctionWrapHandler) -> object:
    """`- alice@example.com` and `- example.com` are entries with only an email; their error names the item."""
    if isinstance(value, str):
        try:
            return handler({"email": value})
        except ValidationError as exc:
            error = exc.errors(include_url=False)[0]
            fail(error["msg"], *(error.get("ctx") or {}).get(fields.HINTS, ()))
    if not isinstance(value, dict):
        fail(
            f"expected an address, a domain or {{name: ..., email: ...}}, got {fields.describe(value)}",
            "e.g. - lead@partner.example, - example.com or - {name: Alice, email: alice@example.com}",
        )
    return handler(value)


TeamItem = Annotated[TeamMember, WrapValidator(_team_item)]


class DeskFile(Section):
    version: Literal[1]
    mailbox: Account
    team: list[TeamItem] = []
    vars: dict[str, Any] = {}
    labels: Labels = Labels()
    statuses: Statuses = Statuses()
    departments: list[Department] = []
    filters: list[Filter] = []
    auto_ack: AutoAck | None = None
    send_as: list[SendAs] = []
    sweep: Sweep = Sweep()
    tests: list[ConfigTest] = []
    timezone: TimeZone | None = None  # IANA name; None: the machine's own zone (config/zones.py)

    @field_validator("vars")
    @classmethod
    def _template_names(cls, variables: dict[str, Any]) -> dict[str, Any]:
        for name in variables:
            if not name.isidentifier():
                fail(f"'{name}' cannot be used as a template variable (letters, digits and _)", subkey=name)
            if name in RESERVED_VARS:
                fail(f"'{name}' is set by gmaildesk for every template; choose another name", subkey=name)
        return variables
