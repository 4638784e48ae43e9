"""`gmaildesk plan`, `apply`, `export` and `test`: make the mailbox match desk.yaml, visibly and safely."""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from gmaildesk.cli import safe
from gmaildesk.cli.files import OwnershipFile, OwnershipFileOldName, ownership_file
from gmaildesk.cli.options import ConfigFile, Endpoint, ServiceAccount, User, connection_options
from gmaildesk.errors import ExitCode, GmailDeskError

if TYPE_CHECKING:
    from gmaildesk.desk.config_tests import Outcome
    from gmaildesk.desk.plan import Plan
    from gmaildesk.desk.session import Prepared
AllowDelete = Annotated[
    bool,
    typer.Option(
        "--allow-delete", help="Also delete labels, filters and aliases gmaildesk created that desk.yaml dropped."
    ),
]
AsJson = Annotated[bool, typer.Option("--json", help="Print a JSON document (version 1) instead of text.")]

NOT_INTERACTIVE_HINT = "Review the changes with `gmaildesk plan`, then run `gmaildesk apply --yes`."


def register(app: typer.Typer) -> None:
    app.command(name="plan")(plan)
    app.command(name="apply")(apply)
    app.command(name="export")(export)
    app.command(name="test")(test)


def _stdin_is_interactive() -> bool:
    return sys.stdin.isatty()


def _prepare(
    config: Path,
    state: Path | None,
    allow_delete: bool,
    endpoint: str | None,
    service_account: Path | None,
    user: str | None,
    run_tests: bool = False,
    lock: bool = False,
) -> Prepared:
    from gmaildesk.desk import session
    from gmaildesk.gmail import connect, scopes

    options = connection_options(endpoint, service_account, user)
    return session.prepare(
        config,
        lambda: connect(options, scopes.DESK),
        state=state,
        allow_delete=allow_delete,
        run_tests=run_tests,
        on_test_failure=lambda outcomes: _show_outcomes(outcomes, only_failures=True),
        on_warning=lambda line: _report("Warning", line, ()),
        lock=lock,
    )


def plan(
    config: ConfigFile = Path("desk.yaml"),
    as_json: AsJson = False,
    exit_code: Annotated[
        bool,
        typer.Option(
            "--exit-code",
            help=f"Exit {int(ExitCode.PLAN_HAS_CHANGES)} when there are changes or refusals "
            "(a drift check for cron or CI).",
        ),
    ] = False,
    allow_delete: AllowDelete = False,
    ownership: OwnershipFile = None,
    state: OwnershipFileOldName = None,
    endpoint: Endpoint = None,
    service_account: ServiceAccount = None,
    user: User = None,
) -> None:
    """Show what `apply` would change in the mailbox to match desk.yaml; changes nothing.

    Exit codes: 0 done, 1 error (desk.yaml's problems included), 2 bad usage or a desk for another mailbox,
    3 with --exit-code: there are changes or refused deletions, 5 login needed, 6 quota exhausted.

    Example: gmaildesk plan -c desk.yaml --exit-code
    """
    the_plan = _prepare(config, ownership_file(ownership, state), allow_delete, endpoint, service_account, user).plan
    if as_json:
        typer.echo(json.dumps(the_plan.to_json(), indent=2))
    else:
        _show_plan(the_plan)
    if exit_code and not the_plan.is_empty():
        raise typer.Exit(int(ExitCode.PLAN_HAS_CHANGES))


def apply(
    config: ConfigFile = Path("desk.yaml"),
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Apply without asking for confirmation.")] = False,
    allow_delete: AllowDelete = False,
    skip_tests: Annotated[bool, typer.Option("--skip-tests", help="Do not run desk.yaml's tests first.")] = False,
    as_json: AsJson = False,
    ownership: OwnershipFile = None,
    state: OwnershipFileOldName = None,
    endpoint: Endpoint = None,
    service_account: ServiceAccount = None,
    user: User = None,
) -> None:
    """Change the mailbox to match desk.yaml: labels, filters, the auto-acknowledgement and send-as.

    Runs desk.yaml's tests first (--skip-tests skips them). Shows the plan and asks before writing (--yes
    skips the question).

    Exit codes: 0 done, 1 error (desk.yaml's problems or failing tests included; not confirmed), 2 bad usage
    or a desk for another mailbox, 4 partial (a change failed, or a deletion was refused for lack of
    --allow-delete; the rest is applied), 5 login needed, 6 quota exhausted, 7 another apply or sweep of the
    mailbox is running.

    Example: gmaildesk apply -c desk.yaml --yes
    """
    prepared = _prepare(
        config,
        ownership_file(ownership, state),
        allow_delete,
        endpoint,
        service_account,
        user,
        run_tests=not skip_tests,
        lock=True,
    )
    try:
        _apply(prepared, yes, as_json)
    finally:
        prepared.release()


