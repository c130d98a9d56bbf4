#!/usr/bin/env python3
"""Time the Ansible side on three MX hosts in containers (molecule/fleet, Debian 12).

* site.yml on MX hosts that are already converged: wall time, and changed=0 on every host (asserted:
  a converged MX must not be touched);
* playbooks/optin.yml for one domain (fabrikam.example) on the three MX hosts, one at a time as it
  runs (serial: 1), readiness checked from the controller (DNS, SMTP over IPv6 to each MX), then the
  same domain opted out again: once with the rollout watch off (the playbook's own work) and once with
  the watch at its default (v6gate_rollout_watch_seconds, 60 s per MX), what an operator waits for;
* the baseline, measured in the same run: ``ansible -m ping`` to the same hosts (Ansible's start and
  one round over the Podman connection), so every figure is also printed as a ratio to it.

The bench creates, prepares and converges the lab itself (``--no-converge`` reuses it) and leaves it
running (``--destroy`` removes it). Run: ./v6gate bench bench/ansible_bench.py [-- --rounds 3]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
SCENARIO = "fleet"
MX_HOSTS = ["fleet-mx1", "fleet-mx2", "fleet-mx3"]
DOMAIN = "fabrikam.example"
NAMESERVERS = ["2001:db8:7b::53"]
OPTIN_FILE = "/etc/v6gate/ipv6-optin-domains"
DEFAULT_WATCH_SECONDS = 60


def environment() -> dict:
    env = dict(os.environ)
    env.setdefault("CONTAINERS_CONF", str(REPO_ROOT / "containers.conf"))
    env["ANSIBLE_CONFIG"] = str(REPO_ROOT / "ansible.cfg")
    env["PATH"] = str(REPO_ROOT / ".venv" / "bin") + os.pathsep + env.get("PATH", "")
    return env


def run(argv: list[str], env: dict | None = None) -> tuple[float, str]:
    """Run a command; its wall time and stdout. A failure stops the bench with the command's output."""
    started = time.perf_counter()
    done = subprocess.run(argv, cwd=REPO_ROOT, env=env or environment(), capture_output=True, text=True)
    elapsed = time.perf_counter() - started
    if done.returncode != 0:
        sys.stderr.write(done.stdout[-6000:] + done.stderr[-4000:])
        raise SystemExit(f"failed ({done.returncode}): {' '.join(argv)}")
    return elapsed, done.stdout


def inventory() -> Path:
    """The inventory molecule wrote for the scenario, in the ephemeral directory it computes the same way."""
    from ansible_compat.prerun import get_cache_dir
    from molecule.text import checksum

    if os.environ.get("MOLECULE_EPHEMERAL_DIRECTORY"):
        ephemeral = Path(os.environ["MOLECULE_EPHEMERAL_DIRECTORY"])
    else:
        ephemeral = (
            get_cache_dir(REPO_ROOT, isolated=False)
            / "tmp"
            / f"molecule.{checksum(REPO_ROOT.name, 4)}.{SCENARIO}"
        )
    path = ephemeral / "inventory"
    if not path.is_dir():
        raise SystemExit(f"no molecule inventory at {path}: create the lab first (drop --no-converge)")
    return path


def changed_per_host(json_output: str) -> dict[str, int]:
    """changed= of each host from the json stdout callback's stats."""
    stats = json.loads(json_output[json_output.index("{") :])["stats"]
    return {host: counts["changed"] for host, counts in stats.items()}


def optin_domains(host: str) -> list[str]:
    done = subprocess.run(
        ["podman", "exec", host, "cat", OPTIN_FILE],
        capture_output=True,
        text=True,
        env=environment(),
        check=True,
    )
    return [
        line.split()[0].lower()
        for line in done.stdout.splitlines()
        if line.strip() and not line.startswith("#")
    ]


