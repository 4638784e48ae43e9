"""Gmail API handlers: filters, vacation responder, send-as, forwarding."""

from __future__ import annotations

import math
import re
import uuid
from typing import Any

from gmaildesk.gmail import query
from gmaildesk.gmail.filter_query import filter_query
from gmaildesk.sandbox import mime
from gmaildesk.sandbox.errors import ApiError, bad_request, failed_precondition, not_found
from gmaildesk.sandbox.mailbox import Mailbox
from gmaildesk.sandbox.request import ApiRequest
from gmaildesk.sandbox.sanitize import sanitize_html

# "Note: you can only create a maximum of 1,000 filters" (discovery, users.settings.filters.create).
MAX_FILTERS = 1000
_CRITERIA_KEYS = (
    "from",
    "to",
    "subject",
    "query",
    "negatedQuery",
    "hasAttachment",
    "excludeChats",
    "size",
    "sizeComparison",
)
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_DELEGATION_ONLY = "Access restricted to service accounts that have been delegated domain-wide authority"


def _require_delegation(mb: Mailbox) -> None:
    # Consumer accounts cannot grant domain-wide delegation, so these calls always fail there.
    if not mb.delegated:
        raise ApiError(403, _DELEGATION_ONLY, "forbidden")


# ---- filters -----------------------------------------------------------------------------------
def list_filters(req: ApiRequest) -> dict[str, Any]:
    filters = list(req.mailbox.filters.values())
    return {"filter": filters} if filters else {}


def get_filter(req: ApiRequest) -> dict[str, Any]:
    flt = req.mailbox.filters.get(req.params["id"])
    if flt is None:
        raise not_found()
    return flt


def _canonical_criteria(raw: object) -> dict[str, Any]:
    if not isinstance(raw, dict):
        raise bad_request("Filter criteria must be an object")
    criteria = {k: raw[k] for k in _CRITERIA_KEYS if raw.get(k) not in (None, "", False)}
    if isinstance(criteria.get("subject"), str):
        # FilterCriteria.subject (discovery): "Trailing and leading whitespace are be trimmed and
        # adjacent spaces are collapsed." The document says this of subject only.
        criteria["subject"] = re.sub(r" {2,}", " ", criteria["subject"].strip())
        if not criteria["subject"]:
            del criteria["subject"]
    if criteria.get("sizeComparison") == "unspecified":
        criteria.pop("sizeComparison")
    if "size" in criteria:
        if not isinstance(criteria["size"], int) or criteria["size"] < 0:
            raise bad_request("Invalid filter size")
        if criteria.get("sizeComparison") not in ("larger", "smaller"):
            raise bad_request("Filter size requires sizeComparison larger or smaller")
    if not {k for k in criteria if k not in ("excludeChats", "sizeComparison")}:
        raise bad_request("Filter must have at least one criterion")
    try:
        query.parse(filter_query(criteria))
    except query.QuerySyntaxError as error:
        raise bad_request(f"Invalid filter criteria: {error}") from None
    return criteria


def _canonical_action(mb: Mailbox, raw: object) -> dict[str, Any]:
    if not isinstance(raw, dict):
        raise bad_request("Filter action must be an object")
    action: dict[str, Any] = {}
    for key in ("addLabelIds", "removeLabelIds"):
        ids = raw.get(key) or []
        if not isinstance(ids, list):
            raise bad_request(f"Invalid {key}")
        for label_id in ids:
            if label_id not in mb.labels:
                raise bad_request(f"Invalid label {label_id} in {key}")
        if ids:
            action[key] = list(dict.fromkeys(ids))
    added = action.get("addLabelIds", [])
    if "SPAM" in added or {"SENT", "DRAFT", "UNREAD"} & set(added):
        raise bad_request(
            f"Invalid label in addLabelIds: {', '.join(sorted({'SPAM', 'SENT', 'DRAFT', 'UNREAD'} & set(added)))}"
        )
    if sum(1 for i in added if mb.labels[i]["type"] == "user") > 1:
        raise bad_request("Only one user label may be added by a filter")
    forward = raw.get("forward")
    if forward:
        entry = mb.forwarding.get(str(forward).lower())
        if entry is None or entry["verificationStatus"] != "accepted":
            raise failed_precondition("Unrecognized forwarding address")
        action["forward"] = str(forward).lower()
    if not action:
        raise bad_request("Filter must have at least one action")
    return action


