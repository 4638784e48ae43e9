"""The sweep's memory: one SQLite file per mailbox (checkpoints, per-thread facts, the journal).

Everything a sweep learned is written by `Store.commit` in ONE transaction, and the engine
calls it only after its Gmail writes succeeded: a crash before that leaves the previous
checkpoint, so the next run redoes the same work (label writes are idempotent); a crash after
it leaves nothing to redo. The journal's UNIQUE key makes a repeated transition a no-op.
The label writes themselves are recorded just BEFORE they are sent (`record_writes`): the
next run must recognise them in the history even if this one dies before its commit.

The file holds customer addresses and subjects: 0600 in a 0700 folder, SQLite's -wal/-shm/
-journal files included. It records its account and its schema version (PRAGMA
user_version); an older file is migrated on open, a newer one refused. Every SQLite failure
(disk full, read-only, damaged file) becomes one GmailDeskError naming the file and the fix.
"""

from __future__ import annotations

import contextlib
import json
import os
import sqlite3
import stat
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any

from gmaildesk.errors import ExitCode, GmailDeskError
from gmaildesk.paths import Account, account_dir, endpoint_key, private_dir, safe_component
from gmaildesk.sweep.state import State

__all__ = [
    "Store",
    "ThreadRow",
    "Checkpoint",
    "JournalEntry",
    "MessageFact",
    "OwnWrite",
    "Pending",
    "store_path",
    "STORE_FILE",
    "SCHEMA_VERSION",
    "migrate",
]

STORE_FILE = "sweep.sqlite"

# The first release's tables; `_MIGRATIONS` brings them to SCHEMA_VERSION.
_SCHEMA = """
CREATE TABLE IF NOT EXISTS checkpoint (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    history_id TEXT,          -- history cursor: where the last successful run started reading
    labels_history_id TEXT,   -- same as history_id since version 2 (was: after our own writes)
    last_sweep_at INTEGER,
    label_ids TEXT            -- JSON {status name: Gmail label id} seen last
);
CREATE TABLE IF NOT EXISTS threads (
    thread_id TEXT PRIMARY KEY,
    state TEXT,
    overdue INTEGER NOT NULL DEFAULT 0,
    department TEXT,
    last_counted_id TEXT,
    last_counted_side TEXT,
    last_counted_at INTEGER,
    first_customer_at INTEGER,
    first_response_at INTEGER,
    due_at INTEGER,
    manual INTEGER NOT NULL DEFAULT 0,
    message_ids TEXT NOT NULL DEFAULT '[]',  -- JSON: the messages we label (no drafts, spam, trash)
    labels TEXT NOT NULL DEFAULT '[]',       -- JSON: managed label ids we set on them
    updated_at INTEGER
);
CREATE TABLE IF NOT EXISTS journal (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    thread_id TEXT NOT NULL,
    from_state TEXT NOT NULL,  -- '' for no status (NULLs would defeat the UNIQUE key)
    to_state TEXT NOT NULL,
    reason TEXT NOT NULL,
    at INTEGER NOT NULL,
    sweep_id TEXT NOT NULL,
    basis TEXT NOT NULL,  -- the newest counted message the transition rests on
    UNIQUE (thread_id, from_state, to_state, basis)
);
"""


def _v1_facts(db: sqlite3.Connection) -> None:
    """Version 1: what the audit shows (subject, customer, agents, wait start, every message)."""
    _add_columns(
        db,
        "threads",
        (
            ("subject", "TEXT"),  # Subject of the first message
            ("customer", "TEXT"),  # first customer (author); we wrote first: recipient
            ("agent", "TEXT"),  # send-as address (From) of our last reply
            ("first_agent", "TEXT"),  # ... and of our first
            ("waiting_since", "INTEGER"),
        ),
    )  # new/waiting: start of the current wait
    _script(
        db,
        """
        CREATE TABLE IF NOT EXISTS messages (  -- every message of a thread as last read (no drafts)
            thread_id TEXT NOT NULL,
            message_id TEXT NOT NULL,
            at INTEGER NOT NULL,     -- internalDate, ms
            kind TEXT NOT NULL,      -- the classifier's Kind value: customer, ours_reply, auto_reply, bounce, ...
            from_addr TEXT,
            PRIMARY KEY (thread_id, message_id)
        ) WITHOUT ROWID;
        CREATE INDEX IF NOT EXISTS threads_state ON threads (state);
        CREATE INDEX IF NOT EXISTS threads_first_customer_at ON threads (first_customer_at);
        CREATE INDEX IF NOT EXISTS journal_to_state ON journal (to_state);
        CREATE INDEX IF NOT EXISTS journal_thread ON journal (thread_id);
    """,
    )


