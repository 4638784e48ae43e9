"""Shared fixtures: a fresh sandbox per test, the real Gmail client pointed at it, and a guard
that fails the run if anything in the suite tries to reach a non-loopback host."""

from __future__ import annotations

import ipaddress
import os
import socket
import time

import pytest
import tzlocal

from gmail_client import gmail_users, upload_users
from gmaildesk.sandbox import running_sandbox

SUPPORT = "support@example.com"
_blocked: list[str] = []
_real_connect = socket.socket.connect
_real_connect_ex = socket.socket.connect_ex
_real_getaddrinfo = socket.getaddrinfo


def _is_loopback(host: str) -> bool:
    if host in ("localhost", "localhost.localdomain", ""):
        return True
    try:
        return ipaddress.ip_address(host.strip("[]").split("%")[0]).is_loopback
    except ValueError:
        return False


def _guarded_address(address) -> None:
    if isinstance(address, tuple) and address and isinstance(address[0], str) and not _is_loopback(address[0]):
        _blocked.append(str(address[0]))
        raise ConnectionRefusedError(f"test guard: connection to non-loopback {address[0]} refused")


def _connect(self, address):
    if self.family in (socket.AF_INET, socket.AF_INET6):
        _guarded_address(address)
    return _real_connect(self, address)


def _connect_ex(self, address):
    if self.family in (socket.AF_INET, socket.AF_INET6):
        _guarded_address(address)
    return _real_connect_ex(self, address)


def _getaddrinfo(host, *args, **kwargs):
    if isinstance(host, bytes):
        host = host.decode()
    if host is not None and not _is_loopback(host):
        _blocked.append(str(host))
        raise socket.gaierror(socket.EAI_NONAME, f"test guard: lookup of non-loopback {host} refused")
    return _real_getaddrinfo(host, *args, **kwargs)


def pytest_configure(config):
    # A desk without `timezone:` shows times in the machine's zone: the suite's is UTC wherever it runs.
    os.environ["TZ"] = "UTC"
    time.tzset()
    tzlocal.reload_localzone()
    # The network guard replaces these for the whole run, on purpose (see the module docstring).
    socket.socket.connect = _connect  # type: ignore[method-assign]
    socket.socket.connect_ex = _connect_ex  # type: ignore[method-assign]
    socket.getaddrinfo = _getaddrinfo


def pytest_sessionfinish(session, exitstatus):
    unexpected = [h for h in _blocked if h not in GUARD_SELF_TEST_HOSTS]
    if unexpected:
        session.config.pluginmanager.get_plugin("terminalreporter").write_line(
            f"FAILED: the suite tried to reach non-loopback hosts: {sorted(set(unexpected))}", red=True
        )
        session.exitstatus = 1


# Hosts the guard's own self-test uses on purpose (TEST-NET-3, a documentation-only range).
GUARD_SELF_TEST_HOSTS = {"203.0.113.7", "gmail.googleapis.com.invalid"}


def blocked_hosts() -> list[str]:
    return list(_blocked)


@pytest.fixture
def sandbox():
    """A fresh in-process sandbox whose every JSON answer is checked against the discovery schema."""
    with running_sandbox(users=(SUPPORT, "colleague@example.com"), validate_responses=True) as handle:
        yield handle
        violations = handle.control.counters()["schema_violations"]
        assert violations == [], f"sandbox answered outside Gmail's schema: {violations}"


@pytest.fixture
def gmail(sandbox):
    """The real googleapiclient Gmail service, over HTTP, against the sandbox."""
    return gmail_users(sandbox.url)


@pytest.fixture
def uploads(sandbox):
    """The client with rootUrl rewritten, so /upload/ URLs keep the sandbox's http:// scheme."""
    return upload_users(sandbox.url)


def pytest_addoption(parser):
    parser.addoption(
        "--update-golden",
        action="store_true",
        default=False,
        help="Rewrite the checked-in golden files (tests/scenarios/*/plan.txt) from this run; "
        "review the diff before committing.",
    )


@pytest.fixture(autouse=True)
def _no_traceback_in_cli_output(monkeypatch):
    """Suite-wide: no CLI test may print a Python traceback, whatever it asserts itself.

    A user mistake must end in a one-line error; a traceback on either stream (rich's
    'Traceback (most recent call last)' box included) fails the test that provoked it.
    """
    from typer.testing import CliRunner

    real_invoke = CliRunner.invoke

    def invoke(self, *args, **kwargs):
        result = real_invoke(self, *args, **kwargs)
        for name in ("stdout", "stderr"):
            try:
                text = getattr(result, name)
            except ValueError:  # stderr not separately captured
                continue
            assert "Traceback (most recent call last)" not in text, f"traceback on {name}:\n{text}"
        return result

    monkeypatch.setattr(CliRunner, "invoke", invoke)
