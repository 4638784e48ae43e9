"""An Export as desk.yaml text: PyYAML for every value (so quoting is always right), comments around it.

Short mappings and lists are written inline (``color: {background: ..., text: ...}``), multi-line
text as ``|`` blocks; the output is deterministic, so two exports of one mailbox diff cleanly.

Mailbox data (label names, filter criteria, addresses) is hostile until proven otherwise: a line
break in a label name must not end a comment and start a `team:` key. So data reaches the file only
through the YAML emitter: as values, or, in a comment, as one double-quoted YAML scalar (every line
break and control character escaped). A comment line that is not provably one line is refused.
"""

from __future__ import annotations

import re
from typing import Any

import yaml
from yaml.reader import Reader

from gmaildesk.desk.export import Export, Item

_INLINE_WIDTH = 90
NOT_IN_GMAIL = (
    "Gmail does not hold these, so they are not here: team (but the agents' names, from their Agent/ "
    "labels), vars, department SLAs and assign, sweep, tests (see `gmaildesk init` for a commented example of each)."
)


class _Dumper(yaml.SafeDumper):
    def increase_indent(self, flow: bool = False, indentless: bool = False) -> None:  # noqa: ARG002
        return super().increase_indent(flow, False)  # indent list items under their key


class _Block(dict[str, Any]):
    """A mapping always written as `key: value` lines (top-level sections)."""


def _short(value: Any) -> bool:
    if isinstance(value, (bool, int)):
        return True
    if isinstance(value, str):
        return "\n" not in value and len(value) <= 60
    if isinstance(value, list):
        return all(isinstance(v, str) and _short(v) for v in value)
    return False


def _mapping(dumper: _Dumper, data: dict[str, Any]) -> yaml.Node:
    inline = all(_short(v) for v in data.values()) and len(repr(data)) <= _INLINE_WIDTH
    return dumper.represent_mapping("tag:yaml.org,2002:map", data, flow_style=inline)


def _sequence(dumper: _Dumper, data: list[Any]) -> yaml.Node:
    inline = all(isinstance(v, str) and _short(v) for v in data) and len(repr(data)) <= _INLINE_WIDTH
    return dumper.represent_sequence("tag:yaml.org,2002:seq", data, flow_style=inline)


_YAML_BREAKS = ("\x85", "\u2028", "\u2029")  # line breaks to YAML; only double quotes keep them


def _text(dumper: _Dumper, data: str) -> yaml.Node:
    style = '"' if any(b in data for b in _YAML_BREAKS) else "|" if "\n" in data else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", data, style=style)


_Dumper.add_representer(dict, _mapping)
_Dumper.add_representer(
    _Block, lambda dumper, data: dumper.represent_mapping("tag:yaml.org,2002:map", data, flow_style=False)
)
_Dumper.add_representer(list, _sequence)
_Dumper.add_representer(str, _text)


def dump(value: Any) -> str:
    return yaml.dump(value, Dumper=_Dumper, sort_keys=False, allow_unicode=True, width=float("inf"))


def _lines(text: str) -> list[str]:
    """The emitter's lines: it breaks lines with "\n" only (str.splitlines would also split at the
    U+2028 or \x1c inside a quoted scalar and break it in two)."""
    return text.removesuffix("\n").split("\n")


def _top(key: str, value: Any) -> list[str]:
    """One top-level section; a mapping's own keys go on lines of their own."""
    return _lines(dump(_Block({key: _Block(value) if isinstance(value, dict) else value})))


_COMMENT_BREAKERS = re.compile("[\r\n\x85\u2028\u2029]")  # YAML 1.1 line breaks: each ends a comment


def quoted(data: str) -> str:
    """*data* as one double-quoted YAML scalar on one line: line breaks, controls and quotes escaped."""
    return yaml.dump(
        data, Dumper=yaml.SafeDumper, default_style='"', allow_unicode=True, width=float("inf")
    ).removesuffix("\n")


def _mention(data: str) -> str:
    """An address as it is when it is only word characters, dots, @, + and -; else quoted."""
    return data if re.fullmatch(r"[\w.@+-]+", data) else quoted(data)


def comment(text: str, indent: str = "") -> str:
    """A comment line; refused (ValueError) unless it provably stays one comment line."""
    if _COMMENT_BREAKERS.search(text) or Reader.NON_PRINTABLE.search(text):
        raise ValueError(f"not a one-line comment: {text!r}")
    return f"{indent}# {text}"


def _comment(lines: list[str], indent: str = "") -> list[str]:
    return [comment(line, indent) for line in lines]


def _section(key: str, items: list[Item], empty: str) -> list[str]:
    if not items:
        return [f"{key}: []  # {empty}"]
    out = [f"{key}:"]
    for item in items:
        out += _comment(item.comments, "  ")
        out += ["  " + line if line else line for line in _lines(dump([item.data]))]
    return out


def render(exported: Export) -> str:
    out = [
        comment(f"desk.yaml exported by `gmaildesk export` from {_mention(exported.mailbox)}."),
        '# Applied to that mailbox as it is, `gmaildesk plan` shows "No changes".',
        f"# {NOT_IN_GMAIL}",
    ]
    if exported.left_out:
        out.append("# Not exported (desk.yaml cannot say it; gmaildesk leaves it as it is):")
        out += [comment(f"  - {quoted(line)}") for line in exported.left_out]
    out += ["", "version: 1", *_top("mailbox", exported.mailbox), ""]
    if exported.team:
        out += _section("team", exported.team, "")
        out.append("")
    out += _top("labels", {"department_prefix": exported.department_prefix})
    out.append("")
    out += _comment(exported.statuses.comments)
    out += _top("statuses", exported.statuses.data)
    out.append("")
    out += _section("departments", exported.departments, "no labels under labels.department_prefix")
    out.append("")
    out += _section("filters", exported.filters, "none")
    out.append("")
    if exported.auto_ack is None:
        out.append("# auto_ack: not here - the vacation responder is off and empty, and gmaildesk leaves it alone")
    else:
        out += _comment(exported.auto_ack.comments)
        out += _top("auto_ack", exported.auto_ack.data)
    out.append("")
    out += _section("send_as", exported.send_as, "no aliases")
    return "\n".join(out) + "\n"
