"""labels.*: system labels, counts, CRUD, nesting and Gmail's name/colour rules, through the real client."""

from __future__ import annotations

import pytest

from api_errors import api_error
from gmaildesk.gmail.labels import SYSTEM_LABEL_IDS
from gmaildesk.sandbox.mime import build_message

SUPPORT = "support@example.com"
VISIBLE = {"labelListVisibility": "labelShow", "messageListVisibility": "show"}


def _error(call) -> tuple[int, str, str]:
    return api_error(call)


def _deliver(sandbox, subject: str, **extra) -> dict:
    raw = build_message(
        from_="Ann <ann@customer.example>",
        to=[SUPPORT],
        subject=subject,
        text="Hello.",
        date_ms=1_700_000_000_000,
        **extra,
    )
    return sandbox.control.deliver(SUPPORT, raw)


def _create(gmail, name: str, **fields) -> dict:
    return gmail.labels().create(userId="me", body={"name": name, **VISIBLE, **fields}).execute()


def test_list_has_every_system_label_with_type_system_and_no_counts(gmail):
    labels = gmail.labels().list(userId="me").execute()["labels"]
    by_id = {lab["id"]: lab for lab in labels}
    assert set(by_id) >= SYSTEM_LABEL_IDS
    for label_id in (
        "INBOX",
        "SENT",
        "TRASH",
        "SPAM",
        "DRAFT",
        "UNREAD",
        "STARRED",
        "IMPORTANT",
        "CATEGORY_PERSONAL",
        "CATEGORY_SOCIAL",
        "CATEGORY_PROMOTIONS",
        "CATEGORY_UPDATES",
        "CATEGORY_FORUMS",
    ):
        assert by_id[label_id]["type"] == "system"
        assert by_id[label_id]["name"] == label_id
    assert by_id["INBOX"]["labelListVisibility"] == "labelShow"
    assert not any("messagesTotal" in lab for lab in labels)  # counts only come from labels.get


def test_get_reports_message_and_thread_counts(gmail, sandbox):
    first = _deliver(sandbox, "Order 1")
    _deliver(sandbox, "Order 2")
    gmail.messages().modify(userId="me", id=first["id"], body={"removeLabelIds": ["UNREAD"]}).execute()
    inbox = gmail.labels().get(userId="me", id="INBOX").execute()
    assert (inbox["messagesTotal"], inbox["messagesUnread"], inbox["threadsTotal"], inbox["threadsUnread"]) == (
        2,
        1,
        2,
        1,
    )
    assert inbox["type"] == "system"
    empty = gmail.labels().get(userId="me", id="STARRED").execute()
    assert (empty["messagesTotal"], empty["threadsTotal"]) == (0, 0)


def test_create_get_patch_update_delete_roundtrip(gmail):
    created = _create(gmail, "Customers", color={"backgroundColor": "#16a766", "textColor": "#ffffff"})
    assert created["id"].startswith("Label_")
    assert created["type"] == "user"
    assert created["color"] == {"backgroundColor": "#16a766", "textColor": "#ffffff"}
    got = gmail.labels().get(userId="me", id=created["id"]).execute()
    assert got["name"] == "Customers" and got["messagesTotal"] == 0

    patched = gmail.labels().patch(userId="me", id=created["id"], body={"name": "Clients"}).execute()
    assert patched["name"] == "Clients"
    assert patched["color"] == created["color"]  # patch keeps what it does not mention
    assert patched["labelListVisibility"] == "labelShow"

    updated = (
        gmail.labels()
        .update(
            userId="me",
            id=created["id"],
            body={
                "id": created["id"],
                "name": "Clients",
                "labelListVisibility": "labelHide",
                "messageListVisibility": "hide",
            },
        )
        .execute()
    )
    assert updated["labelListVisibility"] == "labelHide"
    assert "color" not in updated  # update replaces the whole resource

    assert gmail.labels().delete(userId="me", id=created["id"]).execute() in ("", b"", b"{}")
    assert _error(gmail.labels().get(userId="me", id=created["id"]))[:2] == (404, "notFound")
    names = {lab["name"] for lab in gmail.labels().list(userId="me").execute()["labels"]}
    assert "Clients" not in names


