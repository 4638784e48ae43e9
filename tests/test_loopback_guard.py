"""The suite-wide guard (tests/conftest.py) refuses and reports any non-loopback connection."""

from __future__ import annotations

import socket

import pytest

from conftest import GUARD_SELF_TEST_HOSTS, blocked_hosts


def test_guard_refuses_a_public_address_before_any_packet():
    with socket.socket() as s, pytest.raises(ConnectionRefusedError, match="non-loopback 203.0.113.7"):
        s.connect(("203.0.113.7", 443))
    assert "203.0.113.7" in blocked_hosts()


def test_guard_refuses_dns_lookups_of_remote_names():
    with pytest.raises(socket.gaierror):
        socket.getaddrinfo("gmail.googleapis.com.invalid", 443)


def test_guard_lets_loopback_through(sandbox):
    assert sandbox.url.startswith("http://127.0.0.1:")
    assert sandbox.control.status()["defaultUser"] == "support@example.com"


def test_nothing_else_was_blocked_so_far():
    # The session also fails at the end if anything outside these self-test hosts was refused.
    assert [h for h in blocked_hosts() if h not in GUARD_SELF_TEST_HOSTS] == []
