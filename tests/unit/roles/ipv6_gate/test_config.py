"""The gate's configuration file and the DNS client it builds (v6gate_gate/config.py, session.Checks)."""

import pytest
from ansible_collections.v6gate.mx.plugins.module_utils import dns_client
from v6gate_gate.config import ConfigError, parse_config
from v6gate_gate.session import Checks

GOOD = """
[gate]
authserv_id = mx.example.net
optin_file = /etc/v6gate/ipv6-optin-domains
ptr_policy = fcrdns
trusted_networks = 2001:db8:feed::/48, 2001:db8:cafe::/64
known_domains = Contoso.example
dns_timeout = 3
"""


def test_parse_config():
    config = parse_config(GOOD)
    assert config.authserv_id == "mx.example.net"
    assert config.ptr_policy == "fcrdns"
    assert [str(n) for n in config.trusted_networks] == ["2001:db8:feed::/48", "2001:db8:cafe::/64"]
    assert config.known_domains == ("Contoso.example",)
    assert config.dns_timeout == 3.0
    assert config.socket == "unix:/run/v6gate-gate/milter.sock"


@pytest.mark.parametrize(
    "socket",
    ["unix:/run/v6gate-gate/milter.sock", "local:/run/gate.sock", "inet:8893@127.0.0.1", "inet6:8893@[::1]"],
)
def test_config_accepts_libmilter_sockets(socket):
    assert parse_config(GOOD + f"socket = {socket}\n").socket == socket


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (("ptr_policy = fcrdns", "ptr_policy = strict"), "ptr_policy must be one of"),
        (("authserv_id = mx.example.net", "authserv_id = mx; evil"), "single token"),
        (("authserv_id = mx.example.net\n", ""), "authserv_id is required"),
        (("2001:db8:cafe::/64", "2001:db8:cafe::/640"), "trusted_networks"),
        (("dns_timeout = 3", "dns_timeout = 0"), "out of range"),
        (("dns_timeout = 3", "dns_timout = 3"), "unknown setting"),
        (("[gate]", "[other]"), "no [gate] section"),
        (("dns_timeout = 3", "socket = /run/gate.sock"), "socket must be"),
        (("dns_timeout = 3", "socket = unix:run/gate.sock"), "socket must be"),
        (("dns_timeout = 3", "socket = inet:99999@127.0.0.1"), "socket must be"),
        (("dns_timeout = 3", "socket = inet:8893@"), "socket must be"),
        # nameservers go through the modules' one parser: each of these used to start a broken gate
        (("dns_timeout = 3", "nameservers = 192.0.2.53@abc"), "nameservers: .*port must be a number"),
        (("dns_timeout = 3", "nameservers = not-an-ip"), "nameservers: .*not an IP address"),
        (("dns_timeout = 3", "nameservers = a b@5353"), "nameservers: nameserver 'a'"),
        (("dns_timeout = 3", "decision_timeout = 0"), "out of range"),
        (("dns_timeout = 3", "max_signatures = 0"), "max_signatures must be 1 or more"),
        (("dns_timeout = 3", "dns_cache_size = lots"), "invalid literal"),
    ],
)
def test_config_errors_are_clear(change, message):
    with pytest.raises(ConfigError, match=message.replace("[", r"\[")):
        parse_config(GOOD.replace(*change))


@pytest.mark.parametrize(
    ("spec", "address", "port"),
    [
        ("[::1]:5353", "::1", 5353),
        ("2001:db8::53@5353", "2001:db8::53", 5353),
        ("192.0.2.53:5300", "192.0.2.53", 5300),
        ("192.0.2.53", "192.0.2.53", 53),
    ],
)
def test_each_nameserver_keeps_its_own_port(spec, address, port):
    config = parse_config(GOOD + f"nameservers = {spec} 198.51.100.53\n")
    client = Checks(config).dns
    assert client.nameservers[0] in (f"{address}:{port}", f"[{address}]:{port}")
    assert client._servers == [(address, port), ("198.51.100.53", 53)]
    # the fallback path (TCP, odd replies) asks the same servers
    assert dns_client._servers_of(client.resolver) == [(address, port), ("198.51.100.53", 53)]


def test_the_dns_cache_is_bounded_and_follows_ttls():
    config = parse_config(GOOD + "nameservers = 192.0.2.53\ndns_cache_size = 7\n")
    client = Checks(config).dns
    assert (client.cache_size, client.keep_for_run) == (7, False)


def test_ports_survive_on_dnspython_before_2_4(monkeypatch):
    """Debian 12 ships dnspython 2.3, which has no dns.nameserver: ports go in nameserver_ports."""
    monkeypatch.setattr(dns_client, "Do53Nameserver", None)
    client = dns_client.DnsClient(["[::1]:5353", "192.0.2.53"])
    assert client.resolver.nameservers == ["::1", "192.0.2.53"]
    assert client.resolver.nameserver_ports == {"::1": 5353, "192.0.2.53": 53}
    assert client._servers == [("::1", 5353), ("192.0.2.53", 53)]
