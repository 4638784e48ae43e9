"""The steps every desk command takes, in the order that keeps a bad config from costing a call:
load and check desk.yaml, run its tests, connect, read the mailbox, build the plan; and export."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from gmaildesk.config import Desk, load_desk
from gmaildesk.desk import config_tests, export_yaml, read
from gmaildesk.desk import export as desk_export
from gmaildesk.desk import plan as desk_plan
from gmaildesk.desk.ownership import Ownership, state_path
from gmaildesk.desk.plan import Plan
from gmaildesk.errors import GmailDeskError
from gmaildesk.gmail.api import DeskApi, HttpGmailApi
from gmaildesk.gmail.client import GmailClient
from gmaildesk.lock import AccountLock
from gmaildesk.paths import Account, check_mailbox


@dataclass
class Prepared:
    desk: Desk
    client: DeskApi  # the connection, as the calls plan and apply make
    ownership: Ownership
    plan: Plan
    lock: AccountLock | None = None  # held for `apply` until it is released

    def release(self) -> None:
        if self.lock is not None:
            self.lock.release()


@dataclass
class Exported:
    text: str
    departments: int
    filters: int
    adopted: int
    send_as: int
    left_out: tuple[str, ...]
    residue: Plan  # the plan of the exported file against the mailbox: empty when the round trip holds


def failing_tests(desk: Desk, context: str = "") -> tuple[list[config_tests.Outcome], GmailDeskError | None]:
    """Every config test's outcome, and the error to raise when any failed."""
    outcomes = list(config_tests.run(desk))
    failed = [o for o in outcomes if not o.passed]
    if not failed:
        return outcomes, None
    message = f"{len(failed)} of {len(outcomes)} config tests failed"
    hint = "fix the filters or the tests in desk.yaml" + (", or pass --skip-tests" if context else "")
    return outcomes, GmailDeskError(f"{message}; {context}" if context else message, [hint])


def warnings(desk: Desk) -> tuple[str, ...]:
    """The config's one-line warnings (e.g. an acknowledgement subject that splits conversations)."""
    return tuple(getattr(desk, "warnings", ()))


def prepare(
    config: Path,
    connect: Callable[[], GmailClient],
    *,
    state: Path | None,
    allow_delete: bool,
    run_tests: bool = False,
    on_test_failure: Callable[[list[config_tests.Outcome]], None] | None = None,
    on_warning: Callable[[str], None] | None = None,
    lock: bool = False,
) -> Prepared:
    """desk.yaml -> checked Desk -> (tests) -> connection -> current mailbox -> Plan.

    `connect` is called only after the config loaded cleanly, so bad input costs no API call.
    `on_test_failure(outcomes)` lets the caller show failures before the error is raised;
    `on_warning(line)` is called for each config warning. With `lock`, the account's lock (the
    one the sweep takes) is held from before the record is read: a second apply stops at once.
    """
    desk = load_desk(config)
    for line in warnings(desk):
        if on_warning is not None:
            on_warning(line)
    if run_tests:
        outcomes, error = failing_tests(desk, "nothing was applied")
        if error is not None:
            if on_test_failure is not None:
                on_test_failure(outcomes)
            raise error
    api = HttpGmailApi(connect())
    current = read.current(api)
    # State belongs to the account the connection really reaches, on its endpoint: checked
    # before anything is written, so a rehearsal's record never meets another mailbox.
    account = Account(api.endpoint, desk_export.mailbox_address(api, current))
    check_mailbox(desk.mailbox, account.address, how=f"the account {account.describe()}")
    held = AccountLock(account, "apply") if lock else None
    if held is None:
        record = Ownership.load(state_path(account, state), account.address)
        return Prepared(desk, api, record, desk_plan.build(desk, current, record, allow_delete))
    held.acquire()
    try:
        # Read again under the lock: another apply may have changed the mailbox meanwhile.
        current = read.current(api)
        record = Ownership.load(state_path(account, state), account.address)
        return Prepared(desk, api, record, desk_plan.build(desk, current, record, allow_delete), held)
    except BaseException:
        held.release()
        raise


def export(client: GmailClient, *, state: Path | None, managed_only: bool) -> Exported:
    """Today's mailbox as desk.yaml text, plus what could not be expressed."""
    api = HttpGmailApi(client)
    current = read.current(api)
    mailbox = desk_export.mailbox_address(api, current)
    record = Ownership.load(state_path(Account(api.endpoint, mailbox), state), mailbox)
    exported = desk_export.build(mailbox, current, record, managed_only=managed_only)
    text = export_yaml.render(exported)
    return Exported(
        text,
        len(exported.departments),
        len(exported.filters),
        exported.adopted,
        len(exported.send_as),
        tuple(exported.left_out),
        desk_export.check(text, current, record),
    )
