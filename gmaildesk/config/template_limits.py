"""A Jinja2 sandbox with bounds on time and size, so that rendering a desk's templates cannot hang or
exhaust memory (every command, cron's sweep included, renders them when it loads desk.yaml).

Jinja2's sandbox already refuses unsafe attributes, and its range() stops at 100,000 items; it does
not bound how long a render runs or how big its values grow. Here:

- time: a deadline checked at every call, attribute and item access, operator and output chunk, and,
  on the main thread, a SIGALRM that interrupts loops which do none of these
  (``{% for a in n %}{% for b in n %}{% endfor %}{% endfor %}``);
- size: a value that would exceed MAX_VALUE characters (or items) is refused *before* it is built
  where Python would build it in one step — ``'A' * 2000000000``, ``'x'|center(10**9)``,
  ``s.replace('a', long)``, ``'{:>999999999}'.format(x)``, ``10 ** 10 ** 9`` — and checked after
  every other step, so nothing grows beyond a few times MAX_VALUE; the output stops at MAX_OUTPUT.

Constant folding is off: Jinja2 evaluates constant expressions while compiling, outside every hook.
"""

from __future__ import annotations

import contextlib
import functools
import os
import posixpath
import re
import signal
import threading
import time
from collections.abc import Iterator, Mapping
from typing import Any

from jinja2 import FileSystemLoader, pass_context
from jinja2.loaders import split_template_path
from jinja2.sandbox import ImmutableSandboxedEnvironment

RENDER_SECONDS = 2.0
MAX_VALUE = 100_000  # characters in a string, items in a list, or a number's size in a call
MAX_OUTPUT = 100_000  # characters one template may produce; Gmail caps a signature at 10,000
MAX_TEMPLATE_BYTES = 256 * 1024
_MAX_INT_BITS = 4 * MAX_VALUE
_FORMAT_WIDTH_RE = re.compile(r"\d{6,}")


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


def _check_arguments(args: tuple, kwargs: dict) -> None:
    for value in (*args, *kwargs.values()):
        if isinstance(value, int) and not isinstance(value, bool) and abs(value) > MAX_VALUE:
            raise TemplateLimitError(f"the number {value if value.bit_length() < 64 else 'given'} is larger "
                                     f"than {MAX_VALUE:,}, the most a template may pass to a function")
        _check_size(value, "an argument")


def _check_format(text: Any) -> None:
    if isinstance(text, str) and any(int(width) > MAX_VALUE for width in _FORMAT_WIDTH_RE.findall(text)):
        raise TemplateLimitError(f"a format width is larger than {MAX_VALUE:,}")


def _check_replace(text: Any, old: Any, new: Any) -> None:
    if isinstance(text, str) and isinstance(old, str) and isinstance(new, str):
        grows = text.count(old) * (len(new) - len(old))
        if len(text) + grows > MAX_VALUE:
            raise TemplateLimitError(f"the replacement would be larger than {MAX_VALUE:,} characters")


def _check_binop(name: str, left: Any, right: Any) -> None:
    """Refuse an operator whose result Python would build in one step too large to interrupt."""
    if name == "*":
        sequence, count = (left, right) if isinstance(right, int) else (right, left)
        if isinstance(count, int) and isinstance(sequence, (str, list, tuple)):
            if len(sequence) * max(count, 0) > MAX_VALUE:
                raise TemplateLimitError(f"the repetition would make {len(sequence) * count:,} characters or "
                                         f"items; a value may have at most {MAX_VALUE:,}")
        elif isinstance(left, int) and isinstance(right, int):
            if left.bit_length() + right.bit_length() > _MAX_INT_BITS:
                raise TemplateLimitError("the product would be a number too large for a template")
    elif name == "**" and isinstance(left, (int, float)) and isinstance(right, int):
        if abs(right) > MAX_VALUE or max(int(abs(left)), 1).bit_length() * abs(right) > _MAX_INT_BITS:
            raise TemplateLimitError("the power would be a number too large for a template")
    elif name == "%":
        _check_format(left)
    elif name == "+" and isinstance(left, (str, list, tuple)) and isinstance(right, (str, list, tuple)):
        if len(left) + len(right) > MAX_VALUE:
            raise TemplateLimitError(f"joining them would be larger than {MAX_VALUE:,} characters or items")


