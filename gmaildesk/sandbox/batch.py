"""Google's batch protocol: a multipart/mixed POST of HTTP requests, answered part for part.

Quirks the client library depends on (see shared reference B2): it sends parts with
bare LF line endings; it splits each answer part on CRLF CRLF; it reads the id after
" + " in the echoed Content-ID. A part's own headers are RFC 5322 headers: the client's
email.generator folds a long Content-ID over two lines (GAM7's request ids are long enough),
so they are read with the standard library's parser, continuation lines joined.
"""

from __future__ import annotations

import re
import uuid
from email import policy
from email.parser import BytesHeaderParser

from gmaildesk.sandbox import dispatch
from gmaildesk.sandbox.core import Sandbox
from gmaildesk.sandbox.errors import ApiError

MAX_BATCH_PARTS = 100
_REASONS = {
    200: "OK",
    204: "No Content",
    400: "Bad Request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not Found",
    405: "Method Not Allowed",
    409: "Conflict",
    429: "Too Many Requests",
    500: "Internal Server Error",
    503: "Service Unavailable",
}


def handle(sb: Sandbox, content_type: str, body: bytes, outer_headers: dict[str, str]) -> dispatch.Response:
    found = re.search(r'boundary="?([^";]+)"?', content_type or "")
    if not content_type.lower().startswith("multipart/mixed") or not found:
        return dispatch.error_response(ApiError(400, "Batch requests must be multipart/mixed with a boundary"))
    parts = _split(body, found.group(1).encode())
    if not parts:
        return dispatch.error_response(ApiError(400, "Batch request contains no parts"))
    if len(parts) > MAX_BATCH_PARTS:
        return dispatch.error_response(
            ApiError(400, f"A batch request cannot contain more than {MAX_BATCH_PARTS} requests")
        )
    shared = {
        k: v
        for k, v in outer_headers.items()
        if not k.lower().startswith("content-") and k.lower() in ("authorization",)
    }
    boundary = f"batch_{uuid.uuid4().hex}"
    chunks = []
    for part in parts:
        content_id, verb, target, headers, inner_body = _parse_part(part)
        status, resp_headers, payload = dispatch.call(sb, verb, target, {**shared, **headers}, inner_body)
        lines = [f"--{boundary}", "Content-Type: application/http"]
        if content_id:
            lines.append(f"Content-ID: <response-{content_id}>")
        lines += ["", f"HTTP/1.1 {status} {_REASONS.get(status, 'Status')}"]
        lines += [f"{k}: {v}" for k, v in resp_headers.items()]
        lines += [f"Content-Length: {len(payload)}", ""]
        chunks.append("\r\n".join(lines).encode() + b"\r\n" + payload + b"\r\n")
    out = b"".join(chunks) + f"--{boundary}--\r\n".encode()
    return 200, {"Content-Type": f"multipart/mixed; boundary={boundary}"}, out


def _split(body: bytes, boundary: bytes) -> list[bytes]:
    pieces = body.split(b"--" + boundary)
    parts = []
    for piece in pieces[1:]:
        if piece.startswith(b"--"):
            break
        parts.append(piece.strip(b"\r\n"))
    return parts


def _split_head(blob: bytes) -> tuple[list[str], bytes]:
    match = re.search(rb"\r?\n\r?\n", blob)
    if not match:
        return blob.decode("utf-8", "replace").splitlines(), b""
    return blob[: match.start()].decode("utf-8", "replace").splitlines(), blob[match.end() :]


def _content_id(head: bytes) -> str | None:
    """The part's whole Content-ID, without its angle brackets, folded lines unfolded (RFC 5322 2.2.3)."""
    value = BytesHeaderParser(policy=policy.default).parsebytes(head + b"\n\n").get("Content-ID")
    if value is None:
        return None
    return str(value).strip().strip("<>") or None


def _parse_part(part: bytes) -> tuple[str | None, str, str, dict[str, str], bytes]:
    match = re.search(rb"\r?\n\r?\n", part)
    head, http_blob = (part[: match.start()], part[match.end() :]) if match else (part, b"")
    content_id = _content_id(head)
    head_lines, inner_body = _split_head(http_blob)
    request_line = head_lines[0] if head_lines else "GET / HTTP/1.1"
    verb, target = (request_line.split(" ") + ["/"])[:2]
    headers = {}
    for line in head_lines[1:]:
        name, _, value = line.partition(":")
        headers[name.strip()] = value.strip()
    if target.startswith("http"):
        target = "/" + target.split("/", 3)[-1]
    length = headers.get("content-length") or headers.get("Content-Length")
    if length and length.isdigit():
        inner_body = inner_body[: int(length)]
    return content_id, verb.upper(), target, headers, inner_body.rstrip(b"\r\n") if not length else inner_body
