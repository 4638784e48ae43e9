"""Mail written by machines — bounces, auto-replies, list traffic — recognised from headers alone.

Each test returns a short human reason, or None. They only see the headers in
CLASSIFIER_HEADERS (Gmail's metadata format has no body), so a bounce is recognised by its
envelope and top-level headers, never by the delivery-status part inside it.

Evidence comes in two strengths. Headers only machines set (RFC 3834 Auto-Submitted, the
X-Autoreply family, a multipart/report, list headers, Precedence) decide on their own. A
subject ("Out of office: ...") is something any person can type, so it is only a cue: the
classifier weighs it with whether the message answers us (auto_subject_reason's caller).
"""

from __future__ import annotations

import re
from collections.abc import Callable

from gmaildesk.sweep.headers import Headers

__all__ = [
    "bounce_reason",
    "auto_reply_reason",
    "bulk_reason",
    "auto_subject_reason",
    "no_reply_reason",
    "list_reason",
    "reply_to_person",
    "is_own_list",
    "forward_prefix",
]

# Local parts MTAs send delivery reports from (RFC 3834 §2 names MAILER-DAEMON; MDaemon uses its own).
_ROBOT_SENDERS = {"mailer-daemon", "postmaster", "mdaemon"}
_NO_REPLY = re.compile(r"^(?:no|do[-_.]?not)[-_.]?reply(?:[-_.+].*)?$")
# Return addresses RFC 3834 §2 lets a responder treat as robots: list owners and request handlers.
_LIST_ROBOT = re.compile(r"^owner-|-(?:request|owner|bounces?)(?:[+].*)?$")

# Subjects MTAs give delivery reports. Anchored at the start: a customer forwarding a bounce
# to us ("Fwd: Undeliverable: ...") is asking for help, not a bounce.
_FAILURE_SUBJECT = re.compile(
    r"""^\s*(?:
      undeliver(?:ed|able)                                  # Postfix, Exchange "Undeliverable:"
    | returned\s+mail | failed\s+mail | failure\s+notice     # Sendmail, qmail
    | mail\s+delivery\s+(?:failed|failure|problem|warning)  # Exim
    | (?:permanent\s+)?delivery\s+(?:status\s+notification|failure|failed|report|notification)
    | non-?\s?deliver(?:y|able)
    | (?:message|mail)\s+(?:delayed|not\s+delivered|could\s+not\s+be\s+delivered|system\s+error)
    | delayed\s+mail | warning:\s+message\s+\S+\s+delayed
    | unzustellbar | nicht\s+zustellbar | non\s+remis | non\s+distribu[ée]
    | no\s+se\s+puede\s+entregar | onbestelbaar | non\s+recapitabile
    | n[ãa]o\s+(?:[ée]\s+poss[íi]vel\s+)?entreg
)""",
    re.I | re.X,
)

# Out-of-office subjects, mostly Outlook's localised "Automatic reply:" and the classic
# "Out of Office". A separator must follow, so "Out of office tomorrow?" from a person is not one.
_AUTO_SUBJECT = re.compile(
    r"""^\s*(?:(?:
      auto(?:matic|mated)?[\s_-]*(?:reply|response|responder|answer)
    | out\s+of\s+(?:the\s+)?office | abwesenheitsnotiz | automatische\s+antwort
    | r[ée]ponse\s+automatique | respuesta\s+autom[áa]tica | fuera\s+de\s+(?:la\s+)?oficina
    | risposta\s+automatica | automatisch\s+antwoord | resposta\s+autom[áa]tica
    | automatiskt?\s+svar | autosvar | automaattinen\s+vastaus | automatikus\s+v[áa]lasz
    | odpowied[źz]\s+automatyczna | automatick[áa]\s+odpov[ěe][ďd] | otomatik\s+yan[ıi]t
    | автоматический\s+ответ | 自動応答 | 自動返信 | 自动回复 | 自動回覆
    )\s*(?:[:：\-–]|$)
    | auto\s*:                                              # RFC 3834 §3.1.5's suggested prefix
)""",
    re.I | re.X,
)

# Forward prefixes as mail clients localise them: Fwd/Fw, TR (fr), WG (de), RV (es), Doorst (nl),
# VS (fi, no, da), VB (sv), Enc (pt), PD (pl), I (it), and CJK; after any [list tag].
_FORWARD_SUBJECT = re.compile(
    r"^\s*(?:\[[^\]]*\]\s*)*(fwd?|tr|wg|rv|doorst|vs|vb|enc|pd|i|転送|转发|轉寄)\s*[:：]", re.I
)


