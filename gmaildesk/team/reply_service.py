"""`reply` and `drafts` on a real connection: the mailbox check, the store's ticket and owner, ownership.

The sweep store is only read here (the ticket number, the owner); it is never created by a reply. The
replying agent becomes the owner of a conversation nobody owns through `gmaildesk assign`'s own path
(team/owners.py: the Agent/ label and the owners row, under the account lock), only for a conversation
the sweep has recorded: an unswept one is left to the sweep.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path

from gmaildesk.config.desk import Desk
from gmaildesk.errors import ExitCode, GmailDeskError
from gmaildesk.gmail import scopes
from gmaildesk.gmail.api import HttpGmailApi
from gmaildesk.gmail.connection import ConnectionOptions, connect
from gmaildesk.paths import Account, check_mailbox
from gmaildesk.sweep.store import Store, store_path
from gmaildesk.team.conversation import HEADERS, Draft, read_conversation
from gmaildesk.team.owners import assign_thread
from gmaildesk.team.reply import ReplyRequest, ReplyResult, reply, reply_template


@dataclass(frozen=True)
class StoreFacts:
    swept: bool  # the sweep has recorded the conversation
    ticket: int | None
    owner: str | None


@dataclass(frozen=True)
class ReplyOutcome:
    result: ReplyResult
    owner_before: str | None
    owner_now: str | None
    swept: bool
    owner_locked_out: bool = False  # a sweep held the mailbox: the owner was not set


def reply_once(desk: Desk, options: ConnectionOptions, store: Path | None, request: ReplyRequest) -> ReplyOutcome:
    template = reply_template(desk, request)
    api, account = _connect(desk, options)
    request = dataclasses.replace(request, thread_id=conversation_of(account, store, request.thread_id))
    facts = store_facts(account, store, request.thread_id)
    result = reply(desk, api, request, template, facts.ticket)
    owner, busy = facts.owner, False
    if facts.swept and owner is None and desk.team.agents:
        try:
            owner = assign_thread(desk, options, store, request.thread_id, request.agent).after
        except GmailDeskError as error:
            if error.exit_code != ExitCode.LOCKED:
                raise
            busy = True  # the reply is written; the owner waits for the next reply or `assign`
    return ReplyOutcome(result, facts.owner, owner, facts.swept, busy)


def conversation_drafts(desk: Desk, options: ConnectionOptions, thread_id: str) -> tuple[Draft, ...]:
    """The drafts in one conversation now, with their authors (live: only Gmail knows its drafts)."""
    api, account = _connect(desk, options)
    thread_id = conversation_of(account, None, thread_id)
    (thread,) = api.threads([thread_id], HEADERS)
    return read_conversation(desk, thread_id, thread, api.labels(), api.drafts()).drafts


def conversation_of(account: Account, override: Path | None, thread: str) -> str:
    """*thread*, or for `#NUMBER` the conversation the sweep store gave that ticket number."""
    if not thread.startswith("#"):
        return thread
    path = store_path(account, override)
    found = None
    if path.is_file():
        with Store(path, account) as store:
            found = store.db.execute("SELECT thread_id FROM tickets WHERE number = ?", (int(thread[1:]),)).fetchone()
    if found is None:
        raise GmailDeskError(
            f"no conversation has ticket {thread} in the sweep store of {account.address}",
            ["the sweep numbers each conversation it knows; `gmaildesk threads` lists them"],
        )
    return str(found[0])


def store_facts(account: Account, override: Path | None, thread_id: str) -> StoreFacts:
    path = store_path(account, override)
    if not path.is_file():
        return StoreFacts(False, None, None)
    with Store(path, account) as store:
        db = store.db
        swept = db.execute("SELECT 1 FROM threads WHERE thread_id = ?", (thread_id,)).fetchone() is not None
        ticket = db.execute("SELECT number FROM tickets WHERE thread_id = ?", (thread_id,)).fetchone()
        owner = db.execute("SELECT agent FROM owners WHERE thread_id = ?", (thread_id,)).fetchone()
    return StoreFacts(swept, ticket[0] if ticket else None, owner[0] if owner else None)


def _connect(desk: Desk, options: ConnectionOptions) -> tuple[HttpGmailApi, Account]:
    # drafts.* list gmail.modify among their scopes (discovery document): the sweep's grant is enough.
    api = HttpGmailApi(connect(options, scopes.SWEEP))
    account = Account(api.endpoint, api.profile().address)
    check_mailbox(desk.mailbox, account.address, how="--user" if options.user else f"the account {account.describe()}")
    return api, account
