"""Loading good desk.yaml files: the resolved Desk value, templates, routes, defaults, YAML positions."""

from __future__ import annotations

import datetime as dt
import socket
from pathlib import Path
from textwrap import dedent

import pytest

from gmaildesk.config import Desk, load_desk
from gmaildesk.config.desk import Colour, Label, Sla
from gmaildesk.config.durations import DurationError, describe_duration, parse_duration
from gmaildesk.config.example import write_example
from gmaildesk.config.yaml_source import load_yaml
from gmaildesk.errors import GmailDeskError
from gmaildesk.gmail.query import SearchDoc, search

HEAD = "version: 1\nmailbox: support@example.com\n"


def write_desk(folder: Path, text: str, files: dict[str, str] | None = None) -> Path:
    desk = folder / "desk.yaml"
    desk.write_text(text, encoding="utf-8")
    for relative, content in (files or {}).items():
        (folder / relative).parent.mkdir(parents=True, exist_ok=True)
        (folder / relative).write_text(content, encoding="utf-8")
    return desk


@pytest.fixture
def example(tmp_path: Path) -> Desk:
    write_example(tmp_path)
    return load_desk(tmp_path / "desk.yaml")


# --- the shipped example ---------------------------------------------------------------------


def test_example_desk_resolves_labels_routes_and_slas(example: Desk):
    assert example.mailbox == "support@example.com"
    assert [(d.name, d.label, d.colour, d.sla) for d in example.departments] == [
        ("Billing", "Dept/Billing", Colour("#16a766", "#ffffff"), Sla(4 * 3600, 86400)),
        ("Technical", "Dept/Technical", Colour("#4a86e8", "#ffffff"), Sla(8 * 3600, 86400)),
        ("Sales", "Dept/Sales", Colour("#ffad47", "#000000"), Sla(86400, 2 * 86400)),
    ]
    assert example.departments[2].query == (
        'to:sales@example.com OR pricing OR quote OR demo OR "enterprise plan" OR discount'
    )
    assert [label.name for label in example.statuses.all()] == [
        "Status/New",
        "Status/Waiting for us",
        "Status/Handled",
        "Status/Forwarded",
        "Status/Closed",
        "Status/Overdue",
    ]
    assert example.statuses.waiting.colour == Colour("#a4c2f4", "#000000")
    assert [(label.name, label.kind) for label in example.labels][:6] == [
        ("Agent", "parent"),
        ("Agent/Alice", "agent"),
        ("Agent/Bob", "agent"),
        ("Bounces", "filter"),
        ("Dept", "parent"),
        ("Dept/Billing", "department"),
    ]
    assert [(a.name, a.departments) for a in example.team.agents] == [
        ("Alice", ("Billing",)),
        ("Bob", ("Billing", "Technical")),
    ]
    assert [d.assign for d in example.departments] == ["round_robin", "none", "none"]
    assert example.team.includes("alice@example.com") and example.team.includes("x@partner.example")
    assert not example.team.includes("devteam@example.com")
    assert example.sweep.close_after == 7 * 86400 and example.sweep.scope == "newer_than:90d"


def test_example_templates_are_rendered(example: Desk):
    ack = example.auto_ack
    assert ack is not None and ack.enabled
    assert ack.subject == ""  # no subject: Gmail then replies in the customer's conversation
    assert "  - Billing: within 4 hours\n  - Technical: within 8 hours\n  - Sales: within 1 day\n" in ack.body_text
    assert "<li>Sales: within 1 day</li>" in ack.body_html
    support, billing = example.send_as
    assert support.default and support.display_name == "Acme Support" and support.smtp is None
    assert '<a href="mailto:billing@example.com">billing@example.com</a>' in billing.signature
    assert "<b>Acme Billing</b>" in billing.signature


def _filter_query(criteria) -> str:
    parts = [
        f"{op}:({value})"
        for op, value in (("from", criteria.from_), ("to", criteria.to), ("subject", criteria.subject))
        if value
    ]
    parts += [f"({criteria.query})"] if criteria.query else []
    parts += [f"-({criteria.negated_query})"] if criteria.negated_query else []
    parts += ["has:attachment"] if criteria.has_attachment else []
    parts += [f"{criteria.size_comparison}:{criteria.size}"] if criteria.size else []
    return " ".join(parts)


