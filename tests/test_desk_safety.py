"""The desk engine against a Gmail that is not kind: it normalises what we write, it shares ids
between accounts, it refuses the 1,001st filter with a 500, it loses answers, and two people
may run apply at once. Everything through the CLI or the real client against the sandbox."""

from __future__ import annotations

import errno
import json
import os
import stat
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httplib2
import pytest
from googleapiclient.discovery import build
from googleapiclient.http import BatchHttpRequest

from cli_run import invoke
from gmaildesk.config import load_desk
from gmaildesk.desk import apply as desk_apply
from gmaildesk.desk import plan as desk_plan
from gmaildesk.desk import read
from gmaildesk.desk.ownership import Ownership, state_path
from gmaildesk.errors import ExitCode, GmailDeskError
from gmaildesk.gmail.api import HttpGmailApi
from gmaildesk.gmail.connection import client_for_http, new_http
from gmaildesk.gmail.retry import RetryPolicy
from gmaildesk.lock import AccountLock, lock_path
from gmaildesk.paths import Account
from gmaildesk.sandbox import running_sandbox

SUPPORT = "support@example.com"
SMALL = """\
version: 1
mailbox: support@example.com
departments:
  - name: Billing
    routes: [{to: billing@example.com}]
"""


@pytest.fixture
def env(sandbox, tmp_path, monkeypatch):
    monkeypatch.setenv("GMAILDESK_DATA_DIR", str(tmp_path / "data"))
    return sandbox


def gmail_calls(sandbox) -> dict:
    return {k: v for k, v in sandbox.control.counters()["calls"].items() if k.startswith("gmail.")}


def gmail_writes(sandbox) -> dict:
    reads = (".list", ".get", ".getVacation", ".getProfile")
    return {k: v for k, v in gmail_calls(sandbox).items() if not k.endswith(reads)}


def record_of(url: str) -> dict:
    return json.loads(state_path(Account(url, SUPPORT)).read_text())