def test_nesting_is_a_slash_in_the_name(gmail):
    parent = _create(gmail, "Work")
    child = _create(gmail, "Work/Clients/Acme")
    assert child["name"] == "Work/Clients/Acme"
    assert "parentId" not in child and child["id"] != parent["id"]
    names = {lab["name"] for lab in gmail.labels().list(userId="me").execute()["labels"]}
    assert {"Work", "Work/Clients/Acme"} <= names


@pytest.mark.parametrize("second", ["Billing", "billing", "BILLING"])
def test_duplicate_name_including_case_only_difference_is_409_aborted(gmail, second):
    _create(gmail, "Billing")
    assert _error(gmail.labels().create(userId="me", body={"name": second, **VISIBLE})) == (
        409,
        "aborted",
        "Label name exists or conflicts",
    )


def test_rename_onto_an_existing_name_is_409_but_renaming_to_itself_is_fine(gmail):
    _create(gmail, "Alpha")
    beta = _create(gmail, "Beta")
    assert _error(gmail.labels().patch(userId="me", id=beta["id"], body={"name": "ALPHA"}))[:2] == (409, "aborted")
    assert gmail.labels().patch(userId="me", id=beta["id"], body={"name": "BETA"}).execute()["name"] == "BETA"


@pytest.mark.parametrize(
    "name",
    [
        "INBOX",
        "inbox",
        "Inbox",
        "INBOX/x",
        "Sent",
        "SPAM",
        "Trash",
        "UNREAD",
        "CATEGORY_SOCIAL",
        "",
        "a//b",
        "/lead",
        "trail/",
    ],
)
def test_reserved_or_malformed_names_are_400_invalid_label_name(gmail, name):
    status, reason, message = _error(gmail.labels().create(userId="me", body={"name": name, **VISIBLE}))
    assert (status, message) == (400, "Invalid label name")
    assert reason == "invalidArgument"


@pytest.mark.parametrize(
    "color, bad",
    [
        ({"backgroundColor": "#41236D", "textColor": "#ffffff"}, "#41236D"),  # uppercase is refused
        ({"backgroundColor": "#123456", "textColor": "#ffffff"}, "#123456"),
        ({"backgroundColor": "#41236d", "textColor": "red"}, "red"),
    ],
)
def test_colour_outside_the_palette_is_400(gmail, color, bad):
    status, reason, message = _error(
        gmail.labels().create(userId="me", body={"name": "Tinted", **VISIBLE, "color": color})
    )
    assert (status, reason) == (400, "invalidArgument")
    assert message == f"Label color {bad} is not on the allowed color palette"


def test_colour_needs_both_values(gmail):
    status, reason, _ = _error(
        gmail.labels().create(userId="me", body={"name": "Half", **VISIBLE, "color": {"backgroundColor": "#41236d"}})
    )
    assert (status, reason) == (400, "invalidArgument")


@pytest.mark.parametrize("label_id", ["INBOX", "SENT", "UNREAD", "CATEGORY_SOCIAL"])
def test_system_labels_cannot_be_patched_updated_or_deleted(gmail, label_id):
    assert _error(gmail.labels().patch(userId="me", id=label_id, body={"name": "Mine"}))[0] == 400
    assert _error(gmail.labels().patch(userId="me", id=label_id, body={"labelListVisibility": "labelHide"}))[0] == 400
    assert _error(gmail.labels().update(userId="me", id=label_id, body={"name": label_id, **VISIBLE}))[0] == 400
    assert _error(gmail.labels().delete(userId="me", id=label_id))[0] == 400
    assert gmail.labels().get(userId="me", id=label_id).execute()["type"] == "system"


