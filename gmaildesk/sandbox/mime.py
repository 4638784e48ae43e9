"""Parse raw RFC 822 mail into Gmail API message shapes, and build outgoing mail.

Shape decisions, mirroring what Gmail returns:

* ``message/rfc822`` and ``message/global`` parts are containers: ``body`` is ``{"size": 0}``
  and there is one child part ``"<id>.0"`` carrying the embedded message's own headers and
  structure. They never get an ``attachmentId`` (their leaves do, as usual).
* Other ``message/*`` parts (delivery-status, disposition-notification, feedback-report) are
  leaves whose ``data`` is the report text.
* A leaf gets ``{"attachmentId", "size"}`` and no ``data`` when it has a filename or is not
  text/message/multipart (e.g. an unnamed inline image); otherwise ``{"size", "data"}``,
  with ``data`` omitted when the body is empty.
* ``data`` is padded URL-safe base64 of the body with its transfer encoding undone (bytes
  still in the part's own charset).
* ``text`` comes from the message's own parts only; text inside an attached message is not
  part of it. ``snippet`` is the first 200 characters of the whitespace-collapsed text,
  then HTML-escaped like Gmail.
"""

from __future__ import annotations

import base64
import binascii
import codecs
import hashlib
import io
import re
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email import policy as email_policy
from email.generator import BytesGenerator
from email.message import EmailMessage, Message
from email.parser import BytesParser
from email.utils import format_datetime, getaddresses, parseaddr, parsedate_to_datetime
from functools import cached_property
from html.parser import HTMLParser
from typing import Any

__all__ = [
    "Address",
    "ParsedMessage",
    "parse",
    "normalize_subject",
    "build_message",
    "make_message_id",
    "b64url_encode",
    "b64url_decode",
    "decode_words",
    "html_to_text",
    "SNIPPET_CHARS",
    "ATTACHMENT_ID_PREFIX",
]

SNIPPET_CHARS = 200
ATTACHMENT_ID_PREFIX = "ANGjdJ"
_MAX_DEPTH = 50  # Gmail-like nesting cap; also keeps pathological mail from hitting recursion limits
_EMBEDDED = ("message/rfc822", "message/global")
# compat32 never raises on malformed mail and keeps raw header text, which we decode ourselves.
_PARSER = BytesParser(policy=email_policy.compat32)

# ---------------------------------------------------------------- charsets and headers

# Labels Python does not know, mapped to the codec senders actually meant.
_LABEL_ALIASES = {
    "iso-8859-8-i": "iso-8859-8",
    "unicode-1-1-utf-7": "utf-7",
    "x-user-defined": "cp1252",
    "cp-850": "cp850",
    "utf8mb4": "utf-8",
}
# Mail labelled with a legacy charset is usually written in its Windows/GB superset.
_WIDER = {"iso8859-1": "cp1252", "euc_kr": "cp949", "gb2312": "gb18030", "gbk": "gb18030", "ascii": None}
_SURROGATES = re.compile("[\udc80-\udcff]")
_ENCODED_WORD = re.compile(r"=\?([^?\s]+)\?([bBqQ])\?([^?]*)\?=")
_FOLD = re.compile(r"\r?\n(?=[ \t])|\r(?=[ \t])")


def _codec(charset: str | None) -> str | None:
    """Python codec for a MIME charset label; None when absent, ASCII or unknown."""
    if not charset:
        return None
    label = str(charset).strip().strip("\"'").split("*", 1)[0].lower()
    label = _LABEL_ALIASES.get(label, label)
    try:
        info = codecs.lookup(label)
    except (LookupError, ValueError):
        return None
    if not getattr(info, "_is_text_encoding", True):  # 'base64', 'rot13' are not charsets
        return None
    return _WIDER.get(info.name, info.name)


def _decode_bytes(data: bytes, charset: str | None = None, hint: str | None = None) -> str:
    """Decode with the declared charset; unlabelled 8-bit text is UTF-8, else `hint`, else cp1252."""
    codec = _codec(charset)
    if codec:
        try:
            return data.decode(codec, errors="replace")
        except Exception:  # some codecs (utf-7, iso-2022) raise odd errors on garbage
            return data.decode("utf-8", errors="replace")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return _decode_bytes(data, hint) if _codec(hint) else data.decode("cp1252", errors="replace")


