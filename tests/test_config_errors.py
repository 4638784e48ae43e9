"""Bad desk.yaml files: each gives exactly one line `desk.yaml:LINE: key.path: message` (plus hints),
raised as GmailDeskError before anything is contacted."""

from __future__ import annotations

import socket
from pathlib import Path
from textwrap import dedent

import pytest

from gmaildesk.config import load_desk
from gmaildesk.errors import ExitCode, GmailDeskError

HEAD = "version: 1\nmailbox: support@example.com\n"  # lines 1-2 of most cases
PALETTE_HINT = (
    "Gmail accepts only its 113-colour palette (lowercase), e.g. #fad165 yellow, #16a766 green, "
    "#4a86e8 blue, #fb4c2f red, #a479e2 purple, #cccccc grey, #ffffff, #000000; all: "
    "https://developers.google.com/workspace/gmail/api/reference/rest/v1/users.labels#color"
)
LOOP_HINT = "forward to someone outside the desk"
CONTROL_HINT = (
    "label names show in Gmail's menus, in IMAP folder names and in gmaildesk's own output; "
    "write the name without control characters"
)


def case(name: str, yaml_text: str, message: str, hints: tuple[str, ...] = (), files: dict[str, str] | None = None):
    return pytest.param(dedent(yaml_text), message, hints, files or {}, id=name)


