"""`gmaildesk sandbox serve` from another process: curl and the real client can use it."""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import sys

import httplib2
import pytest
from googleapiclient.discovery import build
from typer.testing import CliRunner

from gmaildesk.cli import app
from gmaildesk.sandbox.mime import build_message

GMAILDESK = [sys.executable, "-m", "gmaildesk"]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def served(tmp_path):
    port = _free_port()
    db = tmp_path / "sandbox.sqlite"
    proc = subprocess.Popen(
        [
            *GMAILDESK,
            "sandbox",
            "serve",
            "--port",
            str(port),
            "--db",
            str(db),
            "--user",
            "support@example.com",
            "--user",
            "devteam@example.com",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    first_line = proc.stdout.readline()
    yield proc, f"http://127.0.0.1:{port}/", first_line, db
    proc.terminate()
    proc.wait(timeout=10)


def test_serve_prints_its_url_and_answers_curl_and_the_client(served, tmp_path):
    proc, url, first_line, db = served
    assert first_line.strip() == (f"gmaildesk sandbox serving {url} for devteam@example.com, support@example.com")
    eml = tmp_path / "question.eml"
    eml.write_bytes(
        build_message(
            from_="Ann <ann@customer.example>",
            to=["support@example.com"],
            subject="Where is my order?",
            text="Order 77 has not arrived.",
            date_ms=0,
        )
    )
    curl = shutil.which("curl")
    if curl:
        out = subprocess.run(
            [
                curl,
                "-s",
                "-X",
                "POST",
                "-H",
                "Content-Type: message/rfc822",
                "--data-binary",
                f"@{eml}",
                url + "sandbox/users/support@example.com/deliver",
            ],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        delivered = json.loads(out)
        profile = json.loads(
            subprocess.run(
                [curl, "-s", url + "gmail/v1/users/me/profile"], capture_output=True, text=True, check=True
            ).stdout
        )
        assert profile["emailAddress"] == "support@example.com"
        assert profile["messagesTotal"] == 1
    else:  # curl is not everywhere; the CLI's own deliver command uses the same HTTP endpoint
        result = CliRunner().invoke(app, ["sandbox", "deliver", "--endpoint", url, str(eml)])
        assert result.exit_code == 0, result.output
        delivered = {"id": result.output.split()[2]}
    gmail = build(
        "gmail", "v1", http=httplib2.Http(timeout=10), static_discovery=True, client_options={"api_endpoint": url}
    ).users()
    listed = gmail.messages().list(userId="me", q="subject:order").execute()
    assert [m["id"] for m in listed["messages"]] == [delivered["id"]]


def test_serve_keeps_state_in_its_db_across_restarts(tmp_path):
    port = _free_port()
    db = tmp_path / "s.sqlite"
    args = [*GMAILDESK, "sandbox", "serve", "--port", str(port), "--db", str(db)]
    url = f"http://127.0.0.1:{port}/"
    for round_number in (1, 2):
        proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            proc.stdout.readline()
            gmail = build(
                "gmail",
                "v1",
                http=httplib2.Http(timeout=10),
                static_discovery=True,
                client_options={"api_endpoint": url},
            ).users()
            if round_number == 1:
                gmail.labels().create(userId="me", body={"name": "Dept/Billing"}).execute()
            names = [lab["name"] for lab in gmail.labels().list(userId="me").execute()["labels"]]
            assert "Dept/Billing" in names
        finally:
            proc.terminate()
            proc.wait(timeout=10)


def test_serve_on_a_busy_port_is_a_one_line_error():
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        result = CliRunner().invoke(app, ["sandbox", "serve", "--port", str(port)])
    assert result.exit_code == 1
    assert result.stderr.startswith(f"Error: cannot listen on 127.0.0.1:{port}: ")
    assert "Hint: Pick another --port, or 0 for a free one." in result.stderr


def test_control_commands_drive_a_sandbox(sandbox, tmp_path):
    runner = CliRunner()
    eml = tmp_path / "a.eml"
    eml.write_bytes(
        build_message(from_="bob@shop.example", to=["support@example.com"], subject="Hi", text="Hello", date_ms=0)
    )
    delivered = runner.invoke(app, ["sandbox", "deliver", "--endpoint", sandbox.url, str(eml)])
    assert delivered.exit_code == 0, delivered.output
    assert "[INBOX UNREAD]" in delivered.stdout
    before = sandbox.control.clock()["nowMs"]
    moved = runner.invoke(app, ["sandbox", "clock", "--endpoint", sandbox.url, "--advance", "2h"])
    assert moved.exit_code == 0
    assert json.loads(moved.stdout)["nowMs"] - before >= 2 * 3600 * 1000
    bad = runner.invoke(app, ["sandbox", "clock", "--endpoint", sandbox.url, "--advance", "soon"])
    assert bad.exit_code == 2
    assert bad.stderr.splitlines()[0] == "Error: --advance: 'soon' is not a duration"
    counted = runner.invoke(app, ["sandbox", "counters", "--endpoint", sandbox.url])
    assert counted.exit_code == 0
    assert "total_calls" in json.loads(counted.stdout)
    faults = runner.invoke(app, ["sandbox", "faults", "--endpoint", sandbox.url, "--503", "0.5", "--seed", "3"])
    assert json.loads(faults.stdout)["rate_503"] == 0.5
    unreachable = runner.invoke(app, ["sandbox", "counters", "--endpoint", "http://127.0.0.1:9/"])
    assert unreachable.exit_code == 1
    assert unreachable.stderr.startswith("Error: cannot reach the sandbox at http://127.0.0.1:9/")
