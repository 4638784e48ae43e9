"""`gmaildesk assign THREAD AGENT|--none`: give a conversation to an agent by hand, through its Agent/ label.

Under the account lock (a sweep may not assign at the same moment): the owners row is written first as
an intent (labelled=0), the label write recorded as our own, then one messages.batchModify puts the new
agent's label on every message of the conversation and takes every other agent label off (one owner at
most - the command is a person's decision, so it replaces a hand-set label too), then labelled=1.
"""

from __future__ import annotations

import difflib
import uuid
from dataclasses import dataclass
from pathlib import Path

from gmaildesk.config.desk import Agent, Desk
from gmaildesk.errors import ExitCode, GmailDeskError
from gmaildesk.gmail import scopes
from gmaildesk.gmail.api import HttpGmailApi
from gmaildesk.gmail.connection import ConnectionOptions, connect
from gmaildesk.gmail.errors import GmailApiError
from gmaildesk.gmail.types import Modify
from gmaildesk.lock import AccountLock
from gmaildesk.paths import Account, check_mailbox
from gmaildesk.sweep.store import OwnWrite, Store, store_path

__all__ = ["Assignment", "assign_thread", "find_agent"]

# Labels Gmail refuses on a draft's message; spam and trash are not the conversation the team sees.
_NOT_LABELLED = frozenset({"DRAFT", "SPAM", "TRASH"})


@dataclass(frozen=True)
class Assignment:
    thread_id: str
    before: str | None  # the previous owner's name
    after: str | None  # None: unassigned

    def describe(self) -> str:
        if self.before == self.after:
            return f"{self.thread_id}: already {_whose(self.after)}; nothing changed"
        return f"{self.thread_id}: {_whose(self.before)} -> {_whose(self.after)}"


def _whose(agent: str | None) -> str:
    return agent if agent is not None else "unassigned"


def find_agent(desk: Desk, name: str) -> Agent:
    """The named agent of desk.yaml's team; exit 2 with a did-you-mean for any other name."""
    agent = desk.team.agent(name)
    if agent is not None:
        return agent
    names = [a.name for a in desk.team.agents]
    close = (
        difflib.get_close_matches(name, names, n=1, cutoff=0.5)
        or [n for n in names if n.casefold().startswith(name.casefold()[:3])][:1]
    )
    if close:
        hint = f"did you mean '{close[0]}'?"
    elif names:
        hint = f"agents of this desk: {', '.join(names)}"
    else:
        hint = "name your agents in desk.yaml's team: - {name: Alice, email: alice@example.com}"
    raise GmailDeskError(f"no agent '{name}' in {desk.source}'s team", [hint], ExitCode.USAGE)


def assign_thread(
    desk: Desk, options: ConnectionOptions, store_override: Path | None, thread: str | int, agent: Agent | None
) -> Assignment:
    """Make *agent* (None: nobody) the owner of *thread* (an id, or an int: a ticket number); see the
    module docstring."""
    api = HttpGmailApi(connect(options, scopes.SWEEP))
    account = Account(api.endpoint, api.profile().address)
    check_mailbox(desk.mailbox, account.address, how="--user" if options.user else f"the account {account.describe()}")
    with AccountLock(account, "assign"), Store(store_path(account, store_override), account) as store:
        thread_id = thread if isinstance(thread, str) else _ticket_thread(store, thread)
        if thread_id not in store.threads():
            raise GmailDeskError(
                f"conversation {thread_id} is not in the sweep store",
                ["it may be outside sweep.scope, or not swept yet: run `gmaildesk sweep` first"],
            )
        row = store.db.execute("SELECT agent FROM owners WHERE thread_id = ?", (thread_id,)).fetchone()
        before = row[0] if row else None
        label_ids = {label.name.casefold(): label.id for label in api.labels()}
        wanted = _label_id(label_ids, agent) if agent is not None else None
        message_ids = _message_ids(api, thread_id)
        others = frozenset(label_ids[a.label.casefold()] for a in desk.team.agents if a.label.casefold() in label_ids)
        change = Modify(message_ids, frozenset({wanted} if wanted else ()), others - {wanted})
        now_ms = api.clock()
        with store.transaction("recording the owner in"):
            if agent is None:
                store.db.execute("DELETE FROM owners WHERE thread_id = ?", (thread_id,))
            else:
                store.db.execute(
                    "INSERT OR REPLACE INTO owners (thread_id, agent, how, at, labelled) "
                    "VALUES (?, ?, 'command', ?, 0)",
                    (thread_id, agent.name, now_ms),
                )
        write_id = uuid.uuid4().hex
        store.record_writes(
            store.checkpoint().history_id or "0",
            write_id,
            [OwnWrite(m, change.add, change.remove) for m in message_ids],
        )
        _modify(api, change)
        store.confirm_owners([thread_id], write_id)
    return Assignment(thread_id, before, agent.name if agent else None)


def _ticket_thread(store: Store, number: int) -> str:
    row = store.db.execute("SELECT thread_id FROM tickets WHERE number = ?", (number,)).fetchone()
    if row is None:
        raise GmailDeskError(
            f"no conversation has ticket number {number} in the sweep store",
            ["the sweep numbers conversations as it meets them; `gmaildesk threads` shows their numbers"],
        )
    return str(row[0])


def _label_id(label_ids: dict[str, str], agent: Agent) -> str:
    found = label_ids.get(agent.label.casefold())
    if found is None:
        raise GmailDeskError(
            f"no label {agent.label} in Gmail", ["run `gmaildesk apply`: it creates the agents' labels"]
        )
    return found


def _message_ids(api: HttpGmailApi, thread_id: str) -> tuple[str, ...]:
    """The conversation's messages as Gmail has them now (mail may have arrived since the last sweep);
    Gmail caps a conversation at 100 messages, well within one batchModify's 1,000 ids."""
    (answer,) = api.threads([thread_id], ())
    if isinstance(answer, GmailApiError):
        raise GmailDeskError(f"reading conversation {thread_id}: {answer.message}")
    return tuple(m.id for m in answer.messages if not m.label_ids & _NOT_LABELLED)


def _modify(api: HttpGmailApi, change: Modify) -> None:
    if not change.ids:
        return
    (answer,) = api.batch_modify([change])
    if answer is not None:
        raise GmailDeskError(f"changing the agent label: {answer.message}", exit_code=answer.exit_code)
