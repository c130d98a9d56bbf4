"""Per-domain MX host names kept by RFC 2136 updates, against a real Knot primary with a TSIG ACL, a
notified secondary and a stale one (tests/dnsserver.py, UpdatableZone)."""

import secrets

import pytest
from ansible_collections.v6gate.mx.plugins.module_utils.dns_client import parse_nameserver
from ansible_collections.v6gate.mx.plugins.module_utils.dns_update import (
    AddressRecords,
    TsigKey,
    UpdateError,
    ZoneUpdater,
    check_addresses,
    mx_host_name,
    mx_host_names,
    mx_record,
    publish,
    served_records,
    wanted_records,
    zone_nameservers,
)
from dnsserver import READ_ONLY_KEY_NAME, UPDATE_KEY_NAME

pytestmark = pytest.mark.dns
ZONE = "mx.example.net"
V4 = ["198.51.100.25"]
V6 = ["2001:db8:25::25", "2001:db8:25::26"]


def fresh_domain() -> str:
    """A domain no other test touches: the zone is shared by the whole run."""
    return f"d{secrets.token_hex(4)}.example"


@pytest.fixture
def key(updatable_zone):
    return TsigKey(UPDATE_KEY_NAME, updatable_zone.keys[UPDATE_KEY_NAME])


@pytest.fixture
def updater(updatable_zone, key):
    return ZoneUpdater(ZONE, updatable_zone.primary_spec, key, timeout=2)


@pytest.fixture
def servers(updatable_zone):
    return [parse_nameserver(spec) for spec in updatable_zone.server_specs]


# ------------------------------------------------------------------------------------------ names


def test_mx_host_name_is_the_domain_with_hyphens_under_the_zone():
    assert mx_host_name("Contoso.Example.", ZONE) == "contoso-example.mx.example.net"
    assert mx_host_name("bücher.example", ZONE) == "xn--bcher-kva-example.mx.example.net"
    assert mx_record("contoso.example", ZONE) == "contoso.example. IN MX 10 contoso-example.mx.example.net."


@pytest.mark.parametrize("domain", ["under_score.example", "two words.example", "nodot", "-lead.example",
                                    "a" * 60 + ".example"])
def test_a_domain_that_gives_no_valid_host_label_is_refused(domain):
    with pytest.raises(ValueError, match=repr(domain).replace("(", r"\(")[:12]):
        mx_host_name(domain, ZONE)


def test_a_zone_that_is_not_a_dns_name_is_refused():
    with pytest.raises(ValueError, match=r"zone 'mx example.net' is not a DNS name"):
        mx_host_name("contoso.example", "mx example.net")


def test_two_domains_that_would_share_a_host_name_are_refused():
    assert mx_host_names(["a.example", "A.example."], ZONE) == {"a.example": "a-example.mx.example.net"}
    with pytest.raises(ValueError, match=r"'a-b.example' and 'a.b-example' would share the MX host name"):
        mx_host_names(["a-b.example", "a.b-example"], ZONE)


def test_addresses_are_checked_per_family():
    assert check_addresses(["2001:DB8::2", "2001:db8::1", "2001:db8:0::2"], "AAAA") == ["2001:db8::1",
                                                                                       "2001:db8::2"]
    with pytest.raises(ValueError, match=r"'198.51.100.1' is not an IPv6 address"):
        check_addresses(["198.51.100.1"], "AAAA")
    with pytest.raises(ValueError, match=r"'mx1' is not an IP address"):
        check_addresses(["mx1"], "A")


def test_aaaa_only_while_enabled_and_never_a_name_without_addresses():
    assert wanted_records(V4, V6, enabled=False).as_dict() == {"A": V4, "AAAA": []}
    assert wanted_records(V4, V6, enabled=True).as_dict() == {"A": V4, "AAAA": V6}
    with pytest.raises(ValueError, match=r"no IPv6 address is given"):
        wanted_records(V4, [], enabled=True)
    with pytest.raises(ValueError, match=r"no address at all"):
        wanted_records([], V6, enabled=False)


def test_a_bad_tsig_key_is_refused_before_any_query():
    with pytest.raises(ValueError, match=r"not valid base64"):
        ZoneUpdater(ZONE, "127.0.0.1@53", TsigKey("k", "not base64!"))
    with pytest.raises(ValueError, match=r"TSIG algorithm 'hmac-md5'"):
        ZoneUpdater(ZONE, "127.0.0.1@53", TsigKey("k", "c2VjcmV0", "hmac-md5"))


# ------------------------------------------------------------------------- the rights check (no change)


def test_check_passes_with_the_update_key(updater):
    updater.check()


def test_a_key_without_update_rights_is_refused_by_name(updatable_zone):
    key = TsigKey(READ_ONLY_KEY_NAME, updatable_zone.keys[READ_ONLY_KEY_NAME])
    with pytest.raises(UpdateError, match=r"refused TSIG key 'read-only' for zone mx.example.net .*BADKEY"):
        ZoneUpdater(ZONE, updatable_zone.primary_spec, key, timeout=2).check()