def _apply(prepared: Prepared, yes: bool, as_json: bool) -> None:
    from gmaildesk.desk import apply as desk_apply

    the_plan, client, record = prepared.plan, prepared.client, prepared.ownership

    if not the_plan.changes():
        if as_json:
            typer.echo(
                json.dumps({"version": 1, "kind": "apply", "plan": the_plan.to_json(), "result": None}, indent=2)
            )
        else:
            _show_plan(the_plan)
        desk_apply.execute(the_plan, client, record)  # records adopted filters; writes nothing to Gmail
        _finish_refusals(the_plan)
        return
    if not as_json:
        _show_plan(the_plan)
    if not yes:
        if not _stdin_is_interactive():
            raise GmailDeskError("apply needs confirmation, but stdin is not a terminal", [NOT_INTERACTIVE_HINT])
        if not typer.confirm("Apply these changes?", default=False, err=True):
            raise GmailDeskError("nothing was changed (not confirmed)")
    result = desk_apply.execute(the_plan, client, record)
    if as_json:
        typer.echo(
            json.dumps(
                {"version": 1, "kind": "apply", "plan": the_plan.to_json(), "result": result.to_json()}, indent=2
            )
        )
    else:
        typer.echo(f"Applied {len(result.done)} of {len(the_plan.changes())} changes.")
    for problem in result.warnings:
        _report("Warning", problem.message, problem.hints)
    for problem in result.failures:
        _report("Error", problem.message, problem.hints)
    if result.status == "error":
        raise typer.Exit(int(ExitCode.ERROR))
    if result.status == "partial":
        raise typer.Exit(int(ExitCode.PARTIAL))
    _finish_refusals(the_plan)


# no-color.org: "when present and not an empty string", NO_COLOR turns colour off.
_SIGN_COLOURS = {"+": "green", "-": "red", "~": "yellow", "@": "cyan"}


def _stdout_is_terminal() -> bool:
    return sys.stdout.isatty()


def _show_plan(the_plan: Plan) -> None:
    """The plan as text; on a terminal, each line coloured by its sign (green +, red -, yellow ~)."""
    shown = safe.lines(the_plan.render_text())  # escaped first: the only escape sequences are ours
    if not _stdout_is_terminal() or os.environ.get("NO_COLOR"):
        typer.echo(shown, nl=False)
        return
    lines = [_coloured(line) for line in shown.split("\n")]
    typer.echo("\n".join(lines), nl=False, color=True)


def _coloured(line: str) -> str:
    colour = _SIGN_COLOURS.get(line.lstrip()[:1])
    return typer.style(line, fg=colour) if colour else line


def _finish_refusals(the_plan: Plan) -> None:
    if the_plan.refused:
        _report(
            "Warning",
            f"{len(the_plan.refused)} deletion(s) refused; the rest is applied",
            ("pass --allow-delete to delete what desk.yaml no longer declares",),
        )
        raise typer.Exit(int(ExitCode.PARTIAL))


def _report(kind: str, message: str, hints: Iterable[str]) -> None:
    typer.echo(f"{kind}: {safe.text(message)}", err=True)  # may quote label names and Gmail's answers
    for hint in hints:
        typer.echo(f"Hint: {safe.text(hint)}", err=True)


