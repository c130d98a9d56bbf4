"""playbooks/optin.yml against two local stand-in MX hosts (connection local, files in tmp): converge,
drift in check mode, one domain with controller DNS checks and SMTP from the host, refusal, opt-out."""

import json
import sys
from pathlib import Path

import pytest
import yaml
from ansible_cli import ansible_bin, run_json
from ansible_collections.v6gate.mx.plugins.module_utils.ipv6_rules import render_optin_trailer

pytestmark = pytest.mark.dns

REPO_ROOT = Path(__file__).resolve().parents[2]
PLAYBOOK = REPO_ROOT / "playbooks" / "optin.yml"
HEADER = "# written by the ipv6_gate role\n"


def role_file(*domains: str) -> str:
    """The file as the role (or the module) writes it: header, domains, trailer."""
    return HEADER + "".join(f"{d}\n" for d in domains) + render_optin_trailer(len(domains)) + "\n"


SUMMARY = "Summarise the hosts whose opt-in file differs (or differed) from the request"


@pytest.fixture
def lab(tmp_path, dns_server):
    """Inventory with hosts mx-a and mx-b; each has its own opt-in file, both share the change log."""
    hosts = {}
    for name in ("mx-a", "mx-b"):
        optin = tmp_path / name / "ipv6-optin-domains"
        optin.parent.mkdir()
        optin.write_text(role_file("example.com"))
        hosts[name] = {"ipv6_gate_optin_file": str(optin)}
    inventory = {
        "all": {
            "children": {
                "mx": {
                    "hosts": hosts,
                    "vars": {
                        "ansible_connection": "local",
                        "ansible_become": False,
                        "ansible_python_interpreter": sys.executable,
                        "ipv6_gate_optin_domains": ["example.com", "ready.optin.example"],
                        "postfix_relay_domains": [
                            "example.com",
                            "ready.optin.example",
                            "loop.optin.example",
                            "noptr.optin.example",
                        ],
                        "ipv6_gate_optin_change_log": str(tmp_path / "state" / "optin-changes.jsonl"),
                        "optin_nameservers": [dns_server.nameserver_specs[0]],
                        # No gate writes counters here; the watch is tested in test_ipv6_domains_playbook.py.
                        "v6gate_rollout_watch_seconds": 0,
                    },
                }
            }
        }
    }
    path = tmp_path / "hosts.yml"
    path.write_text(yaml.safe_dump(inventory))
    return tmp_path


def play(lab, *extra, check=False):
    command = [str(ansible_bin("ansible-playbook")), "-i", str(lab / "hosts.yml"), str(PLAYBOOK), *extra]
    if check:
        command += ["--check", "--diff"]
    # USER names the operator in the change log; with no such account, "~" would expand to a literal
    # "~carol" directory in the checkout, so Ansible's temporary directories go below the lab instead.
    return run_json(command, timeout=300, USER="carol", ANSIBLE_REMOTE_TMP=str(lab / "remote-tmp"),
                    ANSIBLE_LOCAL_TEMP=str(lab / "local-tmp"))


def task_results(output, name):
    """{host: result} of the task called ``name`` across every play and batch."""
    found = {}
    for p in output["plays"]:
        for task in p["tasks"]:
            if task["task"]["name"] == name:
                found.update(task["hosts"])
    return found


def text(lab, host):
    return (lab / host / "ipv6-optin-domains").read_text()


