"""Many mailboxes at once (issue 12, item 4): four sandbox users swept in parallel through a service
account, one store each, the worst exit code for the run, and the audit merged across them."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from cli_run import invoke
from gmaildesk.config import load_desk
from gmaildesk.errors import ExitCode, GmailDeskError
from gmaildesk.gmail import auth, scopes
from gmaildesk.gmail.connection import client_for_credentials
from gmaildesk.gmail.pacing import ProjectBudget
from gmaildesk.paths import Account
from gmaildesk.sandbox.mime import build_message
from gmaildesk.sweep.many import connect_as, project_budget, sweep_many, worst
from gmaildesk.sweep.service import sweep_once
from gmaildesk.sweep.store import Store, store_path
from test_auth import BROWSER, _service_account_key, browser, client_secret, config_dir  # noqa: F401 (fixtures)
from test_json_schemas import validate

H = 3600
MAILBOXES = ("billing@acme.example", "tech@acme.example", "sales@acme.example", "hr@acme.example")
DESK = """\
version: 1
mailbox: {mailbox}
departments:
  - name: {department}
    routes: [{{to: {mailbox}}}]
    sla: {{first_response: {sla}, next_response: 8h}}
sweep:
  scope: newer_than:90d
"""


def _desk_text(mailbox: str, sla: str = "4h") -> str:
    return DESK.format(mailbox=mailbox, department=mailbox.split("@")[0].title(), sla=sla)


@pytest.fixture
def desk_files(sandbox, tmp_path, monkeypatch):
    """Four desk folders under tmp_path/desks and a service-account key; nothing on the sandbox yet."""
    monkeypatch.setenv("GMAILDESK_DATA_DIR", str(tmp_path / "data"))
    key = _service_account_key(tmp_path, f"{sandbox.url}sandbox/oauth/token")
    paths = []
    for mailbox in MAILBOXES:
        folder = tmp_path / "desks" / mailbox.split("@")[0]
        folder.mkdir(parents=True)
        (folder / "desk.yaml").write_text(_desk_text(mailbox))
        paths.append(folder / "desk.yaml")
    return paths, ["--endpoint", sandbox.url, "--service-account", str(key)]


@pytest.fixture
def desks(sandbox, desk_files):
    """The four desks' mailboxes on one sandbox, each applied, each with its own customers' mail:
    mailbox i holds i + 1 new conversations."""
    paths, connection = desk_files
    for i, (mailbox, path) in enumerate(zip(MAILBOXES, paths, strict=True)):
        sandbox.control.add_user(mailbox)
        invoke(["apply", "-c", str(path), "--yes", "--skip-tests", *connection, "--user", mailbox])
        for n in range(i + 1):
            _deliver(sandbox, mailbox, f"{mailbox.split('@')[0]} question {n}", f"<q{n}.{mailbox}>")
    return paths, connection


def _deliver(sandbox, mailbox: str, subject: str, message_id: str) -> str:
    now_ms = int(sandbox.control.clock()["nowMs"])
    raw = build_message(
        from_=f"customer{len(subject)}@customer.test",
        to=[mailbox],
        subject=subject,
        text="hello",
        message_id=message_id,
        date_ms=now_ms,
    )
    thread_id: str = sandbox.control.deliver(mailbox, raw)["threadId"]
    return thread_id


def _c(paths: list[Path]) -> list[str]:
    return [arg for path in paths for arg in ("-c", str(path))]


def _subjects(sandbox, mailbox: str) -> set[str]:
    with Store(store_path(Account(sandbox.url, mailbox))) as store:
        return {row.subject for row in store.threads().values()}


def test_four_mailboxes_swept_in_parallel_each_store_holds_only_its_own(sandbox, desks):
    paths, connection = desks
    result = invoke(["sweep", *_c(paths), *connection])
    lines = result.stdout.splitlines()
    for i, mailbox in enumerate(MAILBOXES):
        assert f"{mailbox}: Changed {i + 1} of {i + 1} conversations (full scan; read {i + 1})." in lines
        prefix = mailbox.split("@")[0]
        assert _subjects(sandbox, mailbox) == {f"{prefix} question {n}" for n in range(i + 1)}
    assert lines[-1].startswith("Total: 4 mailboxes, 4 swept, 0 with problems; changed 10 of 10 conversations")
    assert result.stderr == ""

    # -c FOLDER: the desk.yaml of every folder right below it (in name order).
    doc = json.loads(invoke(["sweep", "-c", str(paths[0].parent.parent), *connection, "--json"]).stdout)
    assert doc["kind"] == "sweep-many" and doc["status"] == "ok" and doc["exit_code"] == 0
    doc["mailboxes"].sort(key=lambda m: MAILBOXES.index(m["mailbox"]))
    assert [m["mailbox"] for m in doc["mailboxes"]] == list(MAILBOXES)
    assert [m["result"]["full"] for m in doc["mailboxes"]] == [False] * 4  # each has its own history cursor
    assert doc["total"]["threads_seen"] == 10 and doc["total"]["transitions"] == 0
    validate(doc, "sweep-many")

    # The finding: one desk.yaml run with several --user values shared one store. Stores are per
    # account now, and another --user than the desk's mailbox is refused before anything is written.
    own = store_path(Account(sandbox.url, MAILBOXES[0]))
    before = own.read_bytes()
    result = invoke(["sweep", "-c", str(paths[0]), *connection, "--user", MAILBOXES[2]], ExitCode.USAGE)
    assert f"desk.yaml is for {MAILBOXES[0]} but the connection reaches {MAILBOXES[2]} (--user)" in result.stderr
    assert own.read_bytes() == before and own != store_path(Account(sandbox.url, MAILBOXES[2]))


def test_desks_that_cannot_be_swept_fail_alone_and_the_run_exits_with_the_worst(sandbox, desks, tmp_path):
    paths, connection = desks
    paths[1].write_text(_desk_text("tech@other.example"))  # a mailbox the sandbox does not have
    broken = tmp_path / "broken.yaml"
    broken.write_text("version: 1\nmailbox: [\n")
    twice = tmp_path / "twice.yaml"
    twice.write_text(_desk_text(MAILBOXES[0], sla="2h"))
    result = invoke(["sweep", *_c([*paths, broken, twice]), *connection], ExitCode.ERROR)
    assert "tech@other.example: not swept (exit 1; the error is below)" in result.stdout
    assert f"{broken}: not swept (exit 1" in result.stdout and f"{twice}: not swept (exit 2" in result.stdout
    assert "Total: 6 mailboxes, 3 swept, 3 with problems" in result.stdout
    assert "Error: tech@other.example: reading the profile: Requested entity was not found." in result.stderr
    assert f"Error: {broken}: broken.yaml:3:1:" in result.stderr
    assert f"is the mailbox of {paths[0]} too; swept once, by {paths[0]}" in result.stderr
    for mailbox, count in (("billing", 1), ("sales", 3), ("hr", 4)):
        assert _subjects(sandbox, f"{mailbox}@acme.example") == {f"{mailbox} question {n}" for n in range(count)}


def test_several_desks_refuse_one_store_one_user_and_an_empty_folder(desk_files, tmp_path):
    paths, connection = desk_files
    result = invoke(["sweep", *_c(paths[:2]), *connection, "--store", str(tmp_path / "s.db")], ExitCode.USAGE)
    assert "Error: --store names one store; with several desks each mailbox keeps its own" in result.stderr
    result = invoke(["sweep", *_c(paths[:2]), *connection, "--user", MAILBOXES[0]], ExitCode.USAGE)
    assert "Error: --user names one mailbox" in result.stderr
    assert not (tmp_path / "s.db").exists()
    empty = tmp_path / "empty"
    empty.mkdir()
    result = invoke(["sweep", "-c", str(empty), "-c", str(paths[0].parent.parent), *connection], ExitCode.USAGE)
    assert f"Error: -c {empty}: no desk.yaml in this folder or in a folder right below it" in result.stderr


def test_worst_exit_code_order():
    assert worst([]) == ExitCode.OK
    assert worst([ExitCode.OK, ExitCode.PARTIAL, ExitCode.LOCKED]) == ExitCode.LOCKED
    assert worst([ExitCode.PARTIAL, ExitCode.USAGE, ExitCode.AUTH]) == ExitCode.USAGE
    assert worst([ExitCode.USAGE, ExitCode.ERROR, ExitCode.OK]) == ExitCode.ERROR
    assert worst([ExitCode.QUOTA, ExitCode.PARTIAL]) == ExitCode.QUOTA


# ---- per-account OAuth logins --------------------------------------------------------------------


def _login_as(sandbox, secret: Path, mailbox: str) -> None:
    auth.login(secret, scopes.LOGIN, browser=BROWSER, endpoint=sandbox.url, timeout_seconds=10, login_hint=mailbox)


def test_every_login_is_kept_for_its_account(sandbox, client_secret, config_dir, browser):  # noqa: F811
    _login_as(sandbox, client_secret, "support@example.com")
    _login_as(sandbox, client_secret, "colleague@example.com")
    assert json.loads(auth.token_path().read_text())["account"] == "colleague@example.com"  # the last login
    assert auth.status().accounts == ("colleague@example.com", "support@example.com")
    shown = invoke(["auth", "status"]).stdout
    assert "Account:    colleague@example.com" in shown
    assert "Logins:     colleague@example.com, support@example.com (each account's own" in shown
    for mailbox in ("support@example.com", "colleague@example.com"):
        assert auth.login_file(mailbox) == config_dir / "tokens" / f"{mailbox}.json"
        credentials = auth.load_credentials(scopes.READ, endpoint=sandbox.url, account=mailbox)
        client = client_for_credentials(credentials, sandbox.url)
        assert client.execute(client.users().getProfile(userId="me"))["emailAddress"] == mailbox
    with pytest.raises(GmailDeskError) as caught:
        auth.load_credentials(scopes.READ, endpoint=sandbox.url, account="billing@acme.example")
    assert caught.value.message.startswith("no login for billing@acme.example (no token at ")
    assert "--account billing@acme.example" in caught.value.hints[0]


def test_a_last_login_from_before_per_account_files_still_serves_its_account(
    sandbox,
    client_secret,  # noqa: F811
    config_dir,  # noqa: F811
    browser,  # noqa: F811
):
    _login_as(sandbox, client_secret, "support@example.com")
    (config_dir / "tokens" / "support@example.com.json").unlink()
    assert auth.login_file("support@example.com") == auth.token_path()
    assert auth.has_login("support@example.com") and not auth.has_login("colleague@example.com")


def test_logout_forgets_the_accounts_copy_too(sandbox, client_secret, config_dir, browser):  # noqa: F811
    _login_as(sandbox, client_secret, "colleague@example.com")
    _login_as(sandbox, client_secret, "support@example.com")
    assert auth.logout(revoke=False).removed
    assert not auth.has_login("support@example.com") and auth.has_login("colleague@example.com")


def test_several_mailboxes_each_with_its_own_login(sandbox, desks, tmp_path, client_secret, config_dir, browser):  # noqa: F811
    """No service account: each desk's mailbox uses its own `auth login`; a desk whose mailbox has no login
    reaches the sandbox's default user instead, which is not its mailbox: exit 2 for the run, the others swept."""
    paths, _ = desks
    for mailbox in MAILBOXES[:3]:
        _login_as(sandbox, client_secret, mailbox)
    result = invoke(["sweep", *_c(paths), "--endpoint", sandbox.url, "--json"], ExitCode.USAGE)
    doc = json.loads(result.stdout)
    validate(doc, "sweep-many")
    assert [m["exit_code"] for m in doc["mailboxes"]] == [0, 0, 0, 2]
    assert doc["mailboxes"][3]["error"]["message"] == (
        f"desk.yaml is for {MAILBOXES[3]} but the connection reaches support@example.com "
        f"(the account support@example.com on the sandbox at {sandbox.url})"
    )
    for i, mailbox in enumerate(MAILBOXES[:3]):
        assert doc["mailboxes"][i]["result"]["threads_seen"] == i + 1
        prefix = mailbox.split("@")[0]
        assert _subjects(sandbox, mailbox) == {f"{prefix} question {n}" for n in range(i + 1)}
    assert not store_path(Account(sandbox.url, MAILBOXES[3])).exists()
    # token.json stays the last login (sales@): the single-desk commands use it as before.
    assert json.loads(auth.token_path().read_text())["account"] == MAILBOXES[2]


