"""A Jinja2 sandbox with bounds on time and size, so that rendering a desk's templates cannot hang or
exhaust memory (every command, cron's sweep included, renders them when it loads desk.yaml).

Jinja2's sandbox already refuses unsafe attributes, and its range() stops at 100,000 items; it does
not bound how long a render runs or how big its values grow. Here:

- time: a deadline checked at every call, attribute and item access, operator and output chunk, and,
  on the main thread, a SIGALRM that interrupts loops which do none of these
  (``{% for a in n %}{% for b in n %}{% endfor %}{% endfor %}``);
- size: where Python would build a result in one step, in C, where no deadline can interrupt it,
  the result's size is estimated first and refused beyond MAX_VALUE characters or items:
  ``'A' * 2000000000``, ``'x'|center(10**9)``, ``s.replace('a', long)``, ``sep.join(items)``,
  ``'{:>999999999}'.format(x)``, ``2 ** 10 ** 9``; every other value is checked after each step,
  so nothing grows beyond a few times MAX_VALUE; the output stops at MAX_OUTPUT.

Constant folding is off: Jinja2 evaluates constant expressions while compiling, outside every hook.
"""

from __future__ import annotations

import contextlib
import functools
import inspect
import os
import posixpath
import re
import signal
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from types import FrameType
from typing import Any, cast

from jinja2 import Environment, FileSystemLoader, pass_context
from jinja2 import Template as JinjaTemplate
from jinja2.loaders import split_template_path
from jinja2.runtime import Context
from jinja2.sandbox import ImmutableSandboxedEnvironment

RENDER_SECONDS = 2.0
TOTAL_RENDER_SECONDS = 5.0  # for all of one desk's templates: a desk may have many send-as signatures
MAX_VALUE = 100_000  # characters in a string or items in a list (counted into nested ones)
MAX_OUTPUT = 100_000  # characters one template may produce; Gmail caps a signature at 10,000
MAX_TEMPLATE_BYTES = 256 * 1024
_MAX_INT_BITS = 4 * MAX_VALUE
_FORMAT_WIDTH_RE = re.compile(r"\d{6,}")
_NESTED_FIELD_RE = re.compile(r"\{[^{}]*\{")
# Filters whose result grows with a number argument: a width, a count of lines or slices.
_SIZED_BY_NUMBER_FILTERS = frozenset({"center", "indent", "batch", "slice", "wordwrap"})
# Arguments of the filters and built-in methods that _check_growth estimates, by its names for them.
_FILTER_ARGUMENTS = {
    "replace": {"s": "text"},
    "join": {"value": "items", "d": "separator"},
    "indent": {"s": "text"},
    "wordwrap": {"s": "text"},
}
_METHOD_ARGUMENTS = {"replace": ("old", "new"), "join": ("items",), "translate": ("table",), "expandtabs": ("tabsize",)}
_SEQUENCES = (str, bytes, list, tuple)


class TemplateLimitError(Exception):
    """A template went past a bound; the message says which, for a one-line error."""


def _weight(value: Any, budget: int = MAX_VALUE + 1) -> int:
    """Characters and items in *value*, counted into nested lists and mappings; stops past *budget*."""
    if isinstance(value, (str, bytes)):
        return len(value)
    if isinstance(value, int) and not isinstance(value, bool):
        return value.bit_length() // 4
    if not isinstance(value, (list, tuple, set, frozenset, Mapping)):
        return 1
    total = len(value)
    items = value.items() if isinstance(value, Mapping) else value
    for item in items:
        if total > budget:
            break
        total += _weight(item, budget - total)
    return total


def _check_size(value: Any, what: str) -> Any:
    if _weight(value) > MAX_VALUE:
        raise TemplateLimitError(f"{what} would be larger than {MAX_VALUE:,} characters or items")
    return value


def _check_numbers(*values: Any) -> None:
    """For calls that build a result as large as a number they are given: a width, a count."""
    for value in values:
        if isinstance(value, int) and not isinstance(value, bool) and abs(value) > MAX_VALUE:
            shown = f"{value}" if value.bit_length() < 64 else "given"
            raise TemplateLimitError(
                f"the number {shown} is larger than {MAX_VALUE:,}, the most a template may use as a width or count"
            )


def _check_format(text: Any) -> None:
    """``'%999999999s' % x`` and ``'{:>999999999}'.format(x)``."""
    if isinstance(text, str) and any(int(width) > MAX_VALUE for width in _FORMAT_WIDTH_RE.findall(text)):
        raise TemplateLimitError(f"a format width is larger than {MAX_VALUE:,}")


def _too_large(estimate: int, what: str) -> None:
    if estimate > MAX_VALUE:
        raise TemplateLimitError(f"{what} would be larger than {MAX_VALUE:,} characters")


