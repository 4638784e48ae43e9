"""Bounded inputs: a desk.yaml or template built to take the machine down ends in one line, fast and small.

The bombs (tests/fixtures/hostile/config/) run in a child process under RLIMIT_AS 1 GiB and
RLIMIT_CPU 5 s: without the bounds each of them exhausts one limit or the other (or ends in a
RecursionError traceback), so these tests fail loudly rather than hang the suite.
"""

from __future__ import annotations

import resource
import subprocess
import sys
import threading
import time
from pathlib import Path
from textwrap import dedent

import pytest

from cli_run import invoke
from gmaildesk.config import load_desk, template_limits
from gmaildesk.config.example import write_example
from gmaildesk.errors import ExitCode, GmailDeskError

HOSTILE = Path(__file__).parent / "fixtures" / "hostile" / "config"
HEAD = "version: 1\nmailbox: support@example.com\n"
MEMORY_LIMIT = 1024**3
CPU_SECONDS = 5
ALIAS_HINT = "Hint: desk.yaml needs few anchors; write the repeated values out, or alias a smaller part"


def _limited() -> None:
    resource.setrlimit(resource.RLIMIT_AS, (MEMORY_LIMIT, MEMORY_LIMIT))
    resource.setrlimit(resource.RLIMIT_CPU, (CPU_SECONDS, CPU_SECONDS))


def run_limited(desk: Path | str, cwd: Path) -> tuple[subprocess.CompletedProcess, float]:
    """`gmaildesk test -c DESK` in a child process under the memory and CPU limits."""
    started = time.monotonic()
    result = subprocess.run(
        [sys.executable, "-m", "gmaildesk", "test", "-c", str(desk)],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=60,
        preexec_fn=_limited,
    )
    return result, time.monotonic() - started


BOMBS = [
    pytest.param(
        "billion_laughs.yaml",
        ["Error: billion_laughs.yaml:9: vars.l4: aliases and merge keys repeat more than 10,000 values", ALIAS_HINT],
        id="yaml billion laughs",
    ),
    pytest.param(
        "merge_bomb.yaml",
        ["Error: merge_bomb.yaml:8: vars.m3.h3: aliases and merge keys repeat more than 10,000 values", ALIAS_HINT],
        id="yaml merge-key bomb",
    ),
    pytest.param(
        "deep_nesting.yaml",
        [
            "Error: deep_nesting.yaml:5:59: values nested deeper than 50 levels",
            "Hint: a desk.yaml is a few levels deep; look for unclosed [ or {",
        ],
        id="100,000 nested [",
    ),
    pytest.param(
        "template_nested_loops.yaml",
        ["Error: template_nested_loops.yaml:8: auto_ack.body_text: rendering took longer than 2 seconds"],
        id="template loops that never end",
    ),
    pytest.param(
        "template_string_repeat.yaml",
        [
            "Error: template_string_repeat.yaml:6: auto_ack.body_text: the repetition would make "
            "2,000,000,000 characters or items; a value may have at most 100,000"
        ],
        id="template 'A' * 2000000000",
    ),
]


@pytest.mark.parametrize(("name", "stderr"), BOMBS)
def test_a_bomb_ends_in_one_line_within_the_limits(tmp_path: Path, name: str, stderr: list[str]):
    result, seconds = run_limited(HOSTILE / name, tmp_path)

    assert result.returncode == ExitCode.ERROR, (result.returncode, result.stderr[-2000:])
    assert result.stderr.splitlines() == stderr
    assert result.stdout == ""
    assert seconds < 15  # start-up plus at most the 2 s render budget; the CPU limit is the hard stop


def test_an_endless_desk_file_is_read_no_further_than_the_cap(tmp_path: Path):
    result, _ = run_limited("/dev/zero", tmp_path)  # before the cap: read until memory ran out

    assert result.returncode == ExitCode.ERROR, result.stderr[-2000:]
    assert result.stderr.splitlines() == [
        "Error: /dev/zero: larger than 1 MiB, the most a desk file may be",
        "Hint: a desk with 1,000 departments fits in about 200 KB; is this the right file?",
    ]