def _v2_safety(db: sqlite3.Connection) -> None:
    """Version 2: whose store it is, our own label writes, conversations Gmail did not show yet,
    the classifier's flags."""
    _add_columns(db, "threads", (("flags", "TEXT NOT NULL DEFAULT '[]'"),))  # JSON: union of the messages' flags
    _add_columns(db, "messages", (("flags", "TEXT NOT NULL DEFAULT '[]'"),))  # JSON: the classifier's flags
    _script(
        db,
        """
        CREATE TABLE IF NOT EXISTS account (
            id INTEGER PRIMARY KEY CHECK (id = 1),
            endpoint TEXT NOT NULL,  -- paths.endpoint_key: gmail, sandbox-HOST-PORT
            address TEXT NOT NULL
        );
        CREATE TABLE IF NOT EXISTS own_writes (  -- label writes whose history events are ours to ignore
            after_history_id INTEGER NOT NULL,   -- the cursor of the run that wrote them (events come after it)
            sweep_id TEXT NOT NULL,
            committed INTEGER NOT NULL DEFAULT 0,  -- 1 once that run committed the rows the writes stand for
            message_id TEXT NOT NULL,
            added TEXT NOT NULL,                 -- JSON label ids
            removed TEXT NOT NULL
        );
        CREATE INDEX IF NOT EXISTS own_writes_message ON own_writes (message_id);
        CREATE TABLE IF NOT EXISTS pending (  -- named by history or list, but 404 when read: retried
            thread_id TEXT PRIMARY KEY,
            first_missing_at INTEGER NOT NULL,  -- ms, sweep clock
            runs INTEGER NOT NULL,              -- runs that met the 404
            message_ids TEXT NOT NULL DEFAULT '[]'  -- JSON: new messages the thread lacked, or none: the thread itself
        );
        CREATE TABLE IF NOT EXISTS recheck (  -- changed by someone else while the last run was busy: read next run
            thread_id TEXT PRIMARY KEY,
            hand_state TEXT                   -- the status an agent set by hand then, if any
        );
    """,
    )


def _v3_team(db: sqlite3.Connection) -> None:
    """Version 3: a team's desk - who owns a conversation, ticket numbers, the acknowledgements the
    sweep sends itself."""
    _script(
        db,
        """
        CREATE TABLE IF NOT EXISTS owners (    -- one owner at most per conversation (the Agent/ label)
            thread_id TEXT PRIMARY KEY,
            agent TEXT NOT NULL,               -- the team entry's name
            how TEXT NOT NULL,                 -- rotation | reply | hand | command
            at INTEGER NOT NULL,               -- ms, sweep clock
            labelled INTEGER NOT NULL DEFAULT 1  -- 0: the Agent/ label write is not confirmed yet (an intent)
        );
        CREATE TABLE IF NOT EXISTS rotation (  -- round_robin: who got the last conversation, per department
            department TEXT PRIMARY KEY,
            last_agent TEXT NOT NULL
        );
        CREATE TABLE IF NOT EXISTS tickets (   -- a number per conversation, sequential per mailbox
            number INTEGER PRIMARY KEY,
            thread_id TEXT NOT NULL UNIQUE,
            at INTEGER NOT NULL
        );
        CREATE TABLE IF NOT EXISTS acks (      -- acknowledgements the sweep sent (auto_ack mode: sweep)
            thread_id TEXT PRIMARY KEY,
            ticket INTEGER NOT NULL,
            message_id TEXT NOT NULL UNIQUE,   -- the deterministic Message-ID header, checked before a resend
            recipient TEXT NOT NULL,
            status TEXT NOT NULL,              -- intent (written before messages.send) | sent | skipped
            reason TEXT NOT NULL DEFAULT '',   -- why skipped: automatic, list, no-reply, ourselves, per-sender limit
            at INTEGER NOT NULL,
            gmail_id TEXT                      -- the sent message's id
        );
        CREATE INDEX IF NOT EXISTS acks_recipient ON acks (recipient, at);
        CREATE TABLE IF NOT EXISTS ack_start (  -- when auto_ack mode sweep first ran: older mail gets no ack
            id INTEGER PRIMARY KEY CHECK (id = 1),
            at INTEGER NOT NULL
        );
    """,
    )


