"""dmarc_info as Ansible runs it, against the real Knot fixture (tests/fixtures/zones/dmarc.example.zone)."""

import pytest

pytestmark = pytest.mark.dns


def call(ansible_module, dns_server, check=False, **args):
    nameservers = [f"127.0.0.1@{dns_server.port}"]
    return ansible_module("dmarc_info", {**args, "nameservers": nameservers}, check=check)


def test_subdomain_gets_the_organizational_domains_sp(ansible_module, dns_server):
    result = call(ansible_module, dns_server, domain="Child.Dmarc.Example.",
                  spf_domain="bounce.dmarc.example", dkim_domains=["esp.example"])
    assert result["_rc"] == 0 and result["changed"] is False
    assert (result["domain"], result["organizational_domain"]) == ("child.dmarc.example", "dmarc.example")
    found = (result["status"], result["found_at"], result["applied_policy"])
    assert found == ("policy", "_dmarc.dmarc.example", "reject")
    assert result["policy"]["p"] == "quarantine" and result["subdomain_policy_applies"] is True
    assert [lookup["name"] for lookup in result["lookups"]] == ["_dmarc.child.dmarc.example",
                                                                "_dmarc.dmarc.example"]
    assert result["result"] == "pass"  # relaxed SPF alignment
    spf = {"domain": "bounce.dmarc.example", "aligned": True, "mode": "relaxed"}
    assert result["alignment"]["spf"] == spf
    assert result["alignment"]["dkim"]["signatures"] == [{"domain": "esp.example", "aligned": False}]


def test_strict_alignment_fails_and_reject_is_asked(ansible_module, dns_server):
    result = call(ansible_module, dns_server, check=True, domain="reject.dmarc.example",
                  spf_domain="mail.reject.dmarc.example")
    assert (result["result"], result["disposition"]) == ("fail", "reject")
    assert result["alignment"]["spf"]["mode"] == "strict"


def test_no_identifiers_and_no_record(ansible_module, dns_server):
    result = call(ansible_module, dns_server, domain="example.org")
    found = (result["status"], result["result"], result["policy"], result["errors"])
    assert found == ("none", "none", None, [])


@pytest.mark.parametrize("args, message", [
    ({"domain": "not a domain"}, "domain: not a valid domain name: 'not a domain'"),
    ({"domain": "dmarc.example", "dkim_domains": ["ok.example", "bad_domain!"]},
     "dkim_domains: not a valid domain name: 'bad_domain!'"),
    ({"domain": "dmarc.example", "public_suffix_list": "/nonexistent/psl.dat"},
     "cannot read the public suffix list /nonexistent/psl.dat: No such file or directory "
     "(Debian: apt install publicsuffix)"),
    ({"domain": "dmarc.example", "timeout": 0}, "timeout must be greater than 0, got 0.0"),
])
def test_bad_input_fails_with_a_clear_message(ansible_module, dns_server, args, message):
    result = call(ansible_module, dns_server, **args)
    assert result["_rc"] != 0 and result["msg"] == message
