"""The baselines bench/sweep.py measures gmaildesk against, and the lists-only lower bound.

* naive full pass: threads.list over the scope, threads.get(format=full) of every conversation,
  gmaildesk's own pure classifier and decision, threads.modify where the status labels differ.
  Run again as "naive incremental" it is the strawman that re-reads the whole mailbox.
* naive history-based incremental: what a competent script does between runs:
  history.list(historyTypes=messageAdded) from its last cursor, threads.get of every conversation
  that gained a message, the same decision, threads.modify where needed.
* lists-only pass: the message searches a sweep could decide most conversations from (ids and
  threadIds only, 500 a page at 5 units), no reads, no writes: the moonshot's floor.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from gmaildesk.config import Desk
from gmaildesk.errors import GmailDeskError
from gmaildesk.gmail.client import GmailClient
from gmaildesk.sweep.classify import MessageMeta, Us, classify_thread
from gmaildesk.sweep.state import Policy, State, decide

LIST_PAGE = 500
Row = dict[str, Any]


def _pages(client: GmailClient, request_for: Callable[[str | None], Any]) -> list[dict[str, Any]]:
    pages, token = [], None
    while True:
        page = client.execute(request_for(token))
        pages.append(page)
        token = page.get("nextPageToken")
        if not token:
            return pages


class _Judge:
    """Labels, policy and the decision for one naive run: read conversations, write what differs."""

    def __init__(self, client: GmailClient, desk: Desk, now_ms: int):
        self.client, self.desk, self.now_ms = client, desk, now_ms
        self.users = client.users()
        labels = client.execute(self.users.labels().list(userId="me"))["labels"]
        by_name = {label["name"]: label["id"] for label in labels}
        st = desk.statuses
        self.status_ids = {s: by_name[getattr(st, s.value).name] for s in State}
        self.overdue_id = by_name[st.overdue.name]
        self.managed = set(self.status_ids.values()) | {self.overdue_id}
        self.departments = [(d.name, by_name[d.label]) for d in desk.departments if d.label in by_name]
        self.us = Us(
            addresses=frozenset({desk.mailbox, *desk.team.addresses, *(s.address for s in desk.send_as)}),
            domains=frozenset(desk.team.domains),
        )

    def judge(self, ids: Sequence[str]) -> Row:
        threads = self.users.threads()  # one resource: building it per request costs ~0.2 ms of discovery work
        answers = self.client.execute_batch([threads.get(userId="me", id=t, format="full") for t in ids])
        modifies, failed, desired_by_thread = [], 0, {}
        for thread_id, thread in zip(ids, answers, strict=True):
            if isinstance(thread, GmailDeskError):
                failed += 1
                continue
            desired, remove, on_thread = self._verdict(thread)
            desired_by_thread[thread_id] = frozenset(desired)
            if desired - on_thread or remove & on_thread:
                body = {"addLabelIds": sorted(desired), "removeLabelIds": sorted(remove)}
                modifies.append(threads.modify(userId="me", id=thread_id, body=body))
        written = self.client.execute_batch(modifies)
        failed += sum(isinstance(w, GmailDeskError) for w in written)
        return {
            "threads_read": len(ids),
            "threads_modified": len(modifies),
            "failed": failed,
            "desired": desired_by_thread,
        }

    def _verdict(self, thread: dict[str, Any]) -> tuple[set[str], set[str], set[str]]:
        messages = [m for m in thread["messages"] if not set(m.get("labelIds") or ()) & {"SPAM", "TRASH"}]
        on_thread: set[str] = set().union(*(set(m.get("labelIds") or ()) for m in messages))
        department = next((name for name, lid in self.departments if lid in on_thread), None)
        verdict = decide(
            classify_thread([MessageMeta.from_gmail(m) for m in messages], self.us),
            policy(self.desk, department),
            self.now_ms,
        )
        desired: set[str] = set()
        if verdict.state:
            desired = {self.status_ids[verdict.state]} | ({self.overdue_id} if verdict.overdue else set())
        archive = verdict.state is State.CLOSED and self.desk.sweep.archive_closed
        remove = (self.managed - desired) | ({"INBOX"} if archive else set())
        return desired, remove, on_thread


def policy(desk: Desk, department: str | None) -> Policy:  # as the engine chooses SLAs
    slas = [d.sla for d in desk.departments if d.name == department] or [d.sla for d in desk.departments]
    first = [s.first_response for s in slas if s.first_response is not None]
    nxt = [s.next_response for s in slas if s.next_response is not None]
    return Policy(min(first) if first else None, min(nxt) if nxt else None, desk.sweep.close_after)


def full_pass(client: GmailClient, desk: Desk, now_ms: int) -> Row:
    """threads.list over the scope, then read and judge every conversation."""
    judge = _Judge(client, desk, now_ms)
    threads = judge.users.threads()
    pages = _pages(
        client,
        lambda token: threads.list(
            userId="me", q=desk.sweep.scope, maxResults=LIST_PAGE, **({"pageToken": token} if token else {})
        ),
    )
    return judge.judge([t["id"] for page in pages for t in page.get("threads", [])])


def history_incremental(client: GmailClient, desk: Desk, now_ms: int, start_history_id: str) -> Row:
    """history.list (messageAdded) from the script's cursor, then read and judge what gained mail."""
    judge = _Judge(client, desk, now_ms)
    history = judge.users.history()
    pages = _pages(
        client,
        lambda token: history.list(
            userId="me",
            startHistoryId=start_history_id,
            historyTypes=["messageAdded"],
            maxResults=LIST_PAGE,
            **({"pageToken": token} if token else {}),
        ),
    )
    changed = {
        added["message"]["threadId"]: None
        for page in pages
        for record in page.get("history", [])
        for added in record.get("messagesAdded", [])
    }
    return judge.judge(list(changed))


def lists_only_queries(desk: Desk, now_ms: int) -> list[str]:
    """The searches a lists-only pass runs: the scope, our replies, machine mail, forwards, and one
    `after:` per cut-off (SLA first and next response, close_after) to tell overdue from not."""
    scope = desk.sweep.scope
    slas = [d.sla for d in desk.departments]
    cutoffs = {c for sla in slas for c in (sla.first_response, sla.next_response) if c} | {desk.sweep.close_after}
    return [
        scope,
        f"{scope} in:sent",
        f"{scope} from:{{mailer-daemon postmaster}}",
        f"{scope} in:sent subject:(fwd OR fw)",
        *(f"{scope} after:{(now_ms // 1000) - seconds}" for seconds in sorted(cutoffs)),
    ]


def lists_only_pass(client: GmailClient, desk: Desk, now_ms: int) -> Row:
    """Every lists-only search over every page: how many pages, messages and conversations."""
    messages = client.users().messages()
    pages_read, listed, conversations = 0, 0, set[str]()
    queries = lists_only_queries(desk, now_ms)

    def search(query: str) -> Callable[[str | None], Any]:
        return lambda token: messages.list(
            userId="me", q=query, maxResults=LIST_PAGE, **({"pageToken": token} if token else {})
        )

    for query in queries:
        pages = _pages(client, search(query))
        pages_read += len(pages)
        for page in pages:
            found = page.get("messages", [])
            listed += len(found)
            conversations.update(m["threadId"] for m in found)
    return {
        "list_queries": len(queries),
        "pages": pages_read,
        "messages_listed": listed,
        "conversations_listed": len(conversations),
        "failed": 0,
    }
