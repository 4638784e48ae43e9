"""Label names that look alike but are different labels to Gmail (``Вilling``, Cyrillic В, beside ``Billing``).

Two names look alike when their confusable skeletons are equal (Unicode UTS #39, section 4:
decompose, map every character to the prototype it is confusable with, decompose again). The
prototype table is Unicode's confusables.txt as shipped by the confusable-homoglyphs package,
which lists for each character the characters it can be confused with in both directions: a
character that lists exactly one other is a source mapped to that prototype.

Loading that table costs tens of milliseconds, and every command loads the desk, so names are
compared only when one of them has a character outside ASCII: the look-alikes that matter here
come from other alphabets and invisible characters, not from I and l.
"""

from __future__ import annotations

import functools
import unicodedata
from typing import Any

from gmaildesk.config.labels import DeclaredLabel, origin, parent_names
from gmaildesk.config.yaml_source import Positions

_LRM = "\u200e"  # the package wraps right-to-left characters in marks so that its JSON reads well


@functools.cache
def _similar(char: str) -> tuple[str, ...]:
    from confusable_homoglyphs.confusables import confusables_data

    entries = confusables_data.get(char) or confusables_data.get(f"{_LRM}{char}{_LRM}") or ()
    return tuple(entry["c"].strip(_LRM) for entry in entries)


@functools.cache
def _prototype(char: str) -> str:
    similar = _similar(char)
    if len(similar) != 1 or similar[0] == char:
        return char  # a prototype: several characters are mapped to it
    target = similar[0]
    if _similar(target) == (char,):  # a prototype with a single source: either can stand for both
        return min(char, target)
    return target


def skeleton(text: str) -> str:
    """UTS #39 skeleton of *text*, without invisible format characters (zero-width space and the like)."""
    decomposed = unicodedata.normalize("NFD", text)
    mapped = "".join(_prototype(char) for char in decomposed if unicodedata.category(char) != "Cf")
    return unicodedata.normalize("NFD", mapped)


def describe_unusual(text: str) -> str:
    """The characters of *text* outside ASCII, with their Unicode names: ``В (CYRILLIC CAPITAL LETTER VE)``."""
    unusual = dict.fromkeys(char for char in text if not char.isascii())
    return ", ".join(f"{char} ({unicodedata.name(char, f'U+{ord(char):04X}')})" for char in unusual)


def lookalike_warnings(declared: list[DeclaredLabel], positions: Positions) -> list[str]:
    """One warning per declared label whose name, or a parent's, looks like another label of the desk.

    Of names that look alike, a plain-ASCII one is taken as the one meant, so the warning lands on
    the name with the unusual characters.
    """
    first: dict[str, DeclaredLabel] = {}  # every full name, parents included -> the label that brings it
    for item in declared:
        for name in (*parent_names(item.label.name), item.label.name):
            first.setdefault(name, item)
    if all(name.isascii() for name in first):
        return []
    groups: dict[str, list[str]] = {}
    for name in first:
        groups.setdefault(skeleton(name), []).append(name)
    warned: set[tuple[Any, ...]] = set()
    found: list[tuple[int, str]] = []
    for names in groups.values():
        meant = next((name for name in names if name.isascii()), names[0])
        for name in names:
            item = first[name]
            if name.casefold() == meant.casefold() or item.path in warned:
                continue  # the same label, or names differing in case (an error of its own)
            warned.add(item.path)
            what = (
                f"label '{name}'"
                if name == item.label.name
                else (f"label '{item.label.name}' nests under '{name}', which")
            )
            unusual = describe_unusual(name) or describe_unusual(meant)
            found.append(
                (
                    positions.line(item.path),
                    positions.warning(
                        item.path,
                        f"{what} looks like '{meant}' ({origin(first[meant], positions)}) but Gmail keeps "
                        f"them apart as two labels; check {unusual}",
                    ),
                )
            )
    return [warning for _, warning in sorted(found, key=lambda pair: pair[0])]
