"""Gmail search syntax (the ``q`` parameter): one parser and one evaluator.

The sandbox uses it for messages.list/threads.list and for filters applied on
delivery; the desk config validator uses it to check filter criteria offline.
Parsing is stricter than Gmail on purpose: Gmail silently treats an unknown
``frm:bob`` or ``larger:abc`` as text and matches nothing, which in a desk
config is a bug we would rather report. Every operator and value on Google's
list (Gmail Help, "Search operators you can use with Gmail",
support.google.com/mail/answer/7190) parses; what the sandbox cannot model
(snoozing, muting, superstars, the purchases/reservations categories) matches
nothing rather than being refused.
"""

from __future__ import annotations

import datetime as _dt
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from email.utils import getaddresses
from functools import lru_cache
from typing import Any

__all__ = [
    "QuerySyntaxError",
    "SearchDoc",
    "Node",
    "Everything",
    "Term",
    "Phrase",
    "Near",
    "Op",
    "And",
    "Or",
    "Not",
    "parse",
    "matches",
    "search",
    "mentions_spam_or_trash",
    "normalize_label_name",
]


class QuerySyntaxError(ValueError):
    """A query Gmail would not understand; ``position`` is a 0-based index into ``query``."""

    def __init__(self, message: str, position: int, query: str) -> None:
        super().__init__(f"{message} (at position {position} in {query!r})")
        self.message = message
        self.position = position
        self.query = query


@dataclass(frozen=True)
class SearchDoc:
    """What a query can see of one message."""

    from_: str = ""
    to: str = ""
    cc: str = ""
    bcc: str = ""
    delivered_to: str = ""
    subject: str = ""
    list_id: str = ""
    body: str = ""
    filenames: tuple[str, ...] = ()
    has_attachment: bool = False
    size: int = 0
    internal_date_ms: int = 0
    message_id: str = ""  # the Message-ID header, angle brackets included or not
    label_ids: frozenset[str] = frozenset()
    label_names: frozenset[str] = frozenset()


# --- AST -------------------------------------------------------------------


class Node:
    """Base of the immutable query tree; ``str(node)`` is a canonical query."""


@dataclass(frozen=True)
class Everything(Node):
    """The empty query."""

    def __str__(self) -> str:
        return ""


@dataclass(frozen=True)
class Term(Node):
    word: str

    def __str__(self) -> str:
        return self.word


@dataclass(frozen=True)
class Phrase(Node):
    text: str

    def __str__(self) -> str:
        return f'"{self.text}"'


@dataclass(frozen=True)
class Near(Node):
    """``left AROUND n right``: both within n words of each other; quoted, in that order (Help 7190:
    "Add quotes to find messages in which the word you put first stays first")."""

    left: str
    right: str
    distance: int
    ordered: bool = False

    def __str__(self) -> str:
        if self.ordered:
            return f'"{self.left} AROUND {self.distance} {self.right}"'
        return f"{_quoted_text(self.left)} AROUND {self.distance} {_quoted_text(self.right)}"


def _quoted_text(text: str) -> str:
    return f'"{text}"' if len(text.split()) > 1 else text


@dataclass(frozen=True)
class Op(Node):
    """``name:value``; ``arg`` is the value already parsed for matching."""

    name: str
    value: str
    arg: object = field(default=None, compare=False, repr=False)

    def __str__(self) -> str:
        quote = not self.value or any(c.isspace() or c in '(){}"|' for c in self.value)
        return f'{self.name}:"{self.value}"' if quote else f"{self.name}:{self.value}"


@dataclass(frozen=True)
class And(Node):
    children: tuple[Node, ...]

    def __str__(self) -> str:
        return " ".join(_wrapped(c) for c in self.children)


@dataclass(frozen=True)
class Or(Node):
    children: tuple[Node, ...]

    def __str__(self) -> str:
        return " OR ".join(_wrapped(c) for c in self.children)


@dataclass(frozen=True)
class Not(Node):
    child: Node

    def __str__(self) -> str:
        return "-" + _wrapped(self.child)


