"""The sandbox's imitation of Google's OAuth 2.0 server, so logins can be rehearsed offline.

Three pieces:
- `AuthRegistry`: in-memory authorization codes, access tokens and refresh tokens;
- `handle_http`: the endpoints under /sandbox/oauth/ (authorize, token, revoke), shaped
  like accounts.google.com/o/oauth2/auth and oauth2.googleapis.com/token;
- `authorize_call`: the check the server runs before every Gmail API call.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import secrets
import threading
import urllib.parse
from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache
from ipaddress import ip_address
from typing import Any

from gmaildesk.sandbox.errors import ApiError

PREFIX = "/sandbox/oauth/"
ACCESS_TOKEN_TTL_S = 3599  # what Google's token endpoint answers in expires_in
AUTH_CODE_TTL_S = 600
GOOGLE_TOKEN_URI = "https://oauth2.googleapis.com/token"
JWT_BEARER_GRANT = "urn:ietf:params:oauth:grant-type:jwt-bearer"
EXTRA_USER_SCOPES = frozenset(
    {
        "openid",
        "email",
        "profile",
        "https://www.googleapis.com/auth/userinfo.email",
        "https://www.googleapis.com/auth/userinfo.profile",
    }
)

USER = "user"
SERVICE_ACCOUNT = "service_account"

# Methods the discovery document marks "only available to service account clients that have
# been delegated domain-wide authority". sendAs.update/patch are restricted only for
# addresses other than the primary one.
DELEGATION_ONLY_METHODS = frozenset(
    {
        "gmail.users.settings.sendAs.create",
        "gmail.users.settings.sendAs.delete",
        "gmail.users.settings.sendAs.verify",
        "gmail.users.settings.forwardingAddresses.create",
        "gmail.users.settings.forwardingAddresses.delete",
        "gmail.users.settings.updateAutoForwarding",
        "gmail.users.settings.delegates.create",
        "gmail.users.settings.delegates.delete",
    }
)
DELEGATION_ONLY_UNLESS_PRIMARY = frozenset(
    {
        "gmail.users.settings.sendAs.update",
        "gmail.users.settings.sendAs.patch",
    }
)

UNAUTHENTICATED_MESSAGE = (
    "Request had invalid authentication credentials. Expected OAuth 2 access token, "
    "login cookie or other valid authentication credential."
)
INSUFFICIENT_SCOPES_MESSAGE = "Request had insufficient authentication scopes."
DELEGATION_REQUIRED_MESSAGE = "Access restricted to service accounts that have been delegated domain-wide authority"


@dataclass(frozen=True)
class Grant:
    """What a token stands for. `subject` is None for a service account acting as itself."""

    kind: str  # USER | SERVICE_ACCOUNT
    user: str
    scopes: frozenset[str]
    client_id: str
    subject: str | None = None


@dataclass(frozen=True)
class _PendingCode:
    grant: Grant
    redirect_uri: str
    code_challenge: str  # "" when the client sent none (PKCE is optional at Google)
    expires_at: float
    code_challenge_method: str = "S256"


@dataclass(frozen=True)
class _AccessToken:
    grant: Grant
    expires_at: float
    refresh_token: str | None


class AuthRegistry:
    """Issued codes and tokens, thread-safe, in memory (a sandbox restart logs everyone out)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._codes: dict[str, _PendingCode] = {}
        self._access: dict[str, _AccessToken] = {}
        self._refresh: dict[str, Grant] = {}

    def issue_code(
        self, grant: Grant, redirect_uri: str, code_challenge: str, *, now: float, code_challenge_method: str = "S256"
    ) -> str:
        code = "4/sandbox-" + secrets.token_urlsafe(24)
        with self._lock:
            self._codes[code] = _PendingCode(
                grant, redirect_uri, code_challenge, now + AUTH_CODE_TTL_S, code_challenge_method
            )
        return code

    def redeem_code(self, code: str, *, now: float) -> _PendingCode | None:
        """The pending code, removed: a code is good for one exchange only."""
        with self._lock:
            pending = self._codes.pop(code, None)
        if pending is None or pending.expires_at <= now:
            return None
        return pending

    def issue_refresh_token(self, grant: Grant) -> str:
        token = "1//sandbox-" + secrets.token_urlsafe(32)
        with self._lock:
            self._refresh[token] = grant
        return token

    def refresh_grant(self, refresh_token: str) -> Grant | None:
        with self._lock:
            return self._refresh.get(refresh_token)

    def issue_access_token(
        self, grant: Grant, *, now: float, ttl: float = ACCESS_TOKEN_TTL_S, refresh_token: str | None = None
    ) -> str:
        token = "ya29.sandbox-" + secrets.token_urlsafe(32)
        with self._lock:
            self._access[token] = _AccessToken(grant, now + ttl, refresh_token)
        return token

    def access_grant(self, token: str, *, now: float) -> Grant | None:
        """The grant behind a live access token; None when unknown or expired."""
        with self._lock:
            entry = self._access.get(token)
            if entry is not None and entry.expires_at <= now:
                del self._access[token]
                entry = None
        return entry.grant if entry else None

    def revoke(self, token: str) -> bool:
        """Forget a token; revoking a refresh token also kills the access tokens it minted."""
        with self._lock:
            if self._access.pop(token, None) is not None:
                return True
            if self._refresh.pop(token, None) is None:
                return False
            self._access = {k: v for k, v in self._access.items() if v.refresh_token != token}
            return True

    def expire_access_tokens(self) -> int:
        """Invalidate every access token (refresh tokens survive); for rehearsing refreshes."""
        with self._lock:
            count = len(self._access)
            self._access.clear()
        return count


