"""Tests for gmaildesk.sandbox.mime: parsing raw mail into Gmail API shapes, and building mail."""

from __future__ import annotations

import base64
import json
import re
from datetime import UTC, datetime
from pathlib import Path

import jsonschema
import pytest

from corpora import CORPORA, mail_samples
from gmaildesk.sandbox.mime import (
    Address,
    b64url_decode,
    b64url_encode,
    build_message,
    make_message_id,
    normalize_subject,
    parse,
)

FIXTURES = Path(__file__).parent / "fixtures" / "mail"

PDF = (
    b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n"
    b"1 0 obj << /Type /Catalog /Pages 2 0 R >> endobj\n"
    b"2 0 obj << /Type /Pages /Kids [3 0 R] /Count 1 >> endobj\n"
    b"3 0 obj << /Type /Page /Parent 2 0 R /MediaBox [0 0 200 100] >> endobj\n"
    b"trailer << /Root 1 0 R >>\n%%EOF\n"
)


def ms(year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0) -> int:
    return int(datetime(year, month, day, hour, minute, second, tzinfo=UTC).timestamp() * 1000)


def load(name: str):
    return parse((FIXTURES / name).read_bytes())


def A(name: str, email: str) -> Address:
    return Address(name, email)


# ---------------------------------------------------------------- Gmail discovery schema


def _discovery_schema() -> dict:
    from googleapiclient.discovery_cache import get_static_doc

    doc = json.loads(get_static_doc("gmail", "v1"))
    dropped = {"id", "annotations", "enumDescriptions", "deprecated"}

    def convert(node):
        if isinstance(node, dict):
            out = {k: convert(v) for k, v in node.items() if k not in dropped}
            if isinstance(out.get("$ref"), str) and not out["$ref"].startswith("#"):
                out["$ref"] = f"#/definitions/{out['$ref']}"
            return out
        if isinstance(node, list):
            return [convert(v) for v in node]
        return node

    definitions = convert(doc["schemas"])
    return {"$ref": "#/definitions/MessagePart", "definitions": definitions}


SCHEMA = _discovery_schema()
VALIDATOR = jsonschema.Draft7Validator(SCHEMA)


def assert_schema_keys(part: dict) -> None:
    """No key outside the discovery schema's properties, anywhere in the tree."""
    defs = SCHEMA["definitions"]
    assert set(part) <= set(defs["MessagePart"]["properties"]), set(part)
    assert set(part["body"]) <= set(defs["MessagePartBody"]["properties"]), part["body"]
    for header in part.get("headers", []):
        assert set(header) == set(defs["MessagePartHeader"]["properties"])
    for sub in part.get("parts", []):
        assert_schema_keys(sub)


def assert_valid_payload(payload: dict) -> None:
    VALIDATOR.validate(payload)
    assert_schema_keys(payload)
    json.dumps(payload)


def tree(part: dict) -> list[tuple]:
    """(partId, mimeType, filename, body kind) for every part, in order."""
    body = part["body"]
    kind = "attachment" if "attachmentId" in body else "data" if "data" in body else "empty"
    rows = [(part["partId"], part["mimeType"], part["filename"], kind)]
    for sub in part.get("parts", []):
        rows += tree(sub)
    return rows


def find_part(part: dict, part_id: str) -> dict:
    if part["partId"] == part_id:
        return part
    for sub in part.get("parts", []):
        try:
            return find_part(sub, part_id)
        except KeyError:
            pass
    raise KeyError(part_id)


# ---------------------------------------------------------------- fixtures: parsed fields

