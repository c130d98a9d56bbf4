"""The DNS layer: nameserver parsing, the five outcomes against real servers, cache and concurrency bound."""

import subprocess
import threading
import time

import dns.name
import dns.nameserver
import dns.reversename
import pytest
from ansible_collections.v6gate.mx.plugins.module_utils.dns_client import (
    Deadline,
    DnsClient,
    parse_nameserver,
)
from dnsserver import DroppingDnsRelay

pytestmark = pytest.mark.dns


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        ("192.0.2.53", ("192.0.2.53", 53)),
        ("192.0.2.53@5353", ("192.0.2.53", 5353)),
        ("192.0.2.53:5353", ("192.0.2.53", 5353)),
        ("2001:db8::53", ("2001:db8::53", 53)),
        ("2001:0db8:0000::0053", ("2001:db8::53", 53)),
        ("[2001:db8::53]", ("2001:db8::53", 53)),
        ("[2001:db8::53]:5353", ("2001:db8::53", 5353)),
        ("2001:db8::53@5353", ("2001:db8::53", 5353)),
    ],
)
def test_nameserver_forms(spec, expected):
    assert parse_nameserver(spec) == expected


@pytest.mark.parametrize(
    "spec",
    [
        "ns1.example.com",
        "192.0.2.53@0",
        "192.0.2.53:99999",
        "[2001:db8::53",
        "[2001:db8::53]x",
        "192.0.2.300",
        "",
    ],
)
def test_bad_nameserver_is_refused_with_its_text(spec):
    with pytest.raises(ValueError, match="nameserver"):
        parse_nameserver(spec)


def test_answer_over_ipv4_and_ipv6_nameserver(dns_server):
    for spec in dns_server.nameserver_specs:
        result = DnsClient([spec], timeout=2).resolve("mail.example.com", "AAAA")
        assert (result.outcome, result.records) == ("answer", ("2001:db8:25::10",))


def test_nxdomain_nodata_servfail_are_told_apart(client):
    assert client.resolve("ghost.example.com", "AAAA").outcome == "nxdomain"
    nodata = client.resolve("v4only1.example.com", "AAAA")
    assert nodata.outcome == "nodata" and nodata.is_void and not nodata.is_temporary
    servfail = client.resolve("host.servfail.example", "AAAA")
    assert servfail.outcome == "servfail" and servfail.is_temporary


def test_silent_server_gives_timeout_not_nxdomain(silent_client):
    result = silent_client.resolve("mail.example.com", "A")
    assert result.outcome == "timeout"
    assert result.is_temporary and not result.is_void


def test_cname_is_followed(client):
    assert client.resolve("alias.example.com", "AAAA").records == ("2001:db8:25::10",)


def test_txt_strings_are_kept_and_joined(client):
    result = client.resolve("split.example.com", "TXT")
    assert result.txt_strings == ((b"v=spf1 ip6:2001:db8:25::/48 ", b"ip4:198.51.100.0/24 -all"),)
    assert result.records == ("v=spf1 ip6:2001:db8:25::/48 ip4:198.51.100.0/24 -all",)


def test_cache_answers_repeated_lookups_without_new_queries(client):
    for _ in range(5):
        client.resolve("Mail.Example.com.", "A")
    assert client.queries_sent == 1
    assert client.cache_hits == 4


def test_failures_are_cached_for_the_run_too(silent_client):
    silent_client.resolve("mail.example.com", "A")
    silent_client.resolve("mail.example.com", "A")
    assert silent_client.queries_sent == 1


def test_queries_in_flight_never_exceed_the_bound(dns_server, monkeypatch):
    client = DnsClient([f"{dns_server.host}@{dns_server.port}"], max_in_flight=4)
    in_flight, peak, lock = [0], [0], threading.Lock()
    real_query = client._query

    def counting_query(name, rdtype, end):
        with lock:
            in_flight[0] += 1
            peak[0] = max(peak[0], in_flight[0])
        try:
            return real_query(name, rdtype, end)
        finally:
            with lock:
                in_flight[0] -= 1

    monkeypatch.setattr(client, "_query", counting_query)
    names = [dns.reversename.from_address(f"2001:db8:25::{n:x}").to_text() for n in range(1, 200)]
    results = client.map(lambda name: client.resolve(name, "PTR"), names)
    assert len(results) == 199
    assert 1 < peak[0] <= 4


def test_name_that_cannot_exist_is_nxdomain_not_servfail(client):
    result = client.resolve(f"{'x' * 64}.example.com", "TXT")
    assert result.outcome == "nxdomain" and "invalid name" in result.detail


SYSTEM_PYTHON_HAS_DNSPYTHON = (
    subprocess.run(["/usr/bin/python3", "-c", "import dns"], capture_output=True, check=False).returncode == 0
)


@pytest.mark.skipif(
    SYSTEM_PYTHON_HAS_DNSPYTHON,
    reason="the system python has dnspython, so it cannot show the missing-library path",
)
def test_module_on_python_without_dnspython_fails_with_missing_required_lib(ansible_module):
    """The real path: AnsiballZ ships the module to a Python that lacks dnspython."""
    result = ansible_module("reverse_dns_info", {"address": ["2001:db8:25::10"]}, python="/usr/bin/python3")
    assert result["failed"] is True
    assert "Failed to import the required Python library (dnspython)" in result["msg"]


def test_truncated_udp_reply_is_retried_over_tcp(client):
    result = client.resolve("big.example.com", "TXT")
    assert result.outcome == "answer"
    (strings,) = result.txt_strings
    assert len(strings) == 8 and strings[7].startswith(b"chunk07-")
    assert len(result.records[0]) == 8 * 248


