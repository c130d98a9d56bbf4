"""Every role's argument spec is checked before any of its tasks runs, also in a play without facts:
defaults that come from facts then give a clear message instead of a templating crash."""

import sys
from pathlib import Path

import pytest
import yaml
from ansible_cli import ansible_bin, run_json

REPO_ROOT = Path(__file__).resolve().parents[3]
ROLES = sorted(p.name for p in (REPO_ROOT / "roles").iterdir()
               if (p / "meta" / "argument_specs.yml").exists())


def validate(tmp_path, role: str, extra_vars: dict) -> dict:
    """Run only the role's argument validation (tagged always) on localhost, gather_facts off."""
    (tmp_path / "play.yml").write_text(yaml.safe_dump([{"hosts": "all", "gather_facts": False,
                                                        "roles": [role]}]))
    host = {"ansible_connection": "local", "ansible_python_interpreter": sys.executable, **extra_vars}
    (tmp_path / "hosts.yml").write_text(yaml.safe_dump({"all": {"hosts": {"mx": host}}}))
    playbook = ansible_bin("ansible-playbook")
    command = [str(playbook), "-i", str(tmp_path / "hosts.yml"), str(tmp_path / "play.yml"),
               "--tags", "argument-validation-only"]
    return run_json(command, timeout=120, ANSIBLE_ROLES_PATH=str(REPO_ROOT / "roles"))


def messages(output) -> str:
    return " ".join(str(result.get("msg", "")) for play in output["plays"] for task in play["tasks"]
                    for result in task["hosts"].values())


@pytest.mark.parametrize("role", ROLES)
def test_no_facts_gives_a_clear_message_not_a_crash(tmp_path, role):
    output = validate(tmp_path, role, {})  # every role has a default taken from the host's FQDN
    text = messages(output)
    assert output["rc"] != 0
    assert "set it, or gather facts" in text, text
    assert "has no attribute" not in text


@pytest.mark.parametrize("role", ROLES)
def test_with_the_values_given_no_facts_are_needed(tmp_path, role):
    names = {"v6gate_authserv_id": "mx.example.com", "postfix_myhostname": "mx.example.com",
             "common_mailname": "mx.example.com", "ipv6_gate_optin_domains": ["contoso.example"]}
    output = validate(tmp_path, role, names)
    assert output["rc"] == 0, messages(output)
