# Copyright: v6gate developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Per-domain MX host names whose AAAA records follow the domain's IPv6 flag, kept by RFC 2136 updates.

Each accepted domain gets its own MX host name under a zone the admin names, the way Exchange Online
does it (``contoso.example`` -> ``contoso-example.mx.example.net``): A records always, AAAA records only
while IPv6 is enabled for the domain, so senders do not even try IPv6 for a domain that refuses it.

This module talks to authoritative servers, never to a resolver: updates go to the zone's primary,
signed with TSIG (RFC 8945), and a change counts as done only when every authoritative server of the
zone answers with it (AA flag set, no recursion), so no cache or lagging secondary can hide a stale AAAA.
The lookups of the audit and the gate go through dns_client instead.
"""

from __future__ import annotations

import base64
import binascii
import ipaddress
import socket
import time
from dataclasses import dataclass, field

from ansible_collections.v6gate.mx.plugins.module_utils.addresses import is_dns_name
from ansible_collections.v6gate.mx.plugins.module_utils.dns_client import (
    HAS_DNSPYTHON,
    format_nameserver,
    parse_nameserver,
)
from ansible_collections.v6gate.mx.plugins.module_utils.ipv6_rules import normalize_domain

if HAS_DNSPYTHON:  # dns_client tried the import; modules report its error (audit_module)
    import dns.exception
    import dns.flags
    import dns.message
    import dns.name
    import dns.query
    import dns.rcode
    import dns.rdatatype
    import dns.tsig
    import dns.update

MX_PREFERENCE = 10
# The HMAC algorithms of RFC 8945 that Knot, BIND and PowerDNS all accept; hmac-md5 is left out on purpose.
TSIG_ALGORITHMS = ("hmac-sha256", "hmac-sha384", "hmac-sha512", "hmac-sha224", "hmac-sha1")
ADDRESS_TYPES = ("A", "AAAA")


class UpdateError(Exception):
    """A zone cannot be read or changed as asked; the message says why and what to fix."""


def mx_host_label(domain: str) -> str:
    """The MX host label of ``domain``: its A-label with dots turned into hyphens."""
    key = normalize_domain(domain)
    if not is_dns_name(key, fqdn=True) or "_" in key:
        raise ValueError(f"domain {domain!r} is not a host name (letters, digits, inner hyphens per label)")
    label = key.replace(".", "-")
    if len(label) > 63:
        raise ValueError(f"domain {domain!r}: its MX host label {label!r} is longer than 63 characters")
    return label


def mx_host_name(domain: str, zone: str) -> str:
    """``contoso.example`` under ``mx.example.net`` -> ``contoso-example.mx.example.net``."""
    if not is_dns_name(normalize_domain(zone), fqdn=True):
        raise ValueError(f"zone {zone!r} is not a DNS name")
    name = f"{mx_host_label(domain)}.{normalize_domain(zone)}"
    if len(name) > 253:
        raise ValueError(f"domain {domain!r}: its MX host name {name!r} is longer than 253 characters")
    return name


def mx_host_names(domains, zone: str) -> dict[str, str]:
    """MX host name per domain (comparison key); two domains that would share a name are refused."""
    names: dict[str, str] = {}
    owners: dict[str, str] = {}
    for domain in domains:
        key = normalize_domain(domain)
        name = mx_host_name(key, zone)
        if owners.get(name, key) != key:
            raise ValueError(f"domains {owners[name]!r} and {key!r} would share the MX host name {name!r}; "
                             "serve one of them from another zone")
        owners[name] = key
        names[key] = name
    return names


def mx_record(domain: str, zone: str) -> str:
    """The MX record ``domain`` publishes, in zone file form."""
    return f"{normalize_domain(domain)}. IN MX {MX_PREFERENCE} {mx_host_name(domain, zone)}."


def check_addresses(addresses, rdtype: str) -> list[str]:
    """Addresses of one family, compressed and sorted; anything else is a ValueError."""
    version = 4 if rdtype == "A" else 6
    checked = set()
    for text in addresses:
        try:
            address = ipaddress.ip_address(str(text).strip())
        except ValueError:
            raise ValueError(f"{text!r} is not an IP address") from None
        if address.version != version:
            raise ValueError(f"{text!r} is not an IPv{version} address (needed for {rdtype} records)")
        checked.add(address.compressed)
    return sorted(checked, key=ipaddress.ip_address)


@dataclass(frozen=True)
class TsigKey:
    """A TSIG key as BIND and Knot write it: name, base64 secret, algorithm."""

    name: str
    secret: str
    algorithm: str = "hmac-sha256"

    def dnspython_key(self):
        if self.algorithm not in TSIG_ALGORITHMS:
            raise ValueError(f"TSIG algorithm {self.algorithm!r}: expected one of "
                             f"{', '.join(TSIG_ALGORITHMS)}")
        try:
            # dnspython's own decoding skips characters that are not base64, so a mangled secret would
            # only show up as BADSIG at the primary.
            secret = base64.b64decode(self.secret.strip(), validate=True)
        except (binascii.Error, ValueError) as error:
            raise ValueError(f"TSIG key {self.name!r}: the secret is not valid base64 ({error})") from None
        if not secret:
            raise ValueError(f"TSIG key {self.name!r}: the secret is empty")
        try:
            return dns.tsig.Key(self.name, secret, self.algorithm)
        except dns.exception.DNSException as error:
            raise ValueError(f"TSIG key name {self.name!r} is not a DNS name ({error})") from None


@dataclass
class AddressRecords:
    """The A and AAAA records at one name, as one server serves them (sorted texts; TTL of each set)."""

    a: list[str] = field(default_factory=list)
    aaaa: list[str] = field(default_factory=list)
    ttl: dict[str, int] = field(default_factory=dict)

    def of(self, rdtype: str) -> list[str]:
        return self.a if rdtype == "A" else self.aaaa

    def as_dict(self) -> dict:
        return {"A": list(self.a), "AAAA": list(self.aaaa)}

    def same_addresses(self, other: AddressRecords) -> bool:
        return self.a == other.a and self.aaaa == other.aaaa

    def serves(self, wanted: AddressRecords) -> bool:
        """The addresses of ``wanted``, and its TTL for each record set it gives one."""
        return self.same_addresses(wanted) and all(
            self.ttl.get(rdtype) == ttl for rdtype, ttl in wanted.ttl.items() if wanted.of(rdtype))


def _authoritative_query(name: str, rdtype: str):
    """A query without recursion: only a server's own authoritative data counts here."""
    query = dns.message.make_query(name, rdtype)
    query.flags &= ~dns.flags.RD
    return query


