"""The load lab (molecule/load) seen from the controller: send load, count deliveries, inject faults.

Shared by the CI short form (tests/load/verify.py) and the benchmark (bench/mail_bench.py). Everything
runs through ``podman exec``: smtp_load.py and smtp-source in the sender, milter_probe.py, postconf and
systemctl on the MX, systemctl on the DNS server. Export CONTAINERS_CONF first (./v6gate does).

No-loss accounting: every message of a run has its own envelope sender ``lt-<run>-<n>@sender.example``
(smtp-source messages share ``lt-<run>-ss@``); local(8) writes it into the delivered file as
Return-Path, so each message that got 250 is matched to its delivered copy, not just counted.
"""

from __future__ import annotations

import json
import shlex
import subprocess
import sys
import threading
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

# The gate's decision line is read by the collection's own reader (plugins/module_utils/gate_log.py).
_COLLECTIONS = str(Path(__file__).resolve().parents[2] / "collections")
if _COLLECTIONS not in sys.path:
    sys.path.insert(0, _COLLECTIONS)
from ansible_collections.v6gate.mx.plugins.module_utils.gate_log import parse_decision

MX6 = "2001:db8:7a::25"
TX6 = "2001:db8:7a::10"
HELO = "tx.sender.example"
SENDER_DOMAIN = "sender.example"
RECIPIENT = "user@contoso.example"
AUTHSERV_ID = "mx.load.example"
# selector s1 of sender.example (molecule/load/zones); the sender signs with it too
SIGNING_KEY = Path(__file__).resolve().parents[1] / "fixtures" / "dkim" / "rsa2048.pem"
GATE_UNIT = "v6gate-gate"
GATE_SOCKET = "/run/v6gate-gate/milter.sock"  # roles/ipv6_gate, ipv6_gate_socket_type unix
# What (b) adds for IPv6 clients when the gate is off: the deployment without the gate lets
# policyd-spf evaluate SPF for IPv6 too (roles/policyd_spf, policyd_spf_postfix_restrictions).
SPF_POLICY_IPV6 = "check_policy_service unix:private/policyd-spf-ipv6"
# main.cf parameters the modes change; the deployed values (mode c) are saved once on the MX.
MODE_PARAMETERS = (
    "smtpd_milters",
    "non_smtpd_milters",
    "smtpd_milter_maps",
    "anonymous_ipv4",
    "anonymous_ipv6",
)
SAVED_MODE_C = "/var/lib/v6gate/load-mode-c.json"
MODES = {
    "a": "Postfix only (no milters, no policy service)",
    "b": "full stack without the gate (OpenDKIM, policyd-spf)",
    "c": "full stack with the gate",
}

# Runs inside the MX: which messages of a run were delivered, and what each one carries.
MAILBOX_SCAN = r"""
import json, os, re, sys
run = sys.argv[1].encode()
numbered = re.compile(rb"^Return-Path: <lt-" + re.escape(run) + rb"-(\d+|ss)@", re.M)
ar_prefix = b"authentication-results: " + sys.argv[2].encode() + b";"
out = {"ids": [], "smtp_source": 0, "dkim_ar": 0, "gate_ar": 0, "checked": 0, "unchecked": []}
maildir = os.path.expanduser("~user/Maildir")
for sub in ("new", "cur"):
    folder = os.path.join(maildir, sub)
    for name in os.listdir(folder) if os.path.isdir(folder) else []:
        with open(os.path.join(folder, name), "rb") as handle:
            head = handle.read(65536).split(b"\n\n", 1)[0].replace(b"\n\t", b" ").replace(b"\n ", b" ")
        match = numbered.search(head)
        if not match:
            continue
        if match.group(1) == b"ss":
            out["smtp_source"] += 1
        else:
            out["ids"].append(int(match.group(1)))
        unfolded = head.replace(b"\n\t", b" ").replace(b"\n ", b" ")
        ours = [h for h in unfolded.split(b"\n") if h.lower().startswith(ar_prefix)]
        dkim = any(b"dkim=pass" in h for h in ours)
        gate = [h for h in ours if b"iprev=" in h]
        out["dkim_ar"] += dkim  # every load message is signed and verifies
        out["gate_ar"] += bool(gate)
        if gate and b"iprev=pass" in gate[0] and (b"spf=pass" in gate[0] or dkim):
            out["checked"] += 1
        elif len(out["unchecked"]) < 5:
            out["unchecked"].append(name)
print(json.dumps(out))
"""