def _unescape(text: str, hint: str | None = None) -> str:
    """Undo the parser's surrogateescape of raw 8-bit header bytes."""
    text = str(text)
    if not _SURROGATES.search(text):
        return text
    return _decode_bytes(text.encode("utf-8", "surrogateescape"), hint=hint)


def _word_bytes(encoding: str, text: str) -> bytes | None:
    if encoding in "bB":
        text = re.sub(r"[^A-Za-z0-9+/]", "", text)
        try:
            return base64.b64decode(text + "=" * (-len(text) % 4))
        except (binascii.Error, ValueError):
            return None
    return binascii.a2b_qp(text.encode("utf-8", "replace"), header=True)


def decode_words(value: str) -> str:
    """Decode RFC 2047 encoded-words, leniently (adjacent words, split multibyte chars)."""
    if "=?" not in value:
        return value
    out: list[str] = []
    run, run_cs, pos = b"", "", 0

    def flush() -> None:
        nonlocal run, run_cs
        if run_cs:
            out.append(_decode_bytes(run, run_cs))
        run, run_cs = b"", ""

    for m in _ENCODED_WORD.finditer(value):
        gap = value[pos : m.start()]
        # Whitespace between two encoded-words is folding, not text (RFC 2047 §6.2).
        if gap and not (run_cs and gap.isspace()):
            flush()
            out.append(gap)
        pos = m.end()
        data, charset = _word_bytes(m.group(2), m.group(3)), m.group(1).lower()
        if data is None:
            flush()
            out.append(m.group(0))
            continue
        if charset != run_cs:
            flush()  # same-charset words are joined as bytes: senders split characters across them
        run, run_cs = run + data, charset
    flush()
    out.append(value[pos:])
    return "".join(out)


def _unfold(value: Any, hint: str | None = None) -> str:
    return _FOLD.sub("", _unescape(value, hint)).replace("\r", "").replace("\n", "")


def _clean(value: Any) -> str:
    return decode_words(_unfold(value)).strip()


def _headers(part: Message, hint: str | None = None) -> list[tuple[str, str]]:
    return [(_unescape(k).strip(), _clean(_unfold(v, hint))) for k, v in part.raw_items()]


def _raw_values(part: Message, name: str, hint: str | None = None) -> list[str]:
    return [_unfold(v, hint) for k, v in part.raw_items() if k.strip().lower() == name]


# ---------------------------------------------------------------- header fields


@dataclass(frozen=True)
class Address:
    name: str
    email: str


def _addresses(values: list[str]) -> tuple[Address, ...]:
    # Encoded-words often hide ',' or '"' (=?..?Q?Doe,=20John?=); shield them from the
    # address parser and decode them afterwards.
    words: list[str] = []

    def stash(m: re.Match[str]) -> str:
        words.append(m.group(0))
        return f"\ue000{len(words) - 1}\ue001"

    def restore(text: str) -> str:
        return re.sub("\ue000(\\d+)\ue001", lambda m: words[int(m.group(1))], text)

    try:
        pairs = getaddresses([_ENCODED_WORD.sub(stash, v) for v in values])
    except Exception:
        return ()
    found = (Address(decode_words(restore(n)).strip(), restore(a).strip().strip("<>").lower()) for n, a in pairs)
    return tuple(a for a in found if a.name or a.email)


_MSG_ID = re.compile(r"<[^<>]*>")


def _message_ids(values: list[str]) -> tuple[str, ...]:
    ids = (re.sub(r"\s+", "", m) for v in values for m in _MSG_ID.findall(v))
    return tuple(i for i in ids if len(i) > 2)


def _message_id(values: list[str]) -> str | None:
    if not values:
        return None
    ids = _message_ids(values[:1])
    if ids:
        return ids[0]
    bare = re.sub(r"\s+", "", values[0]).strip("<>")
    return f"<{bare}>" if bare else None