def _wrapped(node: Node) -> str:
    return f"({node})" if isinstance(node, (And, Or)) else str(node)


def _combine(cls: type[And | Or], items: list[Node]) -> Node:
    flat: list[Node] = []
    for item in items:
        flat.extend(item.children if isinstance(item, cls) else (item,))
    return flat[0] if len(flat) == 1 else cls(tuple(flat))


# --- operator values ---------------------------------------------------------

_SYSTEM_LABELS = {
    "inbox": "INBOX",
    "sent": "SENT",
    "draft": "DRAFT",
    "drafts": "DRAFT",
    "spam": "SPAM",
    "trash": "TRASH",
    "starred": "STARRED",
    "important": "IMPORTANT",
    "unread": "UNREAD",
    "chats": "CHAT",
    "chat": "CHAT",
}
_CATEGORIES = {
    "primary": "CATEGORY_PERSONAL",
    "personal": "CATEGORY_PERSONAL",
    "social": "CATEGORY_SOCIAL",
    "promotions": "CATEGORY_PROMOTIONS",
    "updates": "CATEGORY_UPDATES",
    "forums": "CATEGORY_FORUMS",
}
_UNMODELLED_CATEGORIES = {"purchases": "", "reservations": ""}  # no label id in the API: match nothing
_IS_VALUES = ("unread", "read", "starred", "important", "snoozed", "muted")
_STARS = (
    "yellow-star",
    "orange-star",
    "red-star",
    "purple-star",
    "blue-star",
    "green-star",
    "red-bang",
    "orange-guillemet",
    "yellow-bang",
    "green-check",
    "blue-info",
    "purple-question",
)
_HAS_VALUES = (
    "attachment",
    "drive",
    "document",
    "spreadsheet",
    "presentation",
    "youtube",
    "userlabels",
    "nouserlabels",
    *_STARS,
)
_DAY_MS = 86_400_000
# Gmail's relative-date units: a month is 30 days and a year 365; there is no hour unit.
_UNIT_MS = {"d": _DAY_MS, "m": 30 * _DAY_MS, "y": 365 * _DAY_MS}
_SIZE_UNITS = {"": 1, "k": 1024, "kb": 1024, "m": 1024**2, "mb": 1024**2}
_ALIASES = {"size": "larger", "older": "before", "newer": "after"}  # Gmail: size: means larger:
_WORD_RE = re.compile(r"\w+")


def _tokens(text: str) -> tuple[str, ...]:
    return tuple(_WORD_RE.findall(text.lower()))


def normalize_label_name(name: str) -> str:
    """Gmail lets ``label:dept-billing`` find "Dept/Billing" and ``label:my-label`` find "My Label"."""
    return re.sub(r"[\s/_\-]+", "-", name.strip().lower()).strip("-")


def _address_arg(value: str) -> tuple[str, Any]:  # ("domain" | "addr", str) or ("tokens", words)
    if value.startswith("@"):
        if not _tokens(value):
            raise ValueError("expected a domain after '@'")
        return ("domain", value[1:])
    if "@" in value:
        return ("addr", value)
    if not _tokens(value):
        raise ValueError("expected an address, domain or name")
    return ("tokens", _tokens(value))


def _label_arg(value: str) -> tuple[str, str]:
    if value == "anywhere":
        return ("any", "")
    if value in _SYSTEM_LABELS:
        return ("system", _SYSTEM_LABELS[value])
    if not normalize_label_name(value):
        raise ValueError("expected a label name")
    return ("user", normalize_label_name(value))


def _choice(options: dict[str, str] | tuple[str, ...]) -> Callable[[str], str]:
    def parse_choice(value: str) -> str:
        if value not in options:
            raise ValueError(f"expected one of {', '.join(options)}")
        return options[value] if isinstance(options, dict) else value

    return parse_choice


def _list_arg(value: str) -> tuple[str, ...]:
    # Gmail accepts list:dev@lists.example.org for <dev.lists.example.org>: compare words only.
    if not _tokens(value):
        raise ValueError("expected a mailing-list id such as dev.lists.example.org")
    return _tokens(value)


