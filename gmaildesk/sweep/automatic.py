"""Mail written by machines — bounces, auto-replies, list traffic — recognised from headers alone.

Each test returns a short human reason, or None. They only see the headers in
CLASSIFIER_HEADERS (Gmail's metadata format has no body), so a bounce is recognised by its
envelope and top-level headers, never by the delivery-status part inside it.
"""

from __future__ import annotations

import re
from typing import Callable

from gmaildesk.sweep.headers import Headers, addresses, first_address

__all__ = ["bounce_reason", "auto_reply_reason", "weak_auto_reply_reason", "list_reason",
           "is_own_list", "forward_prefix"]

# Local parts MTAs send delivery reports from (RFC 3834 §2 names MAILER-DAEMON; MDaemon uses its own).
_ROBOT_SENDERS = {"mailer-daemon", "postmaster", "mdaemon"}
_NO_REPLY = re.compile(r"^(?:no|do[-_.]?not)[-_.]?reply(?:[-_.+].*)?$")

# Subjects MTAs give delivery reports. Anchored at the start: a customer forwarding a bounce
# to us ("Fwd: Undeliverable: ...") is asking for help, not a bounce.
_FAILURE_SUBJECT = re.compile(r"""^\s*(?:
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
)""", re.I | re.X)

# Out-of-office subjects, mostly Outlook's localised "Automatic reply:" and the classic
# "Out of Office". A separator must follow, so "Out of office tomorrow?" from a person is not one.
_AUTO_SUBJECT = re.compile(r"""^\s*(?:(?:
      auto(?:matic|mated)?[\s_-]*(?:reply|response|responder|answer)
    | out\s+of\s+(?:the\s+)?office | abwesenheitsnotiz | automatische\s+antwort
    | r[ée]ponse\s+automatique | respuesta\s+autom[áa]tica | fuera\s+de\s+(?:la\s+)?oficina
    | risposta\s+automatica | automatisch\s+antwoord | resposta\s+autom[áa]tica
    | automatiskt?\s+svar | autosvar | automaattinen\s+vastaus | automatikus\s+v[áa]lasz
    | odpowied[źz]\s+automatyczna | automatick[áa]\s+odpov[ěe][ďd] | otomatik\s+yan[ıi]t
    | автоматический\s+ответ | 自動応答 | 自動返信 | 自动回复 | 自動回覆
    )\s*(?:[:：\-–]|$)
    | auto\s*:                                              # RFC 3834 §3.1.5's suggested prefix
)""", re.I | re.X)

# Forward prefixes as mail clients localise them: Fwd/Fw, TR (fr), WG (de), RV (es), Doorst (nl),
# VS (fi, no, da), VB (sv), Enc (pt), PD (pl), I (it), and CJK; after any [list tag].
_FORWARD_SUBJECT = re.compile(
    r"^\s*(?:\[[^\]]*\]\s*)*(fwd?|tr|wg|rv|doorst|vs|vb|enc|pd|i|転送|转发|轉寄)\s*[:：]", re.I)


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
    sender = h.value("From")
    return h.value("Return-Path").replace(" ", "") == "<>" or bool(sender and not addresses(sender, bare=True))


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
    local = first_address(h.get_all("From"), bare=True).split("@")[0].replace("_", "-")
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
    for name in ("X-Autoreply", "X-Autorespond", "X-Autoresponder"):
        if name in h and h.value(name).lower() not in ("no", "false", "0"):
            return f"{name} header"
    suppress = h.value("X-Auto-Response-Suppress")
    # Outlook/Exchange out-of-office replies often carry nothing else (FreeScout #513).
    if {t.strip().lower() for t in suppress.split(",")} & {"all", "oof", "autoreply"}:
        return f"X-Auto-Response-Suppress: {suppress}"
    if _token(h.value("Precedence")) == "auto_reply":
        return "Precedence: auto_reply"
    report = _report_type(h)
    if report:  # read receipts (disposition-notification), abuse/TLS reports: automatic, not failures
        return f"automatic report: multipart/report {report}"
    return None


def weak_auto_reply_reason(h: Headers, sender: str, via_own_list: bool = False) -> str | None:
    """Signals that also occur on list mail, so they are checked after the list headers.

    `via_own_list`: relayed by a group of ours, whose Precedence says nothing about the author.
    """
    precedence = "" if via_own_list else _token(h.value("Precedence"))
    if precedence in ("bulk", "junk"):
        return f"Precedence: {precedence}"
    subject = h.value("Subject")
    # An explicit "Auto-Submitted: no" says a person wrote it, whatever the subject says.
    if _token(h.value("Auto-Submitted")) != "no" and _AUTO_SUBJECT.match(subject):
        return f"auto-reply subject: {subject[:60]}"
    reply_to = addresses(h.get_all("Reply-To"))
    # A web form sends from noreply@ with Reply-To the customer: that one is customer mail.
    if _NO_REPLY.match(sender.split("@")[0]) and not (set(reply_to) - {sender}):
        return f"no-reply sender {sender}"
    return None


def is_own_list(h: Headers, is_ours: Callable[[str], bool]) -> bool:
    """The List-Id names one of our addresses: a Google Group of ours relaying to the mailbox.

    Google Groups writes List-Id as <group.domain>; only the first dot is the @, so a list
    id like support.lists.example.org means support@lists.example.org.
    """
    list_id = h.value("List-Id")
    found = re.search(r"<([^>]*)>", list_id)
    ident = (found.group(1) if found else list_id).strip().lower()
    local, dot, domain = ident.partition(".")
    return bool(dot and local and domain) and is_ours(f"{local}@{domain}")


def list_reason(h: Headers, is_ours: Callable[[str], bool]) -> str | None:
    """Mailing-list or newsletter traffic (RFC 2919 List-Id, RFC 2369 List-*)."""
    if is_own_list(h, is_ours):
        return None  # our own group: the relayed message is what it would be without it
    if list_id := h.value("List-Id"):
        return f"List-Id: {list_id[:60]}"
    if "List-Unsubscribe" in h:
        return "List-Unsubscribe header"
    if _token(h.value("Precedence")) == "list":
        return "Precedence: list"
    return None


def forward_prefix(subject: str) -> str | None:
    """The forward prefix the subject starts with ("Fwd", "WG", "Doorst"...), or None."""
    found = _FORWARD_SUBJECT.match(subject or "")
    return found.group(1) if found else None
