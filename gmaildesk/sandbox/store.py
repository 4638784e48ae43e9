"""SQLite persistence for the sandbox: a file, or memory when no path is given.

The live mailbox state is held in Python objects (see mailbox.py) for speed;
every change is written through to SQLite so a `--db FILE` sandbox survives a
restart. Each API call runs inside one transaction (see Store.transaction).
"""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

_SCHEMA = """
CREATE TABLE IF NOT EXISTS objects (
    user TEXT NOT NULL, kind TEXT NOT NULL, key TEXT NOT NULL, value TEXT NOT NULL,
    PRIMARY KEY (user, kind, key)
);
CREATE TABLE IF NOT EXISTS messages (
    user TEXT NOT NULL, id TEXT NOT NULL, thread_id TEXT NOT NULL, internal_date INTEGER NOT NULL,
    history_id INTEGER NOT NULL, labels TEXT NOT NULL, extra TEXT NOT NULL, raw BLOB NOT NULL,
    PRIMARY KEY (user, id)
);
CREATE TABLE IF NOT EXISTS history (
    user TEXT NOT NULL, id INTEGER NOT NULL, value TEXT NOT NULL,
    PRIMARY KEY (user, id)
);
"""


class Store:
    """Write-through persistence; reads happen once, at start-up (load_*)."""

    def __init__(self, path: str | None = None) -> None:
        self.path = path or ":memory:"
        self._db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
        if path:
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.executescript(_SCHEMA)
        self._lock = threading.RLock()
        self._depth = 0
        self._wrote = False

    @contextmanager
    def transaction(self, on_discard: Callable[[], None] | None = None) -> Iterator[None]:
        """One atomic unit of work. When it fails after writing, the writes are rolled back and
        `on_discard()` runs, so that whoever mirrors the store in memory can reload from it."""
        with self._lock:
            outer = self._depth == 0
            if outer:
                self._db.execute("BEGIN")
                self._wrote = False
            self._depth += 1
            try:
                yield
            except BaseException:
                self._depth -= 1
                if outer:
                    self._db.execute("ROLLBACK")
                    if self._wrote and on_discard is not None:
                        on_discard()
                raise
            else:
                self._depth -= 1
                if outer:
                    self._db.execute("COMMIT")

    def close(self) -> None:
        with self._lock:
            self._db.close()

    # objects: users, labels, filters, settings, send-as, ...
    def put(self, user: str, kind: str, key: str, value: Any) -> None:
        with self._lock:
            self._wrote = True
            self._db.execute(
                "INSERT OR REPLACE INTO objects(user, kind, key, value) VALUES (?,?,?,?)",
                (user, kind, key, json.dumps(value)),
            )

    def delete(self, user: str, kind: str, key: str) -> None:
        with self._lock:
            self._wrote = True
            self._db.execute("DELETE FROM objects WHERE user=? AND kind=? AND key=?", (user, kind, key))

    def load_objects(self, user: str, kind: str) -> dict[str, Any]:
        with self._lock:
            rows = self._db.execute("SELECT key, value FROM objects WHERE user=? AND kind=?", (user, kind))
            return {key: json.loads(value) for key, value in rows}

    def users(self) -> list[str]:
        with self._lock:
            return [u for (u,) in self._db.execute("SELECT key FROM objects WHERE kind='user' ORDER BY rowid")]

    # messages
    def put_message(
        self,
        user: str,
        msg_id: str,
        thread_id: str,
        internal_date: int,
        history_id: int,
        labels: list[str],
        extra: dict[str, Any],
        raw: bytes | None,
    ) -> None:
        with self._lock:
            self._wrote = True
            if raw is None:
                self._db.execute(
                    "UPDATE messages SET thread_id=?, internal_date=?, history_id=?, labels=?, extra=? "
                    "WHERE user=? AND id=?",
                    (thread_id, internal_date, history_id, " ".join(labels), json.dumps(extra), user, msg_id),
                )
            else:
                self._db.execute(
                    "INSERT OR REPLACE INTO messages VALUES (?,?,?,?,?,?,?,?)",
                    (user, msg_id, thread_id, internal_date, history_id, " ".join(labels), json.dumps(extra), raw),
                )

    def delete_message(self, user: str, msg_id: str) -> None:
        with self._lock:
            self._wrote = True
            self._db.execute("DELETE FROM messages WHERE user=? AND id=?", (user, msg_id))

    def load_messages(self, user: str) -> Iterator[tuple[Any, ...]]:
        with self._lock:
            rows = self._db.execute(
                "SELECT id, thread_id, internal_date, history_id, labels, extra, raw FROM messages "
                "WHERE user=? ORDER BY internal_date, id",
                (user,),
            ).fetchall()
        for msg_id, thread_id, internal_date, history_id, labels, extra, raw in rows:
            yield msg_id, thread_id, internal_date, history_id, labels.split(), json.loads(extra), bytes(raw)

    # history
    def add_history(self, user: str, record: dict[str, Any]) -> None:
        with self._lock:
            self._wrote = True
            self._db.execute("INSERT INTO history VALUES (?,?,?)", (user, record["id"], json.dumps(record)))

    def prune_history(self, user: str, below_id: int) -> None:
        with self._lock:
            self._wrote = True
            self._db.execute("DELETE FROM history WHERE user=? AND id<?", (user, below_id))

    def load_history(self, user: str) -> list[dict[str, Any]]:
        with self._lock:
            rows = self._db.execute("SELECT value FROM history WHERE user=? ORDER BY id", (user,))
            return [json.loads(v) for (v,) in rows]
