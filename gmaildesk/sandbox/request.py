"""What a Gmail API handler receives: the mailbox, path parameters, query and body."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, overload

from gmaildesk.sandbox.errors import bad_request

if TYPE_CHECKING:
    from gmaildesk.sandbox.core import Sandbox
    from gmaildesk.sandbox.mailbox import Mailbox


@dataclass
class ApiRequest:
    sandbox: Sandbox
    mailbox: Mailbox
    params: dict[str, str]
    query: dict[str, list[str]]
    body: Any = None
    media: bytes | None = None  # message bytes of an /upload/ call

    @property
    def now_ms(self) -> int:
        return self.sandbox.now_ms()

    @overload
    def arg(self, name: str) -> str | None: ...

    @overload
    def arg(self, name: str, default: str) -> str: ...

    def arg(self, name: str, default: str | None = None) -> str | None:
        values = self.query.get(name)
        return values[-1] if values else default

    def args(self, name: str) -> list[str]:
        return list(self.query.get(name, []))

    def flag(self, name: str) -> bool:
        value = self.arg(name)
        if value is None:
            return False
        if value.lower() not in ("true", "false", "1", "0"):
            raise bad_request(f"Invalid value for boolean parameter {name}: {value}")
        return value.lower() in ("true", "1")

    def int_arg(self, name: str, default: int, maximum: int) -> int:
        value = self.arg(name)
        if value is None:
            return default
        try:
            number = int(value)
        except ValueError:
            raise bad_request(f"Invalid value for integer parameter {name}: {value}") from None
        if number < 1:
            raise bad_request(f"Invalid value for {name}: {value}")
        return min(number, maximum)  # Gmail caps page sizes silently

    def json_body(self) -> dict[str, Any]:
        if not isinstance(self.body, dict):
            raise bad_request("Invalid JSON payload received. Expected an object.")
        return self.body


def page(items: list[Any], token: str | None, size: int) -> tuple[list[Any], str | None]:
    """Slice a list by an opaque numeric page token, as Gmail's list calls page."""
    start = 0
    if token:
        if not token.isdigit():
            raise bad_request("Invalid pageToken")
        start = int(token)
    chunk = items[start : start + size]
    nxt = start + size
    return chunk, (f"{nxt:020d}" if nxt < len(items) else None)