EXPECTED = {
    "plain_lf.eml": dict(
        message_id="<20231120101500.GA1234@mail.example.org>",
        in_reply_to=(),
        references=(),
        subject="Printer on floor 3 is offline",
        from_=A("Alice Example", "alice@example.org"),
        to=(A("", "support@acme.test"),),
        cc=(),
        bcc=(),
        reply_to=(),
        delivered_to=("helpdesk@acme.test", "support@acme.test"),
        date_ms=ms(2023, 11, 20, 10, 15),
        list_id="",
        has_attachment=False,
        filenames=(),
        text="Hi team,\n\nThe printer on floor 3 has been offline since this morning. It's the\n"
        '"HP LaserJet" near the kitchen & the error says <E-42>.\n\nThanks,\nAlice\n',
        snippet="Hi team, The printer on floor 3 has been offline since this morning. It&#39;s the "
        "&quot;HP LaserJet&quot; near the kitchen &amp; the error says &lt;E-42&gt;. Thanks, Alice",
    ),
    "crlf_qp_folded.eml": dict(
        message_id="<CAFx1Yq3kP0w@mail.builder.test>",
        in_reply_to=("<ticket-1001@acme.test>",),
        references=("<ticket-1000@acme.test>", "<ticket-1001@acme.test>"),
        subject="Invoice question about the November renewal and VAT",
        from_=A("Bob Builder", "bob@builder.test"),
        to=(A("", "support@acme.test"), A("Carol Ops", "carol@acme.test"), A("", "dave@acme.test")),
        cc=(A("Eve, Security", "eve@acme.test"),),
        bcc=(A("", "audit@builder.test"),),
        reply_to=(A("Billing", "billing@builder.test"),),
        delivered_to=(),
        date_ms=ms(2023, 11, 21, 14, 30, 12),
        list_id="",
        has_attachment=False,
        filenames=(),
        text="Hello,\n\nthe invoice for the November renewal shows 120,00 € but the quote we signed "
        "said 100,00 € excluding VAT. Could you check whether the VAT was added twice?\n\n"
        "Grüße,\nBob\n",
        snippet="Hello, the invoice for the November renewal shows 120,00 € but the quote we signed "
        "said 100,00 € excluding VAT. Could you check whether the VAT was added twice? Grüße, Bob",
    ),
    "alternative.eml": dict(
        message_id="<ticket-1010.4@acme.test>",
        subject="[Ticket #1010] Status update",
        from_=A("Acme Support", "support@acme.test"),
        to=(A("Alice Example", "alice@example.org"),),
        date_ms=ms(2023, 11, 22, 9),
        has_attachment=False,
        filenames=(),
        text="Your ticket #1010 has been updated.\n\nStatus: waiting for customer\n",
        snippet="Your ticket #1010 has been updated. Status: waiting for customer",
    ),
    "mixed_pdf.eml": dict(
        message_id="<5a1c9e7f-2b3d-4c8e-9f01-23456789abcd@example.net>",
        subject="Signed quote attached",
        from_=A("Ivan Petrov", "ivan@example.net"),
        date_ms=ms(2023, 11, 23, 15, 45, 30),
        has_attachment=True,
        filenames=("quote-2024.pdf", "Übersicht Preise.txt"),
        text="Please find the signed quote attached.\n\nIvan\n",
        snippet="Please find the signed quote attached. Ivan",
    ),
    "encoded_headers.eml": dict(
        message_id="<e2047.0001@example.de>",
        subject="Grüße aus Köln – Rückfrage ✓",
        from_=A("Zoë Müller", "zoe@example.de"),
        to=(A("François Lefèvre", "francois@example.fr"), A("Doe, John", "john@example.com")),
        cc=(A("Jörg Weiß", "joerg@example.at"),),
        date_ms=ms(2023, 11, 24, 7, 5),
        text="Hallo zusammen,\n\nschöne Grüße aus Köln. Der Preis beträgt 42 €.\n",
        snippet="Hallo zusammen, schöne Grüße aus Köln. Der Preis beträgt 42 €.",
    ),
    "no_message_id_html_only.eml": dict(
        message_id=None,
        subject="Your order has shipped",
        from_=A("", "noreply@shop.example"),
        date_ms=None,
        text="Order shipped\n\nHello Jürgen,\n\nyour order & invoice are on their way → track it here.",
        snippet="Order shipped Hello Jürgen, your order &amp; invoice are on their way → track it here.",
    ),
    "gmail_vacation.eml": dict(
        message_id="<CAKx9Vd8qz1vacation0001@mail.gmail.com>",
        in_reply_to=("<ticket-1020.2@acme.test>",),
        references=("<ticket-1020.2@acme.test>",),
        subject="Re: [Ticket #1020] Laptop replacement",
        from_=A("Frank Field", "frank.field@gmail.com"),
        delivered_to=("support@acme.test",),
        date_ms=ms(2023, 11, 20, 10, 15, 33),
        text="I'm on vacation until 1 December with limited access to email. For urgent\n"
        "matters please contact Greta (greta@example.com).\n",
        snippet="I&#39;m on vacation until 1 December with limited access to email. For urgent matters "
        "please contact Greta (greta@example.com).",
    ),
    "outlook_ooo.eml": dict(
        message_id="<f3b1c2d4e5a64b7e9c0d1e2f3a4b5c6d@AM6PR10MB2345.eurprd10.prod.outlook.test>",
        in_reply_to=("<ticket-1042.3@acme.test>",),
        subject="Automatic reply: [Ticket #1042] Password reset not arriving",
        from_=A("Grace Hopper", "grace.hopper@contoso.test"),
        to=(A("Acme Support", "support@acme.test"),),
        date_ms=ms(2023, 11, 21, 14, 2, 11),
        text="I am out of the office until Monday 27 November. I will reply to your message when I return.\n",
    ),
    "outlook_ooo_suppress_only.eml": dict(
        subject="Automatische Antwort: [Ticket #1043] Zugang gesperrt",
        from_=A("Hans Müller", "hans.mueller@firma.test"),
        text="Ich bin bis zum 4. Dezember nicht im Büro und habe keinen Zugriff auf meine E-Mails.\n",
    ),
    "bounce_postfix.eml": dict(
        message_id="<20231122080005.7A1B2C3D4E@mx.acme.test>",
        subject="Undelivered Mail Returned to Sender",
        from_=A("Mail Delivery System", "mailer-daemon@mx.acme.test"),
        delivered_to=("support@acme.test",),
        date_ms=ms(2023, 11, 22, 8, 0, 5),
        has_attachment=False,
        filenames=(),
    ),
    "bounce_exim.eml": dict(
        message_id="<E1r64Xk-0003Ab-2T@mail.example.com>",
        subject="Mail delivery failed: returning message to sender",
        from_=A("Mail Delivery System", "mailer-daemon@mail.example.com"),
        date_ms=ms(2023, 11, 23, 12, 0, 8),
    ),
    "bounce_exchange_ndr.eml": dict(
        message_id="<7f6e5d4c-3b2a-4190-8f7e-6d5c4b3a2918@AM0PR10MB1234.eurprd10.prod.outlook.test>",
        in_reply_to=("<ticket-1077.2@acme.test>",),
        references=("<ticket-1077.2@acme.test>",),
        subject="Undeliverable: [Ticket #1077] Contract renewal",
        from_=A("Microsoft Outlook", "postmaster@contoso.onmicrosoft.test"),
        to=(A("", "support@acme.test"),),
        date_ms=ms(2023, 11, 24, 16, 20, 44),
        text="Your message to nobody@fabrikam.test couldn't be delivered.\n\nnobody wasn't found at "
        "fabrikam.test.\n\nStatus code: 550 5.1.10\n\nOriginal Message Details\n"
        "Subject: [Ticket #1077] Contract renewal\n",
    ),
    "mailing_list.eml": dict(
        message_id="<87h6lh3k2p.fsf@example.com>",
        in_reply_to=("<5f2e1a9b-0c3d-4e5f-8a7b-6c5d4e3f2a1b@lists.example.org>",),
        references=("<ticket-1080.1@acme.test>", "<5f2e1a9b-0c3d-4e5f-8a7b-6c5d4e3f2a1b@lists.example.org>"),
        subject='[support] Re: Backup job fails with "disk quota exceeded"',
        from_=A("Heidi Schmidt", "heidi@example.com"),
        to=(A("", "support@lists.example.org"),),
        reply_to=(A("Support discussion", "support@lists.example.org"),),
        delivered_to=("helpdesk@acme.test",),
        date_ms=ms(2023, 11, 25, 17, 45),
        list_id="Support discussion <support.lists.example.org>",
        text='Same here: the nightly backup job fails with "disk quota exceeded" since the update.\n'
        "Increasing the quota to 200 GB fixed it for us.\n\n-- \nHeidi\n",
        snippet="Same here: the nightly backup job fails with &quot;disk quota exceeded&quot; since the "
        "update. Increasing the quota to 200 GB fixed it for us. -- Heidi",
    ),
    "forwarded_rfc822.eml": dict(
        subject="Fwd: Dashboard chart is empty",
        has_attachment=True,
        filenames=("original.eml", "chart.png"),
        text="See the customer's message below.\n",
        snippet="See the customer&#39;s message below.",
    ),
    "raw_8bit_headers.eml": dict(
        subject="Contraseña olvidada – ayuda",
        from_=A("José Núñez", "jose@example.es"),
        text="Olvidé mi contraseña.\n",
        snippet="Olvidé mi contraseña.",
    ),
}