def test_a_desk_file_over_1_mib_is_refused_before_parsing(tmp_path: Path):
    desk = tmp_path / "desk.yaml"
    desk.write_text(HEAD + "vars:\n" + "".join(f"  k{i}: {'x' * 60}\n" for i in range(16_000)))
    assert desk.stat().st_size > 1024**2

    result = invoke(["test", "-c", str(desk)], expect=ExitCode.ERROR)

    assert result.stderr.splitlines()[0] == f"Error: {desk}: larger than 1 MiB, the most a desk file may be"


def _error(tmp_path: Path, text: str, files: dict[str, str] | None = None) -> GmailDeskError:
    desk = tmp_path / "desk.yaml"
    desk.write_text(dedent(text), encoding="utf-8")
    for relative, content in (files or {}).items():
        (tmp_path / relative).write_text(content, encoding="utf-8")
    with pytest.raises(GmailDeskError) as raised:
        load_desk(desk)
    assert "\n" not in raised.value.message
    return raised.value


# --- YAML: anchors within a budget ------------------------------------------------------------


def test_a_few_anchors_and_merge_keys_still_work(tmp_path: Path):
    desk = tmp_path / "desk.yaml"
    desk.write_text(
        HEAD
        + dedent("""\
        departments:
          - name: Billing
            routes: &mail [{to: billing@example.com}]
            sla: &standard {first_response: 4h, next_response: 1d}
          - name: Sales
            routes: [{to: sales@example.com}]
            sla: {<<: *standard, first_response: 1d}
          - name: Refunds
            routes: *mail
            sla: *standard
        """)
    )
    loaded = load_desk(desk)
    assert [(d.sla.first_response, d.sla.next_response) for d in loaded.departments] == [
        (4 * 3600, 86400),
        (86400, 86400),
        (4 * 3600, 86400),
    ]
    assert loaded.departments[2].query == "to:billing@example.com"


def test_alias_expansion_is_counted_up_to_ten_thousand_values(tmp_path: Path):
    items = ", ".join(["x"] * 99)
    # each alias repeats the list and its 99 items: 100 aliases repeat exactly 10,000 values
    fits = HEAD + f"vars:\n  a: &a [{items}]\n  b: [" + ", ".join(["*a"] * 100) + "]\n"
    desk = tmp_path / "desk.yaml"
    desk.write_text(fits)
    assert load_desk(desk).mailbox == "support@example.com"

    error = _error(tmp_path, fits.replace("  b: [", "  b: [*a, "))
    assert error.message == "desk.yaml:5: vars.b: aliases and merge keys repeat more than 10,000 values"


def test_an_alias_inside_its_own_anchor_is_an_error_not_a_recursion(tmp_path: Path):
    error = _error(tmp_path, HEAD + "vars:\n  loop: &loop [a, *loop]\n")
    assert error.message.startswith("desk.yaml:4: vars.loop")
    assert "nested deeper than 50 levels" in error.message
    assert error.hints == ("an alias refers to the anchor it is written in",)


def test_a_mapping_that_merges_itself_is_an_error(tmp_path: Path):
    error = _error(tmp_path, HEAD + "vars:\n  loop: &loop {a: 1, <<: *loop}\n")
    assert error.message == "desk.yaml:4: vars.loop: a merge key (<<) merges the mapping it is written in"


def test_fifty_levels_load_and_fifty_one_do_not(tmp_path: Path):
    desk = tmp_path / "desk.yaml"
    desk.write_text(HEAD + "vars:\n  deep: " + "[" * 48 + "]" * 48 + "\n")  # root, vars, deep: 3 levels more
    assert load_desk(desk).mailbox == "support@example.com"
    error = _error(tmp_path, HEAD + "vars:\n  deep: " + "[" * 49 + "]" * 49 + "\n")
    assert error.message == "desk.yaml:4:57: values nested deeper than 50 levels"


