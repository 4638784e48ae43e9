"""Rendering desk.yaml's Jinja2 templates, with errors that name the template file and line.

Templates are files under the desk.yaml folder (``{file: templates/ack.txt.j2}``)
or inline text, which errors name by the desk.yaml line it was written on.
Undefined variables are errors (StrictUndefined): a customer must never get
"Dear ," because of a typo. The environment is sandboxed so that rendering a
desk.yaml from someone else's repository cannot run arbitrary code, and bounded
in time and size (template_limits.py) so that it cannot hang or fill memory.
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

from jinja2 import StrictUndefined, TemplateNotFound, TemplateSyntaxError
from jinja2 import Template as JinjaTemplate

from gmaildesk.config import template_limits as limits
from gmaildesk.config.schema import Template
from gmaildesk.config.yaml_source import Path_, Positions, format_path
from gmaildesk.errors import GmailDeskError

HTML_SUFFIXES = (".html", ".htm", ".html.j2", ".htm.j2", ".html.jinja", ".html.jinja2")
_INLINE = "<desk.yaml inline template>"


def _autoescape(name: str | None) -> bool:
    return name is not None and name.endswith(HTML_SUFFIXES)


class TemplateRenderer:
    """Renders the templates of one desk.yaml with a shared context (vars, mailbox, departments)."""

    def __init__(self, folder: Path, positions: Positions, context: dict[str, Any]) -> None:
        self.folder = folder
        self.positions = positions
        self.context = context
        self.budget_end: float | None = None  # set by the first render
        self.env = limits.BoundedEnvironment(
            loader=limits.BoundedLoader(str(folder)), undefined=StrictUndefined, autoescape=_autoescape
        )

    def render(self, template: Template, path: Path_, *, html: bool, extra: dict[str, Any] | None = None) -> str:
        """The rendered text; *html* escapes variables in inline templates (files go by their suffix)."""
        context = {**self.context, **(extra or {})}
        try:
            compiled = self._compile(template, path, html)
            return self._render_in_budget(compiled, context)
        except TemplateSyntaxError as exc:
            raise self._error(
                template, path, exc.filename, exc.lineno, exc.message or "syntax error", context
            ) from None
        except GmailDeskError:
            raise
        except Exception as exc:  # any failure inside a user's template is a config error
            filename, line = _template_frame(exc)
            raise self._error(template, path, filename, line, _message(exc), context) from None

    def _render_in_budget(self, compiled: JinjaTemplate, context: dict[str, Any]) -> str:
        """Each template gets RENDER_SECONDS, and all of them together TOTAL_RENDER_SECONDS."""
        now = time.monotonic()
        if self.budget_end is None:
            self.budget_end = now + limits.TOTAL_RENDER_SECONDS
        left = self.budget_end - now
        if left >= limits.RENDER_SECONDS:
            return self.env.render_bounded(
                compiled,
                context,
                limits.RENDER_SECONDS,
                f"rendering took longer than {limits.RENDER_SECONDS:g} seconds",
            )
        return self.env.render_bounded(
            compiled,
            context,
            max(left, 0.001),
            f"the desk's templates took longer than {limits.TOTAL_RENDER_SECONDS:g} seconds to render in all",
        )

    def _compile(self, template: Template, path: Path_, html: bool) -> JinjaTemplate:
        if template.file is None:
            assert template.text is not None  # schema.Template holds text or file, never neither
            name = format_path(path) + (".html" if html else ".txt")
            code = self.env.compile(template.text, name=name, filename=_INLINE)
            return self.env.template_class.from_code(self.env, code, self.env.make_globals(None))
        try:
            return self.env.get_template(template.file)
        except TemplateNotFound as exc:
            if exc.name != template.file:
                raise  # an {% include %} inside the file; reported with the includer's line
            raise self.positions.error(
                (*path, "file"),
                f"template file '{template.file}' not found",
                (f"template paths are relative to the folder of the desk file: {self.folder}",),
            ) from None

    def _error(
        self,
        template: Template,
        path: Path_,
        filename: str | None,
        line: int | None,
        message: str,
        context: dict[str, Any],
    ) -> GmailDeskError:
        hints = []
        if "is undefined" in message or "has no attribute" in message:
            hints.append(f"variables available here: {', '.join(sorted(context))}")
        if filename in (None, _INLINE) and template.file is None:
            located = self.positions.locate((*path, "text"))
            first = located.value_line + (1 if located.block_scalar else 0)
            where = f"{self.positions.file_name}:{first + (line or 1) - 1}: {format_path(path)}"
            return GmailDeskError(f"{where}: {message}", hints)
        shown = template.file if filename in (None, _INLINE) else _relative(filename, self.folder)
        key_line = self.positions.line(path)
        hints.insert(0, f"rendering {format_path(path)} ({self.positions.file_name}:{key_line})")
        return GmailDeskError(f"{shown}:{line or 1}: {message}", hints)


def _relative(filename: str, folder: Path) -> str:
    try:
        return Path(os.path.relpath(filename, folder)).as_posix()
    except ValueError:  # another drive on Windows
        return filename


def _template_frame(exc: BaseException) -> tuple[str | None, int | None]:
    """File and line of the innermost template frame in *exc*'s traceback.

    Jinja2 rewrites tracebacks so that template code shows up as frames whose
    code object carries the template's filename and line.
    """
    found: tuple[str | None, int | None] = (None, None)
    tb = exc.__traceback__
    while tb is not None:
        if "__jinja_exception__" in tb.tb_frame.f_globals or tb.tb_frame.f_code.co_filename == _INLINE:
            found = (tb.tb_frame.f_code.co_filename, tb.tb_lineno)
        tb = tb.tb_next
    return found


def _message(exc: BaseException) -> str:
    if isinstance(exc, TemplateNotFound):
        return f"included template '{exc.name}' not found"
    text = str(exc) or type(exc).__name__
    return text.splitlines()[0]