class BoundedEnvironment(ImmutableSandboxedEnvironment):
    """The sandbox of the module docstring; render with ``render_bounded``."""

    intercepted_binops = frozenset({"*", "**", "%", "+"})

    def __init__(self, **options: Any):
        super().__init__(optimized=False, finalize=_finalize, **options)
        self.deadline = float("inf")
        self.globals.pop("lipsum", None)  # lorem ipsum of any length; no desk needs it
        self.filters = {name: _bounded_filter(self, function) for name, function in self.filters.items()}

    def check_time(self) -> None:
        if time.monotonic() > self.deadline:
            raise TemplateLimitError(f"rendering took longer than {RENDER_SECONDS:g} seconds")

    def call(__self, __context, __obj, *args, **kwargs):  # noqa: N805 - Jinja2's own signature
        __self.check_time()
        _check_arguments(args, kwargs)
        method = getattr(__obj, "__name__", "")
        owner = getattr(__obj, "__self__", None)
        if method == "replace" and len(args) >= 2:
            _check_replace(owner, args[0], args[1])
        elif method == "join":
            _check_size((owner, *args), "the joined text")
        return _check_size(super().call(__context, __obj, *args, **kwargs), "a value")

    def call_binop(self, context, operator, left, right):
        self.check_time()
        _check_binop(operator, left, right)
        return _check_size(super().call_binop(context, operator, left, right), "a value")

    def getattr(self, obj, attribute):
        self.check_time()
        if attribute in ("format", "format_map"):  # the sandbox wraps str.format, hiding the text from call()
            _check_format(obj)
        return _check_size(super().getattr(obj, attribute), "a value")

    def getitem(self, obj, argument):
        self.check_time()
        return _check_size(super().getitem(obj, argument), "a value")

    def render_bounded(self, template, context: dict[str, Any]) -> str:
        """*template* rendered within RENDER_SECONDS and MAX_OUTPUT; raises TemplateLimitError."""
        self.deadline = time.monotonic() + RENDER_SECONDS
        parts, length = [], 0
        try:
            with _alarm(RENDER_SECONDS):
                for chunk in template.generate(context):
                    length += len(chunk)
                    if length > MAX_OUTPUT:
                        raise TemplateLimitError(f"the rendered text is longer than {MAX_OUTPUT:,} characters")
                    self.check_time()
                    parts.append(chunk)
        finally:
            self.deadline = float("inf")
        return "".join(parts)


@pass_context
def _finalize(context, value: Any) -> Any:
    context.environment.check_time()
    return _check_size(value, "a printed value")


def _bounded_filter(environment: BoundedEnvironment, function):
    # Filters are called directly by compiled templates, not through environment.call.
    @functools.wraps(function)  # keeps jinja_pass_arg, so Jinja2 still passes context or eval_ctx first
    def bounded(*args, **kwargs):
        environment.check_time()
        _check_arguments(args, kwargs)
        if function.__name__ == "do_replace" and len(args) >= 4:  # (eval_ctx, text, old, new)
            _check_replace(args[1], args[2], args[3])
        elif function.__name__ == "do_format":
            _check_format(args[0] if args else None)
        return _check_size(function(*args, **kwargs), f"the result of the {function.__name__[3:]} filter")
    return bounded


@contextlib.contextmanager
def _alarm(seconds: float) -> Iterator[None]:
    """Raise TemplateLimitError in this thread after *seconds*, where signals can do that.

    Only the main thread receives signals, and only when no one else uses the interval timer;
    elsewhere the cooperative deadline checks above are the bound.
    """
    usable = (hasattr(signal, "setitimer") and threading.current_thread() is threading.main_thread()
              and signal.getitimer(signal.ITIMER_REAL)[0] == 0)
    if not usable:
        yield
        return

    def on_alarm(signum, frame):
        raise TemplateLimitError(f"rendering took longer than {seconds:g} seconds")

    previous = signal.signal(signal.SIGALRM, on_alarm)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


class BoundedLoader(FileSystemLoader):
    """FileSystemLoader that refuses a template file over MAX_TEMPLATE_BYTES before reading it."""

    def get_source(self, environment, template):
        pieces = split_template_path(template)
        for folder in self.searchpath:
            filename = posixpath.join(folder, *pieces)
            if os.path.isfile(filename):
                if os.path.getsize(filename) > MAX_TEMPLATE_BYTES:
                    raise TemplateLimitError(f"template file '{template}' is larger than "
                                             f"{MAX_TEMPLATE_BYTES // 1024} KB, the most a template may be")
                break
        return super().get_source(environment, template)