def create_filter(req: ApiRequest) -> dict[str, Any]:
    mb, body = req.mailbox, req.json_body()
    criteria = _canonical_criteria(body.get("criteria"))
    action = _canonical_action(mb, body.get("action"))
    if any(existing["criteria"] == criteria and existing["action"] == action for existing in mb.filters.values()):
        raise failed_precondition("Filter already exists")
    if len(mb.filters) >= MAX_FILTERS:
        # Gmail answers the 1,001st filter with a bare 500, not a 4xx naming the limit
        # (elie222/inbox-zero PR #1192 counts the filters after a 500 to explain it).
        raise ApiError(500, "Internal error encountered.", "backendError")
    flt: dict[str, Any] = {"id": "ANe1Bm" + uuid.uuid4().hex[:20], "criteria": criteria, "action": action}
    mb.filters[flt["id"]] = flt
    mb.save("filter", flt["id"], flt)
    return flt


def delete_filter(req: ApiRequest) -> None:
    mb = req.mailbox
    if mb.filters.pop(req.params["id"], None) is None:
        raise not_found()
    mb.save("filter", req.params["id"], None)


# ---- vacation ----------------------------------------------------------------------------------
def _vacation_view(settings: dict[str, Any]) -> dict[str, Any]:
    # Gmail answers every boolean of VacationSettings, false ones too: GAM7 reads
    # result['restrictToContacts'] and result['restrictToDomain'] directly
    # (GAM-team/GAM src/gam/cmd/gmail/signature.py, _showVacation / printShowVacation).
    return {"enableAutoReply": False, "restrictToContacts": False, "restrictToDomain": False, **settings}


def get_vacation(req: ApiRequest) -> dict[str, Any]:
    return _vacation_view(req.mailbox.vacation)


_INT64_LIMIT = 2**63


def _epoch_ms(value: object, name: str) -> str:
    """An int64 field as Gmail answers it: a string of digits.

    It arrives as a string from google-api-python-client, as a JSON number from Google's own
    samples, and as a number with a fraction from GAM7 (`time.mktime(...)*1000`, getYYYYMMDD in
    GAM-team/GAM); the fraction is dropped."""
    if isinstance(value, float) and math.isfinite(value) and 0 <= value < _INT64_LIMIT:
        return str(int(value))
    if (
        isinstance(value, bool)
        or not isinstance(value, (int, str))
        or not str(value).isdigit()
        or int(value) >= _INT64_LIMIT
    ):
        raise bad_request(f"Invalid value for {name}: {value!r}")
    return str(int(value))


def update_vacation(req: ApiRequest) -> dict[str, Any]:
    mb, body = req.mailbox, req.json_body()
    settings: dict[str, Any] = {"enableAutoReply": bool(body.get("enableAutoReply", False))}
    for key in ("responseSubject", "responseBodyPlainText", "responseBodyHtml"):
        value = body.get(key)
        if value not in (None, ""):
            if not isinstance(value, str):
                raise bad_request(f"Invalid value for {key}")
            if key == "responseSubject" and ("\n" in value or "\r" in value):
                raise bad_request("Invalid responseSubject")
            if key == "responseBodyHtml":
                value = sanitize_html(value)  # "Gmail will sanitize the HTML before storing it" (discovery)
            settings[key] = value
    for key in ("restrictToContacts", "restrictToDomain"):
        if body.get(key):
            settings[key] = True
    if settings.get("restrictToDomain") and not mb.is_workspace():
        raise bad_request("restrictToDomain is only available for Google Workspace users", "invalidArgument")
    for key in ("startTime", "endTime"):
        if body.get(key) not in (None, ""):
            settings[key] = _epoch_ms(body[key], key)
    if "startTime" in settings and "endTime" in settings and int(settings["startTime"]) >= int(settings["endTime"]):
        raise bad_request("Start time must be before end time")
    if settings["enableAutoReply"] and not (
        settings.get("responseSubject") or settings.get("responseBodyPlainText") or settings.get("responseBodyHtml")
    ):
        raise bad_request("Either the response subject or the response body must be nonempty")
    mb.vacation = settings
    # Every save restarts the once-per-four-days window, as Gmail Help describes.
    mb.vacation_changed_at = req.now_ms
    mb.vacation_replied = {}
    mb.save_state()
    return _vacation_view(settings)