def _date_ms(values: list[str]) -> int | None:
    if not values:
        return None
    try:
        when = parsedate_to_datetime(values[0].strip())
        if when.tzinfo is None:  # '-0000' means "zone unknown"; treat as UTC
            when = when.replace(tzinfo=UTC)
        return int(when.timestamp() * 1000)
    except Exception:
        return None


# ---------------------------------------------------------------- MIME structure


def _ctype(part: Message) -> str:
    try:
        return _unescape(part.get_content_type()).lower()
    except Exception:
        return "text/plain"


def _charset(part: Message) -> str | None:
    try:
        charset = part.get_content_charset()
    except Exception:
        return None
    return _unescape(charset) if charset else None


def _filename(part: Message) -> str:
    try:
        name = part.get_filename()
    except Exception:
        return ""
    return decode_words(_unfold(name)).strip() if name else ""


def _children(part: Message, depth: int) -> list[Message] | None:
    """Sub-parts shown as Gmail `parts`, or None for a leaf."""
    if depth >= _MAX_DEPTH or not part.is_multipart():
        return None
    ctype = _ctype(part)
    if ctype.startswith("multipart/") or ctype in _EMBEDDED:
        return [p for p in part.get_payload() if isinstance(p, Message)]
    return None


def _child_id(part_id: str, index: int) -> str:
    return f"{part_id}.{index}" if part_id else str(index)


def _flatten(msg: Message, eol: str) -> bytes:
    buf = io.BytesIO()
    try:
        gen = BytesGenerator(buf, mangle_from_=False, maxheaderlen=0, policy=email_policy.compat32.clone(linesep=eol))
        gen.flatten(msg)
    except Exception:
        return b""
    return buf.getvalue()


def _leaf_bytes(part: Message, eol: str = "\n") -> bytes:
    payload = part.get_payload()
    if isinstance(payload, list):
        # The parser splits message/delivery-status (and other message/*) into header
        # blocks; Gmail shows them as one text body, so re-serialise the blocks.
        if not _ctype(part).startswith("message/"):
            return b""
        data = b"".join(_flatten(p, eol) for p in payload if isinstance(p, Message))
        # Each block is flattened with its own trailing blank line; the last one is not body.
        return data[: -len(eol)] if data.endswith(2 * eol.encode()) else data
    try:
        decoded = part.get_payload(decode=True)
    except Exception:
        decoded = None
    if not isinstance(decoded, bytes):  # None when the part cannot be decoded
        return str(payload or "").encode("utf-8", "surrogateescape")
    return decoded


def _is_attachment(part: Message, filename: str) -> bool:
    return bool(filename) or _ctype(part).split("/")[0] not in ("text", "message", "multipart")


def _walk(part: Message, part_id: str = "", depth: int = 0) -> Iterator[tuple[str, Message, bool]]:
    """(partId, part, is_leaf) in payload order."""
    children = _children(part, depth)
    yield part_id, part, children is None
    for i, sub in enumerate(children or ()):
        yield from _walk(sub, _child_id(part_id, i), depth + 1)


def _own_leaves(part: Message, depth: int = 0) -> Iterator[Message]:
    """Leaves of this message itself, not descending into attached messages."""
    children = _children(part, depth)
    if children is None:
        yield part
    elif _ctype(part) not in _EMBEDDED:
        for sub in children:
            yield from _own_leaves(sub, depth + 1)


class _HTMLText(HTMLParser):
    _SKIP = {"script", "style", "title", "template", "head"}
    _BLOCK = {
        "p",
        "div",
        "br",
        "tr",
        "li",
        "ul",
        "ol",
        "table",
        "blockquote",
        "pre",
        "hr",
        "h1",
        "h2",
        "h3",
        "h4",
        "h5",
        "h6",
        "section",
        "article",
        "header",
        "footer",
        "dd",
        "dt",
    }

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.out: list[str] = []
        self.skip = 0

    def handle_starttag(self, tag: str, attrs: Any) -> None:
        if tag == "body":
            self.skip = 0  # an unclosed <head> must not swallow the body
        elif tag in self._SKIP:
            self.skip += 1
        elif tag in self._BLOCK:
            self.out.append("\n")
        elif tag in ("td", "th"):
            self.out.append(" ")

    def handle_endtag(self, tag: str) -> None:
        if tag in self._SKIP:
            self.skip = max(0, self.skip - 1)
        elif tag in self._BLOCK:
            self.out.append("\n")

    def handle_data(self, data: str) -> None:
        if not self.skip:
            self.out.append(data)


