"""`gmaildesk export`: the mailbox's settings today, as a desk.yaml that plans empty on that mailbox.

    exported = export.build(mailbox, read.current(client), record)
    text = export_yaml.render(exported)
    the_plan = export.check(text, current, record)   # must be empty; anything else is reported

Round trip is the contract: every value is written so that load_desk gives back exactly what
Gmail holds (filter criteria verbatim, template text escaped for Jinja, times to the
millisecond), and a filter keeps the name its ownership record knows it by. What desk.yaml
cannot express is left out with the reason, never approximated: a left-out filter is not
gmaildesk's, so the plan ignores it.

User-made filters (not in the ownership record) are exported as `filters:` entries, so the
file is the whole picture; the first apply then adopts them (records them as managed, writes
nothing). `managed_only` leaves them out instead; the plan is empty either way.
"""

from __future__ import annotations

import datetime as dt
import re
import tempfile
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import ValidationError

from gmaildesk.config import schema
from gmaildesk.config.checks import loop_reason
from gmaildesk.config.desk import Colour
from gmaildesk.config.labels import STATUS_DEFAULTS
from gmaildesk.config.routes import department_query
from gmaildesk.desk import filters as desk_filters
from gmaildesk.desk import labels as desk_labels
from gmaildesk.desk import vacation
from gmaildesk.desk.filters import CATEGORY_IDS, UpstreamFilter
from gmaildesk.desk.labels import CurrentLabel
from gmaildesk.desk.ownership import Ownership
from gmaildesk.desk.read import Current
from gmaildesk.errors import GmailDeskError
from gmaildesk.gmail.api import DeskApi
from gmaildesk.gmail.labels import CONSUMER_DOMAINS, SYSTEM_LABEL_IDS
from gmaildesk.gmail.types import Json

if TYPE_CHECKING:
    from gmaildesk.desk.plan import Plan

DEFAULT_DEPARTMENT_PREFIX = "Dept/"
DEFAULT_AGENT_PREFIX = "Agent/"
AGENT_NAME_ONLY = (
    "Gmail holds the agent's name (their label) but not their address: add email: for their replies to count as theirs"
)
DEFAULT_STATUS_PREFIX = "Status/"
_ADD_FLAGS = {"STARRED": ("star", True), "IMPORTANT": ("important", True)}
_REMOVE_FLAGS = {
    "INBOX": ("archive", True),
    "UNREAD": ("mark_read", True),
    "IMPORTANT": ("important", False),
    "SPAM": ("never_spam", True),
}
_CATEGORY_NAMES = {label_id: name for name, label_id in CATEGORY_IDS.items()}
USER_MADE = (
    "made outside gmaildesk: the first `apply` of this file adopts it (no write); from then on gmaildesk manages it"
)


@dataclass
class Item:
    """One entry of a desk.yaml list, with the comment lines written above it."""

    data: dict[str, Any]
    comments: list[str] = field(default_factory=list)


@dataclass
class Export:
    mailbox: str
    department_prefix: str
    statuses: Item
    departments: list[Item] = field(default_factory=list)
    filters: list[Item] = field(default_factory=list)
    auto_ack: Item | None = None
    send_as: list[Item] = field(default_factory=list)
    team: list[Item] = field(default_factory=list)  # agents, from the Agent/ labels gmaildesk made
    left_out: list[str] = field(default_factory=list)  # "what: why", one per thing not exported
    adopted: int = 0  # user-made filters exported (apply adopts them)


class _Unexpressible(Exception):
    """desk.yaml has no way to say this; the message says why."""