def percentile(values: list[float], share: float) -> float:
    """Nearest-rank percentile; 0.0 for no values."""
    if not values:
        return 0.0
    ordered = sorted(values)
    rank = max(1, min(len(ordered), round(share * len(ordered) + 0.5)))
    return ordered[rank - 1]


@dataclass
class LoadResult:
    """One smtp_load.py run: every message's outcome, and what was delivered of it."""

    run: str
    messages: list  # [n, start, latency, outcome, stage, reply]
    seconds: float
    delivered: dict = field(default_factory=dict)

    @property
    def outcomes(self) -> Counter:
        return Counter(m[3] for m in self.messages)

    @property
    def accepted_ids(self) -> set[int]:
        return {m[0] for m in self.messages if m[3] == "accepted"}

    def latencies(self, outcome: str = "accepted") -> list[float]:
        return [m[2] for m in self.messages if m[3] == outcome]

    def in_window(self, start: float, end: float) -> list:
        """Messages whose transaction overlapped [start, end] (epoch seconds)."""
        return [m for m in self.messages if m[1] <= end and m[1] + m[2] >= start]

    def replies(self, messages=None) -> Counter:
        """Reply texts of the messages that were not accepted (first word of errors)."""
        pool = self.messages if messages is None else messages
        return Counter(
            m[5] if m[3] in ("4xx", "5xx") else m[5].split(":")[0] for m in pool if m[3] != "accepted"
        )

    def loss(self) -> dict:
        """Accepted but not delivered, delivered twice, delivered without a 250 seen by the client."""
        ids = Counter(self.delivered.get("ids", []))
        accepted = self.accepted_ids
        return {
            "lost": sorted(accepted - set(ids)),
            "duplicates": sorted(n for n, c in ids.items() if c > 1),
            "delivered_without_250": sorted(set(ids) - accepted),
        }

    def summary(self) -> str:
        counts = self.outcomes
        lat = self.latencies()
        rate = len(self.messages) / self.seconds if self.seconds else 0.0
        return (
            f"{len(self.messages)} sent in {self.seconds:.1f}s ({rate:.1f}/s): 250={counts['accepted']} "
            f"4xx={counts['4xx']} 5xx={counts['5xx']} connection-errors={counts['error']}; "
            f"delivered={len(self.delivered.get('ids', []))}; "
            f"latency of 250s p50={percentile(lat, 0.5) * 1000:.1f}ms "
            f"p99={percentile(lat, 0.99) * 1000:.1f}ms"
        )


