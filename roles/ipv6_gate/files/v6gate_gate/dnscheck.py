"""DNS work for the gate: reverse DNS (PTR, optionally forward-confirmed), SPF and DKIM keys, each decision
within one deadline.

A lookup that fails temporarily (SERVFAIL, timeout, no reachable nameserver, the deadline reached) is
reported as such and never as "no record": the rules turn it into a 4xx of its own.
"""

from __future__ import annotations

import ipaddress
import time
from dataclasses import dataclass

import dns.exception
import dns.name
import dns.resolver
import dns.reversename
from ansible_collections.v6gate.mx.plugins.module_utils.dkim_verify import DkimKeyTemporaryError
from ansible_collections.v6gate.mx.plugins.module_utils.ipv6_rules import (
    PTR_POLICY_FCRDNS,
    PtrStatus,
    classify_ptr,
)
from ansible_collections.v6gate.mx.plugins.module_utils.v6gate_dns import parse_nameserver

try:
    from dns.nameserver import Do53Nameserver
except ImportError:  # dnspython before 2.4, as in Debian 12
    Do53Nameserver = None

MAX_PTR_NAMES = 10  # a reverse name with more PTRs than this is not a mail server worth confirming fully

_ABSENT = (dns.resolver.NXDOMAIN, dns.resolver.NoAnswer)
_TEMPORARY = (dns.exception.Timeout, dns.resolver.NoNameservers, dns.resolver.LifetimeTimeout)


class Deadline:
    """The time one decision may take, shared by all of its lookups."""

    def __init__(self, seconds: float) -> None:
        self.ends = time.monotonic() + seconds

    def remaining(self) -> float:
        return self.ends - time.monotonic()

    def lifetime(self, per_lookup: float) -> float:
        """A lookup's time: its own limit, cut to what the decision has left (0 when nothing is left)."""
        return max(0.0, min(per_lookup, self.remaining()))


def make_resolver(nameservers=(), timeout: float = 5.0, cache_size: int = 10000) -> dns.resolver.Resolver:
    """The system resolver (/etc/resolv.conf), or explicit nameservers in any form the modules accept
    (``addr``, ``addr@port``, ``addr:port``, ``[v6]:port``). Answers are cached by their TTL, in an LRU
    cache of ``cache_size`` entries, so a sender cannot grow the gate's memory by varying names."""
    resolver = dns.resolver.Resolver(configure=not nameservers)
    if nameservers:
        servers = [parse_nameserver(spec) for spec in nameservers]
        if Do53Nameserver is None:  # dnspython before 2.4 (Debian 12): ports per address
            resolver.nameservers = [address for address, _port in servers]
            resolver.nameserver_ports = dict(servers)
        else:
            resolver.nameservers = [Do53Nameserver(*server) for server in servers]
    resolver.lifetime = timeout
    resolver.timeout = min(timeout, 2.0)
    resolver.cache = dns.resolver.LRUCache(cache_size)
    return resolver


@dataclass(frozen=True)
class ReverseDns:
    status: PtrStatus  # as the configured PTR policy judges it (what the rule uses)
    iprev: PtrStatus  # full forward-confirmed result (RFC 8601 iprev), for Authentication-Results
    names: tuple[str, ...] = ()  # PTR targets, without trailing dot
    confirmed_name: str | None = None


def _resolve(resolver, name, rdtype, deadline: Deadline, per_lookup: float):
    """The answer; () when the name or type does not exist (or cannot exist); None on a temporary
    failure, including a deadline that has run out."""
    lifetime = deadline.lifetime(per_lookup)
    if lifetime <= 0:
        return None
    try:
        return resolver.resolve(name, rdtype, search=False, lifetime=lifetime)
    except _ABSENT:
        return ()
    except _TEMPORARY:
        return None
    except (dns.name.NameTooLong, dns.name.EmptyLabel, dns.exception.SyntaxError):
        return ()  # a name that cannot exist in DNS


def lookup(resolver, name, rdtype, deadline: Deadline, per_lookup: float) -> list | None:
    """Records as text; [] when the name or type does not exist; None on a temporary failure."""
    answer = _resolve(resolver, name, rdtype, deadline, per_lookup)
    return None if answer is None else [rdata.to_text() for rdata in answer]


