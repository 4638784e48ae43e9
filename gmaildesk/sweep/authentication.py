"""Whether Gmail authenticated a message's From domain, read from its Authentication-Results.

Gmail records SPF, DKIM and DMARC on inbound mail in a header whose authserv-id is
mx.google.com, as any message's "Show original" in Gmail shows (format: RFC 8601 §2.2), e.g.

    Authentication-Results: mx.google.com;
           dkim=pass header.i=@example.com header.s=20230601 header.b=Ab12;
           spf=pass (google.com: domain of a@example.com designates 192.0.2.1 as permitted sender)
               smtp.mailfrom=a@example.com;
           dmarc=pass (p=NONE sp=NONE dis=NONE) header.from=example.com

Anyone can write such a header into the mail they send. RFC 8601 §5: only results added by
one's own border MTA count, and that MTA adds its header on top; so the topmost header with
Gmail's authserv-id is the only one read, and any below it (a forger's own) are ignored.
"""

from __future__ import annotations

import re

from gmaildesk.sweep.headers import Headers

__all__ = ["GMAIL_AUTHSERV_ID", "gmail_results", "from_domain_authenticated"]

GMAIL_AUTHSERV_ID = "mx.google.com"
# Gmail's own header is a few hundred characters; nothing past this is read.
_MAX_TEXT = 16 * 1024
_SPECIAL = re.compile(r'[\\"()]')

Result = tuple[str, str, dict[str, str]]  # (method, result, {ptype.property: value})


def _without_comments(value: str) -> str:
    """The header with its (nested) comments removed, quoted strings kept; one linear pass."""
    out: list[str] = []
    start = depth = 0
    quoted = False
    escaped_at = -1
    for found in _SPECIAL.finditer(value):
        ch, at = found.group(), found.start()
        if at == escaped_at:
            continue
        if ch == "\\":
            escaped_at = at + 1
        elif quoted:
            quoted = ch != '"'
        elif ch == '"' and not depth:
            quoted = True
        elif ch == "(":
            if not depth:
                out.append(value[start:at])
            depth += 1
        elif ch == ")" and depth:
            depth -= 1
            if not depth:
                start = at + 1
                out.append(" ")
    if not depth:
        out.append(value[start:])
    return "".join(out)


def _parse(value: str) -> tuple[str, list[Result]]:
    """(authserv-id, results) of one Authentication-Results value (RFC 8601 §2.2)."""
    parts = _without_comments(value[:_MAX_TEXT]).split(";")
    head = parts[0].split()
    authserv_id = head[0].lower() if head else ""
    results: list[Result] = []
    for part in parts[1:]:
        tokens = part.split()
        if not tokens or "=" not in tokens[0]:
            continue  # "none": no checks were made
        method, _, result = tokens[0].partition("=")
        props: dict[str, str] = {}
        for token in tokens[1:]:
            name, eq, prop = token.partition("=")
            if eq:
                props.setdefault(name.lower(), prop.strip('"').lower())
        results.append((method.split("/")[0].lower(), result.lower(), props))
    return authserv_id, results


def gmail_results(h: Headers) -> list[Result] | None:
    """The results in the topmost Authentication-Results Gmail added; None when there is none."""
    for value in h.get_all("Authentication-Results"):
        authserv_id, results = _parse(value)
        if authserv_id == GMAIL_AUTHSERV_ID:
            return results
    return None


def _domain(value: str) -> str:
    """The domain of "a@example.com", "@example.com" or "example.com": "example.com"."""
    return value.rpartition("@")[2].strip().strip(".").lower()


def _aligned(checked: str, from_domain: str) -> bool:
    """DMARC's relaxed alignment (RFC 7489 §3.1), kept on the safe side without a public-suffix list:
    the same domain, or one a subdomain of the other where the parent has at least two labels
    (so a signature by a bare suffix such as "co.uk" never vouches for a From under it)."""
    if not checked or not from_domain:
        return False
    if checked == from_domain:
        return True
    parent, child = sorted((checked, from_domain), key=len)
    return child.endswith("." + parent) and parent.count(".") >= 1


def from_domain_authenticated(h: Headers, from_domain: str) -> bool:
    """Gmail vouches that mail claiming `from_domain` in From really comes from it.

    dmarc=pass for that header.from, or both spf=pass and dkim=pass aligned with it.
    """
    results = gmail_results(h)
    if not results or not from_domain:
        return False
    from_domain = from_domain.lower()
    passed = [(method, props) for method, result, props in results if result == "pass"]
    if any(m == "dmarc" and _domain(p.get("header.from", "")) == from_domain for m, p in passed):
        return True
    spf = any(m == "spf" and _aligned(_domain(p.get("smtp.mailfrom", "")), from_domain) for m, p in passed)
    dkim = any(
        m == "dkim" and _aligned(_domain(p.get("header.d") or p.get("header.i", "")), from_domain) for m, p in passed
    )
    return spf and dkim
