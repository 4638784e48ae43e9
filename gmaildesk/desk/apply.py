"""Execute a Plan against Gmail, in dependency order, recording ownership as writes succeed.

Order (why):
  1. create labels, parents first          - filters and nested labels need them
  2. patch label colours                   - in place, nothing depends on it
  3. create filters (new and replacements) - before any old one is deleted, so a
                                             failure leaves duplicates, not gaps
  4. delete replaced and removed filters
  5. delete labels, children first         - no remaining filter uses them
  6. the vacation responder                - independent; written only if it differs
  7. send-as aliases                       - independent; may be refused on consumer accounts
Each write that fails is reported and the rest goes on, except that a replaced filter's old
version is only deleted once its new one exists, and no label is deleted after any failure.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import partial
from typing import Any, Literal, TypeVar

from gmaildesk.desk import filters, vacation
from gmaildesk.desk.filters import FilterChange, UpstreamFilter
from gmaildesk.desk.labels import LabelChange
from gmaildesk.desk.ownership import OwnedFilter, Ownership, RecordNotSaved
from gmaildesk.desk.plan import MAX_FILTERS, Plan
from gmaildesk.desk.sendas import VERIFY_HINT, SendAsChange, pending_note, signature_form
from gmaildesk.desk.vacation import VacationChange
from gmaildesk.errors import GmailDeskError
from gmaildesk.gmail.api import DeskApi
from gmaildesk.gmail.errors import GmailApiError
from gmaildesk.gmail.types import Json

FORWARD_HINT = (
    "Gmail forwards only to verified forwarding addresses: add {address} under Settings > "
    "Forwarding and POP/IMAP, and confirm it"
)
SMTP_HINT = (
    "Gmail connects to the SMTP server before it creates the alias, and that failed: check smtp.host "
    "({host}), smtp.port ({port}), smtp.security ({security}: ssl for port 465, starttls for 587), "
    "smtp.username ({username}) and the password in ${password_env}"
)
FILTER_LIMIT_HINT = "delete filters the mailbox no longer needs (Gmail: Settings > Filters), then apply again"
# Gmail answers the filter past its 1,000 with a 500 (elie222/inbox-zero PR #1192): one retry
# covers a real server hiccup, seven would only hammer a mailbox that is full.
FILTER_CREATE_ATTEMPTS = 2

Status = Literal["ok", "partial", "error"]
T = TypeVar("T")


@dataclass(frozen=True)
class Problem:
    message: str
    hints: tuple[str, ...] = ()

    def to_json(self) -> dict[str, Any]:
        return {"message": self.message, "hints": list(self.hints)}


@dataclass(frozen=True)
class ApplyResult:
    """What apply did: one line per change made, warnings (nothing failed) and failures."""

    status: Status
    done: tuple[str, ...]
    warnings: tuple[Problem, ...]
    failures: tuple[Problem, ...]

    def to_json(self) -> dict[str, Any]:
        return {
            "status": self.status,
            "done": list(self.done),
            "warnings": [w.to_json() for w in self.warnings],
            "failures": [f.to_json() for f in self.failures],
        }


@dataclass
class _Run:
    api: DeskApi
    ownership: Ownership
    label_ids: dict[str, str]  # casefolded name -> id
    label_names: dict[str, str]  # id -> name as Gmail has it
    done: list[str] = field(default_factory=list)
    warnings: list[Problem] = field(default_factory=list)
    failures: list[Problem] = field(default_factory=list)
    filters_full: bool = False  # Gmail refused a filter for the 1,000 limit: create no more

    def call(self, what: str, step: Callable[[], T]) -> T:
        """One Gmail call; its failure says what we were doing."""
        try:
            return step()
        except GmailApiError as error:
            raise error.with_context(what) from error

    def attempt(self, step: Callable[[], object], change: LabelChange | FilterChange | None = None) -> bool:
        """Run one write; a GmailDeskError becomes a failure. With *change*, a success is listed as done.

        A record that cannot be saved stops the run: more writes would go unremembered.
        """
        try:
            step()
        except RecordNotSaved:
            raise
        except GmailDeskError as error:
            self.failures.append(Problem(error.message, error.hints))
            return False
        if change is not None:
            self.done.extend(change.render())
        return True

    def record(self, update: Callable[[Ownership], object]) -> None:
        update(self.ownership)
        self.ownership.save()


def smtp_passwords(plan: Plan, environ: Mapping[str, str]) -> dict[str, str]:
    """Password per alias address, read from the named variables; GmailDeskError naming a missing one."""
    passwords: dict[str, str] = {}
    for change in plan.send_as:
        if change.smtp is None:
            continue
        value = environ.get(change.smtp.password_env)
        if not value:
            raise GmailDeskError(
                f"send_as {change.address}: the environment variable {change.smtp.password_env} is not set; "
                f"it holds the SMTP password",
                [f"export {change.smtp.password_env}=... and apply again"],
            )
        passwords[change.address] = value
    return passwords


def execute(plan: Plan, api: DeskApi, ownership: Ownership, environ: Mapping[str, str] | None = None) -> ApplyResult:
    """Make the changes of *plan*; nothing is written if an SMTP password variable is missing
    or the ownership record cannot be saved."""
    passwords = smtp_passwords(plan, os.environ if environ is None else environ)
    run = _Run(api, ownership, dict(plan.label_ids), dict(plan.label_names))
    if plan.changes() or plan.adopt or plan.forget or plan.forget_labels or plan.disown:

        def bookkeeping(record: Ownership) -> None:
            record.filters.update(dict(plan.adopt))
            for key in plan.forget:
                record.filters.pop(key, None)
            for label_id in plan.forget_labels:
                record.labels.pop(label_id, None)
                record.disowned.pop(label_id, None)
            for label_id, name in plan.disown:
                record.labels.pop(label_id, None)
                record.disowned[label_id] = name

        run.record(bookkeeping)  # also proves the record can be saved before Gmail is touched
    _labels_and_filters(plan, run)
    if plan.vacation is not None:
        _vacation(plan.vacation, run)
    for change in plan.send_as:
        _send_as(change, passwords.get(change.address), run)
    return ApplyResult(_status(run), tuple(run.done), tuple(run.warnings), tuple(run.failures))


def _vacation(change: VacationChange, run: _Run) -> None:
    body = change.to_gmail()
    try:
        returned = run.call("updating the vacation responder", lambda: run.api.update_vacation(body))
    except GmailDeskError as error:
        run.failures.append(Problem(error.message, error.hints))
        return
    run.record(lambda record: record.written.update(vacation.forms(change.after, returned)))
    run.done.append(change.render()[0])


def _status(run: _Run) -> Status:
    if not run.failures:
        return "ok"
    return "partial" if run.done else "error"


def _labels_and_filters(plan: Plan, run: _Run) -> None:
    for change in plan.labels:
        if change.action == "create":
            run.attempt(partial(_create_label, change, run))
    for change in plan.labels:
        if change.action == "update":
            run.attempt(partial(_recolour_label, change, run), change)
    created_ok = set()
    for filter_change in plan.filters:
        if filter_change.action in ("create", "replace") and run.attempt(partial(_create_filter, filter_change, run)):
            created_ok.add(filter_change.key)
        if run.filters_full:
            break
    for filter_change in plan.filters:
        if filter_change.action == "replace" and filter_change.key in created_ok:
            # The new version is in place: a failure here leaves a duplicate, not a gap.
            run.attempt(partial(_delete_old_version, filter_change, run))
        elif filter_change.action == "delete":
            run.attempt(partial(_delete_filter, filter_change, run), filter_change)
    deletions = [c for c in plan.labels if c.action == "delete"]
    if deletions and run.failures:
        run.failures.append(
            Problem(
                f"{len(deletions)} label deletion(s) skipped after the failure above",
                ("apply again once the failure is fixed",),
            )
        )
        return
    for change in deletions:
        run.attempt(partial(_delete_label, change, run), change)


def _recolour_label(change: LabelChange, run: _Run) -> None:
    colour, label_id = change.after, _existing(change)
    if colour is None:
        raise ValueError(f"label change {change.name}: update without the colour to set")
    body = {"color": {"backgroundColor": colour.background, "textColor": colour.text}}
    run.call(f"changing the colour of label '{change.name}'", lambda: run.api.patch_label(label_id, body))


def _delete_label(change: LabelChange, run: _Run) -> None:
    label_id = _existing(change)
    run.call(f"deleting label '{change.name}'", lambda: run.api.delete_label(label_id))
    run.record(lambda record: record.labels.pop(label_id, None))


def _existing(change: LabelChange) -> str:
    if change.label_id is None:
        raise ValueError(f"label change {change.name}: {change.action} without the label it changes")
    return change.label_id


def _delete_old_version(change: FilterChange, run: _Run) -> None:
    old = _before(change)
    run.call(
        f"deleting the old version of filter {change.key} (id {old.id}; the new one is in place)",
        lambda: run.api.delete_filter(old.id),
    )


def _delete_filter(change: FilterChange, run: _Run) -> None:
    old = _before(change)
    run.call(f"deleting filter {change.key}", lambda: run.api.delete_filter(old.id))
    run.record(lambda record: record.filters.pop(change.key, None))


def _before(change: FilterChange) -> UpstreamFilter:
    if change.before is None:
        raise ValueError(f"filter change {change.key}: {change.action} without the filter it changes")
    return change.before


def _create_label(change: LabelChange, run: _Run) -> None:
    body: dict[str, Any] = {"name": change.name, "labelListVisibility": "labelShow", "messageListVisibility": "show"}
    if change.after:
        body["color"] = {"backgroundColor": change.after.background, "textColor": change.after.text}
    try:
        created = run.call(f"creating label '{change.name}'", lambda: run.api.create_label(body))
    except GmailApiError as error:
        if not (error.attempts > 1 and error.status == 409):
            raise
        # Our earlier attempt made the label but its answer was lost, so the retry met it
        # (409 "Label name exists or conflicts", Gmail's answer to a duplicate name).
        created = _label_we_made(change, body, run, error)
    run.label_ids[change.name.casefold()] = created["id"]
    run.label_ids[created["name"].casefold()] = created["id"]
    run.label_names[created["id"]] = created["name"]
    run.record(lambda record: record.record_label(created["id"], created["name"], change.name))
    run.done.extend(change.render())


def _label_we_made(change: LabelChange, body: Json, run: _Run, error: GmailApiError) -> Json:
    """The label a lost-answer create made, read back; refuse if it is not what we asked for."""
    what = f"reading the label '{change.name}' a retried create met"
    for entry in run.call(what, run.api.labels):
        if entry.resource.get("type") == "user" and entry.name.casefold() == change.name.casefold():
            label = run.call(what, partial(run.api.label, entry.id))  # list answers no colours
            if "color" not in body or label.get("color") == body["color"]:
                return label
            break
    raise error.with_hints(
        f"a label named '{change.name}' exists but differs from the one asked for; rename it in Gmail or in desk.yaml"
    )


def _create_filter(change: FilterChange, run: _Run) -> None:
    after = change.after
    if after is None:
        raise ValueError(f"filter change {change.key}: {change.action} without the filter to create")
    digest = after.hash
    if change.existing_id is not None:  # the new version is already there: adopt it
        new_id, returned = change.existing_id, change.existing_form
    else:
        try:
            body = after.to_gmail(run.label_ids)
        except KeyError as missing:
            raise GmailDeskError(f"creating filter {change.key}: label {missing} does not exist") from None
        try:
            created = run.call(
                f"creating filter {change.key}",
                lambda: run.api.create_filter(body, max_attempts=FILTER_CREATE_ATTEMPTS),
            )
        except GmailApiError as error:
            # A forward to an address the mailbox has not verified: 400 failedPrecondition
            # "Unrecognized forwarding address" (mbrt/gmailctl#56).
            if after.forward and error.status == 400 and error.reason == "failedPrecondition":
                raise error.with_hints(FORWARD_HINT.format(address=after.forward)) from None
            if (error.status or 0) >= 500:
                _check_filter_limit(change, run)
            raise
        new_id = str(created["id"])
        returned = _returned_hash(created, run, digest)
    run.record(lambda record: record.filters.__setitem__(change.key, OwnedFilter(new_id, digest, returned)))
    run.done.extend(change.render())


def _returned_hash(created: Json, run: _Run, asked: str) -> str:
    """The hash of the filter as Gmail returned it; "" when that is the one asked for."""
    labels = [{"id": i, "name": n, "type": "user"} for i, n in run.label_names.items()]
    found = filters.from_gmail([created], labels)
    returned = found[0].spec.hash if found else asked
    return "" if returned == asked else returned


def _check_filter_limit(change: FilterChange, run: _Run) -> None:
    """After a 500 on filters.create: if the mailbox is at Gmail's filter limit, say so (and stop)."""
    try:
        count = len(run.call("counting the mailbox's filters", run.api.filters))
    except GmailDeskError:
        return
    if count >= MAX_FILTERS:
        run.filters_full = True
        raise GmailDeskError(
            f"creating filter {change.key}: Gmail allows at most {MAX_FILTERS:,} filters and the "
            f"mailbox has {count}; no further filter was created",
            [FILTER_LIMIT_HINT],
        ) from None