def test_every_fixture_has_expectations():
    assert sorted(p.name for p in FIXTURES.glob("*.eml")) == sorted(EXPECTED)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_fixture_fields(name):
    msg = load(name)
    for attr, want in EXPECTED[name].items():
        assert getattr(msg, attr) == want, attr
    assert msg.size == len((FIXTURES / name).read_bytes())
    assert msg.raw == (FIXTURES / name).read_bytes()


def test_line_endings_of_fixtures():
    assert b"\r\n" in (FIXTURES / "crlf_qp_folded.eml").read_bytes()
    assert b"\r\n" not in (FIXTURES / "plain_lf.eml").read_bytes()


def test_bounce_text_excludes_returned_message():
    msg = load("bounce_postfix.eml")
    assert msg.text.startswith("This is the mail system at host mx.acme.test.")
    assert "User unknown in virtual\n    mailbox table" in msg.text
    assert "we received your request" not in msg.text
    assert "Final-Recipient" not in msg.text


def test_headers_are_unfolded_decoded_and_in_order():
    msg = load("crlf_qp_folded.eml")
    names = [name for name, _ in msg.headers]
    assert names[:4] == ["Received", "Message-ID", "Date", "From"]
    assert msg.header("to") == 'support@acme.test, "Carol Ops" <carol@acme.test>,\tdave@acme.test'
    assert msg.header("received") == (
        "from builder.test (builder.test [198.51.100.20])\tby mx.acme.test "
        "(Postfix) with ESMTPS id 9F8E7D6C5B\tfor <support@acme.test>; "
        "Tue, 21 Nov 2023 14:30:14 +0000 (UTC)"
    )
    assert msg.header("X-Missing") is None
    encoded = load("encoded_headers.eml")
    assert encoded.header("X-MAILER") == "Café Mailer 2.0"
    assert encoded.header("From") == "Zoë Müller <ZOE@example.de>"