def _v4_provisional(db: sqlite3.Connection) -> None:
    """Version 4: conversations the lean first sweep decided from Gmail's listings without reading
    them whole (sweep/listed.py); their message facts are filled in by later sweeps (the backfill)."""
    _add_columns(db, "threads", (("provisional", "INTEGER NOT NULL DEFAULT 0"),))
    _script(db, "CREATE INDEX IF NOT EXISTS threads_provisional ON threads (provisional)")


_MIGRATIONS: tuple[Callable[[sqlite3.Connection], None], ...] = (_v1_facts, _v2_safety, _v3_team, _v4_provisional)
SCHEMA_VERSION = len(_MIGRATIONS)


def _script(db: sqlite3.Connection, sql: str) -> None:
    # Not executescript: it COMMITs first, and a migration is one transaction. (So: no ";" in comments.)
    for statement in sql.split(";"):
        if statement.strip():
            db.execute(statement)


def _add_columns(db: sqlite3.Connection, table: str, columns: Iterable[tuple[str, str]]) -> None:
    # Stores written before user_version existed may already have some of them.
    have = {r[1] for r in db.execute(f"PRAGMA table_info({table})")}
    for name, kind in columns:
        if name not in have:
            db.execute(f"ALTER TABLE {table} ADD COLUMN {name} {kind}")


def store_path(account: Account, override: Path | None = None) -> Path:
    """The store of *account* (one mailbox on one endpoint): --store FILE, else
    <data dir>/<endpoint>/<address>/sweep.sqlite (see gmaildesk.paths)."""
    if override is not None:
        if not override.parent.is_dir():  # only the data dir is ever created unasked (issue 11)
            raise GmailDeskError(
                f"the folder of the sweep store {override} does not exist: {override.parent}",
                [f"create it first (mkdir -p {override.parent}), or leave the option out to use the data dir"],
                ExitCode.USAGE,
            )
        return override
    return account_dir(account) / STORE_FILE


@dataclass(frozen=True)
class MessageFact:
    """One message as the sweep classified it (the `messages` table)."""

    message_id: str
    at: int
    kind: str  # classify.Kind value
    from_addr: str | None
    flags: tuple[str, ...] = ()  # the classifier's flags ("possibly_automatic", ...), sorted


@dataclass
class ThreadRow:
    thread_id: str
    state: State | None = None
    overdue: bool = False
    department: str | None = None
    last_counted_id: str | None = None
    last_counted_side: str | None = None  # "customer" | "ours_reply" | "ours_forward"
    last_counted_at: int | None = None
    first_customer_at: int | None = None
    first_response_at: int | None = None
    due_at: int | None = None
    manual: bool = False
    message_ids: list[str] = field(default_factory=list)
    labels: list[str] = field(default_factory=list)
    updated_at: int | None = None
    subject: str | None = None
    customer: str | None = None
    agent: str | None = None
    first_agent: str | None = None
    waiting_since: int | None = None
    flags: list[str] = field(default_factory=list)  # union of the messages' flags, sorted
    # Decided from Gmail's listings, not read whole yet (sweep/listed.py): the state stands, the
    # message facts (first response, agents, the messages list) are pending until the backfill reads it.
    provisional: bool = False
    # The thread's messages when it was read in this sweep; None: not read, keep what the store has.
    messages: list[MessageFact] | None = None


@dataclass
class Checkpoint:
    history_id: str | None = None
    labels_history_id: str | None = None
    last_sweep_at: int | None = None
    label_ids: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class JournalEntry:
    thread_id: str
    from_state: str | None
    to_state: str | None
    reason: str
    at: int
    basis: str


@dataclass(frozen=True)
class OwnWrite:
    """One message's label write by a sweep: its history events (labelsAdded ⊆ added,
    labelsRemoved ⊆ removed) are the sweep's own, not an agent's."""

    message_id: str
    added: frozenset[str]
    removed: frozenset[str]
    committed: bool = False  # the run that wrote it committed; else it crashed between write and commit


@dataclass(frozen=True)
class Pending:
    """A conversation Gmail named (history, list) but answered 404 for: read again on the next runs."""

    thread_id: str
    first_missing_at: int  # ms
    runs: int  # runs that got a 404 for it
    message_ids: tuple[str, ...] = ()  # new messages history named that the thread lacked; (): the thread


