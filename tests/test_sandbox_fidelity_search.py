"""Search: every operator on Gmail's list (Help answer 7190) is accepted; what the sandbox cannot
model matches nothing instead of being a 400; rfc822msgid: is exact; AROUND keeps its distance."""

from __future__ import annotations

import pytest

from gmaildesk.gmail.query import And, Near, QuerySyntaxError, SearchDoc, Term, parse, search
from gmaildesk.sandbox.mime import build_message

SUPPORT = "support@example.com"
NOW = 1_767_225_600_000  # 2026-01-01 00:00 UTC

DOC = SearchDoc(
    from_="Ann <ann@customer.example>",
    to=SUPPORT,
    subject="Holiday plans",
    body=(
        "We planned a long holiday in the mountains and then a short vacation by the sea.\n"
        "Slides: https://docs.google.com/presentation/d/abc/edit\n"
        "Video: https://youtu.be/xyz"
    ),
    message_id="<CAB=x+Y@mail.customer.example>",
    internal_date_ms=NOW - 43_200_000,
    size=5000,  # 2025-12-31 04:00 PST
    label_ids=frozenset({"INBOX", "STARRED"}),
)


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        # operators Gmail accepts that the sandbox cannot model: accepted, matching nothing
        ("is:snoozed", False),
        ("is:muted", False),
        ("-is:snoozed", True),
        ("category:purchases", False),
        ("category:reservations", False),
        ("-category:purchases", True),
        ("has:red-bang", False),
        ("has:blue-star", False),
        # modelled: the default (yellow) star is STARRED; Drive, Docs, Slides and YouTube links
        ("has:yellow-star", True),
        ("has:presentation", True),
        ("has:drive", True),
        ("has:youtube", True),
        ("has:document", False),
        ("has:spreadsheet", False),
        # rfc822msgid: the exact Message-ID, with or without its angle brackets, case kept
        ("rfc822msgid:<CAB=x+Y@mail.customer.example>", True),
        ("rfc822msgid:CAB=x+Y@mail.customer.example", True),
        ("RFC822MSGID:CAB=x+Y@mail.customer.example", True),
        ("rfc822msgid:cab=x+y@mail.customer.example", False),
        ("rfc822msgid:CAB@mail.customer.example", False),
        ("rfc822msgid:mail.customer.example", False),
        # AROUND n: at most n words apart, either order; quoted, the first word stays first
        ("holiday AROUND 5 mountains", True),
        ("mountains AROUND 5 holiday", True),
        ("holiday AROUND 1 mountains", False),
        ("holiday AROUND 2 mountains", True),  # "in the" between
        ('"holiday AROUND 5 mountains"', True),
        ('"mountains AROUND 5 holiday"', False),
        ('"long holiday" AROUND 7 vacation', True),
        ("holiday AROUND 6 vacation", False),
        ("holiday AROUND 7 vacation", True),
        ("holiday AROUND", False),
        ("AROUND 3", False),  # no number and term after it: plain words
        # dates with / and -, relative ages, sizes
        ("after:2025/12/31 before:2026-01-01", True),
        ("before:2025/12/31", False),
        ("older_than:1d", False),
        ("newer_than:2d", True),
        ("larger:10 smaller:10M", True),
    ],
)
def test_operators_from_gmails_list(query: str, expected: bool) -> None:
    assert search(query, DOC, NOW) is expected


def test_around_parses_to_one_node_and_prints_back() -> None:
    assert parse("holiday AROUND 10 vacation") == Near("holiday", "vacation", 10)
    assert parse('"secret AROUND 25 birthday"') == Near("secret", "birthday", 25, ordered=True)
    assert parse("a AROUND b") == And((Term("a"), Term("around"), Term("b")))
    assert str(parse("holiday AROUND 10 vacation")) == "holiday AROUND 10 vacation"
    for query in ('"secret AROUND 25 birthday"', '"long holiday" AROUND 3 vacation'):
        assert str(parse(query)) == query and parse(str(parse(query))) == parse(query)
    assert parse("around 5 x") == And((Term("around"), Term("5"), Term("x")))  # lowercase: just words


def test_truly_malformed_queries_are_still_errors() -> None:
    for query, message in (
        ("frm:bob", "unknown search operator 'frm:'"),
        ("is:sleepy", "bad value 'sleepy' for is"),
        ("rfc822msgid:", "operator 'rfc822msgid:' needs a value"),
    ):
        with pytest.raises(QuerySyntaxError, match=message):
            parse(query)