# --- templates: time and size -----------------------------------------------------------------


def _template_error(tmp_path: Path, body: str) -> str:
    return _error(tmp_path, HEAD + f"auto_ack:\n  body_text: |\n    {body}\n").message


@pytest.mark.parametrize(
    ("body", "message"),
    [
        pytest.param(
            "{{ 'x' | center(1000000000) }}",
            "the number 1000000000 is larger than 100,000, the most a template may use as a width or count",
            id="filter width",
        ),
        pytest.param(
            "{{ 'x'.ljust(1000000000) }}",
            "the number 1000000000 is larger than 100,000, the most a template may use as a width or count",
            id="method width",
        ),
        pytest.param(
            "{{ '{:>999999999}'.format('x') }}", "a format width is larger than 100,000", id="str.format width"
        ),
        pytest.param("{{ '%999999999s' % 'x' }}", "a format width is larger than 100,000", id="% width"),
        pytest.param(
            "{{ ('a' * 1000).replace('a', 'b' * 1000) }}",
            "the replacement would be larger than 100,000 characters",
            id="str.replace",
        ),
        pytest.param(
            "{{ ('a' * 1000) | replace('a', 'b' * 1000) }}",
            "the replacement would be larger than 100,000 characters",
            id="replace filter",
        ),
        pytest.param("{{ 2 ** 100000000 }}", "the power would be a number too large for a template", id="power"),
        pytest.param(
            "{{ ['x' * 1000] * 1000 }}",
            "a value would be larger than 100,000 characters or items",
            id="list repetition",
        ),
        pytest.param(
            "{% set ns = namespace(s='ab') %}{% for i in range(40) %}{% set ns.s = ns.s ~ ns.s %}{% endfor %}",
            "a value would be larger than 100,000 characters or items",
            id="doubling through a namespace",
        ),
        pytest.param(
            "{% for i in range(2000) %}{{ 'x' * 100 }}{% endfor %}",
            "the rendered text is longer than 100,000 characters",
            id="output length",
        ),
        pytest.param(
            "{{ ('x' * 99999).split('x') | join('y' * 1000) }}",
            "the joined text would be larger than 100,000 characters",
            id="join filter separator",
        ),
        pytest.param(
            "{{ ('y' * 1000).join(('x' * 999).split('x')) }}",
            "the joined text would be larger than 100,000 characters",
            id="str.join separator",
        ),
        pytest.param(
            "{{ ('a' * 1000).translate({97: 'b' * 1000}) }}",
            "the translated text would be larger than 100,000 characters",
            id="str.translate",
        ),
        pytest.param(
            "{{ ('\\n' * 1000) | indent('x' * 1000) }}",
            "the indented text would be larger than 100,000 characters",
            id="indent by a string",
        ),
        pytest.param(
            "{{ ('a ' * 5000) | wordwrap(2, wrapstring='x' * 1000) }}",
            "the wrapped text would be larger than 100,000 characters",
            id="wordwrap string",
        ),
        pytest.param(
            "{{ '%*d' % (1000000000, 1) }}",
            "the number 1000000000 is larger than 100,000, the most a template may use as a width or count",
            id="% width argument",
        ),
        pytest.param(
            "{{ '{:>{}}'.format('x', 1000000000) }}",
            "the number 1000000000 is larger than 100,000, the most a template may use as a width or count",
            id="str.format width argument",
        ),
        pytest.param(
            "{{ (1).to_bytes(1000000000, 'big') }}",
            "the number 1000000000 is larger than 100,000, the most a template may use as a width or count",
            id="int.to_bytes",
        ),
        pytest.param(
            "{{ [1] | batch(1000000000, 'x') | list }}",
            "the number 1000000000 is larger than 100,000, the most a template may use as a width or count",
            id="batch fill",
        ),
        pytest.param(
            "{{ 'x'.encode() * 1000000000 }}",
            "the repetition would make 1,000,000,000 characters or items; a value may have at most 100,000",
            id="bytes repetition",
        ),
        pytest.param(
            "{{ ('\\n' * 1000) | indent(1000) }}",
            "the indented text would be larger than 100,000 characters",
            id="indent by a number",
        ),
        pytest.param(
            "{{ ('\\t' * 1000).expandtabs(1000) }}",
            "the expanded text would be larger than 100,000 characters",
            id="str.expandtabs",
        ),
        pytest.param(
            "{{ '{:>{w}}'.format_map({'w': 1000000000}) }}",
            "the number 1000000000 is larger than 100,000, the most a template may use as a width or count",
            id="str.format_map width argument",
        ),
        pytest.param(
            "{{ '%*d' | format(1000000000, 1) }}",
            "the number 1000000000 is larger than 100,000, the most a template may use as a width or count",
            id="format filter width argument",
        ),
        pytest.param("{{ lipsum(100000) }}", "'lipsum' is undefined", id="lipsum removed"),
        pytest.param(
            "{% set l = [] %}{{ l.append(1) }}",
            "access to attribute 'append' of 'list' object is unsafe.",
            id="lists are immutable",
        ),
    ],
)
def test_a_template_that_would_grow_without_bound_is_stopped(tmp_path: Path, body: str, message: str):
    assert _template_error(tmp_path, body) == f"desk.yaml:5: auto_ack.body_text: {message}"