def test_the_daily_guard_is_the_projects_over_every_mailbox(sandbox, desks, tmp_path, monkeypatch):
    paths, _ = desks
    monkeypatch.setenv("GMAILDESK_QUOTA_RATE", "100000/min")  # a pacer (the budget's gate) on the sandbox too
    budget = ProjectBudget(daily_units=400)
    result = sweep_many(paths, connect_as(sandbox.url, tmp_path / "service-account.json", budget), sweep_once)
    assert 0 < budget.units_today <= 400
    stopped = [run for run in result.runs if run.exit_code == ExitCode.QUOTA]
    assert stopped and result.exit_code == ExitCode.QUOTA
    assert all(run.error.message.startswith("stopped before the project's daily quota: ") for run in stopped)
    assert all(run.exit_code == ExitCode.OK for run in result.runs if run not in stopped)


def test_the_project_budget_is_the_strictest_any_desk_states(sandbox, desks, tmp_path, monkeypatch):
    """Without a budget from the caller, the run's one budget takes the smallest daily_units and
    project_units_per_minute among the desks' sweep.quota (they share one Cloud project)."""
    paths, _ = desks
    monkeypatch.setenv("GMAILDESK_QUOTA_RATE", "100000/min")
    paths[3].write_text(_desk_text(MAILBOXES[3]) + "  quota: {daily_units: 400, project_units_per_minute: 900000}\n")
    desks_loaded = [load_desk(p) for p in paths]
    budget = project_budget(desks_loaded)
    assert (budget.daily_units, budget.units_per_minute) == (400, 900_000)
    result = sweep_many(paths, connect_as(sandbox.url, tmp_path / "service-account.json"), sweep_once)
    assert result.exit_code == ExitCode.QUOTA  # 400 units cannot sweep four mailboxes


