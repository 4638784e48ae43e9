"""Message headers as Gmail's metadata format returns them, and the addresses inside them."""

from __future__ import annotations

from email.utils import getaddresses
from typing import Iterable, Iterator, Mapping

__all__ = ["Headers", "addresses", "first_address"]


class Headers(Mapping[str, str]):
    """Immutable, case-insensitive headers; a repeated header keeps every value, in order.

    `headers["to"]` is the first value, `get_all("To")` all of them (mail may repeat To or Cc).
    Hashable, so a message holding it can be a frozen dataclass.
    """

    __slots__ = ("_pairs", "_index")

    def __init__(self, pairs: Mapping[str, str] | Iterable[tuple[str, str]] = ()) -> None:
        items = pairs.items() if isinstance(pairs, Mapping) else pairs
        self._pairs: tuple[tuple[str, str], ...] = tuple((str(k), str(v)) for k, v in items)
        index: dict[str, list[str]] = {}
        for name, value in self._pairs:
            index.setdefault(name.lower(), []).append(value)
        self._index = {name: tuple(values) for name, values in index.items()}

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

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Headers):
            return self._pairs == other._pairs
        return NotImplemented

    def __hash__(self) -> int:
        return hash(self._pairs)

    def __repr__(self) -> str:
        return f"Headers({list(self._pairs)!r})"


def addresses(values: str | Iterable[str], *, bare: bool = False) -> tuple[str, ...]:
    """Lowercase addresses from address headers ("A <a@x>, b@y"); never raises.

    Entries without a domain ("undisclosed-recipients:;", a lone word) are dropped unless `bare`.
    """
    if isinstance(values, str):
        values = (values,)
    try:
        pairs = getaddresses([v for v in values if v])
    except Exception:  # pathological header text: treat as no address rather than fail a sweep
        return ()
    found: list[str] = []
    for _, address in pairs:
        address = address.strip().strip("<>").lower()
        if address and ("@" in address or bare) and address not in found:
            found.append(address)
    return tuple(found)


def first_address(values: str | Iterable[str], *, bare: bool = False) -> str:
    """The first address, lowercase; "" when none (also for an empty `<>`)."""
    found = addresses(values, bare=bare)
    return found[0] if found else ""
