"""Checks across several desk.yaml fields, run after the schema and before anything is contacted."""

from __future__ import annotations

import difflib
from collections.abc import Sequence
from datetime import datetime

from gmaildesk.config.labels import DeclaredLabel, check_labels, parent_names
from gmaildesk.config.schema import ConfigTest, Department, DeskFile, Filter
from gmaildesk.config.yaml_source import Positions, format_path
from gmaildesk.gmail.labels import CONSUMER_DOMAINS


def check_desk(desk: DeskFile, declared: list[DeclaredLabel], positions: Positions) -> None:
    """Raise the first problem (a GmailDeskError naming line and key) or return."""
    _check_unique_names(desk, positions)
    check_labels(declared, positions)
    _check_gmail_limits(desk, declared, positions)
    _check_test_count(desk, positions)
    _check_send_as(desk, positions)
    _check_forwarding(desk, positions)
    _check_auto_ack(desk, positions)
    _check_department_aliases(desk, positions)
    _check_tests(desk, declared, positions)


def _check_unique_names(desk: DeskFile, positions: Positions) -> None:
    named: tuple[tuple[str, Sequence[Department | Filter | ConfigTest]], ...] = (
        ("departments", desk.departments),
        ("filters", desk.filters),
        ("tests", desk.tests),
    )
    for section, items in named:
        seen: dict[str, int] = {}
        for index, item in enumerate(items):
            if item.name is None:
                continue
            key = " ".join(item.name.split()).casefold()
            if key in seen:
                first = seen[key]
                raise positions.error(
                    (section, index, "name"),
                    f"'{item.name}' is already the name of {section}[{first}] "
                    f"(line {positions.line((section, first))})",
                    ("names are compared ignoring case",) if section == "departments" else (),
                )
            seen[key] = index


# Discovery, filters.create: "you can only create a maximum of 1,000 filters"; Gmail answers the
# 1,001st with a 500 (elie222/inbox-zero PR #1192), after the first thousand were created.
MAX_FILTERS = 1_000
# Discovery, Label: "The maximum number of labels supported for a user's mailbox is 10,000."
MAX_LABELS = 10_000
# gmaildesk's own bound: every test is matched against every filter (up to 1,000) before each apply.
MAX_TESTS = 1_000


def _check_gmail_limits(desk: DeskFile, declared: list[DeclaredLabel], positions: Positions) -> None:
    """Refuse a desk Gmail could only half create: count what apply would make."""
    routed = [index for index, department in enumerate(desk.departments) if department.routes]
    needed = len(routed) + len(desk.filters)
    if needed > MAX_FILTERS:
        over = (
            ("departments", routed[MAX_FILTERS], "routes")
            if len(routed) > MAX_FILTERS
            else ("filters", MAX_FILTERS - len(routed))
        )
        raise positions.error(
            over,
            f"this desk needs {needed:,} Gmail filters ({len(routed):,} departments with "
            f"routes, {len(desk.filters):,} filters); Gmail allows at most {MAX_FILTERS:,}",
            (
                "Gmail refuses the rest after creating the first 1,000; join departments or filters "
                "that share an action into one",
            ),
        )
    names: set[str] = set()
    for item in declared:
        names.update(name.casefold() for name in (*parent_names(item.label.name), item.label.name))
        if len(names) > MAX_LABELS:
            raise positions.error(
                item.path,
                f"this desk needs more than {MAX_LABELS:,} labels (statuses, "
                f"departments, filter labels and their parents); Gmail allows "
                f"at most {MAX_LABELS:,} in a mailbox",
                ("use fewer departments, or fewer levels of nesting",),
            )


def _check_test_count(desk: DeskFile, positions: Positions) -> None:
    if len(desk.tests) > MAX_TESTS:
        raise positions.error(
            ("tests", MAX_TESTS),
            f"this desk has {len(desk.tests):,} tests; at most {MAX_TESTS:,} are run",
            ("each test is matched against every filter, before every apply; keep one or two per route",),
        )


def _check_send_as(desk: DeskFile, positions: Positions) -> None:
    seen: dict[str, int] = {}
    default_at: int | None = None
    for index, alias in enumerate(desk.send_as):
        key = alias.address.casefold()
        if key in seen:
            raise positions.error(
                ("send_as", index, "address"),
                f"'{alias.address}' is already listed as send_as[{seen[key]}] "
                f"(line {positions.line(('send_as', seen[key]))})",
            )
        seen[key] = index
        if alias.default:
            if default_at is not None:
                raise positions.error(
                    ("send_as", index, "default"),
                    f"only one send-as address can be the default; send_as[{default_at}] "
                    f"(line {positions.line(('send_as', default_at, 'default'))}) already is",
                    ("Gmail keeps exactly one default 'From' address",),
                )
            default_at = index


