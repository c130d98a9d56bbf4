"""Run a v6gate.mx module the way an admin does: ``ansible localhost -m v6gate.mx.<module>``."""

from __future__ import annotations

import functools
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]


def ansible_bin(name: str) -> Path:
    """An Ansible command (``ansible``, ``ansible-playbook``...): the checkout's virtualenv's, or, under
    ansible-test units (a copy of the tree without .venv), the one on PATH."""
    path = REPO_ROOT / ".venv" / "bin" / name
    return path if path.exists() else Path(shutil.which(name) or name)


def run_module(
    module: str, args: dict, check: bool = False, diff: bool = False, python: str = sys.executable
) -> dict:
    """Run ``v6gate.mx.<module>`` and return the host's result, with ``_rc`` set to ansible's exit code."""
    command = [
        str(ansible_bin("ansible")),
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


@functools.cache
def _controller_python_path() -> str | None:
    """PYTHONPATH for the ansible command under ansible-test units, None elsewhere. There the tests see
    ansible through links to an installation that is not on their sys.path, and the tests of modules
    see only ansible.module_utils. The command is the controller: it needs the whole package, and
    ansible.posix for the json callback, both from the installation that ansible-test runs from."""
    import ansible.module_utils

    real = Path(ansible.module_utils.__file__).resolve().parent.parent
    if str(real.parent) in sys.path:
        return None
    path = Path(tempfile.mkdtemp(prefix="v6gate-ansible-"))
    (path / "ansible").symlink_to(real)
    posix = real.parent / "ansible_collections" / "ansible" / "posix"
    if posix.is_dir():
        (path / "ansible_collections" / "ansible").mkdir(parents=True)
        (path / "ansible_collections" / "ansible" / "posix").symlink_to(posix)
    return str(path)


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
    if controller_path := _controller_python_path():
        env["PYTHONPATH"] = controller_path
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
