"""messages.*: delivery, search and paging, formats, insert/import/send (JSON and media upload),
label changes and their errors, attachments - through the real client over HTTP."""

from __future__ import annotations

from email.message import EmailMessage

import pytest
from googleapiclient.errors import HttpError
from googleapiclient.http import MediaInMemoryUpload

from api_errors import api_error
from gmaildesk.sandbox import delivery
from gmaildesk.sandbox.mime import b64url_decode, b64url_encode, build_message, parse

SUPPORT = "support@example.com"
COLLEAGUE = "colleague@example.com"
T0 = 1_700_000_000_000


def _error(call) -> tuple[int, str, str]:
    return api_error(call)


def _mail(
    subject: str = "Where is my order?",
    *,
    sender: str = "Ann <ann@customer.example>",
    to: tuple[str, ...] = (SUPPORT,),
    text: str = "Order 77 has not arrived.",
    date_ms: int = T0,
    **extra,
) -> bytes:
    return build_message(from_=sender, to=list(to), subject=subject, text=text, date_ms=date_ms, **extra)


def _with_attachment(data: bytes = b"%PDF-1.4 invoice\x00\xff") -> bytes:
    msg = EmailMessage()
    msg["From"] = "Ann <ann@customer.example>"
    msg["To"] = SUPPORT
    msg["Subject"] = "Invoice attached"
    msg["Date"] = "Tue, 14 Nov 2023 22:13:20 +0000"
    msg["Message-ID"] = "<invoice-1@customer.example>"
    msg.set_content("See the attached invoice.")
    msg.add_attachment(data, maintype="application", subtype="pdf", filename="invoice.pdf")
    return msg.as_bytes()


def _ids(listing: dict) -> list[str]:
    return [m["id"] for m in listing.get("messages", [])]


def _bulk_deliver(sandbox, count: int) -> None:
    """Many messages quickly: straight into the in-process sandbox, the same code path as control.deliver."""
    sb = sandbox.sandbox
    mailbox = sb.mailboxes[SUPPORT]
    with sb.lock, sb.store.transaction():
        for n in range(count):
            delivery.deliver(sb, mailbox, _mail(f"Bulk {n}", sender=f"c{n}@customer.example"))


# ---- delivery and listing ----------------------------------------------------------------------
def test_delivered_mail_lands_in_inbox_unread(gmail, sandbox):
    delivered = sandbox.control.deliver(SUPPORT, _mail())
    assert delivered["labelIds"] == ["INBOX", "UNREAD"]
    msg = gmail.messages().get(userId="me", id=delivered["id"]).execute()
    assert msg["threadId"] == delivered["id"]  # a new conversation: the first message's id
    headers = {h["name"]: h["value"] for h in msg["payload"]["headers"]}
    assert headers["Delivered-To"] == SUPPORT
    assert headers["Subject"] == "Where is my order?"
    profile = gmail.getProfile(userId="me").execute()
    assert (profile["emailAddress"], profile["messagesTotal"], profile["threadsTotal"]) == (SUPPORT, 1, 1)


@pytest.mark.parametrize(
    "q, expected",
    [
        ("from:ann@customer.example", ["ann"]),
        ("from:bob", ["bob"]),
        ("subject:refund", ["bob"]),
        ("order", ["ann"]),
        ('"has not arrived"', ["ann"]),
        ("is:unread", ["ann", "bob"]),
        ("-from:ann", ["bob"]),
        ("from:ann OR from:bob", ["ann", "bob"]),
        ("from:nobody@nowhere.example", []),
    ],
)
def test_list_with_q(gmail, sandbox, q, expected):
    ann = sandbox.control.deliver(SUPPORT, _mail())["id"]
    bob = sandbox.control.deliver(SUPPORT, _mail("Refund please", sender="bob@shop.example", text="Money back."))["id"]
    found = gmail.messages().list(userId="me", q=q).execute()
    assert sorted(_ids(found)) == sorted({"ann": ann, "bob": bob}[k] for k in expected)
    assert found["resultSizeEstimate"] == len(expected)


