"""Closed choices (`--status`, `--sort`, `--by`, ...) that answer a wrong value with the choices and a did-you-mean.

typer checks an enum option itself and says only "'oldest' is not one of 'age', 'sla'" (after pydantic's
"Value error, "). typer builds its parameters with no hook for their class, so cli/__init__.py gives every
choice option this class where the help screens adjust them too (get_params).
"""

from __future__ import annotations

import difflib
from pathlib import PurePath
from typing import Any

import typer
from typer.core import TyperOption


class SuggestingChoiceOption(TyperOption):
    def process_value(self, ctx: Any, value: Any) -> Any:  # typer's click Context is private (typer._click)
        try:
            return super().process_value(ctx, value)
        except typer.BadParameter as error:
            choices = [str(getattr(c, "value", c)) for c in self.type_descriptor.choices or ()]
            if error.param is not self or not isinstance(value, str) or not choices:
                raise
            raise typer.BadParameter(wrong_choice(value, choices, _file_option(ctx)), ctx=ctx, param=self) from None


def wrong_choice(value: str, choices: list[str], file_option: str | None = None) -> str:
    """The message for *value*: the choices, then the one it was likely meant to be ("waitng": did you mean
    'waiting'?), or, for what looks like a file given to a command that takes its file by another flag, that flag."""
    message = f"{value!r} is not one of {', '.join(map(repr, choices))}"
    meant = difflib.get_close_matches(value.casefold(), choices, n=1)
    if meant:
        return f"{message}; did you mean '{meant[0]}'?"
    if file_option is not None and _looks_like_a_file(value):
        return f"{message}; the sweep store is named with {file_option} {value}"
    return message


def _file_option(ctx: Any) -> str | None:
    """--store, when this command takes the sweep store (`threads --state x.sqlite` meant it)."""
    for param in getattr(ctx.command, "params", ()):
        if "--store" in getattr(param, "opts", ()):
            return "--store"
    return None


def _looks_like_a_file(value: str) -> bool:
    path = PurePath(value)
    return bool(path.suffix) or len(path.parts) > 1