def test_header_all_and_case_insensitivity():
    msg = load("plain_lf.eml")
    assert msg.header_all("delivered-to") == ["helpdesk@acme.test", "Support@Acme.test"]
    assert msg.header("DELIVERED-TO") == "helpdesk@acme.test"
    assert msg.header_all("x-nothing") == []


# ---------------------------------------------------------------- payload shapes


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_payloads_match_discovery_schema(name):
    msg = load(name)
    full = msg.payload("full")
    assert_valid_payload(full)
    assert full["partId"] == "" and full["filename"] == ""
    assert [(h["name"], h["value"]) for h in full["headers"]] == list(msg.headers)
    meta = msg.payload("metadata")
    assert_valid_payload(meta)
    assert set(meta) == {"partId", "mimeType", "filename", "headers", "body"}
    assert meta["body"] == {"size": 0} and meta["mimeType"] == full["mimeType"]


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_payload_part_invariants(name):
    msg = load(name)

    def check(part):
        body = part["body"]
        if "parts" in part:
            assert body == {"size": 0}
            for i, sub in enumerate(part["parts"]):
                assert sub["partId"] == (f"{part['partId']}.{i}" if part["partId"] else str(i))
                check(sub)
        elif "data" in body:
            assert "attachmentId" not in body and re.fullmatch(r"[A-Za-z0-9_=-]+", body["data"])
            assert len(b64url_decode(body["data"])) == body["size"] > 0
        elif "attachmentId" in body:
            assert msg.attachment(body["attachmentId"]) is not None
            assert len(msg.attachment(body["attachmentId"])) == body["size"]

    check(msg.payload("full"))


def test_single_part_payload():
    msg = load("plain_lf.eml")
    full = msg.payload("full")
    assert set(full) == {"partId", "mimeType", "filename", "headers", "body"}
    assert full["mimeType"] == "text/plain"
    assert b64url_decode(full["body"]["data"]).startswith(b"Hi team,\n\nThe printer")
    assert full["body"]["size"] == 150


def test_crlf_quoted_printable_data_is_decoded_bytes_with_original_line_endings():
    body = load("crlf_qp_folded.eml").payload("full")["body"]
    data = b64url_decode(body["data"])
    assert data.startswith(b"Hello,\r\n\r\nthe invoice")
    assert "120,00 €".encode() in data and b"=E2" not in data
    assert body["size"] == len(data)


def test_iso_8859_1_data_keeps_its_charset():
    data = b64url_decode(load("outlook_ooo_suppress_only.eml").payload("full")["body"]["data"])
    assert "Büro".encode("latin-1") in data


def test_alternative_tree():
    full = load("alternative.eml").payload("full")
    assert tree(full) == [
        ("", "multipart/alternative", "", "empty"),
        ("0", "text/plain", "", "data"),
        ("1", "text/html", "", "data"),
    ]
    html = b64url_decode(full["parts"][1]["body"]["data"])
    assert html.startswith(b"<html><head><style>")
    assert full["parts"][1]["headers"] == [
        {"name": "Content-Type", "value": "text/html; charset=utf-8"},
        {"name": "Content-Transfer-Encoding", "value": "base64"},
    ]