CASES = [
    # --- YAML itself -----------------------------------------------------------------------
    case(
        "yaml syntax: unclosed flow list",
        HEAD + "team: [lead@example.com\n",
        "desk.yaml:4:1: expected ',' or ']', but got '<stream end>'",
        ("while parsing a flow sequence (line 3)",),
    ),
    case(
        "yaml syntax: colon in plain value",
        HEAD + "vars:\n  a: b: c\n",
        "desk.yaml:4:7: mapping values are not allowed here",
    ),
    case(
        "yaml syntax: tab indentation",
        HEAD + "vars:\n\tcompany: Acme\n",
        "desk.yaml:4:1: found character '\\t' that cannot start any token",
        ("while scanning for the next token", "YAML indentation must use spaces, not tabs"),
    ),
    case(
        "duplicate key",
        HEAD + "departments:\n  - name: Billing\n    name: Sales\n",
        "desk.yaml:5: departments[0].name: duplicate key (first written on line 4)",
    ),
    case(
        "key that YAML reads as a boolean",
        HEAD + "vars:\n  yes: 1\n",
        "desk.yaml:4: vars: key yes is not text",
        ('quote the key, e.g. "yes": - YAML reads yes/no/on/off as true/false',),
    ),
    case(
        "a date YAML cannot read",
        HEAD + "vars:\n  since: 2026-13-45\n",
        "desk.yaml:4:10: '2026-13-45' is not a valid number or date (month must be in 1..12)",
        ("put it in quotes to keep it as text",),
    ),
    case(
        "a number of 5,000 digits",
        HEAD + "vars:\n  big: " + "1" * 5000 + "\n",
        "desk.yaml:4:8: '" + "1" * 40 + "...' is not a valid number or date (Exceeds the limit (4300 digits) "
        "for integer string conversion)",
        ("put it in quotes to keep it as text",),
    ),
    case(
        "empty file",
        "",
        "desk.yaml:1: the file is empty",
        ("`gmaildesk init` writes a commented example to start from",),
    ),
    case(
        "top level is a list",
        "- support@example.com\n",
        "desk.yaml:1: expected settings (key: value lines) at the top level, got a list",
    ),
    # --- schema ----------------------------------------------------------------------------
    case(
        "wrong version",
        "version: 2\nmailbox: support@example.com\n",
        "desk.yaml:1: version: unsupported version 2; this gmaildesk reads version 1",
    ),
    case(
        "missing version",
        "mailbox: support@example.com\n",
        "desk.yaml:1: version: required key is missing",
        ("add `version: 1` as the first line",),
    ),
    case("missing mailbox", "version: 1\n", "desk.yaml:1: mailbox: required key is missing"),
    case(
        "unknown top-level key",
        HEAD + "fliters: []\n",
        "desk.yaml:3: fliters: unknown key",
        ("did you mean 'filters'?",),
    ),
    case(
        "unknown nested key",
        HEAD + "departments:\n  - name: Billing\n    colour: '#16a766'\n",
        "desk.yaml:5: departments[0].colour: unknown key",
        ("did you mean 'color'?",),
    ),
    case(
        "missing department name",
        HEAD + "departments:\n  - color: '#16a766'\n",
        "desk.yaml:4: departments[0].name: required key is missing",
    ),
    case(
        "wrong type",
        HEAD + "auto_ack:\n  subject: Hi\n  enabled: 'yes'\n",
        "desk.yaml:5: auto_ack.enabled: expected true or false, got 'yes'",
    ),
    case(
        "mailbox not an email",
        "version: 1\nmailbox: support\n",
        "desk.yaml:2: mailbox: 'support' is not an email address",
        ("write a plain address such as billing@example.com",),
    ),
    case(
        "mailbox that climbs out of a folder",
        'version: 1\nmailbox: "../../x@example.com"\n',
        "desk.yaml:2: mailbox: '../../x@example.com' is not an email address",
        ("write a plain address such as billing@example.com",),
    ),
    case(
        "mailbox with a character no Gmail account has",
        "version: 1\nmailbox: sup/port@example.com\n",
        "desk.yaml:2: mailbox: 'sup/port@example.com' is not a Gmail account address",
        (
            "the mailbox is the account the desk runs in: a username of letters, digits, '.', '-', '_' or \"'\" "
            "(Google Workspace Admin Help 9193374) at a domain, e.g. support@example.com",
        ),
    ),
    case(
        "team entry neither address nor domain",
        HEAD + "team: [example.com, not an address]\n",
        "desk.yaml:3: team[1]: 'not an address' is neither an email address nor a domain",
        ("list addresses (lead@partner.example) or whole domains (example.com)",),
    ),
    case(
        "reserved template variable",
        HEAD + "vars: {mailbox: other@example.com}\n",
        "desk.yaml:3: vars.mailbox: 'mailbox' is set by gmaildesk for every template; choose another name",
    ),
    # --- colours -----------------------------------------------------------------------------
    case(
        "colour not in the palette",
        HEAD + "departments:\n  - name: Billing\n  - name: Sales\n    color: '#123456'\n",
        "desk.yaml:6: departments[1].color: '#123456' is not a Gmail label colour",
        ("the nearest Gmail colour is '#0d3b44'", PALETTE_HINT),
    ),
    case(
        "text colour by name",
        HEAD + "departments:\n  - name: Billing\n    color: {background: '#16a766', text: white}\n",
        "desk.yaml:5: departments[0].color.text: 'white' is not a Gmail label colour",
        (PALETTE_HINT,),
    ),
    case(
        "uppercase colour",
        HEAD + "statuses:\n  new: {color: '#FAD165'}\n",
        "desk.yaml:4: statuses.new.color: '#FAD165' must be written in lowercase: '#fad165'",
        ("Gmail rejects upper-case colour values (400 'not on the allowed color palette')",),
    ),
    # --- label names -------------------------------------------------------------------------
    case(
        "reserved label name",
        HEAD + "labels: {department_prefix: ''}\ndepartments:\n  - name: Inbox\n",
        "desk.yaml:5: departments[0].name: 'Inbox' is a Gmail system label name",
        (
            "Gmail reserves the names of its system labels (Inbox, Sent, Drafts, Spam, Trash, Starred, "
            "Important, Unread, Chats, ...); filters set those with archive, star, important, mark_read and "
            "never_spam",
        ),
    ),
    case(
        "label under INBOX/",
        HEAD + "filters:\n  - match: {from: news@tools.example}\n    actions: {labels: [INBOX/News]}\n",
        "desk.yaml:5: filters[0].actions.labels[0]: label 'INBOX/News' is under INBOX/, which Gmail refuses",
        ("choose another top-level name",),
    ),
    case(
        "empty label segment",
        HEAD + "departments:\n  - name: /X\n",
        "desk.yaml:4: departments[0].name: label 'Dept//X' has an empty part between '/' separators",
        ("Gmail nests labels by '/', so every part needs a name, e.g. Dept/Billing",),
    ),
    case(
        "label with an escape character",
        HEAD + 'departments:\n  - name: "Bil\\eling"\n',
        "desk.yaml:4: departments[0].name: label 'Dept/Bil\\u001bling' contains the control character U+001B ESCAPE",
        (CONTROL_HINT,),
    ),
    case(
        "label with a line break",
        HEAD + 'filters:\n  - match: {from: a@b.example}\n    actions: {labels: ["News\\nBcc: x"]}\n',
        "desk.yaml:5: filters[0].actions.labels[0]: label 'News\\u000aBcc: x' contains the control character "
        "U+000A LINE FEED",
        (CONTROL_HINT,),
    ),
    case(
        "label with NUL",
        HEAD + 'statuses:\n  new: {name: "New\\0"}\n',
        "desk.yaml:4: statuses.new.name: label 'Status/New\\u0000' contains the control character U+0000 NUL",
        (CONTROL_HINT,),
    ),
    case(
        "label with a right-to-left override",
        HEAD + 'departments:\n  - name: "Bill\\u202Egni"\n',
        "desk.yaml:4: departments[0].name: label 'Dept/Bill\\u202egni' contains the control character "
        "U+202E RIGHT-TO-LEFT OVERRIDE",
        (CONTROL_HINT,),
    ),
    case(
        "label with a C1 control (NEL)",
        HEAD + 'departments:\n  - name: "Sales\\N"\n',
        "desk.yaml:4: departments[0].name: label 'Dept/Sales\\u0085' contains the control character U+0085",
        (CONTROL_HINT,),
    ),
    case(
        "label name too long",
        HEAD + "departments:\n  - name: " + "x" * 221 + "\n",
        "desk.yaml:4: departments[0].name: label 'Dept/xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx...' is 226 characters; "
        "Gmail allows at most 225",
    ),
    case(
        "prefix without slash",
        HEAD + "labels: {department_prefix: Dept}\n",
        "desk.yaml:3: labels.department_prefix: 'Dept' must end with '/' (or be empty for top-level labels)",
        ("did you mean 'Dept/'?",),
    ),
    case(
        "duplicate department names",
        HEAD + "departments:\n  - name: Billing\n  - name: billing\n",
        "desk.yaml:5: departments[1].name: 'billing' is already the name of departments[0] (line 4)",
        ("names are compared ignoring case",),
    ),
    case(
        "department label equals a default status label",
        HEAD + "labels: {department_prefix: 'Desk/'}\nstatuses: {prefix: 'Desk/'}\ndepartments:\n  - name: New\n",
        "desk.yaml:6: departments[0].name: label 'Desk/New' is already the label of the default statuses.new",
        (
            "Gmail label names are unique regardless of case; rename one, or give departments and statuses "
            "different prefixes",
        ),
    ),
    case(
        "two statuses with one name",
        HEAD + "statuses:\n  new: {name: Open}\n  waiting: {name: open}\n",
        "desk.yaml:5: statuses.waiting.name: label 'Status/open' differs only in case from 'Status/Open' "
        "(statuses.new, line 4)",
        ("Gmail label names are unique regardless of case; rename one",),
    ),
    case(
        "filter label differing in case from a department label",
        HEAD + "departments:\n  - name: Billing\nfilters:\n  - match: {from: '@stripe.com'}\n"
        "    actions: {labels: [dept/billing]}\n",
        "desk.yaml:7: filters[0].actions.labels[0]: label 'dept/billing' differs only in case from "
        "'Dept/Billing' (departments[0], line 4)",
        ("write it exactly as 'Dept/Billing' to use that label, or choose another name",),
    ),
    case(
        "filter with two user labels",
        HEAD + "filters:\n  - match: {from: '@stripe.com'}\n    actions: {labels: [Receipts, Finance]}\n",
        "desk.yaml:5: filters[0].actions.labels: a Gmail filter can add only one user label; this one lists 2",
        ("write one filter per label, each with the same match",),
    ),
    # --- durations and sizes -----------------------------------------------------------------
    case(
        "bad duration unit",
        HEAD + "departments:\n  - name: Billing\n    sla: {first_response: 4x}\n",
        "desk.yaml:5: departments[0].sla.first_response: '4x' has an unknown unit 'x'; use m, h, d or w, "
        "e.g. 30m, 4h, 2d or 1w",
    ),
    case(
        "sla.next_response missing unit",
        HEAD + "departments:\n  - name: Billing\n    sla:\n      first_response: 4h\n      next_response: 1\n",
        "desk.yaml:7: departments[0].sla.next_response: '1' has no unit; use m (minutes), h (hours), d (days) "
        "or w (weeks), e.g. 30m, 4h, 2d or 1w",
    ),
    case(
        "SLA of 999999999 weeks",
        HEAD + "departments:\n  - name: Billing\n    sla: {first_response: 999999999w}\n",
        "desk.yaml:5: departments[0].sla.first_response: '999999999w' is 999999999 weeks; at most 366 days "
        "(a year) is allowed",
        ("an SLA or close_after longer than a year never comes due; e.g. 4h, 2d or 1w",),
    ),
    case(
        "close_after of 53 weeks",
        HEAD + "sweep: {close_after: 53w}\n",
        "desk.yaml:3: sweep.close_after: '53w' is 53 weeks; at most 366 days (a year) is allowed",
        ("an SLA or close_after longer than a year never comes due; e.g. 4h, 2d or 1w",),
    ),
    case(
        "duration with thousands of digits",
        HEAD + "sweep: {close_after: " + "9" * 5000 + "d}\n",
        "desk.yaml:3: sweep.close_after: '" + "9" * 40 + "' is far too long a duration; use e.g. 30m, 4h, 2d or 1w",
    ),
    case(
        "sweep close_after zero",
        HEAD + "sweep: {close_after: 0d}\n",
        "desk.yaml:3: sweep.close_after: '0d' is zero; a duration must be positive",
    ),
    case(
        "bad size",
        HEAD + "filters:\n  - match: {larger: 5X}\n    actions: {archive: true}\n",
        "desk.yaml:4: filters[0].match.larger: '5X' is not a message size; use bytes or e.g. 500K, 5M",
    ),
    # --- queries and routes ------------------------------------------------------------------
    case(
        "route query does not parse",
        HEAD + "departments:\n  - name: Billing\n    routes:\n"
        "      - to: billing@example.com\n"
        "      - query: 'has:attachment (filename:pdf'\n",
        "desk.yaml:7: departments[0].routes[1].query: unclosed '(' at character 16",
        ("has:attachment (filename:pdf", "               ^"),
    ),
    case(
        "query nested beyond the parser's limit",
        HEAD + "filters:\n  - match: {query: '" + "(" * 5000 + "x" + ")" * 5000 + "'}\n    actions: {star: true}\n",
        "desk.yaml:4: filters[0].match.query: query is nested too deeply at character 101",
        ("..." + "(" * 120 + "...", " " * 63 + "^"),
    ),
    case(
        "unknown search operator",
        HEAD + "filters:\n  - match: {query: 'frm:bob'}\n    actions: {star: true}\n",
        "desk.yaml:4: filters[0].match.query: unknown search operator 'frm:' at character 1",
        ("frm:bob", "^"),
    ),
    case(
        "hour unit in sweep scope",
        HEAD + "sweep: {scope: 'newer_than:3h'}\n",
        "desk.yaml:3: sweep.scope: bad value '3h' for newer_than: Gmail has no hour unit; use d (days), "
        "m (months) or y (years) at character 12",
        ("newer_than:3h", "           ^"),
    ),
    case(
        "filter criterion dangling OR",
        HEAD + "filters:\n  - match: {from: 'ann@customer.example OR'}\n    actions: {star: true}\n",
        "desk.yaml:4: filters[0].match.from: OR needs a term on each side at character 22",
        ("ann@customer.example OR", "                     ^"),
    ),
    case(
        "route with two keys",
        HEAD + "departments:\n  - name: Billing\n    routes:\n      - {to: billing@example.com, from: '@stripe.com'}\n",
        "desk.yaml:6: departments[0].routes[0]: a route has exactly one of to, from, subject, words, query; "
        "found to, from",
        (
            "write one route per condition (any route matching is enough), or use query: for conditions that "
            "must all hold",
        ),
    ),
    case(
        "double quote in a route word",
        HEAD + "departments:\n  - name: Billing\n    routes:\n      - words: [refund, 'say \"hi\"']\n",
        'desk.yaml:6: departments[0].routes[0].words[1]: must not contain a double quote ("); Gmail queries '
        "cannot escape it",
        ("drop the quotes, or write the condition as a query: route",),
    ),
    case(
        "filter without conditions",
        HEAD + "filters:\n  - match: {}\n    actions: {archive: true}\n",
        "desk.yaml:4: filters[0].match: a filter needs at least one condition",
        ("e.g. from, to, subject, query or has_attachment",),
    ),
    case(
        "filter without actions",
        HEAD + "filters:\n  - match: {from: '@stripe.com'}\n    actions: {}\n",
        "desk.yaml:5: filters[0].actions: a filter needs at least one action",
        ("e.g. labels, archive, mark_read, star, important, never_spam, category or forward",),
    ),
    case(
        "unknown category",
        HEAD + "filters:\n  - match: {from: '@stripe.com'}\n    actions: {category: news}\n",
        "desk.yaml:5: filters[0].actions.category: 'news' is not one of 'primary', 'social', 'promotions', "
        "'updates' or 'forums'",
    ),
    # --- forwarding loops ------------------------------------------------------------------------
    case(
        "forward to our own mailbox (plus-address)",
        HEAD + "filters:\n  - match: {subject: urgent}\n    actions: {forward: support+urgent@example.com}\n",
        "desk.yaml:5: filters[0].actions.forward: forwarding to 'support+urgent@example.com' would loop: "
        "it is this desk's own mailbox",
        (LOOP_HINT,),
    ),
    case(
        "forward to a send-as alias",
        HEAD + "send_as:\n  - address: billing@example.com\n"
        "filters:\n  - match: {subject: invoice}\n"
        "    actions: {forward: Billing@Example.com}\n",
        "desk.yaml:7: filters[0].actions.forward: forwarding to 'Billing@Example.com' would loop: "
        "it is the send-as address send_as[0]",
        (LOOP_HINT,),
    ),
    case(
        "forward to a routed alias",
        HEAD + "departments:\n  - name: Sales\n    routes: [{to: sales@example.com}]\n"
        "filters:\n  - match: {subject: pricing}\n"
        "    actions: {forward: sales@example.com}\n",
        "desk.yaml:8: filters[0].actions.forward: forwarding to 'sales@example.com' would loop: "
        "departments[0] routes mail sent to it, so it arrives in this mailbox",
        (LOOP_HINT,),
    ),
    case(
        "forward target not an email",
        HEAD + "filters:\n  - match: {subject: x}\n    actions: {forward: devteam}\n",
        "desk.yaml:5: filters[0].actions.forward: 'devteam' is not an email address",
        ("write a plain address such as billing@example.com",),
    ),
    # --- auto_ack and templates ------------------------------------------------------------------
    case(
        "auto_ack enabled with neither subject nor body",
        HEAD + "auto_ack:\n  enabled: true\n  restrict_to_contacts: true\n",
        "desk.yaml:4: auto_ack.enabled: the responder is enabled but its subject and bodies are empty",
        ("Gmail needs a subject or a body to turn the responder on",),
    ),
    case(
        "subject renders a newline (header injection)",
        HEAD + "vars:\n  company: \"Acme\\nBcc: victim@example.org\"\nauto_ack:\n  subject: 'Re: {{ company }}'\n",
        "desk.yaml:6: auto_ack.subject: the rendered subject contains a line break",
        ("a subject is one header line; a line break there would let text inject headers",),
    ),
    case(
        "undefined variable in a template file",
        HEAD + "vars: {company: Acme}\nauto_ack:\n  subject: Thanks\n  body_text: {file: templates/ack.txt.j2}\n",
        "templates/ack.txt.j2:3: 'compnay' is undefined",
        ("rendering auto_ack.body_text (desk.yaml:6)", "variables available here: company, departments, mailbox"),
        files={"templates/ack.txt.j2": "Hello,\n\nthe {{ compnay }} team\n"},
    ),
    case(
        "undefined variable in an inline block template",
        HEAD + "vars: {company: Acme}\nauto_ack:\n  body_text: |\n    Hello,\n    the {{ compnay }} team\n",
        "desk.yaml:7: auto_ack.body_text: 'compnay' is undefined",
        ("variables available here: company, departments, mailbox",),
    ),
    case(
        "template syntax error in a file",
        HEAD + "send_as:\n  - address: support@example.com\n    signature: {file: templates/sig.html.j2}\n",
        "templates/sig.html.j2:2: Expected an expression, got 'end of statement block'",
        ("rendering send_as[0].signature (desk.yaml:5)",),
        files={"templates/sig.html.j2": "<b>Support</b>\n{% if %}\n"},
    ),
    case(
        "template file missing",
        HEAD + "auto_ack:\n  body_text: {file: templates/nope.txt.j2}\n",
        "desk.yaml:4: auto_ack.body_text.file: template file 'templates/nope.txt.j2' not found",
        ("template paths are relative to the folder of the desk file: {folder}",),
    ),
    case(
        "start after end",
        HEAD + "auto_ack:\n  subject: Thanks\n  start: 2026-01-05T00:00:00Z\n  end: 2026-01-05T00:00:00+01:00\n",
        "desk.yaml:6: auto_ack.end: end 2026-01-04T23:00:00Z is not after start 2026-01-05T00:00:00Z",
        ("Gmail requires the responder's start to come before its end",),
    ),
    case(
        "responder start before 2000",
        HEAD + "auto_ack:\n  subject: Thanks\n  start: 1999-12-31T23:59:59Z\n",
        "desk.yaml:5: auto_ack.start: 1999-12-31T23:59:59+00:00 is outside the years 2000-2100",
        ("write the date the responder should start or stop, e.g. 2026-01-05T00:00:00Z or 2026-01-05T09:00:00+01:00",),
    ),
    case(
        "responder end after 2100",
        HEAD + "auto_ack:\n  subject: Thanks\n  end: '2101-01-01T01:30:00+01:00'\n",
        "desk.yaml:5: auto_ack.end: 2101-01-01T01:30:00+01:00 is outside the years 2000-2100",
        ("write the date the responder should start or stop, e.g. 2026-01-05T00:00:00Z or 2026-01-05T09:00:00+01:00",),
    ),
    case(
        "start without timezone",
        HEAD + "auto_ack:\n  subject: Thanks\n  start: 2026-01-05T00:00:00\n",
        "desk.yaml:5: auto_ack.start: 2026-01-05T00:00:00 has no timezone; add Z (UTC) or an offset, "
        "e.g. 2026-01-05T00:00:00Z or 2026-01-05T09:00:00+01:00",
    ),
    case(
        "restrict_to_domain on a consumer account",
        "version: 1\nmailbox: acme.support@gmail.com\nauto_ack:\n  subject: Thanks\n  restrict_to_domain: true\n",
        "desk.yaml:5: auto_ack.restrict_to_domain: restrict_to_domain works only for Google Workspace "
        "mailboxes, not @gmail.com",
        ("remove it, or use restrict_to_contacts",),
    ),
    # --- send_as -----------------------------------------------------------------------------
    case(
        "smtp password inline",
        HEAD + "send_as:\n  - address: billing@example.com\n    smtp:\n"
        "      host: smtp.example.com\n      username: billing@example.com\n"
        "      password: hunter2\n",
        "desk.yaml:8: send_as[0].smtp.password: the SMTP password must not be written in desk.yaml",
        ("set password_env: SOME_NAME and export SOME_NAME where `gmaildesk apply` runs",),
    ),
    case(
        "smtp security unknown",
        HEAD + "send_as:\n  - address: billing@example.com\n"
        "    smtp: {host: smtp.example.com, username: u, password_env: P, security: tls}\n",
        "desk.yaml:5: send_as[0].smtp.security: 'tls' is not one of 'none', 'ssl' or 'starttls'",
    ),
    case(
        "smtp port out of range",
        HEAD + "send_as:\n  - address: billing@example.com\n"
        "    smtp: {host: smtp.example.com, port: 70000, username: u, password_env: P}\n",
        "desk.yaml:5: send_as[0].smtp.port: must be at most 65535, got the number 70000",
    ),
    case(
        "send_as address not an email",
        HEAD + "send_as:\n  - address: billing\n",
        "desk.yaml:4: send_as[0].address: 'billing' is not an email address",
        ("write a plain address such as billing@example.com",),
    ),
    case(
        "send_as listed twice",
        HEAD + "send_as:\n  - address: billing@example.com\n  - address: BILLING@example.com\n",
        "desk.yaml:5: send_as[1].address: 'BILLING@example.com' is already listed as send_as[0] (line 4)",
    ),
    case(
        "two default send_as",
        HEAD + "send_as:\n  - address: support@example.com\n    default: true\n"
        "  - address: billing@example.com\n    default: true\n",
        "desk.yaml:7: send_as[1].default: only one send-as address can be the default; send_as[0] (line 5) already is",
        ("Gmail keeps exactly one default 'From' address",),
    ),
    # --- config tests ------------------------------------------------------------------------
    case(
        "test expects a label the config never applies",
        HEAD + "departments:\n  - name: Billing\n    routes: [{subject: invoice}]\ntests:\n  - name: invoice\n"
        "    message: {from: ann@customer.example, subject: Invoice 42}\n    labels: [Dept/Biling]\n",
        "desk.yaml:9: tests[0].labels[0]: 'Dept/Biling' is not a label this desk applies",
        ("did you mean 'Dept/Billing'?",),
    ),
    case(
        "test expects a status label",
        HEAD + "tests:\n  - name: new mail\n    message: {from: ann@customer.example}\n    labels: [Status/New]\n",
        "desk.yaml:6: tests[0].labels[0]: no filter applies 'Status/New'",
        ("status labels are set by the sweep, not by filters",),
    ),
]


