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

import dataclasses
import os
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Callable, Iterator, Literal, Mapping

from gmaildesk.desk import filters, vacation
from gmaildesk.desk.filters import FilterChange
from gmaildesk.desk.labels import LabelChange
from gmaildesk.desk.ownership import OwnedFilter, Ownership, RecordNotSaved
from gmaildesk.desk.plan import MAX_FILTERS, Plan
from gmaildesk.desk.sendas import VERIFY_HINT, SendAsChange, pending_note, signature_form
from gmaildesk.errors import GmailDeskError
from gmaildesk.gmail.errors import http_status

FORWARD_HINT = ("Gmail forwards only to verified forwarding addresses: add {address} under Settings > "
                "Forwarding and POP/IMAP, and confirm it")
SMTP_HINT = ("Gmail connects to the SMTP server before it creates the alias, and that failed: check smtp.host "
             "({host}), smtp.port ({port}), smtp.security ({security}: ssl for port 465, starttls for 587), "
             "smtp.username ({username}) and the password in ${password_env}")
FILTER_LIMIT_HINT = "delete filters the mailbox no longer needs (Gmail: Settings > Filters), then apply again"
# Gmail answers the filter past its 1,000 with a 500 (elie222/inbox-zero PR #1192): one retry
# covers a real server hiccup, seven would only hammer a mailbox that is full.
FILTER_CREATE_ATTEMPTS = 2

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
    label_ids: dict[str, str]  # casefolded name -> id
    label_names: dict[str, str]  # id -> name as Gmail has it
    done: list[str] = field(default_factory=list)
    warnings: list[Problem] = field(default_factory=list)
    failures: list[Problem] = field(default_factory=list)
    filters_full: bool = False  # Gmail refused a filter for the 1,000 limit: create no more

    def call(self, request: Any, what: str) -> Any:
        return self.client.execute(request, what)

    def attempt(self, step: Callable[[], Any], change: Any = None) -> bool:
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
    """Make the changes of *plan*; nothing is written if an SMTP password variable is missing
    or the ownership record cannot be saved."""
    passwords = smtp_passwords(plan, os.environ if environ is None else environ)
    run = _Run(client, ownership, dict(plan.label_ids), dict(plan.label_names))
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
        _vacation(plan, run)
    for change in plan.send_as:
        _send_as(change, passwords.get(change.address), run)
    return ApplyResult(_status(run), tuple(run.done), tuple(run.warnings), tuple(run.failures))


def _vacation(plan: Plan, run: _Run) -> None:
    body = plan.vacation.to_gmail()
    try:
        settings = run.client.users().settings()
        returned = run.call(settings.updateVacation(userId=run.client.user_id, body=body),
                            "updating the vacation responder")
    except GmailDeskError as error:
        run.failures.append(Problem(error.message, error.hints))
        return
    run.record(lambda record: record.written.update(vacation.forms(plan.vacation.after, returned or {})))
    run.done.append(plan.vacation.render()[0])


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
        if run.filters_full:
            break
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
            run.record(lambda record: record.labels.pop(change.label_id, None))
        run.attempt(delete_label, change)


def _create_label(change: LabelChange, run: _Run, labels_api: Any, me: str) -> None:
    body: dict = {"name": change.name, "labelListVisibility": "labelShow", "messageListVisibility": "show"}
    if change.after:
        body["color"] = {"backgroundColor": change.after.background, "textColor": change.after.text}
    retries_before = run.client.stats.retries
    try:
        created = run.call(labels_api.create(userId=me, body=body), f"creating label '{change.name}'")
    except GmailDeskError as error:
        retried = run.client.stats.retries > retries_before
        if not (retried and http_status(error) == 409):
            raise
        # Our earlier attempt made the label but its answer was lost, so the retry met it
        # (409 "Label name exists or conflicts", Gmail's answer to a duplicate name).
        created = _label_we_made(change, body, run, labels_api, me, error)
    run.label_ids[change.name.casefold()] = created["id"]
    run.label_ids[created["name"].casefold()] = created["id"]
    run.label_names[created["id"]] = created["name"]
    run.record(lambda record: record.record_label(created["id"], created["name"], change.name))
    run.done.extend(change.render())