def build(mailbox: str, current: Current, record: Ownership, managed_only: bool = False) -> Export:
    """Reconstruct desk.yaml content from *current* (what Gmail has) and *record* (what gmaildesk owns)."""
    user_labels = sorted(desk_labels.from_gmail(current.labels), key=lambda lab: lab.name.split("/"))
    upstream = desk_filters.from_gmail(current.filters, current.labels)
    key_by_id = {owned.id: key for key, owned in record.filters.items()}
    dept_prefix = _department_prefix(record, upstream)
    owned_ids = record.owned_label_ids({label.id: label.name for label in user_labels})
    status_prefix = _status_prefix(user_labels, owned_ids, dept_prefix)
    statuses, status_names = _statuses(user_labels, status_prefix)
    result = Export(mailbox, dept_prefix, statuses)
    unread = len(current.filters) - len(upstream)
    if unread:
        result.left_out.append(f"{unread} filter(s): criteria or actions gmaildesk cannot read")

    result.team = _agents(user_labels, owned_ids, dept_prefix)
    agent_labels = {DEFAULT_AGENT_PREFIX + str(item.data["name"]) for item in result.team}
    used: set[str] = set()  # ids of filters exported as department routes
    for label in user_labels:
        if not label.name.startswith(dept_prefix) or label.name.casefold() in status_names:
            continue
        if label.name in agent_labels or (result.team and label.name + "/" == DEFAULT_AGENT_PREFIX):
            continue
        name = label.name[len(dept_prefix) :]
        if not name.strip() or (not dept_prefix and label.name.casefold() + "/" == status_prefix.casefold()):
            continue
        result.departments.append(_department(name, label, upstream, key_by_id, used))

    taken = {key.removeprefix("filter:").casefold() for key in record.filters if key.startswith("filter:")}
    for flt in upstream:
        if flt.id in used:
            continue
        key = key_by_id.get(flt.id)
        if key is None and managed_only:
            continue
        try:
            item = Item(_filter_entry(flt, _filter_name(flt, key, taken)))
        except _Unexpressible as why:
            result.left_out.append(f"filter {flt.spec.describe()}: {why}")
            continue
        if key is None:
            item.comments.append(USER_MADE)
            result.adopted += 1
        result.filters.append(item)

    result.auto_ack = _auto_ack(current.vacation, mailbox, result.left_out)
    result.send_as = _send_as(current.send_as, result.left_out)
    _drop_forwarding_loops(result)
    return result


# --- prefixes and statuses ----------------------------------------------------------------------


def _agents(labels: list[CurrentLabel], owned_ids: set[str], dept_prefix: str) -> list[Item]:
    """`{name: ...}` for each label gmaildesk made under the default agent prefix (a desk with another
    labels.agent_prefix exports those labels as nobody's: the plan then refuses to delete them)."""
    if dept_prefix == DEFAULT_AGENT_PREFIX:
        return []
    found = []
    for label in labels:
        name = label.name.removeprefix(DEFAULT_AGENT_PREFIX)
        if label.id in owned_ids and label.name.startswith(DEFAULT_AGENT_PREFIX) and name.strip() and "/" not in name:
            found.append(Item({"name": name}, [AGENT_NAME_ONLY]))
    return found


def _department_prefix(record: Ownership, upstream: Iterable[UpstreamFilter]) -> str:
    """From a department filter gmaildesk recorded: its label minus the department's name."""
    by_id = {flt.id: flt for flt in upstream}
    for key, owned in sorted(record.filters.items()):
        flt = by_id.get(owned.id)
        if not key.startswith("department:") or flt is None:
            continue
        name = key.removeprefix("department:")
        for label in flt.spec.add:
            if label not in SYSTEM_LABEL_IDS and label.endswith(name):
                prefix = label[: -len(name)]
                if prefix == "" or prefix.endswith("/"):
                    return prefix
    return DEFAULT_DEPARTMENT_PREFIX


