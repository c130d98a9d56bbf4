"""Runs verify_optin.yml against a running lab when one is given; skipped otherwise.

    OPTIN_LAB_INVENTORY=<inventory> OPTIN_LAB_VARS=<vars file> .venv/bin/pytest tests/optin/molecule

The inventory needs the MX hosts in group ``mx`` and the sender host; the vars file sets the
``optin_verify_*`` variables described at the top of verify_optin.yml.
"""

import os
import subprocess
from pathlib import Path

import pytest
from ansible_cli import ansible_bin

REPO_ROOT = Path(__file__).resolve().parents[3]
INVENTORY = os.environ.get("OPTIN_LAB_INVENTORY")
VARS = os.environ.get("OPTIN_LAB_VARS")


@pytest.mark.skipif(not INVENTORY, reason="no lab: set OPTIN_LAB_INVENTORY (and OPTIN_LAB_VARS)")
def test_optin_end_to_end_on_the_lab():
    command = [
        str(ansible_bin("ansible-playbook")),
        "-i",
        INVENTORY,
        str(Path(__file__).with_name("verify_optin.yml")),
    ]
    if VARS:
        command += ["-e", f"@{VARS}"]
    env = dict(
        os.environ,
        ANSIBLE_CONFIG=str(REPO_ROOT / "ansible.cfg"),
        CONTAINERS_CONF=os.environ.get("CONTAINERS_CONF", str(REPO_ROOT / "containers.conf")),
    )
    completed = subprocess.run(command, cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=900)
    assert completed.returncode == 0, completed.stdout[-6000:] + completed.stderr[-2000:]
