#!/usr/bin/env python3
"""Audit throughput against a local Knot DNS server, and checkdmarc's on the same zone.

Generates a zone with N senders (each: an IPv6 address with a forward-confirmed PTR for 90 % of them, its
own MAIL FROM domain with an SPF record that includes a shared record, and a DKIM key), serves it with
knotd on loopback, then measures from a cold cache each time:

* reverse DNS: addresses/s for one reverse_dns-style call over all N addresses;
* readiness: addresses/s for the full ipv6_sender_readiness verdict (PTR, SPF with pyspf, DKIM) of N senders;
* SPF only: v6gate's SPF check (pyspf evaluation plus the record-tree lint) in domains/s, and checkdmarc's
  check_spf (record lookup, parse, lookup counting) in domains/s on the same domains; the ratio is printed.

checkdmarc has no batch API, so it is called once per domain, the way its CLI does.

With ``--rtt`` round trips (seconds, e.g. 0.02 0.1) every measurement is repeated through
bench/dns_delay_relay.py, a relay in its own process that delays each answer by that round trip (this
kernel has no netem): the conditions of a controller asking a sender's nameservers on the internet.
checkdmarc asks one query at a time, so at a round trip its rate does not depend on the number of
domains: it is measured on the first ``--checkdmarc-sample`` domains.

With ``--resolver-cache`` each measurement is repeated through Unbound (Debian's package, started on a
free port with the bench zones as stub zones behind the relay), as a production controller asks its
resolver: "cold" starts a fresh Unbound for each measurement, "warm" runs the same audit a second time
against one Unbound, so answers come from its cache as long as they fit in it and their TTL (300 s)
lasts: the first pass over 10,000 senders at a round trip takes longer than that. Run:
    .venv/bin/python bench/audit_bench.py [--senders 1000 10000] [--rtt 0 0.02 0.1] [--resolver-cache]
"""

from __future__ import annotations

import argparse
import contextlib
import ipaddress
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO_ROOT / "collections"), str(REPO_ROOT / "tests")]

import dns.name
import dns.nameserver
import dns.reversename
from ansible_collections.v6gate.mx.plugins.module_utils.dns_client import DnsClient
from ansible_collections.v6gate.mx.plugins.module_utils.iprev import check_reverse
from ansible_collections.v6gate.mx.plugins.module_utils.readiness import assess_sender
from ansible_collections.v6gate.mx.plugins.module_utils.spf_eval import check_spf
from dnsserver import free_port, running_knot, stop_process, wait_until_answering

BENCH_ZONE = "bench.example"
BENCH_PREFIX = ipaddress.IPv6Network("2001:db8:be::/48")
REVERSE_ZONE = "e.b.0.0.8.b.d.0.1.0.0.2.ip6.arpa"
DKIM_KEY = (REPO_ROOT / "tests" / "fixtures" / "dkim" / "rsa1024.pub.b64").read_text().strip()
SOA = (
    "$TTL 300\n@ IN SOA ns1.bench.example. hostmaster.bench.example. 1 3600 600 86400 300\n"
    "@ IN NS ns1.bench.example.\n"
)


def sender_address(index: int) -> str:
    return str(BENCH_PREFIX.network_address + index + 1)


def write_zones(zones_dir: Path, senders: int) -> None:
    forward = [
        f"$ORIGIN {BENCH_ZONE}.\n",
        SOA,
        "ns1 IN AAAA 2001:db8::53\n",
        '_spf IN TXT "v=spf1 ip6:2001:db8:bf::/48 ip4:198.51.100.0/24 -all"\n',
    ]
    reverse = [f"$ORIGIN {REVERSE_ZONE}.\n", SOA]
    for index in range(senders):
        address = sender_address(index)
        forward.append(f"s{index} IN AAAA {address}\n")
        forward.append(f'd{index} IN TXT "v=spf1 ip6:{address}/128 include:_spf.{BENCH_ZONE} -all"\n')
        forward.append(f'sel._domainkey.d{index} IN TXT "v=DKIM1; k=rsa; p={DKIM_KEY}"\n')
        if index % 10:  # every tenth sender has no PTR, as in real fleets
            name = dns.reversename.from_address(address).relativize(dns.name.from_text(REVERSE_ZONE))
            reverse.append(f"{name} IN PTR s{index}.{BENCH_ZONE}.\n")
    (zones_dir / f"{BENCH_ZONE}.zone").write_text("".join(forward))
    (zones_dir / f"{REVERSE_ZONE}.zone").write_text("".join(reverse))


def timed(function) -> tuple[float, object]:
    start = time.perf_counter()
    result = function()
    return time.perf_counter() - start, result