def get_auto_forwarding(req: ApiRequest) -> dict[str, Any]:
    return dict(req.mailbox.auto_forwarding)


def update_auto_forwarding(req: ApiRequest) -> dict[str, Any]:
    mb, body = req.mailbox, req.json_body()
    _require_delegation(mb)
    settings: dict[str, Any] = {"enabled": bool(body.get("enabled"))}
    if settings["enabled"]:
        address = str(body.get("emailAddress") or "").lower()
        entry = mb.forwarding.get(address)
        if entry is None or entry["verificationStatus"] != "accepted":
            raise failed_precondition("Unrecognized forwarding address")
        disposition = body.get("disposition", "leaveInInbox")
        if disposition not in ("leaveInInbox", "archive", "trash", "markRead"):
            raise bad_request(f"Invalid disposition: {disposition}")
        settings.update({"emailAddress": address, "disposition": disposition})
    mb.auto_forwarding = settings
    mb.save_state()
    return dict(settings)


# ---- send-as -----------------------------------------------------------------------------------
def _public_send_as(entry: dict[str, Any]) -> dict[str, Any]:
    shown = {k: v for k, v in entry.items() if k != "smtpMsa"}
    if "smtpMsa" in entry:  # username and password are write-only
        shown["smtpMsa"] = {k: v for k, v in entry["smtpMsa"].items() if k in ("host", "port", "securityMode")}
    return shown


def _send_as(mb: Mailbox, email: str) -> dict[str, Any]:
    entry = mb.send_as.get(email.lower())
    if entry is None:
        raise not_found()
    return entry


def list_send_as(req: ApiRequest) -> dict[str, Any]:
    return {"sendAs": [_public_send_as(s) for s in req.mailbox.send_as.values()]}


def get_send_as(req: ApiRequest) -> dict[str, Any]:
    return _public_send_as(_send_as(req.mailbox, req.params["sendAsEmail"]))


def _smtp(raw: object) -> dict[str, Any]:
    if not isinstance(raw, dict) or not raw.get("host") or not isinstance(raw.get("port"), int):
        raise bad_request("smtpMsa requires host and port")
    mode = raw.get("securityMode", "securityModeUnspecified")
    if mode not in ("securityModeUnspecified", "none", "ssl", "starttls"):
        raise bad_request(f"Invalid smtpMsa.securityMode: {mode}")
    return {k: raw[k] for k in ("host", "port", "username", "password") if raw.get(k) is not None} | {
        "securityMode": mode
    }


# ---- SMTP relays the sandbox pretends to reach ---------------------------------------------------
# sendAs.create (discovery): "If an SMTP MSA is specified, Gmail will attempt to connect to the SMTP
# service to validate the configuration before creating the alias." The sandbox connects nowhere:
# a host passes only when it was registered through the control API
# (PUT /sandbox/users/{user}/smtp-hosts {"hosts": ["smtp.example.com", "relay.example.com:465"]}).
_SMTP_HOST_KIND = "smtpHost"


def registered_smtp_hosts(mb: Mailbox) -> set[str]:
    if mb.smtp_hosts is None:  # read from the store once, the first time this mailbox needs them
        mb.smtp_hosts = set(mb.store.load_objects(mb.email, _SMTP_HOST_KIND))
    return mb.smtp_hosts


