"""plugins/module_utils/iprev.py: reverse DNS as the gate and the audit both look it up (real Knot)."""

import pytest
from ansible_collections.v6gate.mx.plugins.module_utils.iprev import (
    MAX_PTR_NAMES,
    check_reverse,
    reverse_dns,
)
from ansible_collections.v6gate.mx.plugins.module_utils.ipv6_rules import PtrStatus

pytestmark = pytest.mark.dns


@pytest.mark.parametrize(
    ("address", "iprev", "exists", "fcrdns"),
    [
        ("2001:db8:25::10", PtrStatus.PASS, PtrStatus.PASS, PtrStatus.PASS),
        ("2001:db8:25::11", PtrStatus.MISMATCH, PtrStatus.PASS, PtrStatus.MISMATCH),
        ("2001:db8:25::13", PtrStatus.MISSING, PtrStatus.MISSING, PtrStatus.MISSING),
        ("2001:db8:25::16", PtrStatus.TEMPERROR, PtrStatus.PASS, PtrStatus.TEMPERROR),
        ("2001:db8:ffff::1", PtrStatus.TEMPERROR, PtrStatus.TEMPERROR, PtrStatus.TEMPERROR),
    ],
)
def test_status_under_each_policy(client, address, iprev, exists, fcrdns):
    """A forward lookup that fails does not matter under "exists"; a PTR lookup that fails always does."""
    reverse = reverse_dns(client, address)
    assert (reverse.iprev, reverse.status("exists"), reverse.status("fcrdns")) == (iprev, exists, fcrdns)


def test_the_gate_stops_at_the_first_confirming_name_the_audit_resolves_all(client):
    gate = reverse_dns(client, "2001:db8:25::12")
    audit = reverse_dns(client, "2001:db8:25::12", confirm_all=True)
    assert gate.iprev is audit.iprev is PtrStatus.PASS
    assert len(audit.forward) == 2
    assert len(gate.forward) == (1 if gate.forward[0].confirmed else 2)
    assert gate.confirmed_name == audit.confirmed_name == "multi-a.example.com"


def test_a_sender_with_many_ptr_names_gets_only_ten_resolved(client):
    """A sender's reverse zone may list any number of names; each would cost the gate a lookup."""
    reverse = reverse_dns(client, "2001:db8:25::18", confirm_all=True)
    assert len(reverse.ptr.records) == 12
    assert (len(reverse.names), reverse.names_skipped) == (MAX_PTR_NAMES, 2)
    assert len(reverse.forward) == MAX_PTR_NAMES
    assert reverse.iprev is PtrStatus.MISMATCH
    report = check_reverse(client, "2001:db8:25::18")
    assert report["status"] == "mismatch" and len(report["ptr_names"]) == 12
    assert report["warnings"] == ["12 PTR names; only the first 10 are resolved back, as the gate does"]