# ---- through the real client -------------------------------------------------------------------
def _deliver(sandbox, subject: str, text: str, message_id: str) -> str:
    raw = build_message(
        from_="Ann <ann@customer.example>", to=[SUPPORT], subject=subject, text=text, date_ms=NOW, message_id=message_id
    )
    return sandbox.control.deliver(SUPPORT, raw)["id"]


def _found(gmail, query: str) -> set[str]:
    return {m["id"] for m in gmail.messages().list(userId="me", q=query).execute().get("messages", [])}


@pytest.mark.parametrize(
    "query",
    [
        "is:snoozed",
        "is:muted",
        "in:snoozed",
        "has:drive",
        "has:document",
        "has:spreadsheet",
        "has:presentation",
        "has:youtube",
        "has:purple-question",
        "category:purchases",
        "category:reservations",
        "list:dev@lists.example",
        "deliveredto:support@example.com",
        "before:2026/01/01",
        "after:2025-12-31",
        "older_than:1y",
        "newer_than:3m",
        "larger:1M",
        "smaller:10K",
        "size:100",
        "rfc822msgid:x@y",
        "holiday AROUND 10 vacation",
        "in:anywhere",
        "has:userlabels",
        "has:nouserlabels",
        "+exact",
        "filename:pdf",
        "label:important",
        "is:important",
    ],
)
def test_every_operator_on_gmails_list_is_accepted_by_the_sandbox(gmail, query):
    gmail.messages().list(userId="me", q=query).execute()  # no 400
    gmail.threads().list(userId="me", q=query).execute()


def test_rfc822msgid_finds_exactly_that_message(gmail, sandbox):
    wanted = _deliver(sandbox, "Order", "Where is it?", "<order-77@mail.customer.example>")
    _deliver(sandbox, "Order again", "Still waiting.", "<order-77@mail.customer.example.other>")
    assert _found(gmail, "rfc822msgid:<order-77@mail.customer.example>") == {wanted}
    assert _found(gmail, "rfc822msgid:order-77@mail.customer.example") == {wanted}
    assert _found(gmail, "rfc822msgid:order-77") == set()


def test_around_and_links_through_the_client(gmail, sandbox):
    near = _deliver(sandbox, "Trip", "A holiday in May, then a vacation in June.", "<a@customer.example>")
    far = _deliver(sandbox, "Trip", "holiday " + "word " * 20 + "vacation https://youtu.be/x", "<b@customer.example>")
    assert _found(gmail, "holiday AROUND 5 vacation") == {near}
    assert _found(gmail, "holiday AROUND 25 vacation") == {near, far}
    assert _found(gmail, '"vacation AROUND 25 holiday"') == set()
    assert _found(gmail, "has:youtube") == {far}
    assert _found(gmail, "is:snoozed OR has:youtube") == {far}


def test_a_query_too_long_for_a_get_is_served_as_the_get(gmail, sandbox):
    """googleapiclient sends a GET whose URI passes 2,048 characters as a POST with
    X-HTTP-Method-Override: GET and the query string as a form body (googleapiclient/http.py)."""
    wanted = _deliver(sandbox, "Refund", "hello", "<long@test>")
    others = " ".join(f"from:person{i}@example{i}.com" for i in range(120))
    query = "{" + others + " from:ann@customer.example}"
    assert len(query) > 2048
    before = sandbox.control.counters()["calls"].get("gmail.users.messages.list", 0)
    assert _found(gmail, query) == {wanted}
    assert sandbox.control.counters()["calls"]["gmail.users.messages.list"] == before + 1


@pytest.mark.parametrize(
    ("verb", "override", "content_type", "status"),
    [
        ("POST", "PATCH", "application/x-www-form-urlencoded", 400),  # only the GET the client sends
        ("GET", "GET", "application/x-www-form-urlencoded", 400),  # an override rides on a POST
        ("POST", "GET", "application/json", 415),  # the query string comes as a form
        ("POST", None, "application/x-www-form-urlencoded", 415),  # a form alone stays refused (CSRF)
    ],
)
def test_a_method_override_is_taken_only_as_googleapiclient_sends_it(sandbox, verb, override, content_type, status):
    import urllib.error
    import urllib.request

    headers = {"Content-Type": content_type, **({"X-HTTP-Method-Override": override} if override else {})}
    body = b"q=from%3Aann%40customer.example" if verb == "POST" else None
    request = urllib.request.Request(
        f"{sandbox.url}gmail/v1/users/me/messages", data=body, method=verb, headers=headers
    )
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(request, timeout=10)
    assert refused.value.code == status
