"""desk.yaml's `tests:`: sample messages and exactly the user labels the desk's filters must give them.

Offline, with the same query evaluator and the same criteria-to-query translation as the
sandbox uses when it applies filters on delivery.
"""

from __future__ import annotations

from dataclasses import dataclass

from gmaildesk.config.desk import ConfigTest, Desk
from gmaildesk.desk import filters
from gmaildesk.gmail.labels import SYSTEM_LABEL_IDS
from gmaildesk.gmail.query import SearchDoc, search


@dataclass(frozen=True)
class Outcome:
    name: str
    expected: tuple[str, ...]  # sorted
    got: tuple[str, ...]  # sorted

    @property
    def passed(self) -> bool:
        return self.expected == self.got

    def render(self) -> str:
        if self.passed:
            return f"ok    {self.name}"
        return f"FAIL  {self.name}: expected {list(self.expected)}, got {list(self.got)}"


def labels_for(desk: Desk, test: ConfigTest) -> set[str]:
    """The user labels the desk's filters would add to the test's message."""
    message = test.message
    doc = SearchDoc(
        from_=message.from_,
        to=", ".join(message.to),
        cc=", ".join(message.cc),
        subject=message.subject,
        body=message.body,
        filenames=message.attachments,
        has_attachment=bool(message.attachments),
    )
    found: set[str] = set()
    for desired in filters.from_desk(desk):
        if search(desired.spec.query(), doc, now_ms=0):
            found.update(name for name in desired.spec.add if name not in SYSTEM_LABEL_IDS)
    return found


def run(desk: Desk) -> tuple[Outcome, ...]:
    return tuple(Outcome(t.name, tuple(sorted(t.labels)), tuple(sorted(labels_for(desk, t)))) for t in desk.tests)
