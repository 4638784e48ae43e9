"""A desk.yaml written from text and loaded, or the one error loading it raises."""

from __future__ import annotations

from pathlib import Path
from textwrap import dedent

import pytest

from gmaildesk.config import Desk, load_desk
from gmaildesk.errors import GmailDeskError

HEAD = "version: 1\nmailbox: support@example.com\n"


def load_text(tmp_path: Path, text: str) -> Desk:
    path = tmp_path / "desk.yaml"
    path.write_text(dedent(text))
    return load_desk(path)


def load_error(tmp_path: Path, text: str) -> GmailDeskError:
    with pytest.raises(GmailDeskError) as caught:
        load_text(tmp_path, text)
    return caught.value