def _status_prefix(labels: list[CurrentLabel], owned_ids: set[str], dept_prefix: str) -> str:
    """The parent of the default-named status labels: those gmaildesk created, else three or more alike."""
    defaults = {name.casefold() for name, _ in STATUS_DEFAULTS.values()}

    def parents(candidates: Iterable[CurrentLabel]) -> Counter[str]:
        found: Counter[str] = Counter()
        for label in candidates:
            parent, _, last = label.name.rpartition("/")
            if last.casefold() in defaults and parent + "/" != dept_prefix:
                found[parent + "/" if parent else ""] += 1
        return found

    owned = parents(label for label in labels if label.id in owned_ids)
    if owned:
        return owned.most_common(1)[0][0]
    common = parents(labels).most_common(1)
    return common[0][0] if common and common[0][1] >= 3 else DEFAULT_STATUS_PREFIX


def _statuses(labels: list[CurrentLabel], prefix: str) -> tuple[Item, set[str]]:
    """The statuses section and the (casefolded) labels it claims; `managed: false` when none exist."""
    under = [label for label in labels if label.name.startswith(prefix) and "/" not in label.name[len(prefix) :]]
    slots: dict[str, CurrentLabel] = {}
    for exact in (True, False):  # "Waiting" first, then "Waiting on customer"
        for status, (default, _) in STATUS_DEFAULTS.items():
            for label in under:
                suffix = label.name[len(prefix) :].casefold()
                fits = suffix == default.casefold() if exact else suffix.startswith(default.casefold() + " ")
                if status not in slots and fits and label not in slots.values():
                    slots[status] = label
    data: dict[str, Any] = {"prefix": prefix}
    if not slots:
        data["managed"] = False
        return Item(
            data,
            [
                "no status labels yet, so gmaildesk leaves them alone (`managed: false`); remove "
                "that line and apply to create them - the sweep needs them"
            ],
        ), set()
    for status, (default, colour) in STATUS_DEFAULTS.items():
        slot = slots.get(status)
        if slot is None:
            continue
        entry: dict[str, Any] = {}
        if slot.name[len(prefix) :] != default:
            entry["name"] = slot.name[len(prefix) :]
        if slot.colour is not None and slot.colour != colour and _palette(slot.colour):
            entry["color"] = _colour(slot.colour)
        if entry:
            data[status] = entry
    return Item(data), {label.name.casefold() for label in slots.values()}


def _colour(colour: Colour) -> dict[str, str]:
    return {"background": colour.background, "text": colour.text}


def _palette(colour: Colour) -> bool:
    """Only palette colours can be written in desk.yaml; another one is left unmanaged (not changed)."""
    try:
        schema.Colour.model_validate(_colour(colour))
    except ValidationError:
        return False
    return True


# --- departments ----------------------------------------------------------------------------------


def _department(
    name: str, label: CurrentLabel, upstream: Iterable[UpstreamFilter], key_by_id: dict[str, str], used: set[str]
) -> Item:
    """A department; its routes come from the one query-only filter that adds its label, if any."""
    data: dict[str, Any] = {"name": name}
    if label.colour is not None and _palette(label.colour):
        data["color"] = _colour(label.colour)
    key = f"department:{name}"
    candidates = [
        flt for flt in upstream if _routing_query(flt, label.name) is not None and key_by_id.get(flt.id) in (None, key)
    ]
    candidates.sort(key=lambda flt: key_by_id.get(flt.id) != key)  # the recorded one first
    for flt in candidates:
        query = _routing_query(flt, label.name)
        routes = routes_from_query(query) if query is not None else None
        if routes is not None:
            data["routes"] = routes
            used.add(flt.id)
            break
    return Item(data)


def _routing_query(flt: UpstreamFilter, label: str) -> str | None:
    """The query of a filter that is exactly `query -> add label`, as departments make them."""
    spec = flt.spec
    if (
        len(spec.criteria) == 1
        and spec.criteria[0][0] == "query"
        and not spec.remove
        and not spec.forward
        and len(spec.add) == 1
        and spec.add[0].casefold() == label.casefold()
    ):
        return str(spec.criteria[0][1])
    return None