# ---- HTTP endpoints --------------------------------------------------------------------------

Response = tuple[int, dict[str, str], bytes]


def handle_http(
    registry: AuthRegistry,
    method: str,
    path: str,
    query: dict[str, list[str]],
    headers: Mapping[str, str],
    body: bytes,
    *,
    now: float,
    default_user: str,
) -> Response:
    """Answer a request under /sandbox/oauth/ the way Google's OAuth endpoints would."""
    endpoint = path[len(PREFIX) :] if path.startswith(PREFIX) else None
    routes = {
        "authorize": ("GET", _authorize),
        "token": ("POST", _token),
        "revoke": ("POST", _revoke),
        "client_secret.json": ("GET", _client_secret),
    }
    if endpoint not in routes:
        return _json(404, {"error": "not_found", "error_description": f"no OAuth endpoint {path}"})
    allowed_method, handler = routes[endpoint]
    if method.upper() != allowed_method:
        return _json(405, {"error": "invalid_request", "error_description": f"{endpoint} takes {allowed_method}"})
    params = {k: v[-1] for k, v in query.items() if v}
    if method.upper() == "POST":
        form = urllib.parse.parse_qs(body.decode("utf-8", "replace"), keep_blank_values=True)
        params.update({k: v[-1] for k, v in form.items() if v})
    try:
        return handler(registry, params, _lower_keys(headers), now=now, default_user=default_user)
    except _OAuthError as error:
        return _json(error.status, {"error": error.code, "error_description": error.description})


def _client_secret(
    registry: AuthRegistry, params: dict[str, str], headers: dict[str, str], *, now: float, default_user: str
) -> Response:
    """An installed-app client secret pointing at this sandbox, to rehearse `gmaildesk auth login`."""
    base = f"http://{headers.get('host', '127.0.0.1')}{PREFIX}"
    return _json(
        200,
        {
            "installed": {
                "client_id": "sandbox-desktop-client.apps.googleusercontent.com",
                "client_secret": "sandbox-not-a-secret",
                "auth_uri": base + "authorize",
                "token_uri": base + "token",
                "redirect_uris": ["http://localhost", "http://127.0.0.1"],
            }
        },
    )


class _OAuthError(Exception):
    def __init__(self, code: str, description: str, status: int = 400) -> None:
        super().__init__(description)
        self.code, self.description, self.status = code, description, status


