"""Gmail API handlers: users.drafts list/get/create/update/send/delete.

The rules, from Google's guide "Create and send draft emails" (developers.google.com/workspace/gmail/
api/guides/drafts) unless a comment says otherwise:
- a draft is a container with a stable id around one message that carries the DRAFT label and no
  other ("Draft messages cannot have any label other than the DRAFT system label");
- that message "cannot be edited once created, but it can be replaced": drafts.update destroys it
  and stores the new one under a new message id (history: messageDeleted, then messageAdded);
- "When the draft is sent, the draft is automatically deleted and a new message with an updated ID
  is created with the SENT system label. This message is returned in the drafts.send response."
- a draft joins a conversation the way a sent message does (Message.threadId in the discovery
  document: threadId given, References/In-Reply-To set, "The Subject headers must match"). Gmail has been
  seen to file a draft by its threadId alone (openclaw/gogcli#512, #488); the sandbox keeps the documented
  rule, the stricter one, so a client that threads here threads in Gmail too.
"""

from __future__ import annotations

from typing import Any

from gmaildesk.sandbox import delivery, mime
from gmaildesk.sandbox.api_messages import matcher, newest_first, render_message, short
from gmaildesk.sandbox.errors import bad_request
from gmaildesk.sandbox.mailbox import Mailbox, StoredMessage
from gmaildesk.sandbox.request import ApiRequest, page


def _draft(draft_id: str, msg: StoredMessage, fmt: str | None = None) -> dict[str, Any]:
    message = short(msg) if fmt is None else render_message(msg, fmt)
    return {"id": draft_id, "message": message}


def _new_draft_id(mailbox: Mailbox, msg: StoredMessage) -> str:
    # Gmail's draft ids are "r" and a signed 64-bit decimal (r-8026433564159969637 and the like
    # in public logs of drafts made through the API); derived here from the first message's id.
    number = int(msg.id, 16) & (2**63 - 1)
    while f"r-{number}" in mailbox.drafts:
        number = (number + 1) & (2**63 - 1)
    return f"r-{number}"


def _content(req: ApiRequest) -> tuple[bytes, str | None]:
    """The new message of a create/update/send body, or of its /upload/ media, and its threadId."""
    body = req.body if isinstance(req.body, dict) else {}
    message = body.get("message")
    if message is not None and not isinstance(message, dict):
        raise bad_request("Invalid value at 'draft.message'")
    message = message or {}
    thread_id = message.get("threadId")
    if req.media is not None:
        return req.media, thread_id if isinstance(thread_id, str) else None
    raw = message.get("raw")
    if not isinstance(raw, str) or not raw:
        # The answer Gmail gives a draft without a message (googleapis/google-api-ruby-client#144).
        raise bad_request("Missing draft message")
    try:
        return mime.b64url_decode(raw), thread_id if isinstance(thread_id, str) else None
    except ValueError:
        raise bad_request("Invalid value for ByteString: raw") from None


def _store(req: ApiRequest, raw: bytes, thread_id: str | None) -> StoredMessage:
    now = req.now_ms
    return req.mailbox.add_message(
        raw,
        internal_date=now,
        label_ids=["DRAFT"],  # whatever labelIds the request names: a draft carries DRAFT alone
        now_ms=now,
        thread_id=thread_id,
        msg_id=req.sandbox.new_message_id(now, req.mailbox),
    )


def _replace(req: ApiRequest, draft_id: str, raw: bytes, thread_id: str | None) -> StoredMessage:
    mailbox = req.mailbox
    old = mailbox.draft_message(draft_id)
    mailbox.delete_message(old, req.now_ms)  # also forgets the draft: set again below
    msg = _store(req, raw, thread_id)
    mailbox.set_draft(draft_id, msg.id)
    return msg


def list_drafts(req: ApiRequest) -> dict[str, Any]:
    mb = req.mailbox
    matches = matcher(req)
    by_message = {msg_id: draft_id for draft_id, msg_id in mb.drafts.items()}
    found = newest_first(m for m in (mb.messages[i] for i in by_message) if matches(m))
    chunk, token = page(found, req.arg("pageToken"), req.int_arg("maxResults", 100, 500))
    result: dict[str, Any] = {}
    if chunk:
        # ListDraftsResponse.drafts (discovery): "the Message property in each Draft resource only
        # contains an id and a threadId".
        result["drafts"] = [{"id": by_message[m.id], "message": {"id": m.id, "threadId": m.thread_id}} for m in chunk]
    if token:
        result["nextPageToken"] = token
    result["resultSizeEstimate"] = len(found)
    return result


def get_draft(req: ApiRequest) -> dict[str, Any]:
    draft_id = req.params["id"]
    return _draft(draft_id, req.mailbox.draft_message(draft_id), req.arg("format", "full"))


def create_draft(req: ApiRequest) -> dict[str, Any]:
    raw, thread_id = _content(req)
    msg = _store(req, raw, thread_id)
    draft_id = _new_draft_id(req.mailbox, msg)
    req.mailbox.set_draft(draft_id, msg.id)
    return _draft(draft_id, msg)


def update_draft(req: ApiRequest) -> dict[str, Any]:
    draft_id = req.params["id"]
    req.mailbox.draft_message(draft_id)  # an unknown draft is a 404 before the body is looked at
    raw, thread_id = _content(req)
    return _draft(draft_id, _replace(req, draft_id, raw, thread_id))


def delete_draft(req: ApiRequest) -> None:
    # drafts.delete (discovery): "Immediately and permanently deletes the specified draft. Does not
    # simply trash it."
    req.mailbox.delete_message(req.mailbox.draft_message(req.params["id"]), req.now_ms)


def send_draft(req: ApiRequest) -> dict[str, Any]:
    body = req.body if isinstance(req.body, dict) else {}
    draft_id = body.get("id")
    if not isinstance(draft_id, str) or not draft_id:
        # Draft.id is annotated "required" for gmail.users.drafts.send in the discovery document.
        raise bad_request("Invalid draft: the draft id is required")
    mailbox = req.mailbox
    msg = mailbox.draft_message(draft_id)
    replacement = _content(req) if body.get("message") or req.media is not None else None
    parsed = mime.parse(replacement[0]) if replacement else msg.parsed
    if not any(a.email for a in (*parsed.to, *parsed.cc, *parsed.bcc)):
        # Checked before anything changes: Gmail refuses such a draft and keeps it
        # (r-lib/gmailr#215: a draft without To "cannot be sent").
        raise bad_request("Recipient address required")
    if replacement:
        # A message in the send body replaces the draft's content first, as drafts.update would.
        msg = _replace(req, draft_id, *replacement)
    raw, thread_id = msg.raw, msg.thread_id
    mailbox.delete_message(msg, req.now_ms)
    sent = delivery.send(req.sandbox, mailbox, raw, thread_id=thread_id)
    return short(sent)
