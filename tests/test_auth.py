"""OAuth against the sandbox: loopback login, private token file, status, refresh, logout,
service accounts, the sandbox's own OAuth endpoints, and the `gmaildesk auth` commands."""

from __future__ import annotations

import base64
import hashlib
import http.client
import io
import json
import os
import stat
import sys
import threading
import urllib.parse
import urllib.request
import webbrowser
from pathlib import Path
from typing import cast

import pytest
import requests
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from typer.testing import CliRunner

from gmaildesk.cli import app
from gmaildesk.errors import ExitCode, GmailDeskError
from gmaildesk.gmail import ConnectionOptions, auth, connect, scopes
from gmaildesk.gmail.errors import SERVICE_ACCOUNT_NEEDED
from gmaildesk.gmail.retry import RetryPolicy
from gmaildesk.sandbox import oauth
from gmaildesk.sandbox.errors import ApiError

BROWSER = "gmaildesk-test-browser"
FAST = RetryPolicy(max_attempts=3, base_delay=0.001, max_delay=0.005)


class SandboxBrowser(webbrowser.BaseBrowser):
    """Plays the user's browser: GET the consent URL, then follow its redirect to the app.

    run_local_server() opens the browser before it starts serving its redirect URI, so the
    redirect is followed on a thread; `finish()` waits for it.
    """

    def __init__(self):
        super().__init__(BROWSER)
        self.opened: list[str] = []
        self.landed: list[str] = []
        self._threads: list[threading.Thread] = []

    def open(self, url, new=0, autoraise=True):
        self.opened.append(url)
        parts = urllib.parse.urlsplit(url)
        connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=10)
        connection.request("GET", f"{parts.path}?{parts.query}")
        answer = connection.getresponse()
        answer.read()
        location = answer.getheader("Location")
        connection.close()
        assert answer.status == 302, f"authorize answered {answer.status}"
        thread = threading.Thread(target=self._land, args=(location,), daemon=True)
        thread.start()
        self._threads.append(thread)
        return True

    def _land(self, location: str) -> None:
        with urllib.request.urlopen(location, timeout=10) as page:
            self.landed.append(page.read().decode())

    def finish(self) -> None:
        for thread in self._threads:
            thread.join(timeout=10)


@pytest.fixture
def browser(monkeypatch):
    monkeypatch.setenv("DISPLAY", ":0")  # a desktop: `auth login` opens the browser rather than asking to paste
    controller = SandboxBrowser()
    # preferred=True puts it first in webbrowser's try order, so webbrowser.get() with no name
    # (what `gmaildesk auth login` uses) picks it too.
    webbrowser.register(BROWSER, None, controller, preferred=True)
    yield controller
    controller.finish()


@pytest.fixture
def config_dir(tmp_path, monkeypatch):
    directory = tmp_path / "config" / "gmaildesk"
    monkeypatch.setenv("GMAILDESK_CONFIG_DIR", str(directory))
    monkeypatch.setenv("OAUTHLIB_INSECURE_TRANSPORT", "1")  # the sandbox token endpoint is plain http
    return directory


@pytest.fixture
def client_secret(sandbox, tmp_path) -> Path:
    path = tmp_path / "client_secret.json"
    path.write_text(
        json.dumps(
            {
                "installed": {
                    "client_id": "gmaildesk-test.apps.googleusercontent.com",
                    "client_secret": "sandbox-client-secret",
                    "auth_uri": f"{sandbox.url}sandbox/oauth/authorize",
                    "token_uri": f"{sandbox.url}sandbox/oauth/token",
                    "redirect_uris": ["http://127.0.0.1"],
                }
            }
        )
    )
    return path


def _login(sandbox, client_secret, scope_set=scopes.LOGIN):
    return auth.login(client_secret, scope_set, browser=BROWSER, endpoint=sandbox.url, timeout_seconds=10)


