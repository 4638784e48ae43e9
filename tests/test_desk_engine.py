"""The desk engine's pure parts: filter identity and conversion, vacation canonical form, label diff."""

from __future__ import annotations

from gmaildesk.config.desk import Colour, Filter, FilterActions, FilterCriteria, Label
from gmaildesk.desk import filters, labels, vacation
from gmaildesk.desk.filters import FilterSpec, UpstreamFilter
from gmaildesk.desk.ownership import OwnedFilter

LABELS = [{"id": "INBOX", "name": "INBOX", "type": "system"}, {"id": "Label_1", "name": "Dept/Billing", "type": "user"}]


def test_actions_convert_to_gmail_label_changes():
    flt = Filter(
        "x",
        FilterCriteria(from_="a@b.example", has_attachment=True),
        FilterActions(
            label="Dept/Billing",
            archive=True,
            mark_read=True,
            star=True,
            important=False,
            never_spam=True,
            category="updates",
            forward="Dev@Example.com",
        ),
    )
    spec = filters.spec_of(flt)
    assert spec.to_gmail({"dept/billing": "Label_1"}) == {
        "criteria": {"from": "a@b.example", "hasAttachment": True},
        "action": {
            "addLabelIds": ["CATEGORY_UPDATES", "Label_1", "STARRED"],
            "removeLabelIds": ["IMPORTANT", "INBOX", "SPAM", "UNREAD"],
            "forward": "dev@example.com",
        },
    }
    assert spec.describe() == (
        "from:(a@b.example) has:attachment -> label Dept/Billing, category updates, star, "
        "never important, archive, never spam, mark read, forward to dev@example.com"
    )


def test_upstream_filters_hash_like_desired_ones_and_unknown_ones_are_ignored():
    upstream = filters.from_gmail(
        [
            {
                "id": "f1",
                "criteria": {"query": "to:billing@example.com", "excludeChats": False},
                "action": {"addLabelIds": ["Label_1"]},
            },
            {"id": "f2", "criteria": {"from": "x@y.example"}, "action": {"addLabelIds": ["Label_99"]}},  # label gone
            {
                "id": "f3",
                "criteria": {"from": "x@y.example", "excludeChats": True},
                "action": {"removeLabelIds": ["INBOX"]},
            },
        ],
        LABELS,
    )
    assert [f.id for f in upstream] == ["f1"]
    desired = FilterSpec.make({"query": "to:billing@example.com"}, ["dept/billing"])  # case does not matter
    assert upstream[0].spec.hash == desired.hash


def test_filter_diff_replaces_ours_adopts_identical_and_never_touches_others():
    old = UpstreamFilter("f1", FilterSpec.make({"query": "to:a@example.com"}, ["L"]))
    mine = UpstreamFilter("f2", FilterSpec.make({"query": "to:b@example.com"}, ["L"]))
    users = UpstreamFilter("f3", FilterSpec.make({"from": "mom@example.org"}, [], ["INBOX"]))
    gone = UpstreamFilter("f4", FilterSpec.make({"query": "to:c@example.com"}, ["L"]))
    desired = [
        filters.DesiredFilter("department:A", FilterSpec.make({"query": "to:a2@example.com"}, ["L"])),
        filters.DesiredFilter("department:B", mine.spec),
    ]
    owned = {"department:A": OwnedFilter("f1", old.spec.hash), "department:C": OwnedFilter("f4", gone.spec.hash)}
    changes, adopt = filters.diff(desired, [old, mine, users, gone], owned)
    assert [(c.action, c.key) for c in changes] == [("replace", "department:A"), ("delete", "department:C")]
    assert adopt == {"department:B": OwnedFilter("f2", mine.spec.hash)}


def test_vacation_differs_only_on_meaningful_fields():
    current = {
        "enableAutoReply": True,
        "responseSubject": "Hi",
        "restrictToContacts": False,
        "responseBodyHtml": "",
        "startTime": 1700000000000,
    }
    desired = vacation.canonical({"enableAutoReply": True, "responseSubject": "Hi", "startTime": "1700000000000"})
    assert vacation.diff(desired, current) is None
    change = vacation.diff({**desired, "responseSubject": "Hello"}, current)
    assert change.render() == ["~ vacation", '    responseSubject: "Hi" -> "Hello"']
    assert vacation.diff(None, current) is None  # not managed


def test_label_diff_ignores_unset_colours_and_unmanaged_labels():
    desired = [Label("Dept", None, "parent"), Label("Dept/Billing", Colour("#16a766", "#ffffff"), "department")]
    current = labels.from_gmail(
        [
            {
                "id": "Label_1",
                "name": "dept",
                "type": "user",
                "color": {"backgroundColor": "#000000", "textColor": "#ffffff"},
            },
            {"id": "Label_2", "name": "Dept/Billing", "type": "user"},
            {"id": "Label_3", "name": "Dept/Old", "type": "user"},
            {"id": "Label_4", "name": "Family", "type": "user"},
            {"id": "Label_5", "name": "Receipts", "type": "user"},
        ]
    )
    changes = labels.diff(desired, current, owned_ids={"Label_5"}, prefixes=("Dept/", "Status/"))
    assert [(c.action, c.name) for c in changes] == [
        ("update", "Dept/Billing"),
        ("delete", "Dept/Old"),
        ("delete", "Receipts"),
    ]
