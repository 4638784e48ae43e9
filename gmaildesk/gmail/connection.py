"""The one place a Gmail connection is made: sandbox, installed-app OAuth or service account."""

from __future__ import annotations

import dataclasses
import json
import os
import urllib.parse
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import google_auth_httplib2
import httplib2
from google.auth.exceptions import RefreshError, TransportError
from google.oauth2 import service_account
from googleapiclient.discovery import build, build_from_document
from googleapiclient.discovery_cache import get_static_doc

from gmaildesk.errors import ExitCode, GmailDeskError
from gmaildesk.gmail import auth
from gmaildesk.gmail.client import GmailClient, is_loopback_url
from gmaildesk.gmail.costs import DEFAULT_TABLE, TABLES, CostTable, cost_function
from gmaildesk.gmail.envvars import ENDPOINT_ENV, SERVICE_ACCOUNT_ENV, USER_ENV  # noqa: F401 (re-exported)
from gmaildesk.gmail.errors import SERVICE_ACCOUNT_SETUP, translate
from gmaildesk.gmail.pacing import (
    PROJECT_DAILY_UNITS,
    PROJECT_UNITS_PER_MINUTE,
    QUOTA_COSTS_ENV,
    QUOTA_RATE_ENV,
    ProjectBudget,
    QuotaPacer,
    pacer_for,
    parse_rate,
    per_user_limit,
)
from gmaildesk.gmail.retry import RetryPolicy

PRODUCTION_BATCH_URI = "https://gmail.googleapis.com/batch/gmail/v1"
DEFAULT_TIMEOUT_S = 60.0


@dataclass(frozen=True)
class ConnectionOptions:
    """Where to connect and as whom.

    endpoint: a sandbox base URL ("http://127.0.0.1:8025/"); None means Gmail itself.
    service_account + user: domain-wide delegation, acting for `user`.
    use_login: also use the stored `auth login` token with an endpoint (rehearsing OAuth
    against a sandbox); without an endpoint and service account the login is always used.
    quota_units_per_second: client-side quota pacing (gmaildesk.gmail.pacing). None: from
    $GMAILDESK_QUOTA_RATE, else Gmail's per-user limit for the cost table (6,000 units/min
    current, 15,000 legacy) for Gmail and no pacing for a sandbox; 0: no pacing.
    quota_costs: the Cloud project's cost table ("current" or "legacy"); None: "current".
    It prices every call for the pacer and for the units a summary reports.
    project: the Cloud project's budget, shared by every connection of a run (several
    mailboxes); None: one for this connection alone, of quota_project_units_per_minute
    (None: 1,200,000) and quota_daily_units (None: 80,000,000).
    login_account: use that account's own `auth login` (one of several mailboxes swept
    together); None: the last login.
    """

    endpoint: str | None = None
    service_account: Path | None = None
    user: str | None = None
    use_login: bool = False
    timeout: float = DEFAULT_TIMEOUT_S
    quota_units_per_second: float | None = None
    quota_costs: CostTable | None = None
    quota_daily_units: int | None = None
    quota_project_units_per_minute: int | None = None
    project: ProjectBudget | None = None
    login_account: str | None = None

    def __post_init__(self) -> None:
        if self.quota_units_per_second is not None and not self.quota_units_per_second >= 0:
            raise GmailDeskError(
                f"quota rate must be 0 (no pacing) or a positive number of units per second, "
                f"not {self.quota_units_per_second!r}",
                exit_code=ExitCode.USAGE,
            )
        if self.endpoint is not None:
            object.__setattr__(self, "endpoint", normalize_endpoint(self.endpoint))
        if self.service_account is not None and not self.user:
            raise GmailDeskError(
                "--service-account needs --user EMAIL: the mailbox the service account acts for",
                exit_code=ExitCode.USAGE,
            )
        if self.user and self.service_account is None:
            raise GmailDeskError(
                "--user only applies with --service-account KEY",
                ["With `gmaildesk auth login` the account is the one you logged in as."],
                exit_code=ExitCode.USAGE,
            )

    @classmethod
    def from_env(
        cls,
        endpoint: str | None = None,
        service_account: Path | None = None,
        user: str | None = None,
        *,
        environ: Mapping[str, str] | None = None,
    ) -> ConnectionOptions:
        """Options from arguments, falling back to GMAILDESK_ENDPOINT / _SERVICE_ACCOUNT / _USER."""
        env = os.environ if environ is None else environ
        key = service_account or env.get(SERVICE_ACCOUNT_ENV) or None
        return cls(
            endpoint=endpoint or env.get(ENDPOINT_ENV) or None,
            service_account=Path(key) if key else None,
            user=user or env.get(USER_ENV) or None,
            quota_units_per_second=parse_rate(env.get(QUOTA_RATE_ENV)),
            quota_costs=parse_costs(env.get(QUOTA_COSTS_ENV)),
        )

    def with_quota(
        self,
        units_per_minute: int | None,
        costs: CostTable | None,
        daily_units: int | None = None,
        project_units_per_minute: int | None = None,
    ) -> ConnectionOptions:
        """These options with a desk's sweep.quota filled in where neither they nor the environment
        ($GMAILDESK_QUOTA_RATE, $GMAILDESK_QUOTA_COSTS) set a value: the environment overrides the desk."""
        rate = self.quota_units_per_second
        if rate is None:
            rate = parse_rate(os.environ.get(QUOTA_RATE_ENV))
        return dataclasses.replace(
            self,
            quota_units_per_second=rate if rate is not None or units_per_minute is None else units_per_minute / 60,
            quota_costs=self.quota_costs or parse_costs(os.environ.get(QUOTA_COSTS_ENV)) or costs,
            quota_daily_units=self.quota_daily_units or daily_units,
            quota_project_units_per_minute=self.quota_project_units_per_minute or project_units_per_minute,
        )

    def costs(self) -> CostTable:
        """The cost table: these options', else $GMAILDESK_QUOTA_COSTS, else "current"."""
        return self.quota_costs or parse_costs(os.environ.get(QUOTA_COSTS_ENV)) or DEFAULT_TABLE

    def budget(self) -> ProjectBudget:
        """The project budget this connection draws from (shared, or its own)."""
        if self.project is not None:
            return self.project
        return ProjectBudget(
            self.quota_project_units_per_minute or PROJECT_UNITS_PER_MINUTE,
            self.quota_daily_units or PROJECT_DAILY_UNITS,
        )

    @property
    def batch_uri(self) -> str:
        # Derived here because service.new_batch_http_request() ignores api_endpoint and
        # would post a sandbox's calls to Google (googleapis/google-api-python-client#1107).
        return batch_uri_for(self.endpoint)


