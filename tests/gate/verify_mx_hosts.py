#!/usr/bin/env python3
"""Per-domain MX host names whose AAAA follow the gate (issue 15), end to end.

Runs playbooks/ipv6_domains.yml as an admin does, against the inventory of molecule/ipv6_inbound, with
the real Knot primary and secondary on the ns host and the gate on the MX, and proves:
- AAAA appears on both authoritative servers only after the gate's file accepts the domain, and is gone
  from both, with its TTL waited out, before the gate's file refuses it (a watcher polls both servers);
- senders over IPv6 get what the records promise (250, or 550 5.2.1 where IPv6 is off), under both
  models, opt-in and opt-out;
- bad input (a wrong TSIG secret, an unreachable primary, a domain Postfix does not accept) fails the
  play before anything changes: neither the zone nor the gate's file;
- playbooks/report.yml names the senders refused (and, in monitor mode, would-be refused) by the cases
  verify.py ran before.
Prints a transcript; exit status 1 if any case fails.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import dns.flags
import dns.message
import dns.query
import dns.rdatatype
from verify import DOMAINS_FILE, MX6, OK_RCPT, TX_GOOD, Lab, r521

NS6 = "2001:db8:b0::53"
SERVERS = [(NS6, 53), (NS6, 5354)]  # the primary and the secondary (tests/gate/prepare.yml)
ZONE = "mail.protection.example"
TTL = 3  # v6gate_mx_host_ttl in molecule/ipv6_inbound
DOMAINS = ("contoso.example", "fabrikam.example", "unready.example")
REPO = Path(__file__).resolve().parents[2]


def host_name(domain: str) -> str:
    return f"{domain.replace('.', '-')}.{ZONE}"


def served(server: tuple[str, int], name: str, rdtype: str = "AAAA") -> list[str] | None:
    """What ``server`` serves with authority; None when it does not answer with authority."""
    query = dns.message.make_query(name, rdtype)
    query.flags &= ~dns.flags.RD
    try:
        response = dns.query.udp(query, server[0], port=server[1], timeout=1)
    except Exception:
        return None
    if not response.flags & dns.flags.AA:
        return None
    wanted = dns.rdatatype.from_text(rdtype)
    return sorted(r.to_text() for rrset in response.answer if rrset.rdtype == wanted for r in rrset)


class AaaaWatch(threading.Thread):
    """Polls both servers for one name's AAAA every 50 ms: when it was first and last seen anywhere."""

    def __init__(self, name: str) -> None:
        super().__init__(daemon=True)
        self.name = name
        self.first_seen: float | None = None
        self.last_seen: float | None = None
        self._done = threading.Event()

    def run(self) -> None:
        while not self._done.is_set():
            for server in SERVERS:
                if served(server, self.name):
                    now = time.time()
                    self.first_seen = self.first_seen or now
                    self.last_seen = now
            time.sleep(0.05)

    def stop(self) -> None:
        self._done.set()
        self.join(timeout=5)


class Run:
    """One ansible-playbook run of playbooks/ipv6_domains.yml, its JSON output and exit status."""

    def __init__(self, inventory: str, extra: dict, playbook: str = "ipv6_domains.yml") -> None:
        env = dict(os.environ, ANSIBLE_STDOUT_CALLBACK="json", ANSIBLE_CONFIG=str(REPO / "ansible.cfg"))
        command = [str(Path(sys.executable).parent / "ansible-playbook"), "-i", inventory,
                   str(REPO / "playbooks" / playbook), "-e", json.dumps(extra)]
        done = subprocess.run(command, capture_output=True, text=True, timeout=900, env=env, cwd=REPO)
        self.rc = done.returncode
        try:
            self.output = json.loads(done.stdout)
        except ValueError:
            self.output = {"plays": []}
            self.stderr = done.stderr
        self.stderr = done.stderr

    def results(self, task: str) -> list[dict]:
        found = []
        for play in self.output["plays"]:
            for entry in play["tasks"]:
                if entry["task"]["name"].rpartition(" : ")[2] == task:  # role tasks: "role : name"
                    found += list(entry["hosts"].values())
        return found

    def changed_items(self, task: str) -> list[str]:
        return [item["item"] for result in self.results(task) for item in result.get("results", [])
                if item.get("changed")]

    def failure(self) -> str:
        for play in self.output["plays"]:
            for entry in play["tasks"]:
                for result in entry["hosts"].values():
                    for item in [*result.get("results", []), result]:  # an item's own message first
                        if item.get("failed"):
                            return str(item.get("msg"))
        return self.stderr.strip()[-500:]


WITHDRAW = "Withdraw AAAA of the domains whose IPv6 goes off; confirm on every server"
WAIT_TTL = "Wait out the TTL of the withdrawn AAAA before the gate turns its domains off"
PUBLISH = "Publish AAAA of the domains whose IPv6 is on; confirm on every server"
GATE = "Write the opt-in domains"