def html_to_text(markup: str) -> str:
    """Readable text from HTML: tags, scripts and styles dropped, entities unescaped."""
    parser = _HTMLText()
    try:
        parser.feed(markup)
        parser.close()
        text = "".join(parser.out)
    except Exception:
        text = re.sub(r"<[^>]*>", " ", markup)
    lines = (" ".join(line.split()) for line in text.split("\n"))
    return re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip()


def _body_text(msg: Message) -> str:
    plain: list[str] = []
    rich: list[str] = []
    for leaf in _own_leaves(msg):
        ctype = _ctype(leaf)
        disposition = str(leaf.get("Content-Disposition", "")).split(";")[0].strip().lower()
        if ctype not in ("text/plain", "text/html") or _filename(leaf) or disposition == "attachment":
            continue
        text = _decode_bytes(_leaf_bytes(leaf), _charset(leaf))
        text = text.replace("\r\n", "\n").replace("\r", "\n")
        (plain if ctype == "text/plain" else rich).append(text)
    if any(t.strip() for t in plain):  # an empty plain alternative should not hide the HTML
        return "\n".join(plain)
    return "\n".join(html_to_text(h) for h in rich)


_INVISIBLE = re.compile("[\u00ad\u034f\u200b-\u200d\u2060\ufeff]")
_GMAIL_ESCAPES = str.maketrans({"&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;"})


def _snippet(text: str) -> str:
    flat = " ".join(_INVISIBLE.sub("", text).split())
    return flat[:SNIPPET_CHARS].rstrip().translate(_GMAIL_ESCAPES)


# ---------------------------------------------------------------- parsed message


@dataclass(frozen=True)
class ParsedMessage:
    raw: bytes
    headers: tuple[tuple[str, str], ...]
    message_id: str | None
    in_reply_to: tuple[str, ...]
    references: tuple[str, ...]
    subject: str
    from_: Address | None
    to: tuple[Address, ...]
    cc: tuple[Address, ...]
    bcc: tuple[Address, ...]
    reply_to: tuple[Address, ...]
    delivered_to: tuple[str, ...]
    date_ms: int | None
    list_id: str
    has_attachment: bool
    filenames: tuple[str, ...]
    text: str
    snippet: str
    _msg: Message = field(repr=False, compare=False)

    def header(self, name: str) -> str | None:
        """First value of the header, case-insensitive."""
        values = self.header_all(name)
        return values[0] if values else None

    def header_all(self, name: str) -> list[str]:
        wanted = name.lower()
        return [v for k, v in self.headers if k.lower() == wanted]

    @property
    def size(self) -> int:
        return len(self.raw)

    @cached_property
    def _digest(self) -> bytes:
        return hashlib.sha256(self.raw).digest()

    @cached_property
    def _eol(self) -> str:
        head = self.raw.split(b"\n\n", 1)[0]
        return "\r\n" if b"\r\n" in head else "\n"

    def attachment_id(self, part_id: str) -> str:
        """Stable attachmentId for a part of this message."""
        return ATTACHMENT_ID_PREFIX + hashlib.sha256(self._digest + part_id.encode()).hexdigest()

    def payload(self, format: str, metadata_headers: Sequence[str] | None = None) -> dict[str, Any]:
        """The Gmail `MessagePart` for format 'full' or 'metadata'."""
        if format == "full":
            return self._part(self._msg, "", 0, self.headers)
        if format != "metadata":
            raise ValueError(f"no payload for format {format!r}")
        wanted = {h.lower() for h in metadata_headers or ()}
        headers = [h for h in self.headers if not wanted or h[0].lower() in wanted]
        return {
            "partId": "",
            "mimeType": _ctype(self._msg),
            "filename": "",
            "headers": _header_dicts(headers),
            "body": {"size": 0},
        }

    def _part(
        self, part: Message, part_id: str, depth: int, headers: Sequence[tuple[str, str]] | None = None
    ) -> dict[str, Any]:
        filename = _filename(part)
        node: dict[str, Any] = {
            "partId": part_id,
            "mimeType": _ctype(part),
            "filename": filename,
            "headers": _header_dicts(headers if headers is not None else _headers(part)),
        }
        children = _children(part, depth)
        if children is not None:
            node["body"] = {"size": 0}
            node["parts"] = [self._part(sub, _child_id(part_id, i), depth + 1) for i, sub in enumerate(children)]
            return node
        data = _leaf_bytes(part, self._eol)
        if _is_attachment(part, filename):
            node["body"] = {"attachmentId": self.attachment_id(part_id), "size": len(data)}
        else:
            node["body"] = {"size": len(data), "data": b64url_encode(data)} if data else {"size": 0}
        return node

    def attachment(self, attachment_id: str) -> bytes | None:
        """Decoded bytes of the part carrying this attachmentId, or None."""
        for part_id, part, leaf in _walk(self._msg):
            if leaf and _is_attachment(part, _filename(part)) and self.attachment_id(part_id) == attachment_id:
                return _leaf_bytes(part, self._eol)
        return None


