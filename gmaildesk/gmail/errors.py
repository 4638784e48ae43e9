"""Turn client-library failures into GmailDeskError: one line of context, hints, an exit code.

This is the only place that knows what HttpError, RefreshError and socket errors mean to
a gmaildesk user.
"""

from __future__ import annotations

import http.client
import ssl
import urllib.parse

import httplib2
from google.auth.exceptions import RefreshError, TransportError
from googleapiclient.errors import BatchError, HttpError

from gmaildesk.errors import ExitCode, GmailDeskError
from gmaildesk.gmail.retry import RATE_LIMIT_REASONS, TOO_MANY_REQUESTS, error_reason

LOGIN_AGAIN = "Run `gmaildesk auth login` again."
SERVICE_ACCOUNT_NEEDED = (
    "Creating or changing send-as aliases, forwarding and delegates needs a Google Workspace service "
    "account with domain-wide delegation: pass `--service-account KEY --user EMAIL`."
)
MORE_SCOPES = (
    "Log in again granting the scopes this command needs: `gmaildesk auth login --scope ...` "
    "(with a service account: allow the scopes for its client ID under domain-wide delegation)."
)
QUOTA_EXHAUSTED = "Gmail's per-user quota is exhausted; try again later (the limit is per minute)."
DAILY_LIMIT = "The Cloud project's daily Gmail API limit is used up; raise it in the Cloud console or wait."
SERVER_TROUBLE = "Gmail is having trouble; try again in a few minutes."
SANDBOX_NOT_RUNNING = "Is `gmaildesk sandbox serve` running?"
TRY_THE_SANDBOX = (
    "Or rehearse on the local sandbox, no Google account needed: `gmaildesk sandbox serve` (or `make demo`), "
    "then GMAILDESK_ENDPOINT=http://127.0.0.1:8765/ (or --endpoint URL)."
)
CHECK_NETWORK = "Check the network connection and the --endpoint setting."
USER_NEEDED = "With --service-account, pass --user EMAIL: the mailbox the service account acts for."
SERVICE_ACCOUNT_SETUP = (
    "Check the service account's domain-wide delegation in the Admin console "
    "(Security > API controls): its client ID must be allowed these scopes."
)

# Paths of the settings Gmail reserves for service accounts with domain-wide delegation.
_DELEGATION_PATHS = (
    "/settings/sendAs",
    "/settings/forwardingAddresses",
    "/settings/autoForwarding",
    "/settings/delegates",
)
_SCOPE_REASONS = frozenset({"insufficientPermissions", "ACCESS_TOKEN_SCOPE_INSUFFICIENT"})


class GmailApiError(GmailDeskError):
    """A Gmail call that failed for good: the user-facing message plus what Gmail answered.

    `status` is the HTTP status (None when no answer came: connection refused, timeout, a
    token that could not be refreshed); `reason` is Google's `errors[0].reason`
    ("notFound", "failedPrecondition", ...) when the answer carried one; `attempts` how many
    times the call was sent (a write retried after a lost answer may meet its own effect).
    Callers branch on these, never on the message text.
    """

    def __init__(
        self,
        message: str,
        hints: tuple[str, ...] | list[str] = (),
        exit_code: ExitCode = ExitCode.ERROR,
        *,
        status: int | None = None,
        reason: str | None = None,
        attempts: int = 1,
    ) -> None:
        super().__init__(message, hints, exit_code)
        self.status = status
        self.reason = reason
        self.attempts = attempts

    def with_context(self, context: str) -> GmailApiError:
        return GmailApiError(
            f"{context}: {self.message}",
            self.hints,
            self.exit_code,
            status=self.status,
            reason=self.reason,
            attempts=self.attempts,
        )

    def with_hints(self, *hints: str) -> GmailApiError:
        """The same error with more advice for the user."""
        return GmailApiError(
            self.message,
            (*self.hints, *hints),
            self.exit_code,
            status=self.status,
            reason=self.reason,
            attempts=self.attempts,
        )


def translate(
    error: BaseException, what: str = "", *, loopback: bool = False, attempts: int = 1
) -> GmailDeskError | None:
    """The GmailDeskError for a failed Gmail call, or None for errors that are bugs, not failures.

    `what` says what we were doing ("creating label 'Dept/Billing'"); `loopback` whether the
    endpoint is a local sandbox; `attempts` how many times the call was sent.
    """
    if isinstance(error, GmailDeskError):
        return error.with_context(what) if what else error
    if isinstance(error, HttpError):
        translated: GmailApiError | None = _from_http_error(error, what, attempts)
    elif isinstance(error, RefreshError):
        translated = _from_refresh_error(error, what)
    elif isinstance(error, TransportError) and error.args and isinstance(error.args[0], BaseException):
        return translate(error.args[0], what, loopback=loopback, attempts=attempts)
    elif isinstance(error, BatchError):
        translated = _error(what, f"malformed batch response: {error.reason}")
    else:
        translated = _from_connection_error(error, what, loopback, attempts)
    if translated is not None:
        translated.attempts = attempts
    return translated