def _mode(path: Path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


# ---- login, token file, status, refresh, logout --------------------------------------------------


def test_loopback_login_stores_a_private_token_and_reports_the_account(sandbox, client_secret, config_dir, browser):
    result = _login(sandbox, client_secret)
    browser.finish()

    consent = urllib.parse.parse_qs(urllib.parse.urlsplit(browser.opened[0]).query)
    assert consent["code_challenge_method"] == ["S256"] and consent["access_type"] == ["offline"]
    assert consent["redirect_uri"][0].startswith("http://127.0.0.1:")
    assert "authorized" in browser.landed[0]

    token_file = config_dir / "token.json"
    assert result.path == token_file
    assert result.account == "support@example.com"
    assert set(result.scopes) == set(scopes.LOGIN)
    assert result.refreshable and result.expiry is not None
    assert _mode(token_file) == 0o600 and _mode(config_dir) == 0o700
    # no temporary file left behind; tokens/ keeps each account's login (sweeping several mailboxes)
    assert sorted(p.name for p in config_dir.iterdir()) == ["token.json", "tokens"]
    assert [p.name for p in (config_dir / "tokens").iterdir()] == ["support@example.com.json"]
    assert _mode(config_dir / "tokens") == 0o700 and _mode(config_dir / "tokens" / "support@example.com.json") == 0o600
    stored = json.loads(token_file.read_text())
    assert stored["token"].startswith("ya29.") and stored["refresh_token"].startswith("1//")
    assert stored["token_uri"] == f"{sandbox.url}sandbox/oauth/token"


def test_status_never_shows_the_tokens(sandbox, client_secret, config_dir, browser):
    _login(sandbox, client_secret)
    stored = json.loads((config_dir / "token.json").read_text())
    runner = CliRunner()

    text = runner.invoke(app, ["auth", "status"], catch_exceptions=False)
    as_json = runner.invoke(app, ["auth", "status", "--json"], catch_exceptions=False)

    assert text.exit_code == 0 and as_json.exit_code == 0
    assert "Account:    support@example.com" in text.stdout
    assert "gmail.modify" in text.stdout and "gmail.settings.sharing" in text.stdout
    assert str(config_dir / "token.json") in text.stdout
    report = json.loads(as_json.stdout)
    assert report["account"] == "support@example.com" and report["refreshable"] is True
    assert set(report["scopes"]) == set(scopes.LOGIN)
    for output in (text.stdout, as_json.stdout, repr(auth.status())):
        assert stored["token"] not in output and stored["refresh_token"] not in output
        assert stored["client_secret"] not in output


def test_expired_token_is_refreshed_and_saved_again_privately(sandbox, client_secret, config_dir, browser):
    _login(sandbox, client_secret)
    token_file = config_dir / "token.json"
    stored = json.loads(token_file.read_text())
    stored["expiry"] = "2020-01-01T00:00:00Z"
    token_file.write_text(json.dumps(stored))

    client = connect(ConnectionOptions(endpoint=sandbox.url, use_login=True), scopes.SWEEP, policy=FAST)
    profile = client.execute(client.users().getProfile(userId="me"))

    refreshed = json.loads(token_file.read_text())
    assert profile["emailAddress"] == "support@example.com"
    assert refreshed["token"] != stored["token"]
    assert refreshed["refresh_token"] == stored["refresh_token"]
    assert auth.status().expiry.year > 2020
    assert _mode(token_file) == 0o600


def test_token_rejected_by_the_server_is_refreshed_on_401(sandbox, client_secret, config_dir, browser):
    _login(sandbox, client_secret)
    client = connect(ConnectionOptions(endpoint=sandbox.url, use_login=True), scopes.READ, policy=FAST)
    assert sandbox.sandbox.auth.expire_access_tokens() >= 1
    labels = client.execute(client.users().labels().list(userId="me"))
    assert any(label["id"] == "INBOX" for label in labels["labels"])


def test_revoked_refresh_token_asks_for_a_new_login(sandbox, client_secret, config_dir, browser):
    _login(sandbox, client_secret)
    token_file = config_dir / "token.json"
    stored = json.loads(token_file.read_text())
    assert sandbox.sandbox.auth.revoke(stored["refresh_token"])
    stored["expiry"] = "2020-01-01T00:00:00Z"
    token_file.write_text(json.dumps(stored))
    with pytest.raises(GmailDeskError) as caught:
        connect(ConnectionOptions(endpoint=sandbox.url, use_login=True), scopes.READ)
    assert "invalid_grant" in caught.value.message
    assert caught.value.hints == ("Run `gmaildesk auth login` again.",)
    assert caught.value.exit_code == ExitCode.AUTH


def test_login_lacking_a_needed_scope_names_the_login_command(sandbox, client_secret, config_dir, browser):
    _login(sandbox, client_secret, scopes.READ)
    with pytest.raises(GmailDeskError) as caught:
        connect(ConnectionOptions(endpoint=sandbox.url, use_login=True), scopes.DESK)
    assert caught.value.message == (
        "the stored login lacks scope gmail.labels, gmail.settings.basic, gmail.settings.sharing"
    )
    assert caught.value.hints == (
        "Run `gmaildesk auth login --client-secret CLIENT_SECRET.json --scope gmail.labels "
        "--scope gmail.readonly --scope gmail.settings.basic "
        "--scope gmail.settings.sharing`.",
    )
    assert caught.value.exit_code == ExitCode.AUTH
    # gmail.modify covers what READ needs
    assert not scopes.missing([scopes.MODIFY], scopes.READ)


def test_sandbox_login_is_never_sent_to_google(sandbox, client_secret, config_dir, browser):
    _login(sandbox, client_secret)
    with pytest.raises(GmailDeskError) as caught:
        connect(ConnectionOptions(), scopes.READ)
    assert "is not a Google OAuth endpoint" in caught.value.message
    assert "pass --endpoint" in caught.value.hints[0]


def test_user_token_creating_send_as_gets_the_service_account_hint(sandbox, client_secret, config_dir, browser):
    _login(sandbox, client_secret)
    client = connect(ConnectionOptions(endpoint=sandbox.url, use_login=True), scopes.DESK, policy=FAST)
    request = client.users().settings().sendAs().create(userId="me", body={"sendAsEmail": "billing@example.com"})
    with pytest.raises(GmailDeskError) as caught:
        client.execute(request, "creating send-as 'billing@example.com'")
    assert "(HTTP 403)" in caught.value.message
    assert caught.value.hints == (SERVICE_ACCOUNT_NEEDED,)
    assert caught.value.exit_code == ExitCode.AUTH


def test_logout_revokes_the_grant_and_removes_the_token(sandbox, client_secret, config_dir, browser):
    _login(sandbox, client_secret)
    stored = json.loads((config_dir / "token.json").read_text())
    result = auth.logout()
    assert (result.removed, result.revoked, result.problem) == (True, True, None)
    assert not (config_dir / "token.json").exists()
    # a copy of the file left elsewhere no longer works: the refresh token was revoked at its issuer
    answer = requests.post(
        stored["token_uri"],
        data={
            "grant_type": "refresh_token",
            "refresh_token": stored["refresh_token"],
            "client_id": stored["client_id"],
            "client_secret": stored["client_secret"],
        },
        timeout=10,
    )
    assert answer.status_code == 400 and answer.json()["error"] == "invalid_grant"
    assert not auth.logout()
    with pytest.raises(GmailDeskError) as caught:
        auth.status()
    assert caught.value.exit_code == ExitCode.AUTH


def test_login_refuses_a_client_secret_pointing_elsewhere_than_the_endpoint(sandbox, tmp_path, config_dir):
    path = tmp_path / "google_secret.json"
    path.write_text(
        json.dumps(
            {
                "installed": {
                    "client_id": "x",
                    "client_secret": "y",
                    "auth_uri": "https://accounts.google.com/o/oauth2/auth",
                    "token_uri": "https://oauth2.googleapis.com/token",
                }
            }
        )
    )
    with pytest.raises(GmailDeskError) as caught:
        auth.login(path, scopes.READ, endpoint=sandbox.url, open_browser=False)
    assert "is not on the endpoint" in caught.value.message
    assert caught.value.exit_code == ExitCode.USAGE


# ---- service accounts -----------------------------------------------------------------------------


def _service_account_key(tmp_path: Path, token_uri: str) -> Path:
    private_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = private_key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    path = tmp_path / "service-account.json"
    path.write_text(
        json.dumps(
            {
                "type": "service_account",
                "project_id": "gmaildesk-test",
                "private_key_id": "k1",
                "private_key": pem,
                "client_email": "desk@gmaildesk-test.iam.gserviceaccount.com",
                "client_id": "1234567890",
                "token_uri": token_uri,
            }
        )
    )
    return path


def test_service_account_with_delegation_can_create_send_as(sandbox, tmp_path):
    key = _service_account_key(tmp_path, f"{sandbox.url}sandbox/oauth/token")
    options = ConnectionOptions(endpoint=sandbox.url, service_account=key, user="support@example.com")
    client = connect(options, scopes.DESK, policy=FAST)
    created = client.execute(
        client.users()
        .settings()
        .sendAs()
        .create(userId="me", body={"sendAsEmail": "billing@example.com", "displayName": "Billing"})
    )
    assert created["sendAsEmail"] == "billing@example.com"
    listed = client.execute(client.users().settings().sendAs().list(userId="me"))
    assert "billing@example.com" in {entry["sendAsEmail"] for entry in listed["sendAs"]}


def test_logins_survive_moving_the_sandbox_clock(sandbox, client_secret, config_dir, browser, tmp_path):
    _login(sandbox, client_secret)
    user_client = connect(ConnectionOptions(endpoint=sandbox.url, use_login=True), scopes.READ, policy=FAST)
    sandbox.control.advance_clock(2 * 86400)  # every sandbox access token is now expired
    assert user_client.execute(user_client.users().getProfile(userId="me"))["emailAddress"] == "support@example.com"
    key = _service_account_key(tmp_path, f"{sandbox.url}sandbox/oauth/token")
    options = ConnectionOptions(endpoint=sandbox.url, service_account=key, user="support@example.com")
    robot = connect(options, scopes.READ, policy=FAST)
    assert robot.execute(robot.users().labels().list(userId="me"))["labels"]


def test_service_account_cannot_reach_another_users_mailbox(sandbox, tmp_path):
    key = _service_account_key(tmp_path, f"{sandbox.url}sandbox/oauth/token")
    options = ConnectionOptions(endpoint=sandbox.url, service_account=key, user="support@example.com")
    client = connect(options, scopes.READ, policy=FAST)
    with pytest.raises(GmailDeskError) as caught:
        client.execute(client.users().labels().list(userId="colleague@example.com"))
    assert "Delegation denied for support@example.com (HTTP 403)" in caught.value.message


def test_service_account_key_with_googles_token_uri_is_refused_for_a_sandbox(sandbox, tmp_path):
    key = _service_account_key(tmp_path, "https://oauth2.googleapis.com/token")
    options = ConnectionOptions(endpoint=sandbox.url, service_account=key, user="support@example.com")
    with pytest.raises(GmailDeskError) as caught:
        connect(options, scopes.DESK)
    assert "is not on the endpoint" in caught.value.message


# ---- the sandbox's OAuth endpoints, directly --------------------------------------------------------


def _s256(verifier: str) -> str:
    return base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).decode().rstrip("=")