def log(lab):
    path = lab / "state" / "optin-changes.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def test_converge_drift_then_apply_then_agree(lab):
    drift = play(lab, check=True)
    assert drift["rc"] == 0
    assert {h: s["changed"] for h, s in drift["stats"].items()} == {"mx-a": 1, "mx-b": 1}
    reports = task_results(drift, "Report drift from the inventory")
    assert "would add ready.optin.example" in reports["mx-a"]["msg"]
    summary = task_results(drift, SUMMARY)
    assert "Drift: mx-a, mx-b" in next(iter(summary.values()))["msg"]
    assert text(lab, "mx-a") == role_file("example.com")  # check mode wrote nothing

    applied = play(lab, "-e", "optin_smtp_from=none")
    assert applied["rc"] == 0, applied
    for host in ("mx-a", "mx-b"):
        assert text(lab, host) == role_file("example.com", "ready.optin.example")
    entries = log(lab)
    assert [(e["domain"], e["state"], e["changed_by"]) for e in entries] == [
        ("ready.optin.example", "present", "carol")
    ] * 2
    assert entries[0]["reason"] == "converge to inventory ipv6_gate_optin_domains"
    assert entries[0]["checks"]["mx_ptr"] == "pass" and entries[0]["checks"]["smtp_ipv6"] == "skipped"

    agreed = play(lab, check=True)
    assert agreed["rc"] == 0
    assert {h: s["changed"] for h, s in agreed["stats"].items()} == {"mx-a": 0, "mx-b": 0}
    summary = task_results(agreed, SUMMARY)
    assert "no MX, every opt-in file agrees" in next(iter(summary.values()))["msg"]


def test_one_domain_with_smtp_from_the_host_then_out_again(lab, smtp_listener):
    enabled = play(
        lab,
        "-e",
        "optin_domain=loop.optin.example",
        "-e",
        "optin_reason=CHG-7",
        "-e",
        "optin_smtp_from=host",
        "-e",
        f"optin_smtp_port={smtp_listener.port}",
    )
    assert enabled["rc"] == 0, enabled
    for host in ("mx-a", "mx-b"):
        assert text(lab, host) == role_file("example.com", "loop.optin.example")
    assert smtp_listener.sessions == 2  # once from each host, to the MX address the controller found
    warnings = task_results(enabled, "Warn when the host now differs from the inventory")
    assert "missing: ready.optin.example; extra: loop.optin.example" in warnings["mx-a"]["msg"]
    entries = log(lab)
    assert [(e["reason"], e["changed_by"], e["checks"]["smtp_ipv6"]) for e in entries] == [
        ("CHG-7", "carol", "pass")
    ] * 2

    disabled = play(
        lab, "-e", "optin_domain=loop.optin.example", "-e", "optin_state=absent", "-e", "optin_reason=CHG-8"
    )
    assert disabled["rc"] == 0
    assert text(lab, "mx-a") == role_file("example.com")
    assert [e["state"] for e in log(lab)] == ["present", "present", "absent", "absent"]


def test_unready_domain_is_refused_on_the_first_host_and_nothing_changes(lab):
    refused = play(
        lab,
        "-e",
        "optin_domain=noptr.optin.example",
        "-e",
        "optin_reason=CHG-9",
        "-e",
        "optin_smtp_from=none",
    )
    assert refused["rc"] != 0
    apply = task_results(refused, "Apply the change (SMTP checked from here when optin_smtp_from=host)")
    assert list(apply) == ["mx-a"]  # serial: the rollout stopped at the first host
    assert apply["mx-a"]["reasons"] == ["mx_ptr: 2001:db8:6::26 no PTR (nxdomain)"]
    assert "refusing to enable noptr.optin.example" in apply["mx-a"]["msg"]
    for host in ("mx-a", "mx-b"):
        assert text(lab, host) == role_file("example.com")
    assert log(lab) == []


def test_a_file_without_trailer_stops_the_rollout_with_the_fix(lab):
    (lab / "mx-a" / "ipv6-optin-domains").write_text(HEADER + "example.com\n")  # from before the trailer
    result = play(lab, "-e", "optin_smtp_from=none")
    assert result["rc"] != 0
    compare = task_results(result, "Compare the opt-in file with the request")
    assert list(compare) == ["mx-a"]  # serial: mx-b was not touched
    assert "has no valid trailer (no trailer: " in compare["mx-a"]["msg"]
    assert "repair_trailer=true" in compare["mx-a"]["msg"]
    assert text(lab, "mx-a") == HEADER + "example.com\n" and text(lab, "mx-b") == role_file("example.com")
    assert log(lab) == []


def test_a_change_without_reason_is_stopped_before_anything_runs(lab):
    result = play(lab, "-e", "optin_domain=loop.optin.example")
    assert result["rc"] != 0
    assert "needs optin_reason" in task_results(result, "Check the requested change")["mx-a"]["msg"]
