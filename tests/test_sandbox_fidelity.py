"""The sandbox is as unkind as Gmail: it rewrites what it stores, answers the way real clients
(GAM7, oauth2client) depend on, and fails where Gmail fails - through the real client."""

from __future__ import annotations

import http.client
import json
import urllib.parse
from typing import Any

import httplib2
import pytest
from google.oauth2.credentials import Credentials
from googleapiclient.discovery import build
from googleapiclient.http import BatchHttpRequest

from api_errors import api_error
from gmaildesk.errors import GmailDeskError
from gmaildesk.sandbox import running_sandbox

SUPPORT = "support@example.com"
VISIBLE = {"labelListVisibility": "labelShow", "messageListVisibility": "show"}


# ---- 1. what Gmail stores is not what was sent ------------------------------------------------
SENT_HTML = (
    "<p>Thanks &amp; regards &ndash; Acme<script>alert(1)</script>"
    '<a href="javascript:steal()" onclick="steal()">site</a><div style="color:red;position:fixed">open'
)
STORED_HTML = '<p>Thanks &amp; regards – Acme<a rel="noopener noreferrer">site</a></p><div style="color:red">open</div>'


def test_vacation_html_is_sanitised_on_write(gmail):
    settings = gmail.settings()
    saved = settings.updateVacation(
        userId="me",
        body={"enableAutoReply": True, "responseBodyHtml": SENT_HTML, "responseBodyPlainText": "  kept as sent  "},
    ).execute()
    assert saved["responseBodyHtml"] == STORED_HTML
    assert saved["responseBodyPlainText"] == "  kept as sent  "  # only the HTML is sanitised
    assert settings.getVacation(userId="me").execute()["responseBodyHtml"] == STORED_HTML


def test_clean_html_survives_sanitising_unchanged(gmail):
    clean = '<div dir="ltr"><b>Acme</b><br><a href="mailto:help@example.com" rel="noopener noreferrer">mail</a></div>'
    saved = (
        gmail.settings()
        .updateVacation(userId="me", body={"enableAutoReply": True, "responseBodyHtml": clean})
        .execute()
    )
    assert saved["responseBodyHtml"] == clean


def test_send_as_signatures_are_sanitised_on_create_patch_and_update(gmail):
    send_as = gmail.settings().sendAs()
    created = send_as.create(
        userId="me",
        body={"sendAsEmail": "billing@example.com", "signature": "<b>Billing &middot; Acme<img src=x onerror=hack()>"},
    ).execute()
    assert created["signature"] == '<b>Billing · Acme<img src="x"></b>'
    assert created["displayName"] == ""  # GAM7's show sendas reads result['displayName'] directly
    patched = send_as.patch(userId="me", sendAsEmail=SUPPORT, body={"signature": SENT_HTML}).execute()
    assert patched["signature"] == STORED_HTML
    updated = send_as.update(userId="me", sendAsEmail=SUPPORT, body={"signature": "<i>Support"}).execute()
    assert updated["signature"] == "<i>Support</i>"
    assert send_as.get(userId="me", sendAsEmail=SUPPORT).execute()["signature"] == "<i>Support</i>"


def test_filter_subject_is_trimmed_and_its_spaces_collapsed(gmail):
    filters = gmail.settings().filters()
    created = filters.create(
        userId="me",
        body={"criteria": {"subject": "  Invoice    overdue ", "from": "ann"}, "action": {"addLabelIds": ["STARRED"]}},
    ).execute()
    assert created["criteria"] == {"subject": "Invoice overdue", "from": "ann"}
    assert filters.get(userId="me", id=created["id"]).execute()["criteria"]["subject"] == "Invoice overdue"
    same = filters.create(
        userId="me",
        body={"criteria": {"subject": "Invoice overdue", "from": "ann"}, "action": {"addLabelIds": ["STARRED"]}},
    )
    assert api_error(same)[:2] == (400, "failedPrecondition")  # the stored forms are equal


def test_a_subject_of_spaces_only_is_no_criterion(gmail):
    call = (
        gmail.settings()
        .filters()
        .create(userId="me", body={"criteria": {"subject": "   "}, "action": {"addLabelIds": ["STARRED"]}})
    )
    assert api_error(call)[:3] == (400, "invalidArgument", "Filter must have at least one criterion")


