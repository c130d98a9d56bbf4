"""ipv6_sender_readiness: predicted replies come from the gate's rule module, checked on the real fixture."""

import pytest
from ansible_collections.v6gate.mx.plugins.module_utils import ipv6_rules
from ansible_collections.v6gate.mx.plugins.module_utils.readiness import assess_sender

pytestmark = pytest.mark.dns

NO_PTR_REPLY = "450 4.7.25 Service unavailable, sending IPv6 address [{}] must have reverse DNS record."
NO_AUTH_REPLY = (
    "450 4.7.26 Service unavailable, message sent over IPv6 [{}] must pass either SPF or DKIM validation."
)


def row(report, address, domain):
    (found,) = [r for r in report["rows"] if r["address"] == address and r["mail_from_domain"] == domain]
    return found


def test_well_configured_sender_is_accepted(client):
    report = assess_sender(client, ["2001:db8:25::10"], "mail.example.com", ["example.com"], ["sel2048"])
    assert report["accepted"] is True
    only = row(report, "2001:db8:25::10", "example.com")
    assert (only["verdict"], only["reply"], only["reply_code"]) == ("accept", "", 250)
    assert (only["reverse_dns"], only["spf"], only["dkim"]) == ("pass", "pass", "pass")


def test_missing_ptr_gives_exact_4_7_25(client):
    report = assess_sender(client, ["2001:0db8:0025::0013"], "mail.example.com", ["example.com"], ["sel2048"])
    only = report["rows"][0]
    assert only["reply"] == NO_PTR_REPLY.format("2001:db8:25::13")
    assert (only["verdict"], only["rule"]) == ("tempfail", "reverse-dns")
    assert any("no PTR record" in reason for reason in only["reasons"])


def test_no_spf_no_dkim_gives_exact_4_7_26(client):
    report = assess_sender(client, ["2001:db8:26::10"], "relay.example.org", ["example.org"], ["sel2048"])
    only = report["rows"][0]
    assert only["reply"] == NO_AUTH_REPLY.format("2001:db8:26::10")
    assert (only["spf"], only["dkim"]) == ("fail", "fail")
    assert "DKIM: no usable key (sel2048._domainkey.example.org: missing)" in only["reasons"]


def test_dkim_alone_is_enough(client):
    report = assess_sender(
        client,
        ["2001:db8:26::10"],
        "relay.example.org",
        ["example.org"],
        ["sel2048"],
        dkim_domains=["example.com"],
    )
    only = report["rows"][0]
    assert (only["spf"], only["dkim"], only["accepted"]) == ("fail", "pass", True)


def test_revoked_or_short_keys_do_not_count_as_dkim(client):
    report = assess_sender(
        client,
        ["2001:db8:26::10"],
        "relay.example.org",
        ["example.org"],
        ["revoked", "short512"],
        dkim_domains=["example.com"],
    )
    assert report["rows"][0]["reply"] == NO_AUTH_REPLY.format("2001:db8:26::10")


def test_spf_alone_is_enough(client):
    report = assess_sender(client, ["2001:db8:25::10"], "mail.example.com", ["example.com"], [])
    assert report["rows"][0]["accepted"] is True


def test_ptr_mismatch_depends_on_policy(client):
    exists = assess_sender(client, ["2001:db8:25::11"], None, ["example.com"], [], ptr_policy="exists")
    assert exists["rows"][0]["accepted"] is True
    fcrdns = assess_sender(client, ["2001:db8:25::11"], None, ["example.com"], [], ptr_policy="fcrdns")
    assert fcrdns["rows"][0]["reply"] == NO_PTR_REPLY.format("2001:db8:25::11")


def test_reverse_dns_servfail_is_temporary_not_4_7_25(client):
    report = assess_sender(client, ["2001:db8:ffff::1"], None, ["plusall.example.com"], [])
    only = report["rows"][0]
    assert only["reply_status"] == "4.4.3" and only["verdict"] == "tempfail"


def test_replies_are_exactly_the_gate_rules(client):
    """Same inputs into ipv6_rules directly must give the same reply the audit predicts."""
    report = assess_sender(client, ["2001:db8:25::13", "2001:db8:26::10"], None, ["example.org"], [])
    for predicted in report["rows"]:
        status = ipv6_rules.PtrStatus(predicted["reverse_dns"])
        expected = ipv6_rules.check_reverse_dns(
            predicted["address"], status
        ) or ipv6_rules.check_authentication(predicted["address"], predicted["spf"] == "pass", False)
        assert predicted["reply"] == str(expected)