def _size_arg(value: str) -> int:
    m = re.fullmatch(r"(\d+)([a-z]*)", value)
    if not m or m.group(2) not in _SIZE_UNITS:
        raise ValueError("expected a size like 2000, 500K or 10M")
    return int(m.group(1)) * _SIZE_UNITS[m.group(2)]


def _age_arg(value: str) -> int:
    m = re.fullmatch(r"(\d+)([a-z])", value)
    if m and m.group(2) == "h":
        raise ValueError("Gmail has no hour unit; use d (days), m (months) or y (years)")
    if not m or m.group(2) not in _UNIT_MS:
        raise ValueError("expected a number and a unit d, m or y, e.g. 3d")
    return int(m.group(1)) * _UNIT_MS[m.group(2)]


# "All dates used in the search query are interpreted as midnight on that date in the PST timezone.
# To specify accurate dates for other timezones pass the value in seconds instead" (Gmail API guide,
# "Searching for messages", developers.google.com/workspace/gmail/api/guides/filtering). PST is taken
# literally, UTC-8 all year: whether Gmail moves with daylight saving time is not documented.
_PST = _dt.timezone(_dt.timedelta(hours=-8), "PST")


def _date_arg(value: str) -> int:
    if value.isdigit():
        return int(value) * 1000  # epoch seconds
    m = re.fullmatch(r"(\d{4})([/-])(\d{1,2})\2(\d{1,2})", value)
    try:
        if not m:
            raise ValueError
        day = _dt.datetime(int(m.group(1)), int(m.group(3)), int(m.group(4)), tzinfo=_PST)
    except ValueError:
        raise ValueError("expected a date YYYY/MM/DD, YYYY-MM-DD or epoch seconds") from None
    return int(day.timestamp()) * 1000


_VALUE_PARSERS: dict[str, Callable[[str], Any]] = {
    "from": _address_arg,
    "to": _address_arg,
    "cc": _address_arg,
    "bcc": _address_arg,
    "deliveredto": _address_arg,
    "subject": lambda v: v,
    "filename": lambda v: v,
    "list": _list_arg,
    "label": _label_arg,
    "in": _label_arg,
    "is": _choice(_IS_VALUES),
    "has": _choice(_HAS_VALUES),
    "category": _choice(_CATEGORIES | _UNMODELLED_CATEGORIES),
    "larger": _size_arg,
    "smaller": _size_arg,
    "newer_than": _age_arg,
    "older_than": _age_arg,
    "after": _date_arg,
    "before": _date_arg,
    "rfc822msgid": lambda v: v.strip("<>"),
}
_CASE_SENSITIVE = frozenset({"rfc822msgid"})  # a Message-ID is matched exactly
OPERATORS = frozenset(_VALUE_PARSERS) | frozenset(_ALIASES)


def _make_op(name: str, value: str) -> Op:
    """Raises ValueError with a message about the value; the parser adds the position."""
    name = _ALIASES.get(name, name)
    value = value.strip() if name in _CASE_SENSITIVE else " ".join(value.lower().split())
    return Op(name, value, _VALUE_PARSERS[name](value))


# --- lexer ------------------------------------------------------------------


@dataclass
class _Tok:
    kind: str  # ( ) { } OR AND NOT WORD PHRASE OP OPGROUP
    text: str
    pos: int
    name: str = ""  # operator name for OP / OPGROUP
    vpos: int = 0  # where an OP's value starts


_BARE_RE = re.compile(r'[^\s(){}"|]+')
_OPNAME_RE = re.compile(r"(rfc822msgid|[A-Za-z_]+):", re.IGNORECASE)


def _read_quoted(query: str, start: int) -> tuple[str, int]:
    end = query.find('"', start + 1)
    if end < 0:
        raise QuerySyntaxError("unterminated quote", start, query)
    return query[start + 1 : end], end + 1


