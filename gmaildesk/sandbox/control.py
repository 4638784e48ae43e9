"""The sandbox's own control API under /sandbox/ (never under /gmail/v1): deliver mail,
move the clock, verify addresses, inject faults, enforce quota, read counters."""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import unquote

from gmaildesk.sandbox import api_settings, delivery, dispatch, mime
from gmaildesk.sandbox.core import MAX_CLOCK_MOVE_S, YEAR_S, Sandbox
from gmaildesk.sandbox.errors import ApiError, bad_request, not_found
from gmaildesk.sandbox.limits import real_number

MAX_QUOTA_RATE = 1e9  # units per second; Gmail's real budgets are 100-250
MAX_QUOTA_WINDOW_S = 3600  # Gmail's windows are a minute (a second in the oldest generation)
Params = dict[str, str]  # the named parts of the endpoint's path
Query = dict[str, list[str]]
Headers = dict[str, str]


def handle(
    sb: Sandbox, verb: str, path: str, query: dict[str, list[str]], headers: dict[str, str], body: bytes
) -> dispatch.Response:
    try:
        for route_verb, pattern, handler in _ROUTES:
            found = pattern.match(path)
            if found and route_verb == verb:
                params = {k: unquote(v) for k, v in found.groupdict().items()}
                if handler is not deliver:  # a delivery's body is the message, in its own type
                    dispatch.refuse_non_json(headers, body)
                with sb.atomic():
                    return dispatch.json_response(200, handler(sb, params, query, headers, body))
        raise not_found(f"no sandbox control endpoint {verb} {path}")
    except ApiError as error:
        return dispatch.error_response(error)
    except Exception as error:  # a sandbox bug: rolled back (see Sandbox.atomic), answered, never a dropped connection
        return dispatch.error_response(dispatch.internal_error(error))


def _json(body: bytes) -> dict[str, Any]:
    if not body.strip():
        return {}
    try:
        value = dispatch.loads_json(body)
    except (ValueError, RecursionError):
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


def status(sb: Sandbox, params: Params, query: Query, headers: Headers, body: bytes) -> dict[str, Any]:
    return {
        "users": sorted(sb.mailboxes),
        "defaultUser": sb.default_user,
        "nowMs": sb.now_ms(),
        "historyRetentionSeconds": sb.history_retention_ms / 1000,
        "quota": sb.quota.describe(),
        "faults": sb.faults.describe(),
        "db": sb.store.path,
    }


def add_user(sb: Sandbox, params: Params, query: Query, headers: Headers, body: bytes) -> dict[str, Any]:
    data = _json(body)
    email, delegated = data.get("email"), data.get("delegated")
    if not isinstance(email, str) or len(email) > 320:
        raise bad_request("email must be an email address")
    mailbox = sb.add_user(email, None if delegated is None else _boolean("delegated", delegated))
    return {"email": mailbox.email, "delegated": mailbox.delegated}


def change_user(sb: Sandbox, params: Params, query: Query, headers: Headers, body: bytes) -> dict[str, Any]:
    mailbox = sb.mailbox(params["user"])
    data = _json(body)
    if "delegated" in data:
        mailbox.delegated = _boolean("delegated", data["delegated"])
        mailbox.save_state()
    return {"email": mailbox.email, "delegated": mailbox.delegated}


def deliver(sb: Sandbox, params: Params, query: Query, headers: Headers, body: bytes) -> dict[str, Any]:
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
    answer = delivery.deliver(sb, mailbox, raw, spam=spam, authentication=authentication)
    # The sandbox's own convenience (a control answer, not a Gmail one): what a person reads in Gmail's UI.
    answer["labelNames"] = [mailbox.labels[i]["name"] if i in mailbox.labels else i for i in answer["labelIds"]]
    return answer


def outbox(sb: Sandbox, params: Params, query: Query, headers: Headers, body: bytes) -> dict[str, Any]:
    user = params["user"].lower()
    include_raw = (query.get("raw") or ["false"])[-1].lower() == "true"
    entries = [e for e in sb.outbox if e["from"] == user]
    return {
        "messages": [
            {k: (mime.b64url_encode(v) if k == "raw" else v) for k, v in e.items() if k != "raw" or include_raw}
            for e in entries
        ]
    }