def write(tmp_path: Path, text: str, name: str = "desk.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def example_desk(tmp_path: Path, gmail) -> Path:
    """`gmaildesk init` in tmp_path/desk; the forwarding address its crash filter needs."""
    invoke(["init", str(tmp_path / "desk")])
    gmail.settings().forwardingAddresses().create(
        userId="me", body={"forwardingEmail": "devteam@example.com"}
    ).execute()
    return tmp_path / "desk" / "desk.yaml"


def no_sleep_client(url: str, http=None):
    return client_for_http(http or new_http(url), url, RetryPolicy(sleep=lambda seconds: None))


# --- 9. desired vs Gmail's form ------------------------------------------------------------------


def test_golden_gmail_sanitises_the_example_desk_and_apply_writes_the_responder_once(env, tmp_path, gmail):
    config = example_desk(tmp_path, gmail)
    common = ["-c", str(config), "--endpoint", env.url]
    invoke(["apply", "--yes", *common])
    desk = load_desk(config)
    stored = gmail.settings().getVacation(userId="me").execute()
    assert stored["responseBodyHtml"] != desk.auto_ack.body_html, "the sandbox must sanitise, as Gmail does"
    support = gmail.settings().sendAs().get(userId="me", sendAsEmail=SUPPORT).execute()
    assert support["signature"] != desk.send_as[0].signature, "signatures are sanitised too"

    for _ in range(5):
        assert invoke(["apply", "--yes", *common]).stdout == "No changes\n"
    assert invoke(["plan", "--exit-code", *common]).stdout == "No changes\n"
    calls = gmail_calls(env)
    assert calls["gmail.users.settings.updateVacation"] == 1  # every write would re-acknowledge every customer
    assert calls["gmail.users.settings.sendAs.patch"] == 1
    assert calls["gmail.users.settings.filters.create"] == 6

    # Someone edits the responder in Gmail: the plan shows exactly that, and nothing Gmail normalised.
    gmail.settings().updateVacation(userId="me", body={**stored, "responseSubject": "Back on Monday"}).execute()
    shown = invoke(["plan", "--exit-code", *common], ExitCode.PLAN_HAS_CHANGES).stdout
    assert shown == (
        "~ vacation\n"
        '    responseSubject: "Back on Monday" -> (unset)\n'
        "Plan: 0 to create, 1 to change, 0 to delete, 0 refused.\n"
    )
    as_json = json.loads(invoke(["plan", "--json", *common]).stdout)
    assert as_json["changes"] == [
        {
            "kind": "vacation",
            "action": "update",
            "name": "vacation",
            "before": {"responseSubject": "Back on Monday"},
            "after": {"responseSubject": None},
        }
    ]
    invoke(["apply", "--yes", *common])
    assert invoke(["plan", "--exit-code", *common]).stdout == "No changes\n"
    assert gmail_calls(env)["gmail.users.settings.updateVacation"] == 3  # ours, the hand edit, ours


def test_a_changed_template_is_still_written_after_gmail_sanitised_the_last_one(env, tmp_path, gmail):
    config = example_desk(tmp_path, gmail)
    common = ["-c", str(config), "--endpoint", env.url]
    invoke(["apply", "--yes", *common])
    html = config.parent / "templates" / "ack.html.j2"
    html.write_text(html.read_text().replace("a person will answer it", "a person answers it today"))
    shown = invoke(["plan", *common]).stdout
    assert shown.splitlines()[:2] == [
        "~ vacation",
        "    responseBodyHtml: changed, " + shown.splitlines()[1].split("changed, ")[1],
    ]
    assert all(line.startswith("      ") for line in shown.splitlines()[2:-1])  # the diff of the body
    assert "a person answers it today" in shown and shown.splitlines()[-1].startswith("Plan: ")
    invoke(["apply", "--yes", *common])
    assert invoke(["plan", "--exit-code", *common]).stdout == "No changes\n"


def test_a_hand_edited_signature_shows_as_exactly_that_change(env, tmp_path, gmail):
    config = example_desk(tmp_path, gmail)
    common = ["-c", str(config), "--endpoint", env.url]
    invoke(["apply", "--yes", *common])
    gmail.settings().sendAs().patch(userId="me", sendAsEmail=SUPPORT, body={"signature": "<i>Ann</i>"}).execute()
    shown = invoke(["plan", *common]).stdout.splitlines()
    assert shown[0].startswith(f"~ send-as {SUPPORT}  signature (10 characters) -> (")
    assert shown[1:4] == ["      --- signature (in Gmail)", "      +++ signature (desk.yaml)", "      @@ -1 +1,4 @@"]
    assert shown[4] == "      -<i>Ann</i>" and shown[-1].startswith("Plan: ")
    invoke(["apply", "--yes", *common])
    assert invoke(["plan", "--exit-code", *common]).stdout == "No changes\n"


def test_filter_criteria_and_label_names_gmail_trims_are_not_changes(env, tmp_path, gmail):
    config = write(
        tmp_path,
        SMALL.replace("Billing", "Billing  Team")
        + """\
filters:
  - name: crashes
    match: {subject: "  app   crash "}
    actions: {labels: [Crashes]}
""",
    )
    common = ["-c", str(config), "--endpoint", env.url]
    invoke(["apply", "--yes", *common])
    names = {label["name"] for label in gmail.labels().list(userId="me").execute()["labels"]}
    assert "Dept/Billing Team" in names and "Dept/Billing  Team" not in names  # Gmail's form of the name
    subjects = [f["criteria"].get("subject") for f in gmail.settings().filters().list(userId="me").execute()["filter"]]
    assert "app crash" in subjects
    for _ in range(3):
        assert invoke(["apply", "--yes", *common]).stdout == "No changes\n"
    assert invoke(["plan", "--exit-code", *common]).stdout == "No changes\n"
    calls = gmail_calls(env)
    assert calls["gmail.users.settings.filters.create"] == 2 and calls["gmail.users.labels.create"] == 10
    assert "gmail.users.settings.filters.delete" not in calls
    # Renaming the filter's key keeps the filter Gmail stored (no delete and re-create).
    write(tmp_path, config.read_text().replace("name: crashes", "name: app crashes"))
    assert invoke(["plan", "--allow-delete", *common]).stdout == "No changes\n"


def test_a_version_1_record_is_read_and_rewritten_as_version_2(env, tmp_path, gmail):
    config = write(tmp_path, SMALL)
    common = ["-c", str(config), "--endpoint", env.url]
    invoke(["apply", "--yes", *common])
    path = state_path(Account(env.url, SUPPORT))
    v2 = json.loads(path.read_text())
    v1 = {
        "version": 1,
        "mailbox": SUPPORT,
        "labels": {v["name"]: i for i, v in v2["labels"].items()},
        "filters": {k: {"id": v["id"], "hash": v["hash"]} for k, v in v2["filters"].items()},
        "send_as": [],
    }
    path.write_text(json.dumps(v1))
    assert invoke(["plan", "--exit-code", *common]).stdout == "No changes\n"
    write(tmp_path, SMALL.replace("Billing", "Sales"))
    invoke(["apply", "--yes", "--allow-delete", *common])
    names = {label["name"] for label in gmail.labels().list(userId="me").execute()["labels"]}
    assert "Dept/Billing" not in names and "Dept/Sales" in names  # the v1 record still proves ownership
    assert json.loads(path.read_text())["version"] == 2


# --- 12. state belongs to an account ---------------------------------------------------------------


def test_a_rehearsal_record_never_deletes_another_accounts_labels(env, tmp_path, gmail):
    config = write(tmp_path, SMALL + "  - name: Sales\n    routes: [{to: sales@example.com}]\n")
    invoke(["apply", "--yes", "-c", str(config), "--endpoint", env.url])  # the rehearsal
    rehearsal = record_of(env.url)
    sales_id = next(i for i, v in rehearsal["labels"].items() if v["name"] == "Dept/Sales")
    dropped = write(tmp_path, SMALL, "dropped.yaml")
    invoke(["plan", "-c", str(dropped), "--endpoint", env.url, "--allow-delete"])  # Sales would go, here

    with running_sandbox(users=(SUPPORT,), validate_responses=True) as real:
        users = build(
            "gmail",
            "v1",
            http=httplib2.Http(timeout=30),
            static_discovery=True,
            client_options={"api_endpoint": real.url},
        ).users()
        own = [users.labels().create(userId="me", body={"name": f"Family {n}"}).execute() for n in range(12)]
        assert sales_id in {label["id"] for label in own}, "the second account has a label with the same id"

        # Default state: the second account has a record of its own; its first plan deletes nothing.
        first = invoke(["apply", "--yes", "--allow-delete", "-c", str(dropped), "--endpoint", real.url]).stdout
        assert "- label" not in first
        # Even a rehearsal record handed over by hand (--state) deletes nothing: the names differ.
        leaked = tmp_path / "leaked.json"
        leaked.write_text(json.dumps({**rehearsal}))
        shown = invoke(
            ["apply", "--yes", "--allow-delete", "--state", str(leaked), "-c", str(dropped), "--endpoint", real.url]
        ).stdout
        assert "- label" not in shown
        assert f"! note: label {sales_id} was 'Dept/Sales' when gmaildesk made it and is now " in shown
        left = {label["id"]: label["name"] for label in users.labels().list(userId="me").execute()["labels"]}
        assert all(left.get(label["id"]) == label["name"] for label in own), "a label of the second account changed"
        calls = real.control.counters()["calls"]
        assert "gmail.users.labels.delete" not in calls and "gmail.users.labels.patch" not in calls
        assert sales_id not in json.loads(leaked.read_text())["labels"], "the renamed id is forgotten"
        assert real.control.counters()["schema_violations"] == []


def test_a_desk_for_another_mailbox_is_refused_before_any_write(tmp_path, monkeypatch):
    monkeypatch.setenv("GMAILDESK_DATA_DIR", str(tmp_path / "data"))
    config = write(tmp_path, SMALL)
    with running_sandbox(users=("someone@example.com", SUPPORT), validate_responses=True) as other:
        for command in (["plan"], ["apply", "--yes"]):
            result = invoke([*command, "-c", str(config), "--endpoint", other.url], ExitCode.USAGE)
            assert result.stderr.splitlines()[0] == (
                f"Error: desk.yaml is for {SUPPORT} but the connection reaches someone@example.com "
                f"(the account someone@example.com on the sandbox at {other.url})"
            )
            assert "Traceback" not in result.stderr
        calls = other.control.counters()["calls"]
        assert not any(k.endswith((".create", ".patch", ".update", ".delete", ".updateVacation")) for k in calls)
        assert not (tmp_path / "data").exists() or not any((tmp_path / "data").rglob("desk-state.json"))


# --- 13. a nested label without its parent ----------------------------------------------------------


def test_a_nested_label_without_its_parent_round_trips_to_an_empty_plan(env, tmp_path, gmail):
    child = gmail.labels().create(userId="me", body={"name": "Vendors/Stripe"}).execute()
    gmail.settings().filters().create(
        userId="me", body={"criteria": {"from": "@stripe.com"}, "action": {"addLabelIds": [child["id"]]}}
    ).execute()
    exported = tmp_path / "exported.yaml"
    result = invoke(["export", "-o", str(exported), "--endpoint", env.url])
    assert "not empty" not in result.stderr
    assert invoke(["plan", "--exit-code", "-c", str(exported), "--endpoint", env.url]).stdout == "No changes\n"
    by_hand = write(
        tmp_path,
        SMALL + 'filters:\n  - name: stripe\n    match: {from: "@stripe.com"}\n'
        "    actions: {labels: [Vendors/Stripe]}\n",
    )
    shown = invoke(["plan", "-c", str(by_hand), "--endpoint", env.url]).stdout
    assert "label Vendors\n" not in shown and "+ label Vendors/Stripe" not in shown
    assert "+ label Dept\n" in shown and "+ label Dept/Billing\n" in shown  # a new child brings its parent


# --- 6. Gmail's limits -------------------------------------------------------------------------------


def test_gmails_1000_filter_limit_is_refused_before_writing_and_a_500_there_is_not_retried(env, tmp_path, gmail):
    _fill_filters(env, gmail, 995)
    desk = (
        SMALL
        + "filters:\n"
        + "".join(
            f"  - name: f{n}\n    match: {{from: new{n}@x.example}}\n    actions: {{archive: true}}\n" for n in range(9)
        )
    )
    config = write(tmp_path, desk)
    before = gmail_writes(env)
    result = invoke(["apply", "--yes", "-c", str(config), "--endpoint", env.url], ExitCode.ERROR)
    assert result.stderr.splitlines()[0] == (
        "Error: the mailbox has 995 filters and this plan adds 10: Gmail allows at most 1,000 filters"
    )
    assert gmail_writes(env) == before, "nothing was written"
    invoke(["plan", "-c", str(config), "--endpoint", env.url], ExitCode.ERROR)

    # A plan that fits, then the mailbox fills up before apply: Gmail's 500 is retried once, not 7 times.
    config = write(
        tmp_path, SMALL + "filters:\n  - name: one\n    match: {from: one@x.example}\n    actions: {archive: true}\n"
    )
    _fill_filters(env, gmail, 3, start=995)
    api = HttpGmailApi(no_sleep_client(env.url))
    desk_obj = load_desk(config)
    record = Ownership.load(tmp_path / "state.json", SUPPORT)
    the_plan = desk_plan.build(desk_obj, read.current(api), record)
    assert [c.action for c in the_plan.filters] == ["create", "create"]
    _fill_filters(env, gmail, 1, start=998)  # 999 + the department filter = 1,000
    creates_before = gmail_calls(env)["gmail.users.settings.filters.create"]
    result = desk_apply.execute(the_plan, api, record)
    creates = gmail_calls(env)["gmail.users.settings.filters.create"] - creates_before
    assert creates == 1 + desk_apply.FILTER_CREATE_ATTEMPTS  # one made, then the 1,001st tried twice
    assert result.status == "partial"
    assert result.failures[0].message.startswith(
        "creating filter filter:one: Gmail allows at most 1,000 filters and the mailbox has 1000"
    )


def _fill_filters(env, gmail, count: int, start: int = 0) -> None:
    """Filters made by someone else, through the real client in batches of 50."""
    settings = gmail.settings().filters()
    for first in range(start, start + count, 50):
        batch = BatchHttpRequest(batch_uri=env.url + "batch/gmail/v1")
        for n in range(first, min(first + 50, start + count)):
            batch.add(
                settings.create(
                    userId="me",
                    body={"criteria": {"from": f"user{n}@old.example"}, "action": {"removeLabelIds": ["INBOX"]}},
                )
            )
        batch.execute(http=httplib2.Http(timeout=30))


def test_gmails_10000_label_limit_is_refused_in_the_plan():
    desk = load_desk_text(SMALL)
    labels = tuple({"id": f"Label_{n}", "name": f"Old {n}", "type": "user"} for n in range(9_999))
    current = read.Current(labels=labels, filters=(), vacation={}, send_as=())
    with pytest.raises(GmailDeskError) as refused:
        desk_plan.build(desk, current, Ownership(Path("unused.json"), SUPPORT))
    assert refused.value.message == (
        "the mailbox has 9999 labels and this plan adds 9: Gmail allows at most 10,000 labels"
    )
    fits = read.Current(labels=labels[:9_000], filters=(), vacation={}, send_as=())
    assert len(desk_plan.build(desk, fits, Ownership(Path("unused.json"), SUPPORT)).labels) == 9


def load_desk_text(text: str):
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "desk.yaml"
        path.write_text(text)
        return load_desk(path)


def test_an_smtp_alias_gmail_cannot_validate_says_what_to_check(env, tmp_path, monkeypatch):
    monkeypatch.setenv("BILLING_SMTP_PASSWORD", "pw")
    config = write(
        tmp_path,
        SMALL
        + """\
send_as:
  - address: billing@example.com
    smtp: {host: smtp.example.com, port: 587, username: billing, security: starttls,
           password_env: BILLING_SMTP_PASSWORD}
""",
    )
    result = invoke(["apply", "--yes", "-c", str(config), "--endpoint", env.url], ExitCode.PARTIAL)
    errors = [line for line in result.stderr.splitlines() if line.startswith(("Error", "Hint"))]
    assert errors[0].startswith("Error: creating send-as billing@example.com: ") and "(HTTP 400)" in errors[0]
    assert errors[1] == (
        "Hint: Gmail connects to the SMTP server before it creates the alias, and that failed: "
        "check smtp.host (smtp.example.com), smtp.port (587), smtp.security (starttls: ssl for "
        "port 465, starttls for 587), smtp.username (billing) and the password in "
        "$BILLING_SMTP_PASSWORD"
    )
    assert "pw" not in result.stderr.split()
    env.control.register_smtp_hosts(SUPPORT, ["smtp.example.com:587"])
    invoke(["apply", "--yes", "-c", str(config), "--endpoint", env.url])


# --- issue 9, item 5: concurrency -----------------------------------------------------------------


def test_a_second_apply_stops_at_once_while_the_account_is_locked(env, tmp_path):
    config = write(tmp_path, SMALL)
    with AccountLock(Account(env.url, SUPPORT), "sweep"):
        result = invoke(["apply", "--yes", "-c", str(config), "--endpoint", env.url], ExitCode.LOCKED)
        assert result.stderr.splitlines()[0].startswith(
            f"Error: another gmaildesk run is working on {SUPPORT} on the sandbox at {env.url}"
        )
    assert gmail_writes(env) == {}
    invoke(["apply", "--yes", "-c", str(config), "--endpoint", env.url])  # the lock was released


def test_two_applies_at_once_the_second_exits_7_and_the_first_completes(env, tmp_path):
    config = write(tmp_path, SMALL)
    env.control.set_faults(latency_ms=60)  # the first apply takes a while: ~12 round trips
    first = subprocess.Popen(
        [sys.executable, "-m", "gmaildesk", "apply", "--yes", "-c", str(config), "--endpoint", env.url],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ},
    )
    lock_file = lock_path(Account(env.url, SUPPORT))
    deadline = time.monotonic() + 20
    while not (lock_file.exists() and "apply" in lock_file.read_text()):
        assert first.poll() is None and time.monotonic() < deadline, "the first apply never took the lock"
        time.sleep(0.02)
    second = invoke(["apply", "--yes", "-c", str(config), "--endpoint", env.url], ExitCode.LOCKED)
    assert "another gmaildesk run is working on" in second.stderr and second.stdout == ""
    out, err = first.communicate(timeout=60)
    assert first.returncode == 0, err
    env.control.clear_faults()
    calls = gmail_calls(env)
    assert calls["gmail.users.labels.create"] == 9 and calls["gmail.users.settings.filters.create"] == 1
    assert len(record_of(env.url)["labels"]) == 9
    assert invoke(["plan", "--exit-code", "-c", str(config), "--endpoint", env.url]).stdout == "No changes\n"


