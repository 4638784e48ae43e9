"""`gmaildesk plan` / `apply` through the CLI against the sandbox: errors before any call,
partial results, confirmation, the ownership record, the JSON shape."""

from __future__ import annotations

import json
import stat
from pathlib import Path

import pytest

from cli_run import invoke
from gmaildesk.cli import desk as desk_cli
from gmaildesk.errors import ExitCode

HEAD = "version: 1\nmailbox: support@example.com\n"
DESK = (
    HEAD
    + """\
departments:
  - name: Billing
    color: "#16a766"
    routes: [{to: billing@example.com}]
auto_ack:
  body_text: We answer within a day.
"""
)


@pytest.fixture
def env(sandbox, tmp_path, monkeypatch):
    monkeypatch.setenv("GMAILDESK_DATA_DIR", str(tmp_path / "data"))
    return sandbox


def _state_file(url: str) -> Path:
    """The ownership record of support@ on this sandbox (state is per endpoint and account)."""
    from gmaildesk.desk.ownership import state_path
    from gmaildesk.paths import Account

    return state_path(Account(url, "support@example.com"))


def write(tmp_path: Path, text: str) -> list[str]:
    path = tmp_path / "desk.yaml"
    path.write_text(text)
    return ["-c", str(path)]


def api_calls(sandbox) -> dict:
    return {k: v for k, v in sandbox.control.counters()["calls"].items() if k.startswith("gmail.")}


@pytest.mark.parametrize("command", [["plan"], ["apply", "--yes"]])
def test_a_bad_config_is_one_line_and_contacts_nothing(env, tmp_path, command):
    config = write(tmp_path, DESK.replace('"#16a766"', '"#123456"'))
    result = invoke([*command, *config, "--endpoint", env.url], ExitCode.ERROR)
    first = result.stderr.splitlines()[0]
    assert first == ("Error: desk.yaml:5: departments[0].color: '#123456' is not a Gmail label colour")
    assert result.stdout == ""
    assert api_calls(env) == {}


def test_vacation_is_written_once_across_repeated_applies(env, tmp_path):
    config = write(tmp_path, DESK)
    for _ in range(3):
        invoke(["apply", "--yes", *config, "--endpoint", env.url])
    assert api_calls(env)["gmail.users.settings.updateVacation"] == 1
    assert invoke(["apply", "--yes", *config, "--endpoint", env.url]).stdout == "No changes\n"


def test_send_as_refused_on_a_consumer_account_leaves_the_rest_applied(env, tmp_path, gmail):
    env.control.set_delegated("support@example.com", False)
    config = write(tmp_path, DESK + "send_as:\n  - address: billing@example.com\n    display_name: Billing\n")
    result = invoke(["apply", "--yes", *config, "--endpoint", env.url], ExitCode.PARTIAL)
    assert "Error: creating send-as billing@example.com: " in result.stderr
    assert "(HTTP 403)" in result.stderr
    assert "Hint: Creating or changing send-as aliases" in result.stderr and "--service-account" in result.stderr
    names = {label["name"] for label in gmail.labels().list(userId="me").execute()["labels"]}
    assert "Dept/Billing" in names
    assert len(gmail.settings().filters().list(userId="me").execute()["filter"]) == 1
    plan = invoke(["plan", *config, "--endpoint", env.url]).stdout
    assert plan.startswith("+ send-as billing@example.com")  # only the alias is still to do


def test_ownership_record_is_private_and_holds_no_secrets(env, tmp_path, monkeypatch):
    monkeypatch.setenv("BILLING_SMTP_PASSWORD", "s3cret-Passw0rd")
    config = write(
        tmp_path,
        DESK
        + """\
send_as:
  - address: billing@example.com
    smtp: {host: smtp.example.com, port: 587, username: billing@example.com, password_env: BILLING_SMTP_PASSWORD}
""",
    )
    env.control.register_smtp_hosts("support@example.com", ["smtp.example.com"])  # Gmail can reach it
    plan = invoke(["plan", *config, "--endpoint", env.url, "--json"]).stdout
    result = invoke(["apply", "--yes", *config, "--endpoint", env.url])
    state = _state_file(env.url)
    assert stat.S_IMODE(state.stat().st_mode) == 0o600
    text = state.read_text()
    for output in (text, plan, result.stdout, result.stderr):
        assert "s3cret" not in output
    record = json.loads(text)
    assert set(record) == {"version", "mailbox", "labels", "filters", "send_as", "written", "disowned"}
    assert record["version"] == 2
    assert record["send_as"] == ["billing@example.com"] and "department:Billing" in record["filters"]
    assert not any(word in text.lower() for word in ("token", "password", "secret"))


def test_a_missing_smtp_password_variable_stops_before_any_write(env, tmp_path, monkeypatch):
    monkeypatch.delenv("BILLING_SMTP_PASSWORD", raising=False)
    config = write(
        tmp_path,
        DESK
        + """\
send_as:
  - address: billing@example.com
    smtp: {host: smtp.example.com, username: billing@example.com, password_env: BILLING_SMTP_PASSWORD}
""",
    )
    result = invoke(["apply", "--yes", *config, "--endpoint", env.url], ExitCode.ERROR)
    assert result.stderr.splitlines()[0] == (
        "Error: send_as billing@example.com: the environment variable BILLING_SMTP_PASSWORD is not set; "
        "it holds the SMTP password"
    )
    writes = [k for k in api_calls(env) if not k.endswith((".list", ".getVacation"))]
    assert writes == []


