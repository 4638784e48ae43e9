"""Labels: the desk's desired labels, the mailbox's current ones, and the diff between them.

Matching is by name, ignoring case (Gmail's rule). A colour the config leaves unset
means "don't care". Only labels gmaildesk manages may be deleted: those it recorded
creating, and those under the desk's department and status prefixes.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Set
from dataclasses import dataclass
from typing import Any, Literal

from gmaildesk.config.desk import Colour, Desk, Label
from gmaildesk.gmail.types import Json


@dataclass(frozen=True)
class CurrentLabel:
    id: str
    name: str
    colour: Colour | None


@dataclass(frozen=True)
class LabelChange:
    """Create a label, patch its colour in place, or delete it."""

    action: Literal["create", "update", "delete"]
    name: str
    label_id: str | None = None  # the existing label (update, delete)
    before: Colour | None = None
    after: Colour | None = None
    kind: str = "label"

    def render(self) -> list[str]:
        sign = {"create": "+", "update": "~", "delete": "-"}[self.action]
        if self.action == "create":
            return [f"+ label {self.name}" + (f"  colour {_colour(self.after)}" if self.after else "")]
        if self.action == "update":
            return [f"~ label {self.name}  colour {_colour(self.before)} -> {_colour(self.after)}"]
        return [f"{sign} label {self.name}"]

    def to_json(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "action": self.action,
            "name": self.name,
            "before": _colour_json(self.before) if self.action != "create" else None,
            "after": _colour_json(self.after) if self.action != "delete" else None,
        }


def _colour(colour: Colour | None) -> str:
    return f"{colour.background}/{colour.text}" if colour else "none"


def _colour_json(colour: Colour | None) -> dict[str, dict[str, str] | None]:
    return {"color": {"backgroundColor": colour.background, "textColor": colour.text} if colour else None}


def from_desk(desk: Desk) -> tuple[Label, ...]:
    """Every label the desk owns, parents first."""
    return desk.labels


def from_gmail(labels: Iterable[Json]) -> tuple[CurrentLabel, ...]:
    """The mailbox's user labels (system labels are never ours to change)."""
    found = []
    for label in labels:
        if label.get("type") != "user":
            continue
        color = label.get("color") or {}
        colour = (
            Colour(color["backgroundColor"].lower(), color["textColor"].lower())
            if color.get("backgroundColor") and color.get("textColor")
            else None
        )
        found.append(CurrentLabel(label["id"], label["name"], colour))
    return tuple(found)


def is_managed(label: CurrentLabel, owned_ids: set[str], prefixes: Iterable[str]) -> bool:
    """gmaildesk created it (per the ownership record) or it lies under one of the desk's prefixes."""
    return label.id in owned_ids or any(prefix and label.name.startswith(prefix) for prefix in prefixes)


def diff(
    desired: Iterable[Label],
    current: Iterable[CurrentLabel],
    owned_ids: set[str],
    prefixes: Iterable[str],
    asked_names: Mapping[str, str] | None = None,
    not_ours: Set[str] = frozenset(),
) -> list[LabelChange]:
    """Creates (parents first), colour updates, then deletions of managed labels (children first).

    *asked_names* maps a casefolded name desk.yaml asked for to the id of the label Gmail made
    of it under another name (Gmail trims and collapses names): that label is the one asked for.
    *not_ours*: ids gmaildesk made that someone renamed since; never deleted, even under a prefix.
    A ``parent`` label that is missing is created only together with a child that is created:
    Gmail keeps `A/B` without `A` (so do gmail-yaml-filters and exported desks), and a desk
    whose children exist already must not want their parent (`export` then `plan` is empty).
    """
    current = tuple(current)
    by_name = {label.name.casefold(): label for label in current}
    by_id = {label.id: label for label in current}
    asked_names = asked_names or {}
    matched: list[tuple[Label, CurrentLabel | None]] = []
    for label in desired:
        key = label.name.casefold()
        matched.append((label, by_name.get(key) or by_id.get(asked_names.get(key, ""))))
    created = {label.name.casefold() for label, existing in matched if existing is None and label.kind != "parent"}
    wanted = {label.name.casefold() for label in desired} | {e.name.casefold() for _, e in matched if e}
    changes: list[LabelChange] = []
    for label, existing in matched:
        if existing is None:
            prefix = label.name.casefold() + "/"
            if label.kind != "parent" or any(name.startswith(prefix) for name in created):
                changes.append(LabelChange("create", label.name, after=label.colour))
        elif label.colour is not None and label.colour != existing.colour:
            changes.append(LabelChange("update", existing.name, existing.id, existing.colour, label.colour))
    prefixes = tuple(prefixes)
    removed = [
        label
        for label in current
        if label.name.casefold() not in wanted and label.id not in not_ours and is_managed(label, owned_ids, prefixes)
    ]
    for gone in sorted(removed, key=lambda lab: (-lab.name.count("/"), lab.name)):
        changes.append(LabelChange("delete", gone.name, gone.id, before=gone.colour))
    return changes


def nests_kept_labels(change: LabelChange, current: Iterable[CurrentLabel], deleted: set[str]) -> list[str]:
    """Labels that stay and nest under the one *change* deletes (deleting it would orphan them)."""
    prefix = change.name.casefold() + "/"
    return sorted(
        label.name
        for label in current
        if label.name.casefold().startswith(prefix) and label.name.casefold() not in deleted
    )
