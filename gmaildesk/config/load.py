"""``load_desk(path)``: desk.yaml -> a validated, rendered Desk, or one precise error.

Order: read -> YAML (with line numbers) -> version -> schema -> cross-field
checks -> templates -> Desk. Nothing here talks to Gmail or reads secrets: a
config that fails to load has cost nothing and changed nothing.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Literal

from pydantic import ValidationError

from gmaildesk.config import desk as model
from gmaildesk.config import schema
from gmaildesk.config.ack_templates import sweep_auto_ack, vacation_hint
from gmaildesk.config.checks import check_desk
from gmaildesk.config.durations import describe_duration
from gmaildesk.config.fields import describe
from gmaildesk.config.labels import declared_labels, owned_labels, status_labels
from gmaildesk.config.lookalikes import lookalike_warnings
from gmaildesk.config.routes import department_query
from gmaildesk.config.schema_errors import to_desk_error
from gmaildesk.config.team import check_team, resolve_team
from gmaildesk.config.templates import TemplateRenderer
from gmaildesk.config.yaml_source import Positions, load_yaml
from gmaildesk.config.zones import desk_zone
from gmaildesk.errors import GmailDeskError
from gmaildesk.paths import CONFIG_ENV

_INIT_HINT = "`gmaildesk init` writes a commented example to start from"
DESK_FILE = "desk.yaml"
MAX_DESK_BYTES = 1024**2  # every command (cron's sweep too) loads the desk: it must stay cheap to read


def load_desk(path: Path) -> model.Desk:
    """Load and validate *path*; raises GmailDeskError (``desk.yaml:LINE: key: message``) on any problem."""
    path = Path(path)
    data, positions = load_yaml(_read(path), path.name)
    file_desk = _validate(data, positions)
    declared = declared_labels(file_desk)
    check_team(file_desk, positions)
    check_desk(file_desk, declared, positions)
    departments = tuple(_department(file_desk, spec) for spec in file_desk.departments)
    context = _template_context(file_desk, departments)
    renderer = TemplateRenderer(path.resolve().parent, positions, context)
    new, waiting, handled, forwarded, closed, overdue = (item.label for item in status_labels(file_desk))
    auto_ack = _auto_ack(file_desk, renderer, positions)
    warnings = [*lookalike_warnings(declared, positions), *_auto_ack_warnings(auto_ack, positions)]
    return model.Desk(
        source=path,
        mailbox=file_desk.mailbox,
        team=resolve_team(file_desk),
        department_prefix=file_desk.labels.department_prefix,
        status_prefix=file_desk.statuses.prefix,
        departments=departments,
        statuses=model.Statuses(new, waiting, handled, forwarded, closed, overdue, managed=file_desk.statuses.managed),
        filters=tuple(_filter(index, spec) for index, spec in enumerate(file_desk.filters)),
        auto_ack=auto_ack,
        send_as=tuple(_send_as(index, spec, renderer) for index, spec in enumerate(file_desk.send_as)),
        sweep=_sweep(file_desk.sweep),
        tests=tuple(_test(spec, file_desk.mailbox) for spec in file_desk.tests),
        labels=owned_labels(declared),
        warnings=tuple(warnings),
        timezone=desk_zone(file_desk.timezone),
        template_context=context,
    )


def find_desk(start: Path | None = None) -> Path:
    """The desk.yaml a command uses without -c: in *start* (the current folder) or the nearest folder
    above it, so every command works from a subfolder of the desk (as git finds its repository)."""
    start = Path.cwd() if start is None else start
    for folder in (start, *start.resolve().parents):
        candidate = folder / DESK_FILE
        if candidate.is_file():
            return Path(DESK_FILE) if folder == start else candidate
    raise GmailDeskError(
        f"no {DESK_FILE} in {start.resolve()} or any folder above it, and ${CONFIG_ENV} is not set",
        (f"pass -c FILE, or set {CONFIG_ENV}=FILE", _INIT_HINT),
    )


def _read(path: Path) -> str:
    try:
        with path.open("rb") as file:
            raw = file.read(MAX_DESK_BYTES + 1)  # never more: the path may be a huge file or /dev/zero
    except FileNotFoundError:
        raise GmailDeskError(f"{path}: no such file", (_INIT_HINT,)) from None
    except IsADirectoryError:
        raise GmailDeskError(
            f"{path}: is a folder, not a desk file", (f"did you mean {path / 'desk.yaml'}?",)
        ) from None
    except OSError as exc:
        raise GmailDeskError(f"{path}: cannot read: {exc.strerror}") from None
    if len(raw) > MAX_DESK_BYTES:
        raise GmailDeskError(
            f"{path}: larger than {MAX_DESK_BYTES // 1024**2} MiB, the most a desk file may be",
            ("a desk with 1,000 departments fits in about 200 KB; is this the right file?",),
        )
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise GmailDeskError(
            f"{path.name}:{line}: not UTF-8 text (byte 0x{raw[exc.start]:02x})", ("save the file as UTF-8",)
        ) from None


def _validate(data: Any, positions: Positions) -> schema.DeskFile:
    if data is None:
        raise positions.error((), "the file is empty", (_INIT_HINT,))
    if not isinstance(data, dict):
        raise positions.error((), f"expected settings (key: value lines) at the top level, got {describe(data)}")
    version = data.get("version")
    if "version" not in data:
        raise positions.error(("version",), "required key is missing", ("add `version: 1` as the first line",))
    if version != 1 or isinstance(version, bool):
        shown = repr(version) if isinstance(version, str) else json.dumps(version, default=str)
        raise positions.error(("version",), f"unsupported version {shown}; this gmaildesk reads version 1")
    try:
        return schema.DeskFile.model_validate(data)
    except ValidationError as exc:
        raise to_desk_error(exc, positions) from None


def _colour(spec: schema.Colour | None) -> model.Colour | None:
    return model.Colour(spec.background, spec.text) if spec else None


def _sweep(spec: schema.Sweep) -> model.Sweep:
    quota = spec.quota
    return model.Sweep(
        spec.scope,
        spec.close_after,
        spec.archive_closed,
        model.Quota(quota.units_per_minute, quota.costs, quota.daily_units, quota.project_units_per_minute),
    )


def _department(desk: schema.DeskFile, spec: schema.Department) -> model.Department:
    sla = spec.sla or schema.Sla()
    return model.Department(
        name=spec.name,
        label=desk.labels.department_prefix + spec.name,
        colour=_colour(spec.color),
        query=department_query(spec.routes),
        sla=model.Sla(sla.first_response, sla.next_response),
        alias=spec.alias,
        assign=spec.assign,
    )


def _template_context(desk: schema.DeskFile, departments: tuple[model.Department, ...]) -> dict[str, Any]:
    def text(seconds: int | None) -> str | None:
        return describe_duration(seconds) if seconds else None

    listed = [
        {
            "name": d.name,
            "label": d.label,
            "sla": {"first_response": text(d.sla.first_response), "next_response": text(d.sla.next_response)},
        }
        for d in departments
    ]
    return {**desk.vars, "mailbox": desk.mailbox, "departments": listed}


def _filter(index: int, spec: schema.Filter) -> model.Filter:
    match, actions = spec.match, spec.actions
    size: int | None
    comparison: Literal["larger", "smaller"] | None
    size, comparison = (
        (match.larger, "larger")
        if match.larger is not None
        else (match.smaller, "smaller")
        if match.smaller is not None
        else (None, None)
    )
    criteria = model.FilterCriteria(
        from_=match.from_,
        to=match.to,
        subject=match.subject,
        query=match.query,
        negated_query=match.negated_query,
        has_attachment=match.has_attachment,
        size=size,
        size_comparison=comparison,
    )
    return model.Filter(
        name=spec.name or f"filters[{index}]",
        criteria=criteria,
        actions=model.FilterActions(
            label=actions.labels[0] if actions.labels else None,
            archive=actions.archive,
            mark_read=actions.mark_read,
            star=actions.star,
            important=actions.important,
            never_spam=actions.never_spam,
            category=actions.category,
            forward=actions.forward,
        ),
    )


def _auto_ack(desk: schema.DeskFile, renderer: TemplateRenderer, positions: Positions) -> model.AutoAck | None:
    spec = desk.auto_ack
    if spec is None:
        return None
    if spec.mode == "sweep":
        return sweep_auto_ack(spec, renderer, positions)

    def render(key: str, html: bool) -> str:
        template = getattr(spec, key)
        try:
            return renderer.render(template, ("auto_ack", key), html=html) if template else ""
        except GmailDeskError as exc:
            raise vacation_hint(exc) from None

    subject, body_text, body_html = render("subject", False), render("body_text", False), render("body_html", True)
    if "\n" in subject or "\r" in subject:
        raise positions.error(
            ("auto_ack", "subject"),
            "the rendered subject contains a line break",
            ("a subject is one header line; a line break there would let text inject headers",),
        )
    if spec.enabled and not (subject.strip() or body_text.strip() or body_html.strip()):
        path = ("auto_ack", "enabled") if positions.written(("auto_ack", "enabled")) else ("auto_ack",)
        raise positions.error(
            path,
            "the responder is enabled but its subject and bodies are empty",
            ("Gmail needs a subject or a body to turn the responder on",),
        )
    return model.AutoAck(
        enabled=spec.enabled,
        subject=subject,
        body_text=body_text,
        body_html=body_html,
        restrict_to_contacts=spec.restrict_to_contacts,
        restrict_to_domain=spec.restrict_to_domain,
        start=spec.start,
        end=spec.end,
    )


def _auto_ack_warnings(ack: model.AutoAck | None, positions: Positions) -> list[str]:
    if ack is None or not ack.enabled or not ack.subject.strip():
        return []
    # Gmail Help 25922: with a subject line the reply goes out "in a separate email"; Gmail threads by
    # subject (Help 5900), so the customer's answer to it is a new conversation, and the original one
    # never shows that they wrote again (it stays "new" or goes overdue instead of "waiting").
    return [
        positions.warning(
            ("auto_ack", "subject"),
            "with a subject Gmail sends the acknowledgement as a separate email (Gmail Help "
            "25922), and a customer who answers it starts a new conversation (Help 5900), so "
            "the original one never shows they wrote again; remove the subject to reply inside "
            "the customer's conversation",
        )
    ]


def _send_as(index: int, spec: schema.SendAs, renderer: TemplateRenderer) -> model.SendAs:
    alias = {"address": spec.address, "display_name": spec.display_name or "", "reply_to": spec.reply_to or ""}
    signature = None
    if spec.signature is not None:
        signature = renderer.render(spec.signature, ("send_as", index, "signature"), html=True, extra={"alias": alias})
    smtp = None
    if spec.smtp is not None:
        smtp = model.Smtp(
            spec.smtp.host, spec.smtp.port, spec.smtp.username, spec.smtp.security, spec.smtp.password_env
        )
    return model.SendAs(
        address=spec.address,
        display_name=spec.display_name,
        reply_to=spec.reply_to,
        signature=signature,
        default=spec.default,
        treat_as_alias=spec.treat_as_alias,
        smtp=smtp,
    )


def _test(spec: schema.ConfigTest, mailbox: str) -> model.ConfigTest:
    message = spec.message
    return model.ConfigTest(
        name=spec.name,
        message=model.TestMessage(
            from_=message.from_,
            to=tuple(message.to or [mailbox]),
            cc=tuple(message.cc),
            subject=message.subject,
            body=message.body,
            attachments=tuple(message.attachments),
        ),
        labels=tuple(spec.labels),
    )