def _authorize(registry, **overrides):
    query = {
        "client_id": ["cid"],
        "redirect_uri": ["http://127.0.0.1:5555/"],
        "response_type": ["code"],
        "scope": [scopes.READONLY],
        "state": ["st"],
        "code_challenge": [_s256("v" * 43)],
        "code_challenge_method": ["S256"],
    }
    query.update({k: [v] for k, v in overrides.items()})
    return oauth.handle_http(
        registry, "GET", "/sandbox/oauth/authorize", query, {}, b"", now=1000.0, default_user="support@example.com"
    )


def _token(registry, form: dict, now: float = 1000.0):
    status, headers, body = oauth.handle_http(
        registry,
        "POST",
        "/sandbox/oauth/token",
        {},
        {},
        urllib.parse.urlencode(form).encode(),
        now=now,
        default_user="support@example.com",
    )
    return status, json.loads(body)


def _code(location: str) -> str:
    return urllib.parse.parse_qs(urllib.parse.urlsplit(location).query)["code"][0]


def test_authorize_redirects_with_code_and_state():
    registry = oauth.AuthRegistry()
    status, headers, _ = _authorize(registry, login_hint="colleague@example.com")
    assert status == 302
    location = urllib.parse.urlsplit(headers["Location"])
    assert f"{location.scheme}://{location.netloc}{location.path}" == "http://127.0.0.1:5555/"
    assert urllib.parse.parse_qs(location.query)["state"] == ["st"]