_COLUMNS = (
    "thread_id",
    "state",
    "overdue",
    "department",
    "last_counted_id",
    "last_counted_side",
    "last_counted_at",
    "first_customer_at",
    "first_response_at",
    "due_at",
    "manual",
    "message_ids",
    "labels",
    "updated_at",
    "subject",
    "customer",
    "agent",
    "first_agent",
    "waiting_since",
    "flags",
    "provisional",
)

_ADVICE = {  # sqlite error name -> (what happened, what to do); {path}, {dir} filled in
    "SQLITE_FULL": (
        "the disk is full",
        "free space on the disk holding {dir}; nothing of this run was recorded, the next sweep redoes it",
    ),
    "SQLITE_READONLY": (
        "the file or its folder is read-only",
        "make {path} and {dir} writable by this user, or point --store elsewhere",
    ),
    "SQLITE_CANTOPEN": ("cannot open it", "make {dir} writable by this user, or point --store elsewhere"),
    "SQLITE_NOTADB": (
        "it is not a sweep store (or its header is damaged)",
        "move it aside; the next sweep rebuilds the store with a full scan",
    ),
    "SQLITE_CORRUPT": (
        "the file is damaged (truncated or overwritten)",
        "move it aside; the next sweep rebuilds the store with a full scan",
    ),
    "SQLITE_IOERR": ("the disk reported an I/O error", "check the disk holding {dir}"),
    "SQLITE_PERM": ("permission denied", "make {path} and {dir} writable by this user"),
}