def _authorize(
    registry: AuthRegistry, params: dict[str, str], headers: dict[str, str], *, now: float, default_user: str
) -> Response:
    client_id = params.get("client_id", "")
    redirect_uri = params.get("redirect_uri", "")
    if not client_id:
        raise _OAuthError("invalid_client", "The OAuth client was not found.", 401)
    # Only after redirect_uri is trusted may errors travel back through it; before that
    # Google shows an error page, and so do we.
    if not _is_loopback_redirect(redirect_uri):
        raise _OAuthError(
            "redirect_uri_mismatch", "Installed apps must use a loopback redirect_uri (http://127.0.0.1:PORT/)."
        )
    if params.get("response_type") != "code":
        raise _OAuthError("unsupported_response_type", "response_type must be 'code'.")
    scopes = frozenset(params.get("scope", "").split())
    unknown = scopes - gmail_scopes() - EXTRA_USER_SCOPES
    if not scopes or unknown:
        raise _OAuthError("invalid_scope", f"Some requested scopes were invalid: {sorted(unknown) or 'none given'}")
    # PKCE is optional at Google ("code_challenge: Recommended"; code_challenge_method "defaults to
    # plain if not present in the request that includes a code_challenge. The only supported values
    # for this parameter are S256 or plain." - developers.google.com/identity/protocols/oauth2/native-app).
    # oauth2client-based clients (ezgmail, gmail-yaml-filters) send none; google-auth-oauthlib sends S256.
    challenge = params.get("code_challenge", "")
    method = params.get("code_challenge_method", "plain") if challenge else ""
    if method not in ("", "S256", "plain") or (params.get("code_challenge_method") and not challenge):
        raise _OAuthError("invalid_request", "code_challenge_method must be S256 or plain, with a code_challenge.")
    user = (params.get("login_hint") or default_user).lower()
    grant = Grant(USER, user, scopes, client_id)
    code = registry.issue_code(grant, redirect_uri, challenge, now=now, code_challenge_method=method)
    answer = {"code": code, "scope": " ".join(sorted(scopes))}
    if "state" in params:
        answer["state"] = params["state"]
    separator = "&" if urllib.parse.urlsplit(redirect_uri).query else "?"
    location = redirect_uri + separator + urllib.parse.urlencode(answer)
    return 302, {"Location": location, "Content-Type": "text/html; charset=utf-8"}, b""


def _token(
    registry: AuthRegistry, params: dict[str, str], headers: dict[str, str], *, now: float, default_user: str
) -> Response:
    grant_type = params.get("grant_type")
    if grant_type == "authorization_code":
        return _exchange_code(registry, params, headers, now=now)
    if grant_type == "refresh_token":
        return _refresh(registry, params, headers, now=now)
    if grant_type == JWT_BEARER_GRANT:
        return _jwt_bearer(registry, params, now=now)
    raise _OAuthError("unsupported_grant_type", f"Invalid grant_type: {grant_type}")


def _exchange_code(registry: AuthRegistry, params: dict[str, str], headers: dict[str, str], *, now: float) -> Response:
    pending = registry.redeem_code(params.get("code", ""), now=now)
    if pending is None:
        raise _OAuthError("invalid_grant", "Malformed auth code.")
    client_id = _client_id(params, headers)
    if client_id != pending.grant.client_id:
        raise _OAuthError("invalid_client", "The OAuth client was not found.", 401)
    if params.get("redirect_uri") != pending.redirect_uri:
        raise _OAuthError("redirect_uri_mismatch", "Bad Request")
    if pending.code_challenge:  # a code asked for with PKCE is only redeemed with its verifier
        verifier = params.get("code_verifier", "")
        expected = _s256(verifier) if pending.code_challenge_method == "S256" else verifier
        if not verifier or not secrets.compare_digest(expected.encode(), pending.code_challenge.encode()):
            raise _OAuthError("invalid_grant", "Invalid code verifier.")
    refresh_token = registry.issue_refresh_token(pending.grant)
    return _token_answer(registry, pending.grant, now=now, refresh_token=refresh_token, include_refresh=True)