@pytest.mark.parametrize(
    "overrides, error",
    [
        ({"redirect_uri": "https://evil.example.com/"}, "redirect_uri_mismatch"),
        ({"response_type": "token"}, "unsupported_response_type"),
        ({"scope": "https://www.googleapis.com/auth/drive"}, "invalid_scope"),
        ({"code_challenge_method": "md5"}, "invalid_request"),  # Google knows S256 and plain only
        ({"code_challenge": "", "code_challenge_method": "S256"}, "invalid_request"),
    ],
)
def test_authorize_rejects_what_google_rejects(overrides, error):
    status, _, body = _authorize(oauth.AuthRegistry(), **overrides)
    assert status == 400 and json.loads(body)["error"] == error


def test_code_exchange_checks_pkce_and_is_single_use():
    registry = oauth.AuthRegistry()
    code = _code(_authorize(registry)[1]["Location"])
    form = {
        "grant_type": "authorization_code",
        "code": code,
        "client_id": "cid",
        "redirect_uri": "http://127.0.0.1:5555/",
        "code_verifier": "w" * 43,
    }
    assert _token(registry, form) == (400, {"error": "invalid_grant", "error_description": "Invalid code verifier."})

    code = _code(_authorize(registry)[1]["Location"])
    form.update(code=code, code_verifier="v" * 43)
    status, answer = _token(registry, form)
    assert status == 200
    assert set(answer) == {"access_token", "expires_in", "scope", "token_type", "refresh_token"}
    assert answer["token_type"] == "Bearer" and answer["scope"] == scopes.READONLY
    assert _token(registry, form)[1]["error"] == "invalid_grant"  # the code is spent

    status, refreshed = _token(
        registry,
        {
            "grant_type": "refresh_token",
            "refresh_token": answer["refresh_token"],
            "client_id": "cid",
            "client_secret": "s",
        },
    )
    assert status == 200 and "refresh_token" not in refreshed
    assert refreshed["access_token"] != answer["access_token"]