def labels_for(desk: Desk, message) -> set[str]:
    doc = SearchDoc(
        from_=message.from_,
        to=", ".join(message.to),
        cc=", ".join(message.cc),
        subject=message.subject,
        body=message.body,
        filenames=message.attachments,
        has_attachment=bool(message.attachments),
    )
    return {
        f.actions.label
        for f in desk.all_filters()
        if f.actions.label and search(_filter_query(f.criteria), doc, now_ms=0)
    }


def test_example_config_tests_pass_with_the_shared_query_evaluator(example: Desk):
    assert len(example.tests) == 4
    for config_test in example.tests:
        assert labels_for(example, config_test.message) == set(config_test.labels), config_test.name


def test_top_level_example_matches_the_package_copy():
    root = Path(__file__).resolve().parents[1]
    package = root / "gmaildesk" / "data"
    assert (root / "config" / "desk.yaml").read_bytes() == (package / "config" / "desk.yaml").read_bytes(), (
        "config/desk.yaml drifted: cp gmaildesk/data/config/desk.yaml config/"
    )
    shipped = sorted(p.name for p in (package / "templates").glob("*.j2"))
    assert shipped == sorted(p.name for p in (root / "templates").glob("*.j2"))
    for name in shipped:
        assert (root / "templates" / name).read_bytes() == (package / "templates" / name).read_bytes(), (
            f"templates/{name} drifted: cp gmaildesk/data/templates/*.j2 templates/"
        )


# --- defaults and resolution -------------------------------------------------------------------


def test_minimal_desk_gets_defaults(tmp_path: Path):
    desk = load_desk(write_desk(tmp_path, HEAD))
    assert desk.departments == () and desk.filters == () and desk.send_as == () and desk.tests == ()
    assert desk.auto_ack is None  # not managed
    assert desk.statuses.new == Label("Status/New", Colour("#fad165", "#000000"), "status")
    assert desk.statuses.overdue == Label("Status/Overdue", Colour("#fb4c2f", "#ffffff"), "status")
    assert desk.labels[0] == Label("Status", None, "parent")
    assert desk.sweep.close_after == 7 * 86400 and not desk.sweep.archive_closed


def test_routes_compose_one_query_that_matches_each_route(tmp_path: Path):
    desk = load_desk(
        write_desk(
            tmp_path,
            HEAD
            + dedent("""\
        departments:
          - name: Billing
            routes:
              - to: billing@example.com
              - from: "@stripe.com"
              - subject: past due
              - words: [refund, "credit card"]
              - query: "has:attachment filename:pdf"
        """),
        )
    )
    query = desk.departments[0].query
    assert query == (
        'to:billing@example.com OR from:@stripe.com OR subject:"past due" OR refund OR '
        '"credit card" OR (has:attachment filename:pdf)'
    )
    matching = [
        SearchDoc(to="billing@example.com"),
        SearchDoc(from_="Stripe <no-reply@stripe.com>"),
        SearchDoc(subject="Account past due"),
        SearchDoc(body="I want a refund"),
        SearchDoc(body="my credit card was charged"),
        SearchDoc(filenames=("invoice.pdf",), has_attachment=True),
    ]
    assert all(search(query, doc, 0) for doc in matching)
    assert not search(query, SearchDoc(subject="Hello", body="due", filenames=("a.txt",), has_attachment=True), 0)
    (routing,) = desk.routing_filters()
    assert routing.actions.label == "Dept/Billing" and routing.criteria.query == query


def test_a_single_query_route_is_not_wrapped(tmp_path: Path):
    desk = load_desk(
        write_desk(tmp_path, HEAD + "departments:\n  - name: Ops\n    routes: [{query: 'list:ops.example'}]\n")
    )
    assert desk.departments[0].query == "list:ops.example"


def test_department_without_routes_has_a_label_but_no_filter(tmp_path: Path):
    desk = load_desk(write_desk(tmp_path, HEAD + "departments:\n  - name: Escalations\n"))
    assert desk.departments[0].query == "" and desk.routing_filters() == ()
    assert Label("Dept/Escalations", None, "department") in desk.labels


def test_empty_prefix_makes_top_level_labels(tmp_path: Path):
    desk = load_desk(
        write_desk(
            tmp_path,
            HEAD + "labels: {department_prefix: ''}\nstatuses: {prefix: ''}\ndepartments:\n  - name: Billing\n",
        )
    )
    assert [label.name for label in desk.labels] == [
        "Billing",
        "Closed",
        "Forwarded",
        "Handled",
        "New",
        "Overdue",
        "Waiting",
    ]