def test_mixed_with_pdf_tree_and_attachment_bytes():
    msg = load("mixed_pdf.eml")
    full = msg.payload("full")
    assert tree(full) == [
        ("", "multipart/mixed", "", "empty"),
        ("0", "multipart/alternative", "", "empty"),
        ("0.0", "text/plain", "", "data"),
        ("0.1", "text/html", "", "data"),
        ("1", "application/pdf", "quote-2024.pdf", "attachment"),
        ("2", "text/plain", "Übersicht Preise.txt", "attachment"),
    ]
    pdf = find_part(full, "1")
    assert pdf["body"]["size"] == len(PDF)
    assert pdf["body"]["attachmentId"].startswith("ANGjdJ")
    assert msg.attachment(pdf["body"]["attachmentId"]) == PDF
    txt = find_part(full, "2")["body"]["attachmentId"]
    assert msg.attachment(txt) == "Übersicht: 100 € netto".encode()  # CRLF before a boundary is the boundary's
    assert msg.attachment("ANGjdJdoesnotexist") is None


def test_attachment_ids_are_deterministic_per_message_and_part():
    a, b = load("mixed_pdf.eml"), load("mixed_pdf.eml")
    ids = [p["body"]["attachmentId"] for p in a.payload("full")["parts"][1:]]
    assert ids == [p["body"]["attachmentId"] for p in b.payload("full")["parts"][1:]]
    assert len(set(ids)) == 2
    other = parse(a.raw + b"\n")
    assert other.payload("full")["parts"][1]["body"]["attachmentId"] != ids[0]
    assert a.attachment(ids[0]) == PDF and other.attachment(ids[0]) is None


def test_message_rfc822_is_a_container_with_the_embedded_message():
    msg = load("forwarded_rfc822.eml")
    full = msg.payload("full")
    assert tree(full) == [
        ("", "multipart/mixed", "", "empty"),
        ("0", "text/plain", "", "data"),
        ("1", "message/rfc822", "original.eml", "empty"),
        ("1.0", "multipart/mixed", "", "empty"),
        ("1.0.0", "text/plain", "", "data"),
        ("1.0.1", "image/png", "chart.png", "attachment"),
    ]
    inner = find_part(full, "1.0")
    assert {"name": "Subject", "value": "Dashboard chart is empty"} in inner["headers"]
    png = msg.attachment(find_part(full, "1.0.1")["body"]["attachmentId"])
    assert png.startswith(b"\x89PNG\r\n\x1a\n")


@pytest.mark.parametrize("name", ["bounce_postfix.eml", "bounce_exim.eml", "bounce_exchange_ndr.eml"])
def test_delivery_status_part_is_a_leaf_with_the_report_text(name):
    msg = load(name)
    full = msg.payload("full")
    assert full["mimeType"] == "multipart/report"
    status = find_part(full, "1")
    assert status["mimeType"] == "message/delivery-status" and "parts" not in status
    report = b64url_decode(status["body"]["data"])
    assert report in msg.raw  # exactly the body bytes as sent
    assert b"Action: failed" in report and b"Final-Recipient: rfc822;" in report


def test_bounce_trees():
    assert tree(load("bounce_postfix.eml").payload("full"))[1:] == [
        ("0", "text/plain", "", "data"),
        ("1", "message/delivery-status", "", "data"),
        ("2", "message/rfc822", "", "empty"),
        ("2.0", "text/plain", "", "data"),
    ]
    assert tree(load("bounce_exchange_ndr.eml").payload("full"))[1:] == [
        ("0", "multipart/alternative", "", "empty"),
        ("0.0", "text/plain", "", "data"),
        ("0.1", "text/html", "", "data"),
        ("1", "message/delivery-status", "", "data"),
        ("2", "text/rfc822-headers", "", "data"),
    ]
    exim = load("bounce_exim.eml").payload("full")
    returned = find_part(exim, "2.0")
    assert {"name": "Subject", "value": "Re: [Ticket #1061] Lieferverzögerung"} in returned["headers"]


def test_metadata_headers_filter_is_case_insensitive_and_keeps_message_order():
    msg = load("crlf_qp_folded.eml")
    meta = msg.payload("metadata", ["subject", "FROM", "To", "X-Absent"])
    assert [h["name"] for h in meta["headers"]] == ["From", "To", "Subject"]
    assert meta["headers"][2]["value"] == "Invoice question about the November renewal and VAT"
    assert msg.payload("metadata", None)["headers"] == msg.payload("full")["headers"]
    assert msg.payload("metadata", [])["headers"] == msg.payload("full")["headers"]


def test_unknown_payload_format_is_rejected():
    with pytest.raises(ValueError):
        load("plain_lf.eml").payload("raw")


# ---------------------------------------------------------------- lenient parsing


