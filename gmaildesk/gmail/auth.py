"""Installed-app OAuth: log in through the browser, keep the token private, load it for calls.

The token file holds a refresh token, so it is written 0600 from its first byte and no
function here returns, logs or prints the access or refresh token.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import google_auth_httplib2
import httplib2
import requests.adapters
from google.auth.exceptions import RefreshError
from google.oauth2.credentials import Credentials
from google_auth_oauthlib.flow import InstalledAppFlow, WSGITimeoutError
from oauthlib.oauth2.rfc6749.errors import OAuth2Error
from platformdirs import user_config_dir

from gmaildesk.errors import ExitCode, GmailDeskError
from gmaildesk.gmail import scopes as gmail_scopes
from gmaildesk.gmail.client import is_loopback_url
from gmaildesk.gmail.errors import TRY_THE_SANDBOX
from gmaildesk.paths import safe_component

CONFIG_DIR_ENV = "GMAILDESK_CONFIG_DIR"
TOKEN_FILE = "token.json"
ACCOUNT_TOKENS = "tokens"  # one login per account beside TOKEN_FILE: tokens/<address>.json
DEFAULT_TIMEOUT_S = 60.0
LOGIN_TIMEOUT_S = 300.0
GOOGLE_TOKEN_HOSTS = frozenset({"oauth2.googleapis.com", "accounts.google.com", "www.googleapis.com"})
LOGIN_HINT = "Run `gmaildesk auth login --client-secret CLIENT_SECRET.json`."
PROMPT = "Open this URL in a browser to let gmaildesk use the mailbox:\n\n    {url}\n"
SUCCESS = "gmaildesk is authorized. You may close this window."
PASTE_BACK_PORT = (
    8085  # the redirect's port when --port is 0: one fixed value, as the browser's machine is not this one
)
PASTE_BACK_PROMPT = (
    "Open this URL in a browser on any machine and allow access:\n\n    {url}\n\n"
    'The browser then fails to load a page at http://127.0.0.1 ("unable to connect"): that is expected.\n'
    "Copy the whole address from its address bar (or just the code= value) and paste it here."
)

# Any one of these lets users.getProfile tell us the account's address (discovery document).
_PROFILE_SCOPES = frozenset(
    {
        gmail_scopes.FULL,
        gmail_scopes.READONLY,
        gmail_scopes.METADATA,
        gmail_scopes.MODIFY,
        "https://www.googleapis.com/auth/gmail.compose",
    }
)


@dataclass(frozen=True)
class AuthStatus:
    """What is known about the stored login; deliberately holds no token."""

    account: str | None
    scopes: tuple[str, ...]
    expiry: datetime | None  # of the access token, naive UTC as google-auth keeps it
    refreshable: bool
    path: Path
    token_uri: str | None = None
    accounts: tuple[str, ...] = ()  # every account with a login of its own (tokens/), for several mailboxes

    def as_dict(self) -> dict[str, Any]:
        return {
            "account": self.account,
            "scopes": list(self.scopes),
            "expiry": self.expiry.isoformat() + "Z" if self.expiry else None,
            "refreshable": self.refreshable,
            "path": str(self.path),
            "token_uri": self.token_uri,
            "accounts": list(self.accounts),
        }


GOOGLE_REVOKE_URI = "https://oauth2.googleapis.com/revoke"


def token_path(account: str | None = None) -> Path:
    """Where the login is kept: $GMAILDESK_CONFIG_DIR/token.json, else the platform config dir; with
    *account*, that account's own login (tokens/<address>.json), which every login also writes, so that
    several mailboxes swept together each find theirs."""
    folder = Path(os.environ.get(CONFIG_DIR_ENV) or user_config_dir("gmaildesk"))
    if account is None:
        return folder / TOKEN_FILE
    return folder / ACCOUNT_TOKENS / f"{safe_component(account)}.json"


def login(
    client_secret: Path,
    scopes: Sequence[str],
    *,
    open_browser: bool = True,
    browser: str | None = None,
    port: int = 0,
    endpoint: str | None = None,
    timeout_seconds: float | None = LOGIN_TIMEOUT_S,
    login_hint: str | None = None,
) -> AuthStatus:
    """Run the loopback OAuth flow (PKCE), look up the account, and store the token privately.

    `endpoint` is a sandbox base URL: the client secret's auth_uri/token_uri must then point
    at that sandbox, and the account is looked up there instead of at Google.
    """
    endpoint = _with_slash(endpoint)
    flow, config, wanted = _flow(client_secret, scopes, endpoint)
    extra = {"login_hint": login_hint} if login_hint else {}
    try:
        with _oauthlib_environment(config["token_uri"]):
            credentials = flow.run_local_server(
                host="127.0.0.1",
                port=port,
                open_browser=open_browser,
                browser=browser,
                authorization_prompt_message=PROMPT,
                success_message=SUCCESS,
                timeout_seconds=timeout_seconds,
                # Google returns a refresh token only on consent; without prompt=consent a
                # second login would store a token that cannot be refreshed.
                prompt="consent",
                **extra,
            )
    except WSGITimeoutError:
        raise GmailDeskError(
            "login timed out waiting for the browser to come back",
            ["Run the command again; pass --no-browser to open the printed URL yourself."],
            ExitCode.AUTH,
        ) from None
    except OAuth2Error as error:  # e.g. access_denied when the user clicks Cancel
        raise GmailDeskError(
            f"login failed: {error.error}: {error.description or 'no details'}", [], ExitCode.AUTH
        ) from None
    except OSError as error:  # the loopback port is taken, or the token endpoint is unreachable
        raise GmailDeskError(f"login failed: {error}", [], ExitCode.AUTH) from None
    return _store(credentials, wanted, endpoint)


def login_paste_back(
    client_secret: Path,
    scopes: Sequence[str],
    *,
    show: Callable[[str], None],
    read_reply: Callable[[], str],
    port: int = 0,
    endpoint: str | None = None,
    login_hint: str | None = None,
) -> AuthStatus:
    """Log in from a machine without a browser: `show` the authorization URL, `read_reply` the address
    the browser ended on (or the bare code), exchange the code (PKCE), store the token privately.

    Google retired the copy-the-code (OOB) flow in 2022 (google-auth-library-python-oauthlib PR #175);
    what headless tools do since, GAM's `gam oauth create` and gcloud's `--no-browser` among them, is
    a loopback redirect nothing on the browser's machine answers: the browser shows "unable to connect"
    with the code in its address bar, and the user pastes that address back.
    """
    endpoint = _with_slash(endpoint)
    flow, config, wanted = _flow(client_secret, scopes, endpoint)
    # Google accepts any port on a loopback redirect for a Desktop client (developers.google.com/identity/
    # protocols/oauth2/native-app, "Loopback IP address"); nothing need listen on it.
    flow.redirect_uri = f"http://127.0.0.1:{port or PASTE_BACK_PORT}/"
    extra = {"login_hint": login_hint} if login_hint else {}
    url, state = flow.authorization_url(prompt="consent", access_type="offline", **extra)
    show(PASTE_BACK_PROMPT.format(url=url))
    code = _code_from_reply(read_reply(), state)
    try:
        with _oauthlib_environment(config["token_uri"]):
            flow.fetch_token(code=code)
    except OAuth2Error as error:  # invalid_grant: a code already used, expired, or for another login
        raise GmailDeskError(
            f"login failed: {error.error}: {error.description or 'no details'}",
            ["Run the command again and paste the address from this login's browser window."],
            ExitCode.AUTH,
        ) from None
    except OSError as error:  # the token endpoint is unreachable
        raise GmailDeskError(f"login failed: {error}", [], ExitCode.AUTH) from None
    return _store(flow.credentials, wanted, endpoint)


def _code_from_reply(reply: str, state: str) -> str:
    """The authorization code in what the user pasted: the whole redirected address, or the code alone."""
    reply = reply.strip()
    if not reply:
        raise GmailDeskError(
            "login cancelled: nothing was pasted", ["Run the command again and paste the address."], ExitCode.AUTH
        )
    if "://" not in reply and "=" not in reply:
        return reply  # the bare code
    query = urllib.parse.parse_qs(urllib.parse.urlsplit(reply).query or reply.split("?", 1)[-1])
    if "error" in query:  # access_denied when the user clicked Cancel (RFC 6749 section 4.1.2.1)
        raise GmailDeskError(f"login failed: {query['error'][0]}", [], ExitCode.AUTH)
    if query.get("state", [state])[0] != state:
        raise GmailDeskError(
            "login failed: the pasted address belongs to another login (its state differs)",
            ["Paste the address from the browser window this command's URL opened."],
            ExitCode.AUTH,
        )
    if "code" not in query:
        raise GmailDeskError(
            "login failed: the pasted address has no code=",
            ["Paste the whole address from the browser's address bar, starting http://127.0.0.1"],
            ExitCode.AUTH,
        )
    return query["code"][0]


def _with_slash(endpoint: str | None) -> str | None:
    return endpoint + "/" if endpoint and not endpoint.endswith("/") else endpoint


def _flow(client_secret: Path, scopes: Sequence[str], endpoint: str | None) -> tuple[Any, dict[str, Any], list[str]]:
    """(the InstalledAppFlow, the client secret's settings, the scopes asked), the issuers checked."""
    config = _read_client_secret(client_secret)
    check_issuer(config["token_uri"], endpoint, what=f"token_uri in {client_secret}")
    check_issuer(config["auth_uri"], endpoint, what=f"auth_uri in {client_secret}")
    wanted = list(dict.fromkeys(scopes)) or list(gmail_scopes.LOGIN)
    flow = InstalledAppFlow.from_client_secrets_file(str(client_secret), scopes=wanted)
    for prefix in ("https://", "http://"):
        flow.oauth2session.mount(prefix, _TimeoutAdapter(DEFAULT_TIMEOUT_S))
    return flow, config, wanted


def _store(credentials: Any, wanted: list[str], endpoint: str | None) -> AuthStatus:
    """Look up the account, keep the token privately, and report the stored login."""
    granted = _granted_scopes(credentials, wanted)
    account = _lookup_account(credentials, endpoint) if set(granted) & _PROFILE_SCOPES else None
    info = json.loads(credentials.to_json())
    info.update(account=account, scopes=list(granted))
    text = json.dumps(info, indent=2)
    _write_private(token_path(), text)  # first: it creates the config folder 0700
    if account:
        _write_private(token_path(account), text)
    return status()


def status() -> AuthStatus:
    """The stored login, without its tokens; GmailDeskError (AUTH) when there is none."""
    path = token_path()
    info = _read_token(path)
    return AuthStatus(
        account=info.get("account") or None,
        scopes=tuple(info.get("scopes") or ()),
        expiry=_parse_expiry(info.get("expiry")),
        refreshable=all(info.get(key) for key in ("refresh_token", "client_id", "client_secret", "token_uri")),
        path=path,
        token_uri=info.get("token_uri"),
        accounts=logged_in_accounts(),
    )


def logged_in_accounts() -> tuple[str, ...]:
    """The accounts that have a login of their own (tokens/<address>.json), sorted."""
    folder = token_path().parent / ACCOUNT_TOKENS
    found = set()
    for path in folder.glob("*.json") if folder.is_dir() else ():
        try:
            account = _read_token(path).get("account")
        except GmailDeskError:
            continue  # an unreadable file is not a login
        if isinstance(account, str) and account:
            found.add(account)
    return tuple(sorted(found))


@dataclass(frozen=True)
class Logout:
    """What `logout` did: removed the local token; revoked the grant at its issuer (None: nothing to revoke)."""

    removed: bool
    revoked: bool | None = None
    problem: str | None = None  # why revoking failed; the local token is removed anyway

    def __bool__(self) -> bool:
        return self.removed


def revoke_uri_for(token_uri: str) -> str:
    """The issuer's revocation endpoint: Google's for Google tokens, the sandbox's for sandbox tokens."""
    if token_uri.rstrip("/").endswith("/token"):
        return token_uri.rstrip("/")[: -len("token")] + "revoke"
    return GOOGLE_REVOKE_URI


def logout(*, revoke: bool = True, timeout: float = 10.0) -> Logout:
    """Forget the stored login and, by default, revoke it at the server that issued it, so a copy
    of the file left elsewhere (a backup, another disk) stops working too."""
    path = token_path()
    try:
        info = _read_token(path)
    except GmailDeskError:
        info = {}
    if not path.exists():
        return Logout(removed=False)
    revoked, problem = None, None
    token = info.get("refresh_token") or info.get("token")
    if revoke and token and info.get("token_uri"):
        revoked, problem = _revoke(revoke_uri_for(str(info["token_uri"])), str(token), timeout)
    path.unlink(missing_ok=True)
    if info.get("account"):  # its copy kept for that account is the same grant
        token_path(str(info["account"])).unlink(missing_ok=True)
    return Logout(removed=True, revoked=revoked, problem=problem)


def _revoke(uri: str, token: str, timeout: float) -> tuple[bool, str | None]:
    request = urllib.request.Request(
        uri,
        data=urllib.parse.urlencode({"token": token}).encode(),
        method="POST",
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout):
            return True, None
    except urllib.error.HTTPError as error:
        # 400 invalid_token: already revoked or expired; either way it no longer works.
        return error.code == 400, None if error.code == 400 else f"HTTP {error.code} from {uri}"
    except (urllib.error.URLError, OSError) as error:
        return False, f"{uri} unreachable ({getattr(error, 'reason', error)})"


def load_credentials(
    scopes: Sequence[str],
    *,
    endpoint: str | None = None,
    http: httplib2.Http | None = None,
    account: str | None = None,
) -> Credentials:
    """Credentials from the stored login (with *account*: that account's own), refreshed (and saved
    again) when expired.

    Raises GmailDeskError (AUTH) when there is no login, it lacks a needed scope, it was
    issued by another server than `endpoint` (None: Google), or it cannot be refreshed.
    """
    path = login_file(account)
    if endpoint is None and not path.exists():
        # Nothing says Gmail or the sandbox: a first run, most likely; name both ways forward.
        raise GmailDeskError(f"not logged in (no token at {path})", [LOGIN_HINT, TRY_THE_SANDBOX], ExitCode.AUTH)
    info = _read_token(path)
    token_uri = info.get("token_uri")
    check_issuer(token_uri, endpoint, what="the stored login's token_uri")
    granted = tuple(info.get("scopes") or ())
    lacking = gmail_scopes.missing(granted, scopes)
    if lacking:
        names = sorted({gmail_scopes.short_name(s) for s in (*granted, *scopes)})
        raise GmailDeskError(
            f"the stored login lacks scope {', '.join(gmail_scopes.short_name(s) for s in lacking)}",
            [
                f"Run `gmaildesk auth login --client-secret CLIENT_SECRET.json "
                f"{' '.join('--scope ' + name for name in names)}`."
            ],
            ExitCode.AUTH,
        )
    # Built directly rather than with Credentials.from_authorized_user_info, which in
    # google-auth 2.62 always resets token_uri to Google's: a sandbox login must refresh at
    # the sandbox. check_issuer above is what keeps a token away from a foreign server.
    credentials = Credentials(
        token=info.get("token"),
        refresh_token=info.get("refresh_token"),
        token_uri=token_uri,
        client_id=info.get("client_id"),
        client_secret=info.get("client_secret"),
        scopes=list(granted),
        expiry=_parse_expiry(info.get("expiry")),
        account=info.get("account") or "",
    )
    if credentials.valid:
        return credentials
    if not (credentials.refresh_token and credentials.client_id and credentials.client_secret):
        raise GmailDeskError("the stored login has expired and cannot be refreshed", [LOGIN_HINT], ExitCode.AUTH)
    try:
        credentials.refresh(google_auth_httplib2.Request(http or httplib2.Http(timeout=DEFAULT_TIMEOUT_S)))
    except RefreshError as error:
        raise _refresh_failed(error) from None
    info.update(token=credentials.token, expiry=credentials.expiry.isoformat() + "Z" if credentials.expiry else None)
    _write_private(path, json.dumps(info, indent=2))
    return credentials


def login_file(account: str | None = None) -> Path:
    """The token file to use for *account*: its own login, else the last login when it is that account
    (a token.json written before logins were kept per account); None: the last login."""
    if account is None:
        return token_path()
    own, last = token_path(account), token_path()
    if own.exists():
        return own
    try:
        whose = str(_read_token(last).get("account") or "")
    except GmailDeskError:
        whose = ""
    if whose.lower() == account.lower():
        return last
    raise GmailDeskError(
        f"no login for {account} (no token at {own})",
        [f"Run `gmaildesk auth login --client-secret CLIENT_SECRET.json --account {account}` and sign in as it."],
        ExitCode.AUTH,
    )


def has_login(account: str) -> bool:
    try:
        login_file(account)
    except GmailDeskError:
        return False
    return True


def check_issuer(token_uri: str | None, endpoint: str | None, *, what: str) -> None:
    """Refuse OAuth endpoints that do not belong to where the calls go.

    A Google token must never be sent to a sandbox, and a sandbox login is useless at Google:
    with an endpoint the URI must lie under it, without one it must be Google's (https).
    """
    parts = urllib.parse.urlsplit(token_uri or "")
    if endpoint:
        if not (token_uri or "").startswith(endpoint):
            raise GmailDeskError(
                f"{what} ({token_uri}) is not on the endpoint {endpoint}",
                [f"Use a client secret or key whose URIs point at {endpoint}sandbox/oauth/."],
                ExitCode.USAGE,
            )
    elif parts.scheme != "https" or parts.hostname not in GOOGLE_TOKEN_HOSTS:
        hint = (
            "It points at a sandbox: pass --endpoint with that sandbox's URL, or log in to Google again."
            if is_loopback_url(token_uri)
            else "Download the OAuth client or key again from the Cloud console."
        )
        raise GmailDeskError(f"{what} ({token_uri}) is not a Google OAuth endpoint", [hint], ExitCode.USAGE)


# ---- helpers -----------------------------------------------------------------------------------


class _TimeoutAdapter(requests.adapters.HTTPAdapter):
    """The code-for-token exchange goes through requests, which has no session-wide timeout."""

    def __init__(self, timeout: float) -> None:
        super().__init__()
        self._timeout = timeout

    def send(self, request: requests.PreparedRequest, **kwargs: Any) -> requests.Response:  # type: ignore[override]
        if kwargs.get("timeout") is None:
            kwargs["timeout"] = self._timeout
        return super().send(request, **kwargs)


def _read_client_secret(path: Path) -> dict[str, Any]:
    try:
        document = json.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise GmailDeskError(
            f"client secret file not found: {path}",
            [
                "Create an OAuth client ID of type 'Desktop app' in the Cloud console "
                "(APIs & Services > Credentials) and download its JSON."
            ],
            ExitCode.USAGE,
        ) from None
    except (OSError, ValueError) as error:
        raise GmailDeskError(f"cannot read client secret file {path}: {error}", [], ExitCode.USAGE) from None
    if not isinstance(document, dict) or "installed" not in document:
        kind = "a 'web' client" if isinstance(document, dict) and "web" in document else "not an OAuth client file"
        raise GmailDeskError(
            f"{path} is {kind}; gmaildesk needs an OAuth client of type 'Desktop app'",
            ["Create one under APIs & Services > Credentials and download its JSON."],
            ExitCode.USAGE,
        )
    config: dict[str, Any] = document["installed"]
    absent = [key for key in ("client_id", "client_secret", "auth_uri", "token_uri") if not config.get(key)]
    if absent:
        raise GmailDeskError(f"{path} lacks {', '.join(absent)}", [], ExitCode.USAGE)
    return config


@contextlib.contextmanager
def _oauthlib_environment(token_uri: str) -> Iterator[None]:
    """Relax oauthlib's checks for the duration of one login.

    OAUTHLIB_RELAX_TOKEN_SCOPE: Google may grant fewer scopes than asked (the user can untick
    them); oauthlib would raise, we store what was granted instead. OAUTHLIB_INSECURE_TRANSPORT
    only for a loopback token endpoint (a sandbox): that traffic never leaves the machine.
    """
    changes = {"OAUTHLIB_RELAX_TOKEN_SCOPE": "1"}
    if is_loopback_url(token_uri) and token_uri.startswith("http://"):
        changes["OAUTHLIB_INSECURE_TRANSPORT"] = "1"
    saved = {name: os.environ.get(name) for name in changes}
    os.environ.update(changes)
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def _granted_scopes(credentials: Credentials, wanted: Sequence[str]) -> tuple[str, ...]:
    granted = credentials.granted_scopes or credentials.scopes or wanted
    if isinstance(granted, str):
        granted = granted.split()
    return tuple(sorted(set(granted)))


def _lookup_account(credentials: Credentials, endpoint: str | None) -> str | None:
    from gmaildesk.gmail.connection import client_for_credentials  # connection imports this module

    client = client_for_credentials(credentials, endpoint)
    profile = client.execute(client.users().getProfile(userId="me"), "looking up the account's address")
    address: str | None = profile.get("emailAddress")
    return address


def _read_token(path: Path) -> dict[str, Any]:
    try:
        info = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise GmailDeskError(f"not logged in (no token at {path})", [LOGIN_HINT], ExitCode.AUTH) from None
    except (OSError, ValueError):
        raise GmailDeskError(f"the token file {path} is unreadable", [LOGIN_HINT], ExitCode.AUTH) from None
    if not isinstance(info, dict):
        raise GmailDeskError(f"the token file {path} is damaged", [LOGIN_HINT], ExitCode.AUTH)
    return info


def _refresh_failed(error: RefreshError) -> GmailDeskError:
    from gmaildesk.gmail.errors import translate

    translated = translate(error)
    assert translated is not None  # translate handles every RefreshError
    return translated


def _parse_expiry(value: object) -> datetime | None:
    if not isinstance(value, str) or not value:
        return None
    try:
        return datetime.strptime(value.rstrip("Z").split(".")[0], "%Y-%m-%dT%H:%M:%S")
    except ValueError:
        return None


def _write_private(path: Path, text: str) -> None:
    """Write atomically with mode 0600 from creation; a new parent directory gets 0700."""
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.{secrets.token_hex(6)}.tmp")
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0), 0o600)
    try:
        os.fchmod(descriptor, 0o600)  # umask can only remove bits; make the mode exact
        with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
            descriptor = -1
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, path)
    except BaseException:
        if descriptor != -1:
            os.close(descriptor)
        temporary.unlink(missing_ok=True)
        raise