def test_loops_without_calls_are_interrupted_on_the_main_thread(tmp_path: Path, monkeypatch):
    monkeypatch.setattr(template_limits, "RENDER_SECONDS", 0.2)
    started = time.monotonic()
    message = _template_error(
        tmp_path, "{% set n = range(10000) | list %}{% for a in n %}{% for b in n %}{% endfor %}{% endfor %}"
    )
    assert message == "desk.yaml:5: auto_ack.body_text: rendering took longer than 0.2 seconds"
    assert time.monotonic() - started < 3


def test_on_another_thread_the_deadline_is_checked_at_every_call(tmp_path: Path, monkeypatch):
    monkeypatch.setattr(template_limits, "RENDER_SECONDS", 0.2)
    found: list[str] = []

    def load() -> None:
        found.append(
            _template_error(
                tmp_path, "{% for a in range(100000) %}{% for b in range(100000) %}{% endfor %}{% endfor %}"
            )
        )

    worker = threading.Thread(target=load)
    worker.start()
    worker.join(timeout=10)
    assert not worker.is_alive()
    assert found == ["desk.yaml:5: auto_ack.body_text: rendering took longer than 0.2 seconds"]


def test_a_template_file_over_256_kb_is_not_read(tmp_path: Path):
    (tmp_path / "big.txt.j2").write_text("x" * (256 * 1024 + 1))
    error = _error(tmp_path, HEAD + "auto_ack:\n  body_text: {file: big.txt.j2}\n")
    assert error.message == "big.txt.j2:1: template file 'big.txt.j2' is larger than 256 KB, the most a template may be"


def test_all_templates_of_a_desk_share_one_time_budget(tmp_path: Path, monkeypatch):
    monkeypatch.setattr(template_limits, "RENDER_SECONDS", 5.0)
    monkeypatch.setattr(template_limits, "TOTAL_RENDER_SECONDS", 0.3)
    endless = "{% for a in range(100000) %}{% for b in range(100000) %}{% endfor %}{% endfor %}"
    aliases = "".join(
        f"  - address: a{i}@example.com\n    signature: 'Alias {i}{endless if i == 3 else ''}'\n" for i in range(4)
    )
    started = time.monotonic()
    error = _error(tmp_path, HEAD + "send_as:\n" + aliases)
    assert error.message == (
        "desk.yaml:11: send_as[3].signature: the desk's templates took longer than 0.3 seconds to render in all"
    )
    assert time.monotonic() - started < 3  # not the 5 s one template alone may take


