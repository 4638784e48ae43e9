"""Filters: desired filters in Gmail's terms (label names, not ids), upstream filters, and the diff.

Identity is a hash of the canonical criteria and action, as in gmailctl: Gmail has no
filter update, so an unchanged filter has the same hash and a changed one is a new
filter. Each desired filter has a stable key ("department:Billing", "filter:bounces")
that the ownership record maps to the Gmail filter id it created. Filters not
recorded as ours are never touched; upstream filters gmaildesk cannot read are ignored.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

from gmaildesk.config.desk import Desk, Filter
from gmaildesk.desk.ownership import OwnedFilter
from gmaildesk.gmail.filter_query import filter_query
from gmaildesk.gmail.labels import SYSTEM_LABEL_IDS
from gmaildesk.gmail.types import Json

CRITERIA_KEYS = ("from", "to", "subject", "query", "negatedQuery", "hasAttachment", "size", "sizeComparison")
CATEGORY_IDS = {
    "primary": "CATEGORY_PERSONAL",
    "social": "CATEGORY_SOCIAL",
    "promotions": "CATEGORY_PROMOTIONS",
    "updates": "CATEGORY_UPDATES",
    "forums": "CATEGORY_FORUMS",
}
_CATEGORY_NAMES = {v: k for k, v in CATEGORY_IDS.items()}


@dataclass(frozen=True)
class FilterSpec:
    """A Gmail filter with label names in place of ids; system labels keep their ids (INBOX, STARRED)."""

    criteria: tuple[tuple[str, object], ...]  # (Gmail criteria key, value), in CRITERIA_KEYS order
    add: tuple[str, ...] = ()  # sorted
    remove: tuple[str, ...] = ()  # sorted
    forward: str | None = None

    @classmethod
    def make(
        cls,
        criteria: Mapping[str, object],
        add: Iterable[str] = (),
        remove: Iterable[str] = (),
        forward: str | None = None,
    ) -> FilterSpec:
        kept = tuple((k, criteria[k]) for k in CRITERIA_KEYS if criteria.get(k) not in (None, "", False))
        if not any(k == "size" for k, _ in kept):
            kept = tuple((k, v) for k, v in kept if k != "sizeComparison")
        return cls(kept, tuple(sorted(set(add))), tuple(sorted(set(remove))), forward.lower() if forward else None)

    @property
    def hash(self) -> str:
        """Canonical identity: user label names compared ignoring case, as Gmail does."""
        canonical = {
            "criteria": dict(self.criteria),
            "add": sorted(n.casefold() for n in self.add),
            "remove": sorted(n.casefold() for n in self.remove),
            "forward": self.forward,
        }
        return hashlib.sha256(json.dumps(canonical, sort_keys=True).encode()).hexdigest()[:16]

    def query(self) -> str:
        return filter_query(dict(self.criteria))

    def describe(self) -> str:
        """``to:(billing@example.com) -> label Dept/Billing, archive``."""
        return f"{self.query()} -> {', '.join(self.actions())}"

    def actions(self) -> list[str]:
        words = [f"label {name}" for name in self.add if name not in SYSTEM_LABEL_IDS]
        flags = {
            ("remove", "INBOX"): "archive",
            ("remove", "UNREAD"): "mark read",
            ("add", "STARRED"): "star",
            ("add", "IMPORTANT"): "important",
            ("remove", "IMPORTANT"): "never important",
            ("remove", "SPAM"): "never spam",
        }
        for verb, names in (("add", self.add), ("remove", self.remove)):
            for name in names:
                if (verb, name) in flags:
                    words.append(flags[(verb, name)])
                elif verb == "add" and name in _CATEGORY_NAMES:
                    words.append(f"category {_CATEGORY_NAMES[name]}")
                elif verb == "remove" or name in SYSTEM_LABEL_IDS:
                    words.append(f"{verb} {name}")
        if self.forward:
            words.append(f"forward to {self.forward}")
        return words

    def to_json(self) -> dict[str, Any]:
        action: dict[str, Any] = {"addLabels": list(self.add), "removeLabels": list(self.remove)}
        if self.forward:
            action["forward"] = self.forward
        return {"criteria": dict(self.criteria), "action": action}

    def to_gmail(self, label_ids: Mapping[str, str]) -> dict[str, Any]:
        """The filters.create body; *label_ids* maps casefolded user label names to ids (KeyError if missing)."""

        def ids(names: tuple[str, ...]) -> list[str]:
            return [name if name in SYSTEM_LABEL_IDS else label_ids[name.casefold()] for name in names]

        action: dict[str, Any] = {}
        if self.add:
            action["addLabelIds"] = ids(self.add)
        if self.remove:
            action["removeLabelIds"] = ids(self.remove)
        if self.forward:
            action["forward"] = self.forward
        return {"criteria": dict(self.criteria), "action": action}


@dataclass(frozen=True)
class DesiredFilter:
    key: str
    spec: FilterSpec


@dataclass(frozen=True)
class UpstreamFilter:
    id: str
    spec: FilterSpec


@dataclass(frozen=True)
class FilterChange:
    """Create a filter, replace one of ours (create new, then delete old), or delete one of ours."""

    action: Literal["create", "replace", "delete"]
    key: str
    before: UpstreamFilter | None = None
    after: FilterSpec | None = None
    existing_id: str | None = None  # replace whose new version already exists upstream: adopt, don't create
    existing_form: str = ""  # that version's hash as Gmail stores it, when it differs from the asked one
    kind: str = "filter"

    @property
    def name(self) -> str:
        return self.key

    def render(self) -> list[str]:
        before = "" if self.before is None else self.before.spec.describe()
        after = "" if self.after is None else self.after.describe()
        if self.action == "create":
            return [f"+ filter {self.key}  {after}"]
        if self.action == "delete":
            return [f"- filter {self.key}  {before}"]
        return [f"~ filter {self.key}", f"    - {before}", f"    + {after}"]

    def to_json(self) -> dict[str, Any]:
        before = None if self.before is None else {"id": self.before.id, **self.before.spec.to_json()}
        return {
            "kind": self.kind,
            "action": self.action,
            "name": self.key,
            "before": before,
            "after": None if self.after is None else self.after.to_json(),
        }


def key_of(flt: Filter) -> str:
    if flt.name.startswith("department "):
        return "department:" + flt.name[len("department ") :]
    return "filter:" + flt.name


def spec_of(flt: Filter) -> FilterSpec:
    c, a = flt.criteria, flt.actions
    criteria = {
        "from": c.from_,
        "to": c.to,
        "subject": c.subject,
        "query": c.query,
        "negatedQuery": c.negated_query,
        "hasAttachment": c.has_attachment,
        "size": c.size,
        "sizeComparison": c.size_comparison,
    }
    add, remove = [], []
    if a.label:
        add.append(a.label)
    if a.star:
        add.append("STARRED")
    if a.important is True:
        add.append("IMPORTANT")
    if a.category:
        add.append(CATEGORY_IDS[a.category])
    if a.archive:
        remove.append("INBOX")
    if a.mark_read:
        remove.append("UNREAD")
    if a.important is False:
        remove.append("IMPORTANT")
    if a.never_spam:
        remove.append("SPAM")
    return FilterSpec.make(criteria, add, remove, a.forward)


def from_desk(desk: Desk) -> tuple[DesiredFilter, ...]:
    """Department routing filters, then the config's own filters, each with its stable key."""
    routing = {f.name for f in desk.routing_filters()}
    return tuple(
        DesiredFilter(key_of(f) if f.name in routing else "filter:" + f.name, spec_of(f)) for f in desk.all_filters()
    )


