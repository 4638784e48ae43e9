"""YAML loading that remembers where every key and list item was written.

PyYAML's constructors throw the node marks away, so we compose the node tree
ourselves and build plain Python values from it, recording the line of each
mapping key and sequence item under its key path, e.g.
``("departments", 1, "color") -> 14``. Error messages then point at the line
the user has to edit.

A desk.yaml is read by every command, cron's sweep included, so the loader is
bounded: nesting at most MAX_DEPTH levels (PyYAML composes recursively, and
100,000 nested ``[`` would end in a RecursionError), and anchors may be reused,
but what aliases and merge keys (``<<: *anchor``) add is capped at
MAX_ALIAS_VALUES values, so a 600-byte "billion laughs" file stops at once
instead of expanding to gigabytes. A desk needs anchors for a shared SLA or a
shared set of routes at most; ten thousand values is far more than that.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import yaml
from yaml.error import Mark
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode
from yaml.tokens import Token

from gmaildesk.errors import GmailDeskError

Path_ = tuple[str | int, ...]
_MERGE_TAG = "tag:yaml.org,2002:merge"
MAX_DEPTH = 50
MAX_ALIAS_VALUES = 10_000
_ALIAS_HINT = "desk.yaml needs few anchors; write the repeated values out, or alias a smaller part"


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

    def __init__(self, file_name: str) -> None:
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
        return GmailDeskError(self.warning(path, message), hints)

    def warning(self, path: Path_, message: str) -> str:
        """A warning in the same one-line shape as an error."""
        where = f"{format_path(path)}: " if path else ""
        return f"{self.file_name}:{self.line(path)}: {where}{message}"


def load_yaml(text: str, file_name: str) -> tuple[Any, Positions]:
    """Parse one YAML document into plain values plus the Positions of its keys."""
    positions = Positions(file_name)
    loader = _DepthLimitedLoader(text, file_name)
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


class _DepthLimitedLoader(yaml.SafeLoader):
    """SafeLoader whose composer refuses nesting deeper than MAX_DEPTH before it recurses further."""

    def __init__(self, text: str, file_name: str) -> None:
        super().__init__(text)
        self.file_name = file_name
        self.depth = 0

    def compose_node(self, parent: Node | None, index: int) -> Node | None:
        if self.depth >= MAX_DEPTH:
            event = self.peek_event()  # type: ignore[no-untyped-call]  # unannotated in types-PyYAML
            raise self.too_deep(event.start_mark)
        self.depth += 1
        try:
            return super().compose_node(parent, index)
        finally:
            self.depth -= 1

    def fetch_flow_collection_start(self, token_class: type[Token]) -> None:
        # The scanner looks up to 1,024 characters ahead for a possible key at every open
        # bracket, each look costing as many steps as brackets are open: stop it at the limit.
        if self.flow_level >= MAX_DEPTH:
            raise self.too_deep(self.get_mark())
        super().fetch_flow_collection_start(token_class)

    def too_deep(self, mark: Mark) -> GmailDeskError:
        return GmailDeskError(
            f"{self.file_name}:{mark.line + 1}:{mark.column + 1}: values nested deeper than {MAX_DEPTH} levels",
            ("a desk.yaml is a few levels deep; look for unclosed [ or {",),
        )


class _Builder:
    def __init__(self, loader: yaml.SafeLoader, positions: Positions) -> None:
        self.loader = loader
        self.positions = positions
        self.flattened: set[int] = set()  # an aliased mapping is built again; check its keys once
        self.built: set[int] = set()
        self.alias_values = 0  # values built again because an alias or merge key repeats them
        self.merged_sizes: dict[int, int | None] = {}  # mapping node -> its key count once merged; None: in progress
        self.alias_path: Path_ | None = None  # where the alias being expanded is written

    def build(self, node: Node, path: Path_) -> Any:
        if len(path) > MAX_DEPTH:  # only an alias inside its own anchor nests this deep
            raise self.positions.error(
                path[:MAX_DEPTH],
                f"values nested deeper than {MAX_DEPTH} levels",
                ("an alias refers to the anchor it is written in",),
            )
        outermost_alias = id(node) in self.built and self.alias_path is None
        if outermost_alias:
            self.alias_path = path
        try:
            if id(node) in self.built:
                self.count_alias_values(1, path)
            self.built.add(id(node))
            return self.build_node(node, path)
        finally:
            if outermost_alias:
                self.alias_path = None

    def build_node(self, node: Node, path: Path_) -> Any:
        if isinstance(node, MappingNode):
            return self.mapping(node, path)
        if isinstance(node, SequenceNode):
            items = []
            for index, item in enumerate(node.value):
                self.positions.record((*path, index), item, item)
                items.append(self.build(item, (*path, index)))
            return items
        return self.scalar(node)

    def scalar(self, node: Node) -> Any:
        try:
            return self.loader.construct_object(node, deep=True)
        except (ValueError, OverflowError) as exc:  # 2026-13-45 read as a date; a 5,000-digit number
            mark = node.start_mark
            shown = node.value if len(node.value) <= 40 else f"{node.value[:40]}..."
            reason = str(exc).splitlines()[0].split(":")[0]
            raise GmailDeskError(
                f"{self.positions.file_name}:{mark.line + 1}:{mark.column + 1}: "
                f"'{shown}' is not a valid number or date ({reason})",
                ("put it in quotes to keep it as text",),
            ) from None

    def mapping(self, node: MappingNode, path: Path_) -> dict[str, Any]:
        seen: dict[str, int] = {}
        for key_node, _ in node.value:
            if key_node.tag == _MERGE_TAG or id(node) in self.flattened:
                continue
            key = self.key(key_node, path)
            if key in seen:
                line = key_node.start_mark.line + 1
                raise GmailDeskError(
                    f"{self.positions.file_name}:{line}: {format_path((*path, key))}: "
                    f"duplicate key (first written on line {seen[key]})"
                )
            seen[key] = key_node.start_mark.line + 1
        if id(node) not in self.flattened:
            own = sum(1 for key_node, _ in node.value if key_node.tag != _MERGE_TAG)
            self.count_alias_values(self.merged_size(node, path) - own, path)
        # flatten_mapping puts "<<: *anchor" pairs first, so the node's own keys override them.
        self.loader.flatten_mapping(node)
        self.flattened.add(id(node))
        result: dict[str, Any] = {}
        for key_node, value_node in node.value:
            key = self.key(key_node, path)
            self.positions.record((*path, key), key_node, value_node)
            result[key] = self.build(value_node, (*path, key))
        return result

    def count_alias_values(self, count: int, path: Path_) -> None:
        self.alias_values += count
        if self.alias_values > MAX_ALIAS_VALUES:
            raise self.too_many_alias_values(path)

    def too_many_alias_values(self, path: Path_) -> GmailDeskError:
        path = self.alias_path or path
        while path and isinstance(path[-1], int):  # a list item that is an alias records the anchor's line
            path = path[:-1]
        return self.positions.error(
            path, f"aliases and merge keys repeat more than {MAX_ALIAS_VALUES:,} values", (_ALIAS_HINT,)
        )

    def merged_size(self, node: MappingNode, path: Path_) -> int:
        """How many keys *node* has once its merge keys are applied, counted without applying them.

        PyYAML's flatten_mapping copies every merged pair into the node, so nested
        merges grow exponentially before a single value is built.
        """
        known = self.merged_sizes.get(id(node), -1)
        if known is None:
            raise self.positions.error(path, "a merge key (<<) merges the mapping it is written in", (_ALIAS_HINT,))
        if known >= 0:
            return known
        self.merged_sizes[id(node)] = None
        size = 0
        for key_node, value_node in node.value:
            if key_node.tag != _MERGE_TAG:
                size += 1
                continue
            merged = value_node.value if isinstance(value_node, SequenceNode) else [value_node]
            for sub_node in merged:
                if isinstance(sub_node, MappingNode):  # anything else: flatten_mapping reports it
                    size += self.merged_size(sub_node, path)
            if size > MAX_ALIAS_VALUES:
                raise self.too_many_alias_values(path)
        self.merged_sizes[id(node)] = size
        return size

    def key(self, key_node: Node, path: Path_) -> str:
        key = self.loader.construct_object(key_node, deep=True) if isinstance(key_node, ScalarNode) else None
        if not isinstance(key, str):
            shown = key_node.value if isinstance(key_node, ScalarNode) else "a collection"
            line = key_node.start_mark.line + 1
            hint = 'quote the key, e.g. "yes": - YAML reads yes/no/on/off as true/false'
            raise GmailDeskError(
                f"{self.positions.file_name}:{line}: {format_path(path) + ': ' if path else ''}key {shown} is not text",
                (hint,),
            )
        return key
