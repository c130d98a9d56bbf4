# Copyright: v6gate developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Reverse DNS of a client address (RFC 8601 "iprev"): its PTR names, each resolved back to see whether
it names the address again. The gate judges live clients with it and the audit predicts with it.

What a policy makes of the result is ``ipv6_rules``' business; this file only looks up and classifies.
"""

from __future__ import annotations

from dataclasses import dataclass

from ansible_collections.v6gate.mx.plugins.module_utils.addresses import parse_address, same_address
from ansible_collections.v6gate.mx.plugins.module_utils.dns_client import (
    ANSWER,
    Deadline,
    DnsClient,
    DnsResult,
)
from ansible_collections.v6gate.mx.plugins.module_utils.ipv6_rules import (
    PTR_POLICY_FCRDNS,
    PtrStatus,
    classify_ptr,
)

MAX_PTR_NAMES = 10  # a reverse name with more PTRs than this is not a mail server worth confirming fully


@dataclass(frozen=True)
class ForwardLookup:
    name: str
    result: DnsResult
    confirmed: bool  # an address of the answer is the client's


@dataclass(frozen=True)
class ReverseDns:
    address: str  # compressed
    version: int
    ptr: DnsResult
    names: tuple[str, ...]  # PTR targets looked at (at most MAX_PTR_NAMES)
    names_skipped: int  # PTR targets beyond MAX_PTR_NAMES, never looked up
    forward: tuple[ForwardLookup, ...]
    iprev: PtrStatus  # the full forward-confirmed result

    @property
    def confirmed_name(self) -> str | None:
        return next((f.name for f in self.forward if f.confirmed), None)

    def status(self, policy: str) -> PtrStatus:
        """The result as ``policy`` judges it: ``fcrdns`` needs a confirming name, ``exists`` a PTR."""
        if policy == PTR_POLICY_FCRDNS:
            return self.iprev
        return classify_ptr(self.address, None if self.ptr.is_temporary else self.names)


def reverse_dns(client: DnsClient, address, deadline: Deadline | None = None,
                confirm_all: bool = False) -> ReverseDns:
    """Look up the PTR of ``address`` and resolve its names back (AAAA, or A for IPv4).

    The gate stops at the first confirming name (one is enough); the audit passes ``confirm_all`` to
    report every name. Either way the status is the same: a confirming name makes it PASS, and without
    one every name was looked up. Names not reached before ``deadline`` count as temporary failures.
    """
    ip = parse_address(address) if isinstance(address, str) else address
    ptr = client.resolve(ip.reverse_pointer, "PTR", deadline)
    names = tuple(ptr.records[:MAX_PTR_NAMES])  # no records on a temporary failure
    skipped = max(0, len(ptr.records) - MAX_PTR_NAMES)
    forward_type = "AAAA" if ip.version == 6 else "A"
    forward: list[ForwardLookup] = []
    for name in names:
        result = client.resolve(name, forward_type, deadline)
        confirmed = result.outcome == ANSWER and any(same_address(a, ip) for a in result.records)
        forward.append(ForwardLookup(name, result, confirmed))
        if confirmed and not confirm_all:
            break
    iprev = classify_ptr(ip.compressed, None if ptr.is_temporary else names, {
        f.name: None if f.result.is_temporary else list(f.result.records) for f in forward})
    return ReverseDns(ip.compressed, ip.version, ptr, names, skipped, tuple(forward), iprev)


def reverse_report(reverse: ReverseDns, input_text: str | None = None) -> dict:
    """The audit modules' view of one reverse lookup (``status`` is the full forward-confirmed result)."""
    report = {
        "input": input_text if input_text is not None else reverse.address,
        "address": reverse.address,
        "family": f"ipv{reverse.version}",
        "reverse_name": reverse.ptr.name,
        "ptr_outcome": reverse.ptr.outcome,
        "ptr_names": list(reverse.ptr.records),
        "forward": [{"name": f.name, "type": f.result.rdtype, "outcome": f.result.outcome,
                     "addresses": list(f.result.records), "confirmed": f.confirmed} for f in reverse.forward],
        "confirmed_names": [f.name for f in reverse.forward if f.confirmed],
        "detail": reverse.ptr.detail,
        "status": reverse.iprev.value,
        "warnings": [],
    }
    if reverse.names_skipped:
        report["warnings"].append(
            f"{len(reverse.ptr.records)} PTR names; only the first {MAX_PTR_NAMES} are resolved back, as the "
            "gate does")
    return report


def check_reverse(client: DnsClient, address) -> dict:
    """The audit's one call: every PTR name resolved back, as a report."""
    text = address if isinstance(address, str) else None
    return reverse_report(reverse_dns(client, address, confirm_all=True), text)
