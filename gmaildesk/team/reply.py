"""`gmaildesk reply THREAD --template NAME`: a reply from a template, left as a draft in the conversation.

1. The template and the --var values are checked first, before any Gmail call.
2. The conversation is read live (threads.get, metadata) with the mailbox's drafts (drafts.list): a
   draft by another agent - or one written in Gmail, whose author nobody recorded - stops the reply
   (exit 4) unless --force; the replying agent's own earlier draft is replaced (drafts.update keeps
   its id), never doubled.
3. The reply is rendered with the conversation's customer, subject, department and ticket, the agent,
   the desk's vars and the --var values, and saved as a draft in the conversation (drafts.create with
   threadId and threading headers) from the department's alias with its signature; --send sends it
   (drafts.send), which files a new message labelled SENT in the conversation.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field

from gmaildesk.config.desk import Agent, Desk
from gmaildesk.errors import ExitCode, GmailDeskError
from gmaildesk.gmail.api import ReplyApi
from gmaildesk.team.compose import build_reply, sender_for
from gmaildesk.team.conversation import HEADERS, Conversation, Draft, read_conversation
from gmaildesk.team.reply_templates import ReplyTemplate, find_template, render


@dataclass(frozen=True)
class ReplyRequest:
    thread_id: str
    template: str
    agent: Agent
    variables: Mapping[str, str] = field(default_factory=dict)  # --var key=value
    send: bool = False
    force: bool = False


@dataclass(frozen=True)
class ReplyResult:
    thread_id: str
    draft_id: str
    message_id: str  # the draft's message; after --send, the sent message
    sent: bool
    replaced: bool  # the agent's own earlier draft was replaced
    sender: str  # the address the reply goes out from
    to: str
    subject: str
    overridden: tuple[Draft, ...] = ()  # other drafts --force went past


def reply_template(desk: Desk, request: ReplyRequest) -> ReplyTemplate:
    """The request's template, found before any Gmail call (an unknown name is a usage error)."""
    return find_template(desk.source.resolve().parent, request.template)


def reply(desk: Desk, api: ReplyApi, request: ReplyRequest, template: ReplyTemplate, ticket: int | None) -> ReplyResult:
    """See the module docstring. *ticket*: the conversation's number in the sweep store, if it has one."""
    folder = desk.source.resolve().parent
    (thread,) = api.threads([request.thread_id], HEADERS)
    conversation = read_conversation(desk, request.thread_id, thread, api.labels(), api.drafts())
    mine, others = _split_drafts(conversation, request.agent)
    if others and not request.force:
        raise _collision(conversation.thread_id, others, desk.timezone)
    text, html = render(folder, template, reply_context(desk, conversation, request, ticket))
    sender = sender_for(desk, conversation)
    raw, subject = build_reply(sender, conversation, text, html, request.agent.name)
    if mine is not None:
        draft = api.update_draft(mine.id, raw, conversation.thread_id)
    else:
        draft = api.create_draft(raw, conversation.thread_id)
    message_id = api.send_draft(draft.id).id if request.send else draft.message_id
    return ReplyResult(
        thread_id=conversation.thread_id,
        draft_id=draft.id,
        message_id=message_id,
        sent=request.send,
        replaced=mine is not None,
        sender=sender.address,
        to=conversation.customer_email,
        subject=subject,
        overridden=tuple(others),
    )


def reply_context(
    desk: Desk, conversation: Conversation, request: ReplyRequest, ticket: int | None
) -> dict[str, object]:
    """What a reply template may use; --var values come last and win."""
    context: dict[str, object] = {
        **desk.template_context,
        "customer": {"name": conversation.customer_name, "email": conversation.customer_email},
        "subject": conversation.subject,
        "department": conversation.department or "",
        "agent": {"name": request.agent.name, "email": request.agent.email},
    }
    if ticket is not None:
        context["ticket"] = ticket
    return {**context, **request.variables}


def _split_drafts(conversation: Conversation, agent: Agent) -> tuple[Draft | None, list[Draft]]:
    """The agent's own draft (the newest, if several) and everyone else's."""
    name = agent.name.casefold()
    mine = [d for d in conversation.drafts if d.author is not None and d.author.casefold() == name and d.id]
    others = [d for d in conversation.drafts if d not in mine]
    return (mine[-1] if mine else None), others


def _collision(thread_id: str, others: list[Draft], zone: dt.tzinfo) -> GmailDeskError:
    first = others[0]
    who = first.author or "someone in Gmail (no gmaildesk agent recorded)"
    more = f" and {len(others) - 1} more" if len(others) > 1 else ""
    return GmailDeskError(
        f"conversation {thread_id} already has a draft by {who} since {describe_time(first.since_ms, zone)}{more}",
        ["agree who answers (`gmaildesk drafts " + thread_id + "` lists them), or add yours anyway with --force"],
        ExitCode.DRAFT_CONFLICT,
    )


def describe_time(ms: int, zone: dt.tzinfo = dt.UTC) -> str:
    """'2026-11-30 23:30 CET': the minute in the desk's timezone, with its abbreviation (as the audit shows times)."""
    moment = dt.datetime.fromtimestamp(ms / 1000, zone)
    return f"{moment:%Y-%m-%d %H:%M} {moment.tzname()}"