def _check_growth(name: str, arguments: dict[str, Any]) -> None:
    """Estimate, before the call, the size of a result that multiplies one argument by another."""
    text = arguments.get("text")
    if name == "replace":
        old, new = arguments.get("old"), arguments.get("new")
        # str and bytes apart, the same formula, so that the type checker can follow each.
        if isinstance(text, str) and isinstance(old, str) and isinstance(new, str):  # noqa: SIM114
            _too_large(len(text) + text.count(old) * (len(new) - len(old)), "the replacement")
        elif isinstance(text, bytes) and isinstance(old, bytes) and isinstance(new, bytes):
            _too_large(len(text) + text.count(old) * (len(new) - len(old)), "the replacement")
    elif name == "join":
        separator, items = arguments.get("separator"), arguments.get("items")
        if isinstance(separator, (str, bytes)) and isinstance(items, (list, tuple, set, frozenset, Mapping)):
            _too_large(len(separator) * max(len(items) - 1, 0) + _weight(items), "the joined text")
    elif name == "translate" and isinstance(text, str) and isinstance(arguments.get("table"), Mapping):
        longest = max((len(v) for v in arguments["table"].values() if isinstance(v, str)), default=1)
        _too_large(len(text) * longest, "the translated text")
    elif name == "indent" and isinstance(text, str):
        width = arguments.get("width")
        indent = len(width) if isinstance(width, str) else width if isinstance(width, int) else 0
        _too_large(len(text) + (text.count("\n") + 1) * indent, "the indented text")
    elif name == "expandtabs" and isinstance(text, (str, bytes)):
        tab_size = arguments.get("tabsize", 8)
        if isinstance(tab_size, int):
            tabs = text.count("\t") if isinstance(text, str) else text.count(b"\t")
            _too_large(len(text) + tabs * tab_size, "the expanded text")
    elif name == "wordwrap" and isinstance(text, str) and isinstance(arguments.get("wrapstring"), str):
        width = arguments.get("width")
        lines = len(text) // (width if isinstance(width, int) and width > 0 else 1) + 1
        _too_large(len(text) + lines * len(arguments["wrapstring"]), "the wrapped text")


def _check_binop(name: str, left: Any, right: Any) -> None:
    """Refuse an operator whose result Python would build in one step too large to interrupt."""
    if name == "*":
        sequence, count = (left, right) if isinstance(right, int) else (right, left)
        if isinstance(count, int) and isinstance(sequence, _SEQUENCES) and len(sequence) * count > MAX_VALUE:
            raise TemplateLimitError(
                f"the repetition would make {len(sequence) * count:,} characters or items; "
                f"a value may have at most {MAX_VALUE:,}"
            )
        elif (
            isinstance(left, int) and isinstance(right, int) and left.bit_length() + right.bit_length() > _MAX_INT_BITS
        ):
            raise TemplateLimitError("the product would be a number too large for a template")
    elif name == "**" and isinstance(left, (int, float)) and isinstance(right, int):
        if abs(right) > MAX_VALUE or max(int(abs(left)), 1).bit_length() * abs(right) > _MAX_INT_BITS:
            raise TemplateLimitError("the power would be a number too large for a template")
    elif name == "%" and isinstance(left, str):
        _check_format(left)
        if "*" in left:  # '%*d' % (width, value): the width is an argument
            _check_numbers(*(right if isinstance(right, tuple) else (right,)))
    elif name == "+" and isinstance(left, _SEQUENCES) and isinstance(right, _SEQUENCES):
        _too_large(len(left) + len(right), "the sum")