def _label_we_made(change: LabelChange, body: dict, run: _Run, labels_api: Any, me: str,
                   error: GmailDeskError) -> dict:
    """The label a lost-answer create made, read back; refuse if it is not what we asked for."""
    what = f"reading the label '{change.name}' a retried create met"
    listed = run.call(labels_api.list(userId=me), what)
    for entry in listed.get("labels", []):
        if entry.get("type") == "user" and entry["name"].casefold() == change.name.casefold():
            label = run.call(labels_api.get(userId=me, id=entry["id"]), what)  # list answers no colours
            if "color" not in body or label.get("color") == body["color"]:
                return label
            break
    raise GmailDeskError(error.message, (*error.hints, f"a label named '{change.name}' exists but differs from the "
                                         f"one asked for; rename it in Gmail or in desk.yaml"), error.exit_code)


@contextmanager
def _attempts(client: Any, limit: int) -> Iterator[None]:
    """At most *limit* attempts for the calls made inside (the client's policy is otherwise unchanged)."""
    policy = client.policy
    client.policy = dataclasses.replace(policy, max_attempts=min(limit, policy.max_attempts))
    try:
        yield
    finally:
        client.policy = policy


def _create_filter(change: FilterChange, run: _Run, settings: Any, me: str) -> None:
    digest = change.after.hash
    if change.existing_id is not None:  # the new version is already there: adopt it
        new_id, returned = change.existing_id, change.existing_form
    else:
        try:
            body = change.after.to_gmail(run.label_ids)
        except KeyError as missing:
            raise GmailDeskError(f"creating filter {change.key}: label {missing} does not exist") from None
        try:
            with _attempts(run.client, FILTER_CREATE_ATTEMPTS):
                created = run.call(settings.filters().create(userId=me, body=body), f"creating filter {change.key}")
        except GmailDeskError as error:
            if change.after.forward and "forwarding" in error.message:
                raise GmailDeskError(error.message, (*error.hints, FORWARD_HINT.format(address=change.after.forward)),
                                     error.exit_code) from None
            if (http_status(error) or 0) >= 500:
                _check_filter_limit(change, run, settings, me)
            raise
        new_id = created["id"]
        returned = _returned_hash(created, run, digest)
    run.record(lambda record: record.filters.__setitem__(change.key, OwnedFilter(new_id, digest, returned)))
    run.done.extend(change.render())


def _returned_hash(created: dict, run: _Run, asked: str) -> str:
    """The hash of the filter as Gmail returned it; "" when that is the one asked for."""
    labels = [{"id": i, "name": n, "type": "user"} for i, n in run.label_names.items()]
    found = filters.from_gmail([created], labels)
    returned = found[0].spec.hash if found else asked
    return "" if returned == asked else returned


def _check_filter_limit(change: FilterChange, run: _Run, settings: Any, me: str) -> None:
    """After a 500 on filters.create: if the mailbox is at Gmail's filter limit, say so (and stop)."""
    try:
        listed = run.call(settings.filters().list(userId=me), "counting the mailbox's filters")
    except GmailDeskError:
        return
    count = len((listed or {}).get("filter", []))
    if count >= MAX_FILTERS:
        run.filters_full = True
        raise GmailDeskError(f"creating filter {change.key}: Gmail allows at most {MAX_FILTERS:,} filters and the "
                             f"mailbox has {count}; no further filter was created", [FILTER_LIMIT_HINT]) from None


def _send_as(change: SendAsChange, password: str | None, run: _Run) -> None:
    api = run.client.users().settings().sendAs()
    me = run.client.user_id
    try:
        if change.action == "create":
            returned = run.call(api.create(userId=me, body=change.to_gmail(password)),
                                f"creating send-as {change.address}")
            run.record(lambda record: record.send_as.add(change.address))
            if returned.get("verificationStatus") == "pending":
                run.warnings.append(Problem(pending_note(change.address),
                                            (VERIFY_HINT.format(address=change.address),)))
        elif change.action == "update":
            returned = run.call(api.patch(userId=me, sendAsEmail=change.address, body=change.to_gmail(password)),
                                f"changing send-as {change.address}")
        else:
            run.call(api.delete(userId=me, sendAsEmail=change.address), f"deleting send-as {change.address}")
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
        if change.smtp is not None and change.action != "delete" and http_status(error) == 400:
            smtp = change.smtp
            hints = (SMTP_HINT.format(host=smtp.host, port=smtp.port, security=smtp.security,
                                      username=smtp.username, password_env=smtp.password_env),)
        run.failures.append(Problem(error.message, hints))
