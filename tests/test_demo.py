"""`gmaildesk demo` (what `make demo` runs) tells the story and reads it back through the client."""

from __future__ import annotations

import json

from typer.testing import CliRunner

from gmaildesk.cli import app


def test_demo_json_shows_threaded_conversations_and_costs():
    result = CliRunner().invoke(app, ["demo", "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    by_subject = {t["subject"]: t for t in data["threads"]}
    assert by_subject["Invoice 1042 charged twice"]["messages"] == 3  # question, our reply, follow-up
    assert by_subject["App crashes on login"]["messages"] == 2  # report + our forward
    assert "SENT" in by_subject["Change of delivery address"]["labels"]
    assert data["colleague_inbox"] == ["Fwd: App crashes on login"]
    assert sorted(o["kind"] for o in data["outbox"]) == ["sent", "sent", "sent"]
    assert data["api_calls"] > 0 and data["quota_units"] >= data["api_calls"]


def test_demo_human_output():
    result = CliRunner().invoke(app, ["demo"])
    assert result.exit_code == 0, result.output
    assert "gmaildesk demo on an embedded Gmail sandbox at http://127.0.0.1:" in result.stdout
    assert "Gmail API calls:" in result.stdout
