"""Authentication-Results parsing/writing and the gate's configuration file."""

import pytest
from v6gate_gate import authres
from v6gate_gate.config import ConfigError, parse_config


def test_parse_opendkim_header_with_semicolon_inside_comment():
    parsed = authres.parse_authentication_results(
        "mx.example; dkim=pass (2048-bit key; unprotected) header.d=example.org header.s=sel"
    )
    assert parsed.authserv_id == "mx.example"
    assert parsed.results[0].method == "dkim" and parsed.results[0].result == "pass"
    assert ("header.d", "example.org") in parsed.results[0].properties


def test_parse_several_results_and_versions():
    parsed = authres.parse_authentication_results(
        'MX.Example 1; spf=pass smtp.mailfrom=a.example; dkim/1=fail reason="bad sig" header.d=b.example'
    )
    assert parsed.authserv_id == "mx.example"
    assert [(r.method, r.result) for r in parsed.results] == [("spf", "pass"), ("dkim", "fail")]


def test_parse_none():
    assert authres.parse_authentication_results("mx.example; none").results == ()


@pytest.mark.parametrize(
    "bad",
    ["mx.example; dkim=pass (open", 'mx.example; dkim=pass reason="open', "mx.example; dkim", "a b c; x=y"],
)
def test_malformed_headers_raise(bad):
    with pytest.raises(authres.AuthResParseError):
        authres.parse_authentication_results(bad)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("mx.example; dkim=pass", "mx.example"),
        ("(comment) MX.example ; spf=pass", "mx.example"),
        ("mx.example; dkim=pass (unterminated", "mx.example"),
        ("", None),
    ],
)
def test_authserv_id_of(value, expected):
    assert authres.authserv_id_of(value) == expected


def test_format_cannot_be_broken_by_hostile_values():
    value = authres.format_authentication_results(
        "mx.example", [("spf", "pass", [("smtp.mailfrom", "ev;il (x)\r\n.example")], "c(o)m;ment\r\n")]
    )
    assert value == "mx.example; spf=pass smtp.mailfrom=evilx.example (comment)"
    assert authres.parse_authentication_results(value).results[0].properties == (
        ("smtp.mailfrom", "evilx.example"),
    )


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
    ],
)
def test_config_errors_are_clear(change, message):
    with pytest.raises(ConfigError, match=message.replace("[", r"\[")):
        parse_config(GOOD.replace(*change))
