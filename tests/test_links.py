"""Gmail links: they open the desk's mailbox, and `show` takes back every form gmaildesk prints."""

from __future__ import annotations

import json

import pytest

from cli_run import invoke
from gmaildesk.audit.links import gmail_link, thread_id_from
from gmaildesk.errors import ExitCode, GmailDeskError
from gmaildesk.sweep.state import State
from gmaildesk.sweep.store import Checkpoint, Store, ThreadRow

NOW = 1_800_000_000_000
H = 3_600_000
TID = "18c2f0a1b2c3d4e5"  # the shape of a real Gmail thread id: 16 hex digits
UI_TOKEN = "FMfcgzQXJWDsKmQjzbnNQwvKqsHfWBgf"  # what Gmail's address bar shows for a conversation


@pytest.fixture
def env(tmp_path, monkeypatch):
    monkeypatch.setenv("GMAILDESK_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setattr("gmaildesk.cli.options.now_ms", lambda options: NOW)
    config = tmp_path / "desk.yaml"
    config.write_text(
        "version: 1\nmailbox: help.desk@example.com\ndepartments:\n  - name: Billing\n"
        "    sla: {first_response: 4h, next_response: 8h}\n"
    )
    store = tmp_path / "s.sqlite"
    row = ThreadRow(
        TID,
        state=State.NEW,
        overdue=False,
        department="Billing",
        last_counted_id="m1",
        last_counted_side="customer",
        last_counted_at=NOW - H,
        first_customer_at=NOW - H,
        first_response_at=None,
        due_at=NOW + 3 * H,
        message_ids=["m1"],
        updated_at=NOW - H,
    )
    with Store(store) as s:
        s.commit(Checkpoint(history_id="1", last_sweep_at=NOW - H), [row], [], "sweep-1")
    return ["-c", str(config), "--store", str(store)]


def test_printed_links_carry_the_mailbox(env):
    link = f"https://mail.google.com/mail/?authuser=help.desk@example.com#all/{TID}"
    listed = json.loads(invoke(["threads", *env, "--json"]).stdout)["threads"]
    assert [t["link"] for t in listed] == [link]
    assert json.loads(invoke(["next", *env, "--json"]).stdout)["thread"]["link"] == link
    oldest = json.loads(invoke(["status", *env, "--json"]).stdout)["departments"][0]["oldest_new"]
    assert oldest["link"] == link
    assert json.loads(invoke(["show", *env, "--json", TID]).stdout)["thread"]["link"] == link


@pytest.mark.parametrize(
    "form",
    [
        "https://mail.google.com/mail/?authuser=help.desk@example.com#all/{}",  # printed now
        "https://mail.google.com/mail/u/0/#inbox/{}",  # printed before
        "https://mail.google.com/mail/u/1/?authuser=help.desk%40example.com#all/{}",
        "https://mail.google.com/mail/u/0/#label/Support%2FBilling/{}",
        "  {}  ",
    ],
)
def test_show_accepts_every_printed_form(env, form):
    shown = json.loads(invoke(["show", *env, "--json", form.format(TID)]).stdout)
    assert shown["thread"]["thread"] == TID


def test_a_link_from_gmails_address_bar_is_refused_with_the_way_to_the_id(env):
    for pasted in (f"https://mail.google.com/mail/u/0/#inbox/{UI_TOKEN}", UI_TOKEN):
        result = invoke(["show", *env, pasted], expect=ExitCode.USAGE)
        lines = result.stderr.splitlines()
        assert lines[0] == (
            f"Error: '{UI_TOKEN}' is a Gmail web view token, not a thread id; it cannot be mapped to a conversation"
        )
        assert "threads --json" in result.stderr and "Show original" in result.stderr
        assert result.stdout == ""


def test_not_a_gmail_link(env):
    result = invoke(["show", *env, "https://example.com/#inbox/abc"], expect=ExitCode.USAGE)
    assert result.stderr.splitlines()[0] == "Error: 'https://example.com/#inbox/abc' is not a Gmail conversation link"
    assert "authuser=<mailbox>#all/<id>" in result.stderr


def test_round_trip_and_the_id_shapes():
    assert thread_id_from(gmail_link(TID, "a.b+c@example.org")) == TID
    assert (
        gmail_link(TID, "a.b+c@example.org") == f"https://mail.google.com/mail/?authuser=a.b%2Bc@example.org#all/{TID}"
    )
    assert gmail_link(TID) == f"https://mail.google.com/mail/#all/{TID}"
    assert thread_id_from("ABCDEF0123456789abcdef") == "ABCDEF0123456789abcdef"  # long, but hex: an id
    with pytest.raises(GmailDeskError, match="Gmail web view token"):
        thread_id_from("KtbxLrjCrZFjbQbfbTMJGDLbGJpHKHjFpL")
    with pytest.raises(GmailDeskError, match="is not a thread id"):
        thread_id_from("a b")


def test_a_link_into_another_mailbox_names_both(env):
    other = f"https://mail.google.com/mail/?authuser=sales@example.com#all/{TID}"
    result = invoke(["show", *env, other], expect=ExitCode.USAGE)
    assert (
        result.stderr.splitlines()[0]
        == f"Error: this link opens sales@example.com's Gmail; {env[1]} is the desk of help.desk@example.com"
    )
    assert "-c with the desk.yaml whose mailbox is sales@example.com" in result.stderr
    same = f"https://mail.google.com/mail/u/2/?authuser=Help.Desk%40Example.com#all/{TID}"  # addresses ignore case
    assert json.loads(invoke(["show", *env, "--json", same]).stdout)["thread"]["thread"] == TID
    numbered = f"https://mail.google.com/mail/?authuser=1#all/{TID}"  # an account slot, not an address
    assert json.loads(invoke(["show", *env, "--json", numbered]).stdout)["thread"]["thread"] == TID
