#!/usr/bin/env python3
"""Mail throughput and latency over IPv6 with and without the gate; 10,000-message no-loss run; faults.

Brings up (or reuses) the load lab, Molecule scenario ``load`` (ns, mx from site.yml with the gate,
a sender), then from the sender container to the MX over IPv6:

* throughput: Postfix's smtp-source, one DKIM-signed message per connection, S parallel sessions;
* latency: tests/load/smtp_load.py (asyncio), connect to the final reply after DATA, p50/p99;

for (a) Postfix alone, (b) the full stack without the gate, (c) the full stack with the gate. The
modes are switched inside the MX with ``postconf -e`` + ``postfix reload`` (tests/load/loadlab.py,
LoadLab.set_mode), which is what converging with the gate's and the policy service's inventory lists
emptied would write, in seconds instead of minutes. Each mode's delivered mail is checked for the
headers that prove the mode (OpenDKIM's and the gate's Authentication-Results, or neither).

The gate's own decision time comes from tests/load/milter_probe.py, which speaks the milter
protocol to the running gate on the MX as Postfix does, with a warm DNS cache.

Then 10,000 messages through (c) with every accepted message matched to its delivered copy, the
gate's restarts and memory (RSS) from start to end, and the three fault runs of tests/load/verify.py
at a larger size. Targets (c/b >= 0.9, c/a >= 0.5, gate decision p99 <= 5 ms) are reported, not
asserted; lost mail or a 5xx during a fault makes the exit status 1.

    ./v6gate bench bench/mail_bench.py              # or: .venv/bin/python bench/mail_bench.py [options]
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT / "tests" / "load"))

from loadlab import GATE_UNIT, MODES, LoadLab, describe_fault, percentile

TARGETS = {"c/b": 0.9, "c/a": 0.5, "gate_p99_ms": 5.0, "gate_cpu_parallel": 1.2}


def molecule(*args: str) -> None:
    env = dict(os.environ)
    env.setdefault("CONTAINERS_CONF", str(REPO_ROOT / "containers.conf"))
    env.setdefault("ANSIBLE_CONFIG", str(REPO_ROOT / "ansible.cfg"))
    venv_bin = str(REPO_ROOT / ".venv" / "bin")
    env["PATH"] = venv_bin + os.pathsep + env.get("PATH", "")
    print(f"$ molecule {' '.join(args)}", flush=True)
    done = subprocess.run(["molecule", *args], cwd=REPO_ROOT, env=env, capture_output=True, text=True)
    if done.returncode != 0:
        sys.stderr.write(done.stdout[-4000:] + done.stderr[-4000:])
        raise SystemExit(f"molecule {' '.join(args)} failed")


def ms(seconds: float) -> str:
    return f"{seconds * 1000:.1f}"


def measure_mode(lab: LoadLab, mode: str, args) -> dict:
    lab.set_mode(mode)
    lab.clear_mailbox()
    warm = lab.new_run(f"w{mode}")
    lab.send(warm, 40, args.concurrency)  # fresh smtpd processes, policy daemons, DNS caches
    # throughput: smtp-source
    run = lab.new_run(f"s{mode}")
    # the journal filter counts whole seconds: start on a fresh one, after the warm-up's decisions
    since = math.ceil(time.time())
    time.sleep(max(0.0, since - time.time()))
    cpu_before = lab.cpu_seconds()
    seconds = lab.smtp_source(run, args.messages, args.sessions)
    box = lab.wait_delivered(run, args.messages)
    cpu_ms = cpu_ms_per_message(cpu_before, lab.cpu_seconds(), args.messages)
    took = lab.gate_decision_ms(since) if mode == "c" else []
    # latency: asyncio client
    lat_run = lab.new_run(f"l{mode}")
    result = lab.send(lat_run, args.latency_messages, args.latency_concurrency)
    result.delivered = lab.wait_delivered(lat_run, len(result.accepted_ids))
    latencies = result.latencies()
    row = {
        "mode": mode,
        "smtp_source_msgs": args.messages,
        "smtp_source_seconds": seconds,
        "msgs_per_s": args.messages / seconds,
        "smtp_source_delivered": box["smtp_source"],
        "latency_msgs": len(result.messages),
        "latency_accepted": len(result.accepted_ids),
        "latency_msgs_per_s": len(result.messages) / result.seconds,
        "p50_ms": percentile(latencies, 0.5) * 1000,
        "p99_ms": percentile(latencies, 0.99) * 1000,
        "dkim_ar": box["dkim_ar"],
        "gate_ar": box["gate_ar"],
        "lost": len(result.loss()["lost"]),
        "cpu_ms_per_msg": cpu_ms,
        "gate_log_decisions": len(took),
        "gate_log_p50_ms": percentile(took, 0.5) if took else None,
        "gate_log_p99_ms": percentile(took, 0.99) if took else None,
    }
    expected_headers = {"a": (0, 0), "b": (args.messages, 0), "c": (args.messages, args.messages)}[mode]
    row["mode_proven"] = (box["dkim_ar"], box["gate_ar"]) == expected_headers
    print(
        f"   ({mode}) {row['msgs_per_s']:.1f} msg/s with smtp-source ({box['smtp_source']}/{args.messages} "
        f"delivered); asyncio: {row['latency_msgs_per_s']:.1f} msg/s, p50 {row['p50_ms']:.1f} ms, "
        f"p99 {row['p99_ms']:.1f} ms; headers OpenDKIM={box['dkim_ar']} gate={box['gate_ar']} "
        f"({'as expected' if row['mode_proven'] else 'NOT as expected for this mode'})",
        flush=True,
    )
    print(
        f"       CPU ms per message (throughput run, queue delivery included): {format_cpu(cpu_ms)}",
        flush=True,
    )
    if took:
        print(
            f"       the gate's log during smtp-source: {len(took)} decisions, took_ms "
            f"p50 {row['gate_log_p50_ms']:.1f} p99 {row['gate_log_p99_ms']:.1f}",
            flush=True,
        )
    lab.clear_mailbox()
    return row


def cpu_ms_per_message(before: dict, after: dict, messages: int) -> dict:
    """CPU milliseconds per message of each part LoadLab.cpu_seconds could read both times."""
    return {
        name: (after[name] - before[name]) * 1000 / messages
        for name in before
        if before[name] is not None and after.get(name) is not None
    }


def format_cpu(cpu_ms: dict) -> str:
    return ", ".join(f"{name} {value:.2f}" for name, value in cpu_ms.items())


def median(values: list[float]) -> float:
    ordered = sorted(values)
    middle = len(ordered) // 2
    return ordered[middle] if len(ordered) % 2 else (ordered[middle - 1] + ordered[middle]) / 2


def long_load(lab: LoadLab, args) -> dict:
    lab.set_mode("c")
    lab.clear_mailbox()
    warm = lab.new_run("warm")
    lab.send(warm, 200, args.concurrency)  # the gate's RSS is taken after its imports and caches settle
    lab.clear_mailbox()
    before = lab.gate_state()
    run = lab.new_run("load")
    result = lab.send(run, args.load_messages, args.concurrency, timeout=120)
    result.delivered = lab.wait_delivered(run, len(result.accepted_ids), timeout=900)
    after = lab.gate_state()
    loss = result.loss()
    growth = (after["rss_kb"] - before["rss_kb"]) / before["rss_kb"] if before["rss_kb"] else float("nan")
    report = {
        "summary": result.summary(),
        "outcomes": dict(result.outcomes),
        "accepted": len(result.accepted_ids),
        "delivered": len(result.delivered.get("ids", [])),
        "lost": len(loss["lost"]),
        "duplicates": len(loss["duplicates"]),
        "checked": result.delivered.get("checked"),
        "gate_before": before,
        "gate_after": after,
        "rss_growth": growth,
        "ok": not loss["lost"]
        and not loss["duplicates"]
        and after["restarts"] == before["restarts"]
        and after["pid"] == before["pid"]
        and growth < 0.10
        and result.outcomes["5xx"] == 0,
    }
    print(f"   {report['summary']}")
    print(
        f"   accepted={report['accepted']} delivered={report['delivered']} lost={report['lost']} "
        f"duplicates={report['duplicates']} gate-checked={report['checked']}; gate pid {before['pid']} -> "
        f"{after['pid']}, NRestarts {before['restarts']} -> {after['restarts']}, "
        f"RSS {before['rss_kb']} kB -> "
        f"{after['rss_kb']} kB ({growth * 100:+.1f}%) -> {'ok' if report['ok'] else 'FAILED'}",
        flush=True,
    )
    lab.clear_mailbox()
    return report


def probe_gate(lab: LoadLab, messages: int, parallel: int) -> dict:
    """Milter probe against the running gate: decision times and the gate's CPU per message."""
    cpu_before = lab.cpu_seconds()
    # 50 untimed messages first (warm DNS cache), one at a time; their CPU is in the per-message
    # figure too, which moves the parallel figure about 2 % toward the serial one.
    warmup = 50
    probe = lab.probe_gate(messages, warmup=warmup, parallel=parallel)
    cpu_ms = cpu_ms_per_message(cpu_before, lab.cpu_seconds(), messages + warmup).get(GATE_UNIT)
    gate = {
        key: {"p50_ms": percentile(probe[key], 0.5) * 1000, "p99_ms": percentile(probe[key], 0.99) * 1000}
        for key in ("decision", "answered", "rcpt", "eom", "setup")
    }
    gate["outcomes"] = probe["outcomes"]
    gate["cpu_ms_per_msg"] = cpu_ms
    gate["msgs_per_s"] = messages / probe["seconds"]
    for key, text in (
        ("decision", "decision, CONNECT to end of message (first reply packet of each command)"),
        ("answered", "the same to each final answer"),
        ("rcpt", "RCPT (reverse DNS)"),
        ("eom", "end of message (SPF, DKIM verdict)"),
        ("setup", "session setup (connect + negotiation)"),
    ):
        print(f"   {text}: p50 {gate[key]['p50_ms']:.2f} ms, p99 {gate[key]['p99_ms']:.2f} ms")
    print(f"   {gate['msgs_per_s']:.1f} messages/s", end="")
    if cpu_ms is not None:
        print(f"; the gate's CPU per message: {cpu_ms:.2f} ms", end="")
    target = f"; target decision p99 <= {TARGETS['gate_p99_ms']} ms" if parallel == 1 else ""
    print(f"\n   outcomes {probe['outcomes']}{target}", flush=True)
    return gate


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--messages", type=int, default=2000, help="smtp-source messages per mode and round")
    parser.add_argument("--sessions", type=int, default=40, help="smtp-source parallel sessions")
    parser.add_argument(
        "--latency-messages", type=int, default=300, help="asyncio messages per mode and round"
    )
    parser.add_argument("--latency-concurrency", type=int, default=2)
    parser.add_argument("--concurrency", type=int, default=8, help="asyncio connections for load and faults")
    parser.add_argument("--rounds", type=int, default=2, help="a, b, c measured this many times, interleaved")
    parser.add_argument("--probe-messages", type=int, default=2000, help="milter-probe messages")
    parser.add_argument(
        "--probe-parallel",
        type=lambda text: max(1, int(text)),
        default=40,
        help="milter sessions at once for the probe's loaded run (1: serial only)",
    )
    parser.add_argument("--load-messages", type=int, default=10000)
    parser.add_argument("--fault-messages", type=int, default=1000)
    parser.add_argument("--fault-rate", type=float, default=25.0, help="messages/s during fault runs")
    parser.add_argument("--dns-outage", type=float, default=40.0, help="seconds DNS stays silent")
    parser.add_argument("--skip", action="append", default=[], choices=["modes", "probe", "load", "faults"])
    parser.add_argument("--no-converge", action="store_true", help="reuse the running lab as it is")
    parser.add_argument("--destroy", action="store_true", help="remove the lab afterwards")
    parser.add_argument("--json", default=None, help="write all numbers to this file")
    args = parser.parse_args()

    if not args.no_converge:
        molecule("create", "-s", "load")
        molecule("prepare", "-s", "load")
        molecule("converge", "-s", "load")
    lab = LoadLab()
    lab.install_tools()
    report: dict = {
        "machine": f"{platform.node()} {platform.machine()}, {os.cpu_count()} CPUs, "
        + subprocess.run(["uname", "-r"], capture_output=True, text=True).stdout.strip(),
        "postfix": lab.sh(lab.mx, "postconf -h mail_version").strip(),
        "started": time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime()),
        "args": vars(args),
    }
    failures: list[str] = []

    if "modes" not in args.skip:
        print(f"== throughput and latency over IPv6, {args.rounds} round(s) of a, b, c", flush=True)
        rows = [measure_mode(lab, mode, args) for _ in range(args.rounds) for mode in "abc"]
        report["rounds"] = rows
        table = {}
        for mode in "abc":
            mine = [r for r in rows if r["mode"] == mode]
            table[mode] = {
                key: median([r[key] for r in mine])
                for key in ("msgs_per_s", "latency_msgs_per_s", "p50_ms", "p99_ms")
            }
            table[mode]["cpu_ms_per_msg"] = {
                name: median([r["cpu_ms_per_msg"][name] for r in mine if name in r["cpu_ms_per_msg"]])
                for name in mine[0]["cpu_ms_per_msg"]
            }
            if not all(r["mode_proven"] for r in mine):
                failures.append(f"mode {mode}: delivered headers do not prove the configuration")
            if any(r["lost"] for r in mine) or any(r["smtp_source_delivered"] != args.messages for r in mine):
                failures.append(f"mode {mode}: not every message was delivered")
        report["table"] = table
        ratios = {
            "c/b": table["c"]["msgs_per_s"] / table["b"]["msgs_per_s"],
            "c/a": table["c"]["msgs_per_s"] / table["a"]["msgs_per_s"],
            "c/b latency p50": table["c"]["p50_ms"] / table["b"]["p50_ms"],
        }
        report["ratios"] = ratios
        print("\n| mode | smtp-source msg/s | asyncio msg/s | p50 ms | p99 ms |")
        print("|---|---|---|---|---|")
        for mode in "abc":
            t = table[mode]
            print(
                f"| ({mode}) {MODES[mode]} | {t['msgs_per_s']:.1f} | {t['latency_msgs_per_s']:.1f} | "
                f"{t['p50_ms']:.1f} | {t['p99_ms']:.1f} |"
            )
        print("\nCPU ms per message in the throughput runs (median; mx = the whole MX container):")
        for mode in "abc":
            print(f"   ({mode}) {format_cpu(table[mode]['cpu_ms_per_msg'])}")
        print(
            f"\nthroughput ratio c/b = {ratios['c/b']:.2f} (target >= {TARGETS['c/b']}), "
            f"c/a = {ratios['c/a']:.2f} (target >= {TARGETS['c/a']}); "
            f"latency p50 c/b = {ratios['c/b latency p50']:.2f}"
            f"; p50 added by the gate (c - b) = {table['c']['p50_ms'] - table['b']['p50_ms']:.1f} ms",
            flush=True,
        )

    if "probe" not in args.skip:
        lab.set_mode("c")
        report["gate"] = {}
        for parallel in dict.fromkeys((1, args.probe_parallel)):
            print(
                f"\n== the gate's own decision time (milter protocol, {args.probe_messages} messages, "
                f"{parallel} session(s) at a time, warm DNS)",
                flush=True,
            )
            gate = probe_gate(lab, args.probe_messages, parallel)
            report["gate"][parallel] = gate
            if set(gate["outcomes"]) != {"accept"}:
                failures.append(
                    f"milter probe ({parallel}): the gate did not accept every message ({gate['outcomes']})"
                )
        serial, loaded = report["gate"][1], report["gate"][args.probe_parallel]
        if args.probe_parallel != 1 and serial["cpu_ms_per_msg"] and loaded["cpu_ms_per_msg"]:
            ratio = loaded["cpu_ms_per_msg"] / serial["cpu_ms_per_msg"]
            report["ratios"] = {**report.get("ratios", {}), "gate cpu parallel/serial": ratio}
            print(
                f"\ngate CPU per message at {args.probe_parallel} sessions / one at a time = {ratio:.2f} "
                f"(target <= {TARGETS['gate_cpu_parallel']})",
                flush=True,
            )

    if "load" not in args.skip:
        print(f"\n== {args.load_messages} messages through (c), {args.concurrency} connections", flush=True)
        report["load"] = long_load(lab, args)
        if not report["load"]["ok"]:
            failures.append("long load run: loss, a gate restart, RSS growth >= 10% or a 5xx")

    if "faults" not in args.skip:
        print(
            f"\n== faults under load ({args.fault_messages} messages each, {args.concurrency} connections)",
            flush=True,
        )
        lab.set_mode("c")
        report["faults"] = []
        for name, (inject, restore) in (
            ("gate killed (SIGKILL)", lab.kill_gate()),
            (
                f"DNS server not answering for {args.dns_outage:.0f}s (knot SIGSTOP)",
                lab.silence_dns(args.dns_outage),
            ),
            ("Postfix restarted", lab.restart_postfix()),
        ):
            fault = lab.fault_run(
                name, args.fault_messages, args.concurrency, args.fault_rate, 3.0, inject, restore
            )
            for line in describe_fault(fault):
                print(line, flush=True)
            result = fault["result"]
            bad = set(fault["window_outcomes"]) - {"accepted", "4xx", "error"}
            if fault["loss"]["lost"] or result.outcomes["5xx"] or bad:
                failures.append(f"fault '{name}': lost mail or a 5xx")
            report["faults"].append(
                {
                    "name": name,
                    "summary": result.summary(),
                    "fault_seconds": fault["fault_seconds"],
                    "window_outcomes": dict(fault["window_outcomes"]),
                    "window_replies": dict(fault["window_replies"]),
                    "accepted": len(result.accepted_ids),
                    "delivered": len(result.delivered.get("ids", [])),
                    "loss": {k: len(v) for k, v in fault["loss"].items()},
                    "gate_before": fault["gate_before"],
                    "gate_after": fault["gate_after"],
                }
            )
            lab.clear_mailbox()

    lab.set_mode("c")
    report["failures"] = failures
    if args.json:
        Path(args.json).write_text(json.dumps(report, indent=2, default=str) + "\n")
    if args.destroy:
        molecule("destroy", "-s", "load")
    print(f"\n== {len(failures)} failure(s)" + "".join(f"\n   !! {f}" for f in failures))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