@pytest.mark.parametrize(
    "raw",
    [
        b"",
        b"\x00\xff\xfe garbage without headers",
        b"Subject: no body",
        b"Content-Type: multipart/mixed\n\nno boundary parameter\n",
        b"Content-Type: multipart/mixed; boundary=x\n\n--x\nContent-Type: text/plain\n\nnever closed",
        b"Content-Type: text/plain; charset=x-no-such-charset\n\n\xe4\xf6\xfc\n",
        b"Content-Type: text/plain; charset=base64\n\nhello\n",
        b"Content-Transfer-Encoding: base64\n\n!!!not base64***\n",
        b"Content-Transfer-Encoding: x-uuencode\n\nbegin 644 f\nbroken\n",
        b"Subject: =?utf-8?B?broken===?= =?x-unknown?Q?caf=E9?=\nFrom: =?utf-8?q?\n\nx",
        b'From: <<<@@@>>>, "unterminated\nTo: ;;;\nDate: 99 Nonsense 99999\nMessage-ID:   \n\n',
        b"Content-Type: message/rfc822\nContent-Transfer-Encoding: base64\n\nU3ViamVjdDogaGk=\n",
        b"Content-Type: multipart/mixed; boundary=a\n\n"
        + b"".join(b"--a\nContent-Type: multipart/mixed; boundary=a\n\n" for _ in range(300)),
        # nesting deeper than Gmail's cap, and deeper than the stdlib parser's recursion limit
        b"".join(b"Content-Type: multipart/mixed; boundary=b%d\n\n--b%d\n" % (i, i) for i in range(60)),
        b"".join(b"Content-Type: multipart/mixed; boundary=b%d\n\n--b%d\n" % (i, i) for i in range(2000)),
    ],
)
def test_malformed_mail_never_raises(raw):
    msg = parse(raw)
    assert isinstance(msg.snippet, str) and isinstance(msg.text, str)
    assert_valid_payload(msg.payload("full"))
    assert_valid_payload(msg.payload("metadata"))


def test_lenient_decoding_details():
    msg = parse(b"Subject: =?utf-8?B?a?= ok\nFrom: =?x-unknown?Q?Caf=C3=A9?= <a@b.c>\n\n")
    assert msg.subject == "=?utf-8?B?a?= ok"  # undecodable word kept literally
    assert msg.from_ == Address("Café", "a@b.c")
    msg = parse("Content-Type: text/plain; charset=iso-8859-1\n\nKäse €\n".encode("cp1252"))
    assert msg.text == "Käse €\n"  # labelled Latin-1 is really Windows-1252
    msg = parse(b"Subject: =?gb2312?B?1tDOxA==?=\n\n")
    assert msg.subject == "中文"


def test_empty_plain_alternative_falls_back_to_html():
    raw = (
        b"Content-Type: multipart/alternative; boundary=q\n\n--q\nContent-Type: text/plain\n\n\n"
        b"--q\nContent-Type: text/html\n\n<p>Only&#160;here &lt;3</p>\n--q--\n"
    )
    msg = parse(raw)
    assert msg.text == "Only here <3" and msg.snippet == "Only here &lt;3"


def test_parsed_messages_compare_by_content():
    first, second = load("plain_lf.eml"), load("plain_lf.eml")
    assert first == second and hash(first) == hash(second) and first != load("alternative.eml")


def test_header_block_with_broken_continuation_lines():
    raw = b"X-Junk: aaaa\nbbbb-continued-without-indent\nFrom: Al <al@example.com>\nSubject: still found\n\nbody\n"
    msg = parse(raw)
    assert msg.subject == "still found" and msg.from_ == Address("Al", "al@example.com")
    assert msg.header("X-Junk") == "aaaa bbbb-continued-without-indent"
    assert msg.text == "body\n"
    junk_above = parse(b"---- Original email message ----\r\nFrom: a@example.com\r\nSubject: hi\r\n\r\nx")
    assert junk_above.subject == "hi" and junk_above.from_ == Address("", "a@example.com")
    bom = parse(b"\xef\xbb\xbfFrom: a@example.com\nSubject: bom\n\nx")
    assert bom.subject == "bom" and bom.header("From") == "a@example.com"
    mbox = parse(b"From a@example.com Mon Nov 20 10:00:00 2023\nSubject: mbox\n\nx")
    assert mbox.subject == "mbox" and [n for n, _ in mbox.headers] == ["Subject"]