def _lex(query: str) -> list[_Tok]:
    toks: list[_Tok] = []
    i, n = 0, len(query)
    while i < n:
        c = query[i]
        if c.isspace():
            i += 1
        elif c in "(){}|":
            toks.append(_Tok("OR" if c == "|" else c, c, i))
            i += 1
        elif c == '"':
            text, end = _read_quoted(query, i)
            if not text.strip():
                raise QuerySyntaxError("empty quoted phrase", i, query)
            toks.append(_Tok("PHRASE", text, i))
            i = end
        elif c == "-":
            if i + 1 == n or query[i + 1].isspace():
                raise QuerySyntaxError("'-' must be followed directly by a term", i, query)
            toks.append(_Tok("NOT", c, i))
            i += 1
        else:
            i = _lex_word(query, i, toks)
    return toks


def _lex_word(query: str, i: int, toks: list[_Tok]) -> int:
    bare = _BARE_RE.match(query, i)
    assert bare is not None  # the lexer calls this only where a bare word starts
    word = bare.group()
    m = _OPNAME_RE.match(word)
    # "10:30" is not an operator (prefix not letters); neither is a URL's "http://".
    if not m or word[m.end() :].startswith("//"):
        kind = word if word in ("OR", "AND") else "WORD"
        toks.append(_Tok(kind, word, i))
        return i + len(word)
    name, vpos = m.group(1).lower(), i + m.end()
    if name not in OPERATORS:
        raise QuerySyntaxError(f"unknown search operator '{m.group(1)}:'", i, query)
    nxt = query[vpos] if vpos < len(query) else ""
    if nxt in ("(", "{"):
        toks.append(_Tok("OPGROUP", word, i, name))
        return vpos
    if nxt == '"':
        value, end = _read_quoted(query, vpos)
    else:
        value, end = word[m.end() :], i + len(word)
    if not value.strip():
        raise QuerySyntaxError(f"operator '{m.group(1)}:' needs a value", i, query)
    toks.append(_Tok("OP", value, i, name, vpos))
    return end


# --- parser -----------------------------------------------------------------
# Gmail precedence: '-' binds tightest, then OR, then AND (explicit or implicit),
# so "a b OR c" is a AND (b OR c).

_CLOSERS = (")", "}")
_ORDERED_NEAR = re.compile(r"(\S.*?) AROUND (\d+) (\S.*)")  # inside quotes, AROUND keeps the order
_MAX_DEPTH = 100  # of nested groups and '-'; deeper input is an error, not a RecursionError
_NOT_A_TERM = _CLOSERS + ("OR", "AND")


