"""plugins/module_utils/egress.py: reading ``ip -j -6`` output and judging the source address."""

import pytest
from ansible_collections.v6gate.mx.plugins.module_utils.egress import (
    address_scope,
    judge,
    parse_host_addresses,
    parse_route,
)

# As iproute2 prints them (ip -j -6 route get / ip -j -6 addr), trimmed.
ROUTE = ('[{"dst":"2001:db8:5::25","from":"::","gateway":"2001:db8:25::1","dev":"eth0",'
         '"prefsrc":"2001:0db8:0025::0010","metric":1024,"flags":[],"pref":"medium"}]')
LOCAL = '[{"type":"local","dst":"::1","from":"::","dev":"lo","table":"local","prefsrc":"::1"}]'
ADDRESSES = ('[{"ifname":"lo","addr_info":[{"family":"inet6","local":"::1","prefixlen":128}]},'
             '{"ifname":"eth0","addr_info":[{"family":"inet6","local":"2001:db8:25::10","prefixlen":64},'
             '{"family":"inet6","local":"2001:db8:25::99","prefixlen":64},'
             '{"family":"inet6","local":"fe80::1","prefixlen":64}]}]')
HOST = parse_host_addresses(ADDRESSES)


@pytest.mark.parametrize("address, scope", [
    ("2001:db8:25::10", "global"), ("2a01:111:f200:2004::240", "global"), ("fd00::2", "ula"),
    ("fe80::1", "link-local"), ("::1", "loopback"), ("ff02::1", "other"), ("::ffff:198.51.100.10", "other"),
])
def test_scope(address, scope):
    assert address_scope(address) == scope


def test_route_and_addresses_are_read():
    assert parse_route(ROUTE) == {"source": "2001:db8:25::10", "device": "eth0", "gateway": "2001:db8:25::1",
                                  "type": "unicast"}
    assert sorted(HOST) == ["2001:db8:25::10", "2001:db8:25::99", "::1", "fe80::1"]


@pytest.mark.parametrize("text", ["", "[]", "{}", "not json"])
def test_unreadable_route_output_is_an_error(text):
    with pytest.raises(ValueError, match="route get"):
        parse_route(text)


def test_the_kernels_choice():
    result = judge("2001:db8:5::25", parse_route(ROUTE), "", HOST)
    assert (result["source"], result["chosen_by"], result["usable"], result["reasons"]) == (
        "2001:db8:25::10", "kernel", True, [])


def test_the_bind_address_wins_and_must_be_ours():
    chosen = judge("2001:db8:5::25", parse_route(ROUTE), "2001:db8:25::99", HOST)
    found = (chosen["source"], chosen["chosen_by"], chosen["usable"])
    assert found == ("2001:db8:25::99", "smtp_bind_address6", True)
    foreign = judge("2001:db8:5::25", parse_route(ROUTE), "2001:db8:77::1", HOST)
    assert not foreign["usable"]
    assert foreign["reasons"] == ["smtp_bind_address6 2001:db8:77::1 is not an address of this host: Postfix "
                                  "cannot bind to it and IPv6 deliveries fail"]


def test_addresses_receivers_never_see():
    loopback = judge("::1", parse_route(LOCAL), "", HOST)
    assert not loopback["usable"] and loopback["reasons"] == [
        "::1 is a loopback address: receivers on the internet never see it"]
    unrouted = judge("2001:db8:5::25", None, "", HOST, route_error="Network is unreachable")
    assert unrouted["reasons"][0] == "no IPv6 route to 2001:db8:5::25: Network is unreachable"
