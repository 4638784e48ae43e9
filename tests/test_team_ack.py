"""auto_ack mode: sweep — ticket numbers and one acknowledgement per new customer conversation.

Config first (keys, line-numbered errors), then scenarios through the CLI on the sandbox.
"""

from __future__ import annotations

from pathlib import Path
from textwrap import dedent

import pytest

from gmaildesk.config import load_desk
from gmaildesk.desk import vacation
from gmaildesk.errors import GmailDeskError

HEAD = "version: 1\nmailbox: support@example.com\n"
SWEEP_ACK = "auto_ack:\n  mode: sweep\n  body_text: 'Ticket #{{ ticket }} for {{ customer.name }}: {{ subject }}'\n"


def _load(tmp_path: Path, text: str):
    path = tmp_path / "desk.yaml"
    path.write_text(dedent(text))
    return load_desk(path)


def _error(tmp_path: Path, text: str) -> GmailDeskError:
    with pytest.raises(GmailDeskError) as caught:
        _load(tmp_path, text)
    return caught.value


def test_sweep_mode_renders_the_sample_and_each_conversation(tmp_path):
    desk = _load(tmp_path, HEAD + SWEEP_ACK)
    ack = desk.auto_ack
    assert ack.mode == "sweep" and ack.max_per_sender_per_day == 3
    assert ack.body_text == "Ticket #1042 for Ann Example: Invoice 1042 charged twice"
    text, html = ack.templates.render(
        {"ticket": 7, "customer": {"name": "Bo", "email": "bo@x.example"}, "subject": "Hi", "department": ""}
    )
    assert (text, html) == ("Ticket #7 for Bo: Hi", "")


def test_vacation_stays_the_default_and_sweep_mode_keeps_the_responder_off(tmp_path):
    default = _load(tmp_path, HEAD + "auto_ack:\n  body_text: Thanks\n")
    assert default.auto_ack.mode == "vacation"
    assert vacation.from_desk(default.auto_ack) == {"enableAutoReply": True, "responseBodyPlainText": "Thanks"}
    swept = _load(tmp_path, HEAD + SWEEP_ACK)
    assert vacation.from_desk(swept.auto_ack) == {}  # off: one acknowledgement, not two


def test_a_vacation_template_using_ticket_is_a_line_numbered_error(tmp_path):
    error = _error(tmp_path, HEAD + "auto_ack:\n  body_text: 'Your ticket: {{ ticket }}'\n")
    assert error.message == "desk.yaml:4: auto_ack.body_text: 'ticket' is undefined"
    assert error.hints[0].startswith("`ticket` exists only with auto_ack mode: sweep")


def test_a_ticket_in_a_file_template_names_the_file_line(tmp_path):
    (tmp_path / "templates").mkdir()
    (tmp_path / "templates" / "ack.txt.j2").write_text("Hello\n\nticket {{ ticket }}\n")
    error = _error(tmp_path, HEAD + "auto_ack:\n  body_text: {file: templates/ack.txt.j2}\n")
    assert error.message == "templates/ack.txt.j2:3: 'ticket' is undefined"
    assert "mode: sweep" in error.hints[0]


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (
            "  subject: 'Ticket {{ ticket }}'\n",
            "desk.yaml:6: auto_ack.subject: in sweep mode the acknowledgement answers inside the customer's "
            "conversation as 'Re: <their subject>'; it has no subject of its own",
        ),
        (
            "  restrict_to_contacts: true\n",
            "desk.yaml:6: auto_ack.restrict_to_contacts: restrict_to_contacts is a setting of Gmail's "
            "vacation responder, which sweep mode leaves off",
        ),
        ("  max_per_sender_per_day: 0\n", "desk.yaml:6: auto_ack.max_per_sender_per_day:"),
    ],
)
def test_sweep_mode_refuses_what_cannot_apply(tmp_path, extra, message):
    error = _error(tmp_path, HEAD + SWEEP_ACK + extra)
    assert error.message.startswith(message), error.message


def test_an_unknown_mode_names_the_choices(tmp_path):
    error = _error(tmp_path, HEAD + "auto_ack:\n  body_text: x\n  mode: sweeping\n")
    assert error.message.startswith("desk.yaml:5: auto_ack.mode:"), error.message
    assert "sweep" in error.message + " ".join(error.hints)


def test_a_department_alias_must_be_one_of_ours(tmp_path):
    text = HEAD + dedent(
        """\
        send_as:
          - address: billing@example.com
        departments:
          - name: Billing
            alias: biling@example.com
        """
    )
    error = _error(tmp_path, text)
    assert error.message == (
        "desk.yaml:7: departments[0].alias: 'biling@example.com' is neither the mailbox nor a send_as address"
    )
    assert error.hints[0] == "did you mean 'billing@example.com'?"
    good = _load(tmp_path, text.replace("biling@", "billing@"))
    assert good.departments[0].alias == "billing@example.com"
    mailbox = _load(tmp_path, text.replace("biling@", "support@"))
    assert mailbox.departments[0].alias == "support@example.com"
