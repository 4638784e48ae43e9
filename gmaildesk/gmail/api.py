"""The Gmail the engines see: a narrow Protocol of the calls they make, answered in gmail/types.py values.

`GmailApi` is all an engine may call; `HttpGmailApi` is its one implementation, over
GmailClient and googleapiclient. Paging, batching (at most 50 calls per batch POST), quota
pacing, retries and per-method call metering happen behind it, once; a call that fails for
good surfaces as GmailApiError (status, reason), in its slot for batched reads and writes.
Tests of pure engine logic may pass an in-memory fake of the Protocol instead.
"""

from __future__ import annotations

import base64
import dataclasses
import json
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Protocol, TypeVar

from gmaildesk.errors import GmailDeskError
from gmaildesk.gmail.client import GmailClient
from gmaildesk.gmail.errors import SANDBOX_NOT_RUNNING, GmailApiError, translate
from gmaildesk.gmail.types import (
    DraftRef,
    History,
    HistoryRecord,
    Json,
    Label,
    MailboxSettings,
    Message,
    MessageRef,
    Modify,
    Profile,
    Thread,
    Usage,
)

__all__ = ["GmailApi", "DeskApi", "ReplyApi", "HttpGmailApi", "MAX_MODIFY_IDS", "LIST_PAGE", "HISTORY_TYPES"]

# messages.batchModify takes at most 1,000 ids (users.messages.batchModify reference).
MAX_MODIFY_IDS = 1000
# threads.list, messages.list and history.list answer at most 500 per page (their maxResults references).
LIST_PAGE = 500
HISTORY_TYPES = ("messageAdded", "messageDeleted", "labelAdded", "labelRemoved")

T = TypeVar("T")


class GmailApi(Protocol):
    """The Gmail calls the sweep makes, one mailbox ("me")."""

    def profile(self) -> Profile:
        """users.getProfile (1 unit)."""
        ...

    def labels(self) -> list[Label]:
        """users.labels.list."""
        ...

    def thread_ids(self, query: str) -> list[str]:
        """users.threads.list over every page: the ids matching a search, first-seen order, no repeats."""
        ...

    def history(self, start_history_id: str) -> History:
        """users.history.list from a cursor over every page (HISTORY_TYPES). Raises GmailApiError:
        status 404 when Gmail no longer has that history, 400 when it refuses the cursor."""
        ...

    def threads(self, thread_ids: Sequence[str], headers: Sequence[str]) -> list[Thread | GmailApiError]:
        """threads.get format=metadata with only `headers`, batched; each answer or error in its slot."""
        ...

    def messages(self, message_ids: Sequence[str], headers: Sequence[str]) -> list[Message | GmailApiError]:
        """messages.get format=metadata with only `headers`, batched; each answer or error in its slot."""
        ...

    def batch_modify(self, changes: Sequence[Modify]) -> list[GmailApiError | None]:
        """One messages.batchModify per change (at most MAX_MODIFY_IDS ids each), batched; None: done."""
        ...

    def message_refs(self, query: str, label_ids: Sequence[str] = ()) -> list[MessageRef]:
        """users.messages.list over every page (500 a page): the id and threadId of each message
        a search matches ("": every message) that carries every one of `label_ids`, spam and
        trash left out, in Gmail's order, no repeats."""
        ...

    def usage(self) -> Usage:
        """The calls made through this connection so far (take two and subtract: `since`)."""
        ...


class DeskApi(Protocol):
    """The Gmail calls `plan` and `apply` make: the mailbox's settings, read and written.

    Settings travel as Gmail's own resources (Json): the desk compares them field by field with
    what desk.yaml asks for and records the form Gmail returned. Writes raise GmailApiError.
    """

    def profile(self) -> Profile: ...

    def settings(self) -> MailboxSettings:
        """labels.list, filters.list, getVacation and sendAs.list in one batch."""
        ...

    def labels(self) -> list[Label]: ...

    def label(self, label_id: str) -> Json:
        """labels.get: one label with its colour (labels.list answers none)."""
        ...

    def create_label(self, body: Json) -> Json: ...

    def patch_label(self, label_id: str, body: Json) -> Json: ...

    def delete_label(self, label_id: str) -> None: ...

    def filters(self) -> list[Json]: ...

    def create_filter(self, body: Json, *, max_attempts: int | None = None) -> Json:
        """filters.create, sent at most `max_attempts` times (None: the connection's retry policy)."""
        ...

    def delete_filter(self, filter_id: str) -> None: ...

    def update_vacation(self, body: Json) -> Json: ...

    def create_send_as(self, body: Json) -> Json: ...

    def patch_send_as(self, address: str, body: Json) -> Json: ...

    def delete_send_as(self, address: str) -> None: ...