class Store:
    """The sweep store at *path*; with *account*, the file must be that account's (recorded on first use)."""

    def __init__(self, path: Path, account: Account | None = None):
        self.path = Path(path)
        self._db: sqlite3.Connection | None = None
        with self._errors("opening"):
            try:
                private_dir(self.path.parent)
                _create_private(self.path)
            except OSError as error:
                raise GmailDeskError(
                    f"cannot create the sweep store {self.path}: {error.strerror}",
                    [f"make {self.path.parent} writable by this user, or point --store elsewhere"],
                ) from None
            self._db = sqlite3.connect(str(self.path), isolation_level=None)  # explicit transactions
            try:
                self.db.execute("PRAGMA journal_mode=WAL")
                migrate(self.db, self.path)
                _tighten(self.path)
                if account is not None:
                    self._claim(account)
            except BaseException:
                self.close()
                raise

    @property
    def db(self) -> sqlite3.Connection:
        if self._db is None:
            raise RuntimeError(f"the sweep store {self.path} is closed")
        return self._db

    def close(self) -> None:
        if self._db is not None:
            self._db.close()
            self._db = None

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _errors(self, doing: str) -> _SqliteErrors:
        return _SqliteErrors(self.path, doing)

    def _claim(self, account: Account) -> None:
        mine = (endpoint_key(account.endpoint), safe_component(account.address))
        row = self.db.execute("SELECT endpoint, address FROM account WHERE id = 1").fetchone()
        if row is None:
            self.db.execute("INSERT INTO account (id, endpoint, address) VALUES (1, ?, ?)", mine)
        elif tuple(row) != mine:
            raise GmailDeskError(
                f"{self.path} holds the sweep state of {row[1]} ({row[0]}), not of {mine[1]} ({mine[0]})",
                ["give each account its own --store file (or leave --store out: each account gets its own store)"],
            )

    # ---- reads
    def account(self) -> tuple[str, str] | None:
        """(endpoint key, address) the store belongs to, or None when not recorded yet."""
        with self._errors("reading"):
            row = self.db.execute("SELECT endpoint, address FROM account WHERE id = 1").fetchone()
        return tuple(row) if row else None

    def checkpoint(self) -> Checkpoint:
        with self._errors("reading"):
            row = self.db.execute(
                "SELECT history_id, labels_history_id, last_sweep_at, label_ids FROM checkpoint WHERE id = 1"
            ).fetchone()
            if row is None:
                return Checkpoint()
            return Checkpoint(row[0], row[1], row[2], _json(row[3] or "{}", self.path, "checkpoint.label_ids"))

    def threads(self) -> dict[str, ThreadRow]:
        with self._errors("reading"):
            rows = self.db.execute(f"SELECT {', '.join(_COLUMNS)} FROM threads").fetchall()
            return {r[0]: _row(r, self.path) for r in rows}

    def journal(self, thread_id: str | None = None) -> list[JournalEntry]:
        sql = "SELECT thread_id, from_state, to_state, reason, at, basis FROM journal"
        args: tuple[str, ...] = ()
        if thread_id is not None:
            sql += " WHERE thread_id = ?"
            args = (thread_id,)
        with self._errors("reading"):
            return [
                JournalEntry(r[0], r[1] or None, r[2] or None, *r[3:])
                for r in self.db.execute(sql + " ORDER BY id", args).fetchall()
            ]

    def messages(self, thread_id: str) -> list[MessageFact]:
        with self._errors("reading"):
            return [
                MessageFact(r[0], r[1], r[2], r[3], tuple(_json(r[4], self.path, f"messages.flags of {thread_id}")))
                for r in self.db.execute(
                    "SELECT message_id, at, kind, from_addr, flags FROM messages "
                    "WHERE thread_id = ? ORDER BY at, message_id",
                    (thread_id,),
                )
            ]

    def own_writes(self) -> dict[str, list[OwnWrite]]:
        """message id -> the label writes of ours whose history events the next run will meet."""
        out: dict[str, list[OwnWrite]] = {}
        with self._errors("reading"):
            for message_id, added, removed, committed in self.db.execute(
                "SELECT message_id, added, removed, committed FROM own_writes"
            ):
                out.setdefault(message_id, []).append(
                    OwnWrite(
                        message_id,
                        frozenset(_json(added, self.path, "own_writes.added")),
                        frozenset(_json(removed, self.path, "own_writes.removed")),
                        bool(committed),
                    )
                )
        return out

    def recheck(self) -> dict[str, State | None]:
        """thread -> status set by hand (or None): changes made by others while the last run was busy."""
        with self._errors("reading"):
            rows = self.db.execute("SELECT thread_id, hand_state FROM recheck").fetchall()
        return {
            thread_id: _state(hand_state, self.path, f"the recheck row of thread {thread_id}")
            for thread_id, hand_state in rows
        }

    def pending(self) -> dict[str, Pending]:
        with self._errors("reading"):
            return {
                r[0]: Pending(r[0], r[1], r[2], tuple(_json(r[3], self.path, "pending.message_ids")))
                for r in self.db.execute("SELECT thread_id, first_missing_at, runs, message_ids FROM pending")
            }

    def ack_ids(self) -> set[str] | None:
        """Gmail ids of the acknowledgements the sweep sent; None: this store never sent any
        (auto_ack mode sweep has not run with it), so it cannot tell which sent mail they are."""
        with self._errors("reading"):
            if self.db.execute("SELECT 1 FROM ack_start").fetchone() is None:
                return None
            return {r[0] for r in self.db.execute("SELECT gmail_id FROM acks WHERE gmail_id IS NOT NULL")}

    # ---- the writes
    def record_writes(self, after_history_id: str, sweep_id: str, writes: list[OwnWrite]) -> None:
        """Before the label writes go out: remember them as ours (see the module docstring);
        `commit` with the same sweep_id marks them committed."""
        with self._errors("recording the label writes in"), self._transaction():
            self.db.executemany(
                "INSERT INTO own_writes (after_history_id, sweep_id, message_id, added, removed) "
                "VALUES (?, ?, ?, ?, ?)",
                [
                    (
                        int(after_history_id),
                        sweep_id,
                        w.message_id,
                        json.dumps(sorted(w.added)),
                        json.dumps(sorted(w.removed)),
                    )
                    for w in writes
                ],
            )

    def commit(
        self,
        checkpoint: Checkpoint,
        rows: list[ThreadRow],
        journal: list[JournalEntry],
        sweep_id: str,
        dropped: Iterable[str] = (),
        pending: Iterable[Pending] | None = None,
        recheck: dict[str, State | None] | None = None,
    ) -> None:
        """Checkpoint, thread rows, journal, the pending and recheck sets (None: unchanged) in one transaction.

        Own writes recorded before the new cursor are forgotten: the history after it cannot show them.
        """
        db = self.db
        dropped = list(dropped)
        with self._errors("saving the sweep to"), self._transaction():
            db.execute(
                "INSERT OR REPLACE INTO checkpoint (id, history_id, labels_history_id, last_sweep_at, "
                "label_ids) VALUES (1, ?, ?, ?, ?)",
                (
                    checkpoint.history_id,
                    checkpoint.labels_history_id,
                    checkpoint.last_sweep_at,
                    json.dumps(checkpoint.label_ids, sort_keys=True),
                ),
            )
            if checkpoint.history_id is not None and checkpoint.history_id.isdigit():
                db.execute("DELETE FROM own_writes WHERE after_history_id < ?", (int(checkpoint.history_id),))
            db.execute("UPDATE own_writes SET committed = 1 WHERE sweep_id = ?", (sweep_id,))
            db.executemany(
                f"INSERT OR REPLACE INTO threads ({', '.join(_COLUMNS)}) VALUES ({', '.join('?' * len(_COLUMNS))})",
                [_values(r) for r in rows],
            )
            db.executemany("DELETE FROM threads WHERE thread_id = ?", [(t,) for t in dropped])
            reread = [r for r in rows if r.messages is not None]
            db.executemany(
                "DELETE FROM messages WHERE thread_id = ?", [(r.thread_id,) for r in reread] + [(t,) for t in dropped]
            )
            db.executemany(
                "INSERT OR REPLACE INTO messages (thread_id, message_id, at, kind, from_addr, flags) "
                "VALUES (?, ?, ?, ?, ?, ?)",
                [
                    (r.thread_id, m.message_id, m.at, m.kind, m.from_addr, json.dumps(sorted(m.flags)))
                    for r in reread
                    for m in r.messages or ()
                ],
            )
            db.executemany(
                "INSERT OR IGNORE INTO journal (thread_id, from_state, to_state, reason, at, sweep_id, "
                "basis) VALUES (?, ?, ?, ?, ?, ?, ?)",
                [
                    (j.thread_id, j.from_state or "", j.to_state or "", j.reason, j.at, sweep_id, j.basis)
                    for j in journal
                ],
            )
            if recheck is not None:
                db.execute("DELETE FROM recheck")
                db.executemany("INSERT INTO recheck (thread_id, hand_state) VALUES (?, ?)", recheck.items())
            if pending is not None:
                db.execute("DELETE FROM pending")
                db.executemany(
                    "INSERT INTO pending (thread_id, first_missing_at, runs, message_ids) VALUES (?, ?, ?, ?)",
                    [(p.thread_id, p.first_missing_at, p.runs, json.dumps(list(p.message_ids))) for p in pending],
                )

    @contextlib.contextmanager
    def transaction(self, doing: str) -> Iterator[sqlite3.Connection]:
        """One write transaction, all or nothing, for the passes that keep their own tables in this store
        (tickets, acknowledgements, owners); an SQLite failure is one GmailDeskError naming the file.
        `doing` reads before "the sweep store FILE", e.g. "numbering conversations in"."""
        with self._errors(doing), self._transaction():
            yield self.db

    def confirm_owners(self, thread_ids: Iterable[str], write_id: str) -> None:
        """The Agent/ label writes `write_id` are done in Gmail: their owners are labelled, the writes committed."""
        with self.transaction("recording the agent labels in") as db:
            db.executemany("UPDATE owners SET labelled = 1 WHERE thread_id = ?", [(t,) for t in thread_ids])
            db.execute("UPDATE own_writes SET committed = 1 WHERE sweep_id = ?", (write_id,))

    def _transaction(self) -> _Transaction:
        return _Transaction(self.db)