def _send_as(change: SendAsChange, password: str | None, run: _Run) -> None:
    returned: Json | None
    try:
        if change.action == "create":
            returned = run.call(
                f"creating send-as {change.address}", lambda: run.api.create_send_as(change.to_gmail(password))
            )
            run.record(lambda record: record.send_as.add(change.address))
            if returned.get("verificationStatus") == "pending":
                run.warnings.append(
                    Problem(pending_note(change.address), (VERIFY_HINT.format(address=change.address),))
                )
        elif change.action == "update":
            returned = run.call(
                f"changing send-as {change.address}",
                lambda: run.api.patch_send_as(change.address, change.to_gmail(password)),
            )
        else:
            run.call(f"deleting send-as {change.address}", lambda: run.api.delete_send_as(change.address))
            run.record(lambda record: record.send_as.discard(change.address))
            returned = None
        asked = dict(change.after)
        if returned is not None and "signature" in asked:
            key, form = signature_form(change.address, asked["signature"], returned.get("signature"))
            run.record(lambda record: record.written.__setitem__(key, form))
        run.done.extend(change.render())
    except RecordNotSaved:
        raise
    except GmailDeskError as error:
        hints = error.hints
        refused = isinstance(error, GmailApiError) and error.status == 400
        if change.smtp is not None and change.action != "delete" and refused:
            smtp = change.smtp
            hints = (
                SMTP_HINT.format(
                    host=smtp.host,
                    port=smtp.port,
                    security=smtp.security,
                    username=smtp.username,
                    password_env=smtp.password_env,
                ),
            )
        run.failures.append(Problem(error.message, hints))