def reverse_dns(resolver, address: str, policy: str, deadline: Deadline, per_lookup: float) -> ReverseDns:
    """Look up the PTR of ``address`` and resolve each name back (AAAA, or A for IPv4).

    The forward lookups are made until one confirms, so the Authentication-Results ``iprev`` is honest;
    under the ``exists`` policy their outcome (even a temporary failure) does not change the decision.
    All of it stays within ``deadline``: names not reached in time count as temporary failures.
    """
    ip = ipaddress.ip_address(address)
    targets = lookup(resolver, dns.reversename.from_address(str(ip)), "PTR", deadline, per_lookup)
    if targets is None:
        return ReverseDns(PtrStatus.TEMPERROR, PtrStatus.TEMPERROR)
    names = tuple(t.rstrip(".").lower() for t in targets[:MAX_PTR_NAMES])
    if not names:
        return ReverseDns(PtrStatus.MISSING, PtrStatus.MISSING)
    rdtype = "AAAA" if ip.version == 6 else "A"
    forward: dict[str, list | None] = {}
    confirmed = None
    for name in names:
        forward[name] = lookup(resolver, name + ".", rdtype, deadline, per_lookup)
        if forward[name] and any(_same_address(a, ip) for a in forward[name]):
            confirmed = name
            break  # one confirming name is enough
    iprev = PtrStatus.PASS if confirmed else classify_ptr(address, names, forward)
    status = iprev if policy == PTR_POLICY_FCRDNS else classify_ptr(address, names)
    return ReverseDns(status, iprev, names, confirmed)


def _same_address(text: str, ip) -> bool:
    try:
        return ipaddress.ip_address(text) == ip
    except ValueError:
        return False


def dkim_key_lookup(resolver, deadline: Deadline, per_lookup: float):
    """A key lookup for dkim_verify: the first TXT record's strings joined, None when there is none."""

    def lookup_key(name: str) -> bytes | None:
        answer = _resolve(resolver, name, "TXT", deadline, per_lookup)
        if answer is None:
            raise DkimKeyTemporaryError(f"key lookup {name} failed temporarily or ran out of time")
        return b"".join(answer[0].strings) if answer else None

    return lookup_key


@dataclass(frozen=True)
class SpfResult:
    result: str  # pass, fail, softfail, neutral, none, temperror, permerror
    identity: str  # "mailfrom" or "helo"
    domain: str
    explanation: str = ""


def check_spf(
    address: str,
    sender: str,
    helo: str,
    deadline: Deadline,
    lookup_timeout: float = 5.0,
    total_timeout: float = 20.0,
) -> SpfResult:
    """RFC 7208 check_host() with pyspf: MAIL FROM, or the HELO identity for the null sender.

    pyspf resolves through dnspython's default resolver; the milter points that at its own resolver.
    Each lookup gets at most ``lookup_timeout``, the whole evaluation at most ``total_timeout`` and never
    more than the decision has left.
    """
    import spf  # imported here so the rest of the package (and its tests) need no pyspf

    helo = (helo or "").strip().rstrip(".")
    sender = (sender or "").strip()
    if sender.startswith("<") and sender.endswith(">"):
        sender = sender[1:-1]
    if sender:
        identity, domain = "mailfrom", sender.rpartition("@")[2]
    else:
        identity, domain = "helo", helo
        sender = f"postmaster@{helo}" if helo else ""
    if not domain:
        return SpfResult("none", identity, domain or "unknown", "no domain to check")
    budget = deadline.lifetime(total_timeout)
    if budget <= 0:
        return SpfResult("temperror", identity, domain.lower(), "decision deadline reached")
    query = spf.query(i=address, s=sender, h=helo or domain, timeout=lookup_timeout, querytime=budget)
    # pyspf replaces the per-lookup limit by querytime when both are given; each lookup then takes
    # min(its own limit, what is left of querytime), as RFC 7208 section 4.6.4 intends.
    query.timeout = lookup_timeout
    result, _code, explanation = query.check()
    return SpfResult(str(result).lower(), identity, domain.lower(), str(explanation))
