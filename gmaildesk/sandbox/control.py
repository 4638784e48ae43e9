"""The sandbox's own control API under /sandbox/ (never under /gmail/v1): deliver mail,
move the clock, verify addresses, inject faults, enforce quota, read counters."""

from __future__ import annotations

import json
import re
from urllib.parse import unquote

from gmaildesk.sandbox import api_settings, delivery, dispatch, mime
from gmaildesk.sandbox.core import Sandbox
from gmaildesk.sandbox.errors import ApiError, bad_request, not_found


def handle(sb: Sandbox, verb: str, path: str, query: dict[str, list[str]], headers: dict[str, str],
           body: bytes) -> dispatch.Response:
    try:
        for route_verb, pattern, handler in _ROUTES:
            found = pattern.match(path)
            if found and route_verb == verb:
                params = {k: unquote(v) for k, v in found.groupdict().items()}
                with sb.lock, sb.store.transaction():
                    return dispatch.json_response(200, handler(sb, params, query, headers, body))
        raise not_found(f"no sandbox control endpoint {verb} {path}")
    except ApiError as error:
        return dispatch.error_response(error)


def _json(body: bytes) -> dict:
    if not body.strip():
        return {}
    try:
        value = json.loads(body)
    except ValueError:
        raise bad_request("control API bodies are JSON objects") from None
    if not isinstance(value, dict):
        raise bad_request("control API bodies are JSON objects")
    return value


def _boolean(name: str, value: object) -> bool:
    if not isinstance(value, bool):
        raise bad_request(f"{name} must be true or false, not {value!r}")
    return value


def _query_flag(query: dict[str, list[str]], name: str) -> bool:
    value = (query.get(name) or ["false"])[-1].lower()
    if value not in ("true", "false"):
        raise bad_request(f"{name} must be true or false, not {value!r}")
    return value == "true"


def status(sb: Sandbox, params, query, headers, body) -> dict:
    return {
        "users": sorted(sb.mailboxes), "defaultUser": sb.default_user, "nowMs": sb.now_ms(),
        "historyRetentionSeconds": sb.history_retention_ms / 1000, "quota": sb.quota.describe(),
        "faults": sb.faults.describe(), "db": sb.store.path,
    }


def add_user(sb: Sandbox, params, query, headers, body) -> dict:
    data = _json(body)
    mailbox = sb.add_user(str(data.get("email", "")), data.get("delegated"))
    return {"email": mailbox.email, "delegated": mailbox.delegated}


def change_user(sb: Sandbox, params, query, headers, body) -> dict:
    mailbox = sb.mailbox(params["user"])
    data = _json(body)
    if "delegated" in data:
        mailbox.delegated = bool(data["delegated"])
        mailbox.save_state()
    return {"email": mailbox.email, "delegated": mailbox.delegated}


def deliver(sb: Sandbox, params, query, headers, body) -> dict:
    """Body: the raw RFC 822 message (?spam=true&authentication=fail), or JSON
    {"raw": base64url, "spam": bool, "authentication": "pass" | "fail"}."""
    mailbox = sb.mailbox(params["user"])
    content_type = dispatch.header(headers, "Content-Type") or ""
    spam = _query_flag(query, "spam")
    authentication = (query.get("authentication") or ["pass"])[-1]
    raw = body
    if content_type.startswith("application/json"):
        data = _json(body)
        if not isinstance(data.get("raw"), str):
            raise bad_request("raw must be the message as a base64url string")
        try:
            raw = mime.b64url_decode(data["raw"])
        except ValueError:
            raise bad_request("raw must be base64url") from None
        spam = _boolean("spam", data.get("spam", spam))
        authentication = data.get("authentication", authentication)
    if not raw.strip():
        raise bad_request("deliver needs a message")
    return delivery.deliver(sb, mailbox, raw, spam=spam, authentication=authentication)


def outbox(sb: Sandbox, params, query, headers, body) -> dict:
    user = params["user"].lower()
    include_raw = (query.get("raw") or ["false"])[-1].lower() == "true"
    entries = [e for e in sb.outbox if e["from"] == user]
    return {"messages": [
        {k: (mime.b64url_encode(v) if k == "raw" else v) for k, v in e.items() if k != "raw" or include_raw}
        for e in entries
    ]}