def test_list_with_label_ids_needs_every_label(gmail, sandbox):
    first = sandbox.control.deliver(SUPPORT, _mail("One"))["id"]
    second = sandbox.control.deliver(SUPPORT, _mail("Two"))["id"]
    gmail.messages().modify(userId="me", id=first, body={"addLabelIds": ["STARRED"]}).execute()
    assert _ids(gmail.messages().list(userId="me", labelIds=["INBOX", "STARRED"]).execute()) == [first]
    assert sorted(_ids(gmail.messages().list(userId="me", labelIds="INBOX").execute())) == sorted([first, second])
    assert _ids(gmail.messages().list(userId="me", labelIds=["INBOX"], q="subject:two").execute()) == [second]


def test_list_pages_newest_first_with_page_tokens(gmail, sandbox):
    ids = []
    for n in range(5):
        ids.append(sandbox.control.deliver(SUPPORT, _mail(f"Mail {n}"))["id"])
        sandbox.control.advance_clock(1)
    seen, token, pages = [], None, 0
    while True:
        page = gmail.messages().list(userId="me", maxResults=2, pageToken=token).execute()
        pages += 1
        seen += _ids(page)
        assert page["resultSizeEstimate"] == 5
        token = page.get("nextPageToken")
        if not token:
            break
    assert pages == 3
    assert seen == list(reversed(ids))


def test_list_caps_max_results_at_500(gmail, sandbox):
    _bulk_deliver(sandbox, 501)
    page = gmail.messages().list(userId="me", maxResults=1000).execute()
    assert len(page["messages"]) == 500
    assert page["resultSizeEstimate"] == 501
    rest = gmail.messages().list(userId="me", maxResults=1000, pageToken=page["nextPageToken"]).execute()
    assert len(rest["messages"]) == 1 and "nextPageToken" not in rest
    assert len(gmail.messages().list(userId="me").execute()["messages"]) == 100  # the default page size


@pytest.mark.parametrize("params", [{"maxResults": -5}, {"pageToken": "not-a-token"}])
def test_list_rejects_bad_parameters(gmail, params):
    assert _error(gmail.messages().list(userId="me", **params))[0] == 400


def test_spam_and_trash_are_hidden_unless_asked(gmail, sandbox):
    ham = sandbox.control.deliver(SUPPORT, _mail("Real question"))["id"]
    spam = sandbox.control.deliver(SUPPORT, _mail("Cheap pills", sender="spam@bad.example"), spam=True)
    assert spam["labelIds"] == ["SPAM", "UNREAD"]
    trashed = sandbox.control.deliver(SUPPORT, _mail("Old news"))["id"]
    gmail.messages().trash(userId="me", id=trashed).execute()
    assert _ids(gmail.messages().list(userId="me").execute()) == [ham]
    everything = gmail.messages().list(userId="me", includeSpamTrash=True).execute()
    assert sorted(_ids(everything)) == sorted([ham, spam["id"], trashed])
    assert _ids(gmail.messages().list(userId="me", labelIds=["SPAM"]).execute()) == [spam["id"]]
    assert _ids(gmail.messages().list(userId="me", q="in:trash").execute()) == [trashed]