def from_gmail(filters: Iterable[Json], labels: Iterable[Json]) -> tuple[UpstreamFilter, ...]:
    """Upstream filters gmaildesk can read; those with unknown criteria or label ids are left out."""
    names = {label["id"]: label["name"] for label in labels if label.get("type") == "user"}
    found = []
    for flt in filters:
        criteria = dict(flt.get("criteria") or {})
        action = dict(flt.get("action") or {})
        if criteria.get("sizeComparison") == "unspecified":
            criteria.pop("sizeComparison")
        unknown = {k for k, v in criteria.items() if k not in CRITERIA_KEYS and v not in (None, "", False)}
        unknown |= {k for k, v in action.items() if k not in ("addLabelIds", "removeLabelIds", "forward") and v}
        ids = [*action.get("addLabelIds", []), *action.get("removeLabelIds", [])]
        if unknown or any(i not in SYSTEM_LABEL_IDS and i not in names for i in ids) or "id" not in flt:
            continue
        add, remove = (
            [i if i in SYSTEM_LABEL_IDS else names[i] for i in action.get(key, [])]
            for key in ("addLabelIds", "removeLabelIds")
        )
        found.append(UpstreamFilter(flt["id"], FilterSpec.make(criteria, add, remove, action.get("forward"))))
    return tuple(found)


