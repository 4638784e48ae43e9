"""Golden scenarios: numbered desk.yaml steps applied in order to ONE sandbox through the CLI.

Each step's `gmaildesk plan` output must equal the checked-in NN-name/plan.txt
(regenerate with `pytest --update-golden` and review the diff). Throughout, a label and
a filter the user made by hand must survive untouched.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from cli_run import invoke
from gmaildesk.errors import ExitCode

SCENARIOS = Path(__file__).parent / "scenarios"
STEPS = sorted(p for p in SCENARIOS.iterdir() if p.is_dir() and p.name[:2].isdigit())
# What `apply --yes` exits with at each step (04: a refused deletion leaves the desk partial).
APPLY_EXIT = {"04-remove-department": ExitCode.PARTIAL}
USER_FILTER = {"criteria": {"from": "mom@family.example"}, "action": {"addLabelIds": [], "removeLabelIds": ["INBOX"]}}


def run(args: list[str], expect: int = ExitCode.OK) -> str:
    return invoke(args, expect).stdout


@pytest.fixture
def desk_env(sandbox, tmp_path, monkeypatch):
    monkeypatch.setenv("GMAILDESK_DATA_DIR", str(tmp_path / "data"))
    return sandbox


def _user_made(gmail) -> tuple[dict, dict]:
    label = (
        gmail.labels()
        .create(userId="me", body={"name": "Family", "color": {"backgroundColor": "#e07798", "textColor": "#ffffff"}})
        .execute()
    )
    body = {**USER_FILTER, "action": {"addLabelIds": [label["id"]], "removeLabelIds": ["INBOX"]}}
    flt = gmail.settings().filters().create(userId="me", body=body).execute()
    return label, flt


def test_scenarios_in_order_on_one_sandbox(desk_env, gmail, request):
    update = request.config.getoption("--update-golden")
    label, flt = _user_made(gmail)
    for step in STEPS:
        flags = (step / "flags").read_text().split() if (step / "flags").exists() else []
        common = ["-c", str(step / "desk.yaml"), "--endpoint", desk_env.url, *flags]
        shown = run(["plan", *common])
        golden = step / "plan.txt"
        if update:
            golden.write_text(shown)
        assert shown == golden.read_text(), f"{step.name}: plan differs from {golden} (pytest --update-golden)"
        run(["apply", "--yes", *common], APPLY_EXIT.get(step.name, ExitCode.OK))
        after = run(
            ["plan", *common, "--exit-code"], ExitCode.PLAN_HAS_CHANGES if step.name in APPLY_EXIT else ExitCode.OK
        )
        if step.name not in APPLY_EXIT:
            assert after == "No changes\n", f"{step.name}: not converged:\n{after}"

    labels = {lab["name"]: lab for lab in gmail.labels().list(userId="me").execute()["labels"]}
    assert labels["Family"] == label, "the user's own label changed"
    filters = gmail.settings().filters().list(userId="me").execute()["filter"]
    assert flt in filters, "the user's own filter changed or disappeared"
    assert "Dept/Sales" not in labels and "Dept/Billing" in labels and "Receipts" in labels
    counters = desk_env.control.counters()["calls"]
    # Five applies, one vacation write: every write would re-acknowledge every customer.
    assert counters["gmail.users.settings.updateVacation"] == 1
    assert counters["gmail.users.settings.sendAs.create"] == 1