def test_message_id_forms():
    assert parse(b"Message-ID: bare-id@host\n\n").message_id == "<bare-id@host>"
    assert parse(b"Message-ID:\n <folded@host>\n\n").message_id == "<folded@host>"
    assert parse(b"Message-ID: \n\n").message_id is None
    msg = parse(b"In-Reply-To: <a@x> (Mail from someone)\nReferences: <r1@x>\n  <r2@x>  junk <r3@x>\n\n")
    assert msg.in_reply_to == ("<a@x>",) and msg.references == ("<r1@x>", "<r2@x>", "<r3@x>")


def test_date_without_zone_is_utc():
    assert parse(b"Date: Mon, 20 Nov 2023 10:00:00 -0000\n\n").date_ms == ms(2023, 11, 20, 10)
    assert parse(b"Date: 20 Nov 23 10:00 EST\n\n").date_ms == ms(2023, 11, 20, 15)


def test_snippet_is_limited_and_escaped_after_truncation():
    msg = parse(b"Content-Type: text/plain\n\n" + b"word " * 100 + b"& more")
    assert len(msg.snippet) <= 200 and msg.snippet.startswith("word word")
    assert parse("\n\n a\u200b\n\n\tb\u00a0c ".encode()).snippet == "a b c"


# ---------------------------------------------------------------- normalize_subject


@pytest.mark.parametrize(
    "subject, expected",
    [
        ("Re: Hello", "hello"),
        ("RE: Hello", "hello"),
        ("re: hello", "hello"),
        ("Fwd: Hello", "hello"),
        ("FWD: Hello", "hello"),
        ("Fw: Hello", "hello"),
        ("AW: Hallo", "hallo"),
        ("WG: Hallo", "hallo"),
        ("TR: Bonjour", "bonjour"),
        ("RV: Hola", "hola"),
        ("SV: Hej", "hej"),
        ("VS: Moi", "moi"),
        ("Antw: Hallo", "hallo"),
        ("Doorst: Hallo", "hallo"),
        ("Réf: Bonjour", "bonjour"),
        ("Ref: Bonjour", "bonjour"),
        ("Odp: Cześć", "cześć"),
        ("PD: Labas", "labas"),
        ("YNT: Merhaba", "merhaba"),
        ("回复: 你好", "你好"),
        ("转发：你好", "你好"),
        ("答复: 你好", "你好"),
        ("Re[2]: Hello", "hello"),
        ("Re(3): Hello", "hello"),
        ("Re: Re: Hello", "hello"),
        ("RE: Fwd: re: AW: Hello", "hello"),
        ("Re : Bonjour", "bonjour"),
        ("[support] Re: Backup fails", "backup fails"),
        ("Re: [support] Backup fails", "backup fails"),
        ("[support] [urgent] Fwd: Backup fails", "backup fails"),
        ("  Re:   Hello \t  World  ", "hello world"),
        ("Re: Straße", "strasse"),
        ("Hello", "hello"),
        ("Regarding: the contract", "regarding: the contract"),
        ("Automatic reply: Hello", "hello"),
        ("Hello (Re: earlier)", "hello (re: earlier)"),
        ("Re:", ""),
        ("", ""),
    ],
)
def test_normalize_subject(subject, expected):
    assert normalize_subject(subject) == expected


# ---------------------------------------------------------------- base64url


@pytest.mark.parametrize("data", [b"", b"f", b"fo", b"foo", b"\xfb\xff\xfe\x00>?", bytes(range(256))])
def test_b64url_round_trip(data):
    text = b64url_encode(data)
    assert isinstance(text, str) and "+" not in text and "/" not in text
    assert text == base64.urlsafe_b64encode(data).decode()
    assert b64url_decode(text) == data
    assert b64url_decode(text.rstrip("=")) == data
    assert b64url_decode(base64.b64encode(data).decode()) == data
    assert b64url_decode(" \n".join(text[i : i + 4] for i in range(0, len(text), 4))) == data
    assert b64url_decode(text.encode()) == data


def test_b64url_decode_rejects_impossible_length():
    with pytest.raises(ValueError):
        b64url_decode("abcde")


# ---------------------------------------------------------------- build_message


def test_make_message_id():
    first, second = make_message_id("acme.test"), make_message_id("acme.test")
    assert re.fullmatch(r"<[^<>@\s]+@acme\.test>", first) and first != second


