"""`gmaildesk sandbox ...`: run the local Gmail API server and drive its control API."""

from __future__ import annotations

import json
import sys
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from gmaildesk.errors import ExitCode, GmailDeskError
from gmaildesk.sandbox.defaults import DEFAULT_USER

if TYPE_CHECKING:
    from gmaildesk.cli.sandbox_mail import Outcome, Rehearsal
    from gmaildesk.sandbox.client import SandboxControl

app = typer.Typer(
    help="Run the local Gmail API sandbox and drive it (deliver mail, move its clock, ...).", no_args_is_help=True
)


class Authentication(StrEnum):
    PASS = "pass"
    FAIL = "fail"


SandboxUrl = Annotated[
    str, typer.Option("--endpoint", envvar="GMAILDESK_ENDPOINT", metavar="URL", help="URL of a running sandbox.")
]


@app.command()
def serve(
    host: Annotated[
        str, typer.Option(metavar="HOST", help="Address to listen on (loopback; anything else needs --allow-remote).")
    ] = "127.0.0.1",
    allow_remote: Annotated[
        bool,
        typer.Option(
            "--allow-remote", help="Allow a --host beyond loopback: anyone who reaches it controls the sandbox."
        ),
    ] = False,
    port: Annotated[int, typer.Option(metavar="PORT", help="Port to listen on; 0 picks a free one.")] = 8765,
    db: Annotated[
        Path | None, typer.Option(metavar="FILE", help="SQLite file to keep state in; memory when absent.")
    ] = None,
    user: Annotated[
        list[str] | None, typer.Option(metavar="EMAIL", help="Mailbox to create (repeatable); the first is 'me'.")
    ] = None,
    history_retention: Annotated[
        float, typer.Option(metavar="SECONDS", help="Seconds of history kept before history.list answers 404.")
    ] = 7 * 86400,
    quota: Annotated[
        float | None, typer.Option(metavar="UNITS", help="Enforce this many quota units per second per user.")
    ] = None,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Log every request to stderr.")] = False,
) -> None:
    """Serve the Gmail API sandbox until interrupted.

    Exit codes: 0 stopped (Ctrl-C), 1 error (the address is taken, the --db is unusable), 2 bad usage (a --host
    beyond loopback without --allow-remote).

    Example: gmaildesk sandbox serve --port 8765 --db desk.sqlite --user support@example.com
    """
    from gmaildesk.sandbox import SandboxOptions, start_server
    from gmaildesk.sandbox.server import is_loopback

    options = SandboxOptions(
        users=tuple(user or (DEFAULT_USER,)),
        db=str(db) if db else None,
        history_retention_s=history_retention,
        quota_units_per_second=quota,
    )
    try:
        server = start_server(
            options,
            host,
            port,
            log=(lambda line: print(line, file=sys.stderr)) if verbose else None,
            allow_remote=allow_remote,
        )
    except OSError as error:
        raise GmailDeskError(
            f"cannot listen on {host}:{port}: {error.strerror}", hints=("Pick another --port, or 0 for a free one.",)
        ) from None
    typer.echo(f"gmaildesk sandbox serving {server.url} for {', '.join(sorted(server.sandbox.mailboxes))}")
    typer.echo(f"Use it with: export GMAILDESK_ENDPOINT={server.url}")
    if allow_remote and not is_loopback(host):
        typer.echo(
            f"WARNING: the sandbox listens on {host}, beyond this machine. Its control API has no "
            "authentication: anyone who can reach this port can read and change its mail and settings.",
            err=True,
        )
    sys.stdout.flush()
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        typer.echo("Sandbox stopped.", err=True)
    finally:
        server.server_close()
        server.sandbox.store.close()


@app.command()
def deliver(
    files: Annotated[
        list[Path], typer.Argument(metavar="FILE...", help="RFC 822 message files (.eml).", exists=True, dir_okay=False)
    ],
    endpoint: SandboxUrl,
    to: Annotated[
        str, typer.Option("--to", metavar="EMAIL", help="Sandbox mailbox receiving the mail.")
    ] = DEFAULT_USER,
    spam: Annotated[bool, typer.Option(help="Deliver into SPAM instead of the inbox.")] = False,
    authentication: Annotated[
        Authentication,
        typer.Option(help="Gmail's SPF/DKIM/DMARC verdict recorded on the mail; 'fail' rehearses a forged From."),
    ] = Authentication.PASS,
) -> None:
    """Deliver messages as if they arrived by SMTP (filters, threading, vacation auto-reply).

    Exit codes: 0 delivered, 1 error (no sandbox at --endpoint, or it refused the request), 2 bad usage.

    Example: gmaildesk sandbox deliver --endpoint http://127.0.0.1:8765/ mail/*.eml
    """
    from gmaildesk.cli.sandbox_mail import check_rfc822

    messages = [(path, path.read_bytes()) for path in files]
    for path, raw in messages:  # all checked first: nothing half-delivered
        check_rfc822(str(path), raw)
    control = _control(endpoint)
    for path, raw in messages:
        result = control.deliver(to, raw, spam=spam, authentication=authentication.value)
        reply = f", auto-reply to {result['autoReply']['to']}" if result.get("autoReply") else ""
        typer.echo(
            f"{path.name}: message {result['id']} in thread {result['threadId']} "
            f"[{' '.join(result['labelNames'])}]{reply}"
        )


