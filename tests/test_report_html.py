"""`report --html` as a team lead reads it: whose mailbox and which period, SLA attainment per
department, the weekly trend, labels that stay in their column, times in the desk's timezone, rendered by
chromium."""

from __future__ import annotations

import re
import shutil
import subprocess

import pytest

from cli_run import invoke
from gmaildesk.sweep.state import State
from gmaildesk.sweep.store import Checkpoint, Store, ThreadRow

H = 3_600_000
D = 24 * H
NOW = 1_800_000_000_000  # 2027-01-15T08:00:00Z, a Friday of ISO week 2027-W02
LONG_DEPT = "Enterprise Escalations and Key Accounts Europe"
LONG_AGENT = "first.responder.with.a.very.long.name@support.example.com"
DESK = f"""\
version: 1
mailbox: support@example.com
timezone: Europe/Paris
departments:
  - name: Billing
    sla: {{first_response: 4h, next_response: 8h}}
  - name: {LONG_DEPT}
    sla: {{first_response: 1h, next_response: 2h}}
"""


def _conversation(n: int, dept: str, started: int, response_after: int | None, agent: str) -> ThreadRow:
    answered = response_after is not None
    return ThreadRow(
        f"{n:016x}",
        state=State.CLOSED if answered else State.NEW,
        department=dept,
        last_counted_id=f"m{n}",
        last_counted_side="ours_reply" if answered else "customer",
        last_counted_at=started + (response_after or 0),
        first_customer_at=started,
        first_response_at=None if response_after is None else started + response_after,
        due_at=None if answered else started + 4 * H,
        message_ids=[f"m{n}"],
        updated_at=started,
        agent=agent if answered else None,
        first_agent=agent if answered else None,
    )


@pytest.fixture
def page(tmp_path, monkeypatch):
    """Six ISO weeks, 2026-W50 to 2027-W02: Billing answers in 2h (all met), the long-named department
    in 3h or 30 min by turns (7 of 17 met); 2026-W52 has no conversation at all."""
    monkeypatch.setenv("GMAILDESK_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setattr("gmaildesk.cli.options.now_ms", lambda options: NOW)
    config = tmp_path / "desk.yaml"
    config.write_text(DESK)
    rows, n = [], 0
    for weeks_ago in (5, 4, 2, 1, 0):
        start = NOW - weeks_ago * 7 * D - 2 * D
        for i in range(weeks_ago + 1):
            n += 1
            rows.append(_conversation(n, "Billing", start + i * H, 2 * H, "billing@example.com"))
            n += 1
            rows.append(_conversation(n, LONG_DEPT, start + i * H, H // 2 if i % 2 else 3 * H, LONG_AGENT))
    n += 1
    rows.append(_conversation(n, "Billing", NOW - 3 * H, None, ""))
    store = tmp_path / "s.sqlite"
    with Store(store) as s:
        s.commit(Checkpoint(history_id="1", last_sweep_at=NOW - H), rows, [], "sweep-1")
    out = tmp_path / "report.html"
    invoke(["report", "-c", str(config), "--store", str(store), "--since", "40d", "--by", "agent", "--html", str(out)])
    return out


def test_title_names_the_mailbox_and_the_period_in_the_desk_s_timezone(page):
    text = page.read_text()
    title = "support@example.com: support report, 2026-12-06 to 2027-01-15"
    assert f"<title>{title}</title>" in text and f"<h1>{title}</h1>" in text
    assert "from 2026-12-06 09:00 CET to 2027-01-15 09:00 CET" in text
    assert "Times are Europe/Paris time; weeks start on Monday there." in text


def test_sla_attainment_per_department_comes_first(page):
    text = page.read_text()
    sla = text.index("<h2>SLA met, by department</h2>")
    assert sla < text.index("<h2>Weekly trend") < text.index("<table>")
    chart = text[sla : text.index("</svg>", sla)]
    # --by agent, yet the chart is per department; Billing's open conversation is inside its 4h window.
    assert "100.0% (17/17)" in chart and "41.2% (7/17)" in chart and "70.6% (24/34)" in chart
    assert "all departments" in chart


def test_weekly_trend_has_every_week_of_the_period(page):
    text = page.read_text()
    trend = text[text.index("<h2>Weekly trend") :]
    trend = trend[: trend.index("</svg>")]
    tips = re.findall(r"<rect [^>]*><title>([^<]*)</title>", trend)
    weeks = [t for t in tips if ":" in t]
    assert [t.split(":")[0] for t in weeks] == ["2026-W50", "2026-W51", "2026-W52", "2026-W53", "2027-W01", "2027-W02"]
    assert weeks[0] == "2026-W50: 12 conversations, first response median 2h"
    assert weeks[2] == "2026-W52: 0 conversations, first response median -"
    assert weeks[-1] == "2027-W02: 3 conversations, first response median 2h30m"  # 2h, 3h, the open one
    # The axis names the year at the start and where it changes, the week alone in between.
    assert re.findall(r"<title>[^<]*</title>([^<]*)</text>", trend) == [
        "2026-W50",
        "W51",
        "W52",
        "W53",
        "2027-W01",
        "W02",
    ]
    assert trend.count("<polyline") == 2  # the empty week breaks the median line


def test_long_labels_are_cut_with_their_full_text_as_tooltip(page):
    text = page.read_text()
    assert f"<title>{LONG_DEPT}</title>Enterprise Escalations…</text>" in text
    assert f"<title>{LONG_AGENT}</title>" in text and LONG_AGENT + "</text>" not in text
    # Each bar chart clips its label column, so even wide letters cannot run into the bars.
    for clip in re.findall(r'<clipPath id="([^"]+)"><rect width="(\d+)"', text):
        assert int(clip[1]) < 180


def test_rendered_by_headless_chromium(page, tmp_path):
    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    if browser is None:
        pytest.skip("chromium is not installed")
    png = tmp_path / "report.png"
    # No background networking: the page must render with no connection at all.
    subprocess.run(
        [
            browser,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            f"--user-data-dir={tmp_path / 'profile'}",
            f"--screenshot={png}",
            "--window-size=1100,1600",
            page.as_uri(),
        ],
        check=True,
        timeout=60,
        capture_output=True,
    )
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 20_000