def loop_reason(desk: DeskFile, address: str) -> tuple[str, str] | None:
    """Why forwarding to *address* would bring the mail back into this desk, and a hint."""
    address = address.casefold()
    local, _, domain = address.partition("@")
    base = f"{local.split('+')[0]}@{domain}"  # Gmail delivers user+tag@ to user@
    if base == desk.mailbox.casefold():
        return "it is this desk's own mailbox", "forward to someone outside the desk"
    for index, alias in enumerate(desk.send_as):
        if base == alias.address.casefold():
            return f"it is the send-as address send_as[{index}]", "forward to someone outside the desk"
    for index, department in enumerate(desk.departments):
        for route in department.routes:
            if route.to is not None and route.to.casefold() in (address, base):
                return (
                    f"departments[{index}] routes mail sent to it, so it arrives in this mailbox",
                    "forward to someone outside the desk",
                )
    return None


def _check_forwarding(desk: DeskFile, positions: Positions) -> None:
    for index, spec in enumerate(desk.filters):
        target = spec.actions.forward
        if target is None:
            continue
        reason = loop_reason(desk, target)
        if reason is not None:
            raise positions.error(
                ("filters", index, "actions", "forward"),
                f"forwarding to '{target}' would loop: {reason[0]}",
                (reason[1],),
            )


def _check_auto_ack(desk: DeskFile, positions: Positions) -> None:
    ack = desk.auto_ack
    if ack is None:
        return
    if ack.start is not None and ack.end is not None and ack.end <= ack.start:
        raise positions.error(
            ("auto_ack", "end"),
            f"end {_iso(ack.end)} is not after start {_iso(ack.start)}",
            ("Gmail requires the responder's start to come before its end",),
        )
    domain = desk.mailbox.rpartition("@")[2].casefold()
    if ack.restrict_to_domain and domain in CONSUMER_DOMAINS:
        raise positions.error(
            ("auto_ack", "restrict_to_domain"),
            f"restrict_to_domain works only for Google Workspace mailboxes, not @{domain}",
            ("remove it, or use restrict_to_contacts",),
        )


def _check_department_aliases(desk: DeskFile, positions: Positions) -> None:
    """A department answers from an address Gmail lets this mailbox send as: its own or a send_as one."""
    ours = [desk.mailbox, *(alias.address for alias in desk.send_as)]
    for index, department in enumerate(desk.departments):
        if department.alias is None or department.alias.casefold() in (a.casefold() for a in ours):
            continue
        close = difflib.get_close_matches(department.alias, ours, n=1)
        hint = f"did you mean '{close[0]}'?" if close else f"addresses this desk sends as: {', '.join(ours)}"
        raise positions.error(
            ("departments", index, "alias"),
            f"'{department.alias}' is neither the mailbox nor a send_as address",
            (hint, "Gmail sends only from the mailbox and its verified send-as addresses"),
        )


def _iso(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


def _check_tests(desk: DeskFile, declared: list[DeclaredLabel], positions: Positions) -> None:
    applied: dict[str, str] = {}  # label -> what applies it
    for item in declared:
        if item.label.kind == "filter":
            applied[item.label.name] = format_path(item.path[:2])
    for index, department in enumerate(desk.departments):
        if department.routes:
            applied[desk.labels.department_prefix + department.name] = f"departments[{index}]"
    others = {item.label.name: item for item in declared}
    for test_index, test in enumerate(desk.tests):
        for label_index, name in enumerate(test.labels):
            if name in applied:
                continue
            path = ("tests", test_index, "labels", label_index)
            other = others.get(name)
            if other is not None and other.label.kind == "status":
                raise positions.error(
                    path, f"no filter applies '{name}'", ("status labels are set by the sweep, not by filters",)
                )
            if other is not None:
                raise positions.error(
                    path, f"no filter applies '{name}'", (f"{format_path(other.path[:2])} has no routes",)
                )
            close = difflib.get_close_matches(name, list(applied), n=1)
            hint = (
                f"did you mean '{close[0]}'?"
                if close
                else (f"labels this desk's filters apply: {', '.join(sorted(applied)) or 'none'}")
            )
            raise positions.error(path, f"'{name}' is not a label this desk applies", (hint,))
