"""The one user-facing error type and the named exit codes."""

from __future__ import annotations

from enum import IntEnum


class ExitCode(IntEnum):
    """Exit codes of the gmaildesk command; documented in README."""

    OK = 0
    ERROR = 1
    USAGE = 2  # click/typer use 2 for bad usage already
    PLAN_HAS_CHANGES = 3
    PARTIAL = 4
    AUTH = 5
    QUOTA = 6
    LOCKED = 7
    NEEDS_ATTENTION = 8  # `status --check`: something is overdue or the sweep has stalled
    DRAFT_CONFLICT = 4  # `reply`: another agent's draft is in the conversation (PARTIAL's number, issue 13)
    INTERRUPTED = 130


class GmailDeskError(Exception):
    """An error the user can act on: a one-line message plus optional hints."""

    def __init__(
        self, message: str, hints: tuple[str, ...] | list[str] = (), exit_code: ExitCode = ExitCode.ERROR
    ) -> None:
        super().__init__(message)
        self.message = message
        self.hints = tuple(hints)
        self.exit_code = exit_code

    def with_context(self, context: str) -> GmailDeskError:
        """The same error, its message prefixed with what we were doing."""
        return GmailDeskError(f"{context}: {self.message}", self.hints, self.exit_code)
