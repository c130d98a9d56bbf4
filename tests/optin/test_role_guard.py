"""An empty opt-in list by accident fails the play: the ipv6_gate role's first task, run by Ansible, and
every inventory and Molecule scenario of the repository that deploys the gate passes it."""

import json
import os
import subprocess
import sys
from pathlib import Path

import yaml
from ansible_cli import ansible_bin, run_json

REPO_ROOT = Path(__file__).resolve().parents[2]
ROLE = REPO_ROOT / "roles" / "ipv6_gate"
GUARD = "Refuse an empty opt-in list unless it is meant"


def test_the_guard_is_the_first_task_of_the_role():
    tasks = yaml.safe_load((ROLE / "tasks" / "main.yml").read_text())
    assert tasks[0]["ansible.builtin.import_tasks"] == "check.yml"
    assert yaml.safe_load((ROLE / "tasks" / "check.yml").read_text())[0]["name"] == GUARD
    defaults = yaml.safe_load((ROLE / "defaults" / "main.yml").read_text())
    assert defaults["ipv6_gate_optin_allow_empty"] is False
    spec = yaml.safe_load((ROLE / "meta" / "argument_specs.yml").read_text())
    option = spec["argument_specs"]["main"]["options"]["ipv6_gate_optin_allow_empty"]
    assert (option["type"], option["default"]) == ("bool", False) and option["description"]


def test_empty_list_fails_unless_allowed(tmp_path):
    # A role made of the real defaults and the real first task: role defaults have the lowest precedence,
    # so inventory values win over them as they do in the ipv6_gate role.
    role = tmp_path / "roles" / "guard"
    (role / "tasks").mkdir(parents=True)
    (role / "defaults").mkdir()
    (role / "vars").mkdir()
    (role / "defaults" / "main.yml").symlink_to(ROLE / "defaults" / "main.yml")
    (role / "vars" / "main.yml").symlink_to(ROLE / "vars" / "main.yml")
    (role / "tasks" / "main.yml").symlink_to(ROLE / "tasks" / "check.yml")
    (tmp_path / "play.yml").write_text(yaml.safe_dump([{"hosts": "all", "gather_facts": False,
                                                        "roles": [str(role)]}]))
    hosts = {
        "empty": {"ipv6_gate_optin_domains": []},
        "empty-allowed": {"ipv6_gate_optin_domains": [], "ipv6_gate_optin_allow_empty": True},
        "empty-allowed-string": {"ipv6_gate_optin_domains": [], "ipv6_gate_optin_allow_empty": "yes"},
        "listed": {"ipv6_gate_optin_domains": ["contoso.example"]},
        "opt-out": {"ipv6_gate_model": "opt-out"},
        "monitor-only": {"ipv6_gate_monitor_domains": ["contoso.example"]},
        # the checks that follow the guard
        "optout-under-opt-in": {"ipv6_gate_optin_domains": ["a.example"],
                                "ipv6_gate_optout_domains": ["b.example"]},
        "two-lists": {"ipv6_gate_model": "opt-out", "ipv6_gate_monitor_domains": ["A.example"],
                      "ipv6_gate_optout_domains": ["a.example"]},
        "not-accepted": {"ipv6_gate_optin_domains": ["contoso.example", "typo.example"],
                         "ipv6_gate_accepted_domains": ["Contoso.Example", "fabrikam.example"]},
        "accepted": {"ipv6_gate_monitor_domains": ["fabrikam.example."],
                     "ipv6_gate_accepted_domains": ["Contoso.Example", "fabrikam.example"]},
    }
    for host_vars in hosts.values():
        host_vars.update(ansible_connection="local", ansible_python_interpreter=sys.executable)
    (tmp_path / "hosts.yml").write_text(yaml.safe_dump({"all": {"hosts": hosts}}))
    playbook = ansible_bin("ansible-playbook")
    command = [str(playbook), "-i", str(tmp_path / "hosts.yml"), str(tmp_path / "play.yml")]
    output = run_json(command, timeout=120)
    results, failures = {}, {}
    for task in output["plays"][0]["tasks"]:
        if task["task"]["name"].endswith(GUARD):  # "guard : <name>"
            results.update(task["hosts"])
        for host, result in task["hosts"].items():
            if result.get("failed"):
                failures[host] = result["msg"]
    assert output["rc"] != 0
    assert results["empty"]["failed"] is True
    assert results["empty"]["msg"] == (
        "ipv6_gate_optin_domains is empty for empty: the gate would answer 550 5.2.1 to every anonymous IPv6 "
        "recipient. List the domains that accept mail over IPv6, or set ipv6_gate_optin_allow_empty: true if "
        "no domain should (yet)."
    )
    for host in ("empty-allowed", "empty-allowed-string", "listed"):
        assert not results[host].get("failed"), results[host]
    assert sorted(failures) == ["empty", "not-accepted", "optout-under-opt-in", "two-lists"], failures
    assert failures["optout-under-opt-in"].startswith(
        "ipv6_gate_optout_domains needs ipv6_gate_model opt-out"
    )
    assert failures["not-accepted"].startswith(
        "typo.example: listed for the IPv6 gate but not a domain Postfix accepts mail for on not-accepted"
    )


def _gate_is_deployed(variables: dict) -> bool:
    return str(variables.get("v6gate_ipv6_gate_enabled", True)).lower() not in ("false", "no", "0")


def _passes_guard(variables: dict) -> bool:
    allowed = variables.get("ipv6_gate_optin_allow_empty") is True
    return bool(variables.get("ipv6_gate_optin_domains")) or allowed


def test_every_inventory_that_deploys_the_gate_lists_domains_or_allows_none():
    for inventory in sorted((REPO_ROOT / "inventories").iterdir()):
        listing = inventory_listing(inventory)
        for host in listing.get("mx", {}).get("hosts", []):
            variables = listing["_meta"]["hostvars"][host]
            if _gate_is_deployed(variables):
                assert _passes_guard(variables), f"{inventory.name}: {host} would fail the empty-list guard"


def test_every_molecule_scenario_that_deploys_the_gate_lists_domains_or_allows_none():
    for config in sorted(REPO_ROOT.glob("molecule/*/molecule.yml")):
        scenario = yaml.safe_load(config.read_text())
        inventory = (scenario.get("provisioner") or {}).get("inventory") or {}
        group = (inventory.get("group_vars") or {}).get("mx") or {}
        host_vars = inventory.get("host_vars") or {}
        for platform in scenario.get("platforms") or []:
            if "mx" not in platform.get("groups", []):
                continue
            variables = {**group, **(host_vars.get(platform["name"]) or {})}
            if _gate_is_deployed(variables):
                assert _passes_guard(variables), f"{config.parent.name}: {platform['name']} fails the guard"


def inventory_listing(inventory: Path) -> dict:
    """``ansible-inventory --list`` of one inventory directory (variables as written, not templated)."""
    completed = subprocess.run(
        [str(ansible_bin("ansible-inventory")), "-i", str(inventory), "--list"], cwd=REPO_ROOT,
        capture_output=True,
        text=True, timeout=120, env=dict(os.environ, ANSIBLE_CONFIG=str(REPO_ROOT / "ansible.cfg")),
    )
    assert completed.returncode == 0, completed.stderr
    return json.loads(completed.stdout)