def _ask(server: tuple[str, int], query, timeout: float, tcp: bool = False):
    """One query over UDP (retried over TCP when truncated) or TCP; network failures become UpdateError."""
    host, port = server
    where = f"authoritative server {format_nameserver(server)}"
    try:
        response = None if tcp else dns.query.udp(query, host, port=port, timeout=timeout)
        if response is None or response.flags & dns.flags.TC:
            response = dns.query.tcp(query, host, port=port, timeout=timeout)
    except dns.exception.Timeout:
        raise UpdateError(f"{where} did not answer within {timeout:g} s") from None
    except OSError as error:
        raise UpdateError(f"{where} is unreachable: {error}") from None
    return response


def served_records(server: tuple[str, int], name: str, timeout: float = 3.0) -> AddressRecords:
    """The A and AAAA records ``server`` serves at ``name`` with authority; a server that answers without
    the AA flag, or with an error, does not serve the zone and is an UpdateError."""
    records = AddressRecords()
    for rdtype in ADDRESS_TYPES:
        response = _ask(server, _authoritative_query(name, rdtype), timeout)
        rcode = response.rcode()
        if rcode not in (dns.rcode.NOERROR, dns.rcode.NXDOMAIN) or not response.flags & dns.flags.AA:
            raise UpdateError(f"{format_nameserver(server)} is not authoritative for {name} "
                              f"(rcode {dns.rcode.to_text(rcode)}, AA flag "
                              f"{'set' if response.flags & dns.flags.AA else 'not set'})")
        wanted = dns.rdatatype.from_text(rdtype)
        for rrset in response.answer:
            if rrset.rdtype == wanted and rrset.name == dns.name.from_text(name):
                records.of(rdtype).extend(sorted((r.to_text() for r in rrset), key=ipaddress.ip_address))
                records.ttl[rdtype] = rrset.ttl
    return records


