"""Running the gmaildesk command in-process, the way every CLI test does."""

from __future__ import annotations

from typer.testing import CliRunner

from gmaildesk.cli import app
from gmaildesk.errors import ExitCode


def invoke(args: list[str], expect: int = ExitCode.OK, **kwargs):
    """Run `gmaildesk ARGS`; fail with both streams attached unless it exits with `expect`."""
    result = CliRunner().invoke(app, args, catch_exceptions=False, **kwargs)
    assert result.exit_code == expect, (
        f"gmaildesk {' '.join(map(str, args))} exited {result.exit_code}, "
        f"expected {int(expect)}\nstdout:\n{result.stdout}\nstderr:\n{result.stderr}"
    )
    return result