def test_label_names_are_normalised_before_the_conflict_check(gmail):
    labels = gmail.labels()
    existing = labels.create(userId="me", body={"name": "Mailing Lists/LEDE/Devel", **VISIBLE}).execute()
    # got-your-back#173: a name with a line break in it conflicted with the existing label.
    status, reason, message = api_error(
        labels.create(userId="me", body={"name": "Mailing\n Lists/LEDE/Devel", **VISIBLE})
    )
    assert (status, reason, message) == (409, "aborted", "Label name exists or conflicts")
    created = labels.create(userId="me", body={"name": "  Vendors \t\r\n Stripe  ", **VISIBLE}).execute()
    assert created["name"] == "Vendors Stripe"
    renamed = labels.patch(userId="me", id=created["id"], body={"name": "Vendors  /  Stripe"}).execute()
    assert renamed["name"] == "Vendors / Stripe"
    assert (
        api_error(
            labels.update(userId="me", id=created["id"], body={"name": " Mailing Lists/LEDE/Devel\n", **VISIBLE})
        )[0]
        == 409
    )
    assert api_error(labels.create(userId="me", body={"name": " \n\t ", **VISIBLE}))[:2] == (400, "invalidArgument")
    assert labels.get(userId="me", id=existing["id"]).execute()["name"] == "Mailing Lists/LEDE/Devel"


# ---- 2. batches: RFC 5322 part headers, the whole Content-ID echoed -----------------------------
class RecordingHttp(httplib2.Http):
    """A transport that keeps what it sent, to see what the client really puts on the wire."""

    def __init__(self):
        super().__init__(timeout=30)
        self.bodies: list[str] = []

    def request(self, uri, method="GET", body=None, headers=None, *args, **kwargs):
        self.bodies.append(body if isinstance(body, str) else (body or b"").decode())
        return super().request(uri, method, body, headers, *args, **kwargs)


def test_gam_style_long_request_ids_are_folded_by_the_client_and_answered_in_full(gmail, sandbox):
    labels = [gmail.labels().create(userId="me", body={"name": f"Dept{i}", **VISIBLE}).execute() for i in range(3)]
    answers: dict[str, Any] = {}
    batch = BatchHttpRequest(
        batch_uri=sandbox.url + "batch/gmail/v1",
        callback=lambda rid, response, error: answers.__setitem__(rid, error or response),
    )
    ids = [f"{SUPPORT}:labels.get:{label['id']}:attempt-1:{'x' * 40}" for label in labels]
    for request_id, label in zip(ids, labels, strict=True):
        batch.add(gmail.labels().get(userId="me", id=label["id"]), request_id=request_id)
    wire = RecordingHttp()
    batch.execute(http=wire)
    assert "Content-ID: <" in wire.bodies[0] and " +\n " in wire.bodies[0]  # folded, as GAM7's are
    assert {rid: answer["name"] for rid, answer in answers.items()} == {
        rid: label["name"] for rid, label in zip(ids, labels, strict=True)
    }


def test_a_folded_content_id_is_echoed_whole_on_the_wire(sandbox):
    request_id = "<0f3c-uuid + user%40example.com-threads.get-" + "y" * 60 + ">"
    folded = request_id.replace(" + ", " +\n ", 1)
    body = (
        "--B\nContent-Type: application/http\nContent-Transfer-Encoding: binary\n"
        f"Content-ID: {folded}\n\nGET /gmail/v1/users/me/labels/INBOX HTTP/1.1\n\n\n--B--\n"
    )
    status, headers, answer = _raw(
        sandbox, "POST", "/batch/gmail/v1", body.encode(), {"Content-Type": 'multipart/mixed; boundary="B"'}
    )
    assert status == 200
    assert f"Content-ID: <response-{request_id[1:-1]}>\r\n" in answer
    assert '"id": "INBOX"' in answer or '"id":"INBOX"' in answer


# ---- 3. settings answered the way GAM7 reads them -----------------------------------------------
def test_get_vacation_answers_its_booleans_even_when_false(gmail):
    settings = gmail.settings()
    fresh = settings.getVacation(userId="me").execute()
    # What GAM7's `show vacation` does with the answer: KeyError if Gmail left them out.
    assert (fresh["enableAutoReply"], fresh["restrictToContacts"], fresh["restrictToDomain"]) == (False, False, False)
    saved = settings.updateVacation(
        userId="me", body={"enableAutoReply": True, "responseSubject": "Away", "restrictToContacts": True}
    ).execute()
    assert (saved["restrictToContacts"], saved["restrictToDomain"]) == (True, False)
    assert gmail.settings().getAutoForwarding(userId="me").execute() == {"enabled": False}