class ReplyApi(Protocol):
    """The Gmail calls `gmaildesk reply` makes: one conversation, the labels, the mailbox's drafts.

    A draft is a container with a stable id around a message that is replaced on every update and,
    once sent, becomes a new message labelled SENT (Gmail guide "Create and send draft emails")."""

    def labels(self) -> list[Label]: ...

    def threads(self, thread_ids: Sequence[str], headers: Sequence[str]) -> list[Thread | GmailApiError]: ...

    def drafts(self) -> list[DraftRef]:
        """users.drafts.list over every page (500 a page)."""
        ...

    def create_draft(self, raw: bytes, thread_id: str) -> DraftRef:
        """users.drafts.create (10 units) of an RFC 5322 message in the conversation *thread_id*."""
        ...

    def update_draft(self, draft_id: str, raw: bytes, thread_id: str) -> DraftRef:
        """users.drafts.update (15 units): the draft keeps its id, its message is a new one."""
        ...

    def send_draft(self, draft_id: str) -> MessageRef:
        """users.drafts.send (100 units): the sent message. Sent once, never retried."""
        ...


class HttpGmailApi:
    """GmailApi over a GmailClient: the real googleapiclient, Gmail or a sandbox."""

    def __init__(self, client: GmailClient) -> None:
        self.client = client
        self._users: Any = client.users()
        self._me = client.user_id

    @property
    def endpoint(self) -> str | None:
        """The sandbox base URL, None for Gmail itself."""
        return self.client.endpoint

    def profile(self) -> Profile:
        answer = self.client.execute(self._users.getProfile(userId=self._me), "reading the profile")
        return Profile.from_json(answer)

    def labels(self) -> list[Label]:
        answer = self.client.execute(self._users.labels().list(userId=self._me), "listing labels")
        return [Label.from_json(label) for label in answer.get("labels", [])]

    def thread_ids(self, query: str) -> list[str]:
        ids: list[str] = []
        for page in self._pages(
            lambda token: self._users.threads().list(userId=self._me, q=query, maxResults=LIST_PAGE, **_page(token)),
            "listing conversations",
        ):
            ids.extend(str(t["id"]) for t in page.get("threads", []))
        return list(dict.fromkeys(ids))

    def history(self, start_history_id: str) -> History:
        records: list[HistoryRecord] = []
        end = start_history_id
        for page in self._pages(
            lambda token: self._users.history().list(
                userId=self._me,
                startHistoryId=start_history_id,
                historyTypes=list(HISTORY_TYPES),
                maxResults=LIST_PAGE,
                **_page(token),
            ),
            "reading the mailbox history",
        ):
            records.extend(HistoryRecord.from_json(r) for r in page.get("history", []))
            end = str(page["historyId"])
        return History(tuple(records), end)

    def threads(self, thread_ids: Sequence[str], headers: Sequence[str]) -> list[Thread | GmailApiError]:
        # One resource for all: googleapiclient rebuilds every method on each .threads().
        resource = self._users.threads()
        requests = [
            resource.get(userId=self._me, id=t, format="metadata", metadataHeaders=list(headers)) for t in thread_ids
        ]
        return self._batch(requests, "reading conversations", Thread.from_json)

    def messages(self, message_ids: Sequence[str], headers: Sequence[str]) -> list[Message | GmailApiError]:
        resource = self._users.messages()
        requests = [
            resource.get(userId=self._me, id=m, format="metadata", metadataHeaders=list(headers)) for m in message_ids
        ]
        return self._batch(requests, "reading new messages", Message.from_json)

    def batch_modify(self, changes: Sequence[Modify]) -> list[GmailApiError | None]:
        resource = self._users.messages()
        requests = []
        for change in changes:
            if len(change.ids) > MAX_MODIFY_IDS:
                raise ValueError(f"batchModify takes at most {MAX_MODIFY_IDS} ids, not {len(change.ids)}")
            requests.append(
                resource.batchModify(
                    userId=self._me,
                    body={
                        "ids": list(change.ids),
                        "addLabelIds": sorted(change.add),
                        "removeLabelIds": sorted(change.remove),
                    },
                )
            )
        return self._batch(requests, "relabelling conversations", lambda answer: None)

    def message_refs(self, query: str, label_ids: Sequence[str] = ()) -> list[MessageRef]:
        refs: dict[str, MessageRef] = {}
        narrowing: dict[str, Any] = {"q": query} if query else {}
        if label_ids:
            narrowing["labelIds"] = list(label_ids)
        for page in self._pages(
            lambda token: self._users.messages().list(
                userId=self._me, maxResults=LIST_PAGE, **narrowing, **_page(token)
            ),
            "listing messages",
        ):
            for message in page.get("messages", []):
                ref = MessageRef.from_json(message)
                refs.setdefault(ref.id, ref)
        return list(refs.values())

    # ---------------------------------------------------------------- the desk's settings
    def settings(self) -> MailboxSettings:
        settings = self._users.settings()
        requests = [
            self._users.labels().list(userId=self._me),
            settings.filters().list(userId=self._me),
            settings.getVacation(userId=self._me),
            settings.sendAs().list(userId=self._me),
        ]
        answers = self.client.execute_batch(requests, "reading the mailbox settings")
        for answer in answers:
            if isinstance(answer, GmailDeskError):
                raise _api_error(answer)
        labels, filters, vacation, send_as = answers
        return MailboxSettings(
            labels=tuple(labels.get("labels", [])),
            filters=tuple((filters or {}).get("filter", [])),
            vacation=dict(vacation or {}),
            send_as=tuple((send_as or {}).get("sendAs", [])),
        )

    def label(self, label_id: str) -> Json:
        return self._run(self._users.labels().get(userId=self._me, id=label_id))

    def create_label(self, body: Json) -> Json:
        return self._run(self._users.labels().create(userId=self._me, body=dict(body)))

    def patch_label(self, label_id: str, body: Json) -> Json:
        return self._run(self._users.labels().patch(userId=self._me, id=label_id, body=dict(body)))

    def delete_label(self, label_id: str) -> None:
        self._run(self._users.labels().delete(userId=self._me, id=label_id))

    def filters(self) -> list[Json]:
        return list(self._run(self._users.settings().filters().list(userId=self._me)).get("filter", []))

    def create_filter(self, body: Json, *, max_attempts: int | None = None) -> Json:
        request = self._users.settings().filters().create(userId=self._me, body=dict(body))
        if max_attempts is None:
            return self._run(request)
        policy = self.client.policy
        self.client.policy = dataclasses.replace(policy, max_attempts=min(max_attempts, policy.max_attempts))
        try:
            return self._run(request)
        finally:
            self.client.policy = policy

    def delete_filter(self, filter_id: str) -> None:
        self._run(self._users.settings().filters().delete(userId=self._me, id=filter_id))

    def update_vacation(self, body: Json) -> Json:
        return self._run(self._users.settings().updateVacation(userId=self._me, body=dict(body)))

    def create_send_as(self, body: Json) -> Json:
        return self._run(self._users.settings().sendAs().create(userId=self._me, body=dict(body)))

    def patch_send_as(self, address: str, body: Json) -> Json:
        return self._run(self._users.settings().sendAs().patch(userId=self._me, sendAsEmail=address, body=dict(body)))

    def delete_send_as(self, address: str) -> None:
        self._run(self._users.settings().sendAs().delete(userId=self._me, sendAsEmail=address))

    # ---------------------------------------------------------------- metering and time
    def usage(self) -> Usage:
        stats = self.client.stats
        return Usage(stats.calls, dict(stats.by_method), self.client.costs, stats.rate_limited)

    def clock(self) -> int:
        """Now, in ms: the sandbox's clock for a sandbox endpoint (tests and demos move it), the
        system clock for Gmail. A sandbox that does not tell its time is an error, not a guess."""
        if self.client.endpoint is None:
            return int(time.time() * 1000)
        url = f"{self.client.endpoint}sandbox/status"
        what = f"reading the sandbox clock at {url}"
        try:
            response, content = self.client.http.request(url, "GET")
        except Exception as error:
            translated = translate(error, what, loopback=self.client.loopback)
            if translated is None:
                raise
            raise translated from error
        try:
            now_ms = json.loads(content)["nowMs"] if response.status == 200 else None
        except (ValueError, KeyError, TypeError):
            now_ms = None
        if not isinstance(now_ms, int) or isinstance(now_ms, bool):
            raise GmailApiError(
                f"{what}: no sandbox time in the answer (HTTP {response.status})",
                [f"--endpoint must be a gmaildesk sandbox. {SANDBOX_NOT_RUNNING}"],
                status=int(response.status),
            )
        return now_ms

    def send(self, raw: bytes, thread_id: str) -> MessageRef:
        """users.messages.send (100 units) of an RFC 5322 message into the conversation *thread_id*.
        Sent once, never retried here: a send whose answer was lost may have gone out (Gmail's
        usage-limits guide: "You can't assume that a 200 response means the email was successfully sent")."""
        body = {"raw": base64.urlsafe_b64encode(raw).decode("ascii"), "threadId": thread_id}
        request = self._users.messages().send(userId=self._me, body=body)
        policy = self.client.policy
        self.client.policy = dataclasses.replace(policy, max_attempts=1)  # the caller checks Gmail, then resends
        try:
            return MessageRef.from_json(self._run(request))
        finally:
            self.client.policy = policy

    # ---------------------------------------------------------------- drafts (ReplyApi)
    def drafts(self) -> list[DraftRef]:
        found: dict[str, DraftRef] = {}
        for page in self._pages(
            lambda token: self._users.drafts().list(userId=self._me, maxResults=LIST_PAGE, **_page(token)),
            "listing drafts",
        ):
            for draft in page.get("drafts", []):
                ref = DraftRef.from_json(draft)
                found.setdefault(ref.id, ref)
        return list(found.values())

    def create_draft(self, raw: bytes, thread_id: str) -> DraftRef:
        body = {"message": {"raw": base64.urlsafe_b64encode(raw).decode("ascii"), "threadId": thread_id}}
        return DraftRef.from_json(
            self.client.execute(self._users.drafts().create(userId=self._me, body=body), "saving the draft")
        )

    def update_draft(self, draft_id: str, raw: bytes, thread_id: str) -> DraftRef:
        body = {
            "id": draft_id,
            "message": {"raw": base64.urlsafe_b64encode(raw).decode("ascii"), "threadId": thread_id},
        }
        request = self._users.drafts().update(userId=self._me, id=draft_id, body=body)
        return DraftRef.from_json(self.client.execute(request, f"replacing draft {draft_id}"))

    def send_draft(self, draft_id: str) -> MessageRef:
        # Once: a send whose answer was lost may have gone out, and Gmail then has deleted the draft.
        request = self._users.drafts().send(userId=self._me, body={"id": draft_id})
        policy = self.client.policy
        self.client.policy = dataclasses.replace(policy, max_attempts=1)
        try:
            return MessageRef.from_json(self.client.execute(request, f"sending draft {draft_id}"))
        finally:
            self.client.policy = policy

    def _run(self, request: Any) -> Json:
        """One call and its answer (a delete's empty answer reads as {}); a failure is a
        GmailApiError without context: the engine says what it was doing."""
        try:
            answer = self.client.execute(request)
        except GmailApiError:
            raise
        except GmailDeskError as error:
            raise _api_error(error) from error
        return answer if isinstance(answer, Mapping) else {}

    def _pages(self, request_for: Callable[[str | None], Any], what: str) -> list[Json]:
        pages: list[Json] = []
        token: str | None = None
        while True:
            page = self.client.execute(request_for(token), what)
            pages.append(page)
            token = page.get("nextPageToken")
            if not token:
                return pages

    def _batch(self, requests: Sequence[Any], what: str, parse: Callable[[Any], T]) -> list[T | GmailApiError]:
        if not requests:
            return []
        return [
            _api_error(answer) if isinstance(answer, GmailDeskError) else parse(answer)
            for answer in self.client.execute_batch(requests, what)
        ]


def _page(token: str | None) -> dict[str, str]:
    return {"pageToken": token} if token else {}


def _api_error(error: GmailDeskError) -> GmailApiError:
    """Failed calls come back from gmail/errors.translate as GmailApiError already; an error
    raised below it as a plain GmailDeskError (none today) keeps its message, with no status."""
    if isinstance(error, GmailApiError):
        return error
    return GmailApiError(error.message, error.hints, error.exit_code)