def _header_dicts(headers: Sequence[tuple[str, str]]) -> list[dict[str, str]]:
    return [{"name": name, "value": value} for name, value in headers]


def _hint_charset(msg: Message) -> str | None:
    """The body's charset: the best guess for raw 8-bit bytes in the top-level headers."""
    return next((cs for leaf in _own_leaves(msg) if (cs := _charset(leaf))), None)


def _build(raw: bytes, msg: Message) -> ParsedMessage:
    hint = _hint_charset(msg)

    def values(name: str) -> list[str]:
        return _raw_values(msg, name, hint)

    from_ = _addresses(values("from"))
    filenames = tuple(name for _, part, _ in _walk(msg) if (name := _filename(part)))
    text = _body_text(msg)
    delivered = (a.email for a in _addresses(values("delivered-to")))
    subject, list_id = values("subject"), values("list-id")
    return ParsedMessage(
        raw=raw,
        headers=tuple(_headers(msg, hint)),
        message_id=_message_id(values("message-id")),
        in_reply_to=_message_ids(values("in-reply-to")),
        references=_message_ids(values("references")),
        subject=_clean(subject[0]) if subject else "",
        from_=from_[0] if from_ else None,
        to=_addresses(values("to")),
        cc=_addresses(values("cc")),
        bcc=_addresses(values("bcc")),
        reply_to=_addresses(values("reply-to")),
        delivered_to=tuple(d for d in delivered if d),
        date_ms=_date_ms(values("date")),
        list_id=_clean(list_id[0]) if list_id else "",
        has_attachment=bool(filenames),
        filenames=filenames,
        text=text,
        snippet=_snippet(text),
        _msg=msg,
    )


_HEADER_LINE = re.compile(rb"[!-9;-~]+[ \t]*:")
_BLANK_LINE = re.compile(rb"\r?\n\r?\n")


def _repair_headers(raw: bytes) -> bytes:
    """Mend header blocks whose continuation lines lost their leading whitespace.

    The stdlib parser ends the headers at the first such line, hiding From/Subject below it.
    Such lines between two real headers become continuations; one junk line above the first
    header (e.g. '---- Original message ----', but not an mbox 'From ' line) is dropped.
    """
    raw = raw.removeprefix(codecs.BOM_UTF8)  # files saved by Windows editors
    blank = _BLANK_LINE.search(raw)
    head = raw[: blank.start()] if blank else raw
    lines = head.split(b"\n")
    named = [bool(_HEADER_LINE.match(line)) for line in lines]
    if named.count(True) < 2 or all(named):
        return raw
    first, last = named.index(True), len(named) - 1 - named[::-1].index(True)
    if first > 1 or (first == 1 and lines[0].startswith(b"From ")):
        first = 0  # more than one line of prose above: not a header block we should touch
    fixed = [
        b" " + line if first < i < last and not named[i] and line[:1] not in b" \t" else line
        for i, line in enumerate(lines)
        if i >= first
    ]
    return raw if fixed == lines else b"\n".join(fixed) + raw[len(head) :]