def test_gam_style_float_times_are_accepted_and_answered_as_int64_strings(gmail):
    settings = gmail.settings()
    # GAM7 sends time.mktime(...)*1000: a JSON number with a fraction.
    saved = settings.updateVacation(
        userId="me",
        body={
            "enableAutoReply": True,
            "responseSubject": "Away",
            "startTime": 1767225600000.0,
            "endTime": 1798761600000.75,
        },
    ).execute()
    assert (saved["startTime"], saved["endTime"]) == ("1767225600000", "1798761600000")
    # GAM7's `vacation` command: read the settings, change one field, write them all back.
    old = settings.getVacation(userId="me").execute()
    old.update({"responseSubject": "Back soon", "endTime": 1830297600000.0})
    again = settings.updateVacation(userId="me", body=old).execute()
    assert (again["startTime"], again["endTime"], again["responseSubject"]) == (
        "1767225600000",
        "1830297600000",
        "Back soon",
    )


@pytest.mark.parametrize("start", [float("nan"), -1.5, 1e30, str(2**63), "1767225600000.0", "soon", True])
def test_times_that_are_no_epoch_milliseconds_are_400(gmail, start):
    call = gmail.settings().updateVacation(userId="me", body={"enableAutoReply": False, "startTime": start})
    status, _, message = api_error(call)
    assert status == 400 and message.startswith("Invalid value for startTime")


# ---- 6. the 1,001st filter, SMTP relays ---------------------------------------------------------
def _create_filters(gmail, sandbox, count: int) -> None:
    filters = gmail.settings().filters()
    for first in range(0, count, 100):
        batch = BatchHttpRequest(batch_uri=sandbox.url + "batch/gmail/v1")
        for i in range(first, min(first + 100, count)):
            batch.add(
                filters.create(
                    userId="me",
                    body={"criteria": {"from": f"sender{i}@lists.example"}, "action": {"addLabelIds": ["STARRED"]}},
                )
            )
        batch.execute(http=httplib2.Http(timeout=30))


def test_the_1001st_filter_is_a_500_as_at_gmail(gmail, sandbox):
    _create_filters(gmail, sandbox, 1000)
    filters = gmail.settings().filters()
    assert len(filters.list(userId="me").execute()["filter"]) == 1000
    one_more = filters.create(
        userId="me", body={"criteria": {"from": "late@lists.example"}, "action": {"addLabelIds": ["STARRED"]}}
    )
    assert api_error(one_more) == (500, "backendError", "Internal error encountered.")
    assert len(filters.list(userId="me").execute()["filter"]) == 1000
    filters.delete(userId="me", id=filters.list(userId="me").execute()["filter"][0]["id"]).execute()
    assert filters.create(
        userId="me", body={"criteria": {"from": "late@lists.example"}, "action": {"addLabelIds": ["STARRED"]}}
    ).execute()["id"]


SMTP = {"host": "smtp.relay.example", "port": 587, "username": "billing", "password": "pw", "securityMode": "starttls"}


def _alias(gmail, smtp: dict, address: str = "billing@relay.example"):
    return gmail.settings().sendAs().create(userId="me", body={"sendAsEmail": address, "smtpMsa": smtp})


def test_smtp_alias_is_refused_unless_gmail_can_reach_the_server(gmail, sandbox):
    status, reason, message = api_error(_alias(gmail, SMTP))
    assert (status, reason) == (400, "failedPrecondition")
    assert message == (
        "Gmail could not connect to the SMTP server smtp.relay.example:587 (starttls) to validate "
        "the alias; check the host, port, security mode, username and password"
    )
    listed = gmail.settings().sendAs().list(userId="me").execute()["sendAs"]
    assert [s["sendAsEmail"] for s in listed] == [SUPPORT]  # nothing half-created
    assert sandbox.control.register_smtp_hosts(SUPPORT, ["SMTP.Relay.example"]) == ["smtp.relay.example"]
    created = _alias(gmail, SMTP).execute()
    assert created["smtpMsa"] == {"host": "smtp.relay.example", "port": 587, "securityMode": "starttls"}


def test_a_host_registered_with_a_port_reaches_that_port_only(gmail, sandbox):
    sandbox.control.register_smtp_hosts(SUPPORT, ["smtp.relay.example:465"])
    assert api_error(_alias(gmail, SMTP))[:2] == (400, "failedPrecondition")
    assert _alias(gmail, {**SMTP, "port": 465, "securityMode": "ssl"}).execute()["smtpMsa"]["port"] == 465
    sandbox.control.register_smtp_hosts(SUPPORT, [])  # registrations are replaced, not added to
    assert api_error(_alias(gmail, {**SMTP, "port": 465, "securityMode": "ssl"}, "other@relay.example"))[0] == 400