def time_optin(state: str, watch_seconds: int) -> float:
    extra = {
        "optin_domain": DOMAIN,
        "optin_state": state,
        "optin_reason": f"bench/ansible_bench.py: opt {'in' if state == 'present' else 'out'}",
        "optin_nameservers": NAMESERVERS,
        "v6gate_rollout_watch_seconds": watch_seconds,
    }
    seconds, _ = run(
        ["ansible-playbook", "-i", str(inventory()), "playbooks/optin.yml", "-e", json.dumps(extra)]
    )
    expected = state == "present"
    wrong = [host for host in MX_HOSTS if (DOMAIN in optin_domains(host)) != expected]
    if wrong:
        raise SystemExit(
            f"optin.yml {state}: {DOMAIN} not {'in' if expected else 'out of'} the file on {wrong}"
        )
    return seconds


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rounds", type=int, default=2, help="runs of each measurement (median reported)")
    parser.add_argument("--no-converge", action="store_true", help="reuse the running lab as it is")
    parser.add_argument("--destroy", action="store_true", help="remove the lab afterwards")
    parser.add_argument("--json", type=Path, help="also write the results to this file")
    args = parser.parse_args()

    report: dict = {"started": time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime()), "hosts": MX_HOSTS}
    if not args.no_converge:
        for action in ("create", "prepare"):
            run(["molecule", action, "-s", SCENARIO])
        report["first_converge_s"], _ = run(["molecule", "converge", "-s", SCENARIO])
        print(f"first converge of the three MX hosts (not in the ratios): {report['first_converge_s']:.0f} s")

    # Start from the inventory's state: the domain opted out everywhere.
    time_optin("absent", 0)

    ping = [
        run(["ansible", "-i", str(inventory()), "mx", "-m", "ansible.builtin.ping"])[0]
        for _ in range(args.rounds)
    ]
    converged = []
    for _ in range(args.rounds):
        seconds, output = run(
            ["ansible-playbook", "-i", str(inventory()), "site.yml"],
            env=dict(environment(), ANSIBLE_STDOUT_CALLBACK="json"),
        )
        changed = {host: n for host, n in changed_per_host(output).items() if host in MX_HOSTS}
        if set(changed) != set(MX_HOSTS) or any(changed.values()):
            raise SystemExit(f"site.yml on converged MX hosts changed something: {changed}")
        converged.append(seconds)
    optin_in, optin_out = [], []
    for _ in range(args.rounds):  # each starts from the other state, so every run changes all three
        optin_in.append(time_optin("present", 0))
        optin_out.append(time_optin("absent", 0))
    watched = time_optin("present", DEFAULT_WATCH_SECONDS)
    time_optin("absent", 0)

    baseline = statistics.median(ping)
    rows = [
        ("ansible -m ping, 3 MX (baseline)", baseline),
        ("site.yml on 3 converged MX (changed=0)", statistics.median(converged)),
        (f"optin.yml {DOMAIN} in, 3 MX, watch off", statistics.median(optin_in)),
        (f"optin.yml {DOMAIN} out, 3 MX, watch off", statistics.median(optin_out)),
        (f"optin.yml {DOMAIN} in, 3 MX, watch {DEFAULT_WATCH_SECONDS} s (default)", watched),
    ]
    report.update(
        rounds=args.rounds,
        ping_s=ping,
        site_converged_s=converged,
        optin_in_s=optin_in,
        optin_out_s=optin_out,
        optin_in_watched_s=watched,
    )
    print("\n| run | seconds | / baseline |")
    print("|---|---|---|")
    for name, seconds in rows:
        print(f"| {name} | {seconds:.1f} | {seconds / baseline:.1f} |")
    print(f"(median of {args.rounds} rounds, the watched opt-in once; every MX checked after each run)")
    if args.json:
        args.json.write_text(json.dumps(report, indent=2) + "\n")
    if args.destroy:
        run(["molecule", "destroy", "-s", SCENARIO])
    return 0


if __name__ == "__main__":
    sys.exit(main())
