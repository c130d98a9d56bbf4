"""The DNS fixture itself: Knot answers real PTR and TXT queries from the committed zones."""

from pathlib import Path

import dns.exception
import dns.message
import dns.nameserver
import dns.query
import dns.rcode
import dns.resolver
import dns.reversename
import dns.zone
import pytest

pytestmark = pytest.mark.dns


def test_fixture_answers_ptr_for_documentation_address(dns_server):
    answer = dns_server.resolver().resolve(dns.reversename.from_address("2001:db8:25::10"), "PTR")
    assert [rdata.target.to_text() for rdata in answer] == ["mail.example.com."]


def test_fixture_joins_dkim_txt_split_into_several_strings(dns_server):
    answer = dns_server.resolver().resolve("sel2048._domainkey.example.com", "TXT")
    (rdata,) = list(answer)
    assert len(rdata.strings) > 1
    joined = b"".join(rdata.strings).decode()
    assert joined.startswith("v=DKIM1; k=rsa; p=MIIBIjAN")


def test_fixture_listens_on_ipv6_loopback_too(dns_server):
    resolver = dns_server.resolver()
    resolver.nameservers = [dns.nameserver.Do53Nameserver("::1", dns_server.port)]
    answer = resolver.resolve(dns.reversename.from_address("198.51.100.10"), "PTR")
    assert answer[0].target.to_text() == "mail.example.com."


def test_fixture_serves_servfail_for_zone_that_fails_to_load(dns_server):
    query = dns.message.make_query("host.servfail.example", "AAAA")
    response = dns.query.udp(query, dns_server.host, port=dns_server.port, timeout=2)
    assert response.rcode() == dns.rcode.SERVFAIL


def test_fixture_tells_nxdomain_from_nodata(dns_server):
    resolver = dns_server.resolver()
    with pytest.raises(dns.resolver.NXDOMAIN):
        resolver.resolve(dns.reversename.from_address("2001:db8:25::13"), "PTR")
    with pytest.raises(dns.resolver.NoAnswer):
        resolver.resolve(dns.reversename.from_address("2001:db8:25::14"), "PTR")


def test_silent_server_never_answers(silent_dns_server):
    query = dns.message.make_query("example.com", "A")
    with pytest.raises(dns.exception.Timeout):
        dns.query.udp(query, silent_dns_server.host, port=silent_dns_server.port, timeout=0.3)


INTENTIONALLY_BROKEN_ZONES = {"servfail.example", "f.f.f.f.8.b.d.0.1.0.0.2.ip6.arpa"}


def test_every_other_zone_file_loads(dns_server):
    resolver = dns_server.resolver()
    loaded = [zone for zone in dns_server.zones if zone not in INTENTIONALLY_BROKEN_ZONES]
    assert len(loaded) >= 5
    for zone in loaded:
        assert resolver.resolve(zone, "SOA").rrset, f"{zone} did not load, see {dns_server.log_path}"


REPO = Path(__file__).resolve().parents[1]
REVERSE_ZONE_GLOBS = (
    "tests/fixtures/zones/*.arpa.zone",
    "molecule/*/dns/*.arpa.zone",
    "molecule/*/zones/*.arpa.zone",
    "tests/gate/zones/*.arpa.zone",
)
REVERSE_ZONE_FILES = sorted(
    path for pattern in REVERSE_ZONE_GLOBS for path in REPO.glob(pattern)
    if path.name.removesuffix(".zone") not in INTENTIONALLY_BROKEN_ZONES
)


@pytest.mark.parametrize("path", REVERSE_ZONE_FILES, ids=lambda path: str(path.relative_to(REPO)))
def test_every_ptr_owner_is_a_whole_address(path):
    """A PTR whose owner lacks nibbles (a /48 zone written as if it were a /64) answers for no address:
    the lab's MX had no reverse DNS for a long time that way."""
    zone = dns.zone.from_file(str(path), origin=path.name.removesuffix(".zone"), relativize=False,
                              check_origin=False)
    owners = [name for name, _ttl, _rdata in zone.iterate_rdatas("PTR")]
    assert owners, f"{path.name} has no PTR records"
    for owner in owners:
        dns.reversename.to_address(owner)  # raises for an incomplete name
        labels = owner.to_text().removesuffix(".").split(".")
        assert len(labels) == (34 if labels[-1] == "arpa" and labels[-2] == "ip6" else 6), owner
