"""The vacation responder used as the desk's auto-acknowledgement.

Written only when the canonical settings differ: every write restarts Gmail's
once-per-four-days window and would acknowledge every customer again.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Literal, Mapping

from gmaildesk.config.desk import AutoAck

FIELDS = ("enableAutoReply", "responseSubject", "responseBodyPlainText", "responseBodyHtml",
          "restrictToContacts", "restrictToDomain", "startTime", "endTime")
_BODIES = ("responseBodyPlainText", "responseBodyHtml")


def canonical(settings: Mapping[str, object]) -> dict:
    """Gmail's VacationSettings without unset parts (empty, false, null); times as epoch-ms strings."""
    kept = {}
    for key in FIELDS:
        value = settings.get(key)
        if value in (None, "", False):
            continue
        kept[key] = str(int(value)) if key in ("startTime", "endTime") else value
    return kept


def _epoch_ms(moment: dt.datetime | None) -> str | None:
    return None if moment is None else str(int(moment.timestamp() * 1000))


def from_desk(ack: AutoAck | None) -> dict | None:
    """Desired canonical settings; None when desk.yaml does not manage the responder."""
    if ack is None:
        return None
    return canonical({
        "enableAutoReply": ack.enabled, "responseSubject": ack.subject, "responseBodyPlainText": ack.body_text,
        "responseBodyHtml": ack.body_html, "restrictToContacts": ack.restrict_to_contacts,
        "restrictToDomain": ack.restrict_to_domain, "startTime": _epoch_ms(ack.start), "endTime": _epoch_ms(ack.end),
    })


@dataclass(frozen=True)
class VacationChange:
    before: Mapping[str, object]
    after: Mapping[str, object]
    action: Literal["update"] = "update"
    name: str = "vacation"
    kind: str = "vacation"

    def render(self) -> list[str]:
        lines = ["~ vacation"]
        for key in FIELDS:
            old, new = self.before.get(key), self.after.get(key)
            if old == new:
                continue
            if key in _BODIES and old and new:
                lines.append(f"    {key}: changed, {len(str(old))} -> {len(str(new))} characters")
            else:
                lines.append(f"    {key}: {_show(key, old)} -> {_show(key, new)}")
        return lines

    def to_json(self) -> dict:
        return {"kind": self.kind, "action": self.action, "name": self.name, "before": dict(self.before),
                "after": dict(self.after)}

    def to_gmail(self) -> dict:
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
        moment = dt.datetime.fromtimestamp(int(str(value)) / 1000, tz=dt.timezone.utc)
        return moment.isoformat().replace("+00:00", "Z")
    return f'"{value}"'


def diff(desired: dict | None, current: Mapping[str, object]) -> VacationChange | None:
    if desired is None:
        return None
    before = canonical(current)
    return None if before == desired else VacationChange(before, desired)