class AnswerLostOnce(httplib2.Http):
    """Gmail did the labels.create of *name*, but its answer never arrived (connection reset)."""

    def __init__(self, name: str):
        super().__init__(timeout=30)
        self.name = name
        self.lost = 0

    def request(self, uri, method="GET", body=None, headers=None, *args, **kwargs):
        answer = super().request(uri, method, body, headers, *args, **kwargs)
        creates_it = (
            method == "POST" and uri.split("?")[0].endswith("/labels") and json.loads(body)["name"] == self.name
        )
        if creates_it and not self.lost:
            self.lost += 1
            raise ConnectionResetError(errno.ECONNRESET, "Connection reset by peer")
        return answer


@pytest.mark.parametrize("lost", ["Dept", "Status/New"])  # without and with a colour
def test_a_label_create_whose_answer_was_lost_is_adopted_on_the_409(env, tmp_path, gmail, lost):
    http = AnswerLostOnce(lost)
    client = no_sleep_client(env.url, http)
    api = HttpGmailApi(client)
    desk = load_desk_text(SMALL)
    record = Ownership.load(tmp_path / "state.json", SUPPORT)
    result = desk_apply.execute(desk_plan.build(desk, read.current(api), record), api, record)
    assert http.lost == 1 and result.status == "ok", result.failures
    assert client.stats.retries == 1
    labels = {label["name"]: label["id"] for label in gmail.labels().list(userId="me").execute()["labels"]}
    saved = json.loads((tmp_path / "state.json").read_text())
    assert saved["labels"][labels[lost]] == {"name": lost}, "the label the lost answer made is recorded as ours"
    assert len(saved["labels"]) == 9
    assert desk_plan.build(desk, read.current(api), Ownership.load(tmp_path / "state.json", SUPPORT)).is_empty()


