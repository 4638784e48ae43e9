"""Canned replies: `templates/replies/NAME.txt.j2` (and optionally `NAME.html.j2`) next to desk.yaml.

Rendered in the same bounded Jinja2 sandbox as the desk's other templates (config/template_limits.py),
with StrictUndefined: a variable the reply uses but nobody gave is a one-line error naming it and the
template's file:line, never a customer reading "Dear ,". `ticket` is given only when the conversation
has a ticket number (the first sweep that knows a conversation numbers it): a reply that quotes it
before then fails rather than promising a number that does not exist.
"""

from __future__ import annotations

import difflib
import keyword
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from jinja2 import StrictUndefined, TemplateSyntaxError, meta, nodes

from gmaildesk.config import template_limits as limits
from gmaildesk.errors import ExitCode, GmailDeskError
from gmaildesk.team.compose import text_of_html

REPLIES_DIR = "templates/replies"
TEXT_SUFFIX = ".txt.j2"
HTML_SUFFIX = ".html.j2"


@dataclass(frozen=True)
class ReplyTemplate:
    name: str
    text_file: str | None  # relative to the desk folder, e.g. templates/replies/closing.txt.j2
    html_file: str | None

    @property
    def files(self) -> tuple[str, ...]:
        return tuple(f for f in (self.text_file, self.html_file) if f)

    @property
    def kinds(self) -> tuple[str, ...]:
        """("text", "html") or one of them: the parts the reply has."""
        return tuple(kind for kind, f in (("text", self.text_file), ("html", self.html_file)) if f)


def replies_folder(desk_folder: Path) -> Path:
    return desk_folder / REPLIES_DIR


def reply_templates(desk_folder: Path) -> list[ReplyTemplate]:
    """Every reply template of the desk, by name; none when the folder does not exist."""
    folder = replies_folder(desk_folder)
    found: dict[str, dict[str, str]] = {}
    if folder.is_dir():
        for entry in sorted(folder.iterdir()):
            for suffix, kind in ((TEXT_SUFFIX, "text"), (HTML_SUFFIX, "html")):
                if entry.is_file() and entry.name.endswith(suffix) and len(entry.name) > len(suffix):
                    found.setdefault(entry.name.removesuffix(suffix), {})[kind] = f"{REPLIES_DIR}/{entry.name}"
    return [ReplyTemplate(name, files.get("text"), files.get("html")) for name, files in sorted(found.items())]


def find_template(desk_folder: Path, name: str) -> ReplyTemplate:
    """The template called *name*; an unknown name is a usage error with a did-you-mean."""
    templates = reply_templates(desk_folder)
    for template in templates:
        if template.name == name:
            return template
    names = [t.name for t in templates]
    close = difflib.get_close_matches(name, names, n=1)
    if close:
        hint = f"did you mean '{close[0]}'?"
    elif names:
        hint = f"reply templates of this desk: {', '.join(names)} (`gmaildesk templates` lists them)"
    else:
        hint = f"write {REPLIES_DIR}/{name}{TEXT_SUFFIX} next to desk.yaml (`gmaildesk init` writes examples)"
    raise GmailDeskError(f"no reply template '{name}' in {replies_folder(desk_folder)}", (hint,), ExitCode.USAGE)


def parse_vars(pairs: list[str]) -> dict[str, str]:
    """`--var key=value` pairs; a key must be a template identifier (`{{ key }}` can name it)."""
    parsed: dict[str, str] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        key = key.strip()
        if not sep or not key.isidentifier() or keyword.iskeyword(key):
            raise GmailDeskError(
                f"--var {pair!r}: expected key=value with a name a template can use (letters, digits, _)",
                ("e.g. --var order=1042",),
                ExitCode.USAGE,
            )
        parsed[key] = value
    return parsed


def _environment(desk_folder: Path) -> limits.BoundedEnvironment:
    return limits.BoundedEnvironment(
        loader=limits.BoundedLoader(str(desk_folder)),
        undefined=StrictUndefined,
        autoescape=lambda name: name is not None and name.endswith(HTML_SUFFIX),
    )