Body = Annotated[str, typer.Argument(metavar="BODY", help="The message text, or - to read it from stdin.")]


@app.command()
def send(
    body: Body,
    endpoint: SandboxUrl,
    sender: Annotated[str, typer.Option("--from", metavar="EMAIL", help="Who writes: a sandbox user or an outsider.")],
    to: Annotated[list[str], typer.Option("--to", metavar="EMAIL", help="Recipient (repeatable).")],
    subject: Annotated[
        str | None, typer.Option(metavar="TEXT", help="Subject; with --reply-to-thread default 'Re: ' + the thread's.")
    ] = None,
    reply_to_thread: Annotated[
        str | None,
        typer.Option(metavar="THREAD_ID", help="Thread to reply in (in --from's mailbox, or the first --to's)."),
    ] = None,
) -> None:
    """Send mail through the sandbox the way a team member's Gmail would, or as a customer writing in.

    A --from that is a sandbox user sends with messages.send from its own mailbox (labelled SENT;
    other sandbox users receive it). Any other --from is an outsider: the mail is delivered to the
    --to addresses that are sandbox users, filters and auto-reply included. --reply-to-thread adds
    In-Reply-To and References of the thread's last message, as Gmail requires for threading.

    Exit codes: 0 sent, 1 error (no sandbox at --endpoint, unknown thread), 2 bad usage (not an
    address; no sandbox mailbox among the recipients).

    Example: gmaildesk sandbox send --from ann@customer.example --to support@example.com --subject Hi "Hello"
    """
    from gmaildesk.cli.sandbox_mail import Draft

    if subject is None and reply_to_thread is None:
        raise GmailDeskError("--subject is needed unless replying (--reply-to-thread)", exit_code=ExitCode.USAGE)
    draft = Draft(sender, tuple(to), subject, _text(body), reply_to_thread)
    _echo_outcomes(_rehearsal(endpoint).send(draft))


@app.command()
def reply(
    thread: Annotated[str, typer.Argument(metavar="THREAD_ID", help="The thread answered.")],
    body: Body,
    endpoint: SandboxUrl,
    sender: Annotated[str, typer.Option("--from", metavar="EMAIL", help="Who answers: a sandbox user or an outsider.")],
    mailbox: Annotated[
        str | None,
        typer.Option(
            metavar="EMAIL",
            help="An outsider's reply: the sandbox mailbox holding THREAD_ID (default: the first user).",
        ),
    ] = None,
) -> None:
    """Reply in a thread: "Re: " subject, In-Reply-To and References of its last message.

    A sandbox user replies from its own mailbox to the thread's last other sender (Reply-To, else
    From). An outsider (the customer) writes back to --mailbox, which gets the reply by delivery.

    Exit codes: 0 sent, 1 error (no sandbox at --endpoint, unknown thread), 2 bad usage (not an address).

    Example: gmaildesk sandbox reply 18c2a9f0e1d2c3b4 --from support@example.com "Refunded today."
    """
    _echo_outcomes(_rehearsal(endpoint).reply(thread, sender, _text(body), mailbox))


@app.command()
def clock(
    endpoint: SandboxUrl,
    advance: Annotated[
        str | None, typer.Option(metavar="DURATION", help="Move the clock forward, e.g. 90s, 30m, 4h, 2d.")
    ] = None,
) -> None:
    """Show the sandbox clock, or move it forward.

    Exit codes: 0 done, 1 error (no sandbox at --endpoint, or it refused the request), 2 bad usage.

    Example: gmaildesk sandbox clock --endpoint http://127.0.0.1:8765/ --advance 2h
    """
    control = _control(endpoint)
    state = control.advance_clock(_seconds(advance)) if advance else control.clock()
    typer.echo(json.dumps(state))