def _from_http_error(error: HttpError, what: str, attempts: int) -> GmailApiError:
    status = int(error.status_code)
    reason = error_reason(error)
    message = error.reason or http.client.responses.get(status, "error")
    tried = f", after {attempts} attempts" if attempts > 1 else ""
    line = f"{message} (HTTP {status}{tried})"

    def _error(
        what: str, line: str, hints: list[str] | tuple[str, ...] = (), exit_code: ExitCode = ExitCode.ERROR
    ) -> GmailApiError:
        return _failure(what, line, hints, exit_code, status=status, reason=reason)

    if status == 401:
        return _error(what, line, [LOGIN_AGAIN], ExitCode.AUTH)
    if status == TOO_MANY_REQUESTS or (status == 403 and reason in RATE_LIMIT_REASONS):
        return _error(what, line, [QUOTA_EXHAUSTED], ExitCode.QUOTA)
    if status == 403 and reason == "dailyLimitExceeded":
        return _error(what, line, [DAILY_LIMIT], ExitCode.QUOTA)
    if status == 403 and _is_delegation_path(error.uri):
        hints = [SERVICE_ACCOUNT_NEEDED, MORE_SCOPES] if reason in _SCOPE_REASONS else [SERVICE_ACCOUNT_NEEDED]
        return _error(what, line, hints, ExitCode.AUTH)
    if status == 403 and reason in _SCOPE_REASONS:
        return _error(what, line, [MORE_SCOPES], ExitCode.AUTH)
    if status == 400 and reason == "failedPrecondition" and message == "Precondition check failed.":
        # Gmail's answer to a service account that did not impersonate a mailbox.
        return _error(what, line, [USER_NEEDED], ExitCode.USAGE)
    if status >= 500:
        return _error(what, line, [SERVER_TROUBLE])
    return _error(what, line)


def _from_refresh_error(error: RefreshError, what: str) -> GmailApiError:
    # args[0] is "error: error_description" from the token endpoint; it never holds a token.
    detail = str(error.args[0]) if error.args else "no details"
    line = f"refreshing the access token failed: {detail}"
    if "unauthorized_client" in detail:
        return _error(what, line, [SERVICE_ACCOUNT_SETUP], ExitCode.AUTH)
    return _error(what, line, [LOGIN_AGAIN], ExitCode.AUTH)


def _from_connection_error(error: BaseException, what: str, loopback: bool, attempts: int) -> GmailApiError | None:
    tried = f" (after {attempts} attempts)" if attempts > 1 else ""
    if isinstance(error, ConnectionRefusedError):
        hint = SANDBOX_NOT_RUNNING if loopback else CHECK_NETWORK
        return _error(what, f"connection refused{tried}", [hint])
    if isinstance(error, httplib2.ServerNotFoundError):
        return _error(what, f"{error}{tried}", [CHECK_NETWORK])
    if isinstance(error, TimeoutError):
        return _error(what, f"no answer before the timeout{tried}", [SERVER_TROUBLE])
    if isinstance(error, ssl.SSLError):
        return _error(what, f"TLS error: {error}{tried}", [CHECK_NETWORK])
    if isinstance(error, (ConnectionError, http.client.HTTPException)):
        return _error(what, f"connection lost: {type(error).__name__}{tried}", [CHECK_NETWORK])
    return None


def _is_delegation_path(uri: str | None) -> bool:
    path = urllib.parse.urlsplit(uri or "").path
    return any(part in path for part in _DELEGATION_PATHS)


def _failure(
    what: str,
    line: str,
    hints: list[str] | tuple[str, ...] = (),
    exit_code: ExitCode = ExitCode.ERROR,
    *,
    status: int | None = None,
    reason: str | None = None,
) -> GmailApiError:
    return GmailApiError(f"{what}: {line}" if what else line, tuple(hints), exit_code, status=status, reason=reason)


def _error(
    what: str, line: str, hints: list[str] | tuple[str, ...] = (), exit_code: ExitCode = ExitCode.ERROR
) -> GmailApiError:
    return _failure(what, line, hints, exit_code)
