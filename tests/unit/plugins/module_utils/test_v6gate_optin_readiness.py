"""Readiness checks for the IPv6 opt-in, one reason at a time, against the real Knot fixture and real
SMTP sockets on ::1 (zones: tests/fixtures/zones/optin.example.zone and its reverse zones)."""

import pytest
from ansible_collections.v6gate.mx.plugins.module_utils.dns_client import DnsClient
from ansible_collections.v6gate.mx.plugins.module_utils.v6gate_optin import (
    CHECKS,
    assess_readiness,
    parse_smtp_addresses,
    smtp_greeting,
)

pytestmark = pytest.mark.dns

ACCEPTED = [
    "ready.optin.example",
    "ready2.optin.example",
    "loop.optin.example",
    "nomx.optin.example",
    "missing.optin.example",
    "nullmx.optin.example",
    "v4only.optin.example",
    "partial.optin.example",
    "noptr.optin.example",
    "mismatch.optin.example",
    "ghostmx.optin.example",
    "tempmx.optin.example",
]
NO_SMTP = ["smtp_ipv6"]


def statuses(report):
    return {check["check"]: check["status"] for check in report["checks"]}


def check(report, name):
    return next(c for c in report["checks"] if c["check"] == name)


def test_ready_domain_passes_every_check(client, smtp_listener):
    report = assess_readiness(
        client,
        "ready.optin.example",
        ACCEPTED,
        smtp_addresses=["::1"],
        smtp_port=smtp_listener.port,
        smtp_timeout=2,
    )
    assert report["ready"] is True and report["reasons"] == []
    assert statuses(report) == dict.fromkeys(CHECKS, "pass")
    assert report["mx_hosts"] == ["mx1.optin.example"] and report["addresses"] == ["2001:db8:6::25"]
    assert check(report, "mx_ptr")["detail"] == "2001:db8:6::25 PTR mx1.optin.example"
    assert smtp_listener.sessions == 1 and smtp_listener.quits == 1


def test_default_smtp_targets_are_the_mx_addresses(client, smtp_listener):
    # loop.optin.example's MX host has AAAA ::1 (and a PTR for it), so without smtp_addresses the check
    # connects to the MX address itself, here the test listener.
    report = assess_readiness(
        client, "loop.optin.example", ACCEPTED, smtp_port=smtp_listener.port, smtp_timeout=2
    )
    assert report["ready"] is True, report["reasons"]
    assert check(report, "smtp_ipv6")["targets"] == ["::1"]
    assert "greets: 220 mx.optin.example ESMTP" in check(report, "smtp_ipv6")["detail"]
    assert smtp_listener.sessions == 1


def test_not_an_accepted_domain(client):
    report = assess_readiness(client, "ready.optin.example", ["example.com", "example.net"], skip=NO_SMTP)
    assert report["ready"] is False
    assert statuses(report)["accepted_domain"] == "fail"
    assert report["reasons"] == [
        "accepted_domain: ready.optin.example is not one of the domains this MX "
        "accepts mail for (example.com, example.net)"
    ]
    # the DNS checks still run, so one run shows everything that needs fixing
    assert statuses(report)["mx_ptr"] == "pass"


def test_accepted_domain_compares_case_and_idna(client):
    report = assess_readiness(client, "READY.optin.example.", ["Ready.Optin.Example"], skip=NO_SMTP)
    assert report["ready"] is True


def test_no_accepted_domains_given_is_a_failure_not_a_pass(client):
    report = assess_readiness(client, "ready.optin.example", [], skip=NO_SMTP)
    assert statuses(report)["accepted_domain"] == "fail"
    assert "accepted_domains is empty" in report["reasons"][0]


@pytest.mark.parametrize(
    ("domain", "detail"),
    [
        ("nomx.optin.example", "nomx.optin.example has no MX record (nodata)"),
        ("missing.optin.example", "missing.optin.example has no MX record (nxdomain)"),
        ("nullmx.optin.example", "nullmx.optin.example publishes a null MX (RFC 7505): it accepts no mail"),
    ],
)
def test_no_mx(client, domain, detail):
    report = assess_readiness(client, domain, ACCEPTED)
    assert report["ready"] is False
    assert statuses(report) == {
        "accepted_domain": "pass",
        "mx": "fail",
        "mx_aaaa": "unchecked",
        "mx_ptr": "unchecked",
        "smtp_ipv6": "unchecked",
    }
    assert report["reasons"][0].startswith(f"mx: {detail}")
    assert check(report, "smtp_ipv6")["detail"] == "not checked: the MX check failed"


@pytest.mark.parametrize(
    ("domain", "outcome"),
    [
        ("v4only.optin.example", "mx-v4.optin.example (nodata)"),
        ("ghostmx.optin.example", "ghost.optin.example (nxdomain)"),
    ],
)
def test_mx_without_aaaa(client, domain, outcome):
    report = assess_readiness(client, domain, ACCEPTED)
    assert report["ready"] is False
    assert statuses(report) == {
        "accepted_domain": "pass",
        "mx": "pass",
        "mx_aaaa": "fail",
        "mx_ptr": "unchecked",
        "smtp_ipv6": "unchecked",
    }
    assert report["reasons"] == [
        f"mx_aaaa: no MX host has an AAAA record: {outcome}; IPv6 senders cannot reach the domain"
    ]


