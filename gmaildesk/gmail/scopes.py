"""Least-privilege OAuth scope sets, one per purpose, and the check that a grant covers them."""

from __future__ import annotations

from collections.abc import Iterable

_BASE = "https://www.googleapis.com/auth/"

FULL = "https://mail.google.com/"
READONLY = _BASE + "gmail.readonly"
METADATA = _BASE + "gmail.metadata"
MODIFY = _BASE + "gmail.modify"
LABELS = _BASE + "gmail.labels"
INSERT = _BASE + "gmail.insert"
SEND = _BASE + "gmail.send"
SETTINGS_BASIC = _BASE + "gmail.settings.basic"
SETTINGS_SHARING = _BASE + "gmail.settings.sharing"

READ: tuple[str, ...] = (READONLY,)
"""Reading mail, labels, settings and history (audit, status)."""
SWEEP: tuple[str, ...] = (MODIFY,)
"""Changing labels on threads and messages (the status sweep). Also its acknowledgements (auto_ack
mode: sweep): the discovery document lists gmail.modify among messages.send's scopes, so sending
them needs no scope more."""
DESK: tuple[str, ...] = (LABELS, SETTINGS_BASIC, SETTINGS_SHARING)
"""Desk-as-code: labels, filters, vacation, send-as and forwarding settings."""
LOGIN: tuple[str, ...] = tuple(sorted({*READ, *SWEEP, *DESK}))
"""What `gmaildesk auth login` asks for by default: every purpose above."""

PURPOSES: dict[str, tuple[str, ...]] = {"read": READ, "sweep": SWEEP, "desk": DESK, "all": LOGIN}

# A granted scope that lets a token call every method of another one, per the discovery
# document's per-method scope lists. mail.google.com/ does NOT cover filters, vacation or
# send-as writes: those methods list only gmail.settings.*.
_IMPLIES: dict[str, frozenset[str]] = {
    FULL: frozenset({READONLY, METADATA, MODIFY, LABELS, INSERT, SEND}),
    MODIFY: frozenset({READONLY, METADATA, LABELS, INSERT, SEND}),
    READONLY: frozenset({METADATA}),
}


def missing(granted: Iterable[str], needed: Iterable[str]) -> tuple[str, ...]:
    """The needed scopes a grant does not cover, in a stable order."""
    covered = set(granted)
    for scope in list(covered):
        covered |= _IMPLIES.get(scope, frozenset())
    return tuple(sorted(set(needed) - covered))


def parse(names: Iterable[str]) -> tuple[str, ...]:
    """Scopes from CLI words: purposes (read, sweep, desk, all), short names (gmail.modify) or URLs."""
    result: set[str] = set()
    for name in names:
        word = name.strip()
        if word.lower() in PURPOSES:
            result.update(PURPOSES[word.lower()])
        elif word.startswith("https://"):
            result.add(word)
        elif word.startswith("gmail.") or word in ("openid", "email", "profile"):
            result.add(word if word in ("openid", "email", "profile") else _BASE + word)
        else:
            raise ValueError(f"unknown scope {name!r}: use read, sweep, desk, all, a gmail.* name or a scope URL")
    return tuple(sorted(result))


def short_name(scope: str) -> str:
    """gmail.modify for https://www.googleapis.com/auth/gmail.modify; other scopes unchanged."""
    return scope[len(_BASE) :] if scope.startswith(_BASE) else scope
