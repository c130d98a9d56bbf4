# Copyright: v6gate developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The one DNS client of v6gate: the audit modules and the gate milter ask DNS only through it.

Every lookup returns a ``DnsResult`` whose ``outcome`` tells answer, NXDOMAIN, no data, SERVFAIL and
timeout apart, so a DNS outage is never mistaken for a sender's misconfiguration. A lookup ends within
its own limit (``lifetime``) and within the caller's ``Deadline``, whichever comes first.

Two cache modes, one code path:
- ``keep_for_run=True`` (an audit module run): every result, failures included, is kept until the run
  ends, so a dead server is asked once per name and a report is consistent with itself;
- ``keep_for_run=False`` (the long-running gate): answers and negative answers are kept for their TTL
  (at most ``MAX_CACHE_TTL``), temporary failures and answers over ``MAX_CACHED_ANSWER_BYTES`` are not
  kept, and at most ``cache_size`` entries are held (least recently used go first), so a sender cannot
  grow the gate's memory by varying names or by serving huge answers.
Queries already in flight for the same (name, type) are waited for rather than sent twice.
"""

from __future__ import annotations

import ipaddress
import secrets
import socket
import struct
import threading
import time
import traceback
from collections import OrderedDict
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

try:
    import dns.exception
    import dns.flags
    import dns.message
    import dns.name
    import dns.rcode
    import dns.rdataclass
    import dns.rdatatype
    import dns.resolver

    HAS_DNSPYTHON = True
    DNSPYTHON_IMPORT_ERROR = None
except ImportError:
    HAS_DNSPYTHON = False
    DNSPYTHON_IMPORT_ERROR = traceback.format_exc()

try:
    from dns.nameserver import Do53Nameserver
except ImportError:  # dnspython before 2.4 (Debian 12): addresses as strings, ports in nameserver_ports
    Do53Nameserver = None

ANSWER = "answer"
NXDOMAIN = "nxdomain"
NODATA = "nodata"
SERVFAIL = "servfail"
TIMEOUT = "timeout"
OUTCOMES = (ANSWER, NXDOMAIN, NODATA, SERVFAIL, TIMEOUT)

MAX_CACHE_TTL = 86400
# In the gate, an answer larger than this is not kept: a sender's zone can serve ~60 KB answers with a
# day's TTL, and cache_size bounds entries, not bytes. Real SPF, DKIM and PTR answers are far smaller.
MAX_CACHED_ANSWER_BYTES = 4096
DEADLINE_REACHED = "deadline reached"  # the detail of a TIMEOUT the caller's deadline caused


@dataclass(frozen=True)
class DnsResult:
    """One lookup. ``records`` are texts (addresses, names without the final dot, joined TXT strings);
    MX records are ``(preference, exchange)``. ``txt_strings`` keeps each TXT record's character-strings.
    ``ttl``: how long the answer (or the negative answer) may be kept, 0 when unknown."""

    name: str
    rdtype: str
    outcome: str
    records: tuple = ()
    txt_strings: tuple = ()
    detail: str = ""
    ttl: int = 0

    @property
    def is_temporary(self) -> bool:
        """SERVFAIL or timeout: the answer is unknown, and must not be read as "no record"."""
        return self.outcome in (SERVFAIL, TIMEOUT)

    @property
    def is_void(self) -> bool:
        return self.outcome in (NXDOMAIN, NODATA)

    def as_dict(self) -> dict:
        return {"name": self.name, "type": self.rdtype, "outcome": self.outcome,
                "records": [list(r) if isinstance(r, tuple) else r for r in self.records],
                "detail": self.detail}


class Deadline:
    """The time one decision may take, shared by all of its lookups."""

    def __init__(self, seconds: float) -> None:
        self.ends = time.monotonic() + seconds

    def remaining(self) -> float:
        return self.ends - time.monotonic()

    def within(self, seconds: float) -> Deadline:
        """A part of this decision that may take at most ``seconds`` (never past this deadline)."""
        part = Deadline(seconds)
        part.ends = min(part.ends, self.ends)
        return part


def parse_nameserver(spec: str, default_port: int = 53) -> tuple[str, int]:
    """``192.0.2.1``, ``2001:db8::1``, ``192.0.2.1@5353``, ``192.0.2.1:5353``, ``[2001:db8::1]:5353``,
    ``2001:db8::1@5353`` -> (address, port). Names are refused: a nameserver given by name would itself
    need a resolver, and an audit must say exactly which server it asked."""
    text = str(spec).strip()
    host, port_text = text, None
    if text.startswith("["):
        host, bracket, rest = text[1:].partition("]")
        if not bracket or (rest and rest[0] not in ":@"):
            raise ValueError(f"nameserver {spec!r}: expected [address] or [address]:port")
        port_text = rest[1:] if rest else None
    elif "@" in text:
        host, _at, port_text = text.rpartition("@")
    elif text.count(":") == 1:
        host, _colon, port_text = text.partition(":")
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        raise ValueError(f"nameserver {spec!r}: {host!r} is not an IP address") from None
    port = default_port
    if port_text is not None:
        if not port_text.isdigit() or not 1 <= int(port_text) <= 65535:
            raise ValueError(f"nameserver {spec!r}: port must be a number from 1 to 65535")
        port = int(port_text)
    return address.compressed, port


def format_nameserver(server: tuple[str, int]) -> str:
    """(address, port) -> ``192.0.2.1:53`` or ``[2001:db8::1]:53``, a form parse_nameserver reads back."""
    host, port = server
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def _record_text(rdata, rdtype: str):
    if rdtype in ("A", "AAAA"):
        return rdata.address
    if rdtype == "MX":
        return (rdata.preference, rdata.exchange.to_text(omit_final_dot=True).lower())
    if rdtype in ("PTR", "CNAME", "NS"):
        return rdata.target.to_text(omit_final_dot=True).lower()
    if rdtype in ("TXT", "SPF"):
        return b"".join(rdata.strings).decode("utf-8", "replace")
    return rdata.to_text()


def _answer(name: str, rdtype: str, rrset, ttl: int) -> DnsResult:
    records = tuple(_record_text(rdata, rdtype) for rdata in rrset)
    txt_strings = tuple(tuple(rdata.strings) for rdata in rrset) if rdtype in ("TXT", "SPF") else ()
    return DnsResult(name, rdtype, ANSWER, records, txt_strings, ttl=ttl)


def _answer_bytes(result: DnsResult) -> int:
    return sum(len(str(record)) for record in result.records) + sum(
        len(string) for strings in result.txt_strings for string in strings)


def _servers_of(resolver) -> list[tuple[str, int]]:
    """(address, port) of the resolver's plain-DNS servers, for dnspython 2.3 and 2.4+ alike."""
    servers = []
    for server in resolver.nameservers:
        if isinstance(server, str):
            servers.append((server, getattr(resolver, "nameserver_ports", {}).get(server, resolver.port)))
        elif Do53Nameserver is not None and isinstance(server, Do53Nameserver):
            servers.append((server.address, server.port))
    return servers