def diff(
    desired: Iterable[DesiredFilter], upstream: Iterable[UpstreamFilter], owned: Mapping[str, OwnedFilter]
) -> tuple[list[FilterChange], dict[str, OwnedFilter]]:
    """Changes (creates and replaces by key order, then deletions) and filters to adopt as ours.

    A desired filter already upstream (same hash) is unchanged; if unrecorded it is adopted.
    So is the filter recorded for its key when desk.yaml asks what it asked when that filter was
    made and Gmail still returns it in the form it returned then (Gmail has no filter update).
    """
    upstream = tuple(upstream)
    by_id = {f.id: f for f in upstream}
    by_hash: dict[str, UpstreamFilter] = {}
    for flt in upstream:
        by_hash.setdefault(flt.spec.hash, flt)
    # Ours as Gmail stored them (criteria trimmed and collapsed), by the hash desk.yaml asked for.
    by_asked = stored_forms(owned, upstream)
    changes: list[FilterChange] = []
    adopt: dict[str, OwnedFilter] = {}
    planned: set[str] = set()
    kept: set[str] = set()  # upstream ids a desired filter stays or becomes (e.g. one renamed in desk.yaml)
    desired = tuple(desired)
    for item in sorted(desired, key=lambda d: d.key):
        digest = item.spec.hash
        record = owned.get(item.key)
        old = by_id.get(record.id) if record else None
        match = by_hash.get(digest) or by_asked.get(digest)
        if digest in planned:
            continue  # two config entries asking for the same filter: Gmail keeps one
        planned.add(digest)
        if match is not None and (old is None or old.id == match.id):
            kept.add(match.id)
            if record is None or record.id != match.id:
                adopt[item.key] = OwnedFilter(match.id, digest, "" if match.spec.hash == digest else match.spec.hash)
        elif old is not None:
            changes.append(
                FilterChange(
                    "replace",
                    item.key,
                    old,
                    item.spec,
                    existing_id=match.id if match else None,
                    existing_form=match.spec.hash if match and match.spec.hash != digest else "",
                )
            )
        else:
            changes.append(FilterChange("create", item.key, after=item.spec))
    wanted = {item.key for item in desired}
    for key in sorted(owned):
        gone = by_id.get(owned[key].id)
        if key not in wanted and gone is not None and gone.id not in kept:
            changes.append(FilterChange("delete", key, before=gone))
    return changes, adopt


def stale_records(
    owned: Mapping[str, OwnedFilter], upstream: Iterable[UpstreamFilter], desired: Iterable[DesiredFilter]
) -> list[str]:
    """Recorded keys no longer desired whose filter is gone from Gmail or now desired under another key."""
    upstream = tuple(upstream)
    ids = {f.id for f in upstream}
    desired = tuple(desired)
    wanted = {d.key for d in desired}
    hashes = {d.spec.hash for d in desired}
    by_asked = stored_forms(owned, upstream)
    renamed = {f.id for f in upstream if f.spec.hash in hashes} | {by_asked[h].id for h in hashes if h in by_asked}
    return sorted(k for k, v in owned.items() if k not in wanted and (v.id not in ids or v.id in renamed))


def stored_forms(owned: Mapping[str, OwnedFilter], upstream: Iterable[UpstreamFilter]) -> dict[str, UpstreamFilter]:
    """Recorded filters still upstream in the form Gmail returned for them, by the hash asked for."""
    by_id = {f.id: f for f in upstream}
    found: dict[str, UpstreamFilter] = {}
    for record in owned.values():
        flt = by_id.get(record.id)
        if flt is not None and flt.spec.hash == record.returned_hash:
            found.setdefault(record.hash, flt)
    return found