def test_jwt_bearer_grant_reads_the_claims_without_verifying_the_signature():
    registry = oauth.AuthRegistry()

    def assertion(**claims):
        header = base64.urlsafe_b64encode(b'{"alg":"RS256","typ":"JWT"}').rstrip(b"=").decode()
        payload = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=").decode()
        return f"{header}.{payload}.c2lnbmF0dXJl"

    good = dict(
        iss="sa@p.iam.gserviceaccount.com",
        sub="support@example.com",
        scope=scopes.SETTINGS_SHARING,
        aud=oauth.GOOGLE_TOKEN_URI,
        iat=1000,
        exp=4600,
    )
    status, answer = _token(registry, {"grant_type": oauth.JWT_BEARER_GRANT, "assertion": assertion(**good)})
    assert status == 200 and "refresh_token" not in answer
    grant = registry.access_grant(answer["access_token"], now=1001)
    assert (grant.kind, grant.user, grant.subject) == ("service_account", "support@example.com", "support@example.com")

    too_long = dict(good, iat=1000, exp=1000 + 7200)
    status, answer = _token(registry, {"grant_type": oauth.JWT_BEARER_GRANT, "assertion": assertion(**too_long)})
    assert status == 400 and answer["error"] == "invalid_grant"
    status, answer = _token(registry, {"grant_type": oauth.JWT_BEARER_GRANT, "assertion": "not.a.jwt"})
    assert status == 400 and answer["error"] == "invalid_grant"
    no_scope = dict(good, scope="")
    status, answer = _token(registry, {"grant_type": oauth.JWT_BEARER_GRANT, "assertion": assertion(**no_scope)})
    assert (status, answer["error"]) == (400, "invalid_scope")


def test_authorize_call_rules():
    registry = oauth.AuthRegistry()
    now = 1000.0
    user = registry.issue_access_token(
        oauth.Grant(oauth.USER, "support@example.com", frozenset({scopes.MODIFY, scopes.SETTINGS_BASIC}), "cid"),
        now=now,
    )
    robot = registry.issue_access_token(
        oauth.Grant(
            oauth.SERVICE_ACCOUNT,
            "support@example.com",
            frozenset({scopes.SETTINGS_SHARING}),
            "sa",
            "support@example.com",
        ),
        now=now,
    )

    def check(token, method_id, user_id="me", **kwargs):
        return oauth.authorize_call(
            registry, f"Bearer {token}" if token else None, method_id, user_id, now=now, **kwargs
        )

    def refused(token, method_id, user_id="me", **kwargs) -> ApiError:
        with pytest.raises(ApiError) as caught:
            check(token, method_id, user_id, **kwargs)
        return caught.value

    assert check(None, "gmail.users.settings.sendAs.create") is None  # anonymous sandbox mode
    assert check(user, "gmail.users.labels.list") == "support@example.com"
    assert check(user, "gmail.users.messages.list", "support%40example.com") == "support@example.com"
    assert check(user, "gmail.users.settings.sendAs.patch", targets_primary_send_as=True) == "support@example.com"
    assert check(robot, "gmail.users.settings.sendAs.create") == "support@example.com"

    assert (refused("nope", "gmail.users.labels.list").code, refused("nope", "gmail.users.labels.list").reason) == (
        401,
        "authError",
    )
    error = refused(user, "gmail.users.settings.forwardingAddresses.create")
    assert (error.code, error.reason) == (403, "insufficientPermissions")
    error = refused(user, "gmail.users.settings.sendAs.patch")
    assert (error.code, error.reason, error.message) == (403, "forbidden", oauth.DELEGATION_REQUIRED_MESSAGE)
    error = refused(user, "gmail.users.labels.list", "colleague@example.com")
    assert error.message == "Delegation denied for support@example.com"
    assert check(user, "gmail.users.labels.list") and registry.access_grant(user, now=now + 4000) is None


