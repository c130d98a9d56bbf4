"""playbooks/ipv6_domains.yml against two local stand-in MX hosts (connection local, the gate's domains file
in tmp, validated by the gate's own code) and the real Knot primary and secondary of ``updatable_zone``:
which domains get AAAA under each model, check mode, the withdrawal's TTL wait, refusals that change
nothing. The order against a running gate, over SMTP, is proven in molecule/ipv6_inbound
(tests/gate/verify_mx_hosts.py)."""

import secrets
import sys
import threading
import time
from pathlib import Path

import pytest
import yaml
from ansible_cli import ansible_bin, run_json
from ansible_collections.v6gate.mx.plugins.module_utils.dns_client import parse_nameserver
from ansible_collections.v6gate.mx.plugins.module_utils.dns_update import (
    AddressRecords,
    TsigKey,
    ZoneUpdater,
    mx_host_name,
    served_records,
)
from dnsserver import READ_ONLY_KEY_NAME, UPDATE_KEY_NAME

pytestmark = pytest.mark.dns

REPO_ROOT = Path(__file__).resolve().parents[2]
PLAYBOOK = REPO_ROOT / "playbooks" / "ipv6_domains.yml"
V4 = {"mx-a": "198.51.100.31", "mx-b": "198.51.100.32"}
V6 = {"mx-a": "2001:db8:31::25", "mx-b": "2001:db8:32::25"}
WITHDRAW = "Withdraw AAAA of the domains whose IPv6 goes off; confirm on every server"
WAIT = "Wait out the TTL of the withdrawn AAAA before the gate turns its domains off"
PUBLISH = "Publish AAAA of the domains whose IPv6 is on; confirm on every server"


@pytest.fixture
def domains():
    """pa, pb and pc under a label of this test's own: the zone is shared by the whole test run."""
    run = secrets.token_hex(4)
    return [f"p{letter}.t{run}.example" for letter in "abc"]


@pytest.fixture
def lab(tmp_path, updatable_zone, domains):
    # The gate's code where the role would install it, for the template's validate command.
    install = tmp_path / "gate"
    install.mkdir()
    (install / "v6gate_gate").symlink_to(REPO_ROOT / "roles" / "ipv6_gate" / "files" / "v6gate_gate")
    (install / "ansible_collections").symlink_to(REPO_ROOT / "collections" / "ansible_collections")
    hosts = {}
    for name in ("mx-a", "mx-b"):
        (tmp_path / name).mkdir()
        hosts[name] = {"ipv6_gate_optin_file": str(tmp_path / name / "ipv6-optin-domains"),
                       "v6gate_mx_ipv4_addresses": [V4[name]], "v6gate_mx_ipv6_addresses": [V6[name]]}
    group_vars = {
        "ansible_connection": "local",
        "ansible_become": False,
        "ansible_python_interpreter": sys.executable,
        "ipv6_gate_install_dir": str(install),
        "ipv6_gate_user": "root",
        "postfix_relay_domains": domains,
        "ipv6_gate_optin_domains": [domains[0].upper()],
        "v6gate_mx_host_zone": updatable_zone.zone,
        "v6gate_mx_host_primary": updatable_zone.primary_spec,
        "v6gate_mx_host_servers": updatable_zone.server_specs,
        "v6gate_mx_host_tsig_key_name": UPDATE_KEY_NAME,
        "v6gate_mx_host_tsig_key_secret": updatable_zone.keys[UPDATE_KEY_NAME],
        "v6gate_mx_host_ttl": 1,
        "v6gate_rollout_watch_seconds": 0,
    }
    inventory = {"all": {"children": {"mx": {"hosts": hosts, "vars": group_vars}}}}
    (tmp_path / "hosts.yml").write_text(yaml.safe_dump(inventory))
    return tmp_path


def play(lab, extra=None, check=False):
    command = [str(ansible_bin("ansible-playbook")), "-i", str(lab / "hosts.yml"), str(PLAYBOOK)]
    if extra:
        command += ["-e", yaml.safe_dump(extra, default_flow_style=True).strip()]
    if check:
        command += ["--check", "--diff"]
    return run_json(command, timeout=300, ANSIBLE_REMOTE_TMP=str(lab / "remote-tmp"),
                    ANSIBLE_LOCAL_TEMP=str(lab / "local-tmp"))


