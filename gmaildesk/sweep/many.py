"""Sweep several mailboxes at once: one `sweep_once` per desk.yaml, in parallel threads.

Gmail's quota is per user (developers.google.com/workspace/gmail/api/reference/quota, "Per user
rate limit"), so mailboxes swept side by side do not slow each other down: each run has its own
connection, pacer, account lock and store (sweep.service does one); the project's limit and the daily
guard are shared (one gmail.pacing.ProjectBudget for the run). One desk's failure (a wrong
mailbox, a login missing, another sweep holding its lock) is that desk's result; the others
still run, and the whole run exits with the worst code of them all.

With a service account (domain-wide delegation) each desk's `mailbox:` is the user the
account acts for; otherwise each desk's mailbox uses its own `auth login` (and sweep.service
refuses a desk whose mailbox is not the account reached).
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gmaildesk.config import load_desk
from gmaildesk.config.desk import Desk
from gmaildesk.errors import ExitCode, GmailDeskError
from gmaildesk.gmail import auth
from gmaildesk.gmail.connection import ConnectionOptions
from gmaildesk.gmail.pacing import PROJECT_DAILY_UNITS, PROJECT_UNITS_PER_MINUTE, ProjectBudget
from gmaildesk.sweep.engine import SweepResult

__all__ = ["MailboxRun", "ManyResult", "sweep_many", "worst", "connect_as"]

# Most mailboxes swept at the same time: Gmail allows a project 1,200,000 units a minute over all its
# users (the quota page's "Per project rate limit"), 200 users at the per-user 6,000 each; threads
# beyond a few dozen only wait on each other's sockets.
MAX_PARALLEL = 16

# The worst first: the exit code of a run over several mailboxes is the worst of its runs. Interrupted
# and plain errors (a desk.yaml that does not load, an unreachable server) above what a user fixes in a
# setting (usage, login, quota), above what fixes itself on the next run (locked, partial).
_WORST_FIRST = (
    ExitCode.INTERRUPTED,
    ExitCode.ERROR,
    ExitCode.USAGE,
    ExitCode.AUTH,
    ExitCode.QUOTA,
    ExitCode.LOCKED,
    ExitCode.PARTIAL,
    ExitCode.NEEDS_ATTENTION,
    ExitCode.PLAN_HAS_CHANGES,
    ExitCode.OK,
)


def worst(codes: Sequence[ExitCode]) -> ExitCode:
    """The worst of *codes* (OK for none)."""
    return min(codes, key=_WORST_FIRST.index, default=ExitCode.OK)


@dataclass(frozen=True)
class MailboxRun:
    """One desk's sweep: its result, or the error that stopped it before anything was written."""

    config: Path
    mailbox: str | None  # desk.yaml's mailbox; None when the file did not load
    result: SweepResult | None = None
    error: GmailDeskError | None = None

    @property
    def exit_code(self) -> ExitCode:
        if self.error is not None:
            return self.error.exit_code
        assert self.result is not None  # a run has one or the other
        return self.result.exit_code

    @property
    def name(self) -> str:
        return self.mailbox or str(self.config)

    def to_json(self) -> dict[str, Any]:
        return {
            "mailbox": self.mailbox,
            "config": str(self.config),
            "exit_code": int(self.exit_code),
            "result": None if self.result is None else self.result.to_json(),
            "error": None if self.error is None else {"message": self.error.message, "hints": list(self.error.hints)},
        }


@dataclass(frozen=True)
class ManyResult:
    runs: list[MailboxRun]
    duration_s: float

    @property
    def exit_code(self) -> ExitCode:
        return worst([run.exit_code for run in self.runs])

    @property
    def results(self) -> list[SweepResult]:
        return [run.result for run in self.runs if run.result is not None]

    def total(self) -> dict[str, int]:
        done = self.results
        return {
            "mailboxes": len(self.runs),
            "swept": len(done),
            "failed": sum(run.exit_code != ExitCode.OK for run in self.runs),
            "threads_seen": sum(r.threads_seen for r in done),
            "threads_read": sum(r.threads_read for r in done),
            "transitions": sum(len(r.transitions) for r in done),
            "api_calls": sum(r.api_calls for r in done),
            "quota_units": sum(r.quota_units for r in done),
        }

    def to_json(self) -> dict[str, Any]:
        return {
            "version": 1,
            "kind": "sweep-many",
            "status": "ok" if self.exit_code == ExitCode.OK else "partial" if self.results else "error",
            "exit_code": int(self.exit_code),
            "mailboxes": [run.to_json() for run in self.runs],
            "total": self.total(),
            "duration_s": round(self.duration_s, 3),
        }