_OPERATOR_RE = re.compile(r"(to|from|subject):(.+)", re.DOTALL)


def split_or(query: str) -> list[str]:
    """*query* split at its top-level `` OR `` (outside quotes, parentheses and braces)."""
    parts, depth, quoted, start, i = [], 0, False, 0, 0
    while i < len(query):
        char = query[i]
        if char == '"':
            quoted = not quoted
        elif not quoted and char in "({":
            depth += 1
        elif not quoted and char in ")}":
            depth -= 1
        elif not quoted and depth == 0 and query.startswith(" OR ", i):
            parts.append(query[start:i])
            start = i = i + 4
            continue
        i += 1
    parts.append(query[start:])
    return parts


def _unquote(text: str) -> str:
    return text[1:-1] if len(text) >= 2 and text[0] == text[-1] == '"' else text


def routes_from_query(query: str) -> list[dict[str, Any]] | None:
    """Routes whose department query is exactly *query*: readable ones if possible, else one raw query."""
    routes: list[dict[str, Any]] = []
    for part in split_or(query):
        operator = _OPERATOR_RE.fullmatch(part)
        if operator:
            routes.append({operator.group(1): _unquote(operator.group(2))})
        elif part.startswith("(") and part.endswith(")"):
            routes.append({"query": part[1:-1]})
        elif routes and "words" in routes[-1]:
            routes[-1]["words"].append(_unquote(part))
        else:
            routes.append({"words": [_unquote(part)]})
    for candidate in (routes, [{"query": query}]):
        if _composes_to(candidate, query):
            return candidate
    return None


def _composes_to(routes: list[dict[str, Any]], query: str) -> bool:
    try:
        parsed = [schema.Route.model_validate(route) for route in routes]
        return department_query(parsed) == query
    except (ValidationError, ValueError):
        return False


# --- filters --------------------------------------------------------------------------------------


def _filter_name(flt: UpstreamFilter, key: str | None, taken: set[str]) -> str:
    """The name the ownership record knows the filter by; a user-made one is named after what it does."""
    if key is not None and key.startswith("filter:"):
        return key.removeprefix("filter:")
    base = " ".join(flt.spec.describe().split())
    name, count = base, 1
    while name.casefold() in taken:
        count += 1
        name = f"{base} ({count})"
    taken.add(name.casefold())
    return name


def _filter_entry(flt: UpstreamFilter, name: str) -> dict[str, Any]:
    """`{name, match, actions}` for *flt*, checked against desk.yaml's schema."""
    spec = flt.spec
    criteria = dict(spec.criteria)
    match: dict[str, Any] = {}
    for gmail_key, desk_key in (
        ("from", "from"),
        ("to", "to"),
        ("subject", "subject"),
        ("query", "query"),
        ("negatedQuery", "negated_query"),
        ("hasAttachment", "has_attachment"),
    ):
        if gmail_key in criteria:
            match[desk_key] = criteria[gmail_key]
    if "size" in criteria:
        if criteria.get("sizeComparison") not in ("larger", "smaller"):
            raise _Unexpressible("a size without larger/smaller")
        match[str(criteria["sizeComparison"])] = int(str(criteria["size"]))
    actions: dict[str, Any] = {}
    user_labels = [label for label in spec.add if label not in SYSTEM_LABEL_IDS]
    if len(user_labels) > 1 or any(label not in SYSTEM_LABEL_IDS for label in spec.remove):
        raise _Unexpressible("it adds several user labels or removes one")
    if user_labels:
        actions["labels"] = user_labels
    categories = [label for label in spec.add if label in _CATEGORY_NAMES]
    if len(categories) > 1:
        raise _Unexpressible("more than one category")
    if categories:
        actions["category"] = _CATEGORY_NAMES[categories[0]]
    for verb, names, flags in (("adds", spec.add, _ADD_FLAGS), ("removes", spec.remove, _REMOVE_FLAGS)):
        for label in names:
            if label in flags:
                key, value = flags[label]
                if actions.get(key, value) != value:
                    raise _Unexpressible("it both adds and removes IMPORTANT")
                actions[key] = value
            elif label in SYSTEM_LABEL_IDS and label not in _CATEGORY_NAMES:
                raise _Unexpressible(f"it {verb} {label}, which desk.yaml has no action for")
    if spec.forward:
        actions["forward"] = spec.forward
    entry = {"name": name, "match": match, "actions": actions}
    try:
        schema.Filter.model_validate(entry)
    except ValidationError as error:
        raise _Unexpressible(error.errors()[0]["msg"]) from None
    return entry