@pytest.mark.parametrize("method", ["get", "patch", "update", "delete"])
def test_unknown_label_id_is_404(gmail, method):
    labels = gmail.labels()
    call = {
        "get": lambda: labels.get(userId="me", id="Label_999"),
        "patch": lambda: labels.patch(userId="me", id="Label_999", body={"name": "x"}),
        "update": lambda: labels.update(userId="me", id="Label_999", body={"name": "x", **VISIBLE}),
        "delete": lambda: labels.delete(userId="me", id="Label_999"),
    }[method]()
    assert _error(call)[:2] == (404, "notFound")


def test_invalid_visibility_is_400(gmail):
    status, _, _ = _error(
        gmail.labels().create(
            userId="me", body={"name": "Odd", "labelListVisibility": "sometimes", "messageListVisibility": "show"}
        )
    )
    assert status == 400


def test_deleting_a_label_removes_it_from_messages_and_records_label_removed(gmail, sandbox):
    label = _create(gmail, "Escalated")
    start = gmail.getProfile(userId="me").execute()["historyId"]
    first, second = _deliver(sandbox, "Broken"), _deliver(sandbox, "Also broken")
    gmail.messages().batchModify(
        userId="me", body={"ids": [first["id"], second["id"]], "addLabelIds": [label["id"]]}
    ).execute()
    before_delete = gmail.getProfile(userId="me").execute()["historyId"]

    gmail.labels().delete(userId="me", id=label["id"]).execute()

    for delivered in (first, second):
        msg = gmail.messages().get(userId="me", id=delivered["id"], format="minimal").execute()
        assert label["id"] not in msg["labelIds"]
        assert int(msg["historyId"]) > int(before_delete)
    removed = (
        gmail.history()
        .list(userId="me", startHistoryId=before_delete, historyTypes="labelRemoved")
        .execute()["history"]
    )
    assert sorted(r["labelsRemoved"][0]["message"]["id"] for r in removed) == sorted([first["id"], second["id"]])
    assert all(r["labelsRemoved"][0]["labelIds"] == [label["id"]] for r in removed)
    listed = gmail.messages().list(userId="me", q="label:escalated").execute()
    assert listed["resultSizeEstimate"] == 0
    assert int(start) < int(before_delete)


def test_a_filter_whose_label_was_deleted_no_longer_applies_it(gmail, sandbox):
    label = _create(gmail, "Short-lived")
    flt = (
        gmail.settings()
        .filters()
        .create(
            userId="me", body={"criteria": {"from": "ann@customer.example"}, "action": {"addLabelIds": [label["id"]]}}
        )
        .execute()
    )
    gmail.labels().delete(userId="me", id=label["id"]).execute()
    delivered = _deliver(sandbox, "After the delete")
    assert delivered["filtersApplied"] == [flt["id"]]
    assert delivered["labelIds"] == ["INBOX", "UNREAD"]  # never a label that does not exist


def test_label_names_longer_than_225_characters_are_refused(gmail):
    assert _create(gmail, "x" * 225)["name"] == "x" * 225
    assert _error(gmail.labels().create(userId="me", body={"name": "y" * 226, **VISIBLE}))[0] == 400


def test_label_search_sees_nested_user_labels(gmail, sandbox):
    label = _create(gmail, "Work/Urgent")
    delivered = _deliver(sandbox, "Fire")
    gmail.messages().modify(userId="me", id=delivered["id"], body={"addLabelIds": [label["id"]]}).execute()
    for q in ("label:work-urgent", "label:Work/Urgent", "label:work/urgent"):
        found = gmail.messages().list(userId="me", q=q).execute()
        assert [m["id"] for m in found.get("messages", [])] == [delivered["id"]], q


def test_the_sandbox_system_labels_are_gmails_list():
    from gmaildesk.gmail.labels import SYSTEM_LABEL_IDS
    from gmaildesk.sandbox.mailbox import SYSTEM_LABELS

    assert {label_id for label_id, _, _ in SYSTEM_LABELS} == SYSTEM_LABEL_IDS