def verify_send_as(sb: Sandbox, params, query, headers, body) -> dict:
    mailbox = sb.mailbox(params["user"])
    entry = mailbox.send_as.get(params["address"].lower())
    if entry is None or entry.get("isPrimary"):
        raise not_found(f"{params['address']} is not a send-as alias of {mailbox.email}")
    entry["verificationStatus"] = "accepted"
    mailbox.save("sendAs", entry["sendAsEmail"], entry)
    return {"sendAsEmail": entry["sendAsEmail"], "verificationStatus": "accepted"}


def verify_forwarding(sb: Sandbox, params, query, headers, body) -> dict:
    mailbox = sb.mailbox(params["user"])
    entry = mailbox.forwarding.get(params["address"].lower())
    if entry is None:
        raise not_found(f"{params['address']} is not a forwarding address of {mailbox.email}")
    entry["verificationStatus"] = "accepted"
    mailbox.save("forwarding", entry["forwardingEmail"], entry)
    return dict(entry)


def set_smtp_hosts(sb: Sandbox, params, query, headers, body) -> dict:
    """The SMTP relays a send-as alias may name: Gmail connects to one before creating the alias."""
    mailbox = sb.mailbox(params["user"])
    return {"hosts": api_settings.register_smtp_hosts(mailbox, _json(body).get("hosts"))}


def get_clock(sb: Sandbox, params, query, headers, body) -> dict:
    return {"nowMs": sb.now_ms(), "offsetMs": sb.clock_offset_ms}


def move_clock(sb: Sandbox, params, query, headers, body) -> dict:
    data = _json(body)
    if "advanceSeconds" in data:
        seconds = data["advanceSeconds"]
    elif "nowMs" in data:
        seconds = (int(data["nowMs"]) - sb.now_ms()) / 1000
    else:
        raise bad_request("clock needs advanceSeconds or nowMs")
    if not isinstance(seconds, (int, float)) or seconds < 0:
        raise bad_request("the sandbox clock only moves forward (advanceSeconds >= 0)")
    return {"nowMs": sb.advance_clock(seconds), "offsetMs": sb.clock_offset_ms}


def get_faults(sb: Sandbox, params, query, headers, body) -> dict:
    return sb.faults.describe()


def set_faults(sb: Sandbox, params, query, headers, body) -> dict:
    sb.faults.configure(**_json(body))
    return sb.faults.describe()


def get_quota(sb: Sandbox, params, query, headers, body) -> dict:
    return sb.quota.describe()


def set_quota(sb: Sandbox, params, query, headers, body) -> dict:
    data = _json(body)
    rate = data.get("units_per_second")
    if rate is not None and (not isinstance(rate, (int, float)) or rate <= 0):
        raise bad_request("units_per_second must be a positive number or null")
    sb.quota.configure(rate, data.get("costs"))
    return sb.quota.describe()


def get_counters(sb: Sandbox, params, query, headers, body) -> dict:
    return sb.counters.snapshot()


def reset_counters(sb: Sandbox, params, query, headers, body) -> dict:
    sb.counters.reset()
    return sb.counters.snapshot()


def set_config(sb: Sandbox, params, query, headers, body) -> dict:
    data = _json(body)
    if "historyRetentionSeconds" in data:
        seconds = data["historyRetentionSeconds"]
        if not isinstance(seconds, (int, float)) or seconds <= 0:
            raise bad_request("historyRetentionSeconds must be positive")
        sb.history_retention_ms = int(seconds * 1000)
        sb.prune_history()
    return status(sb, params, query, headers, body)


def _p(template: str) -> re.Pattern:
    return re.compile("^/sandbox/" + re.sub(r"\{(\w+)\}", r"(?P<\1>[^/]+)", template) + "$")


_ROUTES = [
    ("GET", _p("status"), status),
    ("POST", _p("config"), set_config),
    ("POST", _p("users"), add_user),
    ("PATCH", _p("users/{user}"), change_user),
    ("POST", _p("users/{user}/deliver"), deliver),
    ("GET", _p("users/{user}/outbox"), outbox),
    ("POST", _p("users/{user}/sendAs/{address}/verify"), verify_send_as),
    ("POST", _p("users/{user}/forwardingAddresses/{address}/verify"), verify_forwarding),
    ("PUT", _p("users/{user}/smtp-hosts"), set_smtp_hosts),
    ("GET", _p("clock"), get_clock),
    ("POST", _p("clock"), move_clock),
    ("GET", _p("faults"), get_faults),
    ("PUT", _p("faults"), set_faults),
    ("GET", _p("quota"), get_quota),
    ("PUT", _p("quota"), set_quota),
    ("GET", _p("counters"), get_counters),
    ("POST", _p("counters/reset"), reset_counters),
]