class _Parser:
    def __init__(self, query: str) -> None:
        self.query = query
        self.toks = _lex(query)
        self.i = 0
        self.depth = 0
        self.op_ctx = ""  # inside from:( ... ) every bare word/phrase becomes from:word

    def error(self, message: str, pos: int) -> QuerySyntaxError:
        return QuerySyntaxError(message, pos, self.query)

    def peek(self) -> _Tok | None:
        return self.toks[self.i] if self.i < len(self.toks) else None

    def take(self) -> _Tok:
        self.i += 1
        return self.toks[self.i - 1]

    def parse(self) -> Node:
        items = self.and_items()
        tok = self.peek()
        if tok is not None:
            raise self.error(f"unmatched '{tok.text}'", tok.pos)
        return _combine(And, items) if items else Everything()

    def and_items(self) -> list[Node]:
        items: list[Node] = []
        while (tok := self.peek()) is not None and tok.kind not in _CLOSERS:
            if tok.kind == "AND":
                self.take()
                nxt = self.peek()
                if not items or nxt is None or nxt.kind in _NOT_A_TERM:
                    raise self.error("AND needs a term on each side", tok.pos)
                continue
            items.append(self.or_expr())
        return items

    def or_expr(self) -> Node:
        first = self.peek()
        if first is not None and first.kind == "OR":
            raise self.error(f"{first.text} needs a term on each side", first.pos)
        parts = [self.unary()]
        while (tok := self.peek()) is not None and tok.kind == "OR":
            self.take()
            nxt = self.peek()
            if nxt is None or nxt.kind in _NOT_A_TERM:
                raise self.error(f"{tok.text} needs a term on each side", tok.pos)
            parts.append(self.unary())
        return _combine(Or, parts)

    def unary(self) -> Node:
        tok = self.take()
        self.depth += 1
        if self.depth > _MAX_DEPTH:
            raise self.error("query is nested too deeply", tok.pos)
        if tok.kind == "NOT":
            nxt = self.peek()
            if nxt is None or nxt.kind in _NOT_A_TERM:
                raise self.error("'-' must be followed directly by a term", tok.pos)
            node: Node = Not(self.unary())
        else:
            node = self.primary(tok)
        self.depth -= 1
        return node

    def primary(self, tok: _Tok) -> Node:
        if tok.kind in ("(", "{"):
            return self.group(tok)
        if tok.kind in ("OP", "OPGROUP") and self.op_ctx:
            raise self.error(f"operator '{tok.name}:' cannot be used inside '{self.op_ctx}:(...)'", tok.pos)
        if tok.kind == "OP":
            return self.op(tok.name, tok.text, tok.vpos)
        if tok.kind == "OPGROUP":
            self.op_ctx = tok.name
            node = self.group(self.take())
            self.op_ctx = ""
            return node
        if self.op_ctx:
            return self.op(self.op_ctx, tok.text, tok.pos)
        if tok.kind == "PHRASE":
            ordered = _ORDERED_NEAR.fullmatch(" ".join(tok.text.split()))
            if ordered:
                return Near(ordered.group(1).lower(), ordered.group(3).lower(), int(ordered.group(2)), ordered=True)
            text = " ".join(tok.text.lower().split())
            return self.around(text, Phrase(text))
        # Gmail's "+word" means "exactly this word", which is how every word matches here.
        word = tok.text.lower().lstrip("+") or tok.text
        return self.around(word, Term(word))

    def around(self, left: str, node: Node) -> Node:
        """``left AROUND n right``; an AROUND without a number and a term after it is a plain word."""
        around, number, right = (self.toks[self.i : self.i + 3] + [None, None, None])[:3]
        if not (
            around
            and around.kind == "WORD"
            and around.text == "AROUND"
            and number
            and number.kind == "WORD"
            and number.text.isdigit()
            and right
            and right.kind in ("WORD", "PHRASE")
        ):
            return node
        self.i += 3
        right_text = " ".join(right.text.lower().split()) if right.kind == "PHRASE" else right.text.lower().lstrip("+")
        return Near(left, right_text, int(number.text))

    def group(self, opener: _Tok) -> Node:
        closer = ")" if opener.kind == "(" else "}"
        if closer == ")":
            items = self.and_items()
        else:  # {a b} means a OR b
            items = []
            while (tok := self.peek()) is not None and tok.kind not in _CLOSERS:
                if tok.kind == "AND":
                    raise self.error("AND cannot be used inside { }", tok.pos)
                items.append(self.or_expr())
        tok = self.peek()
        if tok is None:
            raise self.error(f"unclosed '{opener.kind}'", opener.pos)
        if tok.kind != closer:
            raise self.error(f"unmatched '{tok.text}'", tok.pos)
        if not items:
            raise self.error(f"empty group '{opener.kind}{closer}'", opener.pos)
        self.take()
        return _combine(And if closer == ")" else Or, items)

    def op(self, name: str, value: str, pos: int) -> Op:
        try:
            return _make_op(name, value)
        except ValueError as exc:
            raise self.error(f"bad value {value!r} for {name}: {exc}", pos) from None


def parse(query: str) -> Node:
    """Parse a Gmail search query; an empty query matches everything."""
    return _Parser(query).parse()


_parse_cached = lru_cache(maxsize=512)(parse)


# --- evaluation -------------------------------------------------------------