def register_smtp_hosts(mb: Mailbox, hosts: object) -> list[str]:
    """Replace the user's reachable SMTP hosts: "host" (any port) or "host:port" entries."""
    if not isinstance(hosts, list) or not all(isinstance(h, str) for h in hosts):
        raise bad_request('smtp-hosts takes {"hosts": ["smtp.example.com", "host:port", ...]}')
    wanted = []
    for entry in hosts:
        host, _, port = entry.strip().lower().partition(":")
        if not re.fullmatch(r"[a-z0-9]([a-z0-9.-]*[a-z0-9])?", host) or (
            port and not (port.isdigit() and 0 < int(port) < 65536)
        ):
            raise bad_request(f"not an SMTP host or host:port: {entry!r}")
        wanted.append(f"{host}:{int(port)}" if port else host)
    for old in registered_smtp_hosts(mb):
        mb.save(_SMTP_HOST_KIND, old, None)
    for entry in wanted:
        mb.save(_SMTP_HOST_KIND, entry, {"registered": True})
    mb.smtp_hosts = set(wanted)
    return sorted(mb.smtp_hosts)


def _check_smtp_reachable(mb: Mailbox, smtp: dict[str, Any]) -> None:
    host, port, mode = smtp["host"].lower(), smtp["port"], smtp["securityMode"]
    where = f"{host}:{port}"
    # SmtpMsa.securityMode "none" (enumDescriptions): "Communication with the remote SMTP service is
    # unsecured. Requires port 25."
    if mode == "none" and port != 25:
        raise failed_precondition(f"SMTP server {where}: security mode none requires port 25")
    registered = registered_smtp_hosts(mb)
    if host not in registered and where not in registered:
        raise failed_precondition(
            f"Gmail could not connect to the SMTP server {where} ({mode}) to validate the alias; check the "
            "host, port, security mode, username and password"
        )


def _apply_send_as_fields(mb: Mailbox, entry: dict[str, Any], body: dict[str, Any], *, replace_all: bool) -> None:
    fields = ("displayName", "replyToAddress", "signature", "treatAsAlias")
    for key in fields:
        if key in body:
            entry[key] = body[key]
        elif replace_all and key != "treatAsAlias":
            entry[key] = ""
    if entry.get("replyToAddress") and not _EMAIL.match(entry["replyToAddress"]):
        raise bad_request(f"Invalid replyToAddress: {entry['replyToAddress']}")
    if isinstance(entry.get("signature"), str):
        # "If a signature is provided, Gmail will sanitize the HTML before saving it with the alias"
        # (discovery, sendAs.create/update/patch).
        entry["signature"] = sanitize_html(entry["signature"])
    if body.get("smtpMsa") is not None:
        if entry.get("isPrimary"):
            raise bad_request("smtpMsa cannot be set on the primary address")
        entry["smtpMsa"] = _smtp(body["smtpMsa"])
    if "isDefault" in body:
        if body["isDefault"] is not True:
            raise bad_request("isDefault can only be set to true")
        for other in mb.send_as.values():
            if other is not entry and other.get("isDefault"):
                other["isDefault"] = False
                mb.save("sendAs", other["sendAsEmail"], other)
        entry["isDefault"] = True


def create_send_as(req: ApiRequest) -> dict[str, Any]:
    mb, body = req.mailbox, req.json_body()
    _require_delegation(mb)
    email = str(body.get("sendAsEmail") or "").lower()
    if not _EMAIL.match(email):
        raise bad_request(f"Invalid sendAsEmail: {body.get('sendAsEmail')!r}")
    if email in mb.send_as:
        raise ApiError(409, "Requested entity already exists", "alreadyExists", status="ALREADY_EXISTS")
    same_domain = email.rsplit("@", 1)[1] == mb.domain
    entry: dict[str, Any] = {
        "sendAsEmail": email,
        "displayName": "",
        "replyToAddress": "",
        "signature": "",
        "isPrimary": False,
        "isDefault": False,
        "treatAsAlias": bool(body.get("treatAsAlias", True)),
        "verificationStatus": "accepted" if same_domain else "pending",
    }
    mb.send_as[email] = entry
    try:
        _apply_send_as_fields(mb, entry, body, replace_all=False)
        if "smtpMsa" in entry:
            _check_smtp_reachable(mb, entry["smtpMsa"])
    except ApiError:
        del mb.send_as[email]
        raise
    mb.save("sendAs", email, entry)
    if not same_domain:
        _verification_mail(req, email, "Gmail Confirmation - Send Mail as")
    return _public_send_as(entry)


