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
from dataclasses import dataclass, field
from typing import Any, Callable, Literal, Mapping

from gmaildesk.desk.filters import FilterChange
from gmaildesk.desk.ownership import OwnedFilter, Ownership
from gmaildesk.desk.plan import Plan
from gmaildesk.desk.sendas import VERIFY_HINT, SendAsChange, pending_note
from gmaildesk.errors import GmailDeskError

FORWARD_HINT = ("Gmail forwards only to verified forwarding addresses: add {address} under Settings > "
                "Forwarding and POP/IMAP, and confirm it")

Status = Literal["ok", "partial", "error"]


@dataclass(frozen=True)
class Problem:
    message: str
    hints: tuple[str, ...] = ()

    def to_json(self) -> dict:
        return {"message": self.message, "hints": list(self.hints)}


@dataclass(frozen=True)
class ApplyResult:
    """What apply did: one line per change made, warnings (nothing failed) and failures."""

    status: Status
    done: tuple[str, ...]
    warnings: tuple[Problem, ...]
    failures: tuple[Problem, ...]

    def to_json(self) -> dict:
        return {"status": self.status, "done": list(self.done), "warnings": [w.to_json() for w in self.warnings],
                "failures": [f.to_json() for f in self.failures]}


@dataclass
class _Run:
    client: Any
    ownership: Ownership
    label_ids: dict[str, str]
    done: list[str] = field(default_factory=list)
    warnings: list[Problem] = field(default_factory=list)
    failures: list[Problem] = field(default_factory=list)

    def call(self, request: Any, what: str) -> Any:
        return self.client.execute(request, what)

    def attempt(self, step: Callable[[], Any], change: Any = None) -> bool:
        """Run one write; a GmailDeskError becomes a failure. With *change*, a success is listed as done."""
        try:
            step()
        except GmailDeskError as error:
            self.failures.append(Problem(error.message, error.hints))
            return False
        if change is not None:
            self.done.extend(change.render())
        return True

    def record(self, update: Callable[[Ownership], None]) -> None:
        update(self.ownership)
        self.ownership.save()


def smtp_passwords(plan: Plan, environ: Mapping[str, str]) -> dict[str, str]:
    """Password per alias address, read from the named variables; GmailDeskError naming a missing one."""
    passwords = {}
    for change in plan.send_as:
        if change.smtp is None:
            continue
        value = environ.get(change.smtp.password_env)
        if not value:
            raise GmailDeskError(
                f"send_as {change.address}: the environment variable {change.smtp.password_env} is not set; "
                f"it holds the SMTP password", [f"export {change.smtp.password_env}=... and apply again"])
        passwords[change.address] = value
    return passwords


def execute(plan: Plan, client: Any, ownership: Ownership, environ: Mapping[str, str] | None = None) -> ApplyResult:
    """Make the changes of *plan*; nothing is written if an SMTP password variable is missing."""
    passwords = smtp_passwords(plan, os.environ if environ is None else environ)
    run = _Run(client, ownership, dict(plan.label_ids))
    if plan.adopt or plan.forget:
        def bookkeeping(record: Ownership) -> None:
            record.filters.update(dict(plan.adopt))
            for key in plan.forget:
                record.filters.pop(key, None)
        run.record(bookkeeping)
    _labels_and_filters(plan, run)
    if plan.vacation is not None:
        try:
            users = client.users()
            run.call(users.settings().updateVacation(userId=client.user_id, body=plan.vacation.to_gmail()),
                     "updating the vacation responder")
            run.done.append(plan.vacation.render()[0])
        except GmailDeskError as error:
            run.failures.append(Problem(error.message, error.hints))
    for change in plan.send_as:
        _send_as(change, passwords.get(change.address), run)
    return ApplyResult(_status(run), tuple(run.done), tuple(run.warnings), tuple(run.failures))


def _status(run: _Run) -> Status:
    if not run.failures:
        return "ok"
    return "partial" if run.done else "error"


