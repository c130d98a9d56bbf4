"""spf_check: pyspf results, lookup and void counts, dual-stack counting and warnings, on the real fixture."""

import pytest
from ansible_collections.v6gate.mx.plugins.module_utils.spf_eval import analyse_spf_tree, check_spf

pytestmark = pytest.mark.dns

V6 = "2001:db8:25::10"
V4 = "198.51.100.10"


@pytest.mark.parametrize(
    ("address", "domain", "result"),
    [
        (V6, "example.com", "pass"),  # ip6: range
        (V4, "example.com", "pass"),  # ip4: range
        ("2001:db8:77::25", "example.com", "pass"),  # through include -> include chain
        ("2001:db8:77::25", "chain.example.com", "pass"),
        ("2001:db8:99::1", "chain.example.com", "fail"),
        (V6, "redirect.example.com", "pass"),
        ("2001:db8:99::1", "redirect.example.com", "fail"),
        (V6, "macro.example.com", "pass"),
        (V4, "macro.example.com", "pass"),
        ("2001:db8:25::11", "macro.example.com", "fail"),
        (V6, "split.example.com", "pass"),
        (V6, "softfail.example.com", "softfail"),
        (V6, "neutral.example.com", "neutral"),
        (V6, "nospf.example.com", "none"),
        (V6, "nonexistent.example.com", "none"),
        (V6, "multiple.example.com", "permerror"),
        (V6, "toomany.example.com", "permerror"),
        (V6, "void.example.com", "permerror"),
        (V6, "tempfail.example.com", "temperror"),
        (V6, "example.org", "fail"),
        ("2001:db8:77::25", "example.net", "pass"),  # mx mechanism
        (V6, "ptr.example.com", "pass"),
    ],
)
def test_spf_result(client, address, domain, result):
    assert check_spf(client, address, domain, "mail.example.com")["result"] == result


def test_report_fields_for_a_well_configured_sender(client):
    report = check_spf(client, V6, "bounces@example.com", "mail.example.com")
    assert report["mail_from"] == "bounces@example.com"
    assert report["identity"] == "mailfrom"
    assert report["record"] == "v=spf1 ip6:2001:db8:25::/48 ip4:198.51.100.0/25 include:_spf.example.net -all"
    assert report["lookup_count"] == 2  # include:_spf.example.net and its include:_spf2.example.net
    assert report["warnings"] == []


def test_helo_identity_when_no_mail_from(client):
    report = check_spf(client, V6, None, "mail.example.com")
    assert (report["identity"], report["domain"], report["result"]) == ("helo", "mail.example.com", "pass")


def test_more_than_ten_lookups(client):
    report = check_spf(client, V6, "toomany.example.com", "mail.example.com")
    assert report["lookup_count"] == 11
    assert "Too many DNS lookups" in report["explanation"]
    assert any("needs 11 DNS lookups" in w for w in report["warnings"])


def test_void_lookups_over_limit_for_every_family(client):
    for address in (V6, V4):
        report = check_spf(client, address, "void.example.com", "mail.example.com")
        assert report["void_lookup_count"] == 3
        assert report["void_lookup_count_dual_stack"] == 3
        assert report["result_dual_stack"] == "permerror"


def test_dual_stack_void_counting_disagrees_with_pyspf(client):
    report = check_spf(client, V6, "dualstack.example.com", "mail.example.com")
    assert (report["result"], report["void_lookup_count"]) == ("permerror", 3)
    assert (report["result_dual_stack"], report["void_lookup_count_dual_stack"]) == ("pass", 0)
    assert report["dual_stack_exempted_lookups"] == 3
    assert any("receivers disagree" in w for w in report["warnings"])


def test_dual_stack_record_is_fine_for_ipv4_senders(client):
    report = check_spf(client, "198.51.100.201", "dualstack.example.com", "mail.example.com")
    assert (report["result"], report["void_lookup_count"]) == ("pass", 0)


def test_warnings_for_ptr_plus_all_missing_and_multiple(client):
    def warnings(domain):
        return " | ".join(check_spf(client, V6, domain, "mail.example.com")["warnings"])

    assert "ptr mechanism" in warnings("ptr.example.com")
    assert "+all" in warnings("plusall.example.com")
    assert "no SPF record at nospf.example.com" in warnings("nospf.example.com")
    assert "2 SPF records" in warnings("multiple.example.com")


def test_include_target_servfail_is_temperror_and_flagged(client):
    report = check_spf(client, V6, "tempfail.example.com", "mail.example.com")
    assert report["result"] == "temperror"
    assert "SERVFAIL" in report["explanation"]
    assert analyse_spf_tree(client, "tempfail.example.com")["temporary"] is True