# ---- formats -----------------------------------------------------------------------------------
def test_get_formats(gmail, sandbox):
    raw = _mail(cc=["boss@example.com"])
    msg_id = sandbox.control.deliver(SUPPORT, raw)["id"]
    common = {"id", "threadId", "labelIds", "snippet", "sizeEstimate", "historyId", "internalDate"}

    minimal = gmail.messages().get(userId="me", id=msg_id, format="minimal").execute()
    assert set(minimal) == common
    assert minimal["snippet"] == "Order 77 has not arrived."

    metadata = (
        gmail.messages().get(userId="me", id=msg_id, format="metadata", metadataHeaders=["Subject", "from"]).execute()
    )
    assert set(metadata) == common | {"payload"}
    assert [h["name"] for h in metadata["payload"]["headers"]] == ["From", "Subject"]
    assert "parts" not in metadata["payload"] and "data" not in metadata["payload"]["body"]
    all_headers = gmail.messages().get(userId="me", id=msg_id, format="metadata").execute()["payload"]["headers"]
    assert {"Delivered-To", "From", "To", "Cc", "Subject", "Date", "Message-ID"} <= {h["name"] for h in all_headers}

    full = gmail.messages().get(userId="me", id=msg_id, format="full").execute()
    assert full["payload"]["mimeType"] == "text/plain"
    assert b64url_decode(full["payload"]["body"]["data"]).decode().strip() == "Order 77 has not arrived."
    assert full == gmail.messages().get(userId="me", id=msg_id).execute()  # full is the default

    as_raw = gmail.messages().get(userId="me", id=msg_id, format="raw").execute()
    assert set(as_raw) == common | {"raw"}
    assert (
        b64url_decode(as_raw["raw"])
        == (
            f"Delivered-To: {SUPPORT}\r\nAuthentication-Results: mx.google.com;\r\n"
            "       dkim=pass header.i=@customer.example;\r\n       spf=pass smtp.mailfrom=customer.example;\r\n"
            "       dmarc=pass (p=NONE) header.from=customer.example\r\n"
        ).encode()
        + raw
    )
    assert int(as_raw["sizeEstimate"]) == len(b64url_decode(as_raw["raw"]))


def test_get_unknown_id_is_404(gmail, sandbox):
    sandbox.control.deliver(SUPPORT, _mail())
    assert _error(gmail.messages().get(userId="me", id="0000000000000001"))[:2] == (404, "notFound")


# ---- insert and import -------------------------------------------------------------------------
@pytest.mark.parametrize("method, default_date", [("insert", "now"), ("import_", "header")])
def test_insert_and_import_with_raw_in_the_body(gmail, sandbox, method, default_date):
    raw = _mail(date_ms=T0)
    result = getattr(gmail.messages(), method)(
        userId="me", body={"raw": b64url_encode(raw), "labelIds": ["INBOX", "UNREAD"]}
    ).execute()
    assert result["labelIds"] == ["INBOX", "UNREAD"]
    msg = gmail.messages().get(userId="me", id=result["id"], format="raw").execute()
    assert b64url_decode(msg["raw"]) == raw  # no Delivered-To: insert/import are not SMTP delivery
    now = sandbox.control.clock()["nowMs"]
    if default_date == "header":  # import defaults to internalDateSource=dateHeader
        assert msg["internalDate"] == str(T0)
    else:  # insert defaults to receivedTime
        assert abs(int(msg["internalDate"]) - now) < 60_000


def test_insert_with_date_header_source_and_no_labels(gmail):
    raw = _mail(date_ms=T0)
    result = (
        gmail.messages()
        .insert(userId="me", internalDateSource="dateHeader", body={"raw": b64url_encode(raw)})
        .execute()
    )
    assert "labelIds" not in result
    assert gmail.messages().get(userId="me", id=result["id"]).execute()["internalDate"] == str(T0)
    assert _ids(gmail.messages().list(userId="me", labelIds=["INBOX"]).execute()) == []
    assert _ids(gmail.messages().list(userId="me").execute()) == [result["id"]]  # it is in All Mail


def test_insert_does_not_run_filters_or_the_vacation_responder(gmail, sandbox):
    gmail.settings().filters().create(
        userId="me", body={"criteria": {"from": "ann@customer.example"}, "action": {"addLabelIds": ["STARRED"]}}
    ).execute()
    gmail.settings().updateVacation(userId="me", body={"enableAutoReply": True, "responseSubject": "Away"}).execute()
    result = gmail.messages().insert(userId="me", body={"raw": b64url_encode(_mail()), "labelIds": ["INBOX"]}).execute()
    assert result["labelIds"] == ["INBOX"]
    assert sandbox.control.outbox(SUPPORT) == []