def _refresh(registry: AuthRegistry, params: dict[str, str], headers: dict[str, str], *, now: float) -> Response:
    refresh_token = params.get("refresh_token", "")
    grant = registry.refresh_grant(refresh_token)
    if grant is None:
        raise _OAuthError("invalid_grant", "Token has been expired or revoked.")
    if _client_id(params, headers) != grant.client_id:
        raise _OAuthError("unauthorized_client", "Unauthorized")
    if "scope" in params:
        asked = frozenset(params["scope"].split())
        if not asked <= grant.scopes:
            raise _OAuthError("invalid_scope", "Some requested scopes were not granted by the refresh token.")
        grant = Grant(grant.kind, grant.user, asked, grant.client_id, grant.subject)
    # Google keeps the refresh token the same and does not send it again on refresh.
    return _token_answer(registry, grant, now=now, refresh_token=refresh_token, include_refresh=False)


def _jwt_bearer(registry: AuthRegistry, params: dict[str, str], *, now: float) -> Response:
    # The signature is NOT verified: Google checks it against the public key it holds for the
    # service account's key id, and the sandbox has no registry of service-account keys to
    # check against. Everything else Google checks in the claims is checked here.
    claims = _jwt_claims(params.get("assertion", ""))
    issuer = claims.get("iss")
    if not isinstance(issuer, str) or "@" not in issuer:
        raise _OAuthError("invalid_grant", "Invalid JWT: iss (the service account email) is missing.")
    audience = claims.get("aud")
    if audience != GOOGLE_TOKEN_URI and not (isinstance(audience, str) and audience.endswith(PREFIX + "token")):
        raise _OAuthError("invalid_grant", "Invalid JWT: Failed audience check.")
    # iat/exp come from the client's wall clock while `now` is the sandbox clock, which tests
    # move forward on purpose; so only the span is checked, not the freshness.
    issued, expires = claims.get("iat"), claims.get("exp")
    if (
        not isinstance(issued, (int, float))
        or not isinstance(expires, (int, float))
        or not 0 < expires - issued <= 3600
    ):
        raise _OAuthError(
            "invalid_grant",
            "Invalid JWT: Token must be a short-lived token (60 minutes) and in a "
            "reasonable timeframe. Check your iat and exp values in the JWT claim.",
        )
    scopes = frozenset(str(claims.get("scope", "")).split())
    if not scopes:
        raise _OAuthError("invalid_scope", "Empty or missing scope not allowed.")
    subject = claims.get("sub")
    subject = subject.lower() if isinstance(subject, str) and subject else None
    grant = Grant(SERVICE_ACCOUNT, subject or issuer.lower(), scopes, issuer, subject)
    return _token_answer(registry, grant, now=now, refresh_token=None, include_refresh=False)


def _revoke(
    registry: AuthRegistry, params: dict[str, str], headers: dict[str, str], *, now: float, default_user: str
) -> Response:
    if not registry.revoke(params.get("token", "")):
        raise _OAuthError("invalid_token", "Token expired or revoked")
    return _json(200, {})


def _token_answer(
    registry: AuthRegistry, grant: Grant, *, now: float, refresh_token: str | None, include_refresh: bool
) -> Response:
    access_token = registry.issue_access_token(grant, now=now, refresh_token=refresh_token)
    answer = {
        "access_token": access_token,
        "expires_in": ACCESS_TOKEN_TTL_S,
        "scope": " ".join(sorted(grant.scopes)),
        "token_type": "Bearer",
    }
    if include_refresh and refresh_token:
        answer["refresh_token"] = refresh_token
    return _json(200, answer)


def _json(status: int, payload: dict[str, Any]) -> Response:
    # Token responses must not be cached (RFC 6749 §5.1), as Google's are not.
    headers = {"Content-Type": "application/json; charset=utf-8", "Cache-Control": "no-store", "Pragma": "no-cache"}
    return status, headers, json.dumps(payload).encode("utf-8")


def _client_id(params: dict[str, str], headers: dict[str, str]) -> str:
    """client_id from the form, or from HTTP Basic auth (requests-oauthlib sends it that way)."""
    if params.get("client_id"):
        return params["client_id"]
    scheme, _, value = headers.get("authorization", "").partition(" ")
    if scheme.lower() == "basic":
        try:
            user, _, _ = base64.b64decode(value).decode("utf-8").partition(":")
        except (binascii.Error, UnicodeDecodeError):
            return ""
        return urllib.parse.unquote_plus(user)
    return ""