def test_a_409_without_a_retry_is_someone_elses_label_and_not_adopted(env, tmp_path, gmail):
    api = HttpGmailApi(no_sleep_client(env.url))
    desk = load_desk_text(SMALL)
    record = Ownership.load(tmp_path / "state.json", SUPPORT)
    the_plan = desk_plan.build(desk, read.current(api), record)
    gmail.labels().create(userId="me", body={"name": "Dept"}).execute()  # a colleague, just now
    result = desk_apply.execute(the_plan, api, record)
    assert result.failures[0].message.startswith("creating label 'Dept': Label name exists or conflicts (HTTP 409")
    assert "Dept" not in {v["name"] for v in json.loads((tmp_path / "state.json").read_text())["labels"].values()}


# --- the ownership file and the disk ------------------------------------------------------------------


def test_the_record_is_0600_in_a_0700_folder(env, tmp_path):
    invoke(["apply", "--yes", "-c", str(write(tmp_path, SMALL)), "--endpoint", env.url])
    path = state_path(Account(env.url, SUPPORT))
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    shared = tmp_path / "shared"
    shared.mkdir(mode=0o755)
    shared.chmod(0o755)
    invoke(
        [
            "apply",
            "--yes",
            "-c",
            str(tmp_path / "desk.yaml"),
            "--ownership",
            str(shared / "s.json"),
            "--endpoint",
            env.url,
        ]
    )
    assert stat.S_IMODE((shared / "s.json").stat().st_mode) == 0o600
    assert stat.S_IMODE(shared.stat().st_mode) == 0o755, "a folder given with --ownership keeps its mode"


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("{not json", "is damaged: not valid JSON (line 1)"),
        ('{"version": 9, "labels": {}}', "is version 9, written by a newer gmaildesk (this one reads up to version 2)"),
        ('{"version": 2, "labels": {"Label_1": 5}}', "is damaged (TypeError: "),
        ("[1, 2]", 'is not a gmaildesk ownership record (no known "version")'),
    ],
)
def test_a_bad_record_is_one_line_naming_the_file_and_nothing_is_written(env, tmp_path, content, message):
    state = write(tmp_path, content, "state.json")
    for command in (["plan"], ["apply", "--yes"]):
        result = invoke(
            [*command, "-c", str(write(tmp_path, SMALL)), "--state", str(state), "--endpoint", env.url], ExitCode.ERROR
        )
        assert result.stderr.splitlines()[0].startswith(
            f"Error: the ownership record {state} {message}"
            if "not a gmaildesk" not in message
            else f"Error: {state} {message}"
        )
        assert result.stderr.splitlines()[1].startswith("Hint: ")
    assert gmail_writes(env) == {} and state.read_text() == content