def change_send_as(req: ApiRequest, *, replace_all: bool) -> dict[str, Any]:
    mb = req.mailbox
    entry = _send_as(mb, req.params["sendAsEmail"])
    if not entry.get("isPrimary"):
        _require_delegation(mb)
    updated = dict(entry)
    mb.send_as[entry["sendAsEmail"]] = updated
    try:
        _apply_send_as_fields(mb, updated, req.json_body(), replace_all=replace_all)
    except ApiError:
        mb.send_as[entry["sendAsEmail"]] = entry
        raise
    mb.save("sendAs", updated["sendAsEmail"], updated)
    return _public_send_as(updated)


def update_send_as(req: ApiRequest) -> dict[str, Any]:
    return change_send_as(req, replace_all=True)


def patch_send_as(req: ApiRequest) -> dict[str, Any]:
    return change_send_as(req, replace_all=False)


def delete_send_as(req: ApiRequest) -> None:
    mb = req.mailbox
    entry = _send_as(mb, req.params["sendAsEmail"])
    _require_delegation(mb)
    if entry.get("isPrimary"):
        raise bad_request("Cannot delete the primary send-as address")
    del mb.send_as[entry["sendAsEmail"]]
    mb.save("sendAs", entry["sendAsEmail"], None)
    if entry.get("isDefault"):
        mb.send_as[mb.email]["isDefault"] = True
        mb.save("sendAs", mb.email, mb.send_as[mb.email])


def verify_send_as(req: ApiRequest) -> None:
    mb = req.mailbox
    entry = _send_as(mb, req.params["sendAsEmail"])
    _require_delegation(mb)
    if entry.get("verificationStatus") != "pending":
        raise failed_precondition("The send-as alias is not pending verification")
    _verification_mail(req, entry["sendAsEmail"], "Gmail Confirmation - Send Mail as")


def _verification_mail(req: ApiRequest, address: str, subject: str) -> None:
    mb = req.mailbox
    raw = mime.build_message(
        from_="Gmail Team <mail-noreply@google.com>",
        to=[address],
        subject=f"{subject} {address}",
        text=f"{mb.email} asked to use {address}. Confirm with the sandbox control API.",
        date_ms=req.now_ms,
    )
    req.sandbox.record_outgoing(mb.email, [address], raw, "verification", f"{subject} {address}")


# ---- forwarding addresses ----------------------------------------------------------------------
def list_forwarding(req: ApiRequest) -> dict[str, Any]:
    entries = list(req.mailbox.forwarding.values())
    return {"forwardingAddresses": entries} if entries else {}


def get_forwarding(req: ApiRequest) -> dict[str, Any]:
    entry = req.mailbox.forwarding.get(req.params["forwardingEmail"].lower())
    if entry is None:
        raise not_found()
    return entry


def create_forwarding(req: ApiRequest) -> dict[str, Any]:
    mb, body = req.mailbox, req.json_body()
    _require_delegation(mb)
    email = str(body.get("forwardingEmail") or "").lower()
    if not _EMAIL.match(email):
        raise bad_request(f"Invalid forwardingEmail: {body.get('forwardingEmail')!r}")
    if email in mb.forwarding:
        raise ApiError(409, "Requested entity already exists", "alreadyExists", status="ALREADY_EXISTS")
    if email in mb.our_addresses():
        raise bad_request("Cannot forward to the account itself")
    same_domain = email.rsplit("@", 1)[1] == mb.domain
    entry = {"forwardingEmail": email, "verificationStatus": "accepted" if same_domain else "pending"}
    mb.forwarding[email] = entry
    mb.save("forwarding", email, entry)
    if not same_domain:
        _verification_mail(req, email, "Gmail Forwarding Confirmation - Receive Mail from")
    return entry


def delete_forwarding(req: ApiRequest) -> None:
    mb = req.mailbox
    email = req.params["forwardingEmail"].lower()
    if email not in mb.forwarding:
        raise not_found()
    _require_delegation(mb)
    del mb.forwarding[email]
    mb.save("forwarding", email, None)
