"""One Gmail API call through the sandbox: faults, auth, quota, the handler, counters, schema check.

Direct requests and every part of a batch go through `call`, so a batch of n calls
costs n calls and n quota charges, as Gmail counts them.
"""

from __future__ import annotations

import itertools
import json
import re
from typing import Any
from urllib.parse import parse_qs, urlsplit

from gmaildesk.sandbox import oauth, routes
from gmaildesk.sandbox.core import Sandbox
from gmaildesk.sandbox.errors import ApiError, bad_request
from gmaildesk.sandbox.request import ApiRequest

JSON = "application/json; charset=UTF-8"
Response = tuple[int, dict[str, str], bytes]


def json_response(status: int, body: object, headers: dict[str, str] | None = None) -> Response:
    return status, {"Content-Type": JSON, **(headers or {})}, json.dumps(body, indent=1).encode()


def error_response(error: ApiError) -> Response:
    return json_response(error.code, error.body())


def call(sb: Sandbox, verb: str, target: str, headers: dict[str, str], body: bytes) -> Response:
    """Serve one Gmail API request (path + query string, as sent on the wire or in a batch part)."""
    try:
        verb, target, body = method_override(verb, target, headers, body)
    except ApiError as error:
        return error_response(error)
    url = urlsplit(target)
    path, query = url.path, parse_qs(url.query, keep_blank_values=True)
    method_id = "unknown"
    try:
        upload = routes.match_upload(verb, path) if path.startswith("/upload/") else None
        if upload:
            method_id, handler, params = upload
        else:
            try:
                method_id, handler, params = routes.match(verb, path)
            except routes.NoRoute as missing:
                if missing.allowed:
                    raise ApiError(405, f"Method {verb} is not allowed here", "methodNotAllowed") from None
                raise ApiError(404, f"Not Found: {path}", "notFound") from None
        fault = sb.faults.roll_error()
        if fault is not None:
            sb.counters.record_fault(str(fault.code))
            raise fault
        grant_user = oauth.authorize_call(
            sb.auth,
            header(headers, "Authorization"),
            method_id,
            params["userId"],
            now=sb.now_ms() / 1000,
            targets_primary_send_as=_targets_primary(sb, params),
        )
        json_body, media = _decode_body(query, headers, body, upload is not None)
        units = sb.quota.cost(method_id)
        with sb.lock:
            mailbox = sb.mailbox(params["userId"], grant_user)
            sb.quota.charge(mailbox.email, units)
            request = ApiRequest(sb, mailbox, params, query, json_body, media)
            with sb.atomic():
                result = handler(request)
        _validate(sb, method_id, result)
        status, out_headers, payload = (204, {}, b"") if result is None else json_response(200, result)
        sb.counters.record_call(method_id, units, status)
        return status, out_headers, payload
    except ApiError as error:
        sb.counters.record_call(method_id, 0, error.code)
        return error_response(error)
    except Exception as error:  # a sandbox bug: this call fails (state rolled back), the server goes on
        sb.counters.record_call(method_id, 0, 500)
        return error_response(internal_error(error))


FORM = "application/x-www-form-urlencoded"


def method_override(verb: str, target: str, headers: dict[str, str], body: bytes) -> tuple[str, str, bytes]:
    """A GET sent as a POST: googleapiclient turns a GET whose URI exceeds 2,048 characters (a long
    `q`) into a POST with `X-HTTP-Method-Override: GET` and the query string as a form body
    (googleapiclient/http.py, HttpRequest.execute, MAX_URI_LENGTH), which Google's APIs serve as the
    GET. Only GET is taken: the one override the client sends on its own, and a read. A browser
    cannot send the header cross-site without a CORS preflight, so the form body stays no way in."""
    override = header(headers, "X-HTTP-Method-Override")
    if override is None:
        return verb, target, body
    if verb != "POST" or override.strip().upper() != "GET":
        raise bad_request(
            f"X-HTTP-Method-Override: {override.strip()[:20]} is not supported on {verb}; only GET on POST"
        )
    if (header(headers, "Content-Type") or "").split(";")[0].strip().lower() != FORM:
        raise ApiError(415, f"Content-Type must be {FORM} with X-HTTP-Method-Override: GET", "badContent")
    try:
        query = body.decode("ascii")
    except UnicodeDecodeError:
        raise bad_request("the form body of an X-HTTP-Method-Override request is not URL-encoded ASCII") from None
    path = urlsplit(target).path
    return "GET", f"{path}?{query}" if query else path, b""