def test_refused_for_a_zone_the_server_does_not_serve_is_servfail(client):
    result = client.resolve("host.not-served.test", "A")
    assert result.outcome == "servfail" and result.is_temporary
    assert "REFUSED" in result.detail


def test_system_resolver_path_uses_the_same_outcomes(dns_server, monkeypatch):
    """With no nameservers given the client uses the configured resolver (here pointed at the fixture)."""
    client = DnsClient([], timeout=2)
    client.resolver.nameservers = [dns.nameserver.Do53Nameserver(dns_server.host, dns_server.port)]
    client._servers = []  # force the dnspython Resolver path
    assert client.resolve("mail.example.com", "AAAA").records == ("2001:db8:25::10",)
    assert client.resolve("ghost.example.com", "AAAA").outcome == "nxdomain"
    assert client.resolve("v4only1.example.com", "AAAA").outcome == "nodata"
    assert client.resolve("host.servfail.example", "A").outcome == "servfail"
    assert client.resolve("big.example.com", "TXT").outcome == "answer"


def test_gate_mode_keeps_answers_for_their_ttl_and_drops_the_oldest(dns_server):
    client = DnsClient([dns_server.nameserver_specs[0]], cache_size=2, keep_for_run=False)
    first = client.resolve("mail.example.com", "AAAA")
    assert first.outcome == "answer" and first.ttl > 0
    client.resolve("mail.example.com", "AAAA")
    assert (client.queries_sent, client.cache_hits) == (1, 1)
    client.resolve("example.com", "TXT")
    client.resolve("example.com", "MX")  # a third name: the least recently used one goes
    client.resolve("mail.example.com", "AAAA")
    assert client.queries_sent == 4


def test_gate_mode_keeps_negative_answers_for_the_soa_minimum(dns_server):
    client = DnsClient([dns_server.nameserver_specs[0]], keep_for_run=False)
    result = client.resolve("absent.example.com", "TXT")
    assert result.outcome == "nxdomain" and result.ttl > 0
    client.resolve("absent.example.com", "TXT")
    assert client.queries_sent == 1


def test_gate_mode_never_keeps_a_temporary_failure(silent_dns_server):
    client = DnsClient([silent_dns_server.nameserver_spec], timeout=0.2, retries=0, keep_for_run=False)
    assert client.resolve("example.com", "TXT").outcome == "timeout"
    assert client.resolve("example.com", "TXT").outcome == "timeout"
    assert client.queries_sent == 2


def test_a_lookup_ends_at_the_callers_deadline(silent_dns_server):
    client = DnsClient([silent_dns_server.nameserver_spec], timeout=5.0, retries=2)
    started = time.monotonic()
    result = client.resolve("example.com", "TXT", Deadline(0.3))
    assert time.monotonic() - started < 1.0
    assert (result.outcome, result.detail) == ("timeout", "deadline reached")
    assert client.resolve("example.com", "TXT", Deadline(0)).detail == "deadline reached"
    assert client.queries_sent == 2  # a deadline's timeout is not kept: the next caller may have more time


def test_a_waiter_gives_up_at_its_own_deadline(silent_dns_server):
    """A second asker of the same name waits for the query in flight, but not past its own deadline."""
    client = DnsClient([silent_dns_server.nameserver_spec], timeout=2.0, retries=0)
    first = threading.Thread(target=client.resolve, args=("example.com", "TXT"))
    first.start()
    time.sleep(0.1)
    started = time.monotonic()
    result = client.resolve("example.com", "TXT", Deadline(0.3))
    assert time.monotonic() - started < 1.0 and result.detail == "deadline reached"
    first.join()


def test_gate_mode_does_not_keep_a_huge_answer(dns_server):
    """cache_size bounds entries; a sender's zone serving 5000-octet answers with long TTLs must not turn
    that into tens of megabytes per thousand names."""
    client = DnsClient([dns_server.nameserver_specs[0]], keep_for_run=False)
    assert client.resolve("huge.example.com", "TXT").outcome == "answer"
    client.resolve("huge.example.com", "TXT")
    assert client.queries_sent == 2
    client.resolve("example.com", "TXT")
    client.resolve("example.com", "TXT")
    assert client.queries_sent == 3  # ordinary answers are still kept


def test_a_waiter_is_not_cut_off_by_the_owners_deadline(dns_server):
    """The first asker of a name has 0.1 s left, a second asker 3 s: the second still gets the answer
    the slow server gives at 0.4 s, not the first asker's 'deadline reached'."""
    relay = DroppingDnsRelay(dns_server.host, dns_server.port, drop_types=(), delay=0.4)
    try:
        client = DnsClient([relay.nameserver_spec], timeout=2.0, retries=0, keep_for_run=False)
        owner = threading.Thread(target=client.resolve, args=("example.com", "TXT", Deadline(0.1)))
        owner.start()
        time.sleep(0.02)
        result = client.resolve("example.com", "TXT", Deadline(3.0))
        owner.join()
        assert result.outcome == "answer", result
    finally:
        relay.close()


def test_a_name_that_is_not_valid_idna_is_nxdomain_not_an_exception(client):
    """A sender may write any text as its domain; dnspython's IDNA 2008 codec (with the idna package)
    refuses some of it, while the IDNA 2003 one (without it) encodes it and the query finds nothing."""
    result = client.resolve("ex\u2603mple.example.com", "TXT")
    refused_before_asking = dns.name.have_idna_2008
    assert result.outcome == "nxdomain"
    assert ("invalid name" if refused_before_asking else "no such domain") in result.detail
