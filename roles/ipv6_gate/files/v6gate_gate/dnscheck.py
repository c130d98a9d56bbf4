"""DNS work for the gate: reverse DNS (PTR, optionally forward-confirmed) and SPF, with hard time limits.

A lookup that fails temporarily (SERVFAIL, timeout, no reachable nameserver) is reported as such and
never as "no record": the rules turn it into a 4xx of its own.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass

import dns.exception
import dns.resolver
import dns.reversename

from .rules import PTR_POLICY_FCRDNS, PtrStatus, classify_ptr

MAX_PTR_NAMES = 10  # a reverse name with more PTRs than this is not a mail server worth confirming fully

_ABSENT = (dns.resolver.NXDOMAIN, dns.resolver.NoAnswer)
_TEMPORARY = (dns.exception.Timeout, dns.resolver.NoNameservers, dns.resolver.LifetimeTimeout)


def make_resolver(nameservers=(), timeout: float = 5.0) -> dns.resolver.Resolver:
    """The system resolver (/etc/resolv.conf) or explicit ``host`` / ``host@port`` nameservers."""
    resolver = dns.resolver.Resolver(configure=not nameservers)
    if nameservers:
        resolver.nameservers = []
        for spec in nameservers:
            host, _, port = spec.partition("@")
            resolver.nameservers.append(host)
            if port:
                resolver.port = int(port)
    resolver.lifetime = timeout
    resolver.timeout = min(timeout, 2.0)
    resolver.cache = dns.resolver.Cache(cleaning_interval=300)
    return resolver


@dataclass(frozen=True)
class ReverseDns:
    status: PtrStatus  # as the configured PTR policy judges it (what the rule uses)
    iprev: PtrStatus  # full forward-confirmed result (RFC 8601 iprev), for Authentication-Results
    names: tuple[str, ...] = ()  # PTR targets, without trailing dot
    confirmed_name: str | None = None


def _lookup(resolver, name, rdtype) -> list | None:
    """Records as text; [] when the name or type does not exist; None on a temporary failure."""
    try:
        answer = resolver.resolve(name, rdtype, search=False)
    except _ABSENT:
        return []
    except _TEMPORARY:
        return None
    return [rdata.to_text() for rdata in answer]


def reverse_dns(resolver, address: str, policy: str) -> ReverseDns:
    """Look up the PTR of ``address`` and resolve each name back (AAAA, or A for IPv4).

    The forward lookups are always made, so the Authentication-Results ``iprev`` is honest; under the
    ``exists`` policy their outcome (even a temporary failure) does not change the decision.
    """
    ip = ipaddress.ip_address(address)
    targets = _lookup(resolver, dns.reversename.from_address(str(ip)), "PTR")
    if targets is None:
        return ReverseDns(PtrStatus.TEMPERROR, PtrStatus.TEMPERROR)
    names = tuple(t.rstrip(".").lower() for t in targets[:MAX_PTR_NAMES])
    if not names:
        return ReverseDns(PtrStatus.MISSING, PtrStatus.MISSING)
    rdtype = "AAAA" if ip.version == 6 else "A"
    forward: dict[str, list | None] = {}
    confirmed = None
    for name in names:
        forward[name] = _lookup(resolver, name + ".", rdtype)
        if forward[name] and any(ipaddress.ip_address(a) == ip for a in forward[name]):
            confirmed = name
            break  # one confirming name is enough
    iprev = PtrStatus.PASS if confirmed else classify_ptr(address, names, forward)
    status = iprev if policy == PTR_POLICY_FCRDNS else classify_ptr(address, names)
    return ReverseDns(status, iprev, names, confirmed)


@dataclass(frozen=True)
class SpfResult:
    result: str  # pass, fail, softfail, neutral, none, temperror, permerror
    identity: str  # "mailfrom" or "helo"
    domain: str
    explanation: str = ""


def check_spf(
    address: str, sender: str, helo: str, lookup_timeout: float = 5.0, total_timeout: float = 20.0
) -> SpfResult:
    """RFC 7208 check_host() with pyspf: MAIL FROM, or the HELO identity for the null sender.

    pyspf resolves through dnspython's default resolver; the milter points that at its own resolver.
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
    query = spf.query(i=address, s=sender, h=helo or domain, timeout=lookup_timeout, querytime=total_timeout)
    result, _code, explanation = query.check()
    return SpfResult(str(result).lower(), identity, domain.lower(), str(explanation))