def export(
    output: Annotated[
        Path | None,
        typer.Option(
            "--output",
            "-o",
            metavar="FILE",
            show_default=False,
            dir_okay=False,
            help="Write desk.yaml here instead of to stdout.",
        ),
    ] = None,
    force: Annotated[bool, typer.Option("--force", help="Overwrite FILE if it exists.")] = False,
    managed_only: Annotated[
        bool,
        typer.Option(
            "--managed-only",
            help="Leave out filters gmaildesk did not create or adopt (a department's routing filter stays).",
        ),
    ] = False,
    ownership: OwnershipFile = None,
    state: OwnershipFileOldName = None,
    endpoint: Endpoint = None,
    service_account: ServiceAccount = None,
    user: User = None,
) -> None:
    """Write the mailbox's settings today as a desk.yaml; `plan` on it shows "No changes".

    Departments come from the labels under the department prefix (with the filters that route to them),
    statuses from the labels under the status prefix, other filters become `filters:`, the vacation
    responder `auto_ack:`, send-as aliases `send_as:` (an SMTP password is never readable: the file names an
    environment variable for it). Filters you made by hand are exported too, marked as such: the first apply
    adopts them (no write) and from then on gmaildesk manages them; --managed-only leaves them out instead.
    What desk.yaml cannot express is listed at the top of the file and left as it is in Gmail. Reads only;
    changes nothing.

    Exit codes: 0 written (a part desk.yaml cannot express is a warning), 1 error (FILE exists without
    --force), 2 bad usage, 5 login needed, 6 quota exhausted.

    Example: gmaildesk export -o desk.yaml --endpoint http://127.0.0.1:8765/
    """
    from gmaildesk.desk import session
    from gmaildesk.gmail import connect, scopes

    if output is not None:
        _check_output(output, force)
    exported = session.export(
        connect(connection_options(endpoint, service_account, user), scopes.DESK),
        state=ownership_file(ownership, state),
        managed_only=managed_only,
    )
    text, residue = exported.text, exported.residue
    if output is None:
        typer.echo(text, nl=False)
    else:
        _write_output(output, text)
        typer.echo(
            f"Wrote {output}: {exported.departments} departments, {exported.filters} filters "
            f"({exported.adopted} made outside gmaildesk), {exported.send_as} send-as."
        )
    for line in exported.left_out:
        _report("Warning", f"not exported: {line}", ())
    if not residue.is_empty():
        lines = [line.strip() for line in residue.render_text().splitlines() if line.startswith(("+", "~", "-", "!"))]
        _report(
            "Warning",
            f"plan on the exported file is not empty: {'; '.join(lines)}",
            ("desk.yaml cannot express this part of the mailbox exactly; review it before you apply",),
        )


def _check_output(output: Path, force: bool) -> None:
    """Refuse -o FILE before Gmail is read: one that exists (without --force), or in a missing folder."""
    if output.exists() and not force:
        raise GmailDeskError(f"{output} already exists", ["pass --force to overwrite it, or choose another -o FILE"])
    if not output.parent.is_dir():  # only the data dir is ever created unasked (issue 11)
        raise GmailDeskError(
            f"cannot write {output}: the folder {output.parent} does not exist",
            [f"create it first (mkdir -p {output.parent}), or choose another -o FILE"],
            ExitCode.USAGE,
        )


def _write_output(output: Path, text: str) -> None:
    try:
        output.write_text(text, encoding="utf-8")
    except OSError as error:
        raise GmailDeskError(f"cannot write {output}: {error.strerror}", ["choose another -o FILE"]) from None


def test(config: ConfigFile = Path("desk.yaml")) -> None:
    """Run desk.yaml's tests offline: does each sample message get exactly the labels it expects?

    Exit codes: 0 all passed (or none), 1 a test failed or desk.yaml has a problem, 2 bad usage.

    Example: gmaildesk test -c desk.yaml
    """
    from gmaildesk.config import load_desk
    from gmaildesk.desk import session

    desk = load_desk(config)
    for line in session.warnings(desk):
        _report("Warning", line, ())
    outcomes, error = session.failing_tests(desk)
    _show_outcomes(outcomes, only_failures=False)
    if error is not None:
        raise error
    typer.echo(f"{len(outcomes)} passed." if outcomes else "No tests in desk.yaml.")


def _show_outcomes(outcomes: Iterable[Outcome], *, only_failures: bool) -> None:
    for outcome in outcomes:
        if not only_failures or not outcome.passed:
            typer.echo(outcome.render(), err=only_failures)