def test_dead_nameserver_gives_temperror(silent_client):
    assert check_spf(silent_client, V6, "example.com", "mail.example.com")["result"] == "temperror"


def test_module_through_ansible(dns_server, ansible_module):
    result = ansible_module(
        "spf_check_info",
        {
            "address": [V6],
            "mail_from": "dualstack.example.com",
            "helo": "mail.example.com",
            "nameservers": [f"127.0.0.1@{dns_server.port}"],
        },
    )
    assert result["_rc"] == 0 and result["changed"] is False
    assert (result["result"], result["result_dual_stack"]) == ("permerror", "pass")
    assert (result["void_lookup_count"], result["void_lookup_count_dual_stack"]) == (3, 0)
    assert any("receivers disagree" in w for w in result["warnings_found"])


def test_module_check_mode(dns_server, ansible_module):
    result = ansible_module(
        "spf_check_info",
        {
            "address": ["2001:db8:77::25", V4],
            "mail_from": "example.com",
            "nameservers": [f"127.0.0.1@{dns_server.port}"],
        },
        check=True,
    )
    assert result["_rc"] == 0
    assert [r["result"] for r in result["results"]] == ["pass", "pass"]


def test_module_needs_mail_from_or_helo(ansible_module):
    result = ansible_module("spf_check_info", {"address": [V6]})
    assert result["failed"] is True
    assert "one of the following is required: mail_from, helo" in result["msg"]


def test_module_bad_address(ansible_module):
    result = ansible_module("spf_check_info", {"address": ["not-an-ip"], "mail_from": "example.com"})
    assert result["failed"] is True
    assert result["msg"] == "not an IPv4 or IPv6 address: 'not-an-ip'"


def test_null_sender_is_checked_as_helo(client):
    report = check_spf(client, V6, "<>", "mail.example.com")
    assert (report["identity"], report["domain"], report["result"]) == ("helo", "mail.example.com", "pass")


def test_module_null_sender_needs_a_valid_helo(ansible_module):
    result = ansible_module("spf_check_info", {"address": [V6], "mail_from": "<>"})
    assert result["failed"] is True
    assert "null sender is checked as the HELO identity" in result["msg"]


def test_module_mail_from_without_domain_is_refused(dns_server, ansible_module):
    """``a@`` has no domain: the module says so instead of asking DNS for an empty name."""
    result = ansible_module("spf_check_info", {"address": [V6], "mail_from": "a@", "helo": "mail.example.com",
                                          "nameservers": [f"127.0.0.1@{dns_server.port}"]})
    assert result["failed"] is True
    assert result["msg"] == "mail_from 'a@' has no domain after the @: nothing to check"


@pytest.mark.parametrize(
    ("mail_from", "helo", "why"),
    [
        ("user@bad domain", "mail.example.com", "MAIL FROM domain 'bad domain' holds white space"),
        (f"user@{'x' * 64}.example.com", "mail.example.com", "has a label over 63 octets"),
        ("user@foo..example.com", "mail.example.com", "has an empty label"),
        ("user@[192.0.2.1]", "mail.example.com", "is an address literal"),
        ("<>", "localhost", "HELO name 'localhost' is not a fully qualified domain name"),
    ],
)
def test_module_identity_rfc7208_makes_none_is_a_result_not_a_failure(dns_server, ansible_module, mail_from,
                                                                       helo, why):
    """RFC 7208 section 4.3: such identities evaluate to none; the audit reports that with the reason."""
    result = ansible_module("spf_check_info", {"address": [V6], "mail_from": mail_from, "helo": helo,
                                          "nameservers": [f"127.0.0.1@{dns_server.port}"]})
    assert result["_rc"] == 0, result.get("msg")
    assert result["result"] == "none"
    assert any(why in warning for warning in result["warnings_found"])


def test_redirect_written_as_a_mechanism_is_a_permerror_not_a_crash(client):
    """openspf's redirect-is-modifier: ``redirect:x`` is an unknown mechanism, and the tree walk survives."""
    tree = analyse_spf_tree(client, "redirect-colon.example.com")
    assert tree["lookup_count"] == 0
    report = check_spf(client, V6, "user@redirect-colon.example.com", "mail.example.com")
    assert report["result"] == "permerror"


def test_a_quoted_local_part_with_an_at_sign_checks_the_real_domain(client):
    """RFC 5321 allows "a@b"@example.com; the domain is what follows the last @, for the check and for
    the report alike."""
    report = check_spf(client, V6, '"a@b"@example.com', "mail.example.com")
    assert (report["domain"], report["result"]) == ("example.com", "pass")
