"""The sandbox: a local server that speaks the Gmail API v1 over HTTP, with Gmail's rules.

with running_sandbox(users=("support@example.com",)) as sb:
    build("gmail", "v1", client_options={"api_endpoint": sb.url}, ...)
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from gmaildesk.sandbox.defaults import DEFAULT_USER

if TYPE_CHECKING:
    from gmaildesk.sandbox.client import SandboxControl
    from gmaildesk.sandbox.core import Sandbox, SandboxOptions
    from gmaildesk.sandbox.running import SandboxHandle, running_sandbox, start_server

__all__ = [
    "DEFAULT_USER",
    "Sandbox",
    "SandboxControl",
    "SandboxHandle",
    "SandboxOptions",
    "running_sandbox",
    "start_server",
]

_HOMES = {
    "SandboxControl": "client",
    "Sandbox": "core",
    "SandboxOptions": "core",
    "SandboxHandle": "running",
    "running_sandbox": "running",
    "start_server": "running",
}


def __getattr__(name: str) -> Any:
    # Lazy, so that the CLI can start (and print --help) without loading the whole server.
    if name in _HOMES:
        import importlib

        return getattr(importlib.import_module(f"gmaildesk.sandbox.{_HOMES[name]}"), name)
    raise AttributeError(name)