def connect(options: ConnectionOptions, scopes: Sequence[str], *, policy: RetryPolicy | None = None) -> GmailClient:
    """A GmailClient for `options`, authorized for `scopes` (ignored by an anonymous sandbox)."""
    http = new_http(options.endpoint, options.timeout)
    if options.service_account is not None:
        credentials: Any = _service_account_credentials(options, scopes, http)
    elif options.endpoint is None or options.use_login:
        credentials = auth.load_credentials(scopes, endpoint=options.endpoint, http=http, account=options.login_account)
    else:
        credentials = None  # the sandbox's anonymous mode: no Authorization header at all
    if credentials is not None:
        http = google_auth_httplib2.AuthorizedHttp(credentials, http=http)
    client = client_for_http(http, options.endpoint, policy)
    client.pacer = quota_pacer(options)
    client.costs = options.costs()
    return client


def quota_pacer(options: ConnectionOptions) -> QuotaPacer | None:
    """The pacer for `options`: their rate, else $GMAILDESK_QUOTA_RATE, else the per-user limit of
    their cost table for Gmail and none for a sandbox; priced by that table, drawing on their project."""
    costs = options.costs()
    rate = options.quota_units_per_second
    if rate is None:
        rate = parse_rate(os.environ.get(QUOTA_RATE_ENV))
    if rate is None and options.endpoint is None:
        rate = per_user_limit(costs) / 60
    return pacer_for(rate, options.endpoint, cost_of=cost_function(costs), project=options.budget())


def parse_costs(value: str | None, what: str = QUOTA_COSTS_ENV) -> CostTable | None:
    """A cost table's name ("current" or "legacy", any case); None or blank -> None."""
    text = (value or "").strip().lower()
    if not text:
        return None
    for table in TABLES:
        if text == table:
            return table
    raise GmailDeskError(
        f"{what}={value!r} is not a quota cost table",
        [
            "Use current (Cloud projects created since 2026-05-01: threads.get 40, messages.get 20) "
            "or legacy (projects on the earlier quota: threads.get 10, messages.get 5)."
        ],
        ExitCode.USAGE,
    )