def _jwt_claims(assertion: str) -> dict[str, Any]:
    parts = assertion.split(".")
    if len(parts) != 3:
        raise _OAuthError("invalid_grant", "Invalid JWT Signature.")
    try:
        header = json.loads(_b64url(parts[0]))
        claims = json.loads(_b64url(parts[1]))
    except (ValueError, binascii.Error):
        raise _OAuthError("invalid_grant", "Invalid JWT: could not decode the assertion.") from None
    if not isinstance(header, dict) or header.get("alg") != "RS256" or not isinstance(claims, dict):
        raise _OAuthError("invalid_grant", "Invalid JWT: the assertion must be an RS256 JWT.")
    return claims


def _b64url(segment: str) -> bytes:
    return base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))


def _s256(verifier: str) -> str:
    digest = hashlib.sha256(verifier.encode("ascii", "replace")).digest()
    return base64.urlsafe_b64encode(digest).decode("ascii").rstrip("=")


def _is_loopback_redirect(uri: str) -> bool:
    parts = urllib.parse.urlsplit(uri)
    if parts.scheme != "http" or not parts.hostname:
        return False
    if parts.hostname == "localhost":
        return True
    try:
        return ip_address(parts.hostname).is_loopback
    except ValueError:
        return False


def _lower_keys(headers: Mapping[str, str]) -> dict[str, str]:
    return {k.lower(): v for k, v in headers.items()}


# ---- checks before every API call ------------------------------------------------------------


@lru_cache(maxsize=1)
def method_scopes() -> dict[str, frozenset[str]]:
    """Discovery method id → the scopes any one of which lets a token call it."""
    from googleapiclient.discovery_cache import get_static_doc

    document = json.loads(get_static_doc("gmail", "v1"))
    table: dict[str, frozenset[str]] = {}

    def walk(resources: dict[str, Any]) -> None:
        for resource in resources.values():
            for method in resource.get("methods", {}).values():
                table[method["id"]] = frozenset(method.get("scopes", ()))
            walk(resource.get("resources", {}))

    walk(document["resources"])
    return table


@lru_cache(maxsize=1)
def gmail_scopes() -> frozenset[str]:
    """Every scope the Gmail discovery document knows."""
    return frozenset().union(*method_scopes().values())


def authorize_call(
    registry: AuthRegistry,
    authorization: str | None,
    method_id: str,
    user_id: str,
    *,
    now: float,
    targets_primary_send_as: bool = False,
) -> str | None:
    """Check a Gmail API call's credentials; the grant's user, or None for an anonymous call.

    Anonymous calls (no Authorization header) are the sandbox's default mode and may do
    anything. Raises ApiError as Gmail would: 401 bad token, 403 missing scope, 403 a method
    reserved for domain-wide delegation, 403 another user's mailbox, 400 a service account
    acting as itself.
    """
    if not authorization:
        return None
    scheme, _, token = authorization.strip().partition(" ")
    grant = registry.access_grant(token.strip(), now=now) if scheme.lower() == "bearer" else None
    if grant is None:
        raise ApiError(401, UNAUTHENTICATED_MESSAGE, "authError", status="UNAUTHENTICATED")
    allowed = method_scopes().get(method_id)
    if allowed is None:
        raise ValueError(f"unknown Gmail method id {method_id!r}")  # a routing bug in the sandbox
    if not grant.scopes & allowed:
        raise ApiError(403, INSUFFICIENT_SCOPES_MESSAGE, "insufficientPermissions", status="PERMISSION_DENIED")
    delegation_only = method_id in DELEGATION_ONLY_METHODS or (
        method_id in DELEGATION_ONLY_UNLESS_PRIMARY and not targets_primary_send_as
    )
    if delegation_only and grant.kind != SERVICE_ACCOUNT:
        raise ApiError(403, DELEGATION_REQUIRED_MESSAGE, "forbidden")
    if grant.kind == SERVICE_ACCOUNT and grant.subject is None:
        # What Gmail answers a service account that did not impersonate a mailbox.
        raise ApiError(400, "Precondition check failed.", "failedPrecondition", status="FAILED_PRECONDITION")
    if user_id != "me" and urllib.parse.unquote(user_id).lower() != grant.user:
        raise ApiError(403, f"Delegation denied for {grant.user}", "forbidden")
    return grant.user
