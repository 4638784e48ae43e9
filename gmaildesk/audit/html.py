"""`report --html`: one self-contained page (inline CSS and SVG, no scripts, no network assets).

What a team lead looks for first comes first: SLA attainment per department, then the weekly trend,
then the table and the per-group charts. Times are in the desk's timezone and say which; its weeks start on
Monday there.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from datetime import tzinfo
from html import escape

from gmaildesk.audit.pending import report_line
from gmaildesk.audit.period import Period
from gmaildesk.audit.queries import AGING_BUCKETS, Report, ReportGroup
from gmaildesk.audit.zone import zone_name
from gmaildesk.sweep.state import format_duration

__all__ = ["render_html"]

_CSS = (
    "body{font-family:system-ui,sans-serif;margin:2em;color:#222}"
    "table{border-collapse:collapse;margin:1em 0;font-size:.9em}"
    "td,th{border:1px solid #ccc;padding:3px 6px;text-align:right}th:first-child,td:first-child{text-align:left}"
    # A long agent address wraps inside its cell (at any character, it has no spaces) instead of
    # widening the table past the page; the minimum keeps it from wrapping letter by letter.
    "td:first-child{min-width:12em;max-width:20em;overflow-wrap:anywhere}"
    "h1{font-size:1.5em;margin-bottom:.2em}h2{margin-top:1.5em;font-size:1.15em}.note{color:#666}"
    "svg text{font-size:12px;font-family:system-ui,sans-serif}svg .axis{fill:#666}"
)
_WIDTH, _LABEL_W, _VALUE_W, _ROW_H = 640, 180, 110, 24
# At 12px a character is at most ~7px wide in the common sans fonts; the clip path below keeps even
# a run of wide letters inside the label column, the ellipsis and the tooltip tell the reader so.
_LABEL_CHARS = (_LABEL_W - 12) // 7


def _label(text: str, x: float, y: float, chars: int, anchor: str = "start") -> str:
    """An SVG label cut to *chars* with an ellipsis; the full text is its tooltip."""
    shown = text if len(text) <= chars else text[: chars - 1].rstrip() + "…"
    return f'<text x="{x:.1f}" y="{y:.1f}" text-anchor="{anchor}"><title>{escape(text)}</title>{escape(shown)}</text>'


def _bars(
    title: str,
    items: list[tuple[str, float | None]],
    fmt: Callable[[float], str] = lambda v: str(int(v)),
    colour: str = "#4a7bd0",
    *,
    top: float | None = None,
    shown: Callable[[int], str] | None = None,
) -> str:
    """A horizontal bar chart as inline SVG; a None value (nothing measured yet) shows as '-'.

    *top* fixes the scale (100 for percentages, drawn as a grey track); *shown* overrides the text
    beside bar i."""
    clip = "labels-" + re.sub(r"[^a-z0-9]+", "-", title.lower())  # titles are unique on the page
    scale = top or max((v for _, v in items if v is not None), default=0) or 1
    span = _WIDTH - _LABEL_W - _VALUE_W
    height = _ROW_H * max(1, len(items)) + 10
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{_WIDTH}" height="{height}" role="img" '
        f'aria-label="{escape(title)}"><clipPath id="{clip}"><rect width="{_LABEL_W - 8}" height="{height}"/>'
        f'</clipPath><g clip-path="url(#{clip})">'
    ]
    parts += [_label(label, 0, 5 + i * _ROW_H + 16, _LABEL_CHARS) for i, (label, _) in enumerate(items)]
    parts.append("</g>")
    for i, (_, value) in enumerate(items):
        y = 5 + i * _ROW_H
        text = shown(i) if shown else "-" if value is None else fmt(value)
        w = span * min(value or 0, scale) / scale
        if top is not None:
            parts.append(f'<rect x="{_LABEL_W}" y="{y + 3}" width="{span}" height="{_ROW_H - 8}" fill="#eee"/>')
        parts.append(
            f'<rect x="{_LABEL_W}" y="{y + 3}" width="{w:.1f}" height="{_ROW_H - 8}" fill="{colour}"/>'
            f'<text x="{_LABEL_W + (span if top is not None else w) + 6:.1f}" y="{y + 16}">{escape(text)}</text>'
        )
    parts.append("</svg>")
    return f"<h2>{escape(title)}</h2>" + "".join(parts)


def _sla_chart(report: Report) -> str:
    rows = [*report.departments, report.total]
    items: list[tuple[str, float | None]] = [
        ("all departments" if g is report.total else g.key, g.sla_pct) for g in rows
    ]

    def shown(i: int) -> str:
        g = rows[i]
        return "not measured yet" if g.sla_pct is None else f"{g.sla_pct}% ({g.sla_met}/{g.sla_measured})"

    return _bars("SLA met, by department", items, colour="#2e9e6b", top=100, shown=shown)


def _trend(weeks: list[ReportGroup]) -> str:
    """Columns: conversations started per ISO week; line: that week's first-response median."""
    title = "Weekly trend: conversations (bars) and first response median (line)"
    if not weeks:
        return f'<h2>{escape(title)}</h2><p class="note">No conversations in this period.</p>'
    left, right, top_pad, plot_h, axis_h = 50, 70, 12, 180, 34
    plot_w = _WIDTH - left - right
    step = plot_w / len(weeks)
    most = max(w.volume for w in weeks) or 1
    medians = [w.first_response.median_ms for w in weeks]
    slowest = max((m for m in medians if m is not None), default=0) or 1
    base = top_pad + plot_h
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{_WIDTH}" height="{base + axis_h}" role="img" '
        f'aria-label="{escape(title)}">',
        f'<line x1="{left}" y1="{base}" x2="{left + plot_w}" y2="{base}" stroke="#999"/>',
        f'<text class="axis" x="{left - 6}" y="{top_pad + 4}" text-anchor="end">{most}</text>',
        f'<text class="axis" x="{left - 6}" y="{base}" text-anchor="end">0</text>',
        f'<text class="axis" x="{left + plot_w + 6}" y="{top_pad + 4}" fill="#2e9e6b">'
        f"{escape(format_duration(slowest))}</text>",
        f'<text class="axis" x="{left + plot_w + 6}" y="{base}">0</text>',
    ]
    # One axis label per column while they fit (a "W48" is ~30px), else every n-th.
    every = max(1, math.ceil(34 / step))
    runs: list[list[tuple[float, float]]] = [[]]  # a week without a first response breaks the line
    for i, week in enumerate(weeks):
        x = left + i * step
        h = plot_h * week.volume / most
        median = medians[i]
        tip = f"{week.key}: {week.volume} conversations, first response median " + (
            "-" if median is None else format_duration(median)
        )
        parts.append(
            f'<rect x="{x + step * 0.15:.1f}" y="{base - h:.1f}" width="{step * 0.7:.1f}" height="{h:.1f}" '
            f'fill="#9bb7e0"><title>{escape(tip)}</title></rect>'
        )
        if i % every == 0:
            year, wk = week.key.split("-")
            label = week.key if i == 0 or year != weeks[i - every].key.split("-")[0] else wk
            parts.append(_label(label, x + step / 2, base + 16, 9, "middle"))
        if median is None:
            runs.append([])
        else:
            runs[-1].append((x + step / 2, base - plot_h * median / slowest))
    for run in runs:
        path = " ".join(f"{x:.1f},{y:.1f}" for x, y in run)
        if len(run) > 1:
            parts.append(f'<polyline points="{path}" fill="none" stroke="#2e9e6b" stroke-width="2"/>')
        parts += [f'<circle cx="{x:.1f}" cy="{y:.1f}" r="3" fill="#2e9e6b"/>' for x, y in run]
    parts.append("</svg>")
    return f"<h2>{escape(title)}</h2>" + "".join(parts)