@pytest.mark.parametrize(
    "body, status",
    [
        ({}, 400),
        ({"raw": ""}, 400),
        ({"raw": b64url_encode(b"x"), "labelIds": ["Label_404"]}, 400),
    ],
)
def test_insert_errors(gmail, body, status):
    assert _error(gmail.messages().insert(userId="me", body=body))[0] == status


def test_media_upload_through_api_endpoint_goes_to_https(gmail):
    """googleapiclient keeps the discovery document's https scheme for /upload/ URLs and only swaps
    the host (_fix_up_media_path_base_url), so with client_options api_endpoint=http://... a media
    upload cannot reach a plain-HTTP sandbox. The `uploads` fixture (rootUrl rewritten) can."""
    request = gmail.messages().insert(
        userId="me", media_body=MediaInMemoryUpload(_mail(), mimetype="message/rfc822", resumable=False)
    )
    assert request.uri.startswith("https://127.0.0.1:")
    assert "/upload/gmail/v1/users/me/messages?" in request.uri


@pytest.mark.parametrize("with_metadata", [True, False])
@pytest.mark.parametrize("method", ["insert", "import_"])
def test_insert_and_import_by_media_upload(uploads, gmail, method, with_metadata):
    raw = _mail(date_ms=T0)
    media = MediaInMemoryUpload(raw, mimetype="message/rfc822", resumable=False)
    kwargs = {"body": {"labelIds": ["INBOX", "Label_1"]}} if with_metadata else {}
    if with_metadata:
        gmail.labels().create(userId="me", body={"name": "Imported"}).execute()
    request = getattr(uploads.messages(), method)(userId="me", media_body=media, **kwargs)
    assert request.uri.startswith("http://127.0.0.1:")
    assert ("uploadType=multipart" if with_metadata else "uploadType=media") in request.uri
    expected_type = "multipart/related" if with_metadata else "message/rfc822"
    assert request.headers["content-type"].startswith(expected_type)
    result = request.execute()
    assert result.get("labelIds", []) == (["INBOX", "Label_1"] if with_metadata else [])
    stored = gmail.messages().get(userId="me", id=result["id"], format="raw").execute()
    assert b64url_decode(stored["raw"]) == raw  # the uploaded bytes, exactly


def test_send_by_media_upload(uploads, gmail, sandbox):
    raw = _mail("Upload send", sender=SUPPORT, to=("ann@customer.example",))
    sent = (
        uploads.messages()
        .send(userId="me", body={}, media_body=MediaInMemoryUpload(raw, mimetype="message/rfc822", resumable=False))
        .execute()
    )
    assert sent["labelIds"] == ["SENT"]
    assert [m["subject"] for m in sandbox.control.outbox(SUPPORT)] == ["Upload send"]


def test_resumable_upload_is_refused(uploads):
    media = MediaInMemoryUpload(_mail(), mimetype="message/rfc822", resumable=True)
    with pytest.raises(HttpError) as caught:
        uploads.messages().insert(userId="me", body={"labelIds": ["INBOX"]}, media_body=media).execute()
    assert caught.value.status_code == 400
    assert "resumable" in caught.value.error_details[0]["message"]


# ---- send --------------------------------------------------------------------------------------
def _send(gmail, raw: bytes, **body) -> dict:
    return gmail.messages().send(userId="me", body={"raw": b64url_encode(raw), **body}).execute()


def _headers(gmail, msg_id: str, user: str = "me") -> dict[str, str]:
    msg = gmail.messages().get(userId=user, id=msg_id, format="metadata").execute()
    return {h["name"]: h["value"] for h in msg["payload"]["headers"]}


