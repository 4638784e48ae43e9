"""The vacation responder used as the desk's auto-acknowledgement.

Written only when the canonical settings differ: every write restarts Gmail's
once-per-four-days window and would acknowledge every customer again. Gmail sanitises the
HTML body before storing it ("Gmail will sanitize the HTML before storing it", discovery
text of VacationSettings.responseBodyHtml), so a field also counts as unchanged when
desk.yaml asks what it asked at our last write and Gmail still holds what it returned then.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from gmaildesk.config.desk import AutoAck
from gmaildesk.desk.ownership import Written, form_hash, same_form
from gmaildesk.gmail.types import Json

FIELDS = (
    "enableAutoReply",
    "responseSubject",
    "responseBodyPlainText",
    "responseBodyHtml",
    "restrictToContacts",
    "restrictToDomain",
    "startTime",
    "endTime",
)
_BODIES = ("responseBodyPlainText", "responseBodyHtml")


def canonical(settings: Json) -> dict[str, Any]:
    """Gmail's VacationSettings without unset parts (empty, false, null); times as epoch-ms strings."""
    kept: dict[str, Any] = {}
    for key in FIELDS:
        value = settings.get(key)
        if value in (None, "", False):
            continue
        kept[key] = str(int(value)) if key in ("startTime", "endTime") else value
    return kept


def _epoch_ms(moment: dt.datetime | None) -> str | None:
    return None if moment is None else str(int(moment.timestamp() * 1000))


def from_desk(ack: AutoAck | None) -> dict[str, Any] | None:
    """Desired canonical settings; None when desk.yaml does not manage the responder."""
    if ack is None:
        return None
    if ack.mode == "sweep":
        return {}  # the sweep acknowledges: the responder stays off, or every customer would get two
    return canonical(
        {
            "enableAutoReply": ack.enabled,
            "responseSubject": ack.subject,
            "responseBodyPlainText": ack.body_text,
            "responseBodyHtml": ack.body_html,
            "restrictToContacts": ack.restrict_to_contacts,
            "restrictToDomain": ack.restrict_to_domain,
            "startTime": _epoch_ms(ack.start),
            "endTime": _epoch_ms(ack.end),
        }
    )


@dataclass(frozen=True)
class VacationChange:
    before: Mapping[str, object]
    after: Mapping[str, object]
    fields: tuple[str, ...] = FIELDS  # the fields that really differ (not Gmail's normalisation)
    action: Literal["update"] = "update"
    name: str = "vacation"
    kind: str = "vacation"

    def render(self) -> list[str]:
        lines = ["~ vacation"]
        for key in self.fields:
            old, new = self.before.get(key), self.after.get(key)
            if key in _BODIES and old and new:
                lines.append(f"    {key}: changed, {len(str(old))} -> {len(str(new))} characters")
            else:
                lines.append(f"    {key}: {_show(key, old)} -> {_show(key, new)}")
        return lines

    def to_json(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "action": self.action,
            "name": self.name,
            "before": {k: self.before.get(k) for k in self.fields},
            "after": {k: self.after.get(k) for k in self.fields},
        }

    def to_gmail(self) -> dict[str, Any]:
        """The updateVacation body: every field, so nothing unmanaged lingers."""
        body = dict(self.after)
        body["enableAutoReply"] = bool(self.after.get("enableAutoReply"))
        return body


def _show(key: str, value: object) -> str:
    if value is None:
        return "off" if key == "enableAutoReply" or key.startswith("restrict") else "(unset)"
    if value is True:
        return "on"
    if key in _BODIES:
        return f"{len(str(value))} characters"
    if key in ("startTime", "endTime"):
        moment = dt.datetime.fromtimestamp(int(str(value)) / 1000, tz=dt.UTC)
        return moment.isoformat().replace("+00:00", "Z")
    return f'"{value}"'


def written_key(field_name: str) -> str:
    return f"vacation.{field_name}"


def diff(
    desired: dict[str, Any] | None, current: Json, written: Mapping[str, Written] | None = None
) -> VacationChange | None:
    """The fields desk.yaml wants otherwise than Gmail has them, Gmail's own normalisation aside."""
    if desired is None:
        return None
    before = canonical(current)
    written = written or {}
    changed = tuple(
        key for key in FIELDS if not same_form(written, written_key(key), desired.get(key), before.get(key))
    )
    return VacationChange(before, desired, changed) if changed else None


def forms(asked: Mapping[str, object], returned: Mapping[str, object]) -> dict[str, Written]:
    """What to record after updateVacation: each field as asked and as Gmail returned it."""
    stored = canonical(returned)
    return {written_key(key): Written(form_hash(asked.get(key)), form_hash(stored.get(key))) for key in FIELDS}
