"""auto_ack in sweep mode: the acknowledgement's bodies, rendered per conversation by the sweep.

The vacation responder sends one fixed text; the sweep's acknowledgement knows the conversation,
so its templates also get ``ticket``, ``customer`` (name, email), ``subject`` and ``department``.
They are rendered once at load time with a sample conversation, so a typo is a desk.yaml error
before any mail is read, and again for each conversation the sweep acknowledges.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from gmaildesk.config import desk as model
from gmaildesk.config.schema import AutoAck, Template
from gmaildesk.config.templates import TemplateRenderer
from gmaildesk.config.yaml_source import Positions
from gmaildesk.errors import GmailDeskError

SWEEP_VARIABLES = ("ticket", "customer", "subject", "department")
SAMPLE: dict[str, object] = {
    "ticket": 1042,
    "customer": {"name": "Ann Example", "email": "ann@customer.example"},
    "subject": "Invoice 1042 charged twice",
    "department": "Billing",
}
# developers.google.com/gmail/api/guides/threads: to add a message to a thread "the Subject
# headers must match"; a ticket number added to the subject would start a new conversation.
_SUBJECT_HINT = (
    "Gmail keeps a reply in the customer's conversation only when the subject matches "
    "(developers.google.com/gmail/api/guides/threads); put {{ ticket }} in the body"
)


class AckTemplates:
    """The desk's acknowledgement bodies; each render gets a fresh time budget (template_limits)."""

    def __init__(
        self,
        folder: Path,
        positions: Positions,
        context: Mapping[str, object],
        body_text: Template | None,
        body_html: Template | None,
    ) -> None:
        self.folder = folder
        self.positions = positions
        self.context = dict(context)
        self.body_text = body_text
        self.body_html = body_html

    def render(self, variables: Mapping[str, object]) -> tuple[str, str]:
        renderer = TemplateRenderer(self.folder, self.positions, self.context)
        extra = dict(variables)
        text = (
            renderer.render(self.body_text, ("auto_ack", "body_text"), html=False, extra=extra)
            if self.body_text
            else ""
        )
        html = (
            renderer.render(self.body_html, ("auto_ack", "body_html"), html=True, extra=extra) if self.body_html else ""
        )
        return text, html


def sweep_auto_ack(spec: AutoAck, renderer: TemplateRenderer, positions: Positions) -> model.AutoAck:
    """The resolved sweep-mode auto_ack; raises GmailDeskError naming the line of a key that cannot apply."""
    if spec.subject is not None:
        raise positions.error(
            ("auto_ack", "subject"),
            "in sweep mode the acknowledgement answers inside the customer's conversation as "
            "'Re: <their subject>'; it has no subject of its own",
            (_SUBJECT_HINT,),
        )
    for key in ("restrict_to_contacts", "restrict_to_domain"):
        if getattr(spec, key):
            raise positions.error(
                ("auto_ack", key),
                f"{key} is a setting of Gmail's vacation responder, which sweep mode leaves off",
                ("remove it, or use mode: vacation",),
            )
    if spec.enabled and spec.body_text is None and spec.body_html is None:
        raise positions.error(
            ("auto_ack",), "sweep mode needs body_text or body_html", ("e.g. body_text: {file: templates/ack.txt.j2}",)
        )
    templates = AckTemplates(renderer.folder, positions, renderer.context, spec.body_text, spec.body_html)
    sample_text, sample_html = templates.render(SAMPLE)
    if spec.enabled and not (sample_text.strip() or sample_html.strip()):
        raise positions.error(("auto_ack",), "the acknowledgement's bodies render empty")
    return model.AutoAck(
        enabled=spec.enabled,
        subject="",
        body_text=sample_text,
        body_html=sample_html,
        restrict_to_contacts=False,
        restrict_to_domain=False,
        start=spec.start,
        end=spec.end,
        mode="sweep",
        max_per_sender_per_day=spec.max_per_sender_per_day,
        templates=templates,
    )


def vacation_hint(error: GmailDeskError) -> GmailDeskError:
    """*error* with a hint when a vacation-mode template uses a variable only sweep mode has."""
    for name in SWEEP_VARIABLES:
        if f"'{name}' is undefined" in error.message:
            hint = (
                f"`{name}` exists only with auto_ack mode: sweep; Gmail's vacation responder sends "
                "the same text to everyone, with no ticket or conversation"
            )
            return GmailDeskError(error.message, (hint, *error.hints), error.exit_code)
    return error