class BoundedEnvironment(ImmutableSandboxedEnvironment):
    """The sandbox of the module docstring; render with ``render_bounded``."""

    intercepted_binops = frozenset({"*", "**", "%", "+"})

    def __init__(self, **options: Any) -> None:
        super().__init__(optimized=False, finalize=_finalize, **options)
        self.deadline = float("inf")
        self.overtime = ""  # the error message once the deadline has passed
        self.globals.pop("lipsum", None)  # lorem ipsum of any length; no desk needs it
        self.filters = {name: _bounded_filter(self, name, function) for name, function in self.filters.items()}

    def check_time(self) -> None:
        if time.monotonic() > self.deadline:
            raise TemplateLimitError(self.overtime)

    def call(__self, __context: Context, __obj: Any, *args: Any, **kwargs: Any) -> Any:  # noqa: N805 - Jinja2's own signature
        __self.check_time()
        for value in (*args, *kwargs.values()):
            _check_size(value, "an argument")
        name = getattr(__obj, "__name__", "")
        owner = getattr(__obj, "__self__", None)
        if isinstance(owner, (str, bytes, int)) and not isinstance(owner, bool):  # a method built in C
            _check_numbers(*args, *kwargs.values())
            names = _METHOD_ARGUMENTS.get(name, ())
            _check_growth(
                name, {"text": owner, "separator": owner, **dict(zip(names, args, strict=False))}
            )  # the named ones
        return _check_size(super().call(__context, __obj, *args, **kwargs), "a value")

    def call_binop(self, context: Context, operator: str, left: Any, right: Any) -> Any:
        self.check_time()
        _check_binop(operator, left, right)
        return _check_size(super().call_binop(context, operator, left, right), "a value")

    def getattr(self, obj: Any, attribute: str) -> Any:
        self.check_time()
        found = super().getattr(obj, attribute)
        if attribute in ("format", "format_map") and isinstance(obj, str):
            # The sandbox wraps str.format, so call() cannot see the text; check it here.
            _check_format(obj)
            if _NESTED_FIELD_RE.search(obj):  # '{:>{}}'.format(x, width): the width is an argument
                return _numbers_checked(found)
        return _check_size(found, "a value")

    def getitem(self, obj: Any, argument: Any) -> Any:
        self.check_time()
        return _check_size(super().getitem(obj, argument), "a value")

    def render_bounded(self, template: JinjaTemplate, context: dict[str, Any], seconds: float, overtime: str) -> str:
        """*template* rendered within *seconds* and MAX_OUTPUT; raises TemplateLimitError (*overtime* when late)."""
        self.deadline = time.monotonic() + seconds
        self.overtime = overtime
        parts: list[str] = []
        length = 0
        try:
            with _alarm(seconds, self.overtime):
                for chunk in template.generate(context):
                    length += len(chunk)
                    if length > MAX_OUTPUT:
                        raise TemplateLimitError(f"the rendered text is longer than {MAX_OUTPUT:,} characters")
                    self.check_time()
                    parts.append(chunk)
        finally:
            self.deadline = float("inf")
        return "".join(parts)


def _numbers_checked(function: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(function)
    def checked(*args: Any, **kwargs: Any) -> Any:
        for value in (*args, *kwargs.values()):  # format_map takes its fields in one mapping
            _check_numbers(*(value.values() if isinstance(value, Mapping) else (value,)))
        return function(*args, **kwargs)

    return checked


@pass_context
def _finalize(context: Context, value: Any) -> Any:
    cast(BoundedEnvironment, context.environment).check_time()
    return _check_size(value, "a printed value")


def _bounded_filter(environment: BoundedEnvironment, name: str, function: Callable[..., Any]) -> Callable[..., Any]:
    # Filters are called directly by compiled templates, not through environment.call.
    signature = inspect.signature(function)
    renamed = _FILTER_ARGUMENTS.get(name)

    @functools.wraps(function)  # keeps jinja_pass_arg, so Jinja2 still passes context or eval_ctx first
    def bounded(*args: Any, **kwargs: Any) -> Any:
        environment.check_time()
        for value in (*args, *kwargs.values()):
            _check_size(value, "an argument")
        if name in _SIZED_BY_NUMBER_FILTERS:
            _check_numbers(*args, *kwargs.values())
        if renamed is not None:
            bound = signature.bind(*args, **kwargs)
            bound.apply_defaults()
            _check_growth(name, {renamed.get(key, key): value for key, value in bound.arguments.items()})
        if name == "format" and args:
            _check_format(args[0])
            if isinstance(args[0], str) and "*" in args[0]:  # '%*d'|format(width, value)
                _check_numbers(*args[1:])
        return _check_size(function(*args, **kwargs), f"the result of the {name} filter")

    return bounded


@contextlib.contextmanager
def _alarm(seconds: float, message: str) -> Iterator[None]:
    """Raise TemplateLimitError in this thread after *seconds*, where signals can do that.

    Only the main thread receives signals, and only when no one else uses the interval timer;
    elsewhere the cooperative deadline checks above are the bound.
    """
    usable = (
        hasattr(signal, "setitimer")
        and threading.current_thread() is threading.main_thread()
        and signal.getitimer(signal.ITIMER_REAL)[0] == 0
    )
    if not usable:
        yield
        return

    def on_alarm(signum: int, frame: FrameType | None) -> None:
        raise TemplateLimitError(message)

    previous = signal.signal(signal.SIGALRM, on_alarm)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


class BoundedLoader(FileSystemLoader):
    """FileSystemLoader that refuses a template file over MAX_TEMPLATE_BYTES before reading it."""

    def get_source(self, environment: Environment, template: str) -> tuple[str, str, Callable[[], bool]]:
        pieces = split_template_path(template)
        for folder in self.searchpath:
            filename = posixpath.join(folder, *pieces)
            if os.path.isfile(filename):
                if os.path.getsize(filename) > MAX_TEMPLATE_BYTES:
                    raise TemplateLimitError(
                        f"template file '{template}' is larger than "
                        f"{MAX_TEMPLATE_BYTES // 1024} KB, the most a template may be"
                    )
                break
        return super().get_source(environment, template)