def _drop_forwarding_loops(result: Export) -> None:
    """desk.yaml refuses a forward back into the desk (a loop); such a filter stays as it is, unexported."""
    if not any("forward" in item.data["actions"] for item in result.filters):
        return
    desk = schema.DeskFile.model_validate(
        {
            "version": 1,
            "mailbox": result.mailbox,
            "departments": [item.data for item in result.departments],
            "send_as": [item.data for item in result.send_as],
        }
    )
    kept = []
    for item in result.filters:
        target = item.data["actions"].get("forward")
        reason = loop_reason(desk, target) if target else None
        if reason is None:
            kept.append(item)
        else:
            if item.comments == [USER_MADE]:
                result.adopted -= 1
            result.left_out.append(f"filter {item.data['name']}: forwarding to {target} would loop ({reason[0]})")
    result.filters = kept


# --- vacation and send-as ------------------------------------------------------------------------


def _auto_ack(settings: Json, mailbox: str, left_out: list[str]) -> Item | None:
    """The responder as auto_ack; None (not managed) when it is off and empty."""
    kept = vacation.canonical(settings)
    if not kept:
        return None
    subject = str(kept.get("responseSubject", ""))
    data: dict[str, Any] = {"enabled": bool(kept.get("enableAutoReply"))}
    if "\n" in subject or "\r" in subject:
        left_out.append("auto_ack: the responder's subject has a line break, which desk.yaml refuses")
        return None
    for gmail_key, desk_key in (
        ("responseSubject", "subject"),
        ("responseBodyPlainText", "body_text"),
        ("responseBodyHtml", "body_html"),
    ):
        if kept.get(gmail_key):
            data[desk_key] = escape_template(str(kept[gmail_key]))
    if kept.get("restrictToContacts"):
        data["restrict_to_contacts"] = True
    if kept.get("restrictToDomain"):
        if mailbox.rpartition("@")[2].casefold() in CONSUMER_DOMAINS:
            left_out.append("auto_ack: restrictToDomain on a consumer account, which desk.yaml refuses")
            return None
        data["restrict_to_domain"] = True
    if data["enabled"] and not any(key in data for key in ("subject", "body_text", "body_html")):
        left_out.append("auto_ack: the responder is on but has no subject or body")
        return None
    for gmail_key, desk_key in (("startTime", "start"), ("endTime", "end")):
        if gmail_key in kept:
            data[desk_key] = _iso_ms(int(str(kept[gmail_key])))
    return Item(data, ["texts are written verbatim: any {{ or {% is escaped so that Jinja leaves it as it is"])


def _iso_ms(epoch_ms: int) -> str:
    moment = dt.datetime(1970, 1, 1, tzinfo=dt.UTC) + dt.timedelta(milliseconds=epoch_ms)
    text = moment.isoformat(timespec="milliseconds" if epoch_ms % 1000 else "seconds")
    return text.replace("+00:00", "Z")


_JINJA_OPEN = re.compile(r"\{[{%#]|\{(?=\r)|\r")  # a "{" before "\r" would open the "\r" expression


