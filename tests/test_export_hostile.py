"""`export` with hostile label and filter names: the YAML library writes every name, nothing leaves a
comment, and the file loads to exactly the mailbox's names with no key added (issue 9 item 2)."""

from __future__ import annotations

import pytest
import yaml
from googleapiclient.errors import HttpError

from cli_run import invoke
from gmaildesk.cli import safe
from gmaildesk.desk.export import Export, Item
from gmaildesk.desk.export_yaml import comment, quoted, render

# The finding: a label name that ends the comment it is quoted in and starts keys of its own.
INJECTION = "x\nteam: [evil@attacker.test]\nsweep:\n  scope: in:anywhere\n# "
HOSTILE = [
    INJECTION,
    "Bill # ing",
    "key: value",
    "- item",
    "\"double\" and 'single'",
    "line\u2028separator",
    "next\x85line",
    "para\u2029graph",
    "---",
    "...",
    "--- !!python/object/apply:os.system ['id']",
    "&anchor *alias",
    "{flow: map}",
    "[flow, seq]",
    "%YAML 1.1",
    "tab\there",
    "nul\x00 esc\x1b[2J del\x7f",
    "\ufeffbom",
    "trailing\n",
    "\r\ncrlf",
    " leading space",
    "yes",
    "null",
    "0x1F",
    "~",
    "\u202eright-to-left",
]
TOP_KEYS = {"version", "mailbox", "labels", "statuses", "departments", "filters", "send_as"}


def _export(names: list[str]) -> Export:
    return Export(
        mailbox="support@example.com",
        department_prefix="Dept/",
        statuses=Item({"prefix": "Status/"}, ["fixed text only"]),
        departments=[Item({"name": name}) for name in names],
        filters=[
            Item({"name": name, "match": {"subject": name}, "actions": {"labels": [name]}}, ["made outside"])
            for name in names
        ],
        left_out=[f"filter adds {name!s} and more: it adds several user labels" for name in names],
    )


def test_hostile_names_round_trip_exactly_and_add_no_keys():
    text = render(_export(HOSTILE))
    loaded = yaml.safe_load(text)
    assert set(loaded) == TOP_KEYS
    assert [d["name"] for d in loaded["departments"]] == HOSTILE
    assert loaded["filters"] == [{"name": n, "match": {"subject": n}, "actions": {"labels": [n]}} for n in HOSTILE]
    assert all(set(d) == {"name"} for d in loaded["departments"])
    # Every left-out note is one comment line holding one YAML scalar that reads back to the note.
    notes = [line.removeprefix("#   - ") for line in text.split("\n") if line.startswith("#   - ")]
    assert [yaml.safe_load(note) for note in notes] == [
        f"filter adds {n} and more: it adds several user labels" for n in HOSTILE
    ]


def test_every_line_is_a_comment_a_key_or_inside_a_value():
    """Line by line (YAML's own breaks, not just \\n): a comment never spills onto a line of its own."""
    text = render(_export(HOSTILE))
    events = list(yaml.parse(text))
    assert sum(isinstance(e, yaml.DocumentStartEvent) for e in events) == 1  # no `---` started a second document
    for line in text.split("\n"):
        if line.startswith("#"):
            assert not any(b in line for b in "\r\x85\u2028\u2029"), repr(line)


@pytest.mark.parametrize("text", ["two\nlines", "cr\rhere", "nel\x85", "ls\u2028", "ps\u2029", "nul\x00", "esc\x1b"])
def test_a_comment_that_is_not_one_line_is_refused(text):
    with pytest.raises(ValueError):
        comment(text)
    assert "\n" not in quoted(text) and yaml.safe_load(quoted(text)) == text


def _create(gmail, names: list[str]) -> dict[str, str]:
    """The labels Gmail (the sandbox) accepts, by id, as it stored them."""
    made = {}
    for name in names:
        try:
            label = gmail.labels().create(userId="me", body={"name": name}).execute()
        except HttpError as error:  # Gmail refuses some names (control characters, empty after trimming)
            assert error.resp.status in (400, 409), error
            continue
        made[label["id"]] = label["name"]
    return made


def test_export_of_a_mailbox_with_hostile_label_names(sandbox, gmail, tmp_path, monkeypatch):
    """Through the CLI: labels made with the real client, exported, loaded back; the department names are the
    mailbox's (as Gmail stores them), the file has no key the mailbox did not give it, and its plan is empty.
    Names desk.yaml refuses (control characters) cannot be departments; they reach the file only in the
    comment about a filter that cannot be exported, and stay inside it."""
    monkeypatch.setenv("GMAILDESK_DATA_DIR", str(tmp_path / "data"))
    departments = _create(gmail, [f"Dept/{name}" for name in HOSTILE if safe.text(name) == name])
    assert len(departments) >= 15, departments
    others = _create(
        gmail,
        [
            f"Other/{name}"
            for name in (INJECTION, "nul\x00 esc\x1b[2J", "\u202eright-to-left", "a # b: c", "\"q\" 'x' ---")
        ],
    )
    assert len(others) >= 2, others
    # Adding one user label and removing another: desk.yaml cannot say it, so the filter is left out, and
    # the note about it (naming both labels) goes in a comment.
    adds, removes = list(others)[:2]
    gmail.settings().filters().create(
        userId="me",
        body={"criteria": {"from": "x@attacker.test"}, "action": {"addLabelIds": [adds], "removeLabelIds": [removes]}},
    ).execute()

    target = tmp_path / "exported.yaml"
    result = invoke(["export", "-o", str(target), "--endpoint", sandbox.url])
    assert "plan on the exported file is not empty" not in result.stderr
    assert "not exported: filter from:(x@attacker.test)" in result.stderr
    assert safe.text(others[removes]) in result.stderr
    assert not any(c in result.stderr for c in "\x00\x1b\u202e"), result.stderr  # the warning, escaped too
    text = target.read_text(encoding="utf-8")
    loaded = yaml.safe_load(text)
    assert set(loaded) <= TOP_KEYS and "team" not in loaded and "sweep" not in loaded
    assert sorted(d["name"] for d in loaded["departments"]) == sorted(
        name.removeprefix("Dept/") for name in departments.values()
    )
    notes = [yaml.safe_load(line.removeprefix("#   - ")) for line in text.split("\n") if line.startswith("#   - ")]
    assert any(others[adds] in note and others[removes] in note for note in notes), notes
    common = ["-c", str(target), "--endpoint", sandbox.url]
    assert invoke(["plan", *common, "--exit-code"]).stdout == "No changes\n"
