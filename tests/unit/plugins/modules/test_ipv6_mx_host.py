"""The ipv6_mx_host module through ``ansible localhost -m``, against the real Knot primary and secondary:
publishing, idempotence, check and diff mode, the TTL wait, a secret that never shows, refusals."""

import secrets

import pytest
from ansible_collections.v6gate.mx.plugins.module_utils.dns_client import parse_nameserver
from ansible_collections.v6gate.mx.plugins.module_utils.dns_update import served_records
from dnsserver import READ_ONLY_KEY_NAME, UPDATE_KEY_NAME
from return_docs import documented, undocumented

pytestmark = pytest.mark.dns


@pytest.fixture
def args(updatable_zone):
    return {
        "domain": f"m{secrets.token_hex(4)}.example",
        "zone": updatable_zone.zone,
        "ipv6": True,
        "ipv4_addresses": ["198.51.100.25"],
        "ipv6_addresses": ["2001:db8:25::25"],
        "ttl": 2,
        "primary": updatable_zone.primary_spec,
        "authoritative_servers": updatable_zone.server_specs,
        "tsig_key_name": UPDATE_KEY_NAME,
        "tsig_key_secret": updatable_zone.keys[UPDATE_KEY_NAME],
        "propagation_timeout": 10,
        "timeout": 2,
    }


def served_everywhere(updatable_zone, name):
    return [served_records(parse_nameserver(spec), name).as_dict() for spec in updatable_zone.server_specs]


def test_enable_then_disable_follows_on_every_server_and_waits_out_the_ttl(ansible_module, args,
                                                                             updatable_zone):
    enabled = ansible_module("ipv6_mx_host", args, diff=True)
    assert enabled["_rc"] == 0, enabled.get("msg")
    name = f"{args['domain'].replace('.', '-')}.{updatable_zone.zone}"
    assert enabled["changed"] is True and enabled["mx_host"] == name and enabled["ipv6"] is True
    assert enabled["mx_record"] == f"{args['domain']}. IN MX 10 {name}."
    assert enabled["diff"]["before"] == {"A": [], "AAAA": []}
    published = {"A": ["198.51.100.25"], "AAAA": ["2001:db8:25::25"]}
    assert served_everywhere(updatable_zone, name) == [published] * 2
    assert undocumented(documented("ipv6_mx_host"), enabled) == []
    assert updatable_zone.keys[UPDATE_KEY_NAME] not in enabled["_stderr"] + str(enabled)

    assert ansible_module("ipv6_mx_host", args)["changed"] is False

    disabled = ansible_module("ipv6_mx_host", dict(args, ipv6=False))
    assert disabled["changed"] is True and disabled["ipv6"] is False
    assert disabled["ttl_wait"] == 2 and disabled["waited"] >= 2
    assert served_everywhere(updatable_zone, name) == [{"A": ["198.51.100.25"], "AAAA": []}] * 2


def test_check_mode_proves_the_rights_and_changes_nothing(ansible_module, args, updatable_zone):
    result = ansible_module("ipv6_mx_host", args, check=True)
    assert result["_rc"] == 0 and result["changed"] is True and result["servers"] == {}
    name = result["mx_host"]
    assert served_everywhere(updatable_zone, name) == [{"A": [], "AAAA": []}] * 2


def test_a_key_without_rights_fails_in_check_mode_already(ansible_module, args, updatable_zone):
    secret = updatable_zone.keys[READ_ONLY_KEY_NAME]
    bad = dict(args, tsig_key_name=READ_ONLY_KEY_NAME, tsig_key_secret=secret)
    result = ansible_module("ipv6_mx_host", bad, check=True)
    assert result["_rc"] != 0
    assert result["msg"].startswith(f"{args['domain']}: primary {updatable_zone.primary.host}:")
    assert "refused TSIG key 'read-only' for zone mx.example.net" in result["msg"]


def test_an_unreachable_primary_fails_clearly(ansible_module, args, closed_port):
    result = ansible_module("ipv6_mx_host", dict(args, primary=f"[::1]:{closed_port}"), check=True)
    assert result["_rc"] != 0 and f"[::1]:{closed_port} is unreachable" in result["msg"]


@pytest.mark.parametrize("change, message", [
    ({"ipv6_addresses": []}, "no IPv6 address is given"),
    ({"ipv6_addresses": ["198.51.100.9"]}, "'198.51.100.9' is not an IPv6 address"),
    ({"domain": "bad_name.example"}, "is not a host name"),
    ({"primary": "ns1.example.net"}, "is not an IP address"),
    ({"ttl": 0}, "ttl must be between 1 and 86400"),
    ({"tsig_key_secret": "%%%"}, "not valid base64"),
])
def test_bad_input_is_refused_before_any_query(ansible_module, args, change, message):
    result = ansible_module("ipv6_mx_host", dict(args, **change))
    assert result["_rc"] != 0 and message in result["msg"]
