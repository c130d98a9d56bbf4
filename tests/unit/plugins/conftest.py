"""Fixtures for module tests: a DnsClient on the Knot fixture and a runner for real Ansible module calls."""

from __future__ import annotations

import pytest
from ansible_cli import run_module


@pytest.fixture
def client(dns_server):
    from ansible_collections.v6gate.mx.plugins.module_utils.dns_client import DnsClient

    return DnsClient([f"{dns_server.host}@{dns_server.port}"], timeout=2.0, retries=0)


@pytest.fixture
def silent_client(silent_dns_server):
    from ansible_collections.v6gate.mx.plugins.module_utils.dns_client import DnsClient

    return DnsClient([silent_dns_server.nameserver_spec], timeout=0.3, retries=0)


@pytest.fixture
def ansible_module():
    return run_module
