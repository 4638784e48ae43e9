"""Contract tests: the real JSON documents every command prints validate against docs/schemas/ (issue 11, item 6).

Each document is produced by the command itself against the sandbox, then checked with jsonschema
(draft 2020-12) against the schema docs/json.md documents for its `kind`."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft202012Validator
from jsonschema.exceptions import ValidationError
from referencing import Registry, Resource

from cli_run import invoke
from gmaildesk.config import load_desk
from gmaildesk.paths import Account
from gmaildesk.sweep.store import store_path
from sweep_helpers import DESK, Desk, H
from test_auth import _login, browser, client_secret, config_dir  # noqa: F401 (fixtures)

DOCS = Path(__file__).resolve().parent.parent / "docs"
SCHEMAS = DOCS / "schemas"
KINDS = sorted(p.name.removesuffix(".schema.json") for p in SCHEMAS.glob("*.schema.json"))
# Schemas refer to each other by file name (apply -> plan, demo -> status and report).
REGISTRY: Registry = Registry().with_resources(
    (p.name, Resource.from_contents(json.loads(p.read_text()))) for p in SCHEMAS.glob("*.schema.json")
)


def validate(document: dict[str, Any], kind: str) -> None:
    assert document["kind"] == kind and document["version"] == 1
    schema = json.loads((SCHEMAS / f"{kind}.schema.json").read_text())
    errors = sorted(Draft202012Validator(schema, registry=REGISTRY).iter_errors(document), key=str)
    assert not errors, f"{kind}: " + "; ".join(f"{list(e.absolute_path)}: {e.message}" for e in errors)


def json_of(args: list[str], expect: int = 0) -> dict[str, Any]:
    return json.loads(invoke([*args, "--json"], expect=expect).stdout)


def test_every_schema_is_valid_2020_12_and_documented() -> None:
    guide = (DOCS / "json.md").read_text()
    assert set(KINDS) >= {"sweep", "plan", "apply", "demo", "status", "threads", "next", "show", "report"}
    for kind in KINDS:
        schema = json.loads((SCHEMAS / f"{kind}.schema.json").read_text())
        Draft202012Validator.check_schema(schema)
        assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
        assert schema["properties"]["kind"] == {"const": kind} and schema["properties"]["version"] == {"const": 1}
        assert {"version", "kind"} <= set(schema["required"])
        assert f"schemas/{kind}.schema.json" in guide, f"docs/json.md does not describe `{kind}`"


def test_the_schemas_refuse_a_document_that_drifts() -> None:
    sweep = {
        "version": 1, "kind": "sweep", "status": "ok", "full": True, "resynced": False, "resync_reason": None,
        "dry_run": False, "threads_seen": 0, "threads_read": 0, "transitions": [], "transitions_by_state": {},
        "by_state": {s: 0 for s in ("new", "waiting", "handled", "forwarded", "closed", "overdue")},
        "api_calls": 1, "calls_by_method": {}, "quota_units": 1, "messages_modified": 0, "duration_s": 0.1,
        "errors": [], "retrying": [], "given_up": [], "tickets_assigned": 0, "acks_sent": 0, "acks_skipped": {},
        "quota_costs": "current", "rate_limited": 0, "provisional": 0, "listing_check": None, "backfilled": 0,
        "corrected": 0,
    }  # fmt: skip
    validate(sweep, "sweep")
    for drifted in ({**sweep, "surprise": 1}, {**sweep, "threads_read": "2"}, {**sweep, "version": 2}):
        with pytest.raises(AssertionError):
            validate(drifted, "sweep")
    without = dict(sweep)
    del without["given_up"]
    with pytest.raises(AssertionError, match="given_up"):
        validate(without, "sweep")
    with pytest.raises(ValidationError):
        Draft202012Validator(json.loads((SCHEMAS / "plan.schema.json").read_text()), registry=REGISTRY).validate(
            {"version": 1, "kind": "plan", "changes": [{"kind": "label"}], "refused": [], "notes": []}
        )


@pytest.fixture
def desk_file(sandbox, tmp_path, monkeypatch) -> tuple[Path, list[str]]:
    monkeypatch.setenv("GMAILDESK_DATA_DIR", str(tmp_path / "data"))
    path = tmp_path / "desk.yaml"
    path.write_text(DESK.replace("ARCHIVE", "true") + "auto_ack:\n  body_text: We answer within a day.\n")
    return path, ["-c", str(path), "--endpoint", sandbox.url]


def test_desk_and_audit_documents_match_their_schemas(sandbox, desk_file) -> None:
    path, args = desk_file
    first_plan = json_of(["plan", *args])
    assert {c["kind"] for c in first_plan["changes"]} >= {"label", "filter", "vacation", "send-as"}
    validate(first_plan, "plan")
    applied = json_of(["apply", *args, "--yes", "--skip-tests"], expect=0)
    assert applied["result"]["status"] == "ok" and applied["result"]["done"]
    validate(applied, "apply")
    nothing = json_of(["apply", *args, "--yes", "--skip-tests"])
    assert nothing["result"] is None and nothing["plan"]["changes"] == []
    validate(nothing, "apply")
    path.write_text(path.read_text().replace("We answer within a day.", "We answer within two days."))
    update = json_of(["plan", *args])
    assert [(c["kind"], c["action"]) for c in update["changes"]] == [("vacation", "update")]
    validate(update, "plan")

    desk = Desk(sandbox, load_desk(path), store_path(Account(sandbox.url, "support@example.com")))
    question = desk.customer(subject="Invoice twice", to=("billing@example.com",))
    desk.send(desk.thread_of(question), in_reply_to=question, subject="Re: Invoice twice")
    waiting = desk.customer(subject="Where is my parcel")
    sandbox.control.advance_clock(5 * H)  # past the 4h first-response SLA: overdue
    swept = json_of(["sweep", *args])
    assert swept["threads_read"] == 2 and swept["by_state"]["overdue"] == 1
    validate(swept, "sweep")
    validate(json_of(["sweep", *args, "--dry-run"]), "sweep")

    validate(json_of(["status", *args]), "status")
    threads = json_of(["threads", *args])
    assert threads["count"] == 2
    validate(threads, "threads")
    found = json_of(["next", *args])
    assert found["thread"]["thread"] == desk.thread_of(waiting) and found["thread"]["overdue"] is True
    validate(found, "next")
    validate(json_of(["show", *args, desk.thread_of(question)]), "show")
    for by in ("dept", "week", "agent"):
        validate(json_of(["report", *args, "--by", by]), "report")


def test_next_with_nothing_to_do_matches_its_schema(sandbox, desk_file) -> None:
    _, args = desk_file
    invoke(["apply", *args, "--yes", "--skip-tests"])
    invoke(["sweep", *args, "--quiet"])
    empty = json_of(["next", *args])
    assert empty["thread"] is None
    validate(empty, "next")


def test_demo_document_matches_its_schema() -> None:
    demo = json_of(["demo"])
    assert demo["status"]["kind"] == "status" and demo["report"]["kind"] == "report"
    validate(demo, "demo")


def test_auth_status_document_matches_its_schema(sandbox, client_secret, config_dir, browser) -> None:  # noqa: F811
    _login(sandbox, client_secret)
    status = json_of(["auth", "status"])
    assert status["account"] == "support@example.com" and re.match(r"\d{4}-", status["expiry"])
    validate(status, "auth-status")