def test_filters_resolve_sizes_labels_and_actions(tmp_path: Path):
    desk = load_desk(
        write_desk(
            tmp_path,
            HEAD
            + dedent("""\
        departments:
          - name: Billing
        filters:
          - name: big attachments
            match: {has_attachment: true, larger: 5M, negated_query: "from:@example.com"}
            actions: {labels: [Dept/Billing/Large], important: false, category: updates}
          - match: {to: "support+news@example.com", smaller: 500K}
            actions: {archive: true, mark_read: true, never_spam: true, star: true}
        """),
        )
    )
    big, small = desk.filters
    assert big.name == "big attachments" and small.name == "filters[1]"
    assert (big.criteria.size, big.criteria.size_comparison) == (5 * 1024 * 1024, "larger")
    assert (small.criteria.size, small.criteria.size_comparison) == (500 * 1024, "smaller")
    assert big.actions.label == "Dept/Billing/Large" and big.actions.important is False
    assert small.actions.label is None and small.actions.important is None and small.actions.never_spam
    assert [label.name for label in desk.labels if label.name.startswith("Dept")] == [
        "Dept",
        "Dept/Billing",
        "Dept/Billing/Large",
    ]


def test_colour_shorthand_picks_readable_text(tmp_path: Path):
    desk = load_desk(
        write_desk(
            tmp_path, HEAD + "departments:\n  - {name: Light, color: '#fad165'}\n  - {name: Dark, color: '#285bac'}\n"
        )
    )
    assert [d.colour for d in desk.departments] == [Colour("#fad165", "#000000"), Colour("#285bac", "#ffffff")]


def test_auto_ack_times_become_utc_and_parts_left_out_are_empty(tmp_path: Path):
    desk = load_desk(
        write_desk(
            tmp_path,
            HEAD
            + dedent("""\
        auto_ack:
          enabled: false
          subject: "Thanks"
          start: 2026-01-05T09:00:00+01:00
          end: "2026-01-09T17:00:00Z"
        """),
        )
    )
    ack = desk.auto_ack
    assert ack.start == dt.datetime(2026, 1, 5, 8, tzinfo=dt.UTC)
    assert ack.end == dt.datetime(2026, 1, 9, 17, tzinfo=dt.UTC)
    assert (ack.enabled, ack.subject, ack.body_text, ack.body_html) == (False, "Thanks", "", "")


def test_disabled_auto_ack_may_be_empty(tmp_path: Path):
    assert load_desk(write_desk(tmp_path, HEAD + "auto_ack: {enabled: false}\n")).auto_ack.enabled is False


def test_smtp_password_env_is_not_read_at_load_time(tmp_path: Path, monkeypatch):
    monkeypatch.delenv("BILLING_SMTP_PASSWORD", raising=False)
    desk = load_desk(
        write_desk(
            tmp_path,
            HEAD
            + dedent("""\
        send_as:
          - address: billing@example.com
            smtp: {host: smtp.example.com, username: billing@example.com, password_env: BILLING_SMTP_PASSWORD}
        """),
        )
    )
    smtp = desk.send_as[0].smtp
    assert (smtp.port, smtp.security, smtp.password_env) == (587, "starttls", "BILLING_SMTP_PASSWORD")


def test_is_us_covers_mailbox_aliases_and_team(tmp_path: Path):
    desk = load_desk(
        write_desk(
            tmp_path,
            HEAD + "team: [lead@partner.example, '@example.org']\nsend_as:\n  - address: billing@example.com\n",
        )
    )
    assert desk.team.domains == ("example.org",) and desk.team.addresses == ("lead@partner.example",)
    assert all(
        desk.is_us(a)
        for a in ("Support@Example.com", "billing@example.com", "lead@partner.example", "x@eu.example.org")
    )
    assert not desk.is_us("ann@customer.example")


def test_test_messages_default_to_the_mailbox(tmp_path: Path):
    desk = load_desk(
        write_desk(tmp_path, HEAD + "tests:\n  - name: t\n    message: {from: a@b.example, cc: c@d.example}\n")
    )
    message = desk.tests[0].message
    assert (message.to, message.cc, message.subject) == (("support@example.com",), ("c@d.example",), "")


# --- templates ---------------------------------------------------------------------------------


