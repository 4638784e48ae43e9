"""The labels a desk.yaml declares: full names, Gmail's naming rules, and clashes between them.

Gmail's rules come from gmaildesk.gmail.labels, which the sandbox enforces too,
so the offline check and the fake server cannot drift apart.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass

from gmaildesk.config.desk import STATUS_NAMES, Colour, Label
from gmaildesk.config.schema import DeskFile
from gmaildesk.config.yaml_source import Path_, Positions, format_path
from gmaildesk.gmail.labels import MAX_LABEL_NAME, RESERVED_NAMES

STATUS_DEFAULTS: dict[str, tuple[str, Colour]] = {
    "new": ("New", Colour("#fad165", "#000000")),
    "waiting": ("Waiting", Colour("#a4c2f4", "#000000")),
    "handled": ("Handled", Colour("#16a766", "#ffffff")),
    "forwarded": ("Forwarded", Colour("#a479e2", "#ffffff")),
    "closed": ("Closed", Colour("#cccccc", "#000000")),
    "overdue": ("Overdue", Colour("#fb4c2f", "#ffffff")),
}
_SYSTEM_HINT = (
    "Gmail reserves the names of its system labels (Inbox, Sent, Drafts, Spam, Trash, Starred, "
    "Important, Unread, Chats, ...); filters set those with archive, star, important, mark_read "
    "and never_spam"
)

_UNIQUE_HINT = "Gmail label names are unique regardless of case; rename one"


@dataclass(frozen=True)
class DeclaredLabel:
    label: Label
    path: Path_  # where the name comes from in desk.yaml


def status_labels(desk: DeskFile) -> list[DeclaredLabel]:
    """The six status labels with full names and colours, in STATUS_NAMES order."""
    found = []
    for status in STATUS_NAMES:
        spec = getattr(desk.statuses, status)
        default_name, default_colour = STATUS_DEFAULTS[status]
        colour = Colour(spec.color.background, spec.color.text) if spec.color else default_colour
        name = desk.statuses.prefix + (spec.name or default_name)
        found.append(DeclaredLabel(Label(name, colour, "status"), ("statuses", status, "name")))
    return found


def declared_labels(desk: DeskFile) -> list[DeclaredLabel]:
    """Status (unless `managed: false`), department, agent and filter labels, in that order, with full names."""
    found = status_labels(desk) if desk.statuses.managed else []
    for index, department in enumerate(desk.departments):
        colour = Colour(department.color.background, department.color.text) if department.color else None
        name = desk.labels.department_prefix + department.name
        found.append(DeclaredLabel(Label(name, colour, "department"), ("departments", index, "name")))
    for index, member in enumerate(desk.team):
        if member.name is not None:
            name = desk.labels.agent_prefix + " ".join(member.name.split())
            found.append(DeclaredLabel(Label(name, None, "agent"), ("team", index, "name")))
    for index, spec in enumerate(desk.filters):
        for label_index, name in enumerate(spec.actions.labels):
            found.append(
                DeclaredLabel(Label(name, None, "filter"), ("filters", index, "actions", "labels", label_index))
            )
    return found


# UAX #9's explicit directional formatting characters: invisible, they reorder the text around them.
_BIDI_CONTROLS = frozenset("\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")
_CONTROL_NAMES = {
    "\n": "LINE FEED",
    "\r": "CARRIAGE RETURN",
    "\t": "TAB",
    "\x00": "NUL",
    "\x1b": "ESCAPE",
    "\x7f": "DELETE",
}  # Unicode gives control characters no names
_CONTROL_HINT = (
    "label names show in Gmail's menus, in IMAP folder names and in gmaildesk's own output; "
    "write the name without control characters"
)


def is_control(char: str) -> bool:
    """C0 and C1 controls (NUL, ESC, DEL, ...), line and paragraph separators, bidi controls."""
    return unicodedata.category(char) in ("Cc", "Zl", "Zp") or char in _BIDI_CONTROLS


def printable(text: str) -> str:
    """*text* with control characters written as escapes, so a message about it stays one harmless line."""
    return "".join(f"\\u{ord(char):04x}" if is_control(char) else char for char in text)


def name_problem(name: str) -> tuple[str, tuple[str, ...]] | None:
    """Why Gmail would refuse *name* (400 'Invalid label name'), or why gmaildesk does; None when fine."""
    control = next((char for char in name if is_control(char)), None)
    if control is not None:
        what = unicodedata.name(control, "") or _CONTROL_NAMES.get(control, "")
        shown = f"U+{ord(control):04X}" + (f" {what}" if what else "")
        return f"label '{printable(name)}' contains the control character {shown}", (_CONTROL_HINT,)
    segments = name.split("/")
    if not name.strip():
        return "a label name cannot be empty", ()
    if len(name) > MAX_LABEL_NAME:
        return f"label '{name[:40]}...' is {len(name)} characters; Gmail allows at most {MAX_LABEL_NAME}", ()
    if any(not segment.strip() for segment in segments):
        return (
            f"label '{name}' has an empty part between '/' separators",
            ("Gmail nests labels by '/', so every part needs a name, e.g. Dept/Billing",),
        )
    if name.casefold() in RESERVED_NAMES:
        return f"'{name}' is a Gmail system label name", (_SYSTEM_HINT,)
    if segments[0].casefold() == "inbox":  # mbrt/gmailctl#300: 400 "Invalid label name"
        return f"label '{name}' is under INBOX/, which Gmail refuses", ("choose another top-level name",)
    return None


def check_labels(declared: list[DeclaredLabel], positions: Positions) -> None:
    """Every name valid for Gmail; no two declared labels the same or differing only in case."""
    seen: dict[str, DeclaredLabel] = {}
    for item in declared:
        name = item.label.name
        problem = name_problem(name)
        if problem is not None:
            raise positions.error(item.path, *problem)
        earlier = seen.get(name.casefold())
        if earlier is None:
            seen[name.casefold()] = item
        elif earlier.label.name != name:
            hint = (
                f"write it exactly as '{earlier.label.name}' to use that label, or choose another name"
                if item.label.kind == "filter"
                else _UNIQUE_HINT
            )
            raise positions.error(
                item.path,
                f"label '{name}' differs only in case from '{earlier.label.name}' ({origin(earlier, positions)})",
                (hint,),
            )
        elif item.label.kind != "filter":  # several filters may add the same label; a name is declared once
            hint = _UNIQUE_HINT
            if {item.label.kind, earlier.label.kind} == {"department", "status"}:
                hint += ", or give departments and statuses different prefixes"
            raise positions.error(
                item.path, f"label '{name}' is already the label of {origin(earlier, positions)}", (hint,)
            )
    for item in declared:
        for parent in parent_names(item.label.name):
            other = seen.get(parent.casefold())
            if other is not None and other.label.name != parent:
                raise positions.error(
                    item.path,
                    f"label '{item.label.name}' nests under '{parent}', which differs "
                    f"only in case from '{other.label.name}' ({origin(other, positions)})",
                )


def origin(item: DeclaredLabel, positions: Positions) -> str:
    """Where a declared label comes from, for messages: ``departments[1], line 7`` or ``the default statuses.new``."""
    owner = item.path[:-1] if item.path[-1] == "name" else item.path
    if positions.written(item.path) or positions.written(owner):
        return f"{format_path(owner)}, line {positions.line(item.path)}"
    return f"the default {format_path(owner)}"


def parent_names(name: str) -> list[str]:
    """``A/B/C`` -> ``["A", "A/B"]``."""
    segments = name.split("/")
    return ["/".join(segments[:end]) for end in range(1, len(segments))]


def owned_labels(declared: list[DeclaredLabel]) -> tuple[Label, ...]:
    """The desk's labels plus the parents Gmail needs to nest them, sorted (parents first)."""
    labels: dict[str, Label] = {}
    for item in declared:
        labels.setdefault(item.label.name, item.label)
    for name in list(labels):
        for parent in parent_names(name):
            labels.setdefault(parent, Label(parent, None, "parent"))
    return tuple(sorted(labels.values(), key=lambda label: label.name.split("/")))