# ---- the CLI ------------------------------------------------------------------------------------


def test_cli_login_then_logout(sandbox, client_secret, config_dir, browser):
    runner = CliRunner()
    result = runner.invoke(
        app,
        ["auth", "login", "--client-secret", str(client_secret), "--scope", "sweep", "--endpoint", sandbox.url],
        catch_exceptions=False,
    )
    assert result.exit_code == 0, result.output
    assert "Logged in as support@example.com." in result.stdout
    assert "Scopes:     gmail.modify" in result.stdout
    assert _mode(config_dir / "token.json") == 0o600

    result = runner.invoke(app, ["auth", "logout"], catch_exceptions=False)
    assert result.exit_code == 0
    assert result.stdout == f"Logged out; revoked the grant and removed {config_dir / 'token.json'}.\n"


def test_cli_status_when_logged_out_exits_with_auth_code(config_dir):
    result = CliRunner().invoke(app, ["auth", "status"])
    assert result.exit_code == ExitCode.AUTH
    assert result.stdout == ""
    assert result.stderr.splitlines() == [
        f"Error: not logged in (no token at {config_dir / 'token.json'})",
        "Hint: Run `gmaildesk auth login --client-secret CLIENT_SECRET.json`.",
    ]


def test_cli_login_with_missing_client_secret_is_a_usage_error(config_dir, tmp_path):
    result = CliRunner().invoke(app, ["auth", "login", "--client-secret", str(tmp_path / "none.json")])
    assert result.exit_code == ExitCode.USAGE
    assert result.stderr.startswith(f"Error: client secret file not found: {tmp_path / 'none.json'}\nHint: ")


def test_cli_login_with_unknown_scope_is_a_usage_error(client_secret, config_dir):
    result = CliRunner().invoke(app, ["auth", "login", "--client-secret", str(client_secret), "--scope", "drive"])
    assert result.exit_code == ExitCode.USAGE
    assert result.stderr.startswith("Error: unknown scope 'drive'")


def test_cli_auth_help_has_examples():
    runner = CliRunner()
    for command in ("login", "status", "logout"):
        result = runner.invoke(app, ["auth", command, "--help"])
        assert result.exit_code == 0 and "Example: gmaildesk auth " + command in result.stdout


def test_cli_options_validate_service_account_needs_user(tmp_path):
    from gmaildesk.cli.options import connection_options

    with pytest.raises(GmailDeskError) as caught:
        connection_options(None, tmp_path / "sa.json", None)
    assert caught.value.exit_code == ExitCode.USAGE and "--user" in caught.value.message


def test_cli_login_rehearsal_with_the_client_secret_the_sandbox_serves(sandbox, config_dir, browser, tmp_path):
    with urllib.request.urlopen(f"{sandbox.url}sandbox/oauth/client_secret.json", timeout=10) as answer:
        served = json.loads(answer.read())
    assert served["installed"]["token_uri"] == f"{sandbox.url}sandbox/oauth/token"
    secret = tmp_path / "served_client_secret.json"
    secret.write_text(json.dumps(served))
    result = CliRunner().invoke(
        app,
        ["auth", "login", "--client-secret", str(secret), "--scope", "read", "--endpoint", sandbox.url],
        catch_exceptions=False,
    )
    assert result.exit_code == 0, result.output
    assert "Logged in as support@example.com." in result.stdout
    assert "sandbox-not-a-secret" not in result.stdout + result.stderr


def test_cli_logout_still_removes_the_token_when_the_issuer_is_unreachable(config_dir):
    config_dir.mkdir(parents=True)
    (config_dir / "token.json").write_text(
        json.dumps(
            {
                "token": "t",
                "refresh_token": "r",
                "client_id": "c",
                "client_secret": "s",
                "scopes": [],
                "token_uri": "http://127.0.0.1:9/sandbox/oauth/token",
            }
        )
    )
    result = CliRunner().invoke(app, ["auth", "logout"])
    assert result.exit_code == 0
    assert result.stdout == f"Logged out; removed {config_dir / 'token.json'}.\n"
    assert result.stderr.splitlines()[0].startswith(
        "Warning: could not revoke the grant: http://127.0.0.1:9/sandbox/oauth/revoke unreachable"
    )
    assert not (config_dir / "token.json").exists()
    assert "Hint: revoke gmaildesk's access at https://myaccount.google.com/permissions." in result.stderr


# ---- paste-back login (no browser on this machine) ------------------------------------------------