def client_for_credentials(
    credentials: Any, endpoint: str | None, *, timeout: float = DEFAULT_TIMEOUT_S, policy: RetryPolicy | None = None
) -> GmailClient:
    """A GmailClient for credentials already in hand (right after `auth login`)."""
    endpoint = normalize_endpoint(endpoint) if endpoint else None
    http = google_auth_httplib2.AuthorizedHttp(credentials, http=new_http(endpoint, timeout))
    client = client_for_http(http, endpoint, policy)
    client.pacer = pacer_for(None, endpoint)
    return client


def new_http(endpoint: str | None, timeout: float = DEFAULT_TIMEOUT_S) -> httplib2.Http:
    """An httplib2.Http with a timeout; a loopback sandbox is never reached through a proxy."""
    if endpoint and is_loopback_url(endpoint):
        return httplib2.Http(timeout=timeout, proxy_info=None)
    return httplib2.Http(timeout=timeout)


def batch_uri_for(endpoint: str | None) -> str:
    return f"{endpoint}batch/gmail/v1" if endpoint else PRODUCTION_BATCH_URI


def normalize_endpoint(endpoint: str) -> str:
    """The endpoint with one trailing slash; plain http only for loopback addresses."""
    url = endpoint.strip()
    if not url.endswith("/"):
        url += "/"
    parts = urllib.parse.urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise GmailDeskError(
            f"--endpoint must be an http(s) URL, not {endpoint!r}",
            ["For the sandbox: --endpoint http://127.0.0.1:PORT/"],
            ExitCode.USAGE,
        )
    if parts.scheme == "http" and not is_loopback_url(url):
        raise GmailDeskError(
            f"--endpoint {endpoint} would send credentials unencrypted",
            ["Use https, or a loopback address for the sandbox."],
            ExitCode.USAGE,
        )
    return url


def client_for_http(http: Any, endpoint: str | None, policy: RetryPolicy | None = None) -> GmailClient:
    """A GmailClient over a ready http object (authorized or not) for `endpoint` (None: Gmail)."""
    endpoint = normalize_endpoint(endpoint) if endpoint else None
    # static_discovery: the discovery document ships with the library, so building needs no network.
    if endpoint is None:
        service = build("gmail", "v1", http=http, static_discovery=True, cache_discovery=False)
    else:
        service = build_from_document(_document_rooted_at(endpoint), http=http)
    client = GmailClient(service, batch_uri_for(endpoint), http, policy or RetryPolicy())
    client.endpoint = endpoint
    return client


def _document_rooted_at(endpoint: str) -> dict[str, Any]:
    """The bundled discovery document with every root URL moved to `endpoint`.

    client_options={"api_endpoint": ...} is not enough for a plain-http sandbox: it moves
    ordinary calls, but /upload/ URLs keep https (googleapiclient's
    _fix_up_media_path_base_url swaps only the host) and batches keep Google's host
    (googleapis/google-api-python-client#1107).
    """
    document: dict[str, Any] = json.loads(get_static_doc("gmail", "v1"))
    document["rootUrl"] = endpoint
    document["baseUrl"] = endpoint
    document.pop("mtlsRootUrl", None)
    return document


def _service_account_credentials(
    options: ConnectionOptions, scopes: Sequence[str], http: httplib2.Http
) -> service_account.Credentials:
    key = Path(options.service_account or "")
    try:
        token_uri = json.loads(key.read_text(encoding="utf-8")).get("token_uri")
        credentials: service_account.Credentials = service_account.Credentials.from_service_account_file(
            str(key), scopes=list(scopes), subject=options.user
        )
    except FileNotFoundError:
        raise GmailDeskError(f"service account key not found: {key}", exit_code=ExitCode.USAGE) from None
    except (OSError, ValueError, KeyError, AttributeError) as error:
        raise GmailDeskError(
            f"{key} is not a service account key file ({error})",
            ["Download a JSON key for the service account from the Cloud console."],
            ExitCode.USAGE,
        ) from None
    auth.check_issuer(token_uri, options.endpoint, what=f"token_uri in {key}")
    # Fetch the token now, so a refused delegation reads as a setup problem rather than as
    # the failure of whatever call happened to come first.
    try:
        credentials.refresh(google_auth_httplib2.Request(http))
    except RefreshError as error:
        detail = str(error.args[0]) if error.args else "no details"
        raise GmailDeskError(
            f"service account {credentials.service_account_email} could not act for {options.user}: {detail}",
            [SERVICE_ACCOUNT_SETUP],
            ExitCode.AUTH,
        ) from None
    except (OSError, TransportError) as error:
        translated = translate(error, "fetching a service-account token", loopback=is_loopback_url(token_uri or ""))
        if translated is None:
            raise
        raise translated from error
    return credentials