def wait_until_served(servers, name: str, expected: AddressRecords, wait_seconds: float,
                      timeout: float = 3.0, interval: float = 0.5) -> dict[str, dict]:
    """Poll every server until each serves ``expected`` at ``name``; per server what it served and when.
    When ``wait_seconds`` pass first, an UpdateError names the servers that lag and what they serve."""
    started = time.monotonic()
    status: dict[str, dict] = {}
    pending = list(servers)
    while True:
        still = []
        for server in pending:
            try:
                served = served_records(server, name, timeout)
                seen = {"served": served.as_dict(), "error": ""}
            except UpdateError as error:
                served, seen = None, {"served": {}, "error": str(error)}
            seen["in_sync"] = served is not None and served.serves(expected)
            seen["seconds"] = round(time.monotonic() - started, 2)
            status[format_nameserver(server)] = seen
            if not seen["in_sync"]:
                still.append(server)
        pending = still
        if not pending:
            return status
        if time.monotonic() - started + interval > wait_seconds:
            lagging = "; ".join(f"{text} {status[text]['error'] or 'serves ' + str(status[text]['served'])}"
                                for text in map(format_nameserver, pending))
            raise UpdateError(f"{name}: not every authoritative server serves {expected.as_dict()} after "
                              f"{wait_seconds:g} s: {lagging}")
        time.sleep(interval)


class ZoneUpdater:
    """Reads and changes the address records of names in one zone through its primary."""

    def __init__(self, zone: str, primary: str, key: TsigKey, timeout: float = 5.0):
        self.zone = normalize_domain(zone)
        self.primary = parse_nameserver(primary)
        self.where = f"primary {format_nameserver(self.primary)}"
        self.key = key
        self._dns_key = key.dnspython_key()
        self.timeout = timeout

    def _send(self, update, what: str):
        host, port = self.primary
        where = self.where
        try:
            response = dns.query.tcp(update, host, port=port, timeout=self.timeout)
        except dns.tsig.PeerBadKey:
            raise UpdateError(f"{where} refused TSIG key {self.key.name!r} for zone {self.zone} ({what}): "
                              "the key is unknown there or may not update the zone (BADKEY)") from None
        except dns.tsig.PeerBadSignature:
            raise UpdateError(f"{where} knows TSIG key {self.key.name!r} but its signature does not verify "
                              f"({what}): wrong secret or algorithm (BADSIG)") from None
        except dns.tsig.PeerBadTime:
            raise UpdateError(f"{where}: TSIG time check failed ({what}); the clocks differ (BADTIME)"
                              ) from None
        except dns.exception.Timeout:
            raise UpdateError(f"{where} did not answer within {self.timeout:g} s ({what})") from None
        except (OSError, EOFError) as error:
            raise UpdateError(f"{where} is unreachable ({what}): {error}") from None
        except dns.exception.DNSException as error:
            raise UpdateError(f"{where} gave an answer that does not verify ({what}): {error}") from None
        return response.rcode()

    def check(self) -> None:
        """Prove, without changing anything, that the primary serves the zone and takes updates signed
        with the key: SOA with authority, then an update whose prerequisite (no SOA at the apex) must fail.
        A server that accepts the key answers YXRRSET; one that refuses it answers BADKEY or REFUSED.
        Over TCP, as the update goes: a primary that drops TCP is not one that can be updated."""
        response = _ask(self.primary, _authoritative_query(self.zone, "SOA"), self.timeout, tcp=True)
        if response.rcode() != dns.rcode.NOERROR or not response.flags & dns.flags.AA or not any(
                rrset.rdtype == dns.rdatatype.SOA for rrset in response.answer):
            raise UpdateError(f"{self.where} does not serve zone {self.zone} with "
                              f"authority (rcode {dns.rcode.to_text(response.rcode())}); is the zone or the "
                              "primary wrong?")
        probe = dns.update.UpdateMessage(self.zone, keyring=self._dns_key)
        probe.absent(self.zone + ".", "SOA")
        rcode = self._send(probe, "rights probe")
        if rcode == dns.rcode.YXRRSET:
            return
        if rcode in (dns.rcode.REFUSED, dns.rcode.NOTAUTH):
            raise UpdateError(f"{self.where} refuses updates to zone {self.zone} "
                              f"signed with TSIG key {self.key.name!r} ({dns.rcode.to_text(rcode)}); "
                              "give the key update rights in the zone's ACL")
        raise UpdateError(f"{self.where} answered {dns.rcode.to_text(rcode)} to a "
                          f"rights probe for zone {self.zone}; expected YXRRSET")

    def name_in_zone(self, name: str) -> str:
        key = normalize_domain(name)
        if key != self.zone and not key.endswith("." + self.zone):
            raise ValueError(f"{name!r} is not in zone {self.zone}")
        return key

    def current(self, name: str) -> AddressRecords:
        return served_records(self.primary, self.name_in_zone(name), self.timeout)

    def apply(self, name: str, wanted: AddressRecords, ttl: int) -> None:
        """Make ``name`` hold exactly ``wanted`` in one update (all of it or none of it)."""
        owner = self.name_in_zone(name)
        update = dns.update.UpdateMessage(self.zone, keyring=self._dns_key)
        for rdtype in ADDRESS_TYPES:
            addresses = wanted.of(rdtype)
            if addresses:
                update.replace(owner + ".", ttl, rdtype, *addresses)
            else:
                update.delete(owner + ".", rdtype)
        rcode = self._send(update, f"update of {owner}")
        if rcode != dns.rcode.NOERROR:
            raise UpdateError(f"{self.where} refused the update of {owner} "
                              f"({dns.rcode.to_text(rcode)})")


