"""A sandbox safe to leave running (issue 9, item 7): no cross-site writes, loopback unless told,
bounded connections and bodies, validated control values, hostile mail that neither crashes
delivery nor loses what was stored. Raw HTTP where the finding is about HTTP, the real client
for the rest; the hostile inputs live in tests/fixtures/hostile/sandbox/."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import httplib2
import pytest
from googleapiclient.discovery import build
from googleapiclient.errors import HttpError

from cli_run import invoke
from gmaildesk.errors import ExitCode
from gmaildesk.sandbox import delivery, running_sandbox
from gmaildesk.sandbox.client import SandboxControl
from gmaildesk.sandbox.mime import b64url_decode, b64url_encode, build_message
from gmaildesk.sandbox.store import Store

SUPPORT = "support@example.com"
HOSTILE = Path(__file__).parent / "fixtures" / "hostile" / "sandbox"
HOSTILE_MAIL = sorted(HOSTILE.glob("*.eml"))
GMAILDESK = [sys.executable, "-m", "gmaildesk"]


# ---- raw HTTP ----------------------------------------------------------------------------------------
def _address(url: str) -> tuple[str, int]:
    host, port = url.split("/")[2].rsplit(":", 1)
    return host, int(port)


def _exchange(url: str, request: bytes, timeout: float = 5.0) -> tuple[int, dict[str, str], bytes]:
    """Send raw bytes; read one answer (status, headers, body). Status 0: closed without an answer."""
    with socket.create_connection(_address(url), timeout=timeout) as conn:
        conn.sendall(request)
        data = b""
        while b"\r\n\r\n" not in data:
            chunk = conn.recv(65536)
            if not chunk:
                return 0, {}, data
            data += chunk
        head, _, body = data.partition(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        headers = {k.strip().lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:])}
        length = int(headers.get("content-length", "0"))
        while len(body) < length:
            chunk = conn.recv(65536)
            if not chunk:
                break
            body += chunk
        return int(lines[0].split()[1]), headers, body


def _request(
    url: str, verb: str, path: str, body: bytes = b"", *, host: str | None = None, headers: dict[str, str] | None = None
) -> bytes:
    host = host if host is not None else url.split("/")[2]
    lines = [f"{verb} {path} HTTP/1.1"] + ([f"Host: {host}"] if host else [])
    lines += [f"{k}: {v}" for k, v in (headers or {}).items()]
    if "Content-Length" not in (headers or {}):
        lines.append(f"Content-Length: {len(body)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


def _error_message(body: bytes) -> str:
    return json.loads(body)["error"]["message"]


def _filters(gmail) -> list:
    return gmail.settings().filters().list(userId="me").execute().get("filter", [])


FORWARD_ALL = json.dumps({"criteria": {"from": "*"}, "action": {"forward": "attacker@evil.example"}}).encode()


# ---- JSON only as application/json ---------------------------------------------------------------------
@pytest.mark.parametrize(
    "content_type", ["text/plain", "application/x-www-form-urlencoded", "multipart/form-data", None]
)
def test_a_json_body_of_another_type_is_refused_the_way_a_web_page_would_send_it(sandbox, gmail, content_type):
    headers = {"Content-Type": content_type} if content_type else {}
    for path, body in (
        ("/gmail/v1/users/me/settings/filters", FORWARD_ALL),
        ("/gmail/v1/users/me/settings/forwardingAddresses", b'{"forwardingEmail": "attacker@evil.example"}'),
        ("/sandbox/users/support@example.com/forwardingAddresses/attacker@evil.example/verify", b"{}"),
        ("/sandbox/faults", b'{"drop": 1}'),
    ):
        verb = "PUT" if path == "/sandbox/faults" else "POST"
        status, _, answer = _exchange(sandbox.url, _request(sandbox.url, verb, path, body, headers=headers))
        assert (status, _error_message(answer)) == (415, "Content-Type must be application/json for a JSON body")
    assert _filters(gmail) == []
    assert gmail.settings().forwardingAddresses().list(userId="me").execute() == {}
    assert sandbox.control.status()["faults"]["drop"] == 0


def test_application_json_and_the_types_of_uploads_batches_and_deliveries_still_work(sandbox, gmail):
    status, _, _ = _exchange(
        sandbox.url,
        _request(
            sandbox.url,
            "POST",
            "/gmail/v1/users/me/labels",
            b'{"name": "Typed"}',
            headers={"Content-Type": "application/json; charset=UTF-8"},
        ),
    )
    assert status == 200
    for content_type in ("message/rfc822", "text/plain", "application/octet-stream"):
        raw = build_message(from_="ann@customer.example", to=[SUPPORT], subject=content_type, text="Hi", date_ms=0)
        status, _, answer = _exchange(
            sandbox.url,
            _request(
                sandbox.url, "POST", f"/sandbox/users/{SUPPORT}/deliver", raw, headers={"Content-Type": content_type}
            ),
        )
        assert status == 200, answer
    status, _, _ = _exchange(
        sandbox.url,
        _request(
            sandbox.url,
            "POST",
            "/upload/gmail/v1/users/me/messages?uploadType=media",
            raw,
            headers={"Content-Type": "message/rfc822"},
        ),
    )
    assert status == 200
    assert len(gmail.messages().list(userId="me").execute()["messages"]) == 4


# ---- Origin and Host ----------------------------------------------------------------------------------
def test_a_cross_site_request_is_refused_and_changes_nothing(sandbox, gmail):
    status, _, answer = _exchange(
        sandbox.url,
        _request(
            sandbox.url,
            "POST",
            "/gmail/v1/users/me/settings/filters",
            FORWARD_ALL,
            headers={"Content-Type": "application/json", "Origin": "http://evil.example"},
        ),
    )
    assert status == 403
    assert _error_message(answer) == (
        "refused: Origin 'http://evil.example' is another site; browsers may not write to the sandbox"
    )
    for origin in ("null", f"http://localhost:{_address(sandbox.url)[1]}", "https://" + sandbox.url.split("/")[2]):
        status, _, _ = _exchange(
            sandbox.url,
            _request(
                sandbox.url,
                "PUT",
                "/sandbox/faults",
                b'{"drop": 1}',
                headers={"Content-Type": "application/json", "Origin": origin},
            ),
        )
        assert status == 403, origin
    assert _filters(gmail) == []
    assert sandbox.control.status()["faults"]["drop"] == 0
    same_origin = "http://" + sandbox.url.split("/")[2]
    status, _, _ = _exchange(
        sandbox.url, _request(sandbox.url, "GET", "/sandbox/status", headers={"Origin": same_origin})
    )
    assert status == 200


def test_a_foreign_host_name_is_refused_dns_rebinding(sandbox):
    port = _address(sandbox.url)[1]
    status, _, answer = _exchange(
        sandbox.url, _request(sandbox.url, "GET", "/gmail/v1/users/me/profile", host=f"rebind.evil.example:{port}")
    )
    assert status == 403
    assert (
        _error_message(answer)
        == f"refused: Host 'rebind.evil.example:{port}' is not this sandbox (a DNS rebinding attempt?)"
    )
    assert _exchange(sandbox.url, _request(sandbox.url, "GET", "/sandbox/status", host="127.0.0.1:1"))[0] == 403
    assert _exchange(sandbox.url, _request(sandbox.url, "GET", "/sandbox/status", host=""))[0] == 403
    for own in (f"localhost:{port}", f"127.0.0.1:{port}", f"LOCALHOST:{port}"):
        assert _exchange(sandbox.url, _request(sandbox.url, "GET", "/gmail/v1/users/me/profile", host=own))[0] == 200


# ---- binding beyond loopback ---------------------------------------------------------------------------
def test_binding_beyond_loopback_needs_allow_remote():
    result = invoke(["sandbox", "serve", "--host", "0.0.0.0", "--port", "0"], expect=ExitCode.USAGE)
    assert result.stderr.splitlines()[0] == (
        "Error: --host 0.0.0.0 would expose the sandbox, whose control API has no authentication, beyond this machine"
    )
    assert "--allow-remote" in result.stderr
    assert result.stdout == ""


def test_allow_remote_serves_with_a_loud_warning(tmp_path):
    proc = subprocess.Popen(
        [*GMAILDESK, "sandbox", "serve", "--host", "0.0.0.0", "--port", "0", "--allow-remote"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        first = proc.stdout.readline()
        assert first.startswith("gmaildesk sandbox serving http://0.0.0.0:")
        proc.stdout.readline()
        warning = proc.stderr.readline()
        assert warning.startswith("WARNING: the sandbox listens on 0.0.0.0, beyond this machine.")
        assert "anyone who can reach this port" in warning
    finally:
        proc.terminate()
        proc.wait(timeout=10)


# ---- connections: a cap, idle timeouts, body lengths ---------------------------------------------------
def test_200_idle_connections_against_a_cap_of_32_hold_no_more_than_32_threads():
    before = threading.active_count()
    with running_sandbox((SUPPORT,), max_connections=32, idle_timeout_s=30) as handle:
        server_threads = threading.active_count()
        idle = [socket.create_connection(_address(handle.url), timeout=5) for _ in range(200)]
        try:
            for conn in idle[:168]:  # each newcomer beyond the cap took the place of the longest idle
                assert conn.recv(4096) == b""
            assert threading.active_count() - server_threads <= 32
            # 32 idle connections still open, yet the server answers at once (not after their 30 s timeout)
            started = time.monotonic()
            gmail = build(
                "gmail",
                "v1",
                http=httplib2.Http(timeout=10),
                static_discovery=True,
                client_options={"api_endpoint": handle.url},
            ).users()
            assert gmail.getProfile(userId="me").execute()["emailAddress"] == SUPPORT
            assert time.monotonic() - started < 5
            assert threading.active_count() - server_threads <= 32
        finally:
            for conn in idle:
                conn.close()
    assert threading.active_count() <= before + 1


def test_when_every_connection_is_inside_a_request_a_newcomer_gets_503_at_once():
    with running_sandbox((SUPPORT,), max_connections=4, idle_timeout_s=2) as handle:
        busy = [socket.create_connection(_address(handle.url), timeout=5) for _ in range(4)]
        try:
            for conn in busy:  # a request line and no more: the connection is inside a request
                conn.sendall(b"GET /sandbox/status HTTP/1.1\r\n")
            time.sleep(0.2)
            started = time.monotonic()
            status, headers, answer = _exchange(handle.url, _request(handle.url, "GET", "/sandbox/status"))
            assert (status, _error_message(answer)) == (503, "the sandbox has too many open connections")
            assert headers["connection"] == "close"
            assert time.monotonic() - started < 1.5
            for conn in busy:  # the idle timeout ends requests that never finish
                assert conn.recv(4096) == b""
            assert _exchange(handle.url, _request(handle.url, "GET", "/sandbox/status"))[0] == 200
        finally:
            for conn in busy:
                conn.close()


def test_slow_loris_requests_give_way_to_a_newcomer_at_the_cap():
    with running_sandbox((SUPPORT,), max_connections=2, idle_timeout_s=0.5) as handle:
        loris = [socket.create_connection(_address(handle.url), timeout=5) for _ in range(2)]
        stop = threading.Event()

        def trickle():  # one header byte every 0.1 s: never idle long enough for the socket timeout
            try:
                for conn in loris:
                    conn.sendall(b"GET /sandbox/status HTTP/1.1\r\nX-Slow: ")
                while not stop.wait(0.1):
                    for conn in loris:
                        conn.sendall(b"a")
            except OSError:
                pass

        sender = threading.Thread(target=trickle, daemon=True)
        sender.start()
        try:
            time.sleep(0.7)  # both have been sending their request for longer than the idle timeout
            assert _exchange(handle.url, _request(handle.url, "GET", "/sandbox/status"))[0] == 200
        finally:
            stop.set()
            sender.join(timeout=5)
            for conn in loris:
                conn.close()


@pytest.mark.parametrize(
    "length, status, message",
    [
        ("-1", 400, "Content-Length must be a non-negative integer, not '-1'"),
        ("abc", 400, "Content-Length must be a non-negative integer, not 'abc'"),
        ("1e3", 400, "Content-Length must be a non-negative integer, not '1e3'"),
        ("99999999999999999999", 413, "Request too large (at most 48 MB)"),
    ],
)
def test_absurd_content_lengths_are_answered_at_once(sandbox, length, status, message):
    started = time.monotonic()
    answer = _exchange(
        sandbox.url,
        _request(
            sandbox.url,
            "POST",
            "/gmail/v1/users/me/labels",
            b'{"name": "x"}',
            headers={"Content-Type": "application/json", "Content-Length": length},
        ),
    )
    assert (answer[0], _error_message(answer[2])) == (status, message)
    assert answer[1]["connection"] == "close"
    assert time.monotonic() - started < 1


def test_chunked_bodies_are_refused(sandbox):
    status, _, answer = _exchange(
        sandbox.url,
        _request(
            sandbox.url,
            "POST",
            "/gmail/v1/users/me/labels",
            b'd\r\n{"name": "x"}\r\n0\r\n\r\n',
            headers={"Content-Type": "application/json", "Transfer-Encoding": "chunked", "Content-Length": "0"},
        ),
    )
    assert (status, _error_message(answer)) == (411, "Transfer-Encoding is not supported; send Content-Length")


def test_a_body_that_never_arrives_frees_its_connection():
    with (
        running_sandbox((SUPPORT,), idle_timeout_s=0.3) as handle,
        socket.create_connection(_address(handle.url), timeout=5) as conn,
    ):
        conn.sendall(
            _request(
                handle.url,
                "POST",
                "/gmail/v1/users/me/labels",
                headers={"Content-Type": "application/json", "Content-Length": "1000"},
            )
            + b'{"na'
        )
        started = time.monotonic()
        assert conn.recv(4096) == b""  # closed by the server, no answer owed
        assert time.monotonic() - started < 3


# ---- control values --------------------------------------------------------------------------------------
CONTROL_CASES = json.loads((HOSTILE / "control-values.json").read_text())


@pytest.mark.parametrize(
    "verb, path, body, status, message", CONTROL_CASES, ids=[f"{c[0]} {c[1]} {c[2][:40]}" for c in CONTROL_CASES]
)
def test_every_control_value_is_validated(sandbox, gmail, verb, path, body, status, message):
    before = sandbox.control.status()
    answer = _exchange(
        sandbox.url, _request(sandbox.url, verb, path, body.encode(), headers={"Content-Type": "application/json"})
    )
    assert answer[0] == status
    assert message in _error_message(answer[2])
    after = sandbox.control.status()
    assert {**after, "nowMs": 0} == {**before, "nowMs": 0}
    assert gmail.getProfile(userId="me").execute()["emailAddress"] == SUPPORT  # still answering, unharmed


def test_the_clock_moves_at_most_ten_years_at_a_time_and_a_century_in_all(sandbox):
    moved = invoke(["sandbox", "clock", "--endpoint", sandbox.url, "--advance", "9999999999d"], expect=1)
    assert moved.stderr.splitlines()[0].startswith(
        "Error: sandbox control POST clock: advanceSeconds must be between 0 and"
    )
    for _ in range(10):
        sandbox.control.advance_clock(10 * 365 * 86400)
    too_far = invoke(["sandbox", "clock", "--endpoint", sandbox.url, "--advance", "3650d"], expect=1)
    assert "the sandbox clock stays within 100 years of today" in too_far.stderr


def test_a_negative_latency_is_a_one_line_error_and_the_sandbox_keeps_answering(sandbox, gmail):
    result = invoke(["sandbox", "faults", "--endpoint", sandbox.url, "--latency-ms", "-5"], expect=1)
    assert result.stderr.splitlines()[0] == (
        "Error: sandbox control PUT faults: fault latency_ms must be between 0 and 60000, not -5 (HTTP 400)"
    )
    assert gmail.getProfile(userId="me").execute()["emailAddress"] == SUPPORT


def test_non_finite_numbers_from_the_command_line_are_a_usage_error(sandbox):
    result = invoke(["sandbox", "faults", "--endpoint", sandbox.url, "--latency-ms", "nan"], expect=ExitCode.USAGE)
    assert result.stderr.splitlines() == [
        "Error: sandbox control PUT faults: values must be finite numbers, not NaN or infinity"
    ]
    assert sandbox.control.status()["faults"]["latency_ms"] == 0


def test_a_db_whose_clock_was_pushed_out_of_range_is_refused_with_the_fix(tmp_path):
    db = tmp_path / "bricked.sqlite"
    store = Store(str(db))  # what an older sandbox wrote after `clock --advance 99999999999999d`
    store.put("", "sandbox", "clock", {"offset_ms": 8_639_999_999_999_913_600_000})
    store.close()
    result = invoke(["sandbox", "serve", "--db", str(db), "--port", "0"], expect=ExitCode.ERROR)
    assert result.stderr.splitlines() == [
        f"Error: {db}: the sandbox clock stored there is out of range (8639999999999913600000 ms ahead)",
        "Hint: Start with a fresh --db file; this one cannot serve valid dates.",
    ]


# ---- hostile mail -------------------------------------------------------------------------------------------
def _responder_and_filter(gmail) -> None:
    gmail.settings().updateVacation(
        userId="me", body={"enableAutoReply": True, "responseBodyPlainText": "Thanks."}
    ).execute()
    label = gmail.labels().create(userId="me", body={"name": "Seen"}).execute()
    gmail.settings().filters().create(
        userId="me", body={"criteria": {"query": "hello OR hi"}, "action": {"addLabelIds": [label["id"]]}}
    ).execute()


@pytest.mark.parametrize("eml", HOSTILE_MAIL, ids=[p.name for p in HOSTILE_MAIL])
def test_hostile_mail_is_delivered_as_gmail_would_and_reads_back_in_every_format(sandbox, gmail, eml):
    _responder_and_filter(gmail)
    raw = eml.read_bytes()
    delivered = sandbox.control.deliver(SUPPORT, raw)
    stored = b64url_decode(gmail.messages().get(userId="me", id=delivered["id"], format="raw").execute()["raw"])
    assert stored.endswith(raw) and stored.startswith(b"Delivered-To: support@example.com\r\n")
    for fmt in ("full", "metadata", "minimal"):
        assert gmail.messages().get(userId="me", id=delivered["id"], format=fmt).execute()["id"] == delivered["id"]
    assert gmail.threads().get(userId="me", id=delivered["threadId"]).execute()["messages"]
    for reply in sandbox.control.outbox(SUPPORT, include_raw=True):
        head = b64url_decode(reply["raw"]).split(b"\r\n\r\n", 1)[0]
        assert all(line[:1] in b" \t" or b":" in line for line in head.split(b"\r\n")), head
        assert b"\nBcc:" not in head and b"victim@example.org" not in head.split(b"Subject:")[0]


@pytest.mark.parametrize("eml", HOSTILE_MAIL, ids=[p.name for p in HOSTILE_MAIL])
def test_hostile_mail_through_insert_import_and_send_is_stored_or_refused_never_a_500(sandbox, gmail, eml):
    raw = eml.read_bytes()
    messages = gmail.messages()
    for method in (messages.insert, messages.import_):
        stored = method(userId="me", body={"raw": b64url_encode(raw), "labelIds": ["INBOX"]}).execute()
        assert b64url_decode(messages.get(userId="me", id=stored["id"], format="raw").execute()["raw"]) == raw
    try:
        sent = messages.send(userId="me", body={"raw": b64url_encode(raw)}).execute()
    except HttpError as error:
        assert error.status_code == 400, error  # no recipient to send to
    else:
        assert "SENT" in messages.get(userId="me", id=sent["id"], format="minimal").execute()["labelIds"]
    assert sandbox.control.counters()["errors"].get("gmail.users.messages.send", {}).get("500") is None


def test_a_failure_half_way_through_a_delivery_loses_nothing_and_keeps_memory_and_store_equal(tmp_path, monkeypatch):
    db = str(tmp_path / "s.sqlite")

    def mail(subject: str) -> bytes:
        return build_message(from_="ann@customer.example", to=[SUPPORT], subject=subject, text="Hello", date_ms=0)

    with running_sandbox((SUPPORT,), db=db) as handle:
        gmail = build(
            "gmail",
            "v1",
            http=httplib2.Http(timeout=10),
            static_discovery=True,
            client_options={"api_endpoint": handle.url},
        ).users()
        kept = handle.control.deliver(SUPPORT, mail("Question"))
        gmail.settings().updateVacation(
            userId="me", body={"enableAutoReply": True, "responseSubject": "Got it", "responseBodyPlainText": "Thanks."}
        ).execute()

        def broken_reply(*args, **kwargs):
            raise RuntimeError("a bug in the responder")

        monkeypatch.setattr(delivery, "_build_vacation", broken_reply)
        status, _, answer = _exchange(
            handle.url, _request(handle.url, "POST", f"/sandbox/users/{SUPPORT}/deliver", mail("Second"))
        )
        assert status == 500
        assert _error_message(answer) == (
            "sandbox internal error (RuntimeError: a bug in the responder); nothing was changed"
        )
        monkeypatch.undo()
        listed = [m["id"] for m in gmail.messages().list(userId="me").execute()["messages"]]
        assert listed == [kept["id"]]  # the half-delivered message is gone from memory as from the store
        profile = gmail.getProfile(userId="me").execute()
        third = handle.control.deliver(SUPPORT, mail("Third"))
        assert third["autoReply"] is not None
    with running_sandbox((SUPPORT,), db=db) as again:
        gmail = build(
            "gmail",
            "v1",
            http=httplib2.Http(timeout=10),
            static_discovery=True,
            client_options={"api_endpoint": again.url},
        ).users()
        assert sorted(m["id"] for m in gmail.messages().list(userId="me").execute()["messages"]) == sorted(
            [kept["id"], third["id"], third["autoReply"]["id"]]
        )
        assert int(gmail.getProfile(userId="me").execute()["historyId"]) > int(profile["historyId"])
        assert [e["subject"] for e in again.control.outbox(SUPPORT)] == ["Got it Third"]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _serve(db: Path, port: int) -> subprocess.Popen:
    proc = subprocess.Popen(
        [*GMAILDESK, "sandbox", "serve", "--port", str(port), "--db", str(db), "--user", SUPPORT],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout.readline().startswith("gmaildesk sandbox serving")
    return proc


def test_hostile_mail_is_written_through_and_survives_a_sigkill(tmp_path):
    db, port = tmp_path / "s.sqlite", _free_port()
    url = f"http://127.0.0.1:{port}/"
    control = SandboxControl(url)
    proc = _serve(db, port)
    try:
        gmail = build(
            "gmail", "v1", http=httplib2.Http(timeout=10), static_discovery=True, client_options={"api_endpoint": url}
        ).users()
        _responder_and_filter(gmail)
        delivered = {eml.name: control.deliver(SUPPORT, eml.read_bytes()) for eml in HOSTILE_MAIL}
        before = {
            m["id"]: gmail.messages().get(userId="me", id=m["id"], format="raw").execute()["raw"]
            for m in gmail.messages().list(userId="me", maxResults=500).execute()["messages"]
        }
        outbox = control.outbox(SUPPORT, include_raw=True)
    finally:
        os.kill(proc.pid, signal.SIGKILL)  # no clean shutdown: only what was written through survives
        proc.wait(timeout=10)
    assert {d["id"] for d in delivered.values()} <= set(before)
    assert len(outbox) == sum(1 for d in delivered.values() if d["autoReply"])
    proc = _serve(db, port)
    try:
        gmail = build(
            "gmail", "v1", http=httplib2.Http(timeout=10), static_discovery=True, client_options={"api_endpoint": url}
        ).users()
        after = {
            m["id"]: gmail.messages().get(userId="me", id=m["id"], format="raw").execute()["raw"]
            for m in gmail.messages().list(userId="me", maxResults=500).execute()["messages"]
        }
        assert after == before
        assert control.outbox(SUPPORT, include_raw=True) == outbox
        again = control.deliver(SUPPORT, (HOSTILE / "crlf-in-encoded-subject.eml").read_bytes())
        assert again["duplicate"] is True and again["id"] == delivered["crlf-in-encoded-subject.eml"]["id"]
    finally:
        proc.terminate()
        proc.wait(timeout=10)