@lru_cache(maxsize=2048)
def _text_re(text: str) -> re.Pattern[str]:
    words = text.split()
    # Gmail indexes words, not punctuation: "foo bar" also finds "foo-bar" and "foo,\nbar".
    body = r"\W+".join(map(re.escape, _tokens(text))) if len(words) > 1 and _tokens(text) else re.escape(text)
    return re.compile(rf"(?<!\w){body}(?!\w)", re.IGNORECASE)


@lru_cache(maxsize=2048)
def _addresses(header: str) -> tuple[tuple[tuple[str, ...], str], ...]:
    """(display-name tokens, lowercase address) per recipient in a header."""
    found = tuple((_tokens(name), addr.lower()) for name, addr in getaddresses([header]) if "@" in addr)
    if not found and header.strip():
        return ((_tokens(header), ""),)  # a bare name, e.g. "Ann Lee": keep all its words
    return found


def _has_run(haystack: tuple[str, ...], needle: tuple[str, ...]) -> bool:
    n = len(needle)
    return any(haystack[k : k + n] == needle for k in range(len(haystack) - n + 1))


def _address_matches(arg: tuple[str, Any], headers: tuple[str, ...]) -> bool:
    kind, want = arg
    for header in headers:
        for name_toks, addr in _addresses(header):
            domain = addr.rpartition("@")[2]
            if kind == "addr" and addr == want:
                return True
            if kind == "domain" and addr and (domain == want or domain.endswith("." + want)):
                return True
            if kind == "tokens" and (_has_run(_tokens(addr), want) or _has_run(name_toks, want)):
                return True
    return False


def _label_matches(arg: tuple[str, str], doc: SearchDoc) -> bool:
    kind, want = arg
    if kind == "any":
        return True
    if kind == "system":
        return want in doc.label_ids
    return any(normalize_label_name(name) == want for name in doc.label_names)


# Help 7190: has:drive/document/spreadsheet/presentation find "Google Drive, Docs, Sheets, or Slides
# attachments or links", has:youtube "a YouTube video"; the sandbox sees the links in the body.
_LINKS = {
    "drive": re.compile(r"\b(?:drive|docs)\.google\.com/", re.IGNORECASE),
    "document": re.compile(r"\bdocs\.google\.com/document/", re.IGNORECASE),
    "spreadsheet": re.compile(r"\bdocs\.google\.com/spreadsheets/", re.IGNORECASE),
    "presentation": re.compile(r"\bdocs\.google\.com/presentation/", re.IGNORECASE),
    "youtube": re.compile(r"\b(?:youtube\.com/watch|youtu\.be/)", re.IGNORECASE),
}


def _has(value: str, doc: SearchDoc) -> bool:
    if value == "attachment":
        return doc.has_attachment
    if value in _LINKS:
        return bool(_LINKS[value].search(doc.body))
    if value in _STARS:
        # The API stars with STARRED only, which Gmail shows as the default star, the yellow one;
        # the other superstars are set in Gmail's UI, which the sandbox has not.
        return value == "yellow-star" and "STARRED" in doc.label_ids
    has_user = bool(doc.label_names) or any(i.startswith("Label_") for i in doc.label_ids)
    return has_user if value == "userlabels" else not has_user


def _list_matches(want: tuple[str, ...], list_id: str) -> bool:
    inner = re.search(r"<([^>]*)>", list_id)
    return _has_run(_tokens(inner.group(1) if inner else list_id), want)


_IS_LABEL = {"unread": "UNREAD", "starred": "STARRED", "important": "IMPORTANT"}
_UNMODELLED_STATES = ("snoozed", "muted")  # nothing in the API snoozes or mutes: no message is either


def _is(value: str, doc: SearchDoc) -> bool:
    if value in _UNMODELLED_STATES:
        return False
    return ("UNREAD" not in doc.label_ids) if value == "read" else _IS_LABEL[value] in doc.label_ids