def parse(raw: bytes) -> ParsedMessage:
    """Parse raw RFC 822 bytes; never raises on malformed mail."""
    raw = bytes(raw)
    for headers_only in (False, True):
        try:
            return _build(raw, _PARSER.parsebytes(_repair_headers(raw), headersonly=headers_only))
        except Exception:  # guards absurd nesting (RecursionError) in the stdlib parser
            continue
    return _build(raw, Message())


# ---------------------------------------------------------------- subjects


_SUBJECT_PREFIX = re.compile(
    r"""^\s*(?:
        \[[^\]]*\]                                   # list tag: [support]
      | (?:re|fwd?|aw|wg|tr|rv|sv|vs|antw|doorst|r[ée]f|odp|pd|ynt|enc|res|vl)
        \s*(?:\[\d+\]|\(\d+\)|\^\d+)?\s*[:：]         # Re:, Re[2]:, RE :, fullwidth colon
      | (?:回复|回覆|转发|轉寄|答复|答覆)\s*[:：]
        # Auto-replies that reference the message (Exchange/Outlook, most MTAs) land in
        # the conversation in Gmail although their subject gains this prefix.
      | (?:automatic\s+reply|auto(?:matic)?[\s-]*reply|autoreply|out\s+of\s+(?:the\s+)?office
          |r[ée]ponse\s+automatique|automatische\s+antwort|abwesend|respuesta\s+autom[áa]tica
          |risposta\s+automatica|automatisch\s+antwoord)\s*[:：]
    )""",
    re.IGNORECASE | re.VERBOSE,
)


def normalize_subject(subject: str) -> str:
    """Subject without reply/forward prefixes and list tags, whitespace-collapsed, casefolded."""
    text = " ".join(str(subject or "").split())
    while True:
        stripped = _SUBJECT_PREFIX.sub("", text, count=1)
        if stripped == text:
            break
        text = stripped
    return " ".join(text.split()).casefold()


# ---------------------------------------------------------------- building mail and base64url


def make_message_id(domain: str) -> str:
    """A new globally unique '<id@domain>'."""
    return f"<{uuid.uuid4().hex}@{domain or 'localhost'}>"


def build_message(
    *,
    from_: str,
    to: Sequence[str],
    subject: str,
    text: str,
    html: str | None = None,
    cc: Sequence[str] = (),
    in_reply_to: str | None = None,
    references: Sequence[str] = (),
    extra_headers: Sequence[tuple[str, str]] = (),
    date_ms: int,
    message_id: str | None = None,
) -> bytes:
    """RFC 5322 bytes (CRLF, RFC 2047 headers, UTF-8 quoted-printable bodies)."""
    msg = EmailMessage(policy=email_policy.SMTP)
    msg["From"] = from_
    if to:
        msg["To"] = ", ".join(to)
    if cc:
        msg["Cc"] = ", ".join(cc)
    msg["Subject"] = subject
    msg["Date"] = format_datetime(datetime.fromtimestamp(date_ms / 1000, tz=UTC))
    msg["Message-ID"] = message_id or make_message_id(parseaddr(from_)[1].rpartition("@")[2])
    if in_reply_to:
        msg["In-Reply-To"] = in_reply_to
    if references:
        msg["References"] = " ".join(references)
    for name, value in extra_headers:
        msg[name] = value
    msg.set_content(text, cte="quoted-printable")
    if html is not None:
        msg.add_alternative(html, subtype="html", cte="quoted-printable")
    return msg.as_bytes()


def b64url_encode(data: bytes) -> str:
    """URL-safe base64 with padding, as Gmail returns `raw` and `data`."""
    return base64.urlsafe_b64encode(bytes(data)).decode("ascii")


def b64url_decode(text: str | bytes) -> bytes:
    """Decode base64url leniently: missing padding, standard alphabet, whitespace."""
    if isinstance(text, (bytes, bytearray)):
        text = bytes(text).decode("ascii", "replace")
    cleaned = re.sub(r"\s+", "", text).rstrip("=").replace("+", "-").replace("/", "_")
    return base64.urlsafe_b64decode(cleaned + "=" * (-len(cleaned) % 4))