def _token(value: str) -> str:
    """The keyword of a structured value: "auto-generated (failure)" -> "auto-generated"."""
    return re.split(r"[\s;(]", value.strip().lower(), maxsplit=1)[0] if value.strip() else ""


def _report_type(h: Headers) -> str | None:
    """report-type of a multipart/report (RFC 6522); "" when the MTA left it out; None if no report."""
    ctype = h.value("Content-Type").lower()
    if not ctype.startswith("multipart/report"):
        return None
    found = re.search(r"report-type\s*=\s*\"?([\w.-]+)", ctype)
    return found.group(1) if found else ""


def _null_sender(h: Headers) -> bool:
    """Envelope sender `<>` (RFC 5321 reserves it for notifications), or a From without an address.

    Only ever combined with a failure subject: some forwarders rewrite the envelope of
    redirected human mail to `<>` (osTicket #3975 took such customer replies for bounces).
    """
    null_return_path = h.value("Return-Path").replace(" ", "") == "<>"
    return null_return_path or bool(h.value("From") and not h.addresses("From", bare=True))


def _auto_submitted(h: Headers) -> str:
    value = h.value("Auto-Submitted")
    return value if value and _token(value) != "no" else ""


def bounce_reason(h: Headers) -> str | None:
    """A delivery failure (or delay) report. Checked before auto-replies: many carry Auto-Submitted."""
    report = _report_type(h)
    if report in ("delivery-status", ""):  # report-type is mandatory, yet old MTAs omit it on DSNs
        return "bounce: multipart/report delivery-status"
    if "X-Failed-Recipients" in h:
        return "bounce: X-Failed-Recipients"
    senders = h.addresses("From", bare=True)
    local = senders[0].split("@")[0].replace("_", "-") if senders else ""
    if local in _ROBOT_SENDERS:
        return f"bounce: sent by {local.upper()}"
    if _FAILURE_SUBJECT.match(h.value("Subject")):
        if _null_sender(h):
            return "bounce: null sender <>, delivery-failure subject"
        if _auto_submitted(h):
            return "bounce: Auto-Submitted, delivery-failure subject"
    return None


def auto_reply_reason(h: Headers) -> str | None:
    """Headers that only automatic responders set (RFC 3834 and the de-facto ones)."""
    if submitted := _auto_submitted(h):
        return f"Auto-Submitted: {submitted}"
    # X-Autoreply-From and X-Mail-Autoreply as osTicket's TicketFilter::isAutoReply checks them.
    for name in ("X-Autoreply", "X-Autorespond", "X-Autoresponder", "X-Autoreply-From", "X-Mail-Autoreply"):
        if name in h and h.value(name).lower() not in ("no", "false", "0"):
            return f"{name} header"
    if _token(h.value("X-Autogenerated")) == "reply":  # osTicket's TicketFilter::isAutoReply too
        return "X-Autogenerated: Reply"
    suppress = h.value("X-Auto-Response-Suppress")
    # Outlook/Exchange out-of-office replies often carry nothing else (FreeScout #513).
    if {t.strip().lower() for t in suppress.split(",")} & {"all", "oof", "autoreply"}:
        return f"X-Auto-Response-Suppress: {suppress}"
    if _precedence(h) == "auto_reply":
        return "Precedence: auto_reply"
    report = _report_type(h)
    if report:  # read receipts (disposition-notification), abuse/TLS reports: automatic, not failures
        return f"automatic report: multipart/report {report}"
    return None


def _precedence(h: Headers) -> str:
    """Precedence, or X-Precedence where a mailer wrote that instead (FreeScout and osTicket read both)."""
    return _token(h.value("Precedence")) or _token(h.value("X-Precedence"))


def bulk_reason(h: Headers, via_own_list: bool = False) -> str | None:
    """Precedence bulk or junk: newsletters and notifications (checked after the list headers).

    `via_own_list`: relayed by a group of ours, whose Precedence says nothing about the author.
    """
    precedence = "" if via_own_list else _precedence(h)
    return f"Precedence: {precedence}" if precedence in ("bulk", "junk") else None