def escape_template(text: str) -> str:
    """A Jinja2 template that renders exactly *text*.

    Jinja would read `{{`, `{%` and `{#` as its own syntax, turn `\\r\\n` into `\\n` and drop one
    trailing newline; each of those is written as an expression or compensated for.
    """
    escaped = _JINJA_OPEN.sub(lambda m: '{{ "\\r" }}' if m.group(0) == "\r" else f'{{{{ "{m.group(0)}" }}}}', text)
    return escaped + "\n" if escaped.endswith("\n") else escaped


def password_env(address: str, taken: set[str]) -> str:
    """BILLING_SMTP_PASSWORD for billing@...; the whole address when the local part is taken."""
    for source in (address.partition("@")[0], address):
        name = re.sub(r"[^A-Za-z0-9]+", "_", source).strip("_").upper() + "_SMTP_PASSWORD"
        name = name if re.match(r"[A-Z_]", name) else "_" + name
        if name not in taken:
            taken.add(name)
            return name
    raise AssertionError("addresses are unique")


def _send_as(entries: Iterable[Json], left_out: list[str]) -> list[Item]:
    """Every alias, and the primary address when it has a display name, reply-to or signature."""
    items: list[Item] = []
    envs: set[str] = set()
    for entry in sorted(entries, key=lambda e: (not e.get("isPrimary"), e["sendAsEmail"].lower())):
        address = entry["sendAsEmail"].lower()
        primary = bool(entry.get("isPrimary"))
        data: dict[str, Any] = {"address": address}
        comments = []
        if entry.get("displayName"):
            data["display_name"] = entry["displayName"]
        if entry.get("replyToAddress"):
            data["reply_to"] = entry["replyToAddress"]
        if entry.get("signature"):
            data["signature"] = escape_template(entry["signature"])
        if entry.get("isDefault"):
            data["default"] = True
        if not primary and not entry.get("treatAsAlias", True):
            data["treat_as_alias"] = False
        if primary and len(data) == 1 + ("default" in data):
            continue
        smtp = entry.get("smtpMsa")
        if smtp:
            if smtp.get("host") and smtp.get("securityMode") in ("none", "ssl", "starttls"):
                name = password_env(address, envs)
                data["smtp"] = {
                    "host": smtp["host"],
                    "port": int(smtp.get("port") or 587),
                    "username": smtp.get("username") or address,
                    "security": smtp["securityMode"],
                    "password_env": name,
                }
                comments.append(
                    f"Gmail never reveals the SMTP username or password: check username, and export "
                    f"{name} before an apply that changes this smtp block"
                )
            else:
                left_out.append(f"send_as {address}: its SMTP settings are incomplete, so smtp is left out")
        if entry.get("verificationStatus") == "pending":
            comments.append("still waiting for verification: open the mail Gmail sent to this address")
        try:
            schema.SendAs.model_validate(data)
        except ValidationError as error:
            left_out.append(f"send_as {address}: {error.errors()[0]['msg']}")
            continue
        items.append(Item(data, comments))
    return items


def mailbox_address(api: DeskApi, current: Current) -> str:
    """The primary send-as address (read with the desk scopes); getProfile only if there is none."""
    for entry in current.send_as:
        if entry.get("isPrimary"):
            return str(entry["sendAsEmail"]).lower()
    return api.profile().address


# --- the round-trip check -------------------------------------------------------------------------


def check(text: str, current: Current, record: Ownership) -> Plan:
    """The plan the exported *text* gives on the mailbox it came from (empty when the round trip holds)."""
    from gmaildesk.config import load_desk
    from gmaildesk.desk import plan

    with tempfile.TemporaryDirectory(prefix="gmaildesk-export-") as folder:
        path = Path(folder) / "desk.yaml"
        path.write_text(text, encoding="utf-8")
        try:
            desk = load_desk(path)
        except GmailDeskError as error:
            raise GmailDeskError(
                f"the exported desk.yaml does not load: {error.message}",
                ("this is a gmaildesk bug: please report it with that line of the export",),
            ) from None
    return plan.build(desk, current, record)
