"""Gmail API handlers: profile, messages, threads, attachments and history."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from gmaildesk.gmail import query
from gmaildesk.sandbox import delivery, mime
from gmaildesk.sandbox.errors import bad_request, not_found
from gmaildesk.sandbox.mailbox import Mailbox, StoredMessage
from gmaildesk.sandbox.request import ApiRequest, page

Matcher = Callable[[StoredMessage], bool]

MAX_BATCH_IDS = 1000
_FORMATS = ("minimal", "metadata", "full", "raw")
_HISTORY_FIELDS = {
    "messageAdded": "messagesAdded",
    "messageDeleted": "messagesDeleted",
    "labelAdded": "labelsAdded",
    "labelRemoved": "labelsRemoved",
}


# ---- rendering ---------------------------------------------------------------------------------
def render_message(msg: StoredMessage, fmt: str = "full", metadata_headers: list[str] | None = None) -> dict[str, Any]:
    if fmt not in _FORMATS:
        raise bad_request(f"Invalid format: {fmt}")
    resource: dict[str, Any] = {"id": msg.id, "threadId": msg.thread_id}
    if msg.labels:
        resource["labelIds"] = sorted(msg.labels)
    resource.update(
        {
            "snippet": msg.parsed.snippet,
            "sizeEstimate": msg.parsed.size,
            "historyId": str(msg.history_id),
            "internalDate": str(msg.internal_date),
        }
    )
    if fmt == "raw":
        resource["raw"] = mime.b64url_encode(msg.raw)
    elif fmt in ("metadata", "full"):
        resource["payload"] = msg.parsed.payload(fmt, metadata_headers or None)
    return resource


def short(msg: StoredMessage) -> dict[str, Any]:
    resource: dict[str, Any] = {"id": msg.id, "threadId": msg.thread_id}
    if msg.labels:
        resource["labelIds"] = sorted(msg.labels)
    return resource


def _thread_history_id(messages: list[StoredMessage]) -> str:
    return str(max(m.history_id for m in messages))


def render_thread(mailbox: Mailbox, thread_id: str, fmt: str, metadata_headers: list[str] | None) -> dict[str, Any]:
    if fmt not in ("minimal", "metadata", "full"):
        raise bad_request(f"Invalid format: {fmt}")
    messages = mailbox.thread(thread_id)
    return {
        "id": thread_id,
        "historyId": _thread_history_id(messages),
        "messages": [render_message(m, fmt, metadata_headers) for m in messages],
    }


# ---- search ------------------------------------------------------------------------------------
def matcher(req: ApiRequest) -> Matcher:
    """A predicate for messages.list/threads.list: labelIds AND q, spam/trash excluded unless asked."""
    try:
        node = query.parse(req.arg("q") or "")
    except query.QuerySyntaxError as error:
        raise bad_request(f"Invalid search query: {error}") from None
    label_ids = set(req.args("labelIds"))
    include_spam_trash = (
        req.flag("includeSpamTrash") or query.mentions_spam_or_trash(node) or bool(label_ids & {"SPAM", "TRASH"})
    )
    mailbox, now = req.mailbox, req.now_ms

    def matches(msg: StoredMessage) -> bool:
        if not include_spam_trash and msg.labels & {"SPAM", "TRASH"}:
            return False
        if not label_ids <= msg.labels:
            return False
        return query.matches(node, mailbox.search_doc(msg), now)

    return matches


def newest_first(messages: Iterable[StoredMessage]) -> list[StoredMessage]:
    return sorted(messages, key=lambda m: (m.internal_date, m.id), reverse=True)


# ---- profile -----------------------------------------------------------------------------------
def get_profile(req: ApiRequest) -> dict[str, Any]:
    mb = req.mailbox
    return {
        "emailAddress": mb.email,
        "messagesTotal": len(mb.messages),
        "threadsTotal": len(mb.threads),
        "historyId": str(mb.history_id),
    }


# ---- messages ----------------------------------------------------------------------------------
def _listing(req: ApiRequest, kind: str, compute: Callable[[Matcher], list[Any]]) -> list[Any]:
    """The full result of a list call, kept while the mailbox and the clock's minute stay the
    same, so that paging through a large mailbox evaluates the query once, not once per page."""
    mb = req.mailbox
    key = (
        kind,
        req.arg("q") or "",
        tuple(sorted(req.args("labelIds"))),
        req.arg("includeSpamTrash"),
        mb.history_id,
        req.now_ms // 60_000,
    )
    cache = mb.listing_cache
    if key not in cache:
        if len(cache) >= 16:
            cache.pop(next(iter(cache)))
        cache[key] = compute(matcher(req))
    return cache[key]


def list_messages(req: ApiRequest) -> dict[str, Any]:
    found = _listing(
        req, "messages", lambda matches: newest_first(m for m in req.mailbox.messages.values() if matches(m))
    )
    chunk, token = page(found, req.arg("pageToken"), req.int_arg("maxResults", 100, 500))
    result: dict[str, Any] = {}
    if chunk:
        result["messages"] = [{"id": m.id, "threadId": m.thread_id} for m in chunk]
    if token:
        result["nextPageToken"] = token
    result["resultSizeEstimate"] = len(found)
    return result


def _settled(req: ApiRequest, messages: list[StoredMessage]) -> None:
    """The fresh_not_found_s fault: Gmail may answer 404 to a get for a few seconds after a message
    appears in list or history (byeokim/gmailpush#10); a thread is fresh while all of it is."""
    window_ms = req.sandbox.faults.fresh_not_found_ms()
    if window_ms and all(req.now_ms - m.arrived_ms < window_ms for m in messages):
        req.sandbox.counters.record_fault("fresh_not_found")
        raise not_found()


def get_message(req: ApiRequest) -> dict[str, Any]:
    msg = req.mailbox.message(req.params["id"])
    _settled(req, [msg])
    return render_message(msg, req.arg("format", "full"), req.args("metadataHeaders"))


def get_attachment(req: ApiRequest) -> dict[str, Any]:
    msg = req.mailbox.message(req.params["messageId"])
    data = msg.parsed.attachment(req.params["id"])
    if data is None:
        raise not_found()
    return {"attachmentId": req.params["id"], "size": len(data), "data": mime.b64url_encode(data)}


def _message_bytes(req: ApiRequest) -> tuple[bytes, dict[str, Any]]:
    body = req.body if isinstance(req.body, dict) else {}
    if req.media is not None:
        return req.media, body
    raw = body.get("raw")
    if not isinstance(raw, str) or not raw:
        raise bad_request("'raw' RFC822 payload message string or uploading message via /upload/* URL required")
    try:
        return mime.b64url_decode(raw), body
    except ValueError:
        raise bad_request("Invalid value for ByteString: raw") from None


def _label_ids_of(req: ApiRequest, body: dict[str, Any]) -> list[str]:
    return req.mailbox.check_label_ids(body.get("labelIds", []), allow_unmodifiable=True)


def _store_uploaded(req: ApiRequest, default_date_source: str) -> dict[str, Any]:
    raw, body = _message_bytes(req)
    msg = delivery.store_message(
        req.sandbox,
        req.mailbox,
        raw,
        label_ids=_label_ids_of(req, body),
        date_source=req.arg("internalDateSource", default_date_source),
        thread_id=body.get("threadId"),
    )
    return short(msg)


def insert_message(req: ApiRequest) -> dict[str, Any]:
    return _store_uploaded(req, "receivedTime")


def import_message(req: ApiRequest) -> dict[str, Any]:
    return _store_uploaded(req, "dateHeader")


def send_message(req: ApiRequest) -> dict[str, Any]:
    raw, body = _message_bytes(req)
    msg = delivery.send(req.sandbox, req.mailbox, raw, thread_id=body.get("threadId"))
    return short(msg)


def _modify_lists(req: ApiRequest) -> tuple[list[str], list[str]]:
    body = req.json_body() if req.body is not None else {}
    add = req.mailbox.check_label_ids(body.get("addLabelIds", []))
    remove = req.mailbox.check_label_ids(body.get("removeLabelIds", []))
    return add, remove


def _not_a_draft(msg: StoredMessage) -> StoredMessage:
    """ "Draft messages cannot have any label other than the DRAFT system label" (Gmail API guide,
    Create and send draft emails); a label call naming one fails (taylorwilsdon/google_workspace_mcp#1106:
    "Gmail does not allow labels on draft messages"). threads.modify leaves a thread's drafts alone.
    Trash is not a label change here: drafts.list's includeSpamTrash says drafts can be in the trash."""
    if "DRAFT" in msg.labels:
        raise bad_request(f"Labels cannot be changed on a draft message: {msg.id}")
    return msg


def modify_message(req: ApiRequest) -> dict[str, Any]:
    msg = _not_a_draft(req.mailbox.message(req.params["id"]))
    add, remove = _modify_lists(req)
    req.mailbox.modify(msg, add, remove, req.now_ms)
    return short(msg)


def batch_modify(req: ApiRequest) -> None:
    body = req.json_body()
    ids = body.get("ids")
    if not isinstance(ids, list) or not ids:
        raise bad_request("ids must be a non-empty list")
    if len(ids) > MAX_BATCH_IDS:
        raise bad_request(f"Number of ids cannot exceed {MAX_BATCH_IDS}")
    add, remove = _modify_lists(req)
    for msg_id in ids:
        msg = req.mailbox.messages.get(msg_id) if isinstance(msg_id, str) else None
        if msg is not None:  # Gmail skips ids that no longer exist
            req.mailbox.modify(_not_a_draft(msg), add, remove, req.now_ms)
    return None


def trash_message(req: ApiRequest) -> dict[str, Any]:
    msg = req.mailbox.message(req.params["id"])
    req.mailbox.trash(msg, req.now_ms)
    return short(msg)


def untrash_message(req: ApiRequest) -> dict[str, Any]:
    msg = req.mailbox.message(req.params["id"])
    req.mailbox.untrash(msg, req.now_ms)
    return short(msg)


def delete_message(req: ApiRequest) -> None:
    req.mailbox.delete_message(req.mailbox.message(req.params["id"]), req.now_ms)


def batch_delete(req: ApiRequest) -> None:
    ids = req.json_body().get("ids")
    if not isinstance(ids, list) or len(ids) > MAX_BATCH_IDS:
        raise bad_request(f"ids must be a list of at most {MAX_BATCH_IDS}")
    for msg_id in ids:
        msg = req.mailbox.messages.get(msg_id)
        if msg is not None:
            req.mailbox.delete_message(msg, req.now_ms)


# ---- threads -----------------------------------------------------------------------------------
def list_threads(req: ApiRequest) -> dict[str, Any]:
    mb = req.mailbox

    def compute(matches: Matcher) -> list[str]:
        hits = {m.thread_id for m in mb.messages.values() if matches(m)}
        return sorted(hits, key=lambda t: (mb.messages[mb.threads[t][-1]].internal_date, t), reverse=True)

    ordered = _listing(req, "threads", compute)
    chunk, token = page(ordered, req.arg("pageToken"), req.int_arg("maxResults", 100, 500))
    result: dict[str, Any] = {}
    if chunk:
        result["threads"] = [
            {
                "id": t,
                "snippet": mb.messages[mb.threads[t][-1]].parsed.snippet,
                "historyId": _thread_history_id(mb.thread(t)),
            }
            for t in chunk
        ]
    if token:
        result["nextPageToken"] = token
    result["resultSizeEstimate"] = len(ordered)
    return result


def get_thread(req: ApiRequest) -> dict[str, Any]:
    _settled(req, req.mailbox.thread(req.params["id"]))
    return render_thread(req.mailbox, req.params["id"], req.arg("format", "full"), req.args("metadataHeaders"))


def _sent_or_received(messages: list[StoredMessage]) -> list[StoredMessage]:
    return [m for m in messages if "DRAFT" not in m.labels]


def _thread_short(mailbox: Mailbox, thread_id: str) -> dict[str, Any]:
    messages = mailbox.thread(thread_id)
    return {"id": thread_id, "historyId": _thread_history_id(messages), "messages": [short(m) for m in messages]}


def modify_thread(req: ApiRequest) -> dict[str, Any]:
    messages = req.mailbox.thread(req.params["id"])
    add, remove = _modify_lists(req)
    for msg in _sent_or_received(messages):
        req.mailbox.modify(msg, add, remove, req.now_ms)
    return _thread_short(req.mailbox, req.params["id"])


def trash_thread(req: ApiRequest) -> dict[str, Any]:
    for msg in req.mailbox.thread(req.params["id"]):
        req.mailbox.trash(msg, req.now_ms)
    return _thread_short(req.mailbox, req.params["id"])


def untrash_thread(req: ApiRequest) -> dict[str, Any]:
    for msg in req.mailbox.thread(req.params["id"]):
        req.mailbox.untrash(msg, req.now_ms)
    return _thread_short(req.mailbox, req.params["id"])


def delete_thread(req: ApiRequest) -> None:
    for msg in req.mailbox.thread(req.params["id"]):
        req.mailbox.delete_message(msg, req.now_ms)


# ---- history -----------------------------------------------------------------------------------
def list_history(req: ApiRequest) -> dict[str, Any]:
    mb = req.mailbox
    start_text = req.arg("startHistoryId")
    if not start_text:
        raise bad_request("Required parameter: startHistoryId")
    if not start_text.isdigit():
        raise bad_request(f"Invalid startHistoryId: {start_text}")
    start = int(start_text)
    req.sandbox.prune_history()
    if start < mb.history_floor:
        raise not_found("Requested entity was not found.")
    types = req.args("historyTypes")
    unknown = set(types) - set(_HISTORY_FIELDS)
    if unknown:
        raise bad_request(f"Invalid value for historyTypes: {sorted(unknown)[0]}")
    label_id = req.arg("labelId")
    token = req.arg("pageToken")
    after = start
    if token:
        if not token.isdigit():
            raise bad_request("Invalid pageToken")
        after = int(token)
    size = req.int_arg("maxResults", 100, 500)
    selected: list[dict[str, Any]] = []
    more = False
    for record in mb.history:
        if record["id"] <= after:
            continue
        if types and not set(_kinds(record)) & set(types):
            continue
        if (
            label_id
            and label_id not in record["message"]["labelIds"]
            and not any(label_id in change.get("labelIds", []) for change in record["changes"])
        ):
            continue
        if len(selected) == size:
            more = True
            break
        selected.append(record)
    result: dict[str, Any] = {}
    if selected:
        result["history"] = [_render_history(r, types) for r in selected]
    if more:
        result["nextPageToken"] = str(selected[-1]["id"])
    result["historyId"] = str(mb.history_id)
    return result


def _kinds(record: dict[str, Any]) -> list[str]:
    return [change["kind"] for change in record["changes"]]


def _render_history(record: dict[str, Any], types: list[str]) -> dict[str, Any]:
    message = record["message"]
    shown = {k: v for k, v in message.items() if k != "labelIds" or v}
    rendered: dict[str, Any] = {
        "id": str(record["id"]),
        "messages": [{"id": message["id"], "threadId": message["threadId"]}],
    }
    for change in record["changes"]:
        if types and change["kind"] not in types:
            continue
        entry: dict[str, Any] = {"message": shown}
        if "labelIds" in change:
            entry["labelIds"] = change["labelIds"]
        rendered.setdefault(_HISTORY_FIELDS[change["kind"]], []).append(entry)
    return rendered
