"""Shared set-up for the sweep tests: a desk with SLAs applied to the sandbox, mail in, sweeps run."""

from __future__ import annotations

import base64
from pathlib import Path

from typer.testing import CliRunner

from gmaildesk.cli import app
from gmaildesk.config import load_desk
from gmaildesk.gmail import connect, scopes
from gmaildesk.gmail.api import HttpGmailApi
from gmaildesk.gmail.connection import ConnectionOptions
from gmaildesk.gmail.retry import RetryPolicy
from gmaildesk.sandbox.mime import build_message
from gmaildesk.sweep import engine
from gmaildesk.sweep.store import Store

SUPPORT = "support@example.com"
ALICE = "alice@customer.test"
H = 3600

DESK = """\
version: 1
mailbox: support@example.com
team: [bob@example.com, "@staff.example.com"]
departments:
  - name: Billing
    routes: [{to: billing@example.com}]
    sla: {first_response: 4h, next_response: 8h}
send_as:
  - address: billing@example.com
    display_name: Acme Billing
sweep:
  scope: newer_than:90d
  close_after: 7d
  archive_closed: ARCHIVE
"""


def make_desk(sandbox, tmp_path: Path, monkeypatch, archive: bool = True):
    monkeypatch.setenv("GMAILDESK_DATA_DIR", str(tmp_path / "data"))
    path = tmp_path / "desk.yaml"
    path.write_text(DESK.replace("ARCHIVE", "true" if archive else "false"))
    result = CliRunner().invoke(
        app, ["apply", "-c", str(path), "--yes", "--skip-tests", "--endpoint", sandbox.url], catch_exceptions=False
    )
    assert result.exit_code in (0, 4), result.stdout + result.stderr
    return load_desk(path), path


class Desk:
    """The sandbox mailbox seen through the real client, plus helpers to make mail and sweep."""

    def __init__(self, sandbox, desk, store_path: Path):
        self.sandbox = sandbox
        self.desk = desk
        # Retries as in production, only without the real waits.
        self.client = connect(
            ConnectionOptions(endpoint=sandbox.url), scopes.SWEEP, policy=RetryPolicy(sleep=lambda seconds: None)
        )
        self.users = self.client.users()
        self.store_path = store_path
        self.n = 0
        self.threads: dict[str, str] = {}

    def now(self) -> int:
        return int(self.sandbox.control.clock()["nowMs"])

    def _mid(self) -> str:
        self.n += 1
        return f"<m{self.n}@test>"

    def customer(
        self,
        subject: str = "Printer offline",
        frm: str = ALICE,
        reply_to_mid: str | None = None,
        headers=(),
        to=(SUPPORT,),
        **kw,
    ) -> str:
        mid = self._mid()
        raw = build_message(
            from_=frm,
            to=list(to),
            subject=subject,
            text="hello",
            message_id=mid,
            in_reply_to=reply_to_mid,
            references=[reply_to_mid] if reply_to_mid else (),
            extra_headers=tuple(headers),
            date_ms=self.now(),
            **kw,
        )
        self.threads[mid] = self.sandbox.control.deliver(SUPPORT, raw)["threadId"]
        return mid

    def send(
        self, thread_id: str, to: str = ALICE, subject: str = "Re: Printer offline", in_reply_to: str | None = None
    ) -> str:
        mid = self._mid()
        raw = build_message(
            from_=SUPPORT,
            to=[to],
            subject=subject,
            text="answer",
            message_id=mid,
            in_reply_to=in_reply_to,
            references=[in_reply_to] if in_reply_to else (),
            date_ms=self.now(),
        )
        body = {"raw": base64.urlsafe_b64encode(raw).decode(), "threadId": thread_id}
        self.threads[mid] = self.client.execute(self.users.messages().send(userId="me", body=body))["threadId"]
        return mid

    def thread_of(self, mid: str) -> str:
        return self.threads[mid]

    def sweep(self, **kw) -> engine.SweepResult:
        with Store(self.store_path) as store:
            return engine.run(HttpGmailApi(self.client), self.desk, store, now_ms=self.now(), **kw)

    def label_names(self, thread_id: str) -> set[str]:
        """Union of the thread's labels, by name (user labels) or id (system labels)."""
        names = {lab["id"]: lab["name"] for lab in self.client.execute(self.users.labels().list(userId="me"))["labels"]}
        thread = self.client.execute(self.users.threads().get(userId="me", id=thread_id, format="minimal"))
        return {names.get(i, i) for m in thread["messages"] for i in m.get("labelIds", [])}

    def status(self, thread_id: str) -> set[str]:
        return {n for n in self.label_names(thread_id) if n.startswith("Status/") or n == "INBOX"}

    def label_id(self, name: str) -> str:
        return next(
            lab["id"]
            for lab in self.client.execute(self.users.labels().list(userId="me"))["labels"]
            if lab["name"] == name
        )

    def calls(self) -> dict[str, int]:
        return {k: v for k, v in self.sandbox.control.counters()["calls"].items() if k.startswith("gmail.")}


def alias_and_team_replies(desk: Desk) -> tuple[str, str, str]:
    """Our alias and a team member answer from their own mailboxes, the desk in Cc, and a colleague
    writes first from his: (the alias's conversation, the team member's, the colleague's), all ours."""
    c1 = desk.customer(subject="Invoice", to=("billing@example.com",))
    desk.customer(frm="billing@example.com", to=(ALICE,), cc=(SUPPORT,), subject="Re: Invoice", reply_to_mid=c1)
    c2 = desk.customer(subject="Login")
    desk.customer(frm="bob@example.com", to=(ALICE,), cc=(SUPPORT,), subject="Re: Login", reply_to_mid=c2)
    colleague = desk.customer(frm="eve@staff.example.com", to=("frank@customer.test",), cc=(SUPPORT,))
    return desk.thread_of(c1), desk.thread_of(c2), desk.thread_of(colleague)