class _Transaction:
    def __init__(self, db: sqlite3.Connection):
        self.db = db

    def __enter__(self) -> None:
        self.db.execute("BEGIN IMMEDIATE")

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None, tb: TracebackType | None) -> None:
        if kind is None:
            self.db.execute("COMMIT")
        elif self.db.in_transaction:  # SQLite may have rolled back already (disk full): no "cannot rollback"
            with contextlib.suppress(sqlite3.Error):  # the original error is the one to report
                self.db.execute("ROLLBACK")


class _SqliteErrors:
    """Turns any sqlite3 error into one GmailDeskError naming the file, what happened and the fix."""

    def __init__(self, path: Path, doing: str):
        self.path, self.doing = path, doing

    def __enter__(self) -> None:
        return None

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None, tb: TracebackType | None) -> None:
        if error is None or not isinstance(error, sqlite3.Error):
            return
        name = getattr(error, "sqlite_errorname", "") or ""
        if name.startswith("SQLITE_IOERR") and _no_space(self.path.parent):
            name = "SQLITE_FULL"  # a full disk meets SQLite as a failed write (-wal, -shm) as often as SQLITE_FULL
        base = "_".join(name.split("_")[:2])  # SQLITE_IOERR_WRITE -> SQLITE_IOERR
        what, fix = _ADVICE.get(name) or _ADVICE.get(base) or (str(error), "")
        hints = [fix.format(path=self.path, dir=self.path.parent)] if fix else []
        raise GmailDeskError(f"{self.doing} the sweep store {self.path}: {what}", hints) from None


