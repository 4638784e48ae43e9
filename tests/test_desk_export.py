"""`gmaildesk export`: the mailbox as desk.yaml, and the round trip export -> plan is empty -> apply writes
nothing, on a desk gmaildesk built and on a mailbox it never touched (user-made labels, filters,
vacation, aliases)."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest

from cli_run import invoke
from gmaildesk.config import load_desk
from gmaildesk.desk.export import escape_template, routes_from_query
from gmaildesk.errors import ExitCode

READS = (".list", ".get", ".getVacation", ".getProfile")


@pytest.fixture
def env(sandbox, tmp_path, monkeypatch):
    monkeypatch.setenv("GMAILDESK_DATA_DIR", str(tmp_path / "data"))
    return sandbox


def _state_file(url: str) -> Path:
    """The ownership record of support@ on this sandbox (state is per endpoint and account)."""
    from gmaildesk.desk.ownership import state_path
    from gmaildesk.paths import Account

    return state_path(Account(url, "support@example.com"))


def writes(sandbox) -> dict:
    calls = sandbox.control.counters()["calls"]
    return {k: v for k, v in calls.items() if k.startswith("gmail.") and not k.endswith(READS)}


def export_and_check_round_trip(env, tmp_path: Path) -> tuple[Path, str]:
    """export -o; plan on it is empty (exit code 0 with --exit-code); apply writes nothing."""
    exported = tmp_path / "exported" / "desk.yaml"
    exported.parent.mkdir()
    result = invoke(["export", "-o", str(exported), "--endpoint", env.url])
    assert "plan on the exported file is not empty" not in result.stderr
    common = ["-c", str(exported), "--endpoint", env.url]
    assert invoke(["plan", *common, "--exit-code"]).stdout == "No changes\n"
    env.control.reset_counters()
    assert invoke(["apply", "--yes", *common]).stdout == "No changes\n"
    assert writes(env) == {}
    return exported, result.stderr


def test_round_trip_of_the_example_desk_with_a_user_made_label_and_filter(env, tmp_path, gmail):
    invoke(["init", str(tmp_path / "desk")])
    gmail.settings().forwardingAddresses().create(
        userId="me", body={"forwardingEmail": "devteam@example.com"}
    ).execute()
    invoke(["apply", "--yes", "-c", str(tmp_path / "desk" / "desk.yaml"), "--endpoint", env.url])
    family = gmail.labels().create(userId="me", body={"name": "Family"}).execute()
    mine = (
        gmail.settings()
        .filters()
        .create(
            userId="me",
            body={
                "criteria": {"from": "mom@family.example"},
                "action": {"addLabelIds": [family["id"]], "removeLabelIds": ["INBOX"]},
            },
        )
        .execute()
    )
    before = gmail.settings().filters().list(userId="me").execute()["filter"]

    exported, _ = export_and_check_round_trip(env, tmp_path)

    text = exported.read_text()
    assert "made outside gmaildesk" in text and "mom@family.example" in text
    desk = load_desk(exported)
    assert [d.name for d in desk.departments] == ["Billing", "Sales", "Technical"]
    original = load_desk(tmp_path / "desk" / "desk.yaml")
    assert {d.name: d.query for d in desk.departments} == {d.name: d.query for d in original.departments}
    assert desk.statuses == original.statuses
    # Gmail sanitised the HTML body: the export holds Gmail's form, and the plan above is empty anyway.
    held = gmail.settings().getVacation(userId="me").execute()["responseBodyHtml"]
    assert desk.auto_ack.body_html == held != original.auto_ack.body_html
    assert dataclasses.replace(desk.auto_ack, body_html=None) == dataclasses.replace(original.auto_ack, body_html=None)
    assert {f.name for f in desk.filters} >= {f.name for f in original.filters}
    assert gmail.settings().filters().list(userId="me").execute()["filter"] == before
    record = json.loads((_state_file(env.url)).read_text())
    assert mine["id"] in {entry["id"] for entry in record["filters"].values()}, "apply adopts the user's filter"
    assert invoke(["test", "-c", str(exported)]).stdout == "No tests in desk.yaml.\n"


def _untouched_mailbox(gmail, sandbox) -> None:
    labels = gmail.labels()
    receipts = labels.create(
        userId="me", body={"name": "Receipts", "color": {"backgroundColor": "#16a766", "textColor": "#ffffff"}}
    ).execute()
    for parent in ("Clients", "Dept"):  # Gmail's UI makes the parent of a nested label too
        labels.create(userId="me", body={"name": parent}).execute()
    vip = labels.create(userId="me", body={"name": "Clients/VIP"}).execute()
    support = labels.create(userId="me", body={"name": "Dept/Support"}).execute()
    labels.create(userId="me", body={"name": "Status/Someday"}).execute()
    settings = gmail.settings()
    settings.forwardingAddresses().create(userId="me", body={"forwardingEmail": "colleague@example.com"}).execute()
    # Gmail validates an alias's SMTP server before creating it; the sandbox reaches registered hosts only.
    sandbox.control.register_smtp_hosts("support@example.com", ["smtp.example.com"])
    for body in (
        {
            "criteria": {"from": "billing@shop.example"},
            "action": {"addLabelIds": [receipts["id"]], "removeLabelIds": ["UNREAD", "INBOX"]},
        },
        {
            "criteria": {"query": 'to:help@example.com OR "urgent help" OR (has:attachment filename:pdf)'},
            "action": {"addLabelIds": [support["id"]]},
        },
        {
            "criteria": {"to": "vip@example.com", "negatedQuery": "list:news", "hasAttachment": True},
            "action": {"addLabelIds": [vip["id"], "STARRED", "CATEGORY_PERSONAL"], "removeLabelIds": ["SPAM"]},
        },
        {"criteria": {"size": 5000000, "sizeComparison": "larger"}, "action": {"removeLabelIds": ["IMPORTANT"]}},
        {"criteria": {"subject": "crash"}, "action": {"forward": "colleague@example.com"}},
        {"criteria": {"from": "spammer@junk.example"}, "action": {"addLabelIds": ["TRASH"]}},
    ):
        settings.filters().create(userId="me", body=body).execute()
    settings.updateVacation(
        userId="me",
        body={
            "enableAutoReply": True,
            "responseSubject": "Got it: {{ not a variable }}",
            "responseBodyPlainText": "Thanks!\r\nWe answer {% soon %} {# maybe #}.\n",
            "startTime": "1767225600123",
            "endTime": "1798761600000",
        },
    ).execute()
    settings.sendAs().create(
        userId="me",
        body={
            "sendAsEmail": "sales@example.com",
            "displayName": "Sales",
            "treatAsAlias": False,
            "signature": "<b>Sales</b> {{team}}",
            "smtpMsa": {
                "host": "smtp.example.com",
                "port": 465,
                "username": "sales",
                "password": "pw",
                "securityMode": "ssl",
            },
        },
    ).execute()
    settings.sendAs().patch(userId="me", sendAsEmail="support@example.com", body={"displayName": "Support"}).execute()


def test_round_trip_of_a_mailbox_gmaildesk_never_touched(env, tmp_path, gmail):
    _untouched_mailbox(gmail, env)

    exported, stderr = export_and_check_round_trip(env, tmp_path)

    text = exported.read_text()
    assert "managed: false" in text, "no status labels yet: the export must not create them"
    assert "password_env: SALES_SMTP_PASSWORD" in text and "never reveals the SMTP username or password" in text
    assert "Warning: not exported: filter from:(spammer@junk.example) -> add TRASH: it adds TRASH" in stderr
    desk = load_desk(exported)
    support = next(d for d in desk.departments if d.name == "Support")
    assert support.query == 'to:help@example.com OR "urgent help" OR (has:attachment filename:pdf)'
    assert desk.auto_ack.subject == "Got it: {{ not a variable }}"
    assert desk.auto_ack.body_text == "Thanks!\r\nWe answer {% soon %} {# maybe #}.\n"
    assert int(desk.auto_ack.start.timestamp() * 1000) == 1767225600123
    assert [s.address for s in desk.send_as] == ["support@example.com", "sales@example.com"]
    assert desk.send_as[1].signature == "<b>Sales</b> {{team}}" and desk.send_as[1].treat_as_alias is False
    assert len(desk.filters) == 4  # receipts, VIP, large mail, forward; the TRASH one is left out
    assert invoke(["test", "-c", str(exported)]).exit_code == 0


def test_managed_only_leaves_user_filters_out_and_still_plans_empty(env, tmp_path, gmail):
    _untouched_mailbox(gmail, env)
    exported = tmp_path / "desk.yaml"
    invoke(["export", "--managed-only", "-o", str(exported), "--endpoint", env.url])
    desk = load_desk(exported)
    assert desk.filters == () and [d.name for d in desk.departments] == ["Support"]
    assert invoke(["plan", "-c", str(exported), "--endpoint", env.url, "--exit-code"]).stdout == "No changes\n"


def test_export_to_stdout_is_the_same_text(env, tmp_path, gmail):
    _untouched_mailbox(gmail, env)
    invoke(["export", "-o", str(tmp_path / "desk.yaml"), "--endpoint", env.url])
    assert invoke(["export", "--endpoint", env.url]).stdout == (tmp_path / "desk.yaml").read_text()


def test_export_refuses_to_overwrite_before_any_call(env, tmp_path):
    target = tmp_path / "desk.yaml"
    target.write_text("mine\n")
    result = invoke(["export", "-o", str(target), "--endpoint", env.url], ExitCode.ERROR)
    assert result.stderr.splitlines() == [
        f"Error: {target} already exists",
        "Hint: pass --force to overwrite it, or choose another -o FILE",
    ]
    assert target.read_text() == "mine\n"
    assert env.control.counters()["total_calls"] == 0
    invoke(["export", "-o", str(target), "--force", "--endpoint", env.url])
    assert target.read_text().startswith("# desk.yaml exported by `gmaildesk export` from support@example.com.")


def test_a_nested_label_without_its_parent_exports_without_a_residue(env, gmail):
    # Gmail keeps `Orphan/Child` without `Orphan`; the exported desk must not want to create the parent.
    child = gmail.labels().create(userId="me", body={"name": "Orphan/Child"}).execute()
    gmail.settings().filters().create(
        userId="me", body={"criteria": {"from": "x@y.example"}, "action": {"addLabelIds": [child["id"]]}}
    ).execute()
    result = invoke(["export", "--endpoint", env.url])
    assert result.stderr == ""
    assert "Orphan/Child" in result.stdout


def test_renaming_a_filter_in_desk_yaml_keeps_it(env, tmp_path):
    desk = tmp_path / "desk.yaml"
    head = (
        "version: 1\nmailbox: support@example.com\nfilters:\n  - name: {}\n    match: {{from: a@b.example}}\n"
        "    actions: {{archive: true}}\n"
    )
    desk.write_text(head.format("old name"))
    invoke(["apply", "--yes", "-c", str(desk), "--endpoint", env.url])
    desk.write_text(head.format("new name"))
    assert invoke(["plan", "-c", str(desk), "--endpoint", env.url, "--allow-delete"]).stdout == "No changes\n"
    invoke(["apply", "--yes", "--allow-delete", "-c", str(desk), "--endpoint", env.url])
    record = json.loads((_state_file(env.url)).read_text())
    assert list(record["filters"]) == ["filter:new name"]


@pytest.mark.parametrize(
    "text",
    ["plain", "{{ x }}", "{%raw%}", "{# c #}", "{{{", "a\r\nb\n", "\n\n", "}} {", "end\n", "{{ '{{' }}", "{\r\n{"],
)
def test_escaped_templates_render_verbatim(tmp_path, text):
    desk = tmp_path / "desk.yaml"
    desk.write_text(
        "version: 1\nmailbox: support@example.com\nauto_ack:\n  subject: s\n  body_text: "
        + json.dumps(escape_template(text))
        + "\n  body_html: "
        + json.dumps(escape_template(text))
        + "\n"
    )
    ack = load_desk(desk).auto_ack
    assert (ack.body_text, ack.body_html) == (text, text)


@pytest.mark.parametrize(
    ("query", "routes"),
    [
        (
            'to:billing@example.com OR refund OR "credit card" OR subject:invoice',
            [{"to": "billing@example.com"}, {"words": ["refund", "credit card"]}, {"subject": "invoice"}],
        ),
        ("has:attachment filename:log", [{"query": "has:attachment filename:log"}]),
        ('(a OR b) OR from:"Ann Lee"', [{"query": "a OR b"}, {"from": "Ann Lee"}]),
        ("from:x to:y", [{"query": "from:x to:y"}]),  # AND inside: one raw query
    ],
)
def test_department_queries_map_back_to_routes(query, routes):
    assert routes_from_query(query) == routes