# ---- the audit over several desks ----------------------------------------------------------------


@pytest.fixture
def swept(sandbox, desks):
    """The four desks swept (tech's first-response SLA 1h, the others 4h), then 2h later swept again:
    tech's conversations are overdue, nobody else's."""
    paths, connection = desks
    paths[1].write_text(_desk_text(MAILBOXES[1], sla="1h"))
    invoke(["sweep", *_c(paths), *connection, "--quiet"])
    sandbox.control.advance_clock(2 * H)
    invoke(["sweep", *_c(paths), *connection, "--quiet"])
    return paths, ["--endpoint", sandbox.url]


def _tsv(stdout: str) -> list[list[str]]:
    return [line.split("\t") for line in stdout.splitlines()]


def test_merged_status_and_report_name_each_mailbox_and_total_them_all(swept):
    paths, endpoint = swept
    rows = _tsv(invoke(["status", *_c(paths), *endpoint, "--format", "tsv"]).stdout)
    assert rows[0][:3] == ["mailbox", "dept", "new"] and rows[0][-1] == "last sweep"
    assert [(r[0], r[1], r[2]) for r in rows[1:]] == [
        (MAILBOXES[0], "Billing", "1"),
        (MAILBOXES[1], "Tech", "2"),
        (MAILBOXES[2], "Sales", "3"),
        (MAILBOXES[3], "Hr", "4"),
    ]
    doc = json.loads(invoke(["status", *_c(paths), *endpoint, "--json"]).stdout)
    validate(doc, "status-many")
    assert (doc["total"], doc["overdue"], doc["by_state"]["new"]) == (10, 2, 10)
    assert [m["mailbox"] for m in doc["mailboxes"]] == list(MAILBOXES)
    assert doc["problems"] == [f"{MAILBOXES[1]}: 2 conversations overdue"]
    check = invoke(["status", *_c(paths), *endpoint, "--check", "--json"], ExitCode.NEEDS_ATTENTION)
    assert f"Check failed: {MAILBOXES[1]}: 2 conversations overdue" in check.stderr
    csv_rows = invoke(["status", *_c(paths), *endpoint, "--csv"]).stdout.splitlines()
    assert csv_rows[0].startswith("mailbox,department,") and csv_rows[1].startswith(f"{MAILBOXES[0]},Billing,1,")
    doc = json.loads(invoke(["report", *_c(paths), *endpoint, "--json"]).stdout)
    validate(doc, "report-many")
    assert [(m["mailbox"], m["report"]["total"]["volume"]) for m in doc["mailboxes"]] == [
        (mailbox, n + 1) for n, mailbox in enumerate(MAILBOXES)
    ]
    assert doc["total"]["volume"] == 10 and doc["total"]["key"] == "total"
    # Missed: tech's two (1h SLA, 2h without a reply); the others are still within their 4h.
    assert (doc["total"]["sla"]["met"], doc["total"]["sla"]["measured"]) == (0, 2)
    assert doc["total"]["backlog"]["1-4h"] == 10
    rows = _tsv(invoke(["report", *_c(paths), *endpoint, "--format", "tsv"]).stdout)
    assert rows[0][:3] == ["mailbox", "dept", "volume"] and rows[-1][:3] == ["(all)", "total", "10"]
    html = invoke(["report", *_c(paths), *endpoint, "--html", str(paths[0].parent / "r.html")], ExitCode.USAGE)
    assert "--html draws one mailbox's report" in html.stderr