def test_send_lands_in_sent_and_the_outbox(gmail, sandbox):
    sent = _send(gmail, _mail("Your order", sender=SUPPORT, to=("ann@customer.example",)))
    assert sent["labelIds"] == ["SENT"]
    assert sent["threadId"] == sent["id"]
    [entry] = sandbox.control.outbox(SUPPORT, include_raw=True)
    assert (entry["kind"], entry["from"], entry["to"], entry["subject"]) == (
        "sent",
        SUPPORT,
        ["ann@customer.example"],
        "Your order",
    )
    assert parse(b64url_decode(entry["raw"])).header("Subject") == "Your order"
    assert _ids(gmail.messages().list(userId="me", labelIds=["SENT"]).execute()) == [sent["id"]]
    assert _ids(gmail.messages().list(userId="me", labelIds=["INBOX"]).execute()) == []


@pytest.mark.parametrize(
    "claimed",
    [
        "Mallory <ceo@elsewhere.example>",
        "nobody@example.com",
        "A Display Name Long Enough To Be Folded Over Two Lines By The Generator <ceo@elsewhere.example>",
    ],
)
def test_send_rewrites_a_from_we_do_not_own(gmail, sandbox, claimed):
    sent = _send(gmail, _mail("Spoof", sender=claimed, to=("ann@customer.example",)))
    assert _headers(gmail, sent["id"])["From"] == SUPPORT
    [entry] = sandbox.control.outbox(SUPPORT, include_raw=True)
    head = b64url_decode(entry["raw"]).split(b"\r\n\r\n")[0]
    assert b"ceo@elsewhere.example" not in head  # no folded remnant of the old From either
    assert parse(b64url_decode(entry["raw"])).header_all("From") == [SUPPORT]


def test_send_from_uses_the_default_alias_display_name(gmail, sandbox):
    gmail.settings().sendAs().create(
        userId="me", body={"sendAsEmail": "help@example.com", "displayName": "Help Desk", "isDefault": True}
    ).execute()
    sent = _send(gmail, _mail("Spoof", sender="ceo@elsewhere.example", to=("ann@customer.example",)))
    assert _headers(gmail, sent["id"])["From"] == "Help Desk <help@example.com>"


def test_send_keeps_our_own_from_and_adds_missing_message_id(gmail):
    raw = b"From: Support <support@example.com>\r\nTo: ann@customer.example\r\nSubject: Bare\r\n\r\nHi\r\n"
    headers = _headers(gmail, _send(gmail, raw)["id"])
    assert headers["From"] == "Support <support@example.com>"
    assert headers["Message-ID"].startswith("<") and headers["Message-ID"].endswith(">")
    assert "Date" in headers


def test_send_without_recipients_is_400(gmail):
    raw = b"From: support@example.com\r\nSubject: Nobody\r\n\r\nHi\r\n"
    assert _error(gmail.messages().send(userId="me", body={"raw": b64url_encode(raw)}))[0] == 400


def test_reply_joins_the_customer_thread(gmail, sandbox):
    question = _mail(message_id="<q1@customer.example>")
    delivered = sandbox.control.deliver(SUPPORT, question)
    reply = _mail(
        "Re: Where is my order?",
        sender=SUPPORT,
        to=("ann@customer.example",),
        in_reply_to="<q1@customer.example>",
        references=["<q1@customer.example>"],
        date_ms=T0 + 60_000,
    )
    sent = _send(gmail, reply, threadId=delivered["threadId"])
    assert sent["threadId"] == delivered["threadId"]
    thread = gmail.threads().get(userId="me", id=delivered["threadId"], format="minimal").execute()
    assert [m["id"] for m in thread["messages"]] == [delivered["id"], sent["id"]]
    # and without threadId in the body, the headers alone still thread it
    again = _send(
        gmail,
        _mail(
            "Re: Where is my order?",
            sender=SUPPORT,
            to=("ann@customer.example",),
            in_reply_to="<q1@customer.example>",
            references=["<q1@customer.example>"],
        ),
    )
    assert again["threadId"] == delivered["threadId"]


