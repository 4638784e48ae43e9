"""The sandbox as a whole: users' mailboxes, the clock, the outbox and the limits."""

from __future__ import annotations

import itertools
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from gmaildesk.errors import GmailDeskError
from gmaildesk.sandbox import mime
from gmaildesk.sandbox.defaults import DEFAULT_USER
from gmaildesk.sandbox.errors import ApiError, not_found
from gmaildesk.sandbox.limits import Counters, Faults, QuotaGate
from gmaildesk.sandbox.mailbox import Mailbox
from gmaildesk.sandbox.store import Store

WEEK_S = 7 * 24 * 3600
YEAR_S = 365.25 * 24 * 3600
MAX_CLOCK_MOVE_S = 10 * YEAR_S  # one move of the sandbox clock
MAX_CLOCK_OFFSET_MS = int(100 * YEAR_S * 1000)  # all moves together: dates stay far inside datetime's range


@dataclass
class SandboxOptions:
    users: tuple[str, ...] = (DEFAULT_USER,)
    db: str | None = None
    history_retention_s: float = WEEK_S  # Gmail keeps history "at least a week"
    validate_responses: bool = False
    quota_units_per_second: float | None = None
    quota_costs: str = "current"


class Sandbox:
    """Everything a sandbox server serves. All mailbox work happens under `lock`."""

    def __init__(self, options: SandboxOptions | None = None) -> None:
        from gmaildesk.sandbox.oauth import AuthRegistry  # the OAuth imitation, its own module

        self.options = options or SandboxOptions()
        self.lock = threading.RLock()
        self.store = Store(self.options.db)
        self.clock_offset_ms = 0
        self.outbox: list[dict[str, Any]] = []
        self.faults = Faults()
        self.quota = QuotaGate(self.options.quota_units_per_second, self.options.quota_costs)
        self.counters = Counters()
        self.auth = AuthRegistry()
        self.history_retention_ms = int(self.options.history_retention_s * 1000)
        self.validator = None
        if self.options.validate_responses:
            from gmaildesk.sandbox.schema import ResponseValidator  # needs jsonschema (test extra)

            self.validator = ResponseValidator()
        self._id_seq = itertools.count(1)
        self.mailboxes: dict[str, Mailbox] = {}
        sandbox_state = self.store.load_objects("", "sandbox")
        self.clock_offset_ms = sandbox_state.get("clock", {}).get("offset_ms", 0)
        if not isinstance(self.clock_offset_ms, int) or not 0 <= self.clock_offset_ms <= MAX_CLOCK_OFFSET_MS:
            # Written by an older sandbox that let the clock run past any date Gmail can hold.
            self.store.close()
            raise GmailDeskError(
                f"{self.store.path}: the sandbox clock stored there is out of range "
                f"({self.clock_offset_ms!r} ms ahead)",
                hints=("Start with a fresh --db file; this one cannot serve valid dates.",),
            )
        self._load_from_store()
        for email in self.options.users:
            if email.lower() not in self.mailboxes:
                self.add_user(email)
        self.default_user = (self.options.users[0] if self.options.users else self.store.users()[0]).lower()

    # ---- consistency between memory and the store ---------------------------------------------
    @contextmanager
    def atomic(self) -> Iterator[None]:
        """One change of sandbox state: under the lock, in one store transaction. If it fails
        half-way (a bad message, a bug), the store rolls back and memory is rebuilt from it, so
        what is served is always what a restart would load."""
        with self.lock:
            answer = None
            with self.store.transaction(on_discard=self._load_from_store):
                try:
                    yield
                except ApiError as error:
                    # Gmail's own answer: what changed before it (e.g. expired history pruned)
                    # stays, in memory and in the store alike.
                    answer = error
            if answer is not None:
                raise answer

    def _load_from_store(self) -> None:
        self.mailboxes = {}
        for email in self.store.users():
            self._open_mailbox(email, load=True)
        self.outbox = [
            {**entry, "raw": mime.b64url_decode(entry["raw"])}
            for _, entry in sorted(self.store.load_objects("", "outbox").items())
        ]

    # ---- users -------------------------------------------------------------------------------
    def _open_mailbox(self, email: str, *, load: bool, delegated: bool | None = None) -> Mailbox:
        mailbox = Mailbox(email, self.store, now_ms=self.now_ms(), delegated=delegated)
        if load:
            mailbox.load()
        self.mailboxes[mailbox.email] = mailbox
        return mailbox

    def add_user(self, email: str, delegated: bool | None = None) -> Mailbox:
        if "@" not in email:
            raise ApiError(400, f"not an email address: {email!r}")
        with self.lock, self.store.transaction():
            if email.lower() in self.mailboxes:
                raise ApiError(409, f"user {email} already exists", "alreadyExists")
            mailbox = self._open_mailbox(email, load=False, delegated=delegated)
            mailbox.save_state()
            return mailbox

    def mailbox(self, user_id: str, grant_user: str | None = None) -> Mailbox:
        """Resolve a path's userId: 'me' is the authenticated user (or the default user)."""
        if user_id == "me":
            user_id = grant_user or self.default_user
        mailbox = self.mailboxes.get(user_id.lower())
        if mailbox is None:
            raise not_found(f"Requested entity was not found. (no sandbox user {user_id})")
        return mailbox

    # ---- time and ids ------------------------------------------------------------------------
    def now_ms(self) -> int:
        return int(time.time() * 1000) + self.clock_offset_ms

    def advance_clock(self, seconds: float) -> int:
        # Bounded, so that no control call can push every date the sandbox serves out of range.
        if not 0 <= seconds <= MAX_CLOCK_MOVE_S:
            raise ApiError(
                400, f"the sandbox clock moves forward by at most {MAX_CLOCK_MOVE_S / YEAR_S:g} years at a time"
            )
        if self.clock_offset_ms + seconds * 1000 > MAX_CLOCK_OFFSET_MS:
            raise ApiError(
                400, f"the sandbox clock stays within {MAX_CLOCK_OFFSET_MS / 1000 / YEAR_S:g} years of today"
            )
        with self.atomic():
            self.clock_offset_ms += int(seconds * 1000)
            self.store.put("", "sandbox", "clock", {"offset_ms": self.clock_offset_ms})
            self.prune_history()
            return self.now_ms()

    def prune_history(self) -> None:
        now = self.now_ms()
        for mailbox in self.mailboxes.values():
            mailbox.prune_history(now, self.history_retention_ms)

    def new_message_id(self, internal_date: int, mailbox: Mailbox) -> str:
        # Gmail ids are 16 hex digits whose top bits encode the time; keep that shape.
        while True:
            candidate = f"{(internal_date << 20 | next(self._id_seq) & 0xFFFFF) & 0xFFFFFFFFFFFFFFFF:016x}"
            if candidate not in mailbox.messages:
                return candidate

    # ---- outgoing mail -----------------------------------------------------------------------
    def record_outgoing(
        self, sender: str, recipients: list[str], raw: bytes, kind: str, subject: str
    ) -> dict[str, Any]:
        entry = {
            "seq": len(self.outbox) + 1,
            "kind": kind,
            "from": sender,
            "to": recipients,
            "subject": subject,
            "time": self.now_ms(),
            "size": len(raw),
            "raw": raw,
        }
        self.outbox.append(entry)
        self.store.put("", "outbox", f"{entry['seq']:010d}", {**entry, "raw": mime.b64url_encode(raw)})
        return entry