def test_an_unsecured_relay_must_use_port_25(gmail, sandbox):
    sandbox.control.register_smtp_hosts(SUPPORT, ["smtp.relay.example"])
    status, reason, message = api_error(_alias(gmail, {**SMTP, "securityMode": "none"}))
    assert (status, reason, message) == (
        400,
        "failedPrecondition",
        "SMTP server smtp.relay.example:587: security mode none requires port 25",
    )
    assert _alias(gmail, {**SMTP, "port": 25, "securityMode": "none"}).execute()["smtpMsa"]["port"] == 25


def test_registered_smtp_hosts_survive_a_restart_of_a_persistent_sandbox(tmp_path):
    db = str(tmp_path / "sandbox.db")
    with running_sandbox((SUPPORT,), db=db) as first:
        first.control.register_smtp_hosts(SUPPORT, ["smtp.relay.example:587"])
    with running_sandbox((SUPPORT,), db=db, validate_responses=True) as second:
        gmail = build(
            "gmail",
            "v1",
            http=httplib2.Http(timeout=30),
            static_discovery=True,
            client_options={"api_endpoint": second.url},
        ).users()
        assert _alias(gmail, SMTP).execute()["sendAsEmail"] == "billing@relay.example"
        assert second.control.counters()["schema_violations"] == []


@pytest.mark.parametrize("hosts", [["smtp.example.com:99999"], ["bad host"], "smtp.example.com", [7]])
def test_smtp_host_registration_refuses_what_is_no_host(sandbox, hosts):
    with pytest.raises(GmailDeskError, match=r"smtp-hosts.*\(HTTP 400\)"):
        sandbox.control.register_smtp_hosts(SUPPORT, hosts)


# ---- 7. OAuth without PKCE, as oauth2client does it -------------------------------------------------
def _raw(sandbox, method: str, path: str, body: bytes | None = None, headers: dict | None = None):
    parts = urllib.parse.urlsplit(sandbox.url)
    connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=10)
    try:
        connection.request(method, path, body=body, headers=headers or {})
        response = connection.getresponse()
        return response.status, dict(response.getheaders()), response.read().decode()
    finally:
        connection.close()


def _authorize(sandbox, **extra) -> str:
    query = urllib.parse.urlencode(
        {
            "client_id": "ezgmail.apps.googleusercontent.com",
            "redirect_uri": "http://localhost:8080/",
            "scope": "https://mail.google.com/",
            "response_type": "code",
            "access_type": "offline",
            **extra,
        }
    )
    status, headers, _ = _raw(sandbox, "GET", "/sandbox/oauth/authorize?" + query)
    assert status == 302
    return urllib.parse.parse_qs(urllib.parse.urlsplit(headers["Location"]).query)["code"][0]


def _exchange(sandbox, code: str, **extra) -> tuple[int, dict]:
    form = urllib.parse.urlencode(
        {
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": "http://localhost:8080/",
            "client_id": "ezgmail.apps.googleusercontent.com",
            "client_secret": "secret",
            **extra,
        }
    ).encode()
    status, _, body = _raw(
        sandbox, "POST", "/sandbox/oauth/token", form, {"Content-Type": "application/x-www-form-urlencoded"}
    )
    return status, json.loads(body)


def test_oauth2client_style_login_without_pkce_reaches_gmail(sandbox):
    status, token = _exchange(sandbox, _authorize(sandbox))
    assert status == 200 and token["token_type"] == "Bearer" and token["refresh_token"]
    gmail = build(
        "gmail",
        "v1",
        credentials=Credentials(token["access_token"]),
        static_discovery=True,
        client_options={"api_endpoint": sandbox.url},
    ).users()
    assert gmail.getProfile(userId="me").execute()["emailAddress"] == SUPPORT
    anonymous_refused = _raw(
        sandbox, "GET", "/gmail/v1/users/me/profile", headers={"Authorization": "Bearer not-a-token"}
    )[0]
    assert anonymous_refused == 401


def test_a_code_asked_for_with_pkce_still_needs_its_verifier(sandbox):
    verifier = "v" * 50
    code = _authorize(sandbox, code_challenge=verifier, code_challenge_method="plain")
    assert _exchange(sandbox, code) == (400, {"error": "invalid_grant", "error_description": "Invalid code verifier."})
    code = _authorize(sandbox, code_challenge=verifier)  # no method: plain, as at Google
    assert _exchange(sandbox, code, code_verifier="w" * 50)[1]["error"] == "invalid_grant"
    code = _authorize(sandbox, code_challenge=verifier)
    status, token = _exchange(sandbox, code, code_verifier=verifier)
    assert status == 200 and token["access_token"]