SweepOne = Callable[[Desk, ConnectionOptions], SweepResult]
ConnectAs = Callable[[Desk], ConnectionOptions]


def connect_as(endpoint: str | None, service_account: Path | None, budget: ProjectBudget | None = None) -> ConnectAs:
    """How each desk among several connects. A service account acts for the desk's own mailbox (the user
    domain-wide delegation impersonates); otherwise each desk uses its mailbox's own `auth login`
    (gmail.auth keeps one per account) - on a sandbox only when there is one, else the sandbox's
    anonymous default user. `budget`, when given, is every connection's project budget; otherwise
    sweep_many gives them one (project_budget): Gmail's per-project limit and the daily guard are the
    Cloud project's, whichever mailbox spends them."""

    def options(desk: Desk) -> ConnectionOptions:
        if service_account is not None:
            return ConnectionOptions(
                endpoint=endpoint, service_account=service_account, user=desk.mailbox, project=budget
            )
        login = endpoint is None or auth.has_login(desk.mailbox)
        return ConnectionOptions(
            endpoint=endpoint, use_login=login, login_account=desk.mailbox if login else None, project=budget
        )

    return options


def sweep_many(
    configs: Sequence[Path], options_for: ConnectAs, sweep_one: SweepOne, *, parallel: int = MAX_PARALLEL
) -> ManyResult:
    """Load every desk, then sweep each with `sweep_one(desk, options_for(desk))` (sweep.service.sweep_once
    with the run's flags), at most *parallel* at a time; results in the order of *configs*."""
    started = time.monotonic()
    desks = _load(configs)
    shared = project_budget([d for d in desks if isinstance(d, Desk)])
    options_for = _drawing_from(shared, options_for)
    with ThreadPoolExecutor(max_workers=max(1, min(parallel, len(configs))), thread_name_prefix="sweep") as pool:
        futures = [
            pool.submit(_sweep, config, desk, options_for, sweep_one) if isinstance(desk, Desk) else None
            for config, desk in zip(configs, desks, strict=True)
        ]
        runs = [
            future.result()
            if future is not None
            else MailboxRun(config, None, error=desk if isinstance(desk, GmailDeskError) else None)
            for config, desk, future in zip(configs, desks, futures, strict=True)
        ]
    return ManyResult(runs, time.monotonic() - started)


def project_budget(desks: Sequence[Desk]) -> ProjectBudget:
    """The run's one project budget: the strictest sweep.quota among the desks (they share one Cloud
    project, so the smallest per-project limit and daily units any of them states hold for all)."""
    return ProjectBudget(
        min((d.sweep.quota.project_units_per_minute for d in desks), default=PROJECT_UNITS_PER_MINUTE),
        min((d.sweep.quota.daily_units for d in desks), default=PROJECT_DAILY_UNITS),
    )


def _drawing_from(budget: ProjectBudget, options_for: ConnectAs) -> ConnectAs:
    """options_for, with `budget` as the project budget of every connection that names none."""

    def options(desk: Desk) -> ConnectionOptions:
        chosen = options_for(desk)
        return chosen if chosen.project is not None else dataclasses.replace(chosen, project=budget)

    return options


def _load(configs: Sequence[Path]) -> list[Desk | GmailDeskError]:
    """Each desk, or why it cannot be swept: its file's problem, or a mailbox an earlier desk already has
    (two runs on one mailbox would fight over its lock and labels)."""
    desks: list[Desk | GmailDeskError] = []
    seen: dict[str, Path] = {}
    for config in configs:
        try:
            desk = load_desk(config)
        except GmailDeskError as error:
            desks.append(error)
            continue
        first = seen.setdefault(desk.mailbox.lower(), config)
        if first != config:
            desks.append(
                GmailDeskError(
                    f"{config}: {desk.mailbox} is the mailbox of {first} too; swept once, by {first}",
                    ["give each mailbox one desk.yaml"],
                    ExitCode.USAGE,
                )
            )
        else:
            desks.append(desk)
    return desks


def _sweep(config: Path, desk: Desk, options_for: ConnectAs, sweep_one: SweepOne) -> MailboxRun:
    try:
        return MailboxRun(config, desk.mailbox, result=sweep_one(desk, options_for(desk)))
    except GmailDeskError as error:
        return MailboxRun(config, desk.mailbox, error=error)
