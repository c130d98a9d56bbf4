"""The gate's configuration file and the resolver it builds (v6gate_gate/config.py, dnscheck.py)."""

import pytest
from v6gate_gate import dnscheck
from v6gate_gate.config import ConfigError, parse_config

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
    servers = dnscheck.make_resolver(config.nameservers).nameservers
    assert [(s.address, s.port) for s in servers] == [(address, port), ("198.51.100.53", 53)]


def test_the_dns_cache_is_bounded():
    resolver = dnscheck.make_resolver(["192.0.2.53"], cache_size=7)
    assert resolver.cache.max_size == 7


def test_ports_survive_on_dnspython_before_2_4(monkeypatch):
    """Debian 12 ships dnspython 2.3, which has no dns.nameserver: ports go in nameserver_ports."""
    monkeypatch.setattr(dnscheck, "Do53Nameserver", None)
    resolver = dnscheck.make_resolver(["[::1]:5353", "192.0.2.53"])
    assert resolver.nameservers == ["::1", "192.0.2.53"]
    assert resolver.nameserver_ports == {"::1": 5353, "192.0.2.53": 53}
