"""pydantic ValidationError -> the one-line ``desk.yaml:LINE: key.path: message`` GmailDeskError."""

from __future__ import annotations

from pydantic import ValidationError
from pydantic_core import ErrorDetails

from gmaildesk.config.fields import HINTS, SUBKEY, describe
from gmaildesk.config.yaml_source import Path_, Positions
from gmaildesk.errors import GmailDeskError

_EXPECTED = {
    "string_type": "text",
    "bool_type": "true or false",
    "int_type": "a whole number",
    "list_type": "a list",
    "dict_type": "a mapping",
    "model_type": "a mapping (key: value lines)",
    "model_attributes_type": "a mapping (key: value lines)",
    "float_type": "a number",
}


def to_desk_error(error: ValidationError, positions: Positions) -> GmailDeskError:
    """The error the user should fix first: the one written highest up in the file."""
    problems = [_problem(item) for item in error.errors(include_url=False)]
    path, message, hints = min(problems, key=lambda problem: positions.line(problem[0]))
    return positions.error(path, message, hints)


def _problem(item: ErrorDetails) -> tuple[Path_, str, tuple[str, ...]]:
    path: Path_ = tuple(item["loc"])
    context = item.get("ctx") or {}
    if SUBKEY in context:
        path = (*path, context[SUBKEY])
    kind, value = item["type"], item.get("input")
    if kind == "desk":
        return path, item["msg"], tuple(context.get(HINTS, ()))
    if kind == "missing":
        return path, "required key is missing", ()
    if kind in _EXPECTED:
        return path, f"expected {_EXPECTED[kind]}, got {describe(value)}", ()
    if kind == "literal_error":
        return path, f"{describe(value)} is not one of {context['expected']}", ()
    if kind == "greater_than_equal":
        return path, f"must be at least {context['ge']}, got {describe(value)}", ()
    if kind == "less_than_equal":
        return path, f"must be at most {context['le']}, got {describe(value)}", ()
    return path, item["msg"], ()
