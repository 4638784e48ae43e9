"""The plan: every change desk.yaml asks of the mailbox, as a value.

``gmaildesk plan`` prints it; ``gmaildesk apply`` executes exactly this value.

JSON shape (version 1)::

    {"version": 1,
     "changes": [{"kind": "label"|"filter"|"vacation"|"send-as",
                  "action": "create"|"update"|"replace"|"delete",
                  "name": str, "before": obj|null, "after": obj|null}, ...],
     "refused": [{<a change as above>, "reason": str, "hint": str}, ...],
     "notes": [str, ...]}
"""

from __future__ import annotations

import difflib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from gmaildesk.config.desk import Desk
from gmaildesk.desk import filters, labels, sendas, vacation
from gmaildesk.desk.filters import FilterChange, UpstreamFilter
from gmaildesk.desk.labels import CurrentLabel, LabelChange
from gmaildesk.desk.ownership import OwnedFilter, OwnedLabel, Ownership
from gmaildesk.desk.read import Current
from gmaildesk.desk.sendas import SendAsChange
from gmaildesk.desk.vacation import VacationChange
from gmaildesk.errors import GmailDeskError

JSON_VERSION = 1
NO_CHANGES = "No changes"
ALLOW_DELETE_HINT = "pass --allow-delete"
MAX_FILTERS = 1000
MAX_LABELS = 10_000

Change = LabelChange | FilterChange | VacationChange | SendAsChange
C = TypeVar("C", LabelChange, FilterChange, SendAsChange)


@dataclass(frozen=True)
class Refusal:
    """A change the plan will not make, and why."""

    change: Change
    reason: str
    hint: str = ""

    def render(self) -> str:
        what = f"{self.change.action} {self.change.kind} {self.change.name}"
        return f"! refused: {what} ({self.hint or self.reason})"

    def to_json(self) -> dict[str, Any]:
        return {**self.change.to_json(), "reason": self.reason, "hint": self.hint}


@dataclass(frozen=True)
class Plan:
    labels: tuple[LabelChange, ...] = ()
    filters: tuple[FilterChange, ...] = ()
    vacation: VacationChange | None = None
    send_as: tuple[SendAsChange, ...] = ()
    refused: tuple[Refusal, ...] = ()
    notes: tuple[str, ...] = ()
    # Bookkeeping apply does without writing to Gmail:
    label_ids: tuple[tuple[str, str], ...] = ()  # casefolded name (as Gmail has it, or as asked) -> user label id
    label_names: tuple[tuple[str, str], ...] = ()  # user label id -> name as Gmail has it
    adopt: tuple[tuple[str, OwnedFilter], ...] = ()  # filters found upstream to record as ours
    forget: tuple[str, ...] = ()  # recorded filter keys whose filters are gone
    forget_labels: tuple[str, ...] = ()  # recorded (or disowned) label ids gone from Gmail
    disown: tuple[tuple[str, str], ...] = ()  # recorded label ids someone renamed: id -> the name now

    def changes(self) -> tuple[Change, ...]:
        """Every change, in display order: labels, filters, vacation, send-as."""
        return (*self.labels, *self.filters, *((self.vacation,) if self.vacation else ()), *self.send_as)

    def is_empty(self) -> bool:
        """Nothing to write and nothing refused."""
        return not self.changes() and not self.refused

    def counts(self) -> dict[str, int]:
        counts = {"create": 0, "update": 0, "replace": 0, "delete": 0, "refused": len(self.refused)}
        for change in self.changes():
            counts[change.action] += 1
        return counts

    def render_text(self) -> str:
        lines = [line for change in self.changes() for line in (*change.render(), *text_diff(change))]
        lines += [refusal.render() for refusal in self.refused]
        if not lines:
            lines.append(NO_CHANGES)
        else:
            c = self.counts()
            lines.append(
                f"Plan: {c['create']} to create, {c['update'] + c['replace']} to change, "
                f"{c['delete']} to delete, {c['refused']} refused."
            )
        lines += [f"! note: {note}" for note in self.notes]
        return "\n".join(lines) + "\n"

    def to_json(self) -> dict[str, Any]:
        return {
            "version": JSON_VERSION,
            "kind": "plan",
            "changes": [change.to_json() for change in self.changes()],
            "refused": [refusal.to_json() for refusal in self.refused],
            "notes": list(self.notes),
        }


# The texts the change itself shows only by length ("430 -> 440 characters"); the subject it shows whole.
_VACATION_TEXTS = ("responseBodyPlainText", "responseBodyHtml")
_DIFF_INDENT = "      "
LONG_QUERY = 60  # characters


def text_diff(change: Change) -> list[str]:
    """Unified diffs of the change's texts (vacation subject and bodies, a signature, a filter's query):
    ``-`` what Gmail has, ``+`` what desk.yaml asks; nothing when no text changes."""
    if isinstance(change, VacationChange):
        pairs = [
            (key, change.before.get(key), change.after.get(key)) for key in change.fields if key in _VACATION_TEXTS
        ]
        return [line for key, old, new in pairs for line in _diff(key, _lines(old), _lines(new))]
    if isinstance(change, SendAsChange) and change.action == "update":
        before, after = dict(change.before), dict(change.after)
        if "signature" in after:
            return _diff("signature", _lines(before.get("signature")), _lines(after["signature"]))
    if isinstance(change, FilterChange) and change.before is not None and change.after is not None:
        old, new = dict(change.before.spec.criteria), dict(change.after.criteria)
        # A short query reads fine on the change's own - / + lines; in a long one, one search term a
        # line shows the term that changed.
        texts = [(key, str(old.get(key) or ""), str(new.get(key) or "")) for key in ("query", "negatedQuery")]
        return [
            line
            for key, before, after in texts
            if max(len(before), len(after)) > LONG_QUERY
            for line in _diff(key, before.split(), after.split())
        ]
    return []


def _lines(value: object) -> list[str]:
    return str(value).splitlines() if value else []


def _diff(name: str, old: list[str], new: list[str]) -> list[str]:
    if old == new:
        return []
    diff = difflib.unified_diff(old, new, f"{name} (in Gmail)", f"{name} (desk.yaml)", n=2, lineterm="")
    return [_DIFF_INDENT + line for line in diff]


def build(desk: Desk, current: Current, ownership: Ownership, allow_delete: bool = False) -> Plan:
    """Compare *desk* with the mailbox's *current* settings; deletions only when allowed and safe.

    Raises GmailDeskError, before anything is written, when the plan would take the mailbox past
    Gmail's filter or label limit.
    """
    current_labels = labels.from_gmail(current.labels)
    names_by_id = {label.id: label.name for label in current_labels}
    owned_ids = ownership.owned_label_ids(names_by_id)
    asked_names = {
        owned.asked_name.casefold(): owned.id
        for owned in ownership.labels.values()
        if owned.id in owned_ids and owned.asked
    }
    renamed = ownership.renamed_labels(names_by_id)
    label_changes = labels.diff(
        labels.from_desk(desk),
        current_labels,
        owned_ids,
        (desk.department_prefix, desk.status_prefix if desk.statuses.managed else ""),
        asked_names,
        {owned.id for owned, _ in renamed} | set(ownership.disowned),
    )
    desired_filters = filters.from_desk(desk)
    upstream = filters.from_gmail(current.filters, current.labels)
    filter_changes, adopt = filters.diff(desired_filters, upstream, ownership.filters)
    send_as_changes, notes = sendas.diff(desk.send_as, current.send_as, ownership.send_as, ownership.written)
    _check_limits(current, label_changes, filter_changes)
    notes = [*(_not_ours_note(owned, name) for owned, name in renamed), *notes]

    label_changes, refused_labels = _deletions_allowed(label_changes, allow_delete)
    filter_changes, refused_filters = _deletions_allowed(filter_changes, allow_delete)
    send_as_changes, refused_send_as = _deletions_allowed(send_as_changes, allow_delete)
    deleted_filters = {c.before.id for c in filter_changes if c.before is not None}  # replaced or removed
    label_changes, unsafe = _safe_label_deletions(label_changes, deleted_filters, upstream, current_labels)
    label_ids = {lab.name.casefold(): lab.id for lab in current_labels}
    label_ids.update(asked_names)
    return Plan(
        labels=tuple(label_changes),
        filters=tuple(filter_changes),
        vacation=vacation.diff(vacation.from_desk(desk.auto_ack), current.vacation, ownership.written),
        send_as=tuple(send_as_changes),
        refused=(*refused_labels, *refused_filters, *refused_send_as, *unsafe),
        notes=tuple(notes),
        label_ids=tuple(sorted(label_ids.items())),
        label_names=tuple(sorted(names_by_id.items())),
        adopt=tuple(sorted(adopt.items())),
        forget=tuple(filters.stale_records(ownership.filters, upstream, desired_filters)),
        forget_labels=tuple(sorted((set(ownership.labels) | set(ownership.disowned)) - set(names_by_id))),
        disown=tuple((owned.id, name) for owned, name in renamed),
    )