def test_bcc_is_kept_in_our_copy_but_never_shown_to_recipients(gmail, sandbox):
    raw = build_message(
        from_=SUPPORT,
        to=[COLLEAGUE],
        subject="Handover",
        text="Please take over.",
        date_ms=T0,
        extra_headers=[("Bcc", "audit@archive.example")],
    )
    sent = _send(gmail, raw)
    assert _headers(gmail, sent["id"])["Bcc"] == "audit@archive.example"
    [entry] = sandbox.control.outbox(SUPPORT, include_raw=True)
    assert sorted(entry["to"]) == sorted([COLLEAGUE, "audit@archive.example"])
    assert b"audit@archive.example" not in b64url_decode(entry["raw"])
    [received] = _ids(gmail.messages().list(userId=COLLEAGUE).execute())
    assert "Bcc" not in _headers(gmail, received, COLLEAGUE)


def test_a_folded_bcc_header_is_removed_whole(gmail, sandbox):
    hidden = [f"hidden-recipient-number-{n}@archive-department.example" for n in range(4)]
    raw = build_message(
        from_=SUPPORT,
        to=[COLLEAGUE],
        subject="Handover",
        text="Please take over.",
        date_ms=T0,
        extra_headers=[("Bcc", ", ".join(hidden))],
    )
    assert b"\r\n hidden-recipient-number-1" in raw  # the generator folded it
    _send(gmail, raw)
    [entry] = sandbox.control.outbox(SUPPORT, include_raw=True)
    assert sorted(entry["to"]) == sorted([COLLEAGUE, *hidden])
    assert b"hidden-recipient" not in b64url_decode(entry["raw"])
    [received] = _ids(gmail.messages().list(userId=COLLEAGUE).execute())
    got = gmail.messages().get(userId=COLLEAGUE, id=received, format="raw").execute()
    assert b"hidden-recipient" not in b64url_decode(got["raw"])


def test_send_to_the_other_sandbox_user_delivers_into_their_inbox(gmail):
    sent = _send(gmail, _mail("Can you check?", sender=SUPPORT, to=(COLLEAGUE,)))
    inbox = gmail.messages().list(userId=COLLEAGUE, labelIds=["INBOX"]).execute()
    [received] = _ids(inbox)
    got = gmail.messages().get(userId=COLLEAGUE, id=received, format="metadata").execute()
    assert got["labelIds"] == ["INBOX", "UNREAD"]
    headers = {h["name"]: h["value"] for h in got["payload"]["headers"]}
    assert headers["Delivered-To"] == COLLEAGUE and headers["Subject"] == "Can you check?"
    assert received != sent["id"]  # a separate copy in a separate mailbox
    assert gmail.getProfile(userId=COLLEAGUE).execute()["messagesTotal"] == 1


def test_send_to_ourselves_shows_in_inbox_too(gmail):
    sent = _send(gmail, _mail("Note to self", sender=SUPPORT, to=(SUPPORT,)))
    assert sorted(sent["labelIds"]) == ["INBOX", "SENT"]


# ---- modify, batchModify, trash ----------------------------------------------------------------
def test_modify_adds_and_removes_labels(gmail, sandbox):
    msg_id = sandbox.control.deliver(SUPPORT, _mail())["id"]
    label = gmail.labels().create(userId="me", body={"name": "Orders"}).execute()
    result = (
        gmail.messages()
        .modify(
            userId="me",
            id=msg_id,
            body={"addLabelIds": [label["id"], "STARRED"], "removeLabelIds": ["UNREAD", "INBOX"]},
        )
        .execute()
    )
    assert sorted(result["labelIds"]) == sorted([label["id"], "STARRED"])
    assert set(result) == {"id", "threadId", "labelIds"}
    assert _ids(gmail.messages().list(userId="me", q="label:orders is:starred").execute()) == [msg_id]