def test_build_message_round_trip():
    date = ms(2023, 11, 26, 9, 30)
    raw = build_message(
        from_="Zoë Müller <zoe@acme.test>",
        to=["François Lefèvre <francois@example.fr>", "plain@example.com"],
        cc=["Ops <ops@acme.test>"],
        subject="Re: [Ticket #1090] Grüße aus Köln – ✓ " + "lang " * 20,
        text="Hällo François,\n\nyour ticket is solved.\n" + "x" * 1200 + "\n",
        html="<p>Hällo François,</p><p>your ticket is <b>solved</b>.</p>",
        in_reply_to="<orig-1@example.fr>",
        references=["<root-0@example.fr>", "<orig-1@example.fr>"],
        extra_headers=[("Auto-Submitted", "auto-replied"), ("X-Gmaildesk", "vacation")],
        date_ms=date,
        message_id="<built-1@acme.test>",
    )
    assert raw.isascii()  # RFC 2047 headers, 7-bit bodies
    assert b"\n" not in raw.replace(b"\r\n", b"")  # CRLF only
    assert max(len(line) for line in raw.split(b"\r\n")) <= 998
    msg = parse(raw)
    assert msg.from_ == Address("Zoë Müller", "zoe@acme.test")
    assert msg.to == (Address("François Lefèvre", "francois@example.fr"), Address("", "plain@example.com"))
    assert msg.cc == (Address("Ops", "ops@acme.test"),)
    assert msg.subject == "Re: [Ticket #1090] Grüße aus Köln – ✓ " + ("lang " * 20).strip()
    assert msg.message_id == "<built-1@acme.test>"
    assert msg.in_reply_to == ("<orig-1@example.fr>",)
    assert msg.references == ("<root-0@example.fr>", "<orig-1@example.fr>")
    assert msg.date_ms == date
    assert msg.header("MIME-Version") == "1.0"
    assert msg.header("Auto-Submitted") == "auto-replied"
    assert msg.text == "Hällo François,\n\nyour ticket is solved.\n" + "x" * 1200 + "\n"
    full = msg.payload("full")
    assert_valid_payload(full)
    assert tree(full) == [
        ("", "multipart/alternative", "", "empty"),
        ("0", "text/plain", "", "data"),
        ("1", "text/html", "", "data"),
    ]
    for part in full["parts"]:
        assert {"name": "Content-Transfer-Encoding", "value": "quoted-printable"} in part["headers"]
    assert (
        b64url_decode(full["parts"][1]["body"]["data"]).decode()
        == "<p>Hällo François,</p><p>your ticket is <b>solved</b>.</p>\r\n"
    )


def test_build_message_plain_text_and_generated_id():
    raw = build_message(
        from_="support@acme.test",
        to=["a@example.com"],
        subject="Hi",
        text="Plain only\n",
        date_ms=ms(2024, 1, 2, 3, 4, 5),
    )
    msg = parse(raw)
    assert re.fullmatch(r"<[0-9a-f]+@acme\.test>", msg.message_id)
    assert msg.payload("full")["mimeType"] == "text/plain"
    assert msg.header("Date") == "Tue, 02 Jan 2024 03:04:05 +0000"
    assert msg.text == "Plain only\n" and msg.in_reply_to == () and msg.references == ()


# ---------------------------------------------------------------- real-world corpora


def test_real_world_corpora_never_break_parsing():
    if not CORPORA.is_dir():
        pytest.skip(f"no shared corpora at {CORPORA}")
    samples = mail_samples()
    assert samples
    failures = []
    for path in samples:
        try:
            msg = parse(path.read_bytes())
            full, meta = msg.payload("full"), msg.payload("metadata")
            json.dumps(full)
            json.dumps(meta)
            assert_schema_keys(full)
            assert_schema_keys(meta)
            assert isinstance(msg.snippet, str) and isinstance(msg.subject, str)
            for part_id, _kind, size, ident in _attachment_bodies(full):
                assert len(msg.attachment(ident)) == size, part_id
        except Exception as exc:  # collect all, report together
            failures.append(f"{path.relative_to(CORPORA)}: {exc!r}")
    assert not failures, "\n".join(failures[:50])


def _attachment_bodies(part: dict):
    if "attachmentId" in part["body"]:
        yield part["partId"], "attachment", part["body"]["size"], part["body"]["attachmentId"]
    for sub in part.get("parts", []):
        yield from _attachment_bodies(sub)


@pytest.mark.parametrize(
    "subject, expected",
    [
        ("Automatic reply: Re: Change of delivery address", "change of delivery address"),
        ("Out of Office: RE: Invoice", "invoice"),
        ("Réponse automatique : Re: Facture", "facture"),
        ("Automatische Antwort: AW: Rechnung", "rechnung"),
        ("Auto-Reply: hello", "hello"),
        ("Autoreply test", "autoreply test"),  # no colon: an ordinary subject
        ("Reply needed", "reply needed"),
    ],
)
def test_auto_reply_prefixes_do_not_change_the_conversation(subject, expected):
    assert normalize_subject(subject) == expected
