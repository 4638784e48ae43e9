"""A read-only view of the sweep store, the SLA table from desk.yaml, times as ISO text."""

from __future__ import annotations

import difflib
import sqlite3
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

from gmaildesk.config.desk import Desk
from gmaildesk.errors import ExitCode, GmailDeskError

__all__ = ["open_store", "Slas", "iso", "clamp_ms"]


def open_store(path: Path) -> sqlite3.Connection:
    """The store read-only (never creates or migrates it); GmailDeskError when there is none yet."""
    path = Path(path)
    if not path.is_file():
        raise GmailDeskError(
            f"no sweep store at {path}", ["run `gmaildesk sweep -c desk.yaml` first, or pass --refresh"], ExitCode.ERROR
        )
    from gmaildesk.sweep.store import SCHEMA_VERSION

    db = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        db.execute("SELECT 1 FROM threads LIMIT 1")
        version = db.execute("PRAGMA user_version").fetchone()[0]
        _shim_old_store(db)
    except sqlite3.DatabaseError as error:
        db.close()
        raise GmailDeskError(f"{path} is not a sweep store ({error})") from None
    if version > SCHEMA_VERSION:  # its columns may mean something this version does not know
        db.close()
        raise GmailDeskError(
            f"{path} was made by a newer gmaildesk (store version {version}; this one reads up to {SCHEMA_VERSION})",
            ["upgrade gmaildesk, or point --store at another file"],
        )
    return db


_FACT_COLUMNS = ("subject", "customer", "agent", "first_agent", "waiting_since", "flags", "provisional")


def _shim_old_store(db: sqlite3.Connection) -> None:
    """A store written before the sweep recorded subjects, agents, messages and flags: the file stays
    untouched (read-only); TEMP views named like the tables (TEMP shadows main) supply NULLs."""
    have = {r[1] for r in db.execute("PRAGMA main.table_info(threads)")}
    missing = [c for c in _FACT_COLUMNS if c not in have]
    if missing:
        db.execute(
            "CREATE TEMP VIEW threads AS SELECT *, " + ", ".join(f"NULL AS {c}" for c in missing) + " FROM main.threads"
        )
    if db.execute("SELECT 1 FROM main.sqlite_master WHERE type = 'table' AND name = 'messages'").fetchone() is None:
        db.execute(
            "CREATE TEMP VIEW messages (thread_id, message_id, at, kind, from_addr, flags) AS "
            "SELECT NULL, NULL, NULL, NULL, NULL, NULL WHERE 0"
        )
    elif "flags" not in {r[1] for r in db.execute("PRAGMA main.table_info(messages)")}:
        db.execute("CREATE TEMP VIEW messages AS SELECT *, NULL AS flags FROM main.messages")
    if db.execute("SELECT 1 FROM main.sqlite_master WHERE type = 'table' AND name = 'tickets'").fetchone() is None:
        db.execute("CREATE TEMP VIEW tickets (number, thread_id, at) AS SELECT NULL, NULL, NULL WHERE 0")
    if db.execute("SELECT 1 FROM main.sqlite_master WHERE type = 'table' AND name = 'owners'").fetchone() is None:
        db.execute("CREATE TEMP VIEW owners (thread_id, agent, how, at) AS SELECT NULL, NULL, NULL, NULL WHERE 0")


@dataclass(frozen=True)
class Slas:
    """Per department SLAs in seconds, resolved like the sweep does (no department: the strictest)."""

    first: dict[str, int | None] = field(default_factory=dict)
    next: dict[str, int | None] = field(default_factory=dict)

    @classmethod
    def from_desk(cls, desk: Desk) -> Slas:
        return cls(
            {d.name: d.sla.first_response for d in desk.departments},
            {d.name: d.sla.next_response for d in desk.departments},
        )

    def department(self, name: str | None) -> str | None:
        """desk.yaml's spelling of department *name* (case-insensitive); a name the desk does not have is a
        usage error with a did-you-mean — a silent "nothing to handle" for a typo hides the queue."""
        if name is None:
            return None
        known = {d.lower(): d for d in self.first}
        if name.strip().lower() in known:
            return known[name.strip().lower()]
        close = difflib.get_close_matches(name.strip().lower(), list(known), n=1, cutoff=0.6)
        hint = f"did you mean {known[close[0]]}? " if close else ""
        raise GmailDeskError(
            f"--dept {name}: no such department in desk.yaml",
            [f"{hint}departments: {', '.join(self.first) or '(none)'}"],
            ExitCode.USAGE,
        )

    def first_response(self, department: str | None) -> int | None:
        return self._pick(self.first, department)

    def next_response(self, department: str | None) -> int | None:
        return self._pick(self.next, department)

    @staticmethod
    def _pick(table: dict[str, int | None], department: str | None) -> int | None:
        if department in table:
            return table[department]
        values = [v for v in table.values() if v is not None]
        return min(values) if values else None


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
# The store may hold any int64 (a forged Date, a 999999999w SLA): datetime stops at year 9999, so
# times are clamped to what it can show instead of failing the whole listing.
_FIRST_MS = (datetime(1, 1, 1, tzinfo=UTC) - _EPOCH) // timedelta(milliseconds=1)
_LAST_MS = (datetime(9999, 12, 31, 23, 59, 59, tzinfo=UTC) - _EPOCH) // timedelta(milliseconds=1)


def clamp_ms(ms: int) -> int:
    """*ms* within the years 1 to 9999."""
    return min(max(ms, _FIRST_MS), _LAST_MS)


def iso(ms: int | None) -> str | None:
    """ISO 8601 UTC to the second; a time past 9999-12-31T23:59:59Z (or before year 1) shows as that bound."""
    if ms is None:
        return None
    moment = _EPOCH + timedelta(milliseconds=clamp_ms(ms))
    return (
        f"{moment.year:04d}-{moment.month:02d}-{moment.day:02d}T"
        f"{moment.hour:02d}:{moment.minute:02d}:{moment.second:02d}Z"
    )
