"""Message headers as Gmail's metadata format returns them, and the addresses inside them."""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Mapping
from email.utils import getaddresses

__all__ = ["Headers", "addresses", "first_address", "MAX_ADDRESSES", "MAX_ADDRESS_TEXT"]

# How many addresses of one header the classifier looks at. It needs the author, the person in
# Reply-To and whether the customer is among our recipients; a conversation with a customer
# names a handful of people, and a header naming hundreds is a mass mailing or an attack (issue 9:
# 80,000 addresses in one Reply-To made a sweep take 44 s). Gmail itself sends a message to at
# most 500 recipients, 100 through SMTP (Gmail Help "Limits for sending & getting mail",
# https://support.google.com/mail/answer/22839), spread over To, Cc and Bcc, each read up to this.
MAX_ADDRESSES = 100
# And how much of its text: 100 entries of an address (at most 254 characters, RFC 5321 §4.5.3.1.3)
# with a display name fit comfortably; the scan and the parse never see more than this.
MAX_ADDRESS_TEXT = 64 * 1024

_SPECIAL = re.compile(r'[\\"()<>,]')


def _leading_entries(value: str, limit: int) -> tuple[str, int]:
    """The prefix of an address list that holds at most `limit` entries, and how many it holds.

    One pass over the special characters only (quotes, comments, angle brackets, commas), so the
    cost is linear in the prefix, never in the whole header. A prefix cut by MAX_ADDRESS_TEXT ends at
    the last whole entry, so no half address is ever parsed.
    """
    quoted = angle = False
    depth = commas = 0
    last_comma = escaped_at = -1
    text = value[:MAX_ADDRESS_TEXT]
    for found in _SPECIAL.finditer(text):
        ch, at = found.group(), found.start()
        if at == escaped_at:
            continue
        if ch == "\\":
            if quoted or depth:  # a quoted-pair: the next character is literal
                escaped_at = at + 1
        elif quoted:
            quoted = ch != '"'
        elif depth:
            depth += 1 if ch == "(" else -1 if ch == ")" else 0
        elif ch == '"':
            quoted = True
        elif ch == "(":
            depth = 1
        elif ch == "<":
            angle = True
        elif ch == ">":
            angle = False
        elif ch == "," and not angle:
            commas += 1
            last_comma = at
            if commas >= limit:
                return text[:at], commas
    if len(value) > MAX_ADDRESS_TEXT:
        return (text[:last_comma], commas) if last_comma >= 0 else ("", 0)
    return text, commas + 1


class Headers(Mapping[str, str]):
    """Immutable, case-insensitive headers; a repeated header keeps every value, in order.

    `headers["to"]` is the first value, `get_all("To")` all of them (mail may repeat To or Cc).
    Hashable, so a message holding it can be a frozen dataclass. The addresses of each header
    are parsed once and kept: a sweep asks for a message's From and Reply-To many times.
    """

    __slots__ = ("_pairs", "_index", "_parsed")

    def __init__(self, pairs: Mapping[str, str] | Iterable[tuple[str, str]] = ()) -> None:
        items = pairs.items() if isinstance(pairs, Mapping) else pairs
        self._pairs: tuple[tuple[str, str], ...] = tuple((str(k), str(v)) for k, v in items)
        index: dict[str, list[str]] = {}
        for name, value in self._pairs:
            index.setdefault(name.lower(), []).append(value)
        self._index = {name: tuple(values) for name, values in index.items()}
        self._parsed: dict[tuple[str, bool], tuple[str, ...]] = {}

    @classmethod
    def from_gmail(cls, headers: Iterable[Mapping[str, str]] | None) -> Headers:
        """From a payload's `[{"name": ..., "value": ...}, ...]`."""
        return cls((h.get("name", ""), h.get("value", "")) for h in headers or ())

    def __getitem__(self, name: str) -> str:
        return self._index[name.lower()][0]

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and name.lower() in self._index

    def __iter__(self) -> Iterator[str]:
        seen: set[str] = set()
        for name, _ in self._pairs:
            if name.lower() not in seen:
                seen.add(name.lower())
                yield name

    def __len__(self) -> int:
        return len(self._index)

    def get_all(self, name: str) -> tuple[str, ...]:
        return self._index.get(name.lower(), ())

    def value(self, name: str) -> str:
        """The first value, stripped; "" when absent."""
        values = self.get_all(name)
        return values[0].strip() if values else ""

    def addresses(self, *names: str, bare: bool = False) -> tuple[str, ...]:
        """The addresses of these headers, in order, each header's first MAX_ADDRESSES (see addresses())."""
        found: dict[str, None] = {}
        for name in names:
            key = (name.lower(), bare)
            if key not in self._parsed:
                self._parsed[key] = addresses(self.get_all(name), bare=bare)
            found.update(dict.fromkeys(self._parsed[key]))
        return tuple(found)

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Headers):
            return self._pairs == other._pairs
        return NotImplemented

    def __hash__(self) -> int:
        return hash(self._pairs)

    def __repr__(self) -> str:
        return f"Headers({list(self._pairs)!r})"


def addresses(values: str | Iterable[str], *, bare: bool = False) -> tuple[str, ...]:
    """Lowercase addresses from address headers ("A <a@x>, b@y"), the first MAX_ADDRESSES; never raises.

    Linear in the text it reads, which is only as much as those first entries need.
    Entries without a domain ("undisclosed-recipients:;", a lone word) are dropped unless `bare`.
    """
    if isinstance(values, str):
        values = (values,)
    found: dict[str, None] = {}
    budget = MAX_ADDRESSES
    for value in values:
        if budget <= 0:
            break
        if not value:
            continue
        text, entries = _leading_entries(value, budget)
        budget -= entries
        try:
            pairs = getaddresses([text])
        except Exception:  # pathological header text: treat as no address rather than fail a sweep
            continue
        for _, address in pairs:
            address = address.strip().strip("<>").lower()
            if address and ("@" in address or bare):
                found.setdefault(address, None)
    return tuple(found)[:MAX_ADDRESSES]


def first_address(values: str | Iterable[str], *, bare: bool = False) -> str:
    """The first address, lowercase; "" when none (also for an empty `<>`)."""
    found = addresses(values, bare=bare)
    return found[0] if found else ""