def test_backup_mx_without_aaaa_is_noted_not_refused(client):
    report = assess_readiness(client, "partial.optin.example", ACCEPTED, skip=NO_SMTP)
    assert report["ready"] is True
    assert report["mx_hosts"] == ["mx1.optin.example", "mx-v4.optin.example"]
    assert "without AAAA: mx-v4.optin.example (nodata)" in check(report, "mx_aaaa")["detail"]


def test_aaaa_without_ptr(client):
    report = assess_readiness(client, "noptr.optin.example", ACCEPTED, skip=NO_SMTP)
    assert report["ready"] is False
    assert statuses(report)["mx_ptr"] == "fail"
    assert report["reasons"] == ["mx_ptr: 2001:db8:6::26 no PTR (nxdomain)"]


def test_ptr_that_does_not_resolve_back_is_enough_but_noted(client):
    report = assess_readiness(client, "mismatch.optin.example", ACCEPTED, skip=NO_SMTP)
    assert report["ready"] is True
    assert check(report, "mx_ptr")["detail"] == (
        "2001:db8:6::27 PTR mx1.optin.example (does not resolve back to the address)"
    )


def test_every_address_of_every_mx_host_is_checked(client):
    report = assess_readiness(client, "ready2.optin.example", ACCEPTED, skip=NO_SMTP)
    assert report["ready"] is True
    assert report["addresses"] == ["2001:db8:6::25", "2001:db8:6::2a"]
    assert "2001:db8:6::2a PTR mx2.optin.example" in check(report, "mx_ptr")["detail"]


def test_servfail_on_mx_host_is_temporary(client):
    report = assess_readiness(client, "tempmx.optin.example", ACCEPTED)
    assert report["ready"] is False and report["temporary"] is True
    aaaa = check(report, "mx_aaaa")
    assert (aaaa["status"], aaaa["temporary"]) == ("fail", True)
    assert aaaa["detail"] == "AAAA lookup failed temporarily for host.servfail.example (servfail); try again"


def test_dns_timeout_is_temporary(silent_dns_server):
    silent = DnsClient([silent_dns_server.nameserver_spec], timeout=0.3, retries=0)
    report = assess_readiness(silent, "ready.optin.example", ACCEPTED)
    mx = check(report, "mx")
    assert (report["ready"], mx["status"], mx["temporary"]) == (False, "fail", True)
    assert mx["detail"].startswith("MX lookup for ready.optin.example failed temporarily (timeout")


def test_smtp_refused(client, closed_port):
    report = assess_readiness(
        client, "ready.optin.example", ACCEPTED, smtp_addresses=["::1"], smtp_port=closed_port, smtp_timeout=2
    )
    assert report["ready"] is False
    assert report["reasons"] == [f"smtp_ipv6: [::1]:{closed_port} not reachable: Connection refused"]


def test_smtp_greeting_that_is_not_220(client, smtp_listener_554):
    report = assess_readiness(
        client,
        "ready.optin.example",
        ACCEPTED,
        smtp_addresses=["::1"],
        smtp_port=smtp_listener_554.port,
        smtp_timeout=2,
    )
    assert report["ready"] is False
    assert report["reasons"] == [
        f"smtp_ipv6: [::1]:{smtp_listener_554.port} answers but does not accept "
        "mail: 554 5.3.2 mx.optin.example not accepting mail"
    ]


def test_smtp_every_target_must_greet(smtp_listener, closed_port):
    ok, detail = smtp_greeting("::1", smtp_listener.port, 2)
    assert ok and detail.endswith("220 mx.optin.example ESMTP v6gate-test")
    ok, detail = smtp_greeting("::1", closed_port, 2)
    assert not ok and "Connection refused" in detail


def test_smtp_only_needs_no_dns(smtp_listener):
    report = assess_readiness(
        None,
        "ready.optin.example",
        ACCEPTED,
        skip=["mx", "mx_aaaa", "mx_ptr"],
        smtp_addresses=["::1"],
        smtp_port=smtp_listener.port,
        smtp_timeout=2,
    )
    assert statuses(report) == {
        "accepted_domain": "pass",
        "mx": "skipped",
        "mx_aaaa": "skipped",
        "mx_ptr": "skipped",
        "smtp_ipv6": "pass",
    }
    assert report["ready"] is True


def test_skipped_checks_are_reported_as_skipped(client):
    report = assess_readiness(
        client, "noptr.optin.example", [], skip=["accepted_domain", "mx_ptr", "smtp_ipv6"]
    )
    assert statuses(report) == {
        "accepted_domain": "skipped",
        "mx": "pass",
        "mx_aaaa": "pass",
        "mx_ptr": "skipped",
        "smtp_ipv6": "skipped",
    }
    assert report["ready"] is True


@pytest.mark.parametrize("bad", ["198.51.100.10", "::ffff:198.51.100.10", "mx1.optin.example"])
def test_smtp_addresses_must_be_ipv6(bad):
    with pytest.raises(ValueError, match="smtp_addresses must be IPv6 addresses"):
        parse_smtp_addresses(["::1", bad])


def test_smtp_addresses_forms():
    assert parse_smtp_addresses(["[2001:DB8:6::25]", " ::1 "]) == ["2001:db8:6::25", "::1"]