def changed_items(output, name):
    return [item["item"] for p in output["plays"] for task in p["tasks"]
            if task["task"]["name"] == name for result in task["hosts"].values()
            for item in result.get("results", []) if item.get("changed")]


def failure(output):
    messages = [item.get("msg", "") for p in output["plays"] for task in p["tasks"]
                for result in task["hosts"].values() for item in [*result.get("results", []), result]
                if item.get("failed")]
    return messages[0] if messages else output.get("stderr", "")


def records(zone, domain):
    """{type: addresses} of the domain's MX host name on each of the zone's two servers."""
    name = mx_host_name(domain, zone.zone)
    return [served_records(parse_nameserver(spec), name).as_dict() for spec in zone.server_specs]


def gate_file(lab, host="mx-a"):
    path = lab / host / "ipv6-optin-domains"
    return path.read_text() if path.exists() else None


def expect(zone, domains, with_ipv6):
    both_v4, both_v6 = sorted(V4.values()), sorted(V6.values())
    for domain in domains:
        want = {"A": both_v4, "AAAA": both_v6 if domain in with_ipv6 else []}
        assert records(zone, domain) == [want, want], domain


def test_check_mode_changes_nothing_then_opt_in_converges(lab, updatable_zone, domains):
    checked = play(lab, check=True)
    assert checked["rc"] == 0, failure(checked)
    assert gate_file(lab) is None
    assert records(updatable_zone, domains[0]) == [{"A": [], "AAAA": []}] * 2

    applied = play(lab)
    assert applied["rc"] == 0, failure(applied)
    # An upper-case listing counts; every MX host's addresses are on every domain's name.
    expect(updatable_zone, domains, {domains[0]})
    for host in ("mx-a", "mx-b"):
        lines = [line for line in gate_file(lab, host).splitlines() if not line.startswith("#")]
        assert lines == ["model opt-in", domains[0].upper()]
    shown = [result["msg"] for p in applied["plays"] for task in p["tasks"]
             if task["task"]["name"] == "Show the MX record each domain publishes"
             for result in task["hosts"].values()]
    assert shown == [[f"{d}. IN MX 10 {mx_host_name(d, updatable_zone.zone)}." for d in domains]]

    again = play(lab)
    assert again["rc"] == 0 and {h: s["changed"] for h, s in again["stats"].items()} == {"mx-a": 0, "mx-b": 0}


def test_opt_out_model_then_a_domain_turned_off_waits_out_its_ttl(lab, updatable_zone, domains):
    pa, pb, pc = domains
    assert play(lab)["rc"] == 0
    opt_out = {"ipv6_gate_model": "opt-out", "ipv6_gate_optin_domains": [], "ipv6_gate_optout_domains": [pc]}
    switched = play(lab, opt_out)
    assert switched["rc"] == 0, failure(switched)
    assert changed_items(switched, PUBLISH) == [pb]
    expect(updatable_zone, domains, {pa, pb})
    assert f"{pc} off" in gate_file(lab)

    off = play(lab, dict(opt_out, ipv6_gate_optout_domains=[pc, pb]))
    assert off["rc"] == 0, failure(off)
    assert changed_items(off, WITHDRAW) == [pb]
    assert ttl_waits(off) == [1]
    expect(updatable_zone, domains, {pa})
    assert f"{pb} off" in gate_file(lab)

    again = play(lab, dict(opt_out, ipv6_gate_optout_domains=[pc, pb]))
    assert again["rc"] == 0 and ttl_waits(again) == []  # nothing goes off: no wait


def ttl_waits(output):
    """The TTL waits the play made before the gate turned domains off: [seconds], or [] when skipped."""
    return [result["elapsed"] for p in output["plays"] for task in p["tasks"] if task["task"]["name"] == WAIT
            for result in task["hosts"].values() if not result.get("skipped")]


def test_a_withdrawal_interrupted_before_its_wait_is_waited_out_by_the_next_run(lab, updatable_zone, domains):
    """An earlier run withdrew pb's AAAA and stopped before it waited: the gate still has pb on. The next
    run changes nothing in DNS, but still waits the TTL before the gate refuses pb."""
    pa, pb, _ = domains
    assert play(lab, {"ipv6_gate_optin_domains": [pa, pb]})["rc"] == 0
    expect(updatable_zone, domains, {pa, pb})
    key = TsigKey(UPDATE_KEY_NAME, updatable_zone.keys[UPDATE_KEY_NAME])
    updater = ZoneUpdater(updatable_zone.zone, updatable_zone.primary_spec, key)
    updater.apply(mx_host_name(pb, updatable_zone.zone), AddressRecords(a=sorted(V4.values())), 1)

    resumed = play(lab, {"ipv6_gate_optin_domains": [pa]})
    assert resumed["rc"] == 0, failure(resumed)
    assert changed_items(resumed, WITHDRAW) == []
    assert ttl_waits(resumed) == [1]
    assert pb not in gate_file(lab)


