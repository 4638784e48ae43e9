"""`gmaildesk demo` (what `make demo` runs): the example desk applied, a morning of mail routed and
acknowledged, everything read back through the real client."""

from __future__ import annotations

import json

from typer.testing import CliRunner

from gmaildesk.cli import app


def test_demo_json_tells_the_whole_story():
    result = CliRunner().invoke(app, ["demo", "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    desk = data["desk"]
    assert "+ label Dept/Billing  colour #16a766/#ffffff" in desk["plan_text"]
    assert desk["status"] == "ok" and desk["applied"] == 25  # 22 + Agent, Agent/Alice, Agent/Bob
    assert desk["replan_text"].strip() == "No changes"
    by_subject = {t["subject"]: t for t in data["threads"]}
    billing = by_subject["Invoice 1042 charged twice"]
    assert billing["messages"] == 5  # question, our acknowledgement, our reply, follow-up, Alice's template reply
    assert "Dept/Billing" in billing["labels"]
    assert "Agent/Alice" in billing["labels"]  # her reply as a delegate (Sender:) made her the owner
    assert "Dept/Technical" in by_subject["App crashes on login"]["labels"]
    assert "Bounces" in by_subject["Undelivered Mail Returned to Sender"]["labels"]
    assert "INBOX" not in by_subject["This week in tools"]["labels"]  # the newsletter filter archives
    assert data["colleague_inbox"] == ["Fwd: App crashes on login"]
    drafted, refused, sent = data["replies"]
    assert drafted.startswith("Alice: reply --template closing -> draft r-")
    assert "from billing@example.com with its signature: Re: Invoice 1042 charged twice" in drafted
    assert refused.startswith("Bob: reply --template closing -> exit 4: conversation ")
    assert "already has a draft by Alice since" in refused
    assert sent.startswith("Alice: reply --template closing --send -> her draft replaced and sent")
    acknowledged = sorted(o["to"][0] for o in data["outbox"] if o["kind"] == "vacation")
    # one acknowledgement per customer; none to the bounce, the list or Carla's out-of-office
    assert acknowledged == ["ann@customer.example", "bob@shop.example", "carla@retail.example"]
    switched, quiet, acknowledged_dana = data["acknowledgements"]
    assert switched == "desk.yaml: auto_ack mode: sweep; apply: enableAutoReply: on -> off"
    assert quiet.startswith("sweep: 0 of the ") and "(they came before mode: sweep)" in quiet
    assert acknowledged_dana.startswith("Dana writes to sales@; sweep: 1 acknowledged, to dana@bigco.example, ")
    assert '"Re: Pricing for 40 seats" in her conversation (Auto-Submitted: auto-replied): ' in acknowledged_dana
    assert "Your ticket number is #6." in acknowledged_dana  # five conversations came before hers
    first, later = data["sweeps"]
    assert first["by_state"] == {"new": 0, "waiting": 1, "handled": 1, "forwarded": 1, "closed": 0, "overdue": 0}
    assert any(line.startswith("App crashes on login: - -> forwarded") for line in first["transitions"])
    assert later["threads_read"] == 0  # the clock alone makes Ann's conversation overdue
    assert later["transitions"] == [
        line
        for line in later["transitions"]
        if line.startswith("Invoice 1042 charged twice: waiting -> waiting+overdue")
    ]
    assert len(later["transitions"]) == 1
    assert {"Status/Waiting for us", "Status/Overdue"} <= set(billing["labels"])
    assert "Status/Handled" in by_subject["Change of delivery address"]["labels"]  # her out-of-office changed nothing
    assert not any(label.startswith("Status/") for label in by_subject["This week in tools"]["labels"])
    assert data["status"]["kind"] == "status" and data["status"]["overdue"] == 1
    billing_row = next(g for g in data["report"]["groups"] if g["key"] == "Billing")
    assert billing_row["first_response"]["median_s"] == 2 * 3600 + 600  # the 2h10m of the story
    assert data["api_calls"] > 0 and data["quota_units"] >= data["api_calls"]
    history = data["history"]  # a second mailbox, swept for the first time from Gmail's listings
    assert history["conversations"] == 301 and history["messages"] == 602
    assert history["read_all_units"] > 2 * history["listed_units"]
    assert history["check"].endswith("listed newest first; 0 decided otherwise")
    # The one presumption (a reply addressed to a vendor is a forward), corrected by the backfill.
    assert history["differ"] == ["handled, where reading says forwarded"]
    assert history["corrected"] == ["handled -> forwarded"] and history["backfill_sweeps"] >= 1


def test_demo_human_output():
    result = CliRunner().invoke(app, ["demo"])
    assert result.exit_code == 0, result.output
    assert "gmaildesk demo on an embedded Gmail sandbox at http://127.0.0.1:" in result.stdout
    assert "plan again: No changes" in result.stdout
    assert "5. Replies from templates" in result.stdout
    assert "6. Ticket numbers in the acknowledgement (auto_ack mode: sweep):" in result.stdout
    assert "8. A mailbox with weeks of mail, swept for the first time (301 conversations):" in result.stdout
    assert "labels unlike reading all: handled, where reading says forwarded" in result.stdout
    assert "9. gmaildesk status" in result.stdout and "10. gmaildesk report --since 30d" in result.stdout
    assert "Gmail API calls:" in result.stdout
