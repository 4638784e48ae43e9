"""Starting a sandbox: as a server object, or on a background thread for tests and the demo."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from gmaildesk.sandbox.client import SandboxControl
from gmaildesk.sandbox.core import Sandbox, SandboxOptions
from gmaildesk.sandbox.defaults import DEFAULT_USER
from gmaildesk.sandbox.server import IDLE_TIMEOUT_S, MAX_CONNECTIONS, SandboxServer, check_bind


@dataclass
class SandboxHandle:
    url: str
    sandbox: Sandbox
    control: SandboxControl

    def __str__(self) -> str:
        return self.url


def start_server(
    options: SandboxOptions,
    host: str = "127.0.0.1",
    port: int = 0,
    log: Callable[[str], None] | None = None,
    **limits: Any,
) -> SandboxServer:
    """limits: allow_remote, max_connections, idle_timeout_s (see SandboxServer)."""
    check_bind(host, limits.get("allow_remote", False))
    sandbox = Sandbox(options)
    try:
        return SandboxServer((host, port), sandbox, log=log, **limits)
    except BaseException:
        sandbox.store.close()
        raise


@contextmanager
def running_sandbox(
    users: tuple[str, ...] = (DEFAULT_USER,),
    *,
    db: str | None = None,
    host: str = "127.0.0.1",
    port: int = 0,
    max_connections: int = MAX_CONNECTIONS,
    idle_timeout_s: float = IDLE_TIMEOUT_S,
    **options: Any,
) -> Iterator[SandboxHandle]:
    """Serve a sandbox on a background thread; yields its handle (url, sandbox, control)."""
    server = start_server(
        SandboxOptions(users=tuple(users), db=db, **options),
        host,
        port,
        max_connections=max_connections,
        idle_timeout_s=idle_timeout_s,
    )
    thread = threading.Thread(
        target=server.serve_forever, kwargs={"poll_interval": 0.02}, name="gmaildesk-sandbox", daemon=True
    )
    thread.start()
    try:
        yield SandboxHandle(server.url, server.sandbox, SandboxControl(server.url))
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
        server.sandbox.store.close()
