"""`report --html`: one self-contained page (inline CSS and SVG, no scripts, no network assets)."""

from __future__ import annotations

from collections.abc import Callable
from html import escape

from gmaildesk.audit.db import iso
from gmaildesk.audit.queries import AGING_BUCKETS, Report, ReportGroup
from gmaildesk.sweep.state import format_duration

__all__ = ["render_html"]

_CSS = (
    "body{font-family:system-ui,sans-serif;margin:2em;color:#222}table{border-collapse:collapse;margin:1em 0}"
    "td,th{border:1px solid #ccc;padding:4px 8px;text-align:right}th:first-child,td:first-child{text-align:left}"
    "h2{margin-top:1.5em}.note{color:#666}svg text{font-size:12px;font-family:system-ui,sans-serif}"
)


def _bars(
    title: str,
    items: list[tuple[str, float | None]],
    fmt: Callable[[float], str] = lambda v: str(int(v)),
    colour: str = "#4a7bd0",
) -> str:
    """A horizontal bar chart as inline SVG; a None value (nothing measured yet) shows as '-'."""
    width, label_w, row_h = 640, 140, 24
    top = max((v for _, v in items if v is not None), default=0) or 1
    height = row_h * max(1, len(items)) + 10
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" role="img" '
        f'aria-label="{escape(title)}">'
    ]
    for i, (label, value) in enumerate(items):
        y = 5 + i * row_h
        shown = "-" if value is None else fmt(value)
        value = value or 0
        w = (width - label_w - 90) * value / top
        parts.append(
            f'<text x="0" y="{y + 16}">{escape(label)}</text>'
            f'<rect x="{label_w}" y="{y + 3}" width="{w:.1f}" height="{row_h - 8}" fill="{colour}"/>'
            f'<text x="{label_w + w + 6:.1f}" y="{y + 16}">{escape(shown)}</text>'
        )
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


def render_html(report: Report) -> str:
    groups = report.groups
    head = [
        "",
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
        _bars(f"Volume by {report.by}", [(g.key, g.volume) for g in groups]),
        _bars("First response, median", [(g.key, g.first_response.median_ms) for g in groups], hours, "#2e9e6b"),
        _bars("First response, p90", [(g.key, g.first_response.p90_ms) for g in groups], hours, "#c07a1e"),
        _bars(
            "Backlog by age (all groups)", [(b, report.total.backlog[b]) for b, _ in AGING_BUCKETS], colour="#c0392b"
        ),
    ]
    notes = "".join(f'<p class="note">{escape(n)}</p>' for n in report.missing)
    return (
        '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>gmaildesk report</title>'
        f"<style>{_CSS}</style></head><body><h1>gmaildesk report</h1>"
        f'<p class="note">Conversations started since {iso(report.since_ms)}; generated {iso(report.now_ms)}; '
        f"grouped by {escape(report.by)}.</p>{table}{''.join(charts)}{notes}</body></html>\n"
    )