class PasteBack:
    """Plays the user on a machine without a browser: opens the printed URL elsewhere (a GET of the
    sandbox's authorize endpoint), which redirects to a loopback address nothing answers; pastes that."""

    def __init__(self, reply=lambda location: location):
        self.shown: list[str] = []
        self.reply = reply

    def show(self, text: str) -> None:
        self.shown.append(text)

    def read_reply(self) -> str:
        url = next(line.strip() for line in self.shown[-1].splitlines() if line.strip().startswith("http"))
        return self.reply(_redirect_of(url))


def _redirect_of(url: str) -> str:
    parts = urllib.parse.urlsplit(url)
    connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=10)
    connection.request("GET", f"{parts.path}?{parts.query}")
    answer = connection.getresponse()
    answer.read()
    connection.close()
    assert answer.status == 302, f"authorize answered {answer.status}"
    return answer.getheader("Location")


def _paste_back(sandbox, client_secret, user: PasteBack, **kwargs):
    return auth.login_paste_back(
        client_secret, scopes.LOGIN, show=user.show, read_reply=user.read_reply, endpoint=sandbox.url, **kwargs
    )


def test_paste_back_login_with_the_redirected_address(sandbox, client_secret, config_dir):
    user = PasteBack()
    result = _paste_back(sandbox, client_secret, user)
    assert result.account == "support@example.com" and result.refreshable
    assert _mode(config_dir / "token.json") == 0o600
    url = urllib.parse.urlsplit(next(w for w in user.shown[0].split() if w.startswith("http")))
    query = urllib.parse.parse_qs(url.query)
    assert query["redirect_uri"] == ["http://127.0.0.1:8085/"] and query["code_challenge_method"] == ["S256"]
    assert query["access_type"] == ["offline"] and query["prompt"] == ["consent"]
    gmail = connect(ConnectionOptions(endpoint=sandbox.url, use_login=True), scopes.READ)
    assert gmail.account().address == "support@example.com"


def test_paste_back_login_with_the_bare_code_and_a_chosen_port(sandbox, client_secret, config_dir):
    user = PasteBack(lambda location: urllib.parse.parse_qs(urllib.parse.urlsplit(location).query)["code"][0])
    assert _paste_back(sandbox, client_secret, user, port=9004).account == "support@example.com"
    assert "redirect_uri=http%3A%2F%2F127.0.0.1%3A9004%2F" in user.shown[0]


@pytest.mark.parametrize(
    "reply, message",
    [
        (lambda loc: "", "login cancelled: nothing was pasted"),
        (lambda loc: loc.replace("state=", "state=x"), "login failed: the pasted address belongs to another login"),
        (lambda loc: "http://127.0.0.1:8085/?error=access_denied", "login failed: access_denied"),
        (lambda loc: "http://127.0.0.1:8085/?scope=x", "login failed: the pasted address has no code="),
        (lambda loc: "not-the-code", "login failed: invalid_grant: "),
    ],
)
def test_paste_back_login_refuses_what_is_not_this_logins_code(sandbox, client_secret, config_dir, reply, message):
    with pytest.raises(GmailDeskError) as caught:
        _paste_back(sandbox, client_secret, PasteBack(reply))
    assert caught.value.message.startswith(message)
    assert caught.value.exit_code == ExitCode.AUTH
    assert not (config_dir / "token.json").exists()


def test_paste_back_code_is_single_use(sandbox, client_secret, config_dir):
    pasted: list[str] = []

    def remember(location: str) -> str:
        pasted.append(location)
        return location

    _paste_back(sandbox, client_secret, PasteBack(remember))
    with pytest.raises(GmailDeskError) as caught:
        _paste_back(sandbox, client_secret, PasteBack(lambda loc: pasted[0]))
    assert "state differs" in caught.value.message  # another login's address: refused before any exchange
    code = urllib.parse.parse_qs(urllib.parse.urlsplit(pasted[0]).query)["code"][0]
    with pytest.raises(GmailDeskError) as caught:
        _paste_back(sandbox, client_secret, PasteBack(lambda loc: code))
    assert caught.value.message.startswith("login failed: invalid_grant")


def test_no_login_and_no_endpoint_names_the_sandbox_too(config_dir, tmp_path, monkeypatch):
    monkeypatch.delenv("GMAILDESK_ENDPOINT", raising=False)
    monkeypatch.delenv("GMAILDESK_SERVICE_ACCOUNT", raising=False)
    (tmp_path / "desk.yaml").write_text("version: 1\nmailbox: support@example.com\n")
    result = CliRunner().invoke(app, ["plan", "-c", str(tmp_path / "desk.yaml")])
    assert result.exit_code == ExitCode.AUTH
    assert result.stderr.splitlines() == [
        f"Error: not logged in (no token at {config_dir / 'token.json'})",
        "Hint: Run `gmaildesk auth login --client-secret CLIENT_SECRET.json`.",
        "Hint: Or rehearse on the local sandbox, no Google account needed: `gmaildesk sandbox serve` "
        "(or `make demo`), then GMAILDESK_ENDPOINT=http://127.0.0.1:8765/ (or --endpoint URL).",
    ]