def test_an_external_alias_comes_back_pending_with_what_to_do(env, tmp_path):
    config = write(tmp_path, HEAD + "send_as:\n  - address: help@acme-support.example\n")
    result = invoke(["apply", "--yes", *config, "--endpoint", env.url])
    assert (
        "Warning: send-as help@acme-support.example is waiting for verification: open the confirmation "
        "mail Gmail sent to help@acme-support.example and click its link"
    ) in result.stderr
    assert "Hint: On the sandbox: gmaildesk sandbox verify help@acme-support.example" in result.stderr
    assert (
        "! note: send-as help@acme-support.example is waiting"
        in invoke(["plan", *config, "--endpoint", env.url]).stdout
    )


def test_apply_without_yes_needs_a_terminal(env, tmp_path, monkeypatch):
    config = write(tmp_path, DESK)
    result = invoke(["apply", *config, "--endpoint", env.url], ExitCode.ERROR)
    assert "Error: apply needs confirmation, but stdin is not a terminal" in result.stderr
    assert "Hint: Review the changes with `gmaildesk plan`, then run `gmaildesk apply --yes`." in result.stderr
    monkeypatch.setattr(desk_cli, "_stdin_is_interactive", lambda: True)
    declined = invoke(["apply", *config, "--endpoint", env.url], ExitCode.ERROR, input="n\n")
    assert "Error: nothing was changed (not confirmed)" in declined.stderr
    assert "gmail.users.labels.create" not in api_calls(env)
    accepted = invoke(["apply", *config, "--endpoint", env.url], input="y\n")
    assert "Applied 11 of 11 changes." in accepted.stdout


def test_plan_exit_code_and_json_shape(env, tmp_path):
    config = write(tmp_path, DESK)
    invoke(["plan", *config, "--endpoint", env.url, "--exit-code"], ExitCode.PLAN_HAS_CHANGES)
    document = json.loads(invoke(["plan", *config, "--endpoint", env.url, "--json"]).stdout)
    assert set(document) == {"version", "kind", "changes", "refused", "notes"} and document["version"] == 1
    assert document["changes"][0] == {
        "kind": "label",
        "action": "create",
        "name": "Dept",
        "before": None,
        "after": {"color": None},
    }
    billing = next(c for c in document["changes"] if c["kind"] == "filter")
    assert billing == {
        "kind": "filter",
        "action": "create",
        "name": "department:Billing",
        "before": None,
        "after": {
            "criteria": {"query": "to:billing@example.com"},
            "action": {"addLabels": ["Dept/Billing"], "removeLabels": []},
        },
    }
    assert {c["kind"] for c in document["changes"]} == {"label", "filter", "vacation"}
    invoke(["apply", "--yes", *config, "--endpoint", env.url])
    invoke(["plan", *config, "--endpoint", env.url, "--exit-code"])


def test_an_identical_user_filter_is_adopted_not_duplicated(env, tmp_path, gmail):
    config = write(tmp_path, DESK)
    invoke(["apply", "--yes", *config, "--endpoint", env.url])
    state = _state_file(env.url)
    state.unlink()  # a new machine: nothing recorded
    assert invoke(["plan", *config, "--endpoint", env.url]).stdout == "No changes\n"
    invoke(["apply", "--yes", *config, "--endpoint", env.url])
    assert "department:Billing" in json.loads(state.read_text())["filters"]
    assert len(gmail.settings().filters().list(userId="me").execute()["filter"]) == 1


FAILING_TEST = (
    DESK
    + """\
tests:
  - name: billing mail
    message: {from: ann@customer.example, to: billing@example.com}
    labels: [Dept/Billing]
  - name: wrongly expects Billing
    message: {from: bob@customer.example, subject: hello}
    labels: [Dept/Billing]
"""
)


def test_config_tests_run_offline(tmp_path):
    result = invoke(["test", *write(tmp_path, FAILING_TEST)], ExitCode.ERROR)
    assert result.stdout == ("ok    billing mail\nFAIL  wrongly expects Billing: expected ['Dept/Billing'], got []\n")
    assert result.stderr == "Error: 1 of 2 config tests failed\nHint: fix the filters or the tests in desk.yaml\n"
    passing = FAILING_TEST.replace("    labels: [Dept/Billing]\n", "    labels: []\n", 2).replace(
        "    labels: []\n", "    labels: [Dept/Billing]\n", 1
    )
    assert invoke(["test", *write(tmp_path, passing)]).stdout.endswith("2 passed.\n")


def test_apply_runs_the_config_tests_first(env, tmp_path):
    config = write(tmp_path, FAILING_TEST)
    result = invoke(["apply", "--yes", *config, "--endpoint", env.url], ExitCode.ERROR)
    assert "FAIL  wrongly expects Billing" in result.stderr
    assert "Error: 1 of 2 config tests failed; nothing was applied" in result.stderr
    assert api_calls(env) == {}
    invoke(["apply", "--yes", "--skip-tests", *config, "--endpoint", env.url])