@pytest.mark.parametrize(
    "body",
    [
        {"addLabelIds": ["SENT"]},
        {"addLabelIds": ["DRAFT"]},
        {"removeLabelIds": ["SENT"]},
        {"addLabelIds": ["Label_404"]},
        {"removeLabelIds": ["NOPE"]},
    ],
)
def test_modify_refuses_sent_draft_and_unknown_labels(gmail, sandbox, body):
    msg_id = sandbox.control.deliver(SUPPORT, _mail())["id"]
    status, reason, message = _error(gmail.messages().modify(userId="me", id=msg_id, body=body))
    assert (status, reason) == (400, "invalidArgument")
    assert message.startswith("Invalid label")


def test_modify_unknown_id_is_404(gmail):
    assert _error(gmail.messages().modify(userId="me", id="0000000000000001", body={"addLabelIds": ["STARRED"]}))[
        :2
    ] == (404, "notFound")


def test_batch_modify_1000_ids_ok_1001_refused(gmail, sandbox):
    real = [sandbox.control.deliver(SUPPORT, _mail(f"Mail {n}"))["id"] for n in range(3)]
    ids = real + [f"{n:016x}" for n in range(1, 998)]
    assert len(ids) == 1000
    assert gmail.messages().batchModify(
        userId="me", body={"ids": ids, "addLabelIds": ["STARRED"], "removeLabelIds": ["UNREAD"]}
    ).execute() in ("", b"", b"{}")
    for msg_id in real:
        labels = gmail.messages().get(userId="me", id=msg_id, format="minimal").execute()["labelIds"]
        assert labels == ["INBOX", "STARRED"]
    status, reason, message = _error(
        gmail.messages().batchModify(userId="me", body={"ids": ids + ["00000000000003e9"], "addLabelIds": ["STARRED"]})
    )
    assert (status, reason, message) == (400, "invalidArgument", "Number of ids cannot exceed 1000")


def test_trash_and_untrash_restore_the_inbox(gmail, sandbox):
    msg_id = sandbox.control.deliver(SUPPORT, _mail())["id"]
    trashed = gmail.messages().trash(userId="me", id=msg_id).execute()
    assert "TRASH" in trashed["labelIds"] and "INBOX" not in trashed["labelIds"]
    assert _ids(gmail.messages().list(userId="me").execute()) == []
    restored = gmail.messages().untrash(userId="me", id=msg_id).execute()
    assert sorted(restored["labelIds"]) == ["INBOX", "UNREAD"]
    archived = sandbox.control.deliver(SUPPORT, _mail("Archived"))["id"]
    gmail.messages().modify(userId="me", id=archived, body={"removeLabelIds": ["INBOX"]}).execute()
    gmail.messages().trash(userId="me", id=archived).execute()
    assert gmail.messages().untrash(userId="me", id=archived).execute()["labelIds"] == ["UNREAD"]


def test_trash_spam_removes_spam(gmail, sandbox):
    spam = sandbox.control.deliver(SUPPORT, _mail("Pills"), spam=True)["id"]
    assert gmail.messages().trash(userId="me", id=spam).execute()["labelIds"] == ["TRASH", "UNREAD"]


def test_delete_and_batch_delete(gmail, sandbox):
    ids = [sandbox.control.deliver(SUPPORT, _mail(f"Mail {n}"))["id"] for n in range(3)]
    gmail.messages().delete(userId="me", id=ids[0]).execute()
    gmail.messages().batchDelete(userId="me", body={"ids": ids[1:]}).execute()
    assert gmail.getProfile(userId="me").execute()["messagesTotal"] == 0
    assert _error(gmail.messages().delete(userId="me", id=ids[0]))[:2] == (404, "notFound")