@dataclass
class _Pending:
    event: threading.Event
    result: DnsResult | None = None


class DnsClient:
    """A resolver with a cache (see the module text), in-flight de-duplication and a bound on concurrent
    queries. Thread-safe: the audit's batch helpers and the gate's milter threads share one client.

    ``timeout`` is per attempt and server; ``retries`` more rounds follow when every server timed out;
    ``lifetime`` (default ``timeout * (retries + 1)``) bounds one lookup as a whole.
    """

    def __init__(self, nameservers=None, timeout: float = 3.0, retries: int = 1, max_in_flight: int = 32,
                 lifetime: float | None = None, cache_size: int = 100_000, keep_for_run: bool = True):
        if not HAS_DNSPYTHON:
            raise RuntimeError("dnspython is required")
        servers = [parse_nameserver(spec) for spec in nameservers or []]
        try:
            self.resolver = dns.resolver.Resolver(configure=not servers)
        except dns.resolver.NoResolverConfiguration as error:
            raise ValueError("no nameservers given and the system resolver configuration is unusable: "
                             f"{error}") from None
        if servers:
            if Do53Nameserver is None:
                self.resolver.nameservers = [address for address, _port in servers]
                self.resolver.nameserver_ports = dict(servers)
            else:
                self.resolver.nameservers = [Do53Nameserver(host, port) for host, port in servers]
        self._servers = servers or _servers_of(self.resolver)
        self.nameservers = [format_nameserver(server) for server in self._servers] or [
            str(ns) for ns in self.resolver.nameservers
        ]
        self.timeout = timeout
        self.retries = retries
        self.lifetime = lifetime if lifetime is not None else timeout * (retries + 1)
        self.resolver.timeout = timeout
        self.resolver.lifetime = self.lifetime
        self.resolver.cache = None  # our own cache below also remembers failures within a run
        self.max_in_flight = max_in_flight
        self.cache_size = cache_size
        self.keep_for_run = keep_for_run
        self._slots = threading.BoundedSemaphore(max_in_flight)
        self._lock = threading.Lock()
        self._cache: OrderedDict[tuple[str, str], tuple[float | None, DnsResult]] = OrderedDict()
        self._in_flight: dict[tuple[str, str], _Pending] = {}
        self.queries_sent = 0
        self.cache_hits = 0

    # ------------------------------------------------------------------------------------ lookups

    def resolve(self, name: str, rdtype: str, deadline: Deadline | None = None) -> DnsResult:
        key = (str(name).lower().rstrip("."), rdtype.upper())
        now = time.monotonic()
        with self._lock:
            entry = self._cache.get(key)
            if entry is not None:
                expires, cached = entry
                if expires is None or expires > now:
                    self._cache.move_to_end(key)
                    self.cache_hits += 1
                    return cached
                del self._cache[key]
            pending = self._in_flight.get(key)
            owner = pending is None
            if owner:
                pending = self._in_flight[key] = _Pending(threading.Event())
        if not owner:
            return self._wait_for(pending, key, deadline)
        result = DnsResult(key[0], key[1], SERVFAIL, detail="lookup did not complete")
        try:
            own_end = time.monotonic() + self.lifetime
            end = min(own_end, deadline.ends) if deadline is not None else own_end
            result = self._query_in_slot(key[0], key[1], end)
            if result.outcome == TIMEOUT and end < own_end:
                result = DnsResult(key[0], key[1], TIMEOUT, detail=DEADLINE_REACHED)
        finally:
            with self._lock:
                self.queries_sent += 1
                self._remember(key, result)
                pending.result = result
                self._in_flight.pop(key)
            pending.event.set()
        return result

    def map(self, function, items) -> list:
        """``[function(item) for item in items]`` on up to max_in_flight threads, order preserved."""
        items = list(items)
        if len(items) <= 1:
            return [function(item) for item in items]
        with ThreadPoolExecutor(max_workers=min(self.max_in_flight, len(items))) as pool:
            return list(pool.map(function, items))

    def stats(self) -> dict:
        return {"queries_sent": self.queries_sent, "cache_hits": self.cache_hits,
                "nameservers": self.nameservers}

    # ---------------------------------------------------------------------------------- internals

    def _wait_for(self, pending: _Pending, key, deadline: Deadline | None) -> DnsResult:
        wait = (deadline.remaining() if deadline is not None else self.lifetime + 1.0)
        if wait <= 0 or not pending.event.wait(wait):
            return DnsResult(key[0], key[1], TIMEOUT, detail=DEADLINE_REACHED)
        result = pending.result
        if result.detail == DEADLINE_REACHED and (deadline is None or deadline.remaining() > 0):
            # the asker that owned the query ran out of its own time, not ours: ask again
            return self.resolve(key[0], key[1], deadline)
        with self._lock:
            self.cache_hits += 1
        return result

    def _remember(self, key, result: DnsResult) -> None:
        if self.keep_for_run:
            if result.detail == DEADLINE_REACHED:
                return  # another check with more time left must still be able to ask
            expires = None
        else:
            if result.is_temporary or result.ttl <= 0 or _answer_bytes(result) > MAX_CACHED_ANSWER_BYTES:
                return
            expires = time.monotonic() + min(result.ttl, MAX_CACHE_TTL)
        self._cache[key] = (expires, result)
        self._cache.move_to_end(key)
        while len(self._cache) > self.cache_size:
            self._cache.popitem(last=False)

    def _query_in_slot(self, name: str, rdtype: str, end: float) -> DnsResult:
        wait = end - time.monotonic()
        if wait <= 0 or not self._slots.acquire(timeout=wait):
            return DnsResult(name, rdtype, TIMEOUT, detail=DEADLINE_REACHED)
        try:
            return self._query(name, rdtype, end)
        finally:
            self._slots.release()

    def _query(self, name: str, rdtype: str, end: float) -> DnsResult:
        try:
            qname = dns.name.from_text(name)
            rdtype_value = dns.rdatatype.from_text(rdtype)
        except (dns.exception.DNSException, UnicodeError, ValueError) as error:
            # A name that cannot exist in DNS (label over 63 octets, empty label, a sender's text that is
            # not valid IDNA): permanent, not SERVFAIL.
            return DnsResult(name, rdtype, NXDOMAIN, detail=f"invalid name: {error}")
        result = self._query_udp(name, qname, rdtype, rdtype_value, end) if self._servers else None
        return result or self._query_resolver(name, qname, rdtype, end)

    def _query_udp(self, name, qname, rdtype: str, rdtype_value, end: float) -> DnsResult | None:
        """The common case in few microseconds: one UDP question, one plain answer.

        dnspython's Resolver spends most of its time rendering the query (name compression) and building
        Answer objects; for thousands of reverse lookups that, not the network, limits the rate. The wire
        query here is built directly (RD set, EDNS0 with a 1232-byte payload). Anything unusual (truncation,
        FORMERR, an unparseable reply, an unexpected rcode) returns None and the Resolver handles it.
        """
        query_id = secrets.randbits(16)
        wire = (struct.pack("!HHHHHH", query_id, 0x0100, 1, 0, 0, 1) + qname.to_wire()
                + struct.pack("!HH", rdtype_value, 1) + b"\x00" + struct.pack("!HHIH", 41, 1232, 0, 0))
        failures = []
        for _attempt in range(self.retries + 1):
            failures = []
            for host, port in self._servers:
                if end - time.monotonic() <= 0:
                    failures.append("timeout")
                    break
                reply = self._exchange(wire, query_id, qname, rdtype_value, host, port, end)
                if reply is None:
                    return None
                if isinstance(reply, str):
                    failures.append(reply)
                    continue
                return self._interpret(name, qname, rdtype, rdtype_value, reply)
            if any(failure != "timeout" for failure in failures) or end - time.monotonic() <= 0:
                break  # servers answered with errors, or no time is left: another round will not help
        if failures and all(failure == "timeout" for failure in failures):
            return DnsResult(name, rdtype, TIMEOUT, detail=f"no answer from {', '.join(self.nameservers)}")
        return DnsResult(name, rdtype, SERVFAIL, detail="; ".join(failures))

    def _exchange(self, wire: bytes, query_id: int, qname, rdtype_value, host: str, port: int, end: float):
        """One UDP exchange: the reply Message, "timeout", an error text, or None to hand over."""
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        with socket.socket(family, socket.SOCK_DGRAM) as sock:
            attempt_end = min(time.monotonic() + self.timeout, end)
            try:
                sock.connect((host, port))  # a connected socket only receives from this server
                sock.send(wire)
            except OSError as error:
                return f"{host}:{port}: {error.strerror or error}"
            while True:
                remaining = attempt_end - time.monotonic()
                if remaining <= 0:
                    return "timeout"
                sock.settimeout(remaining)
                try:
                    data = sock.recv(65535)
                except TimeoutError:
                    return "timeout"
                except OSError as error:  # e.g. ICMP port unreachable
                    return f"{host}:{port}: {error.strerror or error}"
                if len(data) < 12 or struct.unpack("!H", data[:2])[0] != query_id:
                    continue  # a late reply to an earlier query: keep waiting for ours
                try:
                    reply = dns.message.from_wire(data)
                except dns.exception.DNSException:
                    return None
                question = reply.question[0] if len(reply.question) == 1 else None
                if not reply.flags & dns.flags.QR or question is None or question.name != qname \
                        or question.rdtype != rdtype_value:
                    continue
                if reply.flags & dns.flags.TC:
                    return None  # truncated: the Resolver retries over TCP
                rcode = reply.rcode()
                if rcode in (dns.rcode.NOERROR, dns.rcode.NXDOMAIN):
                    return reply
                if rcode in (dns.rcode.SERVFAIL, dns.rcode.REFUSED, dns.rcode.NOTIMP):
                    return f"{host}:{port} answered {dns.rcode.to_text(rcode)}"
                return None

    def _interpret(self, name: str, qname, rdtype: str, rdtype_value, reply) -> DnsResult:
        """Follow the CNAME chain inside the reply, as a stub resolver does, and classify the outcome."""
        current, ttl = qname, MAX_CACHE_TTL
        for _hop in range(16):
            rrset = reply.get_rrset(reply.answer, current, dns.rdataclass.IN, rdtype_value)
            if rrset is not None:
                return _answer(name, rdtype, rrset, min(ttl, rrset.ttl))
            cname = reply.get_rrset(reply.answer, current, dns.rdataclass.IN, dns.rdatatype.CNAME)
            if cname is None:
                break
            current, ttl = cname[0].target, min(ttl, cname.ttl)
        negative_ttl = 0
        for rrset in reply.authority:
            if rrset.rdtype == dns.rdatatype.SOA and len(rrset):
                negative_ttl = min(rrset.ttl, rrset[0].minimum)  # RFC 2308 section 5
        if reply.rcode() == dns.rcode.NXDOMAIN:
            return DnsResult(name, rdtype, NXDOMAIN, detail="no such domain", ttl=negative_ttl)
        return DnsResult(name, rdtype, NODATA, detail=f"no {rdtype} record", ttl=negative_ttl)

    def _query_resolver(self, name: str, qname, rdtype: str, end: float) -> DnsResult:
        lifetime = end - time.monotonic()
        if lifetime <= 0:
            return DnsResult(name, rdtype, TIMEOUT, detail=DEADLINE_REACHED)
        try:
            answer = self.resolver.resolve(qname, rdtype, search=False, lifetime=lifetime)
        except dns.resolver.NXDOMAIN:
            return DnsResult(name, rdtype, NXDOMAIN, detail="no such domain")
        except dns.resolver.NoAnswer:
            return DnsResult(name, rdtype, NODATA, detail=f"no {rdtype} record")
        except dns.resolver.NoNameservers as error:
            # SERVFAIL and REFUSED both end here: no server could give an authoritative answer.
            return DnsResult(name, rdtype, SERVFAIL, detail=str(error))
        except dns.exception.Timeout as error:
            return DnsResult(name, rdtype, TIMEOUT, detail=str(error))
        except dns.exception.DNSException as error:
            return DnsResult(name, rdtype, SERVFAIL, detail=f"{type(error).__name__}: {error}")
        return _answer(name, rdtype, answer.rrset, answer.rrset.ttl)