def verify_send_as(sb: Sandbox, params: Params, query: Query, headers: Headers, body: bytes) -> dict[str, Any]:
    mailbox = sb.mailbox(params["user"])
    entry = mailbox.send_as.get(params["address"].lower())
    if entry is None or entry.get("isPrimary"):
        raise not_found(f"{params['address']} is not a send-as alias of {mailbox.email}")
    entry["verificationStatus"] = "accepted"
    mailbox.save("sendAs", entry["sendAsEmail"], entry)
    return {"sendAsEmail": entry["sendAsEmail"], "verificationStatus": "accepted"}


def verify_forwarding(sb: Sandbox, params: Params, query: Query, headers: Headers, body: bytes) -> dict[str, Any]:
    mailbox = sb.mailbox(params["user"])
    entry = mailbox.forwarding.get(params["address"].lower())
    if entry is None:
        raise not_found(f"{params['address']} is not a forwarding address of {mailbox.email}")
    entry["verificationStatus"] = "accepted"
    mailbox.save("forwarding", entry["forwardingEmail"], entry)
    return dict(entry)


def set_smtp_hosts(sb: Sandbox, params: Params, query: Query, headers: Headers, body: bytes) -> dict[str, Any]:
    """The SMTP relays a send-as alias may name: Gmail connects to one before creating the alias."""
    mailbox = sb.mailbox(params["user"])
    return {"hosts": api_settings.register_smtp_hosts(mailbox, _json(body).get("hosts"))}


def get_clock(sb: Sandbox, params: Params, query: Query, headers: Headers, body: bytes) -> dict[str, Any]:
    return {"nowMs": sb.now_ms(), "offsetMs": sb.clock_offset_ms}


def move_clock(sb: Sandbox, params: Params, query: Query, headers: Headers, body: bytes) -> dict[str, Any]:
    data = _json(body)
    if "advanceSeconds" in data:
        seconds = real_number("advanceSeconds", data["advanceSeconds"], 0, MAX_CLOCK_MOVE_S)
    elif "nowMs" in data:
        now = sb.now_ms()
        target = real_number("nowMs", data["nowMs"], now, now + MAX_CLOCK_MOVE_S * 1000)
        seconds = (int(target) - now) / 1000
    else:
        raise bad_request("clock needs advanceSeconds (0 to 10 years) or nowMs")
    return {"nowMs": sb.advance_clock(seconds), "offsetMs": sb.clock_offset_ms}


def get_faults(sb: Sandbox, params: Params, query: Query, headers: Headers, body: bytes) -> dict[str, Any]:
    return sb.faults.describe()


def set_faults(sb: Sandbox, params: Params, query: Query, headers: Headers, body: bytes) -> dict[str, Any]:
    sb.faults.configure(**_json(body))
    return sb.faults.describe()


def get_quota(sb: Sandbox, params: Params, query: Query, headers: Headers, body: bytes) -> dict[str, Any]:
    return sb.quota.describe()


def set_quota(sb: Sandbox, params: Params, query: Query, headers: Headers, body: bytes) -> dict[str, Any]:
    data = _json(body)
    rate, costs, window = data.get("units_per_second"), data.get("costs"), data.get("window_s")
    if rate is not None and real_number("units_per_second", rate, 0, MAX_QUOTA_RATE) <= 0:
        raise bad_request("units_per_second must be a positive number or null")
    if costs is not None and not isinstance(costs, str):
        raise bad_request(f"costs must be the name of a cost table, not {costs!r}")
    if window is not None and real_number("window_s", window, 0, MAX_QUOTA_WINDOW_S) <= 0:
        raise bad_request("window_s must be a positive number of seconds or null")
    sb.quota.configure(rate, costs, window)
    return sb.quota.describe()


def get_counters(sb: Sandbox, params: Params, query: Query, headers: Headers, body: bytes) -> dict[str, Any]:
    return sb.counters.snapshot()


def reset_counters(sb: Sandbox, params: Params, query: Query, headers: Headers, body: bytes) -> dict[str, Any]:
    sb.counters.reset()
    return sb.counters.snapshot()


def set_config(sb: Sandbox, params: Params, query: Query, headers: Headers, body: bytes) -> dict[str, Any]:
    data = _json(body)
    if "historyRetentionSeconds" in data:
        seconds = real_number("historyRetentionSeconds", data["historyRetentionSeconds"], 0, 10 * YEAR_S)
        if seconds <= 0:
            raise bad_request("historyRetentionSeconds must be positive")
        sb.history_retention_ms = int(seconds * 1000)
        sb.prune_history()
    return status(sb, params, query, headers, body)


def _p(template: str) -> re.Pattern[str]:
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