def test_dual_stack_disagreement_is_in_the_reasons(client):
    report = assess_sender(client, ["2001:db8:25::10"], None, ["dualstack.example.com"], [])
    only = report["rows"][0]
    assert (only["spf"], only["spf_dual_stack"]) == ("permerror", "pass")
    assert only["reply"] == NO_AUTH_REPLY.format("2001:db8:25::10")
    assert any("dual-stack void counting: pass" in reason for reason in only["reasons"])


def test_ipv4_address_is_refused(client):
    with pytest.raises(ValueError, match="IPv4 mail is never subject"):
        assess_sender(client, ["198.51.100.10"], None, ["example.com"], [])


def test_many_addresses_one_call(client):
    addresses = [f"2001:db8:25::{n:x}" for n in range(0x10, 0x18)] * 3
    report = assess_sender(client, addresses, "mail.example.com", ["example.com"], ["sel2048"])
    assert len(report["rows"]) == 24
    assert client.cache_hits > 0


def test_module_through_ansible(dns_server, ansible_module):
    result = ansible_module(
        "ipv6_sender_readiness_info",
        {
            "addresses": ["2001:db8:25::10", "2001:db8:25::13"],
            "helo": "mail.example.com",
            "mail_from_domains": ["example.com"],
            "dkim_selectors": ["sel2048"],
            "nameservers": [f"127.0.0.1@{dns_server.port}"],
        },
    )
    assert result["_rc"] == 0 and result["changed"] is False
    assert result["accepted"] is False and result["verdict"] == "tempfail"
    assert result["replies"] == [NO_PTR_REPLY.format("2001:db8:25::13")]


def test_module_check_mode(dns_server, ansible_module):
    result = ansible_module(
        "ipv6_sender_readiness_info",
        {
            "addresses": ["2001:db8:25::10"],
            "mail_from_domains": ["example.com"],
            "nameservers": [f"127.0.0.1@{dns_server.port}"],
        },
        check=True,
    )
    assert result["_rc"] == 0 and result["accepted"] is True and result["verdict"] == "accept"


def test_module_bad_input(ansible_module):
    result = ansible_module(
        "ipv6_sender_readiness_info", {"addresses": ["198.51.100.10"], "mail_from_domains": ["example.com"]}
    )
    assert result["failed"] is True
    assert result["msg"] == "not IPv6 (IPv4 mail is never subject to these rules): 198.51.100.10"


def test_dead_nameserver_gives_temporary_4_4_3_never_4_7_25(silent_client):
    report = assess_sender(silent_client, ["2001:db8:25::10"], None, ["example.com"], ["sel2048"])
    only = report["rows"][0]
    assert (only["reverse_dns"], only["verdict"], only["reply_code"], only["reply_status"]) == (
        "temperror",
        "tempfail",
        451,
        "4.4.3",
    )
    assert only["spf"] == "temperror"


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"mail_from_domains": ["exa mple.com"]}, "not a valid MAIL FROM domain: 'exa mple.com'"),
        (
            {"mail_from_domains": ["example.com"], "helo": "-bad-.example"},
            "not a valid HELO name: '-bad-.example'",
        ),
        (
            {"mail_from_domains": ["example.com"], "dkim_selectors": ["a b"]},
            "not a valid DKIM selector: 'a b'",
        ),
        (
            {"mail_from_domains": ["example.com"], "dkim_domains": ["localhost"]},
            "not a valid DKIM signing domain: 'localhost'",
        ),
        ({"mail_from_domains": []}, "give mail_from_domains or a helo name"),
    ],
)
def test_bad_names_are_refused_before_any_lookup(silent_client, kwargs, message):
    arguments = {"helo": None, "dkim_selectors": [], **kwargs}
    with pytest.raises(ValueError) as error:
        assess_sender(
            silent_client,
            ["2001:db8:25::10"],
            arguments.pop("helo"),
            arguments.pop("mail_from_domains"),
            arguments.pop("dkim_selectors"),
            **arguments,
        )
    assert str(error.value) == message
    assert silent_client.queries_sent == 0
