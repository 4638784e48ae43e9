"""A small client for the sandbox control API (tests, demo, `gmaildesk sandbox ...` commands)."""

from __future__ import annotations

import contextlib
import json
import urllib.error
import urllib.request
from typing import Any
from urllib.parse import quote, urlencode

from gmaildesk.errors import ExitCode, GmailDeskError


class SandboxControl:
    def __init__(self, url: str, timeout: float = 30.0) -> None:
        self.url = url if url.endswith("/") else url + "/"
        self.timeout = timeout

    def _call(
        self,
        verb: str,
        path: str,
        body: object = None,
        *,
        raw: bytes | None = None,
        content_type: str = "application/json",
    ) -> dict[str, Any]:
        try:
            data = (
                raw if raw is not None else (json.dumps(body, allow_nan=False).encode() if body is not None else None)
            )
        except ValueError:
            raise GmailDeskError(
                f"sandbox control {verb} {path}: values must be finite numbers, not NaN or infinity",
                exit_code=ExitCode.USAGE,
            ) from None
        request = urllib.request.Request(
            self.url + "sandbox/" + path, data=data, method=verb, headers={"Content-Type": content_type}
        )
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:
                answer: dict[str, Any] = json.loads(response.read() or b"{}")
                return answer
        except urllib.error.HTTPError as error:
            detail = error.read().decode("utf-8", "replace")
            with contextlib.suppress(ValueError, KeyError, TypeError):  # not Gmail's error shape: the text as is
                detail = json.loads(detail)["error"]["message"]
            raise GmailDeskError(f"sandbox control {verb} {path}: {detail} (HTTP {error.code})") from None
        except urllib.error.URLError as error:
            raise GmailDeskError(
                f"cannot reach the sandbox at {self.url}: {error.reason}",
                hints=("Start one with `gmaildesk sandbox serve`.",),
            ) from None

    def status(self) -> dict[str, Any]:
        return self._call("GET", "status")

    def add_user(self, email: str, delegated: bool | None = None) -> dict[str, Any]:
        return self._call("POST", "users", {"email": email, "delegated": delegated})

    def set_delegated(self, user: str, delegated: bool) -> dict[str, Any]:
        return self._call("PATCH", f"users/{quote(user)}", {"delegated": delegated})

    def deliver(self, user: str, raw: bytes, *, spam: bool = False, authentication: str = "pass") -> dict[str, Any]:
        """`authentication="fail"`: Gmail's Authentication-Results say SPF and DMARC failed (a forged From)."""
        query = urlencode(
            {
                k: v
                for k, v in (
                    ("spam", "true" if spam else ""),
                    ("authentication", "" if authentication == "pass" else authentication),
                )
                if v
            }
        )
        return self._call(
            "POST",
            f"users/{quote(user)}/deliver" + (f"?{query}" if query else ""),
            raw=raw,
            content_type="message/rfc822",
        )

    def outbox(self, user: str, *, include_raw: bool = False) -> list[dict[str, Any]]:
        messages: list[dict[str, Any]] = self._call(
            "GET", f"users/{quote(user)}/outbox" + ("?raw=true" if include_raw else "")
        )["messages"]
        return messages

    def verify_send_as(self, user: str, address: str) -> dict[str, Any]:
        return self._call("POST", f"users/{quote(user)}/sendAs/{quote(address)}/verify")

    def verify_forwarding(self, user: str, address: str) -> dict[str, Any]:
        return self._call("POST", f"users/{quote(user)}/forwardingAddresses/{quote(address)}/verify")

    def register_smtp_hosts(self, user: str, hosts: list[str]) -> list[str]:
        """SMTP relays ("host" or "host:port") that send-as aliases of `user` may use."""
        registered: list[str] = self._call("PUT", f"users/{quote(user)}/smtp-hosts", {"hosts": hosts})["hosts"]
        return registered

    def clock(self) -> dict[str, Any]:
        return self._call("GET", "clock")

    def advance_clock(self, seconds: float) -> dict[str, Any]:
        return self._call("POST", "clock", {"advanceSeconds": seconds})

    def set_faults(self, **settings: object) -> dict[str, Any]:
        return self._call("PUT", "faults", settings)

    def clear_faults(self) -> dict[str, Any]:
        return self._call("PUT", "faults", {})

    def set_quota(
        self, units_per_second: float | None, costs: str | None = None, window_s: float | None = None
    ) -> dict[str, Any]:
        """Enforce units_per_second x window_s units in any window_s seconds (None: keep the window, 60 s first)."""
        return self._call("PUT", "quota", {"units_per_second": units_per_second, "costs": costs, "window_s": window_s})

    def counters(self) -> dict[str, Any]:
        return self._call("GET", "counters")

    def reset_counters(self) -> dict[str, Any]:
        return self._call("POST", "counters/reset")

    def configure(self, *, history_retention_seconds: float) -> dict[str, Any]:
        return self._call("POST", "config", {"historyRetentionSeconds": history_retention_seconds})