def test_large_numbers_that_build_nothing_are_fine(tmp_path: Path):
    desk = tmp_path / "desk.yaml"
    desk.write_text(
        HEAD + "vars: {limit: 25000000}\nauto_ack:\n  body_text: "
        "\"{{ limit | filesizeformat }} {{ '%d' % limit }} {{ limit * 1000 }} {{ 2 ** 64 }} "
        "{{ '{}'.format(limit) }} {{ '%s' | format(limit) }}\"\n"
    )
    assert load_desk(desk).auto_ack.body_text == ("25.0 MB 25000000 25000000000 18446744073709551616 25000000 25000000")


def test_ordinary_templates_render_as_before(tmp_path: Path):
    desk = tmp_path / "desk.yaml"
    desk.write_text(
        HEAD
        + dedent("""\
        vars: {company: Acme, items: [a, b, c]}
        departments:
          - {name: Billing, sla: {first_response: 4h}}
        auto_ack:
          body_text: |
            {{ company | upper }} {{ '%s-%d' % ('x', 3) }} {{ '{:>6}'.format('r') }} {{ items | join(', ') }}
            {% for d in departments %}{{ d.name }}: {{ d.sla.first_response }}{% endfor %} {{ 2 ** 10 }}
            {{ ('ab' * 3) | replace('a', 'A') }} {{ 'x'.center(5) }}|{{ range(3) | list | length }}
        """)
    )
    assert load_desk(desk).auto_ack.body_text == ("ACME x-3      r a, b, c\nBilling: 4 hours 1024\nAbAbAb   x  |3")


# --- Gmail's limits, offline ------------------------------------------------------------------


def _departments(count: int, *, routes: bool) -> str:
    route = "\n    routes: [{subject: 'd%d'}]" if routes else ""
    return (
        HEAD
        + "departments:\n"
        + "".join(f"  - name: D{i}" + (route % i if routes else "") + "\n" for i in range(count))
    )


def test_a_thousand_routed_departments_load(tmp_path: Path):
    desk = tmp_path / "desk.yaml"
    desk.write_text(_departments(1000, routes=True))
    assert desk.stat().st_size < 200 * 1024  # the size the 1 MiB cap's hint quotes
    assert len(load_desk(desk).all_filters()) == 1000


def test_the_1001st_filter_is_refused_before_anything_is_created(tmp_path: Path):
    error = _error(tmp_path, _departments(1001, routes=True))
    assert error.message == (
        "desk.yaml:2005: departments[1000].routes: this desk needs 1,001 Gmail filters "
        "(1,001 departments with routes, 0 filters); Gmail allows at most 1,000"
    )
    assert error.hints == (
        "Gmail refuses the rest after creating the first 1,000; join departments or filters "
        "that share an action into one",
    )


def test_departments_and_filters_count_together(tmp_path: Path):
    text = (
        _departments(999, routes=True)
        + "filters:\n"
        + ("  - match: {from: a@b.example}\n    actions: {star: true}\n") * 2
    )
    error = _error(tmp_path, text)
    assert error.message.startswith(
        "desk.yaml:2005: filters[1]: this desk needs 1,001 Gmail filters (999 departments with routes, 2 filters)"
    )


def test_more_than_ten_thousand_labels_are_refused(tmp_path: Path):
    # Parents count: 'Dept/007/x/x/.../x' (108 times /x) needs 109 labels of its own, plus 'Dept'.
    # With the 6 statuses and 'Status', 91 such departments need 9,927 labels and 92 need 10,036.
    def nested(count: int) -> str:
        return HEAD + "departments:\n" + "".join(f"  - name: {i:03d}{'/x' * 108}\n" for i in range(count))

    desk = tmp_path / "desk.yaml"
    desk.write_text(nested(91))
    assert len(load_desk(desk).labels) == 9_927
    error = _error(tmp_path, nested(92))
    assert error.message == (
        "desk.yaml:95: departments[91].name: this desk needs more than 10,000 labels "
        "(statuses, departments, filter labels and their parents); Gmail allows at most "
        "10,000 in a mailbox"
    )
    assert error.hints == ("use fewer departments, or fewer levels of nesting",)


