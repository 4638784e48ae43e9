"""The sandbox's HTTP server: Gmail API paths, the batch endpoint, OAuth and control API.

Safe to leave running on a desktop: it listens on loopback unless told otherwise, answers
only requests addressed to itself (Host) from itself (Origin), bounds connections, their idle
time and body sizes, and answers every request - a bad one with an error, never a crash.
"""

from __future__ import annotations

import contextlib
import io
import ipaddress
import socket
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, cast
from urllib.parse import parse_qs, urlsplit

from gmaildesk.errors import ExitCode, GmailDeskError
from gmaildesk.sandbox import batch, control, dispatch, oauth
from gmaildesk.sandbox.core import Sandbox
from gmaildesk.sandbox.errors import ApiError

MAX_UPLOAD_BODY = 160 * 1024 * 1024  # Gmail's insert/import media limit is 150 MB
MAX_BODY = 48 * 1024 * 1024  # anything else: a 35 MB message sent as base64url JSON fits
MAX_CONNECTIONS = 64
IDLE_TIMEOUT_S = 15.0
_LOOPBACK_NAMES = ("localhost", "127.0.0.1", "[::1]")
_BUSY_BODY = dispatch.json_response(503, ApiError(503, "the sandbox has too many open connections").body())[2]
_BUSY = (
    b"HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json; charset=UTF-8\r\n"
    b"Connection: close\r\nRetry-After: 1\r\nContent-Length: %d\r\n\r\n%s" % (len(_BUSY_BODY), _BUSY_BODY)
)


def is_loopback(host: str) -> bool:
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def check_bind(host: str, allow_remote: bool) -> None:
    if not is_loopback(host) and not allow_remote:
        raise GmailDeskError(
            f"--host {host} would expose the sandbox, whose control API has no authentication, beyond this machine",
            hints=("Keep the default 127.0.0.1, or add --allow-remote if you mean it.",),
            exit_code=ExitCode.USAGE,
        )


class SandboxServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128

    def __init__(
        self,
        address: tuple[str, int],
        sandbox: Sandbox,
        *,
        log: Callable[[str], None] | None = None,
        allow_remote: bool = False,
        max_connections: int = MAX_CONNECTIONS,
        idle_timeout_s: float = IDLE_TIMEOUT_S,
    ) -> None:
        check_bind(address[0], allow_remote)
        super().__init__(address, _Handler)
        self.sandbox = sandbox
        self.log = log
        self.allow_remote = allow_remote
        self.idle_timeout_s = idle_timeout_s
        self.max_connections = max_connections
        self._slots = threading.BoundedSemaphore(max_connections)
        # Connections waiting for their next request, and those still sending one, with since when.
        self._phases: dict[str, dict[socket.socket, float]] = {"idle": {}, "reading": {}}
        self._phase_lock = threading.Lock()
        self.refused_connections = 0
        self.evicted_connections = 0

    @property
    def url(self) -> str:
        host, port = str(self.server_address[0]), self.server_address[1]
        host = f"[{host}]" if ":" in host else host
        return f"http://{host}:{port}/"

    def own_hosts(self) -> set[str]:
        """Host header values that name this server (DNS rebinding sends another name)."""
        port = self.server_address[1]
        names = {*_LOOPBACK_NAMES, self.url.split("/")[2].rsplit(":", 1)[0].lower()}
        return {f"{name}:{port}" for name in names} | (names if port == 80 else set())

    # One thread per connection, never more than max_connections. At the cap a new connection
    # takes the place of the longest-idle one (closed between requests, which HTTP/1.1 clients
    # expect of keep-alive), or of one that has been sending its request for longer than the
    # idle timeout (a slow-loris); only when every connection is busy does it get a 503, at
    # once and without a thread of its own.
    def mark(self, conn: socket.socket, phase: str | None) -> None:
        with self._phase_lock:
            for name, members in self._phases.items():
                if name == phase:
                    members.setdefault(conn, time.monotonic())
                else:
                    members.pop(conn, None)

    def _evict_one(self) -> bool:
        with self._phase_lock:
            idle, reading = self._phases["idle"], self._phases["reading"]
            slow = {c: t for c, t in reading.items() if time.monotonic() - t > self.idle_timeout_s}
            victims = idle or slow
            if not victims:
                return False
            oldest = min(victims, key=victims.__getitem__)
            idle.pop(oldest, None)
            reading.pop(oldest, None)
        self.evicted_connections += 1
        with contextlib.suppress(OSError):
            oldest.shutdown(socket.SHUT_RDWR)
        return True

    def _take_slot(self) -> bool:
        if self._slots.acquire(blocking=False):
            return True
        while self._evict_one():
            if self._slots.acquire(timeout=1.0):
                return True
        return False

    def process_request(self, request: Any, client_address: Any) -> None:  # a TCP server: request is the socket
        if not self._take_slot():
            self.refused_connections += 1
            try:
                request.settimeout(1.0)
                request.sendall(_BUSY)
            except OSError:
                pass
            self.shutdown_request(request)
            return
        try:
            super().process_request(request, client_address)
        except BaseException:
            self._slots.release()
            raise

    def process_request_thread(self, request: Any, client_address: Any) -> None:
        try:
            super().process_request_thread(request, client_address)
        finally:
            self.mark(request, None)
            self._slots.release()


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as httplib2 expects
    # Headers and body go out as separate writes; with Nagle on, each answer waits ~40 ms
    # for the client's delayed ACK.
    disable_nagle_algorithm = True
    server: SandboxServer
    server_version = "gmaildesk-sandbox"

    def setup(self) -> None:
        # A socket timeout ends idle keep-alive connections and bodies that never finish arriving.
        self.timeout = self.server.idle_timeout_s  # type: ignore[misc]  # typeshed: a ClassVar; socketserver reads it per instance
        super().setup()

    def handle_one_request(self) -> None:
        # Idle until the first byte of the next request arrives, then reading it until _serve has
        # its body; both phases may be evicted at the cap (see SandboxServer).
        self.server.mark(self.connection, "idle")
        try:
            first = cast(io.BufferedReader, self.rfile).peek(1)  # rbufsize > 0: a buffered reader
        except (TimeoutError, OSError):
            first = b""
        if not first:
            self.close_connection = True
            return
        self.server.mark(self.connection, "reading")
        try:
            super().handle_one_request()
        finally:
            self.server.mark(self.connection, None)

    def do_GET(self) -> None:
        try:
            self._serve()
        except (TimeoutError, ConnectionError):
            self.close_connection = True
        except Exception as error:  # last resort: a sandbox bug answers 500, the server goes on
            self.close_connection = True
            if self.server.log:
                self.server.log(f"sandbox internal error: {error!r}")
            self._send(*dispatch.error_response(dispatch.internal_error(error)))

    do_POST = do_PUT = do_PATCH = do_DELETE = do_GET

    def log_message(self, fmt: str, *args: Any) -> None:
        if self.server.log:
            self.server.log(f"{self.address_string()} {fmt % args}")

    def _refuse(self, error: ApiError) -> None:
        # The body (if any) was not read: the connection cannot carry another request.
        self.close_connection = True
        self._send(*dispatch.error_response(error))

    def _body_length(self, path: str) -> int:
        if self.headers.get("Transfer-Encoding"):
            raise ApiError(411, "Transfer-Encoding is not supported; send Content-Length", "badRequest")
        values = self.headers.get_all("Content-Length") or []
        if len(values) > 1:
            raise ApiError(400, "more than one Content-Length header", "badRequest")
        text = values[0].strip() if values else "0"
        if not text.isdigit() or not text.isascii():
            raise ApiError(400, f"Content-Length must be a non-negative integer, not {text[:40]!r}", "badRequest")
        length = int(text)
        limit = MAX_UPLOAD_BODY if path.startswith("/upload/") or path.startswith("/batch") else MAX_BODY
        if length > limit:
            raise ApiError(413, f"Request too large (at most {limit // (1024 * 1024)} MB)", "uploadTooLarge")
        return length

    def _foreign(self) -> str | None:
        """Why this request does not come from the sandbox's own origin, or None when it does."""
        host = (self.headers.get("Host") or "").strip().lower()
        if not host:
            return "a request without a Host header"
        if not self.server.allow_remote and host not in self.server.own_hosts():
            return f"Host {host!r} is not this sandbox (a DNS rebinding attempt?)"
        origin = self.headers.get("Origin")
        if origin is not None and origin.strip().lower() != f"http://{host}":
            return f"Origin {origin.strip()[:100]!r} is another site; browsers may not write to the sandbox"
        return None

    def _serve(self) -> None:
        sb = self.server.sandbox
        url = urlsplit(self.path)
        path = url.path
        foreign = self._foreign()
        if foreign:
            self._refuse(ApiError(403, f"refused: {foreign}", "forbidden"))
            return
        try:
            length = self._body_length(path)
        except ApiError as error:
            self._refuse(error)
            return
        body = self.rfile.read(length) if length else b""
        if len(body) < length:
            self.close_connection = True
            return
        self.server.mark(self.connection, None)  # the request is in; handling it may take its time
        headers = {k: v for k, v in self.headers.items()}
        if path.startswith("/sandbox/oauth/"):
            query = parse_qs(url.query, keep_blank_values=True)
            self._send(
                *oauth.handle_http(
                    sb.auth,
                    self.command,
                    path,
                    query,
                    headers,
                    body,
                    now=sb.now_ms() / 1000,
                    default_user=sb.default_user,
                )
            )
            return
        if path.startswith("/sandbox/"):
            query = parse_qs(url.query, keep_blank_values=True)
            self._send(*control.handle(sb, self.command, path, query, headers, body))
            return
        # Everything below is the imitation of Gmail: injected latency and dropped connections apply.
        if sb.faults.latency():
            time.sleep(sb.faults.latency())
        if sb.faults.roll_drop():
            sb.counters.record_fault("drop")
            self._drop()
            return
        if path in ("/batch", "/batch/gmail/v1") and self.command == "POST":
            sb.counters.record_http(batch=True)
            self._send(*batch.handle(sb, dispatch.header(headers, "Content-Type") or "", body, headers))
        elif path.startswith("/gmail/v1/") or path.startswith("/upload/gmail/v1/"):
            sb.counters.record_http()
            self._send(*dispatch.call(sb, self.command, self.path, headers, body))
        else:
            self._send(*dispatch.error_response(ApiError(404, f"Not Found: {path}", "notFound")))

    def _send(self, status: int, headers: dict[str, str], payload: bytes) -> None:
        self.send_response(status)
        for name, value in headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(payload)))
        if self.close_connection:
            self.send_header("Connection", "close")
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(payload)

    def _drop(self) -> None:
        self.close_connection = True
        with contextlib.suppress(OSError):
            self.connection.shutdown(socket.SHUT_RDWR)
