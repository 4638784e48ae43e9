"""The Gmail API surface the sandbox serves: (HTTP method, path pattern) -> discovery method id + handler."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any
from urllib.parse import unquote

from gmaildesk.sandbox import api_drafts as drafts
from gmaildesk.sandbox import api_labels as labels
from gmaildesk.sandbox import api_messages as msgs
from gmaildesk.sandbox import api_settings as settings

Handler = Callable[..., dict[str, Any] | None]

_TABLE: list[tuple[str, str, str, Handler]] = [
    ("GET", "profile", "gmail.users.getProfile", msgs.get_profile),
    ("GET", "labels", "gmail.users.labels.list", labels.list_labels),
    ("POST", "labels", "gmail.users.labels.create", labels.create_label),
    ("GET", "labels/{id}", "gmail.users.labels.get", labels.get_label),
    ("PUT", "labels/{id}", "gmail.users.labels.update", labels.update_label),
    ("PATCH", "labels/{id}", "gmail.users.labels.patch", labels.patch_label),
    ("DELETE", "labels/{id}", "gmail.users.labels.delete", labels.delete_label),
    ("GET", "messages", "gmail.users.messages.list", msgs.list_messages),
    ("POST", "messages", "gmail.users.messages.insert", msgs.insert_message),
    ("POST", "messages/import", "gmail.users.messages.import", msgs.import_message),
    ("POST", "messages/send", "gmail.users.messages.send", msgs.send_message),
    ("POST", "messages/batchModify", "gmail.users.messages.batchModify", msgs.batch_modify),
    ("POST", "messages/batchDelete", "gmail.users.messages.batchDelete", msgs.batch_delete),
    ("GET", "messages/{id}", "gmail.users.messages.get", msgs.get_message),
    ("DELETE", "messages/{id}", "gmail.users.messages.delete", msgs.delete_message),
    ("POST", "messages/{id}/modify", "gmail.users.messages.modify", msgs.modify_message),
    ("POST", "messages/{id}/trash", "gmail.users.messages.trash", msgs.trash_message),
    ("POST", "messages/{id}/untrash", "gmail.users.messages.untrash", msgs.untrash_message),
    ("GET", "messages/{messageId}/attachments/{id}", "gmail.users.messages.attachments.get", msgs.get_attachment),
    ("GET", "threads", "gmail.users.threads.list", msgs.list_threads),
    ("GET", "threads/{id}", "gmail.users.threads.get", msgs.get_thread),
    ("DELETE", "threads/{id}", "gmail.users.threads.delete", msgs.delete_thread),
    ("POST", "threads/{id}/modify", "gmail.users.threads.modify", msgs.modify_thread),
    ("POST", "threads/{id}/trash", "gmail.users.threads.trash", msgs.trash_thread),
    ("POST", "threads/{id}/untrash", "gmail.users.threads.untrash", msgs.untrash_thread),
    ("GET", "history", "gmail.users.history.list", msgs.list_history),
    ("GET", "drafts", "gmail.users.drafts.list", drafts.list_drafts),
    ("POST", "drafts", "gmail.users.drafts.create", drafts.create_draft),
    ("POST", "drafts/send", "gmail.users.drafts.send", drafts.send_draft),
    ("GET", "drafts/{id}", "gmail.users.drafts.get", drafts.get_draft),
    ("PUT", "drafts/{id}", "gmail.users.drafts.update", drafts.update_draft),
    ("DELETE", "drafts/{id}", "gmail.users.drafts.delete", drafts.delete_draft),
    ("GET", "settings/filters", "gmail.users.settings.filters.list", settings.list_filters),
    ("POST", "settings/filters", "gmail.users.settings.filters.create", settings.create_filter),
    ("GET", "settings/filters/{id}", "gmail.users.settings.filters.get", settings.get_filter),
    ("DELETE", "settings/filters/{id}", "gmail.users.settings.filters.delete", settings.delete_filter),
    ("GET", "settings/vacation", "gmail.users.settings.getVacation", settings.get_vacation),
    ("PUT", "settings/vacation", "gmail.users.settings.updateVacation", settings.update_vacation),
    ("GET", "settings/autoForwarding", "gmail.users.settings.getAutoForwarding", settings.get_auto_forwarding),
    ("PUT", "settings/autoForwarding", "gmail.users.settings.updateAutoForwarding", settings.update_auto_forwarding),
    ("GET", "settings/sendAs", "gmail.users.settings.sendAs.list", settings.list_send_as),
    ("POST", "settings/sendAs", "gmail.users.settings.sendAs.create", settings.create_send_as),
    ("GET", "settings/sendAs/{sendAsEmail}", "gmail.users.settings.sendAs.get", settings.get_send_as),
    ("PUT", "settings/sendAs/{sendAsEmail}", "gmail.users.settings.sendAs.update", settings.update_send_as),
    ("PATCH", "settings/sendAs/{sendAsEmail}", "gmail.users.settings.sendAs.patch", settings.patch_send_as),
    ("DELETE", "settings/sendAs/{sendAsEmail}", "gmail.users.settings.sendAs.delete", settings.delete_send_as),
    ("POST", "settings/sendAs/{sendAsEmail}/verify", "gmail.users.settings.sendAs.verify", settings.verify_send_as),
    ("GET", "settings/forwardingAddresses", "gmail.users.settings.forwardingAddresses.list", settings.list_forwarding),
    (
        "POST",
        "settings/forwardingAddresses",
        "gmail.users.settings.forwardingAddresses.create",
        settings.create_forwarding,
    ),
    (
        "GET",
        "settings/forwardingAddresses/{forwardingEmail}",
        "gmail.users.settings.forwardingAddresses.get",
        settings.get_forwarding,
    ),
    (
        "DELETE",
        "settings/forwardingAddresses/{forwardingEmail}",
        "gmail.users.settings.forwardingAddresses.delete",
        settings.delete_forwarding,
    ),
]

# Methods whose upload variant lives under /upload/gmail/v1/... (media or multipart/related):
# (verb, path after the user) -> method id; the discovery document's mediaUpload.protocols.simple.
UPLOAD_METHODS = {
    ("POST", "messages"): "gmail.users.messages.insert",
    ("POST", "messages/import"): "gmail.users.messages.import",
    ("POST", "messages/send"): "gmail.users.messages.send",
    ("POST", "drafts"): "gmail.users.drafts.create",
    ("POST", "drafts/send"): "gmail.users.drafts.send",
    ("PUT", "drafts/{id}"): "gmail.users.drafts.update",
}


def _compile(template: str) -> re.Pattern[str]:
    pattern = re.sub(r"\{(\w+)\}", r"(?P<\1>[^/]+)", template)
    return re.compile(rf"^/gmail/v1/users/(?P<userId>[^/]+)/{pattern}$")


ROUTES = [(verb, _compile(template), method_id, handler) for verb, template, method_id, handler in _TABLE]
HANDLERS = {method_id: handler for _, _, method_id, handler in _TABLE}
_UPLOAD = re.compile(
    r"^/upload/gmail/v1/users/(?P<userId>[^/]+)/(?P<rest>messages(?:/import|/send)?|drafts(?:/[^/]+)?)$"
)


class NoRoute(Exception):
    def __init__(self, allowed: list[str]) -> None:
        self.allowed = allowed


def match(verb: str, path: str) -> tuple[str, Handler, dict[str, str]]:
    """The method id, handler and (percent-decoded) path parameters for a request."""
    allowed = []
    for route_verb, pattern, method_id, handler in ROUTES:
        found = pattern.match(path)
        if found:
            if route_verb == verb:
                return method_id, handler, {k: unquote(v) for k, v in found.groupdict().items()}
            allowed.append(route_verb)
    raise NoRoute(allowed)


def match_upload(verb: str, path: str) -> tuple[str, Handler, dict[str, str]] | None:
    found = _UPLOAD.match(path)
    if not found:
        return None
    rest, params = found["rest"], {"userId": unquote(found["userId"])}
    if rest.startswith("drafts/") and rest != "drafts/send":
        rest, params["id"] = "drafts/{id}", unquote(rest.split("/", 1)[1])
    method_id = UPLOAD_METHODS.get((verb, rest))
    return None if method_id is None else (method_id, HANDLERS[method_id], params)