@app.command()
def verify(
    address: Annotated[
        str, typer.Argument(metavar="EMAIL", help="Send-as alias or forwarding address to mark verified.")
    ],
    endpoint: SandboxUrl,
    user: Annotated[str, typer.Option(metavar="EMAIL", help="Sandbox mailbox owning the address.")] = DEFAULT_USER,
    forwarding: Annotated[bool, typer.Option(help="Verify a forwarding address instead of a send-as alias.")] = False,
) -> None:
    """Complete the verification Gmail would ask the address owner for.

    Exit codes: 0 verified, 1 error (no sandbox at --endpoint, or it refused the request), 2 bad usage.

    Example: gmaildesk sandbox verify help@acme-support.com --endpoint http://127.0.0.1:8765/
    """
    control = _control(endpoint)
    result = control.verify_forwarding(user, address) if forwarding else control.verify_send_as(user, address)
    typer.echo(json.dumps(result))


@app.command()
def counters(
    endpoint: SandboxUrl,
    reset: Annotated[bool, typer.Option(help="Reset the counters after printing them.")] = False,
) -> None:
    """Print API calls, quota units, errors and injected faults per method (JSON).

    Exit codes: 0 done, 1 error (no sandbox at --endpoint, or it refused the request), 2 bad usage.

    Example: gmaildesk sandbox counters --endpoint http://127.0.0.1:8765/
    """
    control = _control(endpoint)
    typer.echo(json.dumps(control.counters(), indent=2))
    if reset:
        control.reset_counters()


@app.command()
def faults(
    endpoint: SandboxUrl,
    rate_429: Annotated[
        float, typer.Option("--429", metavar="PROBABILITY", help="Probability of a 429 per call.")
    ] = 0.0,
    rate_500: Annotated[
        float, typer.Option("--500", metavar="PROBABILITY", help="Probability of a 500 per call.")
    ] = 0.0,
    rate_503: Annotated[
        float, typer.Option("--503", metavar="PROBABILITY", help="Probability of a 503 per call.")
    ] = 0.0,
    drop: Annotated[
        float, typer.Option(metavar="PROBABILITY", help="Probability of dropping the connection per request.")
    ] = 0.0,
    latency_ms: Annotated[float, typer.Option(metavar="MS", help="Latency added to every request, in ms.")] = 0.0,
    fresh_not_found_s: Annotated[
        float,
        typer.Option(
            metavar="SECONDS",
            help="Seconds after delivery during which messages.get/threads.get answer 404 (Gmail's brief "
            "inconsistency); list and history already show the mail.",
        ),
    ] = 0.0,
    seed: Annotated[int | None, typer.Option(metavar="N", help="Seed for repeatable faults.")] = None,
) -> None:
    """Inject faults into every following Gmail API call (all zero turns them off).

    Exit codes: 0 done, 1 error (no sandbox at --endpoint, or it refused the request), 2 bad usage.

    Example: gmaildesk sandbox faults --endpoint http://127.0.0.1:8765/ --503 0.2 --latency-ms 50
    """
    control = _control(endpoint)
    typer.echo(
        json.dumps(
            control.set_faults(
                rate_429=rate_429,
                rate_500=rate_500,
                rate_503=rate_503,
                drop=drop,
                latency_ms=latency_ms,
                fresh_not_found_s=fresh_not_found_s,
                seed=seed,
            )
        )
    )


def _rehearsal(endpoint: str) -> Rehearsal:
    from gmaildesk.cli.sandbox_mail import Rehearsal

    control = _control(endpoint)
    status = control.status()
    return Rehearsal(endpoint, status["users"], status["defaultUser"], control.deliver, status["nowMs"])


def _echo_outcomes(outcomes: list[Outcome]) -> None:
    for outcome in outcomes:
        typer.echo(
            f"{outcome.how} {outcome.mailbox}: message {outcome.id} in thread {outcome.thread_id} "
            f"[{' '.join(outcome.labels)}]"
        )


def _text(body: str) -> str:
    return sys.stdin.read() if body == "-" else body


def _control(endpoint: str) -> SandboxControl:
    from gmaildesk.sandbox.client import SandboxControl

    return SandboxControl(endpoint)


def _seconds(text: str) -> float:
    """--advance: the duration parser desk.yaml uses (1d12h, 8h30m, 1w), with seconds allowed."""
    from gmaildesk.config.durations import DurationError, parse_duration

    try:
        return float(parse_duration(text, seconds=True))
    except DurationError as error:
        raise GmailDeskError(f"--advance: {error}", exit_code=ExitCode.USAGE) from None
