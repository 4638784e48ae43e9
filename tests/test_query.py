"""Gmail search syntax: parser, evaluator, errors."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime

import pytest

from gmaildesk.gmail.query import (
    And,
    Everything,
    Not,
    Op,
    Or,
    Phrase,
    QuerySyntaxError,
    SearchDoc,
    Term,
    matches,
    mentions_spam_or_trash,
    normalize_label_name,
    parse,
    search,
)


def _ms(year: int, month: int, day: int, hour: int = 0) -> int:
    return int(datetime(year, month, day, hour, tzinfo=UTC).timestamp() * 1000)


def _arg(query: str) -> object:
    """The parsed value of a one-operator query."""
    node = parse(query)
    assert isinstance(node, Op)
    return node.arg


NOW = _ms(2024, 3, 20, 12)
DOC = SearchDoc(
    from_="Ann Lee <ann@customer.com>",
    to="Support Desk <support@desk.example.com>, bob@partner.org",
    cc="Carol <carol@cc.example.net>",
    bcc="dave@hidden.example",
    delivered_to="support@desk.example.com",
    subject="Invoice #42 overdue: please pay",
    list_id="Dev list <dev.lists.example.org>",
    body="Hello team,\nThe meeting is at 10:30 tomorrow.\nRegards, Ann",
    filenames=("Report-Q3.PDF", "notes.txt"),
    has_attachment=True,
    size=3 * 1024 * 1024,
    internal_date_ms=_ms(2024, 3, 15, 12),  # five days before NOW
    label_ids=frozenset({"INBOX", "UNREAD", "IMPORTANT", "CATEGORY_UPDATES", "Label_3"}),
    label_names=frozenset({"Dept/Billing", "My Label"}),
)

MATCH_CASES = [
    # empty query and plain words
    ("", True),
    ("   ", True),
    ("invoice", True),
    ("INVOICE", True),
    ("invoic", False),  # whole words only
    ("meeting", True),  # body
    ("carol", True),  # cc header
    ("ann@customer.com", True),  # address as a token
    ("customer.com", True),
    ("report", True),  # attachment name
    ("10:30", True),  # not an operator: prefix is not letters
    ("missing", False),
    ("or", False),  # lowercase "or" is just a word
    ("+invoice", True),  # Gmail's exact-word marker
    # phrases
    ('"please pay"', True),
    ('"pay please"', False),
    ('"meeting   is at"', True),  # whitespace-insensitive
    ('"the meeting is at 10:30"', True),
    ('"overdue please"', True),  # punctuation between words is ignored
    ('"Hello team"', True),  # across punctuation/newline
    # from:
    ("from:ann@customer.com", True),
    ("from:ANN@Customer.COM", True),
    ("FROM:ann", True),
    ("from:lee", True),  # display-name word
    ('from:"Ann Lee"', True),
    ("from:customer.com", True),
    ("from:@customer.com", True),
    ("from:@other.com", False),
    ("from:bob@customer.com", False),  # exact address only
    ("from:bob", False),
    ("-from:bob", True),
    ("-from:ann", False),
    # to:/cc:/bcc:/deliveredto:
    ("to:support@desk.example.com", True),
    ("to:bob@partner.org", True),
    ("to:carol", True),  # Gmail's to: also finds Cc ...
    ("to:dave@hidden.example", True),  # ... and Bcc recipients
    ("to:ann", False),
    ("cc:carol@cc.example.net", True),
    ("cc:bob", False),
    ("bcc:dave", True),
    ("bcc:carol", False),
    ("deliveredto:support@desk.example.com", True),
    ("deliveredto:bob@partner.org", False),
    ("to:example.com", True),  # subdomain desk.example.com
    ("from:@example.com", False),
    # subject:
    ("subject:invoice", True),
    ("subject:INVOICE", True),
    ("subject:meeting", False),  # body word, not subject
    ('subject:"please pay"', True),
    ("subject:(invoice overdue)", True),
    ("subject:(invoice meeting)", False),
    ("subject:{meeting overdue}", True),
    # list:
    ("list:dev.lists.example.org", True),
    ("list:example.org", True),
    ("list:dev@lists.example.org", True),
    ("list:other.example.org", False),
    # label:/in:
    ("label:dept-billing", True),
    ("label:Dept/Billing", True),
    ("label:my-label", True),
    ('label:"My Label"', True),
    ("label:my_label", True),
    ("label:dept", False),  # a parent name is not its child
    ("label:inbox", True),
    ("in:inbox", True),
    ("in:INBOX", True),
    ("in:sent", False),
    ("in:anywhere", True),
    ("in:dept-billing", True),
    ("in:spam", False),
    ("label:unread", True),
    # is:
    ("is:unread", True),
    ("is:read", False),
    ("is:important", True),
    ("is:starred", False),
    ("IS:UNREAD", True),
    # has:
    ("has:attachment", True),
    ("-has:attachment", False),
    ("has:userlabels", True),
    ("has:nouserlabels", False),
    # filename:
    ("filename:pdf", True),
    ("filename:report-q3.pdf", True),
    ("filename:txt", True),
    ("filename:doc", False),
    ("filename:report.pdf", False),
    # sizes (3 MiB)
    ("larger:2M", True),
    ("larger:3M", False),
    ("larger:2mb", True),
    ("smaller:4M", True),
    ("smaller:500K", False),
    ("smaller:500kb", False),
    ("larger:2000", True),
    ("size:1000000", True),
    ("size:4000000", False),
    # relative dates (message is 5 days old)
    ("newer_than:6d", True),
    ("newer_than:4d", False),
    ("older_than:4d", True),
    ("older_than:1m", False),
    ("newer_than:1m", True),
    ("newer_than:1y", True),
    ("NEWER_THAN:6D", True),
    # absolute dates (2024-03-15 12:00 UTC)
    ("after:2024/03/15", True),
    ("after:2024/03/16", False),
    ("before:2024/03/16", True),
    ("before:2024-03-15", False),
    ("after:2024-3-1 before:2024-4-1", True),
    (f"after:{_ms(2024, 3, 15) // 1000}", True),
    (f"before:{_ms(2024, 3, 15, 12) // 1000}", False),
    ("older:2024/03/16", True),
    ("newer:2024/03/16", False),
    # category:
    ("category:updates", True),
    ("category:UPDATES", True),
    ("category:social", False),
    ("category:primary", False),
    # boolean structure
    ("invoice missing", False),
    ("invoice OR missing", True),
    ("missing | invoice", True),
    ("missing|invoice", True),
    ("invoice AND meeting", True),
    ("invoice AND missing", False),
    ("{missing nothing}", False),
    ("{missing invoice}", True),
    ("-(missing invoice)", True),
    ("-(meeting invoice)", False),
    ("-{missing invoice}", False),
    ("missing invoice OR meeting", False),  # = missing AND (invoice OR meeting)
    ("(missing invoice) OR meeting", True),
    ("-missing OR nothing", True),  # '-' binds tighter than OR
    ("from:(bob OR ann)", True),
    ("from:(bob OR carol)", False),
    ("from:{bob ann}", True),
    ("from:(ann lee)", True),
    ("from:(ann -lee)", False),
    ("--invoice", True),
    ("-from:bob -label:spam", True),
    ('"10:30" subject:(#42)', True),
]


@pytest.mark.parametrize(("query", "expected"), MATCH_CASES)
def test_search_matches_like_gmail(query: str, expected: bool) -> None:
    assert search(query, DOC, NOW) is expected


def test_bare_name_header_and_empty_doc() -> None:
    doc = SearchDoc(from_="Ann Lee", label_ids=frozenset({"SPAM"}))
    assert search("from:lee", doc, NOW)
    assert search("has:nouserlabels", doc, NOW)
    assert not search("has:attachment", doc, NOW)
    assert search("in:spam", doc, NOW) and search("label:SPAM", doc, NOW)
    assert not search("from:ann@customer.com", SearchDoc(), NOW)


def test_has_userlabels_from_label_ids_alone() -> None:
    doc = dataclasses.replace(DOC, label_names=frozenset())
    assert search("has:userlabels", doc, NOW)
    doc = dataclasses.replace(doc, label_ids=frozenset({"INBOX"}))
    assert search("has:nouserlabels", doc, NOW)


def test_dates_are_midnight_in_pst_as_the_gmail_api_guide_says() -> None:
    midnight_pst = _ms(2024, 3, 15, 8)  # 2024-03-15 00:00 at UTC-8
    assert _arg("after:2024/03/15") == midnight_pst
    assert _arg("before:2024-3-15") == _arg(f"before:{midnight_pst // 1000}")
    day = SearchDoc(internal_date_ms=midnight_pst)
    assert search("after:2024/03/15", day, NOW)
    assert not search("before:2024/03/15", day, NOW)
    utc_morning = SearchDoc(internal_date_ms=_ms(2024, 3, 15, 7))  # the 15th in UTC, the 14th in California
    assert search("before:2024/03/15", utc_morning, NOW) and not search("after:2024/03/15", utc_morning, NOW)


def test_relative_units_are_gmail_months_and_years() -> None:
    day = 86_400_000
    assert [_arg(f"newer_than:{v}") for v in ("2d", "1m", "1y")] == [2 * day, 30 * day, 365 * day]
    edge = SearchDoc(internal_date_ms=NOW - 30 * day)
    assert search("newer_than:1m", edge, NOW) and not search("older_than:1m", edge, NOW)
    assert search("older_than:29d", edge, NOW)


def test_domain_matches_subdomains_but_not_lookalikes() -> None:
    doc = SearchDoc(from_="x@mail.example.com", to="y@notexample.com")
    assert search("from:@example.com", doc, NOW)
    assert search("from:example.com", doc, NOW)
    assert not search("to:@example.com", doc, NOW)
    assert not search("to:example.com", doc, NOW)


def test_sizes_use_binary_units() -> None:
    assert _arg("larger:10M") == 10 * 1024 * 1024
    assert _arg("smaller:500K") == 500 * 1024
    assert parse("size:2000") == Op("larger", "2000")


@pytest.mark.parametrize(
    ("query", "canonical"),
    [
        ("a b OR c", "a (b OR c)"),
        ("a OR b c", "(a OR b) c"),
        ("-a OR b", "-a OR b"),
        ("(a b) OR c", "(a b) OR c"),
        ("a AND b", "a b"),
        ("{a b} c", "(a OR b) c"),
        ("-(a b)", "-(a b)"),
        ("FROM:Ann", "from:ann"),
        ('from:"Ann  Lee"', 'from:"ann lee"'),
        ("from:(a OR b)", "from:a OR from:b"),
        ("subject:(foo bar)", "subject:foo subject:bar"),
        ("from:{a b} to:x", "(from:a OR from:b) to:x"),
        ('"Quoted  Phrase"', '"quoted phrase"'),
        ("older:2024/01/01 newer:2023/01/01", "before:2024/01/01 after:2023/01/01"),
        ("a | b | c", "a OR b OR c"),
        ("", ""),
    ],
)
def test_parse_tree_canonical_form(query: str, canonical: str) -> None:
    node = parse(query)
    assert str(node) == canonical
    assert parse(str(node)) == node  # the canonical form parses back to the same tree


def test_parse_tree_shape() -> None:
    assert parse("a b OR c") == And((Term("a"), Or((Term("b"), Term("c")))))
    assert parse('-"x y"') == Not(Phrase("x y"))
    assert parse("from:(a -b)") == And((Op("from", "a"), Not(Op("from", "b"))))
    assert parse(" ") == Everything()
    assert parse("-from:x") == Not(Op("from", "x"))


def test_only_negations_match_everything_else() -> None:
    assert search("-from:bob", DOC, NOW)
    assert not search("-from:ann", DOC, NOW)
    assert matches(parse("-in:spam -in:trash"), DOC, NOW)


@pytest.mark.parametrize(
    ("name", "normalized"),
    [
        ("Dept/Billing", "dept-billing"),
        ("My Label", "my-label"),
        ("my-label", "my-label"),
        ("My_Label", "my-label"),
        ("  A / B  ", "a-b"),
        ("Follow-up", "follow-up"),
        ("v1.2", "v1.2"),
    ],
)
def test_normalize_label_name(name: str, normalized: str) -> None:
    assert normalize_label_name(name) == normalized


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("in:spam", True),
        ("label:trash", True),
        ("IN:Trash", True),
        ("in:anywhere", True),
        ("invoice (from:a OR -in:spam)", True),
        ("in:inbox", False),
        ("spam trash", False),
        ('label:"spam folder"', False),
        ("", False),
    ],
)
def test_mentions_spam_or_trash(query: str, expected: bool) -> None:
    assert mentions_spam_or_trash(parse(query)) is expected


ERROR_CASES = [
    ("(a b", "unclosed '('", 0),
    ("a (b (c)", "unclosed '('", 2),
    ("a b)", "unmatched ')'", 3),
    ("{a b", "unclosed '{'", 0),
    ("(a b}", "unmatched '}'", 4),
    ("a }", "unmatched '}'", 2),
    ('subject:"foo', "unterminated quote", 8),
    ('a "b c', "unterminated quote", 2),
    ("from:", "operator 'from:' needs a value", 0),
    ("a from: b", "operator 'from:' needs a value", 2),
    ("(to:)", "operator 'to:' needs a value", 1),
    ('from:""', "operator 'from:' needs a value", 0),
    ("frm:bob", "unknown search operator 'frm:'", 0),
    ("hello Re:foo", "unknown search operator 'Re:'", 6),
    ("larger:abc", "bad value 'abc' for larger: expected a size like 2000, 500K or 10M", 7),
    ("smaller:10G", "bad value '10G' for smaller: expected a size like 2000, 500K or 10M", 8),
    ("newer_than:3x", "bad value '3x' for newer_than: expected a number and a unit d, m or y, e.g. 3d", 11),
    (
        "newer_than:3h",
        "bad value '3h' for newer_than: Gmail has no hour unit; use d (days), m (months) or y (years)",
        11,
    ),
    ("is:sleepy", "bad value 'sleepy' for is: expected one of unread, read, starred, important, snoozed, muted", 3),
    (
        "has:sparkles",
        "bad value 'sparkles' for has: expected one of attachment, drive, document, spreadsheet, "
        "presentation, youtube, userlabels, nouserlabels, yellow-star, orange-star, red-star, "
        "purple-star, blue-star, green-star, red-bang, orange-guillemet, yellow-bang, green-check, "
        "blue-info, purple-question",
        4,
    ),
    (
        "after:2024/13/45",
        "bad value '2024/13/45' for after: expected a date YYYY/MM/DD, YYYY-MM-DD or epoch seconds",
        6,
    ),
    (
        "before:yesterday",
        "bad value 'yesterday' for before: expected a date YYYY/MM/DD, YYYY-MM-DD or epoch seconds",
        7,
    ),
    (
        "category:nope",
        "bad value 'nope' for category: expected one of primary, personal, social, promotions, "
        "updates, forums, purchases, reservations",
        9,
    ),
    ("larger:(1M OR abc)", "bad value 'abc' for larger: expected a size like 2000, 500K or 10M", 14),
    ("a OR", "OR needs a term on each side", 2),
    ("OR b", "OR needs a term on each side", 0),
    ("a OR OR b", "OR needs a term on each side", 2),
    ("(a OR)", "OR needs a term on each side", 3),
    ("a |", "| needs a term on each side", 2),
    ("AND b", "AND needs a term on each side", 0),
    ("a AND", "AND needs a term on each side", 2),
    ("()", "empty group '()'", 0),
    ("a {}", "empty group '{}'", 2),
    ("from:()", "empty group '()'", 5),
    ("a - b", "'-' must be followed directly by a term", 2),
    ("(a -)", "'-' must be followed directly by a term", 3),
    ('""', "empty quoted phrase", 0),
    ("from:(a to:b)", "operator 'to:' cannot be used inside 'from:(...)'", 8),
    ("{a AND b}", "AND cannot be used inside { }", 3),
    ("list:...", "bad value '...' for list: expected a mailing-list id such as dev.lists.example.org", 5),
    ("from:@", "bad value '@' for from: expected a domain after '@'", 5),
    ('label:"/"', "bad value '/' for label: expected a label name", 6),
    ("-" * 101 + "a", "query is nested too deeply", 100),
    ("(" * 101 + "a" + ")" * 101, "query is nested too deeply", 100),
]


@pytest.mark.parametrize(("query", "message", "position"), ERROR_CASES)
def test_syntax_errors_name_problem_and_position(query: str, message: str, position: int) -> None:
    with pytest.raises(QuerySyntaxError) as info:
        parse(query)
    err = info.value
    assert (err.message, err.position, err.query) == (message, position, query)
    assert str(err) == f"{message} (at position {position} in {query!r})"
    assert isinstance(err, ValueError)


def test_deep_but_allowed_nesting() -> None:
    assert search("(" * 50 + "invoice" + ")" * 50, DOC, NOW)
    assert search("--" * 25 + "invoice", DOC, NOW)


def test_search_raises_on_bad_query() -> None:
    with pytest.raises(QuerySyntaxError, match="unknown search operator 'frm:'"):
        search("frm:bob", DOC, NOW)


def test_colon_inside_phrase_and_url_are_text() -> None:
    assert parse('"frm: bob"') == Phrase("frm: bob")
    assert parse("http://example.com/x") == Term("http://example.com/x")
    doc = SearchDoc(body="see http://example.com/x today")
    assert search("http://example.com/x", doc, NOW)