def _labels_and_filters(plan: Plan, run: _Run) -> None:
    settings = run.client.users().settings()
    labels_api = run.client.users().labels()
    me = run.client.user_id
    for change in plan.labels:
        if change.action == "create":
            run.attempt(lambda: _create_label(change, run, labels_api, me))
    for change in plan.labels:
        if change.action == "update":
            body = {"color": {"backgroundColor": change.after.background, "textColor": change.after.text}}
            run.attempt(lambda: run.call(labels_api.patch(userId=me, id=change.label_id, body=body),
                                         f"changing the colour of label '{change.name}'"), change)
    created_ok = set()
    for change in plan.filters:
        if change.action in ("create", "replace") and run.attempt(lambda: _create_filter(change, run, settings, me)):
            created_ok.add(change.key)
    for change in plan.filters:
        if change.action == "replace" and change.key in created_ok:
            # The new version is in place: a failure here leaves a duplicate, not a gap.
            run.attempt(lambda: run.call(settings.filters().delete(userId=me, id=change.before.id),
                                         f"deleting the old version of filter {change.key} (id {change.before.id}; "
                                         f"the new one is in place)"))
        elif change.action == "delete":
            def delete() -> None:
                run.call(settings.filters().delete(userId=me, id=change.before.id), f"deleting filter {change.key}")
                run.record(lambda record: record.filters.pop(change.key, None))
            run.attempt(delete, change)
    deletions = [c for c in plan.labels if c.action == "delete"]
    if deletions and run.failures:
        run.failures.append(Problem(f"{len(deletions)} label deletion(s) skipped after the failure above",
                                    ("apply again once the failure is fixed",)))
        return
    for change in deletions:
        def delete_label() -> None:
            run.call(labels_api.delete(userId=me, id=change.label_id), f"deleting label '{change.name}'")
            run.record(lambda record: [record.labels.pop(n) for n, i in list(record.labels.items())
                                       if i == change.label_id])
        run.attempt(delete_label, change)


def _create_label(change, run: _Run, labels_api: Any, me: str) -> None:
    body: dict = {"name": change.name, "labelListVisibility": "labelShow", "messageListVisibility": "show"}
    if change.after:
        body["color"] = {"backgroundColor": change.after.background, "textColor": change.after.text}
    created = run.call(labels_api.create(userId=me, body=body), f"creating label '{change.name}'")
    run.label_ids[change.name.casefold()] = created["id"]
    run.record(lambda record: record.labels.__setitem__(change.name, created["id"]))
    run.done.extend(change.render())


def _create_filter(change: FilterChange, run: _Run, settings: Any, me: str) -> None:
    digest = change.after.hash
    if change.existing_id is not None:  # the new version is already there: adopt it
        new_id = change.existing_id
    else:
        try:
            body = change.after.to_gmail(run.label_ids)
        except KeyError as missing:
            raise GmailDeskError(f"creating filter {change.key}: label {missing} does not exist") from None
        try:
            created = run.call(settings.filters().create(userId=me, body=body), f"creating filter {change.key}")
        except GmailDeskError as error:
            if change.after.forward and "forwarding" in error.message:
                raise GmailDeskError(error.message, (*error.hints, FORWARD_HINT.format(address=change.after.forward)),
                                     error.exit_code) from None
            raise
        new_id = created["id"]
    run.record(lambda record: record.filters.__setitem__(change.key, OwnedFilter(new_id, digest)))
    run.done.extend(change.render())


def _send_as(change: SendAsChange, password: str | None, run: _Run) -> None:
    api = run.client.users().settings().sendAs()
    me = run.client.user_id
    try:
        if change.action == "create":
            created = run.call(api.create(userId=me, body=change.to_gmail(password)),
                               f"creating send-as {change.address}")
            run.record(lambda record: record.send_as.add(change.address))
            if created.get("verificationStatus") == "pending":
                run.warnings.append(Problem(pending_note(change.address),
                                            (VERIFY_HINT.format(address=change.address),)))
        elif change.action == "update":
            run.call(api.patch(userId=me, sendAsEmail=change.address, body=change.to_gmail(password)),
                     f"changing send-as {change.address}")
        else:
            run.call(api.delete(userId=me, sendAsEmail=change.address), f"deleting send-as {change.address}")
            run.record(lambda record: record.send_as.discard(change.address))
        run.done.extend(change.render())
    except GmailDeskError as error:
        run.failures.append(Problem(error.message, error.hints))
