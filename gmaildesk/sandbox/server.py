"""The sandbox's HTTP server: Gmail API paths, the batch endpoint, OAuth and control API."""

from __future__ import annotations

import socket
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

from gmaildesk.sandbox import batch, control, dispatch, oauth
from gmaildesk.sandbox.core import Sandbox
from gmaildesk.sandbox.errors import ApiError

MAX_BODY = 160 * 1024 * 1024  # Gmail's insert/import media limit is 150 MB


class SandboxServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, address: tuple[str, int], sandbox: Sandbox, *, log=None):
        super().__init__(address, _Handler)
        self.sandbox = sandbox
        self.log = log

    @property
    def url(self) -> str:
        host, port = self.server_address[:2]
        host = f"[{host}]" if ":" in host else host
        return f"http://{host}:{port}/"


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as httplib2 expects
    # Headers and body go out as separate writes; with Nagle on, each answer waits ~40 ms
    # for the client's delayed ACK.
    disable_nagle_algorithm = True
    server: SandboxServer
    server_version = "gmaildesk-sandbox"

    def do_GET(self):
        self._serve()

    do_POST = do_PUT = do_PATCH = do_DELETE = do_GET

    def log_message(self, fmt, *args):
        if self.server.log:
            self.server.log(f"{self.address_string()} {fmt % args}")

    def _serve(self) -> None:
        sb = self.server.sandbox
        length = int(self.headers.get("Content-Length") or 0)
        if length > MAX_BODY:
            self._send(*dispatch.error_response(ApiError(413, "Request too large", "uploadTooLarge")))
            return
        body = self.rfile.read(length) if length else b""
        headers = {k: v for k, v in self.headers.items()}
        url = urlsplit(self.path)
        path = url.path
        if path.startswith("/sandbox/oauth/"):
            query = parse_qs(url.query, keep_blank_values=True)
            self._send(*oauth.handle_http(sb.auth, self.command, path, query, headers, body,
                                          now=sb.now_ms() / 1000, default_user=sb.default_user))
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
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(payload)

    def _drop(self) -> None:
        self.close_connection = True
        try:
            self.connection.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass

