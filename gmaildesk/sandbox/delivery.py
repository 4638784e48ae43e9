"""How mail enters and leaves a sandbox mailbox: SMTP-style delivery (filters, threading,
the vacation responder), API insert/import, and send."""

from __future__ import annotations

import re
from email.parser import BytesHeaderParser
from email.policy import compat32
from email.utils import formataddr, formatdate, parseaddr
from typing import Any

from gmaildesk.gmail import query
from gmaildesk.gmail.filter_query import filter_query
from gmaildesk.sandbox import mime
from gmaildesk.sandbox.core import Sandbox
from gmaildesk.sandbox.errors import bad_request
from gmaildesk.sandbox.mailbox import Mailbox, StoredMessage

VACATION_WINDOW_MS = 4 * 24 * 3600 * 1000  # Gmail answers a sender again only after four days
AUTHENTICATION = ("pass", "fail")
_CONTROLS = re.compile(r"[\x00-\x1f\x7f]+")
_ADDR_SPEC = re.compile(r"[^\s@<>()\[\],;:\\\"]+@[^\s@<>()\[\],;:\\\"]+")
_NO_REPLY_LOCALPARTS = ("mailer-daemon", "postmaster", "no-reply", "noreply", "do-not-reply", "donotreply")


def store_message(
    sb: Sandbox, mb: Mailbox, raw: bytes, *, label_ids: list[str], date_source: str, thread_id: str | None
) -> StoredMessage:
    """messages.insert / messages.import: no filters, no auto-reply, labels as given."""
    if date_source not in ("receivedTime", "dateHeader"):
        raise bad_request(f"Invalid value for internalDateSource: {date_source}")
    parsed = mime.parse(raw)
    now = sb.now_ms()
    internal_date = parsed.date_ms if date_source == "dateHeader" and parsed.date_ms else now
    return mb.add_message(
        raw,
        internal_date=internal_date,
        label_ids=label_ids,
        now_ms=now,
        thread_id=thread_id if isinstance(thread_id, str) else None,
        msg_id=sb.new_message_id(internal_date, mb),
    )


def deliver(
    sb: Sandbox, mb: Mailbox, raw: bytes, *, spam: bool = False, authentication: str = "pass"
) -> dict[str, Any]:
    """A message arriving by SMTP: Delivered-To and Authentication-Results added, filters applied,
    threaded, auto-replied. `authentication="fail"` rehearses a forged From (SPF/DMARC fail)."""
    if authentication not in AUTHENTICATION:
        raise bad_request(f"authentication must be one of {', '.join(AUTHENTICATION)}, not {authentication!r}")
    raw = f"Delivered-To: {mb.email}\r\n".encode() + _authentication_results(raw, authentication) + raw
    parsed = mime.parse(raw)
    known = mb.rfc_ids.get(parsed.message_id) if parsed.message_id else None
    if known is not None:
        # Gmail keeps one copy per Message-ID: a second delivery (a list echo, a Cc to
        # ourselves, a resend) is dropped.
        existing = mb.messages[known]
        return {
            "id": existing.id,
            "threadId": existing.thread_id,
            "labelIds": sorted(existing.labels),
            "filtersApplied": [],
            "forwardedTo": [],
            "autoReply": None,
            "duplicate": True,
        }
    now = sb.now_ms()
    labels = {"SPAM" if spam else "INBOX", "UNREAD"}
    probe = StoredMessage("", "", now, set(labels), raw, 0, _parsed=parsed)
    applied, forwards = [], []
    for filter_id, flt in mb.filters.items():
        doc = mb.search_doc(probe)
        if query.search(filter_query(flt.get("criteria", {})), doc, now):
            action = flt.get("action", {})
            labels.update(i for i in action.get("addLabelIds", []) if i in mb.labels)  # a filter may outlive its label
            labels.difference_update(action.get("removeLabelIds", []))
            probe.labels = set(labels)
            if action.get("forward"):
                forwards.append(action["forward"])
            applied.append(filter_id)
    msg = mb.add_message(
        raw, internal_date=now, label_ids=sorted(labels), now_ms=now, msg_id=sb.new_message_id(now, mb), parsed=parsed
    )
    for address in forwards:
        _send_out(sb, mb, address_list=[address], raw=raw, kind="forward", subject=parsed.subject)
    reply = None if "SPAM" in msg.labels else _vacation_reply(sb, mb, msg)
    return {
        "id": msg.id,
        "threadId": msg.thread_id,
        "labelIds": sorted(msg.labels),
        "filtersApplied": applied,
        "forwardedTo": forwards,
        "autoReply": reply,
        "duplicate": False,
    }


def _authentication_results(raw: bytes, outcome: str) -> bytes:
    """Gmail's border MTA records its SPF/DKIM/DMARC verdicts on inbound mail, above the sender's
    own headers and folded as Gmail folds it (RFC 8601; authserv-id mx.google.com, as in any
    message's "Show original" in Gmail). Mail we send ourselves gets none."""
    try:
        sender = parseaddr(str(BytesHeaderParser(policy=compat32).parsebytes(raw).get("From") or ""))[1]
    except Exception:  # the stdlib header parser is lenient, but hostile bytes must not stop delivery
        sender = ""
    domain = sender.rpartition("@")[2].strip().lower()
    if not domain or not _ADDR_SPEC.fullmatch(sender.strip()):
        verdicts = ["dkim=none", "spf=none", "dmarc=none"]
    elif outcome == "pass":
        verdicts = [
            f"dkim=pass header.i=@{domain}",
            f"spf=pass smtp.mailfrom={domain}",
            f"dmarc=pass (p=NONE) header.from={domain}",
        ]
    else:
        verdicts = ["dkim=none", f"spf=fail smtp.mailfrom={domain}", f"dmarc=fail (p=NONE) header.from={domain}"]
    return ("Authentication-Results: mx.google.com;\r\n       " + ";\r\n       ".join(verdicts) + "\r\n").encode()


def send(sb: Sandbox, mb: Mailbox, raw: bytes, *, thread_id: str | None) -> StoredMessage:
    """messages.send: From fixed to an address we own, Message-ID added, SENT, then delivered."""
    parsed = mime.parse(raw)
    recipients = [a.email for a in (*parsed.to, *parsed.cc, *parsed.bcc) if a.email]
    if not recipients:
        raise bad_request("Invalid To header")
    raw = _outgoing_headers(sb, mb, raw, parsed)
    now = sb.now_ms()
    labels = ["SENT"]
    if set(recipients) & mb.our_addresses():
        labels.append("INBOX")  # mail to ourselves shows in the inbox too
    msg = mb.add_message(
        raw,
        internal_date=now,
        label_ids=labels,
        now_ms=now,
        thread_id=thread_id if isinstance(thread_id, str) else None,
        msg_id=sb.new_message_id(now, mb),
    )
    outside = [r for r in recipients if r not in mb.our_addresses()]
    if outside:
        _send_out(sb, mb, address_list=outside, raw=_without_bcc(raw), kind="sent", subject=parsed.subject)
    return msg


def _outgoing_headers(sb: Sandbox, mb: Mailbox, raw: bytes, parsed: mime.ParsedMessage) -> bytes:
    head, body = _split_head(raw)
    fields = _header_fields(head)
    sender = parsed.from_.email if parsed.from_ else ""
    alias = mb.send_as.get(sender)
    if not alias or not (alias.get("isPrimary") or alias.get("verificationStatus") == "accepted"):
        # Gmail replaces a From it cannot vouch for with the account's default address.
        default = next((s for s in mb.send_as.values() if s.get("isDefault")), mb.send_as[mb.email])
        fields = _without_field(fields, b"from")
        fields.insert(0, b"From: " + formataddr((default.get("displayName") or "", default["sendAsEmail"])).encode())
    if not parsed.message_id:
        fields.append(f"Message-ID: {mime.make_message_id('mail.gmail.com')}".encode())
    if parsed.date_ms is None:
        fields.append(f"Date: {formatdate(sb.now_ms() / 1000, usegmt=True)}".encode())
    return b"\r\n".join(fields) + b"\r\n\r\n" + body


def _without_bcc(raw: bytes) -> bytes:
    head, body = _split_head(raw)
    return b"\r\n".join(_without_field(_header_fields(head), b"bcc")) + b"\r\n\r\n" + body


def _split_head(raw: bytes) -> tuple[bytes, bytes]:
    found = re.search(rb"\r?\n\r?\n", raw)
    return (raw[: found.start()], raw[found.end() :]) if found else (raw, b"")


def _header_fields(head: bytes) -> list[bytes]:
    """The header block as whole fields, each with its folded continuation lines."""
    fields: list[bytes] = []
    for line in head.splitlines():
        if line[:1] in (b" ", b"\t") and fields:
            fields[-1] += b"\r\n" + line
        else:
            fields.append(line)
    return fields


def _without_field(fields: list[bytes], name: bytes) -> list[bytes]:
    pattern = re.compile(re.escape(name) + rb"[ \t]*:", re.IGNORECASE)
    return [f for f in fields if not pattern.match(f)]


def _send_out(
    sb: Sandbox, mb: Mailbox, *, address_list: list[str], raw: bytes, kind: str, subject: str
) -> dict[str, Any]:
    """Mail leaving the mailbox: kept in the outbox; sandbox users receive it by delivery."""
    entry = sb.record_outgoing(mb.email, address_list, raw, kind, subject)
    for address in address_list:
        local = sb.mailboxes.get(address.lower())
        if local is not None and local is not mb:
            deliver(sb, local, raw)
    return entry


# ---- the vacation responder --------------------------------------------------------------------
def _vacation_reply(sb: Sandbox, mb: Mailbox, msg: StoredMessage) -> dict[str, Any] | None:
    settings = mb.vacation
    if not settings.get("enableAutoReply"):
        return None
    now = sb.now_ms()
    if settings.get("startTime") and now < int(settings["startTime"]):
        return None
    if settings.get("endTime") and now > int(settings["endTime"]):
        return None
    parsed = msg.parsed
    sender = parsed.from_.email if parsed.from_ else ""
    if not _ADDR_SPEC.fullmatch(sender) or not _may_auto_reply(mb, parsed, sender):
        return None  # no usable address to answer (Gmail cannot reply to one either)
    if settings.get("restrictToDomain") and sender.rsplit("@", 1)[-1] != mb.domain:
        return None
    if settings.get("restrictToContacts") and sender not in _contacts(mb):
        return None
    last = mb.vacation_replied.get(sender)
    if last is not None and last >= mb.vacation_changed_at and now - last < VACATION_WINDOW_MS:
        return None
    # Gmail Help answer 25922: with a subject line the recipient gets the reply "in a separate
    # email"; without one it is a reply in the conversation (Help answer 5900: a conversation
    # splits when the subject changes).
    separate = bool(settings.get("responseSubject"))
    reply = _build_vacation(sb, mb, parsed, sender, separate=separate)
    mb.vacation_replied[sender] = now
    mb.save_state()
    stored = mb.add_message(
        reply,
        internal_date=now,
        label_ids=["SENT"],
        now_ms=now,
        thread_id=None if separate else msg.thread_id,
        msg_id=sb.new_message_id(now, mb),
        # Gmail files a threaded auto-reply in the conversation it answers.
        force_thread=not separate,
    )
    entry = _send_out(sb, mb, address_list=[sender], raw=reply, kind="vacation", subject=mime.parse(reply).subject)
    return {"id": stored.id, "to": sender, "outboxSeq": entry["seq"]}


def _may_auto_reply(mb: Mailbox, parsed: mime.ParsedMessage, sender: str) -> bool:
    """RFC 3834 and Gmail's own rules: never to ourselves, lists, bulk, bounces or auto-replies."""
    if sender in mb.our_addresses():
        return False
    local = sender.split("@", 1)[0]
    if any(local.startswith(p) for p in _NO_REPLY_LOCALPARTS):
        return False
    if parsed.list_id or parsed.header("List-Unsubscribe") or parsed.header("List-Post"):
        return False
    if (parsed.header("Precedence") or "").strip().lower() in ("bulk", "junk", "list", "auto_reply"):
        return False
    auto = (parsed.header("Auto-Submitted") or "no").strip().lower()
    if auto != "no" or parsed.header("X-Autoreply") or parsed.header("X-Autorespond"):
        return False
    return (parsed.header("Return-Path") or "").strip() != "<>"


def _contacts(mb: Mailbox) -> set[str]:
    # The sandbox has no address book; people we have written to stand for "contacts".
    return {
        a.email for m in mb.messages.values() if "SENT" in m.labels for a in (*m.parsed.to, *m.parsed.cc) if a.email
    }


def _build_vacation(sb: Sandbox, mb: Mailbox, parsed: mime.ParsedMessage, sender: str, *, separate: bool) -> bytes:
    settings = mb.vacation
    # A decoded subject may carry CR/LF or other controls (=?utf-8?q?..=0D=0A..?=); they must not
    # become header lines of our reply.
    original = _CONTROLS.sub(" ", parsed.subject or "").strip()
    # VacationSettings.responseSubject (Gmail API reference): "Optional text to prepend to the
    # subject line in vacation responses".
    prefix = _CONTROLS.sub(" ", settings.get("responseSubject") or "").strip()
    subject = f"{prefix} {original}".strip() if separate else f"Re: {original}".strip()
    html = settings.get("responseBodyHtml") or None
    text = settings.get("responseBodyPlainText") or (mime.html_to_text(html) if html else "")
    primary = mb.send_as[mb.email]
    signature = primary.get("signature") or ""
    if signature:
        # Gmail Help answer 25922: a signature shows below the automatic reply, after Gmail's
        # usual "-- " delimiter line.
        text = f"{text}\n\n-- \n{mime.html_to_text(signature)}"
        if html is not None:
            html = f'{html}<br><br>-- <br><div class="gmail_signature">{signature}</div>'
    from_ = formataddr((_CONTROLS.sub(" ", primary.get("displayName") or ""), mb.email))
    answered = parsed.message_id if parsed.message_id and not _CONTROLS.search(parsed.message_id) else None
    references = (
        []
        if separate
        else [*(r for r in parsed.references if not _CONTROLS.search(r)), *([answered] if answered else [])]
    )
    return mime.build_message(
        from_=from_,
        to=[sender],
        subject=subject,
        text=text,
        html=html,
        extra_headers=[("Auto-Submitted", "auto-replied")],
        date_ms=sb.now_ms(),
        in_reply_to=None if separate else answered,
        references=references,
    )