def zone_nameservers(primary: str, zone: str, timeout: float = 3.0, port: int = 53) -> list[tuple[str, int]]:
    """The zone's authoritative servers by its NS records as the primary serves them, each name's
    addresses from the host's resolver (port ``port``); the primary itself is always among them."""
    server = parse_nameserver(primary)
    response = _ask(server, _authoritative_query(normalize_domain(zone), "NS"), timeout)
    names = sorted(r.target.to_text(omit_final_dot=True) for rrset in response.answer
                   if rrset.rdtype == dns.rdatatype.NS for r in rrset)
    servers = [server]
    for name in names:
        try:
            infos = socket.getaddrinfo(name, port, type=socket.SOCK_DGRAM)
        except socket.gaierror as error:
            raise UpdateError(f"zone {zone}: cannot find the address of its nameserver {name}: {error}; "
                              "name the servers in authoritative_servers") from None
        for info in infos:
            address = (ipaddress.ip_address(info[4][0]).compressed, port)
            if address not in servers:
                servers.append(address)
    return servers


@dataclass
class Publication:
    """What publishing one domain's MX host name did (or would do, in check mode)."""

    domain: str
    mx_host: str
    mx_record: str
    before: AddressRecords
    after: AddressRecords
    changed: bool
    servers: dict = field(default_factory=dict)
    ttl_wait: int = 0  # seconds resolvers may still hand out the withdrawn AAAA after every server dropped it

    def as_dict(self) -> dict:
        return {"domain": self.domain, "mx_host": self.mx_host, "mx_record": self.mx_record,
                "before": self.before.as_dict(), "after": self.after.as_dict(), "changed": self.changed,
                "ipv6": bool(self.after.aaaa), "servers": self.servers, "ttl_wait": self.ttl_wait}


def wanted_records(ipv4, ipv6, enabled: bool) -> AddressRecords:
    """A records always, AAAA only while IPv6 is enabled for the domain."""
    wanted = AddressRecords(check_addresses(ipv4, "A"), check_addresses(ipv6, "AAAA") if enabled else [])
    if enabled and not wanted.aaaa:
        raise ValueError("IPv6 is to be enabled, but no IPv6 address is given for the MX host name")
    if not wanted.a and not wanted.aaaa:
        raise ValueError("the MX host name would have no address at all; give its IPv4 addresses")
    return wanted


def publish(updater: ZoneUpdater, servers, domain: str, wanted: AddressRecords, ttl: int,
            wait_seconds: float, check_mode: bool = False) -> Publication:
    """Make the domain's MX host name hold ``wanted`` on the primary, then wait until every server in
    ``servers`` serves it. ``ttl_wait`` tells how long the AAAA that was withdrawn may live on in caches."""
    name = mx_host_name(domain, updater.zone)
    before = updater.current(name)
    wanted = AddressRecords(wanted.a, wanted.aaaa, {t: ttl for t in ADDRESS_TYPES if wanted.of(t)})
    changed = not before.serves(wanted)
    result = Publication(normalize_domain(domain), name, mx_record(domain, updater.zone), before, wanted,
                         changed)
    if changed and not check_mode:
        updater.apply(name, wanted, ttl)
    if not check_mode:
        result.servers = wait_until_served(servers, name, wanted, wait_seconds)
        withdrawn = set(before.aaaa) - set(wanted.aaaa)
        result.ttl_wait = before.ttl.get("AAAA", 0) if withdrawn else 0
    return result
