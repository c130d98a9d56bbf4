"""Fixtures for module tests: a DnsClient on the Knot fixture and a runner for real Ansible module calls."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
ANSIBLE = REPO_ROOT / ".venv" / "bin" / "ansible"


@pytest.fixture
def client(dns_server):
    from ansible_collections.v6gate.mx.plugins.module_utils.v6gate_dns import DnsClient

    return DnsClient([f"{dns_server.host}@{dns_server.port}"], timeout=2.0, retries=0)


@pytest.fixture
def silent_client(silent_dns_server):
    from ansible_collections.v6gate.mx.plugins.module_utils.v6gate_dns import DnsClient

    return DnsClient([silent_dns_server.nameserver_spec], timeout=0.3, retries=0)


def run_module(module: str, args: dict, check: bool = False, python: str = sys.executable) -> dict:
    """Run ``v6gate.mx.<module>`` through ``ansible localhost -m`` and return the host's result."""
    env = dict(os.environ, ANSIBLE_CONFIG=str(REPO_ROOT / "ansible.cfg"), ANSIBLE_STDOUT_CALLBACK="json",
               ANSIBLE_LOAD_CALLBACK_PLUGINS="1", ANSIBLE_NOCOLOR="1")
    command = [str(ANSIBLE), "localhost", "-i", "localhost,", "-c", "local", "-m", f"v6gate.mx.{module}",
               "-a", json.dumps(args), "-e", f"ansible_python_interpreter={python}"]
    if check:
        command.append("--check")
    completed = subprocess.run(command, cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=120)
    try:
        output = json.loads(completed.stdout)
    except json.JSONDecodeError:
        pytest.fail(f"ansible printed no JSON (rc={completed.returncode}):\n"
                    f"{completed.stdout}\n{completed.stderr}")
    result = output["plays"][0]["tasks"][0]["hosts"]["localhost"]
    result["_rc"] = completed.returncode
    return result


@pytest.fixture
def ansible_module():
    return run_module
