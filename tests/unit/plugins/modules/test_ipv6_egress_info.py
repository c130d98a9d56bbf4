"""ipv6_egress_info as Ansible runs it on this machine (real iproute2): loopback and a foreign bind
address are found unusable, bad input fails, and every returned key is documented."""

import pytest
from return_docs import documented, undocumented


def test_loopback_is_not_an_egress_address(ansible_module):
    result = ansible_module("ipv6_egress_info", {"destinations": ["::1"], "bind_address": ""}, check=True)
    assert result["_rc"] == 0 and result["changed"] is False
    (row,) = result["results"]
    found = (row["source"], row["chosen_by"], row["scope"], row["usable"])
    assert found == ("::1", "kernel", "loopback", False)
    assert (result["usable"], result["addresses"]) == (False, [])
    assert undocumented(documented("ipv6_egress_info"), result) == []


def test_a_bind_address_the_host_does_not_have(ansible_module):
    args = {"destinations": ["::1"], "bind_address": "[2001:db8:dead::1]"}
    (row,) = ansible_module("ipv6_egress_info", args)["results"]
    found = (row["source"], row["chosen_by"], row["usable"])
    assert found == ("2001:db8:dead::1", "smtp_bind_address6", False)
    assert any("is not an address of this host" in reason for reason in row["reasons"])


@pytest.mark.parametrize("args, message", [
    ({"destinations": ["198.51.100.10"]}, "destinations: not an IPv6 address: '198.51.100.10'"),
    ({"destinations": []}, "destinations must name at least one IPv6 address"),
    ({"destinations": ["::1"], "bind_address": "mail.example.com"},
     "smtp_bind_address6 is not an IPv6 address: 'mail.example.com'"),
])
def test_bad_input(ansible_module, args, message):
    result = ansible_module("ipv6_egress_info", args)
    assert result["_rc"] != 0 and result["msg"] == message