def variables_used(desk_folder: Path, template: ReplyTemplate) -> list[str]:
    """The variables a template reads from outside, dotted where it reads one field (customer.name)."""
    env = _environment(desk_folder)
    used: set[str] = set()
    for file in template.files:
        try:
            # Through the loader: a template over MAX_TEMPLATE_BYTES is refused before it is read.
            source = limits.BoundedLoader(str(desk_folder)).get_source(env, file)[0]
            tree = env.parse(source, name=file, filename=file)
        except limits.TemplateLimitError as error:
            raise GmailDeskError(f"{file}: {error}") from None
        except TemplateSyntaxError as error:
            raise GmailDeskError(f"{file}:{error.lineno}: {error.message or 'syntax error'}") from None
        outside = meta.find_undeclared_variables(tree)
        field_of = {id(g.node): g.attr for g in tree.find_all(nodes.Getattr) if isinstance(g.node, nodes.Name)}
        for name in tree.find_all(nodes.Name):
            if name.ctx == "load" and name.name in outside:
                field = field_of.get(id(name))
                used.add(f"{name.name}.{field}" if field else name.name)
    return sorted(used)


def render(desk_folder: Path, template: ReplyTemplate, context: Mapping[str, Any]) -> tuple[str, str | None]:
    """(plain text, HTML or None) of the reply; a missing variable names itself and file:line."""
    env = _environment(desk_folder)
    text = _render_file(env, desk_folder, template.text_file, context) if template.text_file else None
    html = _render_file(env, desk_folder, template.html_file, context) if template.html_file else None
    if text is None:
        assert html is not None  # a template has at least one of its files
        text = text_of_html(html)
    return text, html


def _render_file(env: limits.BoundedEnvironment, folder: Path, file: str, context: Mapping[str, Any]) -> str:
    try:
        compiled = env.get_template(file)
        return env.render_bounded(
            compiled, dict(context), limits.RENDER_SECONDS, f"rendering took longer than {limits.RENDER_SECONDS:g} s"
        )
    except TemplateSyntaxError as error:
        where = _relative(error.filename, folder) if error.filename else file
        raise GmailDeskError(f"{where}:{error.lineno}: {error.message or 'syntax error'}") from None
    except GmailDeskError:
        raise
    except Exception as error:  # any failure inside a user's template is the template's error
        filename, line = _template_frame(error)
        message = (str(error) or type(error).__name__).splitlines()[0]
        hints = []
        if "is undefined" in message or "has no attribute" in message:
            hints.append(f"variables given: {', '.join(_described(context))}")
            if "'ticket'" in message:
                hints.append("no ticket number yet: the first sweep that knows the conversation numbers it")
            hints.append("pass one yourself with --var NAME=VALUE")
        where = _relative(filename, folder) if filename else file
        raise GmailDeskError(f"{where}:{line or 1}: {message}", hints) from None


def _described(context: Mapping[str, Any]) -> list[str]:
    names: list[str] = []
    for key, value in context.items():
        if isinstance(value, Mapping):
            names.extend(f"{key}.{field}" for field in value)
        else:
            names.append(key)
    return sorted(names)


def _template_frame(error: BaseException) -> tuple[str | None, int | None]:
    """File and line of the innermost template frame: Jinja2 rewrites tracebacks so that template code
    shows up as frames whose code object carries the template's file name and line."""
    found: tuple[str | None, int | None] = (None, None)
    tb = error.__traceback__
    while tb is not None:
        if "__jinja_exception__" in tb.tb_frame.f_globals:
            found = (tb.tb_frame.f_code.co_filename, tb.tb_lineno)
        tb = tb.tb_next
    return found


def _relative(filename: str, folder: Path) -> str:
    try:
        return Path(os.path.relpath(filename, folder)).as_posix()
    except ValueError:  # another drive on Windows
        return filename