def test_an_unknown_key_is_refused(updatable_zone):
    key = TsigKey("nobody", updatable_zone.keys[UPDATE_KEY_NAME])
    with pytest.raises(UpdateError, match=r"refused TSIG key 'nobody'"):
        ZoneUpdater(ZONE, updatable_zone.primary_spec, key, timeout=2).check()


def test_a_wrong_secret_is_told_apart_from_missing_rights(updatable_zone):
    key = TsigKey(UPDATE_KEY_NAME, updatable_zone.keys[READ_ONLY_KEY_NAME])
    with pytest.raises(UpdateError, match=r"signature does not verify.*wrong secret.*BADSIG"):
        ZoneUpdater(ZONE, updatable_zone.primary_spec, key, timeout=2).check()


def test_a_primary_that_does_not_serve_the_zone_is_refused(updatable_zone, key):
    with pytest.raises(UpdateError, match=r"does not serve zone other.example with authority .*REFUSED"):
        ZoneUpdater("other.example", updatable_zone.primary_spec, key, timeout=2).check()


def test_an_unreachable_primary_is_a_clear_error(closed_port, key):
    with pytest.raises(UpdateError, match=r"authoritative server \[::1\]:\d+ is unreachable"):
        ZoneUpdater(ZONE, f"[::1]:{closed_port}", key, timeout=1).check()


def test_a_primary_that_never_answers_times_out(silent_dns_server, key):
    with pytest.raises(UpdateError, match=r"did not answer within 0.5 s"):
        ZoneUpdater(ZONE, silent_dns_server.nameserver_spec, key, timeout=0.5).check()


def test_the_check_changes_nothing(updater):
    before = updater.current("published-example." + ZONE)
    updater.check()
    assert updater.current("published-example." + ZONE).as_dict() == before.as_dict()


# ---------------------------------------------------------------------------------------- publishing


def test_enabling_publishes_aaaa_on_every_server_and_a_second_run_changes_nothing(updater, servers):
    domain = fresh_domain()
    first = publish(updater, servers, domain, wanted_records(V4, V6, True), 60, wait_seconds=10)
    assert first.changed is True and first.before.as_dict() == {"A": [], "AAAA": []}
    assert all(status["in_sync"] for status in first.servers.values()) and len(first.servers) == 2
    for server in servers:
        assert served_records(server, first.mx_host).as_dict() == {"A": V4, "AAAA": V6}
    again = publish(updater, servers, domain, wanted_records(V4, V6, True), 60, wait_seconds=10)
    assert again.changed is False and again.ttl_wait == 0


def test_disabling_withdraws_aaaa_from_every_server_and_reports_the_ttl_to_wait(updater, servers):
    domain = fresh_domain()
    publish(updater, servers, domain, wanted_records(V4, V6, True), 7, wait_seconds=10)
    off = publish(updater, servers, domain, wanted_records(V4, V6, False), 7, wait_seconds=10)
    assert off.changed is True and off.ttl_wait == 7
    for server in servers:
        served = served_records(server, off.mx_host)
        assert served.aaaa == [] and served.a == V4


def test_a_changed_ttl_is_a_change(updater, servers):
    domain = fresh_domain()
    publish(updater, servers, domain, wanted_records(V4, V6, True), 60, wait_seconds=10)
    assert publish(updater, servers, domain, wanted_records(V4, V6, True), 30, wait_seconds=10).changed
    assert served_records(servers[1], mx_host_name(domain, ZONE)).ttl == {"A": 30, "AAAA": 30}


def test_check_mode_reports_the_change_and_makes_none(updater, servers):
    result = publish(updater, servers, "published.example", wanted_records(V4, [], False), 60,
                     wait_seconds=10, check_mode=True)
    assert result.changed is True and result.servers == {}
    assert result.before.aaaa == ["2001:db8:25::25"]
    assert updater.current("published-example." + ZONE).aaaa == ["2001:db8:25::25"]


def test_a_secondary_that_does_not_follow_is_named_and_the_change_fails(updater, servers, updatable_zone):
    domain = fresh_domain()
    stale = parse_nameserver(updatable_zone.stale_spec)
    with pytest.raises(UpdateError, match=r"not every authoritative server") as raised:
        publish(updater, [*servers, stale], domain, wanted_records(V4, V6, True), 60, wait_seconds=4)
    lagging = str(raised.value).partition(" after 4 s: ")[2]
    assert lagging == f"127.0.0.1:{stale[1]} serves {{'A': [], 'AAAA': []}}"


def test_a_server_without_authority_for_the_name_is_an_error(dns_server):
    with pytest.raises(UpdateError, match=r"is not authoritative for x.nowhere.test \(rcode REFUSED"):
        served_records((dns_server.host, dns_server.port), "x.nowhere.test")


def test_a_name_outside_the_zone_is_refused(updater):
    with pytest.raises(ValueError, match=r"'mail.example.org' is not in zone mx.example.net"):
        updater.apply("mail.example.org", AddressRecords(a=V4), 60)


def test_the_default_servers_come_from_the_zones_ns_records(updatable_zone):
    # ns1 and ns2.mx.example.net exist only in the test zone, so the host's resolver cannot find them.
    with pytest.raises(UpdateError, match=r"cannot find the address of its nameserver ns1.mx.example.net"):
        zone_nameservers(updatable_zone.primary_spec, ZONE, timeout=2)
