"""Shared pytest fixtures: the real Knot DNS server and a nameserver that never answers."""

from __future__ import annotations

import socket
import sys
from pathlib import Path

import pytest

TESTS_DIR = Path(__file__).parent
REPO_ROOT = TESTS_DIR.parent
# The collection lives at collections/ansible_collections/v6gate/mx -> repo root, so module code
# can be imported the way Ansible imports it: ansible_collections.v6gate.mx.plugins...
for path in (str(REPO_ROOT / "collections"), str(TESTS_DIR)):
    if path not in sys.path:
        sys.path.insert(0, path)

from dnsserver import (
    STARTERS,
    ZONES_DIR,
    DroppingDnsRelay,
    SilentDnsServer,
    shared_knot,
    shared_updatable_zone,
    start_shared_knots,
    stop_shared_knots,
)
from smtp_listener import SmtpListener


def pytest_configure(config):
    # Registered here, not in pyproject.toml, so that ansible-test units (its own pytest config,
    # --strict-markers) knows it too.
    config.addinivalue_line("markers", "dns: needs the real authoritative DNS fixture (Knot on loopback)")


def pytest_collection_finish(session):
    start_shared_knots(set().union(*(item.fixturenames for item in session.items)))


def pytest_sessionfinish(session):
    stop_shared_knots()


def _fixture_knot():
    return shared_knot("fixtures", ZONES_DIR)


STARTERS["dns_server"] = _fixture_knot


@pytest.fixture(scope="session")
def dns_server():
    """Knot DNS serving tests/fixtures/zones/ on 127.0.0.1 and ::1 (same free port)."""
    return _fixture_knot()


@pytest.fixture(scope="session")
def updatable_zone():
    """mx.example.net on a Knot primary that takes TSIG-signed updates, a notified secondary and a stale
    one (tests/dnsserver.py, UpdatableZone)."""
    return shared_updatable_zone()


@pytest.fixture(scope="session")
def silent_dns_server():
    """A loopback nameserver that accepts UDP and TCP queries and never replies (timeouts)."""
    server = SilentDnsServer()
    yield server
    server.close()


@pytest.fixture(scope="session")
def dropping_dns_relay(dns_server):
    """The Knot fixture behind a relay that drops every AAAA query (and answers everything else)."""
    relay = DroppingDnsRelay(dns_server.host, dns_server.port)
    yield relay
    relay.close()


@pytest.fixture
def smtp_listener():
    listener = SmtpListener()
    yield listener
    listener.close()


@pytest.fixture
def smtp_listener_554():
    listener = SmtpListener("554 5.3.2 mx.optin.example not accepting mail")
    yield listener
    listener.close()


@pytest.fixture
def closed_port() -> int:
    """A port on ::1 that nothing listens on: connecting is refused at once."""
    with socket.socket(socket.AF_INET6, socket.SOCK_STREAM) as probe:
        probe.bind(("::1", 0))
        return probe.getsockname()[1]


@pytest.fixture
def optin_file(tmp_path):
    """An opt-in file as the ipv6_gate role writes it, with comments and its trailer (2 domains)."""
    path = tmp_path / "ipv6-optin-domains"
    path.write_text(
        "# managed by v6gate\n\nexample.com  # first customer\n# example.net is waiting\nexample.org\n"
        "# v6gate-optin end: 2 domain(s)\n"
    )
    path.chmod(0o640)
    return path