def test_merged_threads_next_and_show_across_mailboxes(swept):
    paths, endpoint = swept
    doc = json.loads(invoke(["threads", *_c(paths), *endpoint, "--json", "--sort", "sla"]).stdout)
    validate(doc, "threads")
    assert doc["count"] == 10
    assert [t["mailbox"] for t in doc["threads"][:2]] == [MAILBOXES[1]] * 2  # overdue first, across mailboxes
    assert {t["mailbox"] for t in doc["threads"]} == set(MAILBOXES)
    assert all(t["link"].endswith(t["thread"]) and t["mailbox"] in t["link"] for t in doc["threads"])
    rows = _tsv(invoke(["threads", *_c(paths), *endpoint, "--format", "tsv", "--dept", "sales"]).stdout)
    assert rows[0][:2] == ["mailbox", "thread"] and {r[0] for r in rows[1:]} == {MAILBOXES[2]} and len(rows) == 4
    wrong = invoke(["threads", *_c(paths), *endpoint, "--dept", "Shipping"], ExitCode.USAGE)
    assert "Error: --dept Shipping: no such department in any of the desks" in wrong.stderr
    paths[2].write_text(_desk_text(MAILBOXES[2]) + "team:\n  - {name: Sam, email: sam@acme.example}\n")
    owned = json.loads(invoke(["threads", *_c(paths), *endpoint, "--json", "--agent", "sam"]).stdout)
    assert owned["count"] == 0  # Sam is sales@'s agent and owns nothing yet
    nobody = invoke(["next", *_c(paths), *endpoint, "--agent", "Nobody"], ExitCode.USAGE)
    assert (
        "Error: no agent 'Nobody' in any of the desks' teams" in nobody.stderr and "Hint: agents: Sam" in nobody.stderr
    )
    found = json.loads(invoke(["next", *_c(paths), *endpoint, "--json"]).stdout)
    validate(found, "next")
    assert found["thread"]["mailbox"] == MAILBOXES[1] and found["thread"]["overdue"] is True
    calm = json.loads(invoke(["next", *_c(paths), *endpoint, "--json", "--dept", "hr"]).stdout)
    assert calm["thread"]["mailbox"] == MAILBOXES[3] and calm["thread"]["overdue"] is False
    doc = json.loads(invoke(["threads", *_c(paths), *endpoint, "--json", "--dept", "sales"]).stdout)
    sales = doc["threads"][0]
    shown = json.loads(invoke(["show", sales["thread"], *_c(paths), *endpoint, "--json"]).stdout)
    validate(shown, "show")
    assert shown["thread"]["thread"] == sales["thread"] and MAILBOXES[2] in shown["thread"]["link"]
    by_link = json.loads(invoke(["show", sales["link"], *_c(paths), *endpoint, "--json"]).stdout)
    assert by_link["thread"]["thread"] == sales["thread"] and by_link["history"] == shown["history"]
    other = (
        sales["link"]
        .replace("sales%40acme.example", "nobody%40acme.example")
        .replace(MAILBOXES[2], "nobody@acme.example")
    )
    refused = invoke(["show", other, *_c(paths), *endpoint], ExitCode.USAGE)
    assert "this link opens nobody@acme.example's Gmail; none of the 4 desks is for it" in refused.stderr
    missing = invoke(["show", "ffffffffffffffff", *_c(paths), *endpoint], ExitCode.ERROR)
    assert "conversation ffffffffffffffff is in none of the 4 sweep stores" in missing.stderr
    # Ticket numbers are per mailbox: one only hr@ has (4 conversations) is found, one all have is ambiguous.
    fourth = json.loads(invoke(["show", "#4", *_c(paths), *endpoint, "--json"]).stdout)
    assert MAILBOXES[3] in fourth["thread"]["link"]
    ambiguous = invoke(["show", "#1", *_c(paths), *endpoint], ExitCode.USAGE)
    assert f"ticket #1 is in 4 mailboxes: {', '.join(MAILBOXES)}" in ambiguous.stderr
    unknown = invoke(["show", "#9", *_c(paths), *endpoint], ExitCode.ERROR)
    assert "no conversation has ticket number #9 in any of the 4 sweep stores" in unknown.stderr


def test_refresh_sweeps_every_desk_in_parallel_first(swept, sandbox, desks):
    paths, endpoint = swept
    _, connection = desks
    thread = _deliver(sandbox, MAILBOXES[0], "billing late question", "<late@billing>")
    before = json.loads(invoke(["threads", *_c(paths), *endpoint, "--json"]).stdout)
    assert thread not in {t["thread"] for t in before["threads"]}
    after = json.loads(invoke(["threads", *_c(paths), *connection, "--refresh", "--json"]).stdout)
    assert {(t["mailbox"], t["subject"]) for t in after["threads"] if t["thread"] == thread} == {
        (MAILBOXES[0], "billing late question")
    }
    refused = invoke(["status", *_c(paths), *connection, "--store", str(paths[0].parent / "s.db")], ExitCode.USAGE)
    assert "Error: --store names one mailbox's store; with several desks each has its own" in refused.stderr