def _d(ms: int | None) -> str:
    return "-" if ms is None else format_duration(ms)


def _row(g: ReportGroup) -> str:
    sla = "-" if g.sla_pct is None else f"{g.sla_pct}% ({g.sla_met}/{g.sla_measured})"
    cells = [
        g.key,
        g.volume,
        _d(g.first_response.median_ms),
        _d(g.first_response.p90_ms),
        _d(g.resolution.median_ms),
        _d(g.resolution.p90_ms),
        g.reopens,
        sla,
        *(g.backlog[b] for b, _ in AGING_BUCKETS),
    ]
    return "<tr>" + "".join(f"<td>{escape(str(c))}</td>" for c in cells) + "</tr>"


def render_html(report: Report, mailbox: str, zone: tzinfo) -> str:
    groups = report.groups
    head = [
        report.by,
        "volume",
        "1st response median",
        "p90",
        "resolution median",
        "p90",
        "reopens",
        "SLA met",
        *(f"backlog {b}" for b, _ in AGING_BUCKETS),
    ]
    table = (
        "<table><tr>"
        + "".join(f"<th>{escape(h)}</th>" for h in head)
        + "</tr>"
        + "".join(_row(g) for g in [*groups, report.total])
        + "</table>"
    )
    hours = lambda v: format_duration(int(v))  # noqa: E731
    charts = [
        _sla_chart(report),
        _trend(report.weeks),
        table,
        _bars(f"Volume by {report.by}", [(g.key, g.volume) for g in groups]),
        _bars("First response, median", [(g.key, g.first_response.median_ms) for g in groups], hours, "#2e9e6b"),
        _bars("First response, p90", [(g.key, g.first_response.p90_ms) for g in groups], hours, "#c07a1e"),
        _bars(
            "Backlog by age (all groups)", [(b, report.total.backlog[b]) for b, _ in AGING_BUCKETS], colour="#c0392b"
        ),
    ]
    period = Period(report.since_ms, report.now_ms if report.until_ms is None else report.until_ms)
    title = f"{mailbox}: support report, {period.title(zone)}"
    notes = "".join(f'<p class="note">{escape(n)}</p>' for n in report.missing)
    # Before the charts: every figure below leaves these conversations out.
    pending = f'<p class="note">Note: {escape(report_line(report.pending))}.</p>' if report.pending.count else ""
    return (
        f'<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>{escape(title)}</title>'
        f"<style>{_CSS}</style></head><body><h1>{escape(title)}</h1>"
        f'<p class="note">Conversations whose first customer message came from {escape(period.span(zone))}, '
        f"grouped by {escape(report.by)}. Times are {escape(zone_name(zone))} time; weeks start on Monday "
        "there.</p>"
        f"{pending}{''.join(charts)}{notes}</body></html>\n"
    )
