"""The sweep's memory: one SQLite file per mailbox (checkpoints, per-thread facts, the journal).

Everything a sweep learned is written by `Store.commit` in ONE transaction, and the engine
calls it only after its Gmail writes succeeded: a crash before that leaves the previous
checkpoint, so the next run redoes the same work (label writes are idempotent); a crash after
it leaves nothing to redo. The journal's UNIQUE key makes a repeated transition a no-op.
"""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass, field
from pathlib import Path

from gmaildesk.paths import Account, account_dir

__all__ = ["Store", "ThreadRow", "Checkpoint", "JournalEntry", "MessageFact", "store_path", "STORE_FILE",
           "migrate"]

STORE_FILE = "sweep.sqlite"

_SCHEMA = """
CREATE TABLE IF NOT EXISTS checkpoint (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    history_id TEXT,          -- cursor for new / deleted messages
    labels_history_id TEXT,   -- cursor for label changes (after our own writes)
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
    updated_at INTEGER,
    subject TEXT,            -- Subject of the first message
    customer TEXT,           -- the first customer's address (author); we wrote first: our first recipient
    agent TEXT,              -- send-as address (From) of our last reply to the customer
    first_agent TEXT,        -- ... and of our first
    waiting_since INTEGER    -- new/waiting: the first customer message of the current wait; else NULL
);
CREATE TABLE IF NOT EXISTS messages (  -- every message of a thread as last read (no drafts)
    thread_id TEXT NOT NULL,
    message_id TEXT NOT NULL,
    at INTEGER NOT NULL,     -- internalDate, ms
    kind TEXT NOT NULL,      -- the classifier's Kind value: customer, ours_reply, auto_reply, bounce, ...
    from_addr TEXT,
    PRIMARY KEY (thread_id, message_id)
) WITHOUT ROWID;
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

# Columns added after the first release: an older store file gets them on open (ALTER TABLE).
_ADDED_COLUMNS = (("subject", "TEXT"), ("customer", "TEXT"), ("agent", "TEXT"), ("first_agent", "TEXT"),
                  ("waiting_since", "INTEGER"))

_INDEXES = """
CREATE INDEX IF NOT EXISTS threads_state ON threads (state);
CREATE INDEX IF NOT EXISTS threads_first_customer_at ON threads (first_customer_at);
CREATE INDEX IF NOT EXISTS journal_to_state ON journal (to_state);
CREATE INDEX IF NOT EXISTS journal_thread ON journal (thread_id);
"""


def store_path(account: Account, override: Path | None = None) -> Path:
    """The store of *account* (one mailbox on one endpoint): --state FILE, else
    <data dir>/<endpoint>/<address>/sweep.sqlite (see gmaildesk.paths)."""
    if override is not None:
        return override
    return account_dir(account) / STORE_FILE


@dataclass(frozen=True)
class MessageFact:
    """One message as the sweep classified it (the `messages` table)."""

    message_id: str
    at: int
    kind: str            # classify.Kind value
    from_addr: str | None


@dataclass
class ThreadRow:
    thread_id: str
    state: str | None = None
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


_COLUMNS = ("thread_id", "state", "overdue", "department", "last_counted_id", "last_counted_side",
            "last_counted_at", "first_customer_at", "first_response_at", "due_at", "manual", "message_ids",
            "labels", "updated_at", "subject", "customer", "agent", "first_agent", "waiting_since")


class Store:
    def __init__(self, path: Path):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.db = sqlite3.connect(str(self.path), isolation_level=None)  # explicit transactions
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.executescript(_SCHEMA)
        migrate(self.db)

    def close(self) -> None:
        self.db.close()

    def __enter__(self) -> "Store":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # ---- reads
    def checkpoint(self) -> Checkpoint:
        row = self.db.execute("SELECT history_id, labels_history_id, last_sweep_at, label_ids "
                              "FROM checkpoint WHERE id = 1").fetchone()
        if row is None:
            return Checkpoint()
        return Checkpoint(row[0], row[1], row[2], json.loads(row[3] or "{}"))

    def threads(self) -> dict[str, ThreadRow]:
        rows = self.db.execute(f"SELECT {', '.join(_COLUMNS)} FROM threads").fetchall()
        return {r[0]: _row(r) for r in rows}

    def journal(self, thread_id: str | None = None) -> list[JournalEntry]:
        sql = "SELECT thread_id, from_state, to_state, reason, at, basis FROM journal"
        args: tuple = ()
        if thread_id is not None:
            sql += " WHERE thread_id = ?"
            args = (thread_id,)
        return [JournalEntry(r[0], r[1] or None, r[2] or None, *r[3:])
                for r in self.db.execute(sql + " ORDER BY id", args).fetchall()]

    def messages(self, thread_id: str) -> list[MessageFact]:
        return [MessageFact(*r) for r in self.db.execute(
            "SELECT message_id, at, kind, from_addr FROM messages WHERE thread_id = ? ORDER BY at, message_id",
            (thread_id,))]

    # ---- the one write
    def commit(self, checkpoint: Checkpoint, rows: list[ThreadRow], journal: list[JournalEntry], sweep_id: str,
               dropped: list[str] = ()) -> None:
        """Checkpoint, thread rows and journal in one transaction."""
        db = self.db
        db.execute("BEGIN IMMEDIATE")
        try:
            db.execute("INSERT OR REPLACE INTO checkpoint (id, history_id, labels_history_id, last_sweep_at, "
                       "label_ids) VALUES (1, ?, ?, ?, ?)",
                       (checkpoint.history_id, checkpoint.labels_history_id, checkpoint.last_sweep_at,
                        json.dumps(checkpoint.label_ids, sort_keys=True)))
            db.executemany(f"INSERT OR REPLACE INTO threads ({', '.join(_COLUMNS)}) "
                           f"VALUES ({', '.join('?' * len(_COLUMNS))})", [_values(r) for r in rows])
            db.executemany("DELETE FROM threads WHERE thread_id = ?", [(t,) for t in dropped])
            reread = [r for r in rows if r.messages is not None]
            db.executemany("DELETE FROM messages WHERE thread_id = ?",
                           [(r.thread_id,) for r in reread] + [(t,) for t in dropped])
            db.executemany("INSERT OR REPLACE INTO messages (thread_id, message_id, at, kind, from_addr) "
                           "VALUES (?, ?, ?, ?, ?)",
                           [(r.thread_id, m.message_id, m.at, m.kind, m.from_addr) for r in reread for m in r.messages])
            db.executemany("INSERT OR IGNORE INTO journal (thread_id, from_state, to_state, reason, at, sweep_id, "
                           "basis) VALUES (?, ?, ?, ?, ?, ?, ?)",
                           [(j.thread_id, j.from_state or "", j.to_state or "", j.reason, j.at, sweep_id, j.basis)
                            for j in journal])
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise


def migrate(db: sqlite3.Connection) -> None:
    """Bring an older store file up to this schema: add missing thread columns, the indexes. Idempotent."""
    have = {r[1] for r in db.execute("PRAGMA table_info(threads)")}
    for name, kind in _ADDED_COLUMNS:
        if name not in have:
            db.execute(f"ALTER TABLE threads ADD COLUMN {name} {kind}")
    db.executescript(_INDEXES)


def _row(r: tuple) -> ThreadRow:
    return ThreadRow(thread_id=r[0], state=r[1], overdue=bool(r[2]), department=r[3], last_counted_id=r[4],
                     last_counted_side=r[5], last_counted_at=r[6], first_customer_at=r[7], first_response_at=r[8],
                     due_at=r[9], manual=bool(r[10]), message_ids=json.loads(r[11]), labels=json.loads(r[12]),
                     updated_at=r[13], subject=r[14], customer=r[15], agent=r[16], first_agent=r[17],
                     waiting_since=r[18])


def _values(t: ThreadRow) -> tuple:
    return (t.thread_id, t.state, int(t.overdue), t.department, t.last_counted_id, t.last_counted_side,
            t.last_counted_at, t.first_customer_at, t.first_response_at, t.due_at, int(t.manual),
            json.dumps(t.message_ids), json.dumps(sorted(t.labels)), t.updated_at, t.subject, t.customer, t.agent,
            t.first_agent, t.waiting_since)