@pytest.mark.parametrize("extra, message", [
    ({"v6gate_mx_host_tsig_key_name": READ_ONLY_KEY_NAME}, "TSIG key 'read-only'"),
    ({"v6gate_mx_host_primary": "[::1]:1"}, "[::1]:1 is unreachable"),
    ({"ipv6_gate_optin_domains": ["elsewhere.example"]}, "elsewhere.example: listed for the IPv6 gate"),
    ({"v6gate_mx_host_zone": ""}, "set v6gate_mx_host_zone"),
])
def test_bad_input_fails_before_the_gate_or_the_zone_changes(lab, updatable_zone, domains, extra, message):
    assert play(lab)["rc"] == 0
    before = gate_file(lab), records(updatable_zone, domains[1])
    # Each run would enable the second domain, were it not refused.
    listed = [domains[0], domains[1], *extra.get("ipv6_gate_optin_domains", [])]
    refused = play(lab, dict(extra, ipv6_gate_optin_domains=listed))
    assert refused["rc"] != 0 and message in failure(refused)
    assert (gate_file(lab), records(updatable_zone, domains[1])) == before


class FakeGateCounters(threading.Thread):
    """Writes a gate metrics file every 0.3 s, as a running gate does; ``errors_after`` adds that many
    errors once ``watched`` (the domains file) has changed: a gate that suffers from the change."""

    def __init__(self, path: Path, watched: Path, errors_after: int = 0) -> None:
        super().__init__(daemon=True)
        self.path, self.watched, self.errors_after = path, watched, errors_after
        self.started_at = time.time()
        self.first_mtime = watched.stat().st_mtime if watched.exists() else None
        self.done = threading.Event()

    def run(self) -> None:
        while not self.done.is_set():
            changed = self.watched.exists() and self.watched.stat().st_mtime != self.first_mtime
            errors = self.errors_after if changed else 0
            text = (f"v6gate_gate_errors_total {errors}\nv6gate_gate_optin_list_loaded 1\n"
                    f"v6gate_gate_start_time_seconds {self.started_at:.3f}\n"
                    f"v6gate_gate_metrics_written_seconds {time.time():.3f}\n")
            temporary = self.path.with_suffix(".tmp")
            temporary.write_text(text)
            temporary.replace(self.path)
            time.sleep(0.3)

    def stop(self) -> None:
        self.done.set()
        self.join(timeout=5)


@pytest.mark.parametrize("errors_after", [0, 2])
def test_the_rollout_watches_each_mx_and_rolls_back_when_errors_rise(lab, domains, errors_after):
    assert play(lab)["rc"] == 0
    watch = {"v6gate_rollout_watch_seconds": 3, "ipv6_gate_metrics_interval": 1}
    gates = {}
    for host in ("mx-a", "mx-b"):
        gates[host] = FakeGateCounters(lab / host / "v6gate_gate.prom", lab / host / "ipv6-optin-domains",
                                       errors_after)
        gates[host].start()
    before = {host: gate_file(lab, host) for host in gates}
    try:
        # each stand-in MX has its own metrics file
        metrics = str(lab) + "/{{ inventory_hostname }}/v6gate_gate.prom"
        rollout = play(lab, dict(watch, ipv6_gate_optin_domains=domains[:2], ipv6_gate_metrics_file=metrics))
    finally:
        for gate in gates.values():
            gate.stop()
    if not errors_after:
        assert rollout["rc"] == 0, failure(rollout)
        assert all(domains[1] in gate_file(lab, host) for host in gates)
        return
    assert rollout["rc"] != 0
    assert failure(rollout).startswith("Rolled back on mx-a: gate errors rose by 2 (allowed 0) within 3 s")
    assert gate_file(lab, "mx-a") == before["mx-a"]  # the previous file is back
    assert gate_file(lab, "mx-b") == before["mx-b"]  # and the next MX was never changed
