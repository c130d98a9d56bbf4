"""Every key a module returns is in its RETURN documentation (nested lists and dicts included), so
``ansible-doc`` tells a user all there is to register."""

import pytest
from return_docs import documented, undocumented

CALLS = {
    "reverse_dns_info": {"address": ["2001:db8:25::10", "2001:db8:25::18"]},
    "spf_check_info": {"address": ["2001:db8:25::10"], "mail_from": "user@example.com",
                       "helo": "mail.example.com"},
    "dkim_record_info": {"selector": ["sel2048"], "domain": "example.com"},
    "dmarc_info": {"domain": "child.dmarc.example", "spf_domain": "dmarc.example",
                   "dkim_domains": ["other.example"]},
    "ipv6_sender_readiness_info": {"addresses": ["2001:db8:25::10"], "mail_from_domains": ["example.com"],
                                   "helo": "mail.example.com", "dkim_selectors": ["sel2048"]},
}


@pytest.mark.dns
@pytest.mark.parametrize("module", sorted(CALLS))
def test_every_returned_key_is_documented(dns_server, ansible_module, module):
    result = ansible_module(module, {**CALLS[module], "nameservers": [f"127.0.0.1@{dns_server.port}"]})
    assert result["_rc"] == 0, result.get("msg")
    assert undocumented(documented(module), result) == []