class MxHosts:
    def __init__(self, lab: Lab, inventory: str) -> None:
        self.lab, self.inventory = lab, inventory

    def run(self, title: str, extra: dict, succeed: bool = True) -> Run:
        run = Run(self.inventory, extra)
        self.lab.check(f"{title}: playbooks/ipv6_domains.yml {'succeeds' if succeed else 'fails'}",
                       (run.rc == 0) == succeed, f"{title}: rc {run.rc}: {run.failure()}")
        return run

    def expect_records(self, title: str, enabled: set[str]) -> None:
        for domain in DOMAINS:
            name = host_name(domain)
            aaaa = [served(server, name) for server in SERVERS]
            a = [served(server, name, "A") for server in SERVERS]
            want = [MX6] if domain in enabled else []
            self.lab.check(f"{title}: {name} has A {a[0]} and AAAA {aaaa[0]} on both servers",
                           aaaa == [want, want] and a == [["198.51.100.181"]] * 2,
                           f"{title}: {name} serves A {a}, AAAA {aaaa}; expected AAAA {want} on both")

    def gate_changed_at(self) -> float:
        return float(self.lab.sh(self.lab.mx, f"stat -c %.9Y {DOMAINS_FILE}").strip())

    def gate_digest(self) -> str:
        return hashlib.sha256(self.lab.sh(self.lab.mx, f"cat {DOMAINS_FILE}").encode()).hexdigest()

    def zone_digest(self) -> str:
        return json.dumps([[served(s, host_name(d), t) for s in SERVERS for t in ("A", "AAAA")]
                           for d in DOMAINS])


def run(lab: Lab, inventory: str) -> None:
    hosts = MxHosts(lab, inventory)
    opt_in = {"ipv6_gate_model": "opt-in", "ipv6_gate_optout_domains": []}
    print("== per-domain MX host names: AAAA follows the gate")

    first = hosts.run("converge to the inventory (opt-in, Contoso.Example only)", {})
    hosts.expect_records("opt-in", {"contoso.example"})
    records = first.results("Show the MX record each domain publishes")
    shown = records[0]["msg"] if records else []
    lab.check("the play prints the MX record each domain publishes",
              f"contoso.example. IN MX 10 {host_name('contoso.example')}." in shown, f"shown: {shown}")
    lab.case("fabrikam.example (IPv6 off) gets 5.2.1 over IPv6",
             lab.send(TX_GOOD, rcpts=["user@fabrikam.example"]), rcpt=[r521("fabrikam.example")])

    watch = AaaaWatch(host_name("fabrikam.example"))
    watch.start()
    enable = hosts.run("enable fabrikam.example",
                       dict(opt_in, ipv6_gate_optin_domains=["Contoso.Example", "fabrikam.example"]))
    time.sleep(0.3)
    watch.stop()
    gate_on = hosts.gate_changed_at()
    lab.check("the gate's file changed, then AAAA was published",
              enable.changed_items(PUBLISH) == ["fabrikam.example"] and any(r.get("changed")
                                                                             for r in enable.results(GATE)),
              f"published {enable.changed_items(PUBLISH)}, gate results {enable.results(GATE)}")
    after = (watch.first_seen or 0) - gate_on
    lab.check(f"AAAA first seen {after:.2f} s after the gate accepted the domain",
              watch.first_seen is not None and watch.first_seen > gate_on,
              f"AAAA first seen at {watch.first_seen}, gate file changed at {gate_on}")
    hosts.expect_records("enabled", {"contoso.example", "fabrikam.example"})
    lab.case("fabrikam.example is accepted over IPv6 now",
             lab.send(TX_GOOD, rcpts=["user@fabrikam.example"]), rcpt=[OK_RCPT], data_prefix="250 ")

    watch = AaaaWatch(host_name("fabrikam.example"))
    watch.start()
    disable = hosts.run("disable fabrikam.example",
                        dict(opt_in, ipv6_gate_optin_domains=["Contoso.Example"]))
    watch.stop()
    gate_off = hosts.gate_changed_at()
    waited = [result.get("elapsed") for result in disable.results(WAIT_TTL) if not result.get("skipped")]
    lab.check(f"AAAA withdrawn and its TTL waited out ({waited} s) before the gate refused the domain",
              disable.changed_items(WITHDRAW) == ["fabrikam.example"] and len(waited) == 1
              and waited[0] >= TTL, f"withdrawn {disable.changed_items(WITHDRAW)}, waited {waited}")
    before = gate_off - (watch.last_seen or 0)
    lab.check(f"AAAA last seen {before:.2f} s before the gate refused the domain (TTL {TTL} s)",
              watch.last_seen is not None and before >= TTL,
              f"AAAA last seen at {watch.last_seen}, gate file changed at {gate_off}")
    hosts.expect_records("disabled", {"contoso.example"})
    lab.case("fabrikam.example gets 5.2.1 again", lab.send(TX_GOOD, rcpts=["user@fabrikam.example"]),
             rcpt=[r521("fabrikam.example")])

    hosts.run("opt-out model, fabrikam.example off",
              {"ipv6_gate_model": "opt-out", "ipv6_gate_optin_domains": [],
               "ipv6_gate_optout_domains": ["fabrikam.example"]})
    hosts.expect_records("opt-out", {"contoso.example", "unready.example"})
    lab.case("opt-out: the domain turned off gets 5.2.1, the others are accepted",
             lab.send(TX_GOOD, rcpts=["user@fabrikam.example", "user@unready.example",
                                      "user@contoso.example"]),
             rcpt=[r521("fabrikam.example"), OK_RCPT, OK_RCPT], data_prefix="250 ")
    again = hosts.run("a second run", {"ipv6_gate_model": "opt-out", "ipv6_gate_optin_domains": [],
                                       "ipv6_gate_optout_domains": ["fabrikam.example"]})
    lab.check("changes nothing", not again.changed_items(WITHDRAW) and not again.changed_items(PUBLISH)
              and not any(r.get("changed") for r in again.results(GATE)), "a second run changed something")

    print("== bad input fails before anything changes")
    enabling = dict(opt_in, ipv6_gate_optin_domains=["Contoso.Example", "fabrikam.example"])
    for title, extra, message in (
        ("a TSIG secret the primary does not know",
         {"v6gate_mx_host_tsig_key_secret": "c2VjcmV0LW5vdC10aGVyZQ=="}, "BADSIG"),
        ("an unreachable primary", {"v6gate_mx_host_primary": f"[{NS6}]:5999"}, "is unreachable"),
        ("a domain Postfix does not accept",
         {"ipv6_gate_optin_domains": ["Contoso.Example", "nothere.example"]},
         "nothere.example: listed for the IPv6 gate but not a domain Postfix accepts"),
    ):
        gate, zone = hosts.gate_digest(), hosts.zone_digest()
        failed = hosts.run(title, dict(enabling, **extra), succeed=False)
        lab.check(f"{title}: the message says so ({message!r})", message in failed.failure(),
                  f"{title}: message {failed.failure()!r}")
        lab.check(f"{title}: neither the gate's file nor the zone changed",
                  hosts.gate_digest() == gate and hosts.zone_digest() == zone, f"{title}: something changed")

    hosts.run("back to the inventory", {})
    hosts.expect_records("restored", {"contoso.example"})


