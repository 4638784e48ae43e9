"""Sweep once: the whole `gmaildesk sweep` (and `--refresh`) behind one call, no CLI in it.

connect -> the account the connection really reaches (getProfile) -> that it is the desk's
mailbox -> the account lock -> its store -> engine.run. The profile read here is the run's
own getProfile (a full run starts its history cursor there) and is counted in its summary.
"""

from __future__ import annotations

from pathlib import Path

from gmaildesk.config.desk import Desk
from gmaildesk.gmail import scopes
from gmaildesk.gmail.api import HttpGmailApi
from gmaildesk.gmail.connection import ConnectionOptions, connect
from gmaildesk.lock import AccountLock
from gmaildesk.paths import Account, check_mailbox
from gmaildesk.sweep import ack, assign, engine
from gmaildesk.sweep.engine import Progress, SweepResult
from gmaildesk.sweep.store import Store, store_path

__all__ = ["sweep_once"]


def sweep_once(
    desk: Desk,
    options: ConnectionOptions,
    store_override: Path | None = None,
    *,
    full: bool = False,
    dry_run: bool = False,
    progress: Progress | None = None,
    backfill: int | None = None,
) -> SweepResult:
    """One sweep of desk.mailbox; raises GmailDeskError when nothing could be done (wrong
    account, another sweep holding the lock, a store that is not this account's)."""
    quota = desk.sweep.quota  # where the environment ($GMAILDESK_QUOTA_*) says nothing
    options = options.with_quota(quota.units_per_minute, quota.costs, quota.daily_units, quota.project_units_per_minute)
    api = HttpGmailApi(connect(options, scopes.SWEEP))
    before = api.usage()
    profile = api.profile()
    account = Account(api.endpoint, profile.address)
    check_mailbox(desk.mailbox, account.address, how="--user" if options.user else f"the account {account.describe()}")
    path = store_path(account, store_override)
    with AccountLock(account, "sweep"), Store(path, account) as store:
        now_ms = api.clock()
        result = engine.run(
            api,
            desk,
            store,
            full=full,
            dry_run=dry_run,
            now_ms=now_ms,
            progress=progress,
            profile=profile,
            usage_from=before,
            backfill=backfill,
        )
        if not dry_run:
            assign.assign(api, desk, store, result, now_ms)
            ack.after_sweep(api, desk, store, result, now_ms, before)
        result.quota_costs = options.costs()
        result.rate_limited = api.client.stats.rate_limited
        return result
