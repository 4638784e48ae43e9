"""Gmail API handlers: labels."""

from __future__ import annotations

from typing import Any

from gmaildesk.gmail.labels import gmail_label_name
from gmaildesk.sandbox.request import ApiRequest

# labels.list returns only these fields; counts come from labels.get.
_LIST_FIELDS = ("id", "name", "messageListVisibility", "labelListVisibility", "type", "color")


def list_labels(req: ApiRequest) -> dict[str, Any]:
    return {"labels": [{k: v for k, v in lab.items() if k in _LIST_FIELDS} for lab in req.mailbox.labels.values()]}


def get_label(req: ApiRequest) -> dict[str, Any]:
    return req.mailbox.label_with_counts(req.params["id"])


def _normalised(body: dict[str, Any]) -> dict[str, Any]:
    """The request with the label name as Gmail stores it, so the mailbox's checks (reserved
    names, conflicts) see what Gmail compares."""
    if isinstance(body.get("name"), str):
        return {**body, "name": gmail_label_name(body["name"])}
    return body


def create_label(req: ApiRequest) -> dict[str, Any]:
    return req.mailbox.create_label(_normalised(req.json_body()))


def update_label(req: ApiRequest) -> dict[str, Any]:
    return req.mailbox.change_label(req.params["id"], _normalised(req.json_body()), replace_all=True)


def patch_label(req: ApiRequest) -> dict[str, Any]:
    return req.mailbox.change_label(req.params["id"], _normalised(req.json_body()), replace_all=False)


def delete_label(req: ApiRequest) -> None:
    req.mailbox.delete_label(req.params["id"], req.now_ms)
