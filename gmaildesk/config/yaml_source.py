"""YAML loading that remembers where every key and list item was written.

PyYAML's constructors throw the node marks away, so we compose the node tree
ourselves and build plain Python values from it, recording the line of each
mapping key and sequence item under its key path, e.g.
``("departments", 1, "color") -> 14``. Error messages then point at the line
the user has to edit.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import yaml
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from gmaildesk.errors import GmailDeskError

Path_ = tuple[str | int, ...]
_MERGE_TAG = "tag:yaml.org,2002:merge"


def format_path(path: Path_) -> str:
    """``("departments", 1, "color")`` -> ``departments[1].color``."""
    text = ""
    for part in path:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text


@dataclass(frozen=True)
class Location:
    """Where a value was written: the line of its key (or list item) and of the value itself."""

    line: int
    value_line: int
    block_scalar: bool  # a ``|`` or ``>`` value starts on the line after its indicator


class Positions:
    """Key path -> Location; a path never written resolves to its nearest written parent."""

    def __init__(self, file_name: str):
        self.file_name = file_name
        self._locations: dict[Path_, Location] = {(): Location(1, 1, False)}

    def record(self, path: Path_, key_node: Node, value_node: Node) -> None:
        self._locations[path] = Location(
            key_node.start_mark.line + 1,
            value_node.start_mark.line + 1,
            isinstance(value_node, ScalarNode) and value_node.style in ("|", ">"),
        )

    def locate(self, path: Path_) -> Location:
        for end in range(len(path), -1, -1):
            found = self._locations.get(tuple(path[:end]))
            if found is not None:
                return found
        raise AssertionError("the root is always recorded")

    def written(self, path: Path_) -> bool:
        """True when desk.yaml itself contains *path* (not only a default)."""
        return tuple(path) in self._locations

    def line(self, path: Path_) -> int:
        return self.locate(path).line

    def error(self, path: Path_, message: str, hints: tuple[str, ...] | list[str] = ()) -> GmailDeskError:
        """The one error shape for desk.yaml: ``desk.yaml:LINE: key.path: message``."""
        where = f"{format_path(path)}: " if path else ""
        return GmailDeskError(f"{self.file_name}:{self.line(path)}: {where}{message}", hints)


def load_yaml(text: str, file_name: str) -> tuple[Any, Positions]:
    """Parse one YAML document into plain values plus the Positions of its keys."""
    positions = Positions(file_name)
    loader = yaml.SafeLoader(text)
    try:
        root = loader.get_single_node()
        if root is None:
            return None, positions
        return _Builder(loader, positions).build(root, ()), positions
    except yaml.MarkedYAMLError as exc:
        raise _syntax_error(exc, file_name) from None
    finally:
        loader.dispose()


def _syntax_error(exc: yaml.MarkedYAMLError, file_name: str) -> GmailDeskError:
    mark = exc.problem_mark or exc.context_mark
    problem = exc.problem or "invalid YAML"
    hints: list[str] = []
    if problem.startswith("but "):  # PyYAML splits "expected X, but found Y" across context and problem
        problem = f"{exc.context}, {problem}"
    elif exc.context:
        where = f" (line {exc.context_mark.line + 1})" if exc.context_mark else ""
        hints.append(f"{exc.context}{where}")
    if "'\\t'" in problem:
        hints.append("YAML indentation must use spaces, not tabs")
    line, column = (mark.line + 1, mark.column + 1) if mark else (1, 1)
    return GmailDeskError(f"{file_name}:{line}:{column}: {problem}", hints)


class _Builder:
    def __init__(self, loader: yaml.SafeLoader, positions: Positions):
        self.loader = loader
        self.positions = positions
        self.flattened: set[int] = set()  # an aliased mapping is built again; check its keys once

    def build(self, node: Node, path: Path_) -> Any:
        if isinstance(node, MappingNode):
            return self.mapping(node, path)
        if isinstance(node, SequenceNode):
            items = []
            for index, item in enumerate(node.value):
                self.positions.record((*path, index), item, item)
                items.append(self.build(item, (*path, index)))
            return items
        return self.loader.construct_object(node, deep=True)

    def mapping(self, node: MappingNode, path: Path_) -> dict[str, Any]:
        seen: dict[str, int] = {}
        for key_node, _ in node.value:
            if key_node.tag == _MERGE_TAG or id(node) in self.flattened:
                continue
            key = self.key(key_node, path)
            if key in seen:
                line = key_node.start_mark.line + 1
                raise GmailDeskError(f"{self.positions.file_name}:{line}: {format_path((*path, key))}: "
                                     f"duplicate key (first written on line {seen[key]})")
            seen[key] = key_node.start_mark.line + 1
        # flatten_mapping puts "<<: *anchor" pairs first, so the node's own keys override them.
        self.loader.flatten_mapping(node)
        self.flattened.add(id(node))
        result: dict[str, Any] = {}
        for key_node, value_node in node.value:
            key = self.key(key_node, path)
            self.positions.record((*path, key), key_node, value_node)
            result[key] = self.build(value_node, (*path, key))
        return result

    def key(self, key_node: Node, path: Path_) -> str:
        key = self.loader.construct_object(key_node, deep=True) if isinstance(key_node, ScalarNode) else None
        if not isinstance(key, str):
            shown = key_node.value if isinstance(key_node, ScalarNode) else "a collection"
            line = key_node.start_mark.line + 1
            hint = "quote the key, e.g. \"yes\": - YAML reads yes/no/on/off as true/false"
            raise GmailDeskError(
                f"{self.positions.file_name}:{line}: {format_path(path) + ': ' if path else ''}"
                f"key {shown} is not text", (hint,))
        return key
