"""Run a v6gate.mx module the way an admin does: ``ansible localhost -m v6gate.mx.<module>``."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
ANSIBLE = REPO_ROOT / ".venv" / "bin" / "ansible"


def run_module(
    module: str, args: dict, check: bool = False, diff: bool = False, python: str = sys.executable
) -> dict:
    """Run ``v6gate.mx.<module>`` and return the host's result, with ``_rc`` set to ansible's exit code."""
    command = [
        str(ANSIBLE),
        "localhost",
        "-i",
        "localhost,",
        "-c",
        "local",
        "-m",
        f"v6gate.mx.{module}",
        "-a",
        json.dumps(args),
        "-e",
        f"ansible_python_interpreter={python}",
    ]
    if check:
        command.append("--check")
    if diff:
        command.append("--diff")
    output = run_json(command, timeout=120)
    result = output["plays"][0]["tasks"][0]["hosts"]["localhost"]
    result["_rc"] = output["rc"]
    result["_stderr"] = output["stderr"]
    return result


def run_json(command: list[str], timeout: float, **env: str) -> dict:
    """Run an ansible command from the checkout with the json stdout callback and return its output,
    with ``rc`` set to the exit code and ``stderr`` to what Ansible printed there; fails the test when
    ansible printed no JSON."""
    env = dict(
        os.environ,
        ANSIBLE_CONFIG=str(REPO_ROOT / "ansible.cfg"),
        ANSIBLE_STDOUT_CALLBACK="json",
        ANSIBLE_LOAD_CALLBACK_PLUGINS="1",
        ANSIBLE_NOCOLOR="1",
        **env,
    )
    completed = subprocess.run(
        command, cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=timeout
    )
    try:
        output = json.loads(completed.stdout)
    except json.JSONDecodeError:
        pytest.fail(
            f"ansible printed no JSON (rc={completed.returncode}):\n{completed.stdout}\n{completed.stderr}"
        )
    output["rc"] = completed.returncode
    output["stderr"] = completed.stderr  # Ansible's warnings and deprecations
    return output