def test_a_record_in_an_unusable_place_stops_apply_before_any_write(env, tmp_path):
    blocker = write(tmp_path, "a file, not a folder\n", "blocker")
    config = str(write(tmp_path, SMALL))
    result = invoke(
        ["apply", "--yes", "-c", config, "--ownership", str(blocker / "state.json"), "--endpoint", env.url],
        ExitCode.USAGE,
    )
    assert result.stderr.splitlines() == [
        f"Error: --ownership {blocker}/state.json: {blocker} is a file, not a folder",
        "Hint: choose another --ownership FILE",
    ]
    assert gmail_writes(env) == {}


def test_a_record_in_a_missing_folder_is_an_error_and_the_folder_is_never_created(env, tmp_path):
    """Only the data dir is created unasked (issue 11): a folder the user names must exist."""
    config = str(write(tmp_path, SMALL))
    missing = tmp_path / "no" / "dir"
    for command in (["plan", "-c", config], ["apply", "--yes", "-c", config], ["export"]):
        result = invoke([*command, "--ownership", str(missing / "o.json"), "--endpoint", env.url], ExitCode.USAGE)
        assert result.stderr.splitlines() == [
            f"Error: --ownership {missing / 'o.json'}: the folder {missing} does not exist",
            f"Hint: create it first (mkdir -p {missing}), or choose another --ownership FILE",
        ]
    assert not (tmp_path / "no").exists()
    assert env.control.counters()["calls"] == {}, "refused before Gmail is asked anything"