@pytest.fixture
def no_network(monkeypatch):
    """Loading a desk must not open a single socket."""

    def refuse(*args, **kwargs):
        raise AssertionError("load_desk tried to open a socket")

    monkeypatch.setattr(socket, "socket", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)


@pytest.mark.parametrize(("yaml_text", "message", "hints", "files"), CASES)
def test_bad_config_gives_one_precise_error(tmp_path: Path, no_network, yaml_text, message, hints, files):
    desk = tmp_path / "desk.yaml"
    desk.write_text(yaml_text, encoding="utf-8")
    for relative, content in files.items():
        (tmp_path / relative).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / relative).write_text(content, encoding="utf-8")
    with pytest.raises(GmailDeskError) as raised:
        load_desk(desk)
    error = raised.value
    assert error.message == message
    assert "\n" not in error.message
    assert error.hints == tuple(hint.replace("{folder}", str(tmp_path.resolve())) for hint in hints)
    assert error.exit_code == ExitCode.ERROR


def test_the_table_is_big_enough():
    assert len(CASES) >= 25


def test_missing_file_names_the_path_and_suggests_init(tmp_path: Path):
    with pytest.raises(GmailDeskError) as raised:
        load_desk(tmp_path / "desk.yaml")
    assert raised.value.message == f"{tmp_path / 'desk.yaml'}: no such file"
    assert raised.value.hints == ("`gmaildesk init` writes a commented example to start from",)


def test_non_utf8_file_names_the_line(tmp_path: Path):
    desk = tmp_path / "desk.yaml"
    desk.write_bytes(HEAD.encode() + b"vars: {company: Acme \xe9}\n")
    with pytest.raises(GmailDeskError) as raised:
        load_desk(desk)
    assert raised.value.message == "desk.yaml:3: not UTF-8 text (byte 0xe9)"


def test_the_first_problem_in_the_file_is_reported(tmp_path: Path):
    desk = tmp_path / "desk.yaml"
    desk.write_text(
        HEAD + "departments:\n  - name: Billing\n    color: '#123456'\n"
        "sweep: {close_after: soon}\nlabels: {department_prefix: X}\n"
    )
    with pytest.raises(GmailDeskError) as raised:
        load_desk(desk)
    assert raised.value.message.startswith("desk.yaml:5: departments[0].color: ")