def internal_error(error: Exception) -> ApiError:
    return ApiError(
        500, f"sandbox internal error ({type(error).__name__}: {error}); nothing was changed", "backendError"
    )


def loads_json(body: bytes) -> object:
    """Strict JSON: NaN and Infinity are not JSON (json.loads would accept them)."""

    def refuse(constant: str) -> object:
        raise ValueError(f"{constant} is not JSON")

    return json.loads(body, parse_constant=refuse)


def is_json(headers: dict[str, str]) -> bool:
    return (header(headers, "Content-Type") or "").split(";")[0].strip().lower() == "application/json"


def refuse_non_json(headers: dict[str, str], body: bytes) -> None:
    """A JSON body must say so: a browser may send text/plain (or a form) cross-site without asking
    (a CORS "simple request"), never application/json, so this stops web pages writing here."""
    if body.strip() and not is_json(headers):
        raise ApiError(415, "Content-Type must be application/json for a JSON body", "badContent")


def header(headers: dict[str, str], name: str) -> str | None:
    lowered = name.lower()
    return next((v for k, v in headers.items() if k.lower() == lowered), None)


def _targets_primary(sb: Sandbox, params: dict[str, str]) -> bool:
    address = params.get("sendAsEmail")
    return address is not None and address.lower() in sb.mailboxes


def _decode_body(
    query: dict[str, Any], headers: dict[str, str], body: bytes, upload: bool
) -> tuple[object, bytes | None]:
    if upload:
        kind = (query.get("uploadType") or ["media"])[-1]
        if kind == "media":
            return None, body
        if kind == "multipart":
            return _split_related(header(headers, "Content-Type") or "", body)
        raise bad_request(f"uploadType={kind} is not supported by the gmaildesk sandbox; use media or multipart")
    if not body.strip():
        return None, None
    refuse_non_json(headers, body)
    try:
        return json.loads(body), None
    except (ValueError, RecursionError):
        raise bad_request("Invalid JSON payload received.") from None


def _split_related(content_type: str, body: bytes) -> tuple[object, bytes]:
    """multipart/related upload: a JSON metadata part, then the message/rfc822 part, byte for byte."""
    found = re.search(r'boundary="?([^";]+)"?', content_type)
    if not found:
        raise bad_request("multipart upload needs a boundary")
    pieces = body.split(b"--" + found.group(1).encode())[1:]
    parts = [_related_part(p) for p in itertools.takewhile(lambda p: not p.startswith(b"--"), pieces)]
    if len(parts) != 2:
        raise bad_request("multipart upload needs exactly a metadata part and a media part")
    try:
        return json.loads(parts[0] or b"{}"), parts[1]
    except (ValueError, RecursionError):
        raise bad_request("Invalid JSON in the metadata part") from None


def _related_part(piece: bytes) -> bytes:
    """A part's content: after its headers, without the line break that belongs to the next boundary."""
    blank = re.search(rb"\r?\n\r?\n", piece)
    content = piece[blank.end() :] if blank else b""
    return content[:-2] if content.endswith(b"\r\n") else content[:-1] if content.endswith(b"\n") else content


def _validate(sb: Sandbox, method_id: str, result: object) -> None:
    """With validation on, a body that breaks the discovery schema becomes a 500 and is recorded."""
    validator = sb.validator
    if validator is None:
        return
    problems = validator.errors(method_id, result)
    if problems:
        sb.counters.record_violation(method_id, problems)
        raise ApiError(
            500,
            f"sandbox response of {method_id} breaks the discovery schema: {problems[:3]}",
            "sandboxSchemaViolation",
        )
    sb.counters.record_validated(method_id)
