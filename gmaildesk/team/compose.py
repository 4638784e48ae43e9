"""The reply's message: From the department's alias with that alias's signature, threaded as an answer.

Gmail adds a send-as signature only in its own composer (SendAs.signature in the discovery document:
"included in messages composed with this alias in the Gmail web UI"), so a draft made through the API
gets it from here. Threading (Message.threadId in the discovery document): the draft names the
conversation, carries In-Reply-To/References of the message it answers, and keeps the subject.
"""

from __future__ import annotations

import html as html_module
import re
from dataclasses import dataclass
from email.message import EmailMessage
from email.policy import SMTP
from email.utils import formataddr

from gmaildesk.config.desk import Desk
from gmaildesk.team.conversation import AGENT_HEADER, Conversation, header

_CONTROLS = re.compile(r"[\x00-\x1f\x7f]+")
_REPLY_PREFIX = re.compile(r"(?i)^\s*re\s*:")
_MESSAGE_ID = re.compile(r"<[^<>\s]+>")


@dataclass(frozen=True)
class Sender:
    address: str
    display_name: str | None
    signature_html: str | None  # the desk's rendered send_as signature for that address


def sender_for(desk: Desk, conversation: Conversation) -> Sender:
    """The department's `alias:`; else the address of ours the customer wrote to; else the mailbox."""
    department = next((d for d in desk.departments if d.name == conversation.department), None)
    ours = [desk.mailbox.lower(), *(s.address.lower() for s in desk.send_as)]
    if department is not None and department.alias:
        address = department.alias.lower()
    else:
        address = next((a for a in conversation.written_to if a in ours), desk.mailbox.lower())
    entry = next((s for s in desk.send_as if s.address.lower() == address), None)
    if entry is None:
        return Sender(address, None, None)
    return Sender(address, entry.display_name, entry.signature or None)


def reply_subject(subject: str) -> str:
    """Gmail keeps a reply in the conversation only with the same subject, prefixes aside."""
    clean = _CONTROLS.sub(" ", subject).strip()
    return clean if _REPLY_PREFIX.match(clean) else f"Re: {clean}".rstrip()


def build_reply(
    sender: Sender, conversation: Conversation, text: str, html: str | None, agent_name: str
) -> tuple[bytes, str]:
    """(RFC 5322 bytes of the draft, its subject)."""
    message = EmailMessage(policy=SMTP)
    message["From"] = formataddr((_CONTROLS.sub(" ", sender.display_name or ""), sender.address))
    message["To"] = formataddr((_CONTROLS.sub(" ", conversation.customer_name), conversation.customer_email))
    subject = reply_subject(conversation.subject)
    message["Subject"] = subject
    answered = _MESSAGE_ID.findall(header(conversation.answering, "Message-ID"))
    if answered:
        earlier = _MESSAGE_ID.findall(header(conversation.answering, "References"))
        message["In-Reply-To"] = answered[0]
        message["References"] = " ".join(dict.fromkeys([*earlier, answered[0]]))
    message[AGENT_HEADER] = _CONTROLS.sub(" ", agent_name)
    signature = sender.signature_html
    plain = text.rstrip("\n") + "\n"
    if signature:
        # "-- " on a line of its own starts a signature (RFC 3676 4.3), unless the signature has its
        # own; Gmail marks an HTML signature with the gmail_signature class.
        signature_text = text_of_html(signature)
        delimiter = "" if signature_text.startswith("--") else "-- \n"
        plain += f"\n{delimiter}{signature_text}"
        if html is not None:
            html += f'<br><div class="gmail_signature">{delimiter.replace(chr(10), "<br>")}{signature}</div>'
    message.set_content(plain)
    if html is not None:
        message.add_alternative(html, subtype="html")
    return message.as_bytes(), subject


def text_of_html(markup: str) -> str:
    """Plain text of an HTML fragment: tags dropped, line breaks where blocks end."""
    text = re.sub(r"(?i)<br\s*/?>|</p>|</div>|</li>|</h\d>|</tr>", "\n", markup)
    text = re.sub(r"<[^>]+>", "", text)
    lines = [line.strip() for line in html_module.unescape(text).splitlines()]
    return re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip() + "\n"
