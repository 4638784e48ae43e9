"""Department routes -> one Gmail search query.

A department is reached when ANY of its routes matches, so the route parts are
joined with OR; Gmail binds OR tighter than the implicit AND, and raw queries
are wrapped in parentheses, so each part stays one alternative.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import TYPE_CHECKING

from gmaildesk.config.fields import fail, query_error
from gmaildesk.gmail.query import QuerySyntaxError, parse

if TYPE_CHECKING:  # schema imports this module's checks
    from gmaildesk.config.schema import Route

_PLAIN_RE = re.compile(r"[\w@.+\-]+")
_KEYWORDS = ("OR", "AND")


def quote(value: str) -> str:
    """*value* as one query term: bare when that is unambiguous, else in double quotes."""
    value = " ".join(value.split())
    if _PLAIN_RE.fullmatch(value) and value not in _KEYWORDS and not value.startswith("-"):
        return value
    return f'"{value}"'


_DOUBLE_QUOTE = 'must not contain a double quote ("); Gmail queries cannot escape it'
_DOUBLE_QUOTE_HINT = "drop the quotes, or write the condition as a query: route"


def check_route_value(operator: str, value: object) -> object:
    """A to/from/subject route value must make a valid ``operator:value`` term."""
    if not isinstance(value, str):
        return value  # the type check reports it
    if not value.strip():
        fail("must not be empty")
    # Gmail has no escape for '"' inside a quoted term (mbrt/gmailctl#66).
    if '"' in value:
        fail(_DOUBLE_QUOTE, _DOUBLE_QUOTE_HINT)
    term = f"{operator}:{quote(value)}"
    try:
        parse(term)
    except QuerySyntaxError as exc:
        query_error(exc, value, offset=len(operator) + 1 + term.endswith('"'))
    return value


def check_words(value: object) -> object:
    if isinstance(value, str):
        value = [value]
    if isinstance(value, list):
        if not value:
            fail("must list at least one word or phrase")
        for index, word in enumerate(value):
            if isinstance(word, str) and '"' in word:
                fail(_DOUBLE_QUOTE, _DOUBLE_QUOTE_HINT, subkey=index)
    return value


def route_parts(route: Route) -> list[str]:
    """The OR-alternatives one schema.Route contributes."""
    if route.to is not None:
        return [f"to:{quote(route.to)}"]
    if route.from_ is not None:
        return [f"from:{quote(route.from_)}"]
    if route.subject is not None:
        return [f"subject:{quote(route.subject)}"]
    if route.words is not None:
        return [quote(word) for word in route.words]
    assert route.query is not None  # a Route sets exactly one of to, from, subject, words and query
    return [f"({route.query.strip()})"]


def department_query(routes: Iterable[Route]) -> str:
    """Gmail query matching mail for any of *routes*; empty when there are none."""
    parts = [part for route in routes for part in route_parts(route)]
    if len(parts) == 1 and parts[0].startswith("("):
        parts = [parts[0][1:-1]]
    query = " OR ".join(parts)
    if query:
        parse(query)  # every part parsed on its own; a failure here is a bug in the joining
    return query