def report(lab: Lab, inventory: str) -> None:
    """playbooks/report.yml over what verify.py sent: the refusals and the monitor mode's would-be
    refusals, with the senders behind them."""
    print("== the report across MX hosts (playbooks/report.yml)")
    with tempfile.TemporaryDirectory(prefix="v6gate-report-") as directory:
        run = Run(inventory, {"report_since": "1 hour ago", "report_dir": directory}, playbook="report.yml")
        lab.check("playbooks/report.yml succeeds", run.rc == 0, f"report: rc {run.rc}: {run.failure()}")
        if run.rc != 0:
            return
        data = json.loads((Path(directory) / "gate-report.json").read_text())
        markdown = (Path(directory) / "gate-report.md").read_text()
    domains = data["domains"]
    fabrikam, contoso = domains.get("fabrikam.example", {}), domains.get("contoso.example", {})
    lab.check(f"fabrikam.example: {fabrikam.get('refused')} refusal(s), {TX_GOOD} among the top senders",
              fabrikam.get("refused", 0) >= 1 and TX_GOOD in dict(fabrikam.get("top_clients", [])),
              f"fabrikam.example in the report: {fabrikam}")
    would = contoso.get("would_refuse", 0)
    lab.check(f"contoso.example: {would} would-be refusal(s) in monitor mode, from spffail.sender.example",
              would >= 1 and "spffail.sender.example" in dict(contoso.get("top_sender_domains", []))
              and contoso.get("verdict", "").startswith("review: "),
              f"contoso.example in the report: {contoso}")
    lab.check("the Markdown names the refused sender domain in a code span",
              "| `spffail.sender.example` |" in markdown, "gate-report.md lacks spffail.sender.example")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--prefix", default="ipv6in", help="container name prefix (ipv6in)")
    parser.add_argument("--inventory", required=True, help="the scenario's inventory")
    args = parser.parse_args()
    lab = Lab(args.prefix)
    run(lab, args.inventory)
    report(lab, args.inventory)
    print(f"== {len(lab.failures)} failure(s)")
    return 1 if lab.failures else 0


if __name__ == "__main__":
    sys.exit(main())
