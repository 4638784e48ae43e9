"""Send-as aliases: create missing ones, patch changed fields, delete only aliases gmaildesk created.

An SMTP password is never part of a plan: the change names the environment variable,
and apply reads it at the moment of the write. Gmail sanitises signatures ("Gmail will
sanitize the HTML before storing it", discovery text of SendAs.signature): a signature is
unchanged when desk.yaml asks what it asked at our last write and Gmail still holds what it
returned then.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

from gmaildesk.config.desk import SendAs, Smtp
from gmaildesk.desk.ownership import Written, form_hash, same_form
from gmaildesk.gmail.types import Json

_SECURITY = {"none": "none", "ssl": "ssl", "starttls": "starttls"}
VERIFY_HINT = "On the sandbox: gmaildesk sandbox verify {address} --endpoint URL"


@dataclass(frozen=True)
class SendAsChange:
    """Create an alias, patch fields of an existing one, or delete one gmaildesk created."""

    action: Literal["create", "update", "delete"]
    address: str
    before: tuple[tuple[str, object], ...] = ()  # the fields that change, as they are
    after: tuple[tuple[str, object], ...] = ()  # the fields to write (Gmail names)
    smtp: Smtp | None = None  # written too; the password comes from smtp.password_env at apply
    kind: str = "send-as"

    @property
    def name(self) -> str:
        return self.address

    def render(self) -> list[str]:
        if self.action == "delete":
            return [f"- send-as {self.address}"]
        before = dict(self.before)
        if self.action == "create":
            parts = [f"{key} {_show(key, value)}" for key, value in self.after]
        else:
            parts = [f"{key} {_show(key, before.get(key))} -> {_show(key, value)}" for key, value in self.after]
        if self.smtp:
            parts.append(
                f"smtp {self.smtp.host}:{self.smtp.port} {self.smtp.security} (password from ${self.smtp.password_env})"
            )
        sign = "+" if self.action == "create" else "~"
        return [f"{sign} send-as {self.address}" + (f"  {'; '.join(parts)}" if parts else "")]

    def to_json(self) -> dict[str, Any]:
        after = dict(self.after)
        if self.smtp:
            after["smtpMsa"] = {
                "host": self.smtp.host,
                "port": self.smtp.port,
                "username": self.smtp.username,
                "securityMode": _SECURITY[self.smtp.security],
                "passwordEnv": self.smtp.password_env,
            }
        return {
            "kind": self.kind,
            "action": self.action,
            "name": self.address,
            "before": dict(self.before) if self.action != "create" else None,
            "after": after if self.action != "delete" else None,
        }

    def to_gmail(self, password: str | None) -> dict[str, Any]:
        body = dict(self.after)
        if self.action == "create":
            body["sendAsEmail"] = self.address
        if self.smtp:
            body["smtpMsa"] = {
                "host": self.smtp.host,
                "port": self.smtp.port,
                "username": self.smtp.username,
                "password": password or "",
                "securityMode": _SECURITY[self.smtp.security],
            }
        return body


def _show(key: str, value: object) -> str:
    if key == "signature":
        return f"({len(str(value or ''))} characters)"
    if isinstance(value, bool):
        return "yes" if value else "no"
    return f'"{value or ""}"'


def _desired_fields(alias: SendAs, primary: bool) -> dict[str, object]:
    fields: dict[str, object] = {}
    if alias.display_name is not None:
        fields["displayName"] = alias.display_name
    if alias.reply_to is not None:
        fields["replyToAddress"] = alias.reply_to
    if alias.signature is not None:
        fields["signature"] = alias.signature
    if alias.default:
        fields["isDefault"] = True  # Gmail can only set it; another alias becoming default unsets it
    if not primary:
        fields["treatAsAlias"] = alias.treat_as_alias
    return fields


def signature_key(address: str) -> str:
    return f"send-as:{address.lower()}.signature"


def signature_form(address: str, asked: object, returned: object) -> tuple[str, Written]:
    """What to record after a write of *address*'s signature: as asked and as Gmail returned it."""
    return signature_key(address), Written(form_hash(asked or ""), form_hash(returned or ""))


def diff(
    desired: Iterable[SendAs], current: Iterable[Json], owned: set[str], written: Mapping[str, Written] | None = None
) -> tuple[list[SendAsChange], list[str]]:
    """Changes in config order (deletions last) and notes about aliases still waiting for verification."""
    written = written or {}

    def differs(address: str, key: str, now: object, wanted: object) -> bool:
        if key == "signature":
            return not same_form(written, signature_key(address), wanted or "", now or "")
        return _differs(now, wanted)

    by_address = {entry["sendAsEmail"].lower(): entry for entry in current}
    changes, notes = [], []
    wanted = set()
    for alias in desired:
        address = alias.address.lower()
        wanted.add(address)
        entry = by_address.get(address)
        if entry is None:
            fields = _desired_fields(alias, primary=False)
            changes.append(SendAsChange("create", address, after=tuple(fields.items()), smtp=alias.smtp))
            continue
        fields = _desired_fields(alias, primary=bool(entry.get("isPrimary")))
        changed = {k: v for k, v in fields.items() if differs(address, k, entry.get(k), v)}
        smtp = alias.smtp if alias.smtp and _smtp_differs(entry.get("smtpMsa"), alias.smtp) else None
        if changed or smtp:
            changes.append(
                SendAsChange("update", address, tuple((k, entry.get(k)) for k in changed), tuple(changed.items()), smtp)
            )
        if entry.get("verificationStatus") == "pending":
            notes.append(pending_note(address))
    for address in sorted(owned - wanted):
        if address in by_address and not by_address[address].get("isPrimary"):
            changes.append(SendAsChange("delete", address))
    return changes, notes


def pending_note(address: str) -> str:
    return (
        f"send-as {address} is waiting for verification: open the confirmation mail Gmail sent to "
        f"{address} and click its link"
    )


def _differs(current: object, wanted: object) -> bool:
    if isinstance(wanted, bool):
        return bool(current) != wanted
    return (current or "") != (wanted or "")


def _smtp_differs(current: Json | None, smtp: Smtp) -> bool:
    if not current:
        return True
    return (current.get("host"), current.get("port"), current.get("securityMode")) != (
        smtp.host,
        smtp.port,
        _SECURITY[smtp.security],
    )