def auto_subject_reason(h: Headers) -> str | None:
    """A subject out-of-office responders use. Only a cue: a person may write it too."""
    subject = h.value("Subject")
    # An explicit "Auto-Submitted: no" says a person wrote it, whatever the subject says.
    if _token(h.value("Auto-Submitted")) != "no" and _AUTO_SUBJECT.match(subject):
        return f"auto-reply subject: {subject[:60]}"
    return None


def _robot(address: str) -> bool:
    local = address.split("@")[0].replace("_", "-")
    return bool(_NO_REPLY.match(local) or local in _ROBOT_SENDERS or _LIST_ROBOT.search(local))


def no_reply_reason(h: Headers, sender: str) -> str | None:
    """A no-reply sender with nobody else to answer: a machine (order confirmations, alerts).

    A web form sends from noreply@ with Reply-To the customer: that one is customer mail.
    """
    if not _NO_REPLY.match(sender.split("@")[0]):
        return None
    if any(a != sender and not _robot(a) for a in h.addresses("Reply-To")):
        return None
    return f"no-reply sender {sender}"


def _list_addresses(h: Headers) -> set[str]:
    """The list's own addresses: List-Post's mailto (RFC 2369 §3.4) and the List-Id as an address."""
    found = {
        a[len("mailto:") :].split("?")[0] for a in _bracketed(h.value("List-Post")) if a.lower().startswith("mailto:")
    }
    if ident := _list_ident(h):
        local, _, domain = ident.partition(".")
        found.add(f"{local}@{domain}")
    return {a.lower() for a in found}


def reply_to_person(h: Headers, sender: str, is_ours: Callable[[str], bool]) -> str | None:
    """The first Reply-To address that names a person, not the machine that sent the mail.

    Not a no-reply or robot address, not the list itself (its List-Post, or an address the mail
    was sent to: old lists and bug trackers carry no List-Post), not one of ours, and not the
    sending organisation's own domain (a newsletter answered at hello@ its own domain is still a
    newsletter); what is left is someone who expects an answer — the customer of a contact form
    that a mailing service delivered with list headers.
    """
    sender_domain = sender.rpartition("@")[2]
    machine = _list_addresses(h) | {sender} | set(h.addresses("To", "Cc"))
    for address in h.addresses("Reply-To"):
        domain = address.rpartition("@")[2]
        if address in machine or _robot(address) or is_ours(address):
            continue
        if sender_domain and (
            domain == sender_domain or domain.endswith("." + sender_domain) or sender_domain.endswith("." + domain)
        ):
            continue
        return address
    return None


def _bracketed(value: str) -> list[str]:
    """The <...> items of a header, in one pass (str.find, never a backtracking pattern)."""
    found, at = [], 0
    while (start := value.find("<", at)) >= 0 and (end := value.find(">", start)) >= 0:
        found.append(value[start + 1 : end].strip())
        at = end + 1
        if len(found) >= 10:
            break
    return found


def _list_ident(h: Headers) -> str:
    list_id = h.value("List-Id")
    inside = _bracketed(list_id)
    return (inside[0] if inside else list_id).strip().lower()


def is_own_list(h: Headers, is_ours: Callable[[str], bool]) -> bool:
    """The List-Id names one of our addresses: a Google Group of ours relaying to the mailbox.

    Google Groups writes List-Id as <group.domain>; only the first dot is the @, so a list
    id like support.lists.example.org means support@lists.example.org.
    """
    local, dot, domain = _list_ident(h).partition(".")
    return bool(dot and local and domain) and is_ours(f"{local}@{domain}")


def list_reason(h: Headers, is_ours: Callable[[str], bool]) -> str | None:
    """Mailing-list or newsletter traffic (RFC 2919 List-Id, RFC 2369 List-*)."""
    if is_own_list(h, is_ours):
        return None  # our own group: the relayed message is what it would be without it
    if list_id := h.value("List-Id"):
        return f"List-Id: {list_id[:60]}"
    if "List-Unsubscribe" in h:
        return "List-Unsubscribe header"
    if _precedence(h) == "list":
        return "Precedence: list"
    return None


def forward_prefix(subject: str) -> str | None:
    """The forward prefix the subject starts with ("Fwd", "WG", "Doorst"...), or None."""
    found = _FORWARD_SUBJECT.match(subject or "")
    return found.group(1) if found else None