# Each takes the operator's parsed arg (Op.arg: its type depends on the operator), the message and the time.
_OP_MATCHERS: dict[str, Callable[[Any, SearchDoc, int], bool]] = {
    "from": lambda a, d, now: _address_matches(a, (d.from_,)),
    # Gmail's to: (and filters' "To") also finds Cc and Bcc recipients.
    "to": lambda a, d, now: _address_matches(a, (d.to, d.cc, d.bcc)),
    "cc": lambda a, d, now: _address_matches(a, (d.cc,)),
    "bcc": lambda a, d, now: _address_matches(a, (d.bcc,)),
    "deliveredto": lambda a, d, now: _address_matches(a, (d.delivered_to,)),
    "subject": lambda a, d, now: bool(_text_re(a).search(d.subject)),
    "list": lambda a, d, now: _list_matches(a, d.list_id),
    "filename": lambda a, d, now: any(a in name.lower() for name in d.filenames),
    "label": lambda a, d, now: _label_matches(a, d),
    "in": lambda a, d, now: _label_matches(a, d),
    "category": lambda a, d, now: a in d.label_ids,
    "is": lambda a, d, now: _is(a, d),
    "has": lambda a, d, now: _has(a, d),
    "larger": lambda a, d, now: d.size > a,
    "smaller": lambda a, d, now: d.size < a,
    "newer_than": lambda a, d, now: d.internal_date_ms >= now - a,
    "older_than": lambda a, d, now: d.internal_date_ms < now - a,
    "after": lambda a, d, now: d.internal_date_ms >= a,
    "before": lambda a, d, now: d.internal_date_ms < a,
    "rfc822msgid": lambda a, d, now: bool(a) and d.message_id.strip().strip("<>") == a,
}


def _text_fields(doc: SearchDoc) -> tuple[str, ...]:
    return (doc.from_, doc.to, doc.cc, doc.bcc, doc.subject, doc.body, "\n".join(doc.filenames))


def _starts(haystack: tuple[str, ...], needle: tuple[str, ...]) -> list[int]:
    n = len(needle)
    return [k for k in range(len(haystack) - n + 1) if haystack[k : k + n] == needle]


def _near(node: Near, text: str) -> bool:
    """At most `distance` words between the two, the left one first when `ordered`."""
    words, left, right = _tokens(text), _tokens(node.left), _tokens(node.right)
    if not left or not right:
        return False
    for i in _starts(words, left):
        for j in _starts(words, right):
            if 0 <= j - (i + len(left)) <= node.distance:
                return True
            if not node.ordered and 0 <= i - (j + len(right)) <= node.distance:
                return True
    return False


def matches(node: Node, doc: SearchDoc, now_ms: int) -> bool:
    """Does the message ``doc`` satisfy the parsed query ``node`` at time ``now_ms``?"""
    if isinstance(node, And):
        return all(matches(c, doc, now_ms) for c in node.children)
    if isinstance(node, Or):
        return any(matches(c, doc, now_ms) for c in node.children)
    if isinstance(node, Not):
        return not matches(node.child, doc, now_ms)
    if isinstance(node, Op):
        return _OP_MATCHERS[node.name](node.arg, doc, now_ms)
    if isinstance(node, Near):
        return any(_near(node, text) for text in _text_fields(doc))
    if isinstance(node, (Term, Phrase)):
        pattern = _text_re(node.word if isinstance(node, Term) else node.text)
        return any(pattern.search(text) for text in _text_fields(doc))
    if isinstance(node, Everything):
        return True
    raise TypeError(f"not a query node: {node!r}")


def search(query: str, doc: SearchDoc, now_ms: int) -> bool:
    """``matches(parse(query), doc, now_ms)``, with parsed queries cached."""
    return matches(_parse_cached(query), doc, now_ms)


def mentions_spam_or_trash(node: Node) -> bool:
    """Gmail leaves spam and trash out of results unless the query names them (even negated)."""
    if isinstance(node, (And, Or)):
        return any(mentions_spam_or_trash(c) for c in node.children)
    if isinstance(node, Not):
        return mentions_spam_or_trash(node.child)
    return (
        isinstance(node, Op)
        and node.name in ("in", "label")
        and (node.arg == ("any", "") or node.arg in (("system", "SPAM"), ("system", "TRASH")))
    )