def test_more_than_a_thousand_config_tests_are_refused(tmp_path: Path):
    def tests(count: int) -> str:
        return (
            HEAD + "tests:\n" + "".join(f"  - name: t{i}\n    message: {{from: a@b.example}}\n" for i in range(count))
        )

    desk = tmp_path / "desk.yaml"
    desk.write_text(tests(1000))
    assert len(load_desk(desk).tests) == 1000
    error = _error(tmp_path, tests(1001))
    assert error.message == "desk.yaml:2004: tests[1000]: this desk has 1,001 tests; at most 1,000 are run"


# --- warnings ---------------------------------------------------------------------------------


def test_a_cyrillic_look_alike_of_another_label_is_a_warning(tmp_path: Path):
    desk = tmp_path / "desk.yaml"
    desk.write_text(
        HEAD
        + dedent("""\
        departments:
          - name: Billing
          - name: "Вilling"
          - name: "Sales"
        filters:
          - match: {from: a@b.example}
            actions: {labels: ["Dеpt/Sales"]}
          - match: {from: c@b.example}
            actions: {labels: ["Sales\\u200b"]}
          - match: {from: d@b.example}
            actions: {labels: ["Sales"]}
        """)
    )
    assert load_desk(desk).warnings == (
        "desk.yaml:5: departments[1].name: label 'Dept/Вilling' looks like 'Dept/Billing' (departments[0], "
        "line 4) but Gmail keeps them apart as two labels; check В (CYRILLIC CAPITAL LETTER VE)",
        "desk.yaml:9: filters[0].actions.labels[0]: label 'Dеpt/Sales' nests under 'Dеpt', which looks like "
        "'Dept' (departments[0], line 4) but Gmail keeps them apart as two labels; check е (CYRILLIC SMALL "
        "LETTER IE)",
        "desk.yaml:11: filters[1].actions.labels[0]: label 'Sales\u200b' looks like 'Sales' "
        "(filters[2].actions.labels[0], line 13) but Gmail keeps them apart as two labels; check \u200b "
        "(ZERO WIDTH SPACE)",
    )


def test_plain_ascii_names_and_the_example_desk_have_no_warnings(tmp_path: Path):
    desk = tmp_path / "desk.yaml"
    desk.write_text(HEAD + "departments:\n  - name: Billing\n  - name: Bi11ing\n")
    assert load_desk(desk).warnings == ()
    write_example(tmp_path / "example")
    assert load_desk(tmp_path / "example" / "desk.yaml").warnings == ()


def test_an_acknowledgement_subject_is_a_warning(tmp_path: Path):
    desk = tmp_path / "desk.yaml"
    desk.write_text(HEAD + "auto_ack:\n  subject: 'We got it: {{ mailbox }}'\n  body_text: Thanks\n")
    assert load_desk(desk).warnings == (
        "desk.yaml:4: auto_ack.subject: with a subject Gmail sends the acknowledgement as a separate email "
        "(Gmail Help 25922), and a customer who answers it starts a new conversation (Help 5900), so the "
        "original one never shows they wrote again; remove the subject to reply inside the customer's "
        "conversation",
    )

    desk.write_text(HEAD + "auto_ack:\n  enabled: false\n  subject: Thanks\n")
    assert load_desk(desk).warnings == ()
    desk.write_text(HEAD + "auto_ack:\n  subject: \"{{ '' }}\"\n  body_text: Thanks\n")
    assert load_desk(desk).warnings == ()


def test_gmaildesk_test_shows_the_warnings_and_still_passes(tmp_path: Path):
    desk = tmp_path / "desk.yaml"
    desk.write_text(HEAD + 'departments:\n  - name: Billing\n  - name: "Вilling"\n')
    result = invoke(["test", "-c", str(desk)])
    assert "desk.yaml:5: departments[1].name: label 'Dept/Вilling' looks like 'Dept/Billing'" in result.stderr
    assert result.stdout.strip() == "No tests in desk.yaml."