def _not_ours_note(owned: OwnedLabel, name: str) -> str:
    return (
        f"label {owned.id} was '{owned.name}' when gmaildesk made it and is now '{name}': "
        f"not gmaildesk's any more, left alone"
    )


def _check_limits(current: Current, label_changes: list[LabelChange], filter_changes: list[FilterChange]) -> None:
    """Refuse a plan that would take the mailbox past Gmail's limits, before the first write."""
    # Filters are created before the ones they replace are deleted (apply's order), so each
    # create and each replace adds one at the peak. Discovery, filters.create: "you can only
    # create a maximum of 1,000 filters"; past it Gmail answers 500 (elie222/inbox-zero PR #1192).
    new_filters = sum(
        1 for c in filter_changes if c.action == "create" or (c.action == "replace" and not c.existing_id)
    )
    if new_filters and len(current.filters) + new_filters > MAX_FILTERS:
        raise GmailDeskError(
            f"the mailbox has {len(current.filters)} filters and this plan adds {new_filters}: "
            f"Gmail allows at most {MAX_FILTERS:,} filters",
            ["delete filters the mailbox no longer needs (Gmail: Settings > Filters), or route with fewer filters"],
        )
    # Discovery, Label: "The maximum number of labels supported for a user's mailbox is 10,000."
    new_labels = sum(1 for c in label_changes if c.action == "create")
    if new_labels and len(current.labels) + new_labels > MAX_LABELS:
        raise GmailDeskError(
            f"the mailbox has {len(current.labels)} labels and this plan adds {new_labels}: "
            f"Gmail allows at most {MAX_LABELS:,} labels",
            ["delete labels the mailbox no longer needs, or use fewer departments and statuses"],
        )


def _deletions_allowed(changes: list[C], allow_delete: bool) -> tuple[list[C], list[Refusal]]:
    """(the changes to make, the deletions refused for lack of --allow-delete)."""
    if allow_delete:
        return changes, []
    kept = [c for c in changes if c.action != "delete"]
    return kept, [
        Refusal(c, "deleting needs --allow-delete", ALLOW_DELETE_HINT) for c in changes if c.action == "delete"
    ]


def _safe_label_deletions(
    changes: list[LabelChange],
    deleted_filters: set[str],
    upstream: Sequence[UpstreamFilter],
    current_labels: Sequence[CurrentLabel],
) -> tuple[list[LabelChange], list[Refusal]]:
    """(the label changes to make, the deletions refused): no label is deleted that a remaining
    filter adds or removes, or that remaining labels nest under."""
    deleting = {c.name.casefold() for c in changes if c.action == "delete"}
    kept: list[LabelChange] = []
    refused: list[Refusal] = []
    for change in changes:
        if change.action != "delete":
            kept.append(change)
            continue
        users = [
            f
            for f in upstream
            if f.id not in deleted_filters
            and change.name.casefold() in {n.casefold() for n in (*f.spec.add, *f.spec.remove)}
        ]
        nested = labels.nests_kept_labels(change, current_labels, deleting)
        if users:
            refused.append(
                Refusal(
                    change,
                    f"filter {users[0].spec.describe()} still uses it",
                    "a filter gmaildesk does not manage still uses it",
                )
            )
        elif nested:
            refused.append(
                Refusal(change, f"label {nested[0]} nests under it", f"label {nested[0]} still nests under it")
            )
        else:
            kept.append(change)
    return kept, refused