def test_a_full_disk_stops_apply_before_any_write_and_keeps_the_old_record(env, tmp_path, monkeypatch):
    config = write(tmp_path, SMALL)
    state = tmp_path / "state.json"
    invoke(["apply", "--yes", "-c", str(config), "--state", str(state), "--endpoint", env.url])
    before, writes_before = state.read_text(), gmail_writes(env)
    write(tmp_path, SMALL + "  - name: Sales\n    routes: [{to: sales@example.com}]\n")

    def disk_full(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr("gmaildesk.desk.ownership.os.replace", disk_full)
    result = invoke(["apply", "--yes", "-c", str(config), "--state", str(state), "--endpoint", env.url], ExitCode.ERROR)
    assert result.stderr.splitlines()[0].startswith(
        f"Error: cannot write the ownership record {state}: No space left on device"
    )
    assert result.stderr.splitlines()[1] == f"Hint: free space on the disk holding {tmp_path}, then run apply again"
    assert gmail_writes(env) == writes_before and state.read_text() == before
    assert not list(tmp_path.glob(".desk-state-*")), "no temporary file left behind"


# --- 14. the acknowledgement's subject --------------------------------------------------------------


def test_a_subject_on_the_acknowledgement_is_warned_about_by_test_plan_and_apply(env, tmp_path, gmail):
    config = write(tmp_path, SMALL + "auto_ack:\n  subject: We got your message\n  body_text: Thanks.\n")
    warning = (
        "Warning: desk.yaml:7: auto_ack.subject: with a subject Gmail sends the acknowledgement as a separate email"
    )
    for command in (["test"], ["plan", "--endpoint", env.url], ["apply", "--yes", "--endpoint", env.url]):
        result = invoke([*command, "-c", str(config)])
        assert result.stderr.splitlines()[0].startswith(warning), command
        assert warning not in result.stdout
    example = example_desk(tmp_path, gmail)
    assert load_desk(example).auto_ack.subject == "", "the example desk replies inside the conversation"
    for command in (["test"], ["plan", "--endpoint", env.url]):
        assert "Warning" not in invoke([*command, "-c", str(example)]).stderr


def test_a_label_someone_renamed_is_not_ours_even_under_the_department_prefix(env, tmp_path, gmail):
    both = SMALL + "  - name: Sales\n    routes: [{to: sales@example.com}]\n"
    config = write(tmp_path, both)
    common = ["-c", str(config), "--endpoint", env.url]
    invoke(["apply", "--yes", *common])
    sales = next(
        label for label in gmail.labels().list(userId="me").execute()["labels"] if label["name"] == "Dept/Sales"
    )
    gmail.labels().patch(userId="me", id=sales["id"], body={"name": "Dept/Sales 2025"}).execute()
    write(tmp_path, SMALL)
    shown = invoke(["apply", "--yes", "--allow-delete", *common]).stdout
    assert (
        f"! note: label {sales['id']} was 'Dept/Sales' when gmaildesk made it and is now 'Dept/Sales 2025': "
        f"not gmaildesk's any more, left alone" in shown
    )
    assert "- label" not in shown
    again = invoke(["apply", "--yes", "--allow-delete", *common]).stdout
    assert again == "No changes\n", "left alone for good, not only on the run that noticed"
    names = {label["name"] for label in gmail.labels().list(userId="me").execute()["labels"]}
    assert "Dept/Sales 2025" in names
    assert record_of(env.url)["disowned"] == {sales["id"]: "Dept/Sales 2025"}


def test_a_forward_to_an_unverified_address_fails_with_the_way_to_verify_it(env, tmp_path):
    """Gmail answers 400 failedPrecondition (mbrt/gmailctl#56); apply adds the hint by that status
    and reason, not by the wording of the message."""
    desk = load_desk_text(
        SMALL + "filters:\n  - name: crash\n    match: {subject: crash}\n"
        "    actions: {forward: dev@elsewhere.example}\n"
    )
    api = HttpGmailApi(no_sleep_client(env.url))
    record = Ownership.load(tmp_path / "state.json", SUPPORT)
    result = desk_apply.execute(desk_plan.build(desk, read.current(api), record), api, record)
    assert result.status == "partial"
    (failure,) = result.failures
    assert failure.message.startswith("creating filter filter:crash: Unrecognized forwarding address (HTTP 400")
    assert failure.hints[-1] == desk_apply.FORWARD_HINT.format(address="dev@elsewhere.example")


def test_refusals_are_a_partition_of_the_changes():
    """Each deletion is made or refused, never both: --allow-delete first, then a label a foreign
    filter still uses (the filter's own deletion goes ahead)."""
    desk = load_desk_text(SMALL)
    labels = (
        {"id": "Label_1", "name": "Dept/Billing", "type": "user"},
        {"id": "Label_2", "name": "Dept/Old", "type": "user"},
        {"id": "Label_3", "name": "Dept/Gone", "type": "user"},
    )
    foreign = {"id": "f1", "criteria": {"from": "x@example.com"}, "action": {"addLabelIds": ["Label_2"]}}
    current = read.Current(labels=labels, filters=(foreign,), vacation={}, send_as=())
    record = Ownership(Path("unused.json"), SUPPORT)
    kept = desk_plan.build(desk, current, record)
    assert [(r.change.name, r.reason) for r in kept.refused] == [
        ("Dept/Gone", "deleting needs --allow-delete"),
        ("Dept/Old", "deleting needs --allow-delete"),
    ]
    assert not any(c.action == "delete" for c in kept.changes())
    allowed = desk_plan.build(desk, current, record, allow_delete=True)
    assert [(r.change.name, r.reason) for r in allowed.refused] == [
        ("Dept/Old", "filter from:(x@example.com) -> label Dept/Old still uses it")
    ]
    assert [(c.action, c.name) for c in allowed.labels if c.action == "delete"] == [("delete", "Dept/Gone")]