class LoadLab:
    def __init__(self, prefix: str = "v6load") -> None:
        self.tx, self.mx, self.ns = f"{prefix}-tx", f"{prefix}-mx", f"{prefix}-ns"

    # ------------------------------------------------------------------------------ plumbing
    def sh(
        self, container: str, command: str, check: bool = True, timeout: float = 900, stdin: str | None = None
    ) -> str:
        done = subprocess.run(
            ["podman", "exec", "-i", container, "bash", "-c", command],
            input=stdin,
            capture_output=True,
            text=True,
            timeout=timeout,
        )
        if check and done.returncode != 0:
            raise RuntimeError(f"{container}: {command}: exit {done.returncode}: {done.stderr.strip()}")
        return done.stdout

    def install_tools(self) -> None:
        """Copy the current load client and milter probe in (prepare installs them only once)."""
        here = Path(__file__).resolve().parent
        for container, name in ((self.tx, "smtp_load.py"), (self.mx, "milter_probe.py")):
            subprocess.run(
                ["podman", "cp", str(here / name), f"{container}:/usr/local/bin/{name}"],
                check=True,
                timeout=60,
            )

    @staticmethod
    def new_run(label: str) -> str:
        """A run id that is safe in an address local part: letters and digits of label, then random."""
        return "".join(c for c in label.lower() if c.isalnum())[:8] + uuid.uuid4().hex[:8]

    # ------------------------------------------------------------------------------ load
    @staticmethod
    def _smtp_load_argv(run: str, *options: str) -> list[str]:
        """smtp_load.py in the sender: signed mail from the sender domain to the test recipient."""
        return [
            "python3",
            "/usr/local/bin/smtp_load.py",
            "--server",
            MX6,
            "--helo",
            HELO,
            "--domain",
            SENDER_DOMAIN,
            "--rcpt",
            RECIPIENT,
            "--run",
            run,
            "--sign",
            "/root/s1.pem",
            *options,
        ]

    def send(
        self, run: str, count: int, concurrency: int, first: int = 0, timeout: float = 120, rate: float = 0.0
    ) -> LoadResult:
        argv = self._smtp_load_argv(
            run,
            "--source",
            TX6,
            "--count",
            str(count),
            "--first",
            str(first),
            "--concurrency",
            str(concurrency),
            "--timeout",
            str(timeout),
            "--rate",
            str(rate),
        )
        started = time.monotonic()
        out = self.sh(self.tx, shlex.join(argv), timeout=count * timeout)
        return LoadResult(run, json.loads(out)["messages"], time.monotonic() - started)

    def send_in_background(
        self, run: str, count: int, concurrency: int, rate: float
    ) -> tuple[threading.Thread, dict]:
        box: dict = {}

        def target() -> None:
            try:
                box["result"] = self.send(run, count, concurrency, rate=rate)
            except Exception as exc:  # reported by the caller
                box["error"] = exc

        thread = threading.Thread(target=target, daemon=True)
        thread.start()
        return thread, box

    def smtp_source(self, run: str, count: int, sessions: int) -> float:
        """Send count identical signed messages with smtp-source; seconds from first connect to last reply."""
        message = f"/root/load-{run}.eml"
        self.sh(self.tx, shlex.join(self._smtp_load_argv(run, "--write-message", message)))
        command = (
            "start=$(date +%s.%N); "
            + shlex.join(
                [
                    "smtp-source",
                    "-6",
                    "-s",
                    str(sessions),
                    "-m",
                    str(count),
                    "-f",
                    f"lt-{run}-ss@{SENDER_DOMAIN}",
                    "-t",
                    RECIPIENT,
                    "-M",
                    HELO,
                    "-F",
                    message,
                    f"inet:[{MX6}]:25",
                ]
            )
            + "; rc=$?; end=$(date +%s.%N); echo $start $end $rc"
        )
        start, end, rc = self.sh(self.tx, command).split()
        if rc != "0":
            raise RuntimeError(f"smtp-source exited {rc}")
        return float(end) - float(start)

    # ------------------------------------------------------------------------------ mailbox
    def mailbox(self, run: str) -> dict:
        out = self.sh(self.mx, shlex.join(["python3", "-", run, AUTHSERV_ID]), stdin=MAILBOX_SCAN)
        return json.loads(out)

    def queue_size(self) -> int:
        return len([x for x in self.sh(self.mx, "postqueue -j").splitlines() if x.strip()])

    def wait_delivered(self, run: str, expected: int, timeout: float = 300) -> dict:
        """Wait for an empty queue and a delivered count that reached expected or stopped changing."""
        deadline = time.monotonic() + timeout
        last = None
        while True:
            box = self.mailbox(run)
            delivered = len(box["ids"]) + box["smtp_source"]
            queued = self.queue_size()
            if queued == 0 and (delivered >= expected or delivered == last):
                return box
            if time.monotonic() > deadline:
                box["queued"] = queued
                return box
            last = delivered if queued == 0 else None
            time.sleep(1)

    def clear_mailbox(self) -> None:
        self.sh(self.mx, "find ~user/Maildir/new ~user/Maildir/cur -type f -delete 2>/dev/null; true")

    # ------------------------------------------------------------------------------ the gate
    def gate_state(self) -> dict:
        out = self.sh(
            self.mx, f"systemctl show -p MainPID -p NRestarts -p ActiveState --value {GATE_UNIT}"
        ).split()
        pid, restarts, state = out
        rss = self.sh(self.mx, f"ps -o rss= -p {pid}", check=False).strip() if pid != "0" else ""
        return {"pid": int(pid), "restarts": int(restarts), "state": state, "rss_kb": int(rss or 0)}

    def wait_gate_back(self, old_pid: int, timeout: float = 30) -> float:
        """Wait until systemd has the gate running again under a new pid and its socket listens."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            state = self.gate_state()
            if state["state"] == "active" and state["pid"] not in (0, old_pid):
                listening = self.sh(self.mx, f"ss -Hlx 'src {GATE_SOCKET}'", check=False).strip()
                if listening:
                    return time.time()
            time.sleep(0.2)
        raise RuntimeError("systemd did not bring the gate back")

    def gate_decision_ms(self, since: float) -> list[float]:
        """took_ms of every decision the gate logged since the given epoch second (its own time per
        decision, DNS included, without the milter transport)."""
        out = self.sh(
            self.mx, f"journalctl -u {GATE_UNIT} --since @{int(since)} -o cat --no-pager", check=False
        )
        decisions = (parse_decision(line) for line in out.splitlines())
        return [float(fields["took_ms"]) for fields in decisions if fields and "took_ms" in fields]

    def cpu_seconds(self) -> dict:
        """CPU seconds used so far: by each container as a whole (its cgroup, v1 or v2) and by the
        MX's long-running milters (their main process, all threads). Differences attribute a run's cost."""
        container_cpu = (
            "if [ -r /sys/fs/cgroup/cpuacct/cpuacct.usage ]; then"
            " echo $(( $(cat /sys/fs/cgroup/cpuacct/cpuacct.usage) / 1000 ));"
            " else awk '/^usage_usec/ {print $2}' /sys/fs/cgroup/cpu.stat; fi"
        )
        seconds = {}
        for name, container in (("mx", self.mx), ("tx", self.tx)):
            out = self.sh(container, container_cpu, check=False).strip()
            seconds[name] = int(out) / 1e6 if out.isdigit() else None
        ticks = int(self.sh(self.mx, "getconf CLK_TCK").strip())
        for unit in ("opendkim", GATE_UNIT):
            out = self.sh(
                self.mx,
                f"p=$(systemctl show -p MainPID --value {unit}); "
                "[ \"$p\" != 0 ] && cut -d' ' -f14,15 /proc/$p/stat",
                check=False,
            ).split()
            seconds[unit] = (int(out[0]) + int(out[1])) / ticks if len(out) == 2 else None
        return seconds

    def probe_gate(self, count: int, warmup: int = 50, parallel: int = 1) -> dict:
        """milter_probe.py on the MX with messages signed by the sender's key, which the gate verifies."""
        subprocess.run(["podman", "cp", str(SIGNING_KEY), f"{self.mx}:/root/s1.pem"], check=True, timeout=60)
        argv = [
            "python3",
            "/usr/local/bin/milter_probe.py",
            "--socket",
            f"unix:{GATE_SOCKET}",
            "--client",
            TX6,
            "--client-name",
            HELO,
            "--helo",
            HELO,
            "--domain",
            SENDER_DOMAIN,
            "--rcpt",
            RECIPIENT,
            "--authserv-id",
            AUTHSERV_ID,
            "--count",
            str(count),
            "--warmup",
            str(warmup),
            "--sign",
            "/root/s1.pem",
            "--parallel",
            str(parallel),
        ]
        return json.loads(self.sh(self.mx, shlex.join(argv)))

    # ------------------------------------------------------------------------------ modes
    def set_mode(self, mode: str) -> None:
        """Switch Postfix between the three benchmark configurations with postconf and a reload."""
        saved = self.sh(self.mx, f"cat {SAVED_MODE_C} 2>/dev/null", check=False).strip()
        if not saved:  # first use: the lab is as converged, i.e. mode c
            values = {p: self.sh(self.mx, f"postconf -h {p}").strip() for p in MODE_PARAMETERS}
            saved = json.dumps(values)
            self.sh(self.mx, f"install -d /var/lib/v6gate && cat > {SAVED_MODE_C}", stdin=saved)
        deployed = json.loads(saved)
        gate = f"unix:{GATE_SOCKET}"
        if gate not in deployed["smtpd_milters"]:
            raise RuntimeError("the converged MX has no gate in smtpd_milters: the gate is not wired in")
        values = dict(deployed)
        # With the gate, OpenDKIM only signs and the gate verifies; without it, OpenDKIM verifies.
        opendkim_mode = "s"
        if mode == "a":
            values.update(
                smtpd_milters="",
                non_smtpd_milters="",
                smtpd_milter_maps="",
                anonymous_ipv4="permit",
                anonymous_ipv6="permit",
            )
        elif mode == "b":
            ipv6 = [r for r in deployed["anonymous_ipv6"].split(", ") if r and r != "permit"]
            without_gate = {
                name: ", ".join(m for m in deployed[name].split(", ") if m and m != gate)
                for name in ("smtpd_milters", "non_smtpd_milters")
            }
            values.update(
                without_gate,
                smtpd_milter_maps="",
                anonymous_ipv6=", ".join(ipv6 if SPF_POLICY_IPV6 in ipv6 else [*ipv6, SPF_POLICY_IPV6]),
            )
            opendkim_mode = "sv"
        elif mode != "c":
            raise ValueError(mode)
        self.sh(
            self.mx,
            f"grep -qx 'Mode  *{opendkim_mode}' /etc/opendkim.conf || "
            f"{{ sed -i 's/^Mode .*/Mode                    {opendkim_mode}/' /etc/opendkim.conf "
            "&& systemctl restart opendkim; }",
        )
        assignments = [f"{name}={value}" for name, value in values.items()]
        self.sh(self.mx, shlex.join(["postconf", "-e", *assignments]) + " && postfix check && postfix reload")
        time.sleep(1)

    # ------------------------------------------------------------------------------ faults
    def fault_run(
        self, name: str, count: int, concurrency: int, rate: float, after: float, inject, restore
    ) -> dict:
        """Send paced load, inject a fault `after` seconds in, undo it, and account for every message.

        The load is paced (rate messages/s) so that it goes on before, during and after the fault.
        inject() returns nothing; restore() returns the epoch time at which the fault was over.
        """
        run = self.new_run(name)
        gate_before = self.gate_state()
        thread, box = self.send_in_background(run, count, concurrency, rate)
        time.sleep(after)
        fault_start = time.time()
        inject()
        fault_end = restore()
        thread.join()
        if "error" in box:
            raise box["error"]
        result: LoadResult = box["result"]
        result.delivered = self.wait_delivered(run, len(result.accepted_ids))
        window = result.in_window(fault_start, fault_end)
        return {
            "name": name,
            "result": result,
            "fault_seconds": fault_end - fault_start,
            "window": window,
            "window_outcomes": Counter(m[3] for m in window),
            "window_replies": result.replies(window),
            "loss": result.loss(),
            "gate_before": gate_before,
            "gate_after": self.gate_state(),
        }

    def kill_gate(self) -> tuple:
        state: dict = {}

        def inject() -> None:
            state["pid"] = self.gate_state()["pid"]
            self.sh(self.mx, f"systemctl kill -s SIGKILL {GATE_UNIT}")

        return inject, lambda: self.wait_gate_back(state["pid"])

    def silence_dns(self, seconds: float) -> tuple:
        def inject() -> None:
            self.sh(self.ns, "systemctl kill -s SIGSTOP knot")

        def restore() -> float:
            time.sleep(seconds)
            self.sh(self.ns, "systemctl kill -s SIGCONT knot")
            return time.time()

        return inject, restore

    def restart_postfix(self) -> tuple:
        def inject() -> None:
            self.sh(self.mx, "systemctl restart postfix")

        return inject, time.time


def describe_fault(report: dict) -> list[str]:
    """Human-readable lines for one fault run."""
    result: LoadResult = report["result"]
    loss = report["loss"]
    lines = [
        f"-- fault: {report['name']} (lasted {report['fault_seconds']:.1f}s)",
        f"   whole run: {result.summary()}",
        "   during the fault: " + ", ".join(f"{k}={v}" for k, v in sorted(report["window_outcomes"].items())),
    ]
    lines += [f"     {count} x {reply}" for reply, count in report["window_replies"].most_common(6)]
    box = result.delivered
    lines.append(
        f"   accepted={len(result.accepted_ids)} delivered={len(box.get('ids', []))} "
        f"lost={len(loss['lost'])} duplicates={len(loss['duplicates'])} "
        f"delivered-without-250-seen={len(loss['delivered_without_250'])} "
        f"gate-checked={box.get('checked')} still-queued={box.get('queued', 0)}"
    )
    before, after = report["gate_before"], report["gate_after"]
    lines.append(
        f"   gate: pid {before['pid']} -> {after['pid']}, "
        f"NRestarts {before['restarts']} -> {after['restarts']}, "
        f"{after['state']}"
    )
    return lines