def _no_space(folder: Path) -> bool:
    try:
        return os.statvfs(folder).f_bavail == 0
    except OSError:
        return False


def _create_private(path: Path) -> None:
    """Create the store file 0600 before SQLite does (SQLite gives its -wal/-shm/-journal files the
    mode of the database file); never through a symlink planted at a new file's place."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
    except FileExistsError:
        return
    os.close(fd)


def _tighten(path: Path) -> None:
    """An existing store (and its side files) of ours readable by others: make it 0600."""
    for candidate in (path, *(path.with_name(path.name + s) for s in ("-wal", "-shm", "-journal"))):
        try:
            info = candidate.stat()
            if info.st_uid == os.getuid() and stat.S_IMODE(info.st_mode) & 0o077:
                candidate.chmod(0o600)
        except OSError:
            pass  # absent, or not ours to change


def _json(text: str, path: Path, where: str) -> Any:
    try:
        return json.loads(text)
    except (TypeError, ValueError):
        raise GmailDeskError(
            f"{path}: bad JSON in {where} (the store was edited or damaged)",
            ["move the file aside; the next sweep rebuilds it with a full scan"],
        ) from None


def migrate(db: sqlite3.Connection, path: Path | str = "the store") -> None:
    """Bring an older store file up to SCHEMA_VERSION in one transaction; refuse a newer one."""
    version = db.execute("PRAGMA user_version").fetchone()[0]
    if version > SCHEMA_VERSION:
        raise GmailDeskError(
            f"{path} was made by a newer gmaildesk (store version {version}; this one knows up to {SCHEMA_VERSION})",
            ["upgrade gmaildesk, or point --store at another file"],
        )
    if version == SCHEMA_VERSION:
        return
    db.execute("BEGIN IMMEDIATE")
    try:
        _script(db, _SCHEMA)
        for step in _MIGRATIONS[version:]:
            step(db)
        db.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
        db.execute("COMMIT")
    except BaseException:
        if db.in_transaction:
            db.execute("ROLLBACK")
        raise


def _state(value: str | None, path: Path, where: str) -> State | None:
    if value is None:
        return None
    try:
        return State(value)
    except ValueError:
        raise GmailDeskError(
            f"{path}: unknown state {value!r} in {where} (the store was edited or damaged)",
            ["move the file aside; the next sweep rebuilds it with a full scan"],
        ) from None


def _row(r: Sequence[Any], path: Path) -> ThreadRow:
    where = f"the row of thread {r[0]}"
    return ThreadRow(
        thread_id=r[0],
        state=_state(r[1], path, where),
        overdue=bool(r[2]),
        department=r[3],
        last_counted_id=r[4],
        last_counted_side=r[5],
        last_counted_at=r[6],
        first_customer_at=r[7],
        first_response_at=r[8],
        due_at=r[9],
        manual=bool(r[10]),
        message_ids=_json(r[11], path, where),
        labels=_json(r[12], path, where),
        updated_at=r[13],
        subject=r[14],
        customer=r[15],
        agent=r[16],
        first_agent=r[17],
        waiting_since=r[18],
        flags=_json(r[19], path, where),
        provisional=bool(r[20]),
    )


def _values(t: ThreadRow) -> tuple[object, ...]:
    return (
        t.thread_id,
        t.state,
        int(t.overdue),
        t.department,
        t.last_counted_id,
        t.last_counted_side,
        t.last_counted_at,
        t.first_customer_at,
        t.first_response_at,
        t.due_at,
        int(t.manual),
        json.dumps(t.message_ids),
        json.dumps(sorted(t.labels)),
        t.updated_at,
        t.subject,
        t.customer,
        t.agent,
        t.first_agent,
        t.waiting_since,
        json.dumps(sorted(t.flags)),
        int(t.provisional),
    )