@pytest.mark.parametrize("q", ["from:(bob", "frm:bob", '"unterminated', "larger:abc"])
def test_bad_query_is_400(gmail, sandbox, q):
    sandbox.control.deliver(SUPPORT, _mail())
    status, reason, message = _error(gmail.messages().list(userId="me", q=q))
    assert (status, reason) == (400, "invalidArgument")
    assert message.startswith("Invalid search query")


def test_unknown_user_is_404(gmail):
    assert _error(gmail.messages().list(userId="nobody@example.com"))[:2] == (404, "notFound")


# ---- attachments -------------------------------------------------------------------------------
def test_attachment_get_returns_the_decoded_bytes(gmail, sandbox):
    data = b"%PDF-1.4 invoice\x00\xff" * 50
    msg_id = sandbox.control.deliver(SUPPORT, _with_attachment(data))["id"]
    payload = gmail.messages().get(userId="me", id=msg_id).execute()["payload"]
    assert payload["mimeType"] == "multipart/mixed"
    text_part, pdf_part = payload["parts"]
    assert (text_part["partId"], pdf_part["partId"]) == ("0", "1")
    assert pdf_part["filename"] == "invoice.pdf" and pdf_part["mimeType"] == "application/pdf"
    assert "data" not in pdf_part["body"]
    attachment_id = pdf_part["body"]["attachmentId"]
    got = gmail.messages().attachments().get(userId="me", messageId=msg_id, id=attachment_id).execute()
    assert b64url_decode(got["data"]) == data
    assert got["size"] == len(data) == pdf_part["body"]["size"]
    assert _ids(gmail.messages().list(userId="me", q="has:attachment filename:pdf").execute()) == [msg_id]
    assert _error(gmail.messages().attachments().get(userId="me", messageId=msg_id, id="ANGjdJnope"))[:2] == (
        404,
        "notFound",
    )


def test_malformed_ids_are_400_and_unknown_ids_404(gmail):
    with pytest.raises(HttpError) as malformed:
        gmail.messages().get(userId="me", id="not-an-id").execute()
    assert malformed.value.status_code == 400 and malformed.value.reason == "Invalid id value"
    with pytest.raises(HttpError) as unknown:
        gmail.threads().get(userId="me", id="18c0ffee00000000").execute()
    assert unknown.value.status_code == 404


def test_a_second_delivery_of_the_same_message_id_is_dropped(gmail, sandbox):
    raw = build_message(
        from_="ann@customer.example",
        to=[SUPPORT],
        subject="Once",
        text="only once",
        date_ms=1_700_000_000_000,
        message_id="<once@customer.example>",
    )
    first = sandbox.control.deliver(SUPPORT, raw)
    again = sandbox.control.deliver(SUPPORT, raw)
    assert (first["duplicate"], again["duplicate"]) == (False, True)
    assert again["id"] == first["id"]
    assert gmail.messages().list(userId="me", q="subject:once").execute()["resultSizeEstimate"] == 1


def test_paging_sees_a_renamed_label_at_once(gmail, sandbox):
    label = gmail.labels().create(userId="me", body={"name": "Old"}).execute()
    for i in range(3):
        delivered = sandbox.control.deliver(
            SUPPORT,
            build_message(
                from_=f"c{i}@customer.example", to=[SUPPORT], subject=f"S{i}", text="x", date_ms=1_700_000_000_000
            ),
        )
        gmail.messages().modify(userId="me", id=delivered["id"], body={"addLabelIds": [label["id"]]}).execute()
    assert gmail.messages().list(userId="me", q="label:old").execute()["resultSizeEstimate"] == 3
    gmail.labels().patch(userId="me", id=label["id"], body={"name": "New"}).execute()
    assert gmail.messages().list(userId="me", q="label:old").execute()["resultSizeEstimate"] == 0
    assert gmail.messages().list(userId="me", q="label:new").execute()["resultSizeEstimate"] == 3
