"""Fixtures for module tests: a DnsClient on the Knot fixture, runners for real Ansible module calls, and
for ipv6_optin an in-process runner too."""

from __future__ import annotations

import contextlib
import io
import json

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


def run_module_in_process(args: dict, check: bool = False, diff: bool = False) -> dict:
    """Run ipv6_optin.main() in this process with ``args``; return the JSON it prints."""
    from ansible.module_utils.testing import patch_module_args
    from ansible_collections.v6gate.mx.plugins.modules import ipv6_optin

    full = dict(args, _ansible_check_mode=check, _ansible_diff=diff)
    stdout = io.StringIO()
    with patch_module_args(full), contextlib.redirect_stdout(stdout), pytest.raises(SystemExit):
        ipv6_optin.main()
    return json.loads(stdout.getvalue())


@pytest.fixture
def optin_module():
    return run_module_in_process


def run_through_ansible(args: dict, check: bool = False, diff: bool = False) -> dict:
    """Run ``v6gate.mx.ipv6_optin`` through ``ansible localhost -m`` and return the host's result."""
    return run_module("ipv6_optin", args, check=check, diff=diff)


@pytest.fixture
def ansible_optin():
    return run_through_ansible