class UserAtTheTerminal(io.RawIOBase):
    """stdin of `auth login --no-browser`: when read, it reads the URL the command printed (stderr, as the
    user reads the screen), opens it in a browser elsewhere, and types back the address it ended on."""

    def __init__(self, reply=lambda location: location):
        self.reply = reply
        self.typed: bytes | None = None

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        if self.typed is None:
            captured = cast(io.BytesIO, sys.stderr.buffer)  # CliRunner's stderr: what the user sees
            screen = captured.getvalue().decode()
            url = next(line.strip() for line in screen.splitlines() if line.strip().startswith("http"))
            self.typed = (self.reply(_redirect_of(url)) + "\n").encode()
        size = min(len(buffer), len(self.typed))
        buffer[:size], self.typed = self.typed[:size], self.typed[size:]
        return size


@pytest.fixture(autouse=True)
def _stdin_can_be_a_user(monkeypatch):
    """CliRunner takes only text as stdin; a UserAtTheTerminal answers what the command printed."""
    import typer.testing

    plain = typer.testing.make_input_stream

    def make_input_stream(given, charset):
        return io.BufferedReader(given) if isinstance(given, UserAtTheTerminal) else plain(given, charset)

    monkeypatch.setattr(typer.testing, "make_input_stream", make_input_stream)


def _cli_login(sandbox, client_secret, *flags, user=None):
    return CliRunner().invoke(
        app,
        ["auth", "login", "--client-secret", str(client_secret), "--endpoint", sandbox.url, *flags],
        input=cast(str, user or UserAtTheTerminal()),  # a stream, which _stdin_can_be_a_user lets through
        catch_exceptions=False,
    )


def test_cli_no_browser_login_pastes_the_address_back(sandbox, client_secret, config_dir, monkeypatch):
    monkeypatch.setenv("DISPLAY", ":0")
    result = _cli_login(sandbox, client_secret, "--no-browser")
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith("Logged in as support@example.com.\n")
    assert "Open this URL in a browser on any machine" in result.stderr
    assert result.stderr.rstrip().endswith("Address or code:")
    assert "No browser can run" not in result.stderr  # asked for, not detected
    assert _mode(config_dir / "token.json") == 0o600


def test_cli_login_on_linux_without_a_display_offers_the_paste_back(sandbox, client_secret, config_dir, monkeypatch):
    monkeypatch.setattr(sys, "platform", "linux")
    monkeypatch.delenv("DISPLAY", raising=False)
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    code_only = UserAtTheTerminal(lambda loc: urllib.parse.parse_qs(urllib.parse.urlsplit(loc).query)["code"][0])
    result = _cli_login(sandbox, client_secret, "--port", "9005", user=code_only)
    assert result.exit_code == 0, result.output
    assert result.stderr.startswith("No browser can run on this machine: log in from a browser anywhere else.\n")
    assert "redirect_uri=http%3A%2F%2F127.0.0.1%3A9005%2F" in result.stderr
    assert auth.status().account == "support@example.com"


def test_cli_login_where_webbrowser_finds_no_browser_offers_the_paste_back(
    sandbox, client_secret, config_dir, monkeypatch
):
    monkeypatch.setenv("DISPLAY", ":0")

    def no_browser(using=None):
        raise webbrowser.Error("could not locate runnable browser")

    monkeypatch.setattr(webbrowser, "get", no_browser)
    result = _cli_login(sandbox, client_secret)
    assert result.exit_code == 0, result.output
    assert "No browser can run on this machine" in result.stderr and "Traceback" not in result.output


def test_cli_paste_back_of_a_cancelled_consent_is_one_line(sandbox, client_secret, config_dir):
    user = UserAtTheTerminal(lambda loc: "http://127.0.0.1:8085/?error=access_denied")
    result = _cli_login(sandbox, client_secret, "--no-browser", user=user)
    assert result.exit_code == ExitCode.AUTH
    assert result.stderr.splitlines()[-1].endswith("Error: login failed: access_denied")
    assert result.stdout == "" and not (config_dir / "token.json").exists()