@contextlib.contextmanager
def delayed(port: int, rtt: float):
    """The port to ask: Knot's own, or a relay's that adds ``rtt`` seconds to every answer."""
    if not rtt:
        yield port
        return
    relay_port = free_port()
    relay = subprocess.Popen(
        [
            sys.executable,
            str(REPO_ROOT / "bench" / "dns_delay_relay.py"),
            "--listen",
            f"127.0.0.1:{relay_port}",
            "--upstream",
            f"127.0.0.1:{port}",
            "--rtt",
            str(rtt),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        relay.stdout.readline()  # it prints one line once it listens
        yield relay_port
    finally:
        stop_process(relay)


UNBOUND = "/usr/sbin/unbound"


@contextlib.contextmanager
def unbound_in_front(upstream_port: int):
    """Unbound (Debian's package) on a free loopback port, a caching resolver with the bench zones as stub
    zones at ``upstream_port``: what a production controller asks instead of each sender's servers. It
    starts with an empty cache; the cache lives as long as the context."""
    port = free_port()
    with tempfile.TemporaryDirectory(prefix="v6gate-unbound-") as work:
        conf = Path(work) / "unbound.conf"
        conf.write_text(
            f"""server:
    interface: 127.0.0.1@{port}
    port: {port}
    do-ip6: no
    do-daemonize: no
    username: ""
    chroot: ""
    directory: "{work}"
    pidfile: ""
    use-syslog: no
    verbosity: 0
    num-threads: 2
    access-control: 127.0.0.0/8 allow
    do-not-query-localhost: no
    module-config: "iterator"
    # 2001:db8::/32 is documentation space, which Unbound answers locally by default
    local-zone: "8.b.d.0.1.0.0.2.ip6.arpa." nodefault
stub-zone:
    name: "{BENCH_ZONE}."
    stub-addr: 127.0.0.1@{upstream_port}
stub-zone:
    name: "{REVERSE_ZONE}."
    stub-addr: 127.0.0.1@{upstream_port}
"""
        )
        log = Path(work) / "unbound.log"
        with log.open("w") as log_file:  # a file, not a pipe nobody reads, which could fill and stall it
            process = subprocess.Popen(
                [UNBOUND, "-d", "-c", str(conf)], stdout=log_file, stderr=subprocess.STDOUT
            )
        try:
            try:
                wait_until_answering("127.0.0.1", port, f"{BENCH_ZONE}.", time.monotonic() + 10, process, log)
            except RuntimeError as error:
                # Debian's AppArmor profile for unbound allows only /etc/unbound and /var/lib/unbound
                raise RuntimeError(
                    f"{error}\n(AppArmor may refuse unbound the work directory {work})"
                ) from error
            yield port
        finally:
            stop_process(process)


def bench_size(endpoint, senders: int, max_in_flight: int, checkdmarc_sample: int | None = None) -> dict:
    """Each measurement asks the port ``endpoint()`` yields: the same server every time, or a fresh
    resolver with an empty cache for each (--resolver-cache cold)."""
    addresses = [sender_address(i) for i in range(senders)]
    domains = [f"d{i}.{BENCH_ZONE}" for i in range(senders)]

    def client(port: int) -> DnsClient:
        return DnsClient([f"127.0.0.1@{port}"], timeout=3, retries=1, max_in_flight=max_in_flight)

    with endpoint() as port:
        resolver = client(port)
        rdns_seconds, rdns = timed(lambda: resolver.map(lambda a: check_reverse(resolver, a), addresses))
    assert sum(r["status"] == "pass" for r in rdns) == senders - len(range(0, senders, 10))

    with endpoint() as port:
        resolver = client(port)
        readiness_seconds, verdicts = timed(
            lambda: resolver.map(
                lambda i: assess_sender(
                    resolver, [addresses[i]], f"s{i}.{BENCH_ZONE}", [domains[i]], ["sel"]
                ),
                range(senders),
            )
        )
    accepted = sum(v["accepted"] for v in verdicts)
    assert accepted == senders - len(range(0, senders, 10)), accepted

    with endpoint() as port:
        resolver = client(port)
        spf_seconds, spf_results = timed(
            lambda: resolver.map(
                lambda i: check_spf(resolver, addresses[i], domains[i], f"s{i}.{BENCH_ZONE}"), range(senders)
            )
        )
    assert all(r["result"] == "pass" and r["lookup_count"] == 1 for r in spf_results)

    sample = domains[:checkdmarc_sample] if checkdmarc_sample else domains
    with endpoint() as port:
        checkdmarc_seconds, checkdmarc_results = timed(lambda: run_checkdmarc(port, sample))
    assert all(r.get("valid") and r.get("dns_lookups") == 1 for r in checkdmarc_results), checkdmarc_results[
        :1
    ]

    return {
        "senders": senders,
        "max_in_flight": max_in_flight,
        "reverse_dns_addresses_per_s": senders / rdns_seconds,
        "readiness_addresses_per_s": senders / readiness_seconds,
        "v6gate_spf_domains_per_s": senders / spf_seconds,
        "checkdmarc_domains": len(sample),
        "checkdmarc_spf_domains_per_s": len(sample) / checkdmarc_seconds,
        "spf_ratio_v6gate_to_checkdmarc": (senders / spf_seconds) / (len(sample) / checkdmarc_seconds),
    }


def run_checkdmarc(port: int, domains: list[str]) -> list[dict]:
    import checkdmarc.spf
    import checkdmarc.utils

    checkdmarc.utils.DNS_CACHE.clear()  # cold cache, like our own clients
    nameservers = [dns.nameserver.Do53Nameserver("127.0.0.1", port)]
    return [checkdmarc.spf.check_spf(domain, nameservers=nameservers, timeout=3.0) for domain in domains]


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--senders", type=int, nargs="+", default=[1000, 10000])
    parser.add_argument("--max-in-flight", type=int, default=32)  # the modules' default
    parser.add_argument(
        "--rtt",
        type=float,
        nargs="+",
        default=[0.0],
        help="round trips in seconds to measure at (0: Knot on loopback directly)",
    )
    parser.add_argument(
        "--checkdmarc-sample",
        type=int,
        default=300,
        help="domains checkdmarc is timed on when the round trip is not 0",
    )
    parser.add_argument(
        "--resolver-cache",
        action="store_true",
        help="also through Unbound in front: cold (a fresh cache per measurement) and warm",
    )
    parser.add_argument("--json", type=Path, help="also write the results to this file")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="v6gate-bench-") as work:
        zones_dir = Path(work) / "zones"
        zones_dir.mkdir()
        write_zones(zones_dir, max(args.senders))
        with running_knot(Path(work) / "knot", zones_dir, probe_zone=BENCH_ZONE) as server:
            results = []
            for rtt in args.rtt:
                with delayed(server.port, rtt) as upstream:
                    sample = args.checkdmarc_sample if rtt else None
                    for size in args.senders:
                        row = bench_size(
                            lambda port=upstream: contextlib.nullcontext(port),
                            size,
                            args.max_in_flight,
                            sample,
                        )
                        results.append(dict(row, rtt_ms=rtt * 1000, via="direct"))
                        if not args.resolver_cache:
                            continue
                        row = bench_size(
                            lambda port=upstream: unbound_in_front(port), size, args.max_in_flight, sample
                        )
                        results.append(dict(row, rtt_ms=rtt * 1000, via="unbound, cold"))
                        with unbound_in_front(upstream) as cached:
                            bench_size(
                                lambda: contextlib.nullcontext(cached), size, args.max_in_flight, sample
                            )
                            row = bench_size(
                                lambda: contextlib.nullcontext(cached), size, args.max_in_flight, sample
                            )
                        results.append(dict(row, rtt_ms=rtt * 1000, via="unbound, warm"))

    print(
        f"{'RTT ms':>6} {'via':>14} {'senders':>8} {'rDNS addr/s':>12} {'readiness addr/s':>17} "
        f"{'v6gate SPF dom/s':>17} "
        f"{'checkdmarc SPF dom/s':>21} {'SPF ratio':>10}"
    )
    for row in results:
        print(
            f"{row['rtt_ms']:>6.0f} {row['via']:>14} {row['senders']:>8} "
            f"{row['reverse_dns_addresses_per_s']:>12.0f} "
            f"{row['readiness_addresses_per_s']:>17.0f} {row['v6gate_spf_domains_per_s']:>17.0f} "
            f"{row['checkdmarc_spf_domains_per_s']:>21.0f} {row['spf_ratio_v6gate_to_checkdmarc']:>9.2f}x"
        )
    print(
        f"(knotd on loopback, behind the delaying relay when RTT > 0; max_in_flight={args.max_in_flight}, "
        f"cold cache per measurement; checkdmarc on {args.checkdmarc_sample} domains when RTT > 0; "
        "SPF ratio = v6gate domains/s / checkdmarc domains/s, same run, same zone; via unbound: "
        "Unbound in front of the relay, a fresh cache per measurement (cold) or after the same audit (warm))"
    )
    if args.json:
        args.json.write_text(json.dumps(results, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