def test_html_templates_escape_variables_text_templates_do_not(tmp_path: Path):
    desk = load_desk(
        write_desk(
            tmp_path,
            HEAD
            + dedent("""\
        vars: {company: "Smith & <Sons>"}
        auto_ack:
          subject: "{{ company }}"
          body_text: {file: templates/ack.txt.j2}
          body_html: {file: templates/ack.html.j2}
        send_as:
          - address: support@example.com
            signature: "<b>{{ company }}</b> {{ alias.address }}"
        """),
            {"templates/ack.txt.j2": "{{ company }}\n", "templates/ack.html.j2": "<p>{{ company }}</p>\n"},
        )
    )
    assert desk.auto_ack.subject == "Smith & <Sons>"
    assert desk.auto_ack.body_text == "Smith & <Sons>"
    assert desk.auto_ack.body_html == "<p>Smith &amp; &lt;Sons&gt;</p>"
    assert desk.send_as[0].signature == "<b>Smith &amp; &lt;Sons&gt;</b> support@example.com"


def test_templates_can_include_files_beside_desk_yaml(tmp_path: Path):
    desk = load_desk(
        write_desk(
            tmp_path,
            HEAD + "auto_ack:\n  body_text: {file: templates/ack.txt.j2}\n",
            {
                "templates/ack.txt.j2": "Hi\n{% include 'templates/footer.txt.j2' %}",
                "templates/footer.txt.j2": "-- {{ mailbox }}",
            },
        )
    )
    assert desk.auto_ack.body_text == "Hi\n-- support@example.com"


def test_templates_cannot_reach_python_internals(tmp_path: Path):
    path = write_desk(tmp_path, HEAD + "auto_ack:\n  subject: \"{{ ''.__class__.__mro__ }}\"\n")
    with pytest.raises(GmailDeskError) as raised:
        load_desk(path)
    assert raised.value.message == (
        "desk.yaml:4: auto_ack.subject: access to attribute '__class__' of 'str' object is unsafe."
    )


def test_loading_opens_no_socket(tmp_path: Path, monkeypatch):
    write_example(tmp_path)

    def refuse(*args, **kwargs):
        raise AssertionError("load_desk tried to open a socket")

    monkeypatch.setattr(socket, "socket", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    assert load_desk(tmp_path / "desk.yaml").mailbox == "support@example.com"


# --- YAML positions and durations ------------------------------------------------------------


def test_yaml_positions_record_the_line_of_every_key_and_item():
    data, positions = load_yaml(
        "version: 1\ndepartments:\n  - name: A\n  - name: B\n    color:\n      background: '#ffffff'\n", "desk.yaml"
    )
    assert data["departments"][1]["color"] == {"background": "#ffffff"}
    assert positions.line(("departments", 1)) == 4
    assert positions.line(("departments", 1, "color")) == 5
    assert positions.line(("departments", 1, "color", "background")) == 6
    assert positions.line(("departments", 1, "color", "text")) == 5  # unwritten: nearest parent


def test_yaml_merge_keys_are_allowed_and_overridden():
    data, _ = load_yaml("a: &base {host: h, port: 25}\nb: {<<: *base, port: 587}\n", "desk.yaml")
    assert data["b"] == {"host": "h", "port": 587}


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("30m", 1800), ("4h", 14400), ("2d", 172800), ("1w", 604800), ("1d12h", 129600), (" 4 H ", 14400)],
)
def test_parse_duration(text, seconds):
    assert parse_duration(text) == seconds


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("4", "'4' has no unit; use m (minutes), h (hours), d (days) or w (weeks), e.g. 30m, 4h, 2d or 1w"),
        (4, "'4' has no unit; use m (minutes), h (hours), d (days) or w (weeks), e.g. 30m, 4h, 2d or 1w"),
        ("4y", "'4y' has an unknown unit 'y'; use m, h, d or w, e.g. 30m, 4h, 2d or 1w"),
        ("soon", "'soon' is not a duration; use e.g. 30m, 4h, 2d or 1w"),
        ("-1h", "'-1h' is not a duration; use e.g. 30m, 4h, 2d or 1w"),
        ("0h", "'0h' is zero; a duration must be positive"),
        (True, "True is not a duration; use e.g. 30m, 4h, 2d or 1w"),
    ],
)
def test_parse_duration_errors_name_the_value(value, message):
    with pytest.raises(DurationError) as raised:
        parse_duration(value)
    assert str(raised.value) == message


def test_describe_duration():
    assert [describe_duration(s) for s in (1800, 3600, 90000, 1209600)] == [
        "30 minutes",
        "1 hour",
        "1 day 1 hour",
        "2 weeks",
    ]
