# Copyright: v6gate developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""DNS access for every v6gate audit module, and the sender checks built on it.

One ``DnsClient`` per module run: a dnspython resolver (optionally pointed at given nameservers, IPv4 or
IPv6, with a port), a per-run cache shared by all checks, and a bound on queries in flight. Every lookup
returns a ``DnsResult`` whose ``outcome`` tells answer, NXDOMAIN, no data, SERVFAIL and timeout apart, so
a DNS outage is never mistaken for a sender's misconfiguration.

The checks (reverse DNS, SPF, DKIM, IPv6 readiness) live here and not in the modules so that the modules
stay thin and the readiness module reuses exactly the same code. Decisions about replies are not made
here: they come from ``ipv6_rules``, the rule module the gate milter runs, so audit and MX cannot disagree.
"""

from __future__ import annotations

import base64
import binascii
import ipaddress
import re
import secrets
import socket
import struct
import threading
import time
import traceback
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from ansible_collections.v6gate.mx.plugins.module_utils.ipv6_rules import (
    PTR_POLICIES,
    PtrStatus,
    check_authentication,
    check_reverse_dns,
    classify_ptr,
)

try:
    import dns.exception
    import dns.flags
    import dns.message
    import dns.name
    import dns.nameserver
    import dns.rcode
    import dns.rdataclass
    import dns.rdatatype
    import dns.resolver
    import dns.reversename

    HAS_DNSPYTHON = True
    DNSPYTHON_IMPORT_ERROR = None
except ImportError:
    HAS_DNSPYTHON = False
    DNSPYTHON_IMPORT_ERROR = traceback.format_exc()

try:
    import spf

    HAS_PYSPF = True
    PYSPF_IMPORT_ERROR = None
except ImportError:
    HAS_PYSPF = False
    PYSPF_IMPORT_ERROR = traceback.format_exc()

try:
    from cryptography.hazmat.primitives.asymmetric import ed25519, rsa
    from cryptography.hazmat.primitives.serialization import load_der_public_key

    HAS_CRYPTOGRAPHY = True
    CRYPTOGRAPHY_IMPORT_ERROR = None
except ImportError:
    HAS_CRYPTOGRAPHY = False
    CRYPTOGRAPHY_IMPORT_ERROR = traceback.format_exc()


# -------------------------------------------------------------------------------- module plumbing

DNS_ARGUMENT_SPEC = {
    "nameservers": {"type": "list", "elements": "str", "default": []},
    "timeout": {"type": "float", "default": 3.0},
    "retries": {"type": "int", "default": 1},
    "max_in_flight": {"type": "int", "default": 32},
}


def require_libraries(module, need_spf: bool = False, need_crypto: bool = False) -> None:
    """fail_json with Ansible's standard missing-library message when a Python dependency is absent."""
    from ansible.module_utils.basic import missing_required_lib

    if not HAS_DNSPYTHON:
        module.fail_json(msg=missing_required_lib("dnspython"), exception=DNSPYTHON_IMPORT_ERROR)
    if need_spf and not HAS_PYSPF:
        module.fail_json(msg=missing_required_lib("pyspf"), exception=PYSPF_IMPORT_ERROR)
    if need_crypto and not HAS_CRYPTOGRAPHY:
        module.fail_json(msg=missing_required_lib("cryptography"), exception=CRYPTOGRAPHY_IMPORT_ERROR)


def client_from_module(module) -> DnsClient:
    """Build the run's DnsClient from the shared options; bad options end the module with fail_json."""
    params = module.params
    if params["timeout"] <= 0:
        module.fail_json(msg=f"timeout must be greater than 0, got {params['timeout']}")
    if params["retries"] < 0:
        module.fail_json(msg=f"retries must be 0 or more, got {params['retries']}")
    if not 1 <= params["max_in_flight"] <= 1024:
        module.fail_json(msg=f"max_in_flight must be between 1 and 1024, got {params['max_in_flight']}")
    try:
        return DnsClient(params["nameservers"], params["timeout"], params["retries"], params["max_in_flight"])
    except ValueError as error:
        module.fail_json(msg=str(error))
    except dns.resolver.NoResolverConfiguration as error:
        module.fail_json(msg=f"no nameservers given and the system resolver configuration is unusable: "
                             f"{error}")
    raise AssertionError("unreachable: fail_json exits")


# ---------------------------------------------------------------------------------------- DNS layer

ANSWER = "answer"
NXDOMAIN = "nxdomain"
NODATA = "nodata"
SERVFAIL = "servfail"
TIMEOUT = "timeout"
OUTCOMES = (ANSWER, NXDOMAIN, NODATA, SERVFAIL, TIMEOUT)


@dataclass(frozen=True)
class DnsResult:
    """One lookup. ``records`` are texts (addresses, names without the final dot, joined TXT strings);
    MX records are ``(preference, exchange)``. ``txt_strings`` keeps each TXT record's character-strings."""

    name: str
    rdtype: str
    outcome: str
    records: tuple = ()
    txt_strings: tuple = ()
    detail: str = ""

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
        host, _, port_text = text.rpartition("@")
    elif text.count(":") == 1:
        host, _, port_text = text.partition(":")
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


class DnsClient:
    """A resolver with a per-run cache, in-flight de-duplication and a bound on concurrent queries.

    Thread-safe: the batch helpers run checks on a thread pool of ``max_in_flight`` workers, and a query
    already in flight for the same (name, type) is waited for rather than sent twice.
    """

    def __init__(self, nameservers=None, timeout: float = 3.0, retries: int = 1, max_in_flight: int = 32):
        if not HAS_DNSPYTHON:
            raise RuntimeError("dnspython is required")
        servers = [parse_nameserver(spec) for spec in nameservers or []]
        self.resolver = dns.resolver.Resolver(configure=not servers)
        if servers:
            self.resolver.nameservers = [dns.nameserver.Do53Nameserver(host, port) for host, port in servers]
        self.nameservers = [f"[{h}]:{p}" if ":" in h else f"{h}:{p}" for h, p in servers] or [
            str(ns) for ns in self.resolver.nameservers
        ]
        # timeout is per attempt; the lifetime lets dnspython retry the servers ``retries`` more times.
        self.resolver.timeout = timeout
        self.resolver.lifetime = timeout * (retries + 1)
        self.resolver.cache = None  # the run's own cache below also remembers failures
        self.timeout = timeout
        self.retries = retries
        self._servers = [(ns.address, ns.port) for ns in self.resolver.nameservers
                         if isinstance(ns, dns.nameserver.Do53Nameserver)]
        self.max_in_flight = max_in_flight
        self._slots = threading.BoundedSemaphore(max_in_flight)
        self._lock = threading.Lock()
        self._cache: dict[tuple[str, str], DnsResult] = {}
        self._in_flight: dict[tuple[str, str], threading.Event] = {}
        self.queries_sent = 0
        self.cache_hits = 0

    def resolve(self, name: str, rdtype: str) -> DnsResult:
        key = (name.lower().rstrip("."), rdtype.upper())
        with self._lock:
            cached = self._cache.get(key)
            if cached is not None:
                self.cache_hits += 1
                return cached
            waiter = self._in_flight.get(key)
            if waiter is None:
                self._in_flight[key] = threading.Event()
        if waiter is not None:
            waiter.wait()
            with self._lock:
                self.cache_hits += 1
                return self._cache[key]
        result = DnsResult(key[0], key[1], SERVFAIL, detail="lookup did not complete")
        try:
            with self._slots:
                result = self._query(*key)
        finally:
            with self._lock:
                self._cache[key] = result
                self.queries_sent += 1
                self._in_flight.pop(key).set()
        return result

    def _query(self, name: str, rdtype: str) -> DnsResult:
        try:
            qname = dns.name.from_text(name)
            rdtype_value = dns.rdatatype.from_text(rdtype)
        except (dns.name.NameTooLong, dns.exception.SyntaxError) as error:
            # A name that cannot exist in DNS (label over 63 octets, empty label): permanent, not SERVFAIL.
            return DnsResult(name, rdtype, NXDOMAIN, detail=f"invalid name: {error}")
        result = self._query_udp(name, qname, rdtype, rdtype_value) if self._servers else None
        return result or self._query_resolver(name, qname, rdtype)

    def _query_udp(self, name, qname, rdtype: str, rdtype_value) -> DnsResult | None:
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
                reply = self._exchange(wire, query_id, qname, rdtype_value, host, port)
                if reply is None:
                    return None
                if isinstance(reply, str):
                    failures.append(reply)
                    continue
                return self._interpret(name, qname, rdtype, rdtype_value, reply)
            if any(failure != "timeout" for failure in failures):
                break  # servers answered with errors: retrying the same servers will not help
        if failures and all(failure == "timeout" for failure in failures):
            return DnsResult(name, rdtype, TIMEOUT, detail=f"no answer from {', '.join(self.nameservers)}")
        return DnsResult(name, rdtype, SERVFAIL, detail="; ".join(failures))

    def _exchange(self, wire: bytes, query_id: int, qname, rdtype_value, host: str, port: int):
        """One UDP exchange: the reply Message, "timeout", an error text, or None to hand over."""
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        with socket.socket(family, socket.SOCK_DGRAM) as sock:
            deadline = time.monotonic() + self.timeout
            try:
                sock.connect((host, port))  # a connected socket only receives from this server
                sock.send(wire)
            except OSError as error:
                return f"{host}:{port}: {error.strerror or error}"
            while True:
                remaining = deadline - time.monotonic()
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
        current = qname
        for _hop in range(16):
            rrset = reply.get_rrset(reply.answer, current, dns.rdataclass.IN, rdtype_value)
            if rrset is not None:
                records = tuple(_record_text(rdata, rdtype) for rdata in rrset)
                txt_strings = tuple(tuple(r.strings) for r in rrset) if rdtype in ("TXT", "SPF") else ()
                return DnsResult(name, rdtype, ANSWER, records, txt_strings)
            cname = reply.get_rrset(reply.answer, current, dns.rdataclass.IN, dns.rdatatype.CNAME)
            if cname is None:
                break
            current = cname[0].target
        if reply.rcode() == dns.rcode.NXDOMAIN:
            return DnsResult(name, rdtype, NXDOMAIN, detail="no such domain")
        return DnsResult(name, rdtype, NODATA, detail=f"no {rdtype} record")

    def _query_resolver(self, name: str, qname, rdtype: str) -> DnsResult:
        try:
            answer = self.resolver.resolve(qname, rdtype, search=False)
        except dns.resolver.NXDOMAIN:
            return DnsResult(name, rdtype, NXDOMAIN, detail="no such domain")
        except dns.resolver.NoAnswer:
            return DnsResult(name, rdtype, NODATA, detail=f"no {rdtype} record")
        except dns.resolver.NoNameservers as error:
            # SERVFAIL and REFUSED both end here: no server could give an authoritative answer.
            return DnsResult(name, rdtype, SERVFAIL, detail=str(error))
        except dns.exception.Timeout as error:
            return DnsResult(name, rdtype, TIMEOUT, detail=str(error))
        except (dns.name.NameTooLong, dns.exception.SyntaxError) as error:
            # A name that cannot exist in DNS (label over 63 octets, empty label): permanent, not SERVFAIL.
            return DnsResult(name, rdtype, NXDOMAIN, detail=f"invalid name: {error}")
        except dns.exception.DNSException as error:
            return DnsResult(name, rdtype, SERVFAIL, detail=f"{type(error).__name__}: {error}")
        rrset = answer.rrset
        records = tuple(_record_text(rdata, rdtype) for rdata in rrset)
        txt_strings = tuple(tuple(rdata.strings) for rdata in rrset) if rdtype in ("TXT", "SPF") else ()
        return DnsResult(name, rdtype, ANSWER, records, txt_strings)

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


# ---------------------------------------------------------------------------------------- addresses


def parse_address(text) -> ipaddress.IPv4Address | ipaddress.IPv6Address:
    """Any textual address form: compressed or expanded IPv6, ``[...]``, ``IPv6:`` prefix, zone index;
    IPv4-mapped IPv6 (``::ffff:198.51.100.10``) is the IPv4 client it stands for."""
    if not isinstance(text, str) or not text.strip():
        raise ValueError(f"{text!r} is not an IP address")
    cleaned = text.strip()
    if cleaned[:5].lower() == "ipv6:":
        cleaned = cleaned[5:]
    if cleaned.startswith("[") and cleaned.endswith("]"):
        cleaned = cleaned[1:-1]
    cleaned = cleaned.split("%", 1)[0]
    try:
        address = ipaddress.ip_address(cleaned)
    except ValueError:
        raise ValueError(f"{text!r} is not an IPv4 or IPv6 address") from None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


_DNS_LABEL = re.compile(r"^(?!-)[A-Za-z0-9_-]{1,63}(?<!-)$")


def is_dns_name(text, fqdn: bool = False) -> bool:
    """Letters, digits, hyphens and underscores in labels of at most 63 octets, 253 in all; with ``fqdn``,
    at least two labels. Internationalised names must be given in their xn-- form."""
    if not isinstance(text, str):
        return False
    labels = text.strip().rstrip(".").split(".")
    return (0 < len(text.strip()) <= 253 and all(_DNS_LABEL.match(label) for label in labels)
            and (not fqdn or len(labels) >= 2))


def check_domains(texts, what: str) -> list[str]:
    """Lower-cased names without the final dot; ValueError naming every bad entry."""
    bad = [repr(text) for text in texts if not is_dns_name(text, fqdn=True)]
    if bad:
        raise ValueError(f"not a valid {what}: {', '.join(bad)}")
    return [text.strip().rstrip(".").lower() for text in texts]


def parse_addresses(texts) -> list:
    """Parse every address; one ValueError naming all bad entries, so a typo is reported at once."""
    parsed, bad = [], []
    for text in texts:
        try:
            parsed.append(parse_address(text))
        except ValueError:
            bad.append(repr(text))
    if bad:
        raise ValueError(f"not an IPv4 or IPv6 address: {', '.join(bad)}")
    return parsed


# -------------------------------------------------------------------------------------- reverse DNS


def check_reverse(client: DnsClient, address) -> dict:
    """PTR names of ``address`` and, per name, whether its A/AAAA holds the address (forward-confirmed)."""
    ip = parse_address(address) if isinstance(address, str) else address
    forward_type = "AAAA" if ip.version == 6 else "A"
    ptr = client.resolve(dns.reversename.from_address(ip.compressed).to_text(), "PTR")
    result = {
        "input": address if isinstance(address, str) else ip.compressed,
        "address": ip.compressed,
        "family": f"ipv{ip.version}",
        "reverse_name": ptr.name,
        "ptr_outcome": ptr.outcome,
        "ptr_names": list(ptr.records),
        "forward": [],
        "confirmed_names": [],
        "detail": ptr.detail,
    }
    if ptr.is_temporary:
        status = classify_ptr(ip.compressed, None)
    elif not ptr.records:
        status = classify_ptr(ip.compressed, [])
    else:
        forward_addresses = {}
        for name in ptr.records:
            forward = client.resolve(name, forward_type)
            confirmed = forward.outcome == ANSWER and any(
                _same_address(candidate, ip) for candidate in forward.records
            )
            forward_addresses[name] = None if forward.is_temporary else list(forward.records)
            result["forward"].append({"name": name, "type": forward_type, "outcome": forward.outcome,
                                      "addresses": list(forward.records), "confirmed": confirmed})
            if confirmed:
                result["confirmed_names"].append(name)
        status = classify_ptr(ip.compressed, ptr.records, forward_addresses)
    result["status"] = status.value
    return result


def _same_address(candidate: str, ip) -> bool:
    try:
        return ipaddress.ip_address(candidate) == ip
    except ValueError:
        return False


# ---------------------------------------------------------------------------------------------- SPF

SPF_LOOKUP_LIMIT = 10
SPF_VOID_LIMIT = 2
_SPF_VERSION = re.compile(r"^v=spf1(\s|$)", re.IGNORECASE)
_DNS_MECHANISMS = ("include", "a", "mx", "ptr", "exists")

# pyspf looks DNS up through its module-level DNSLookup. It is replaced once by a dispatcher that uses
# the DnsClient of the SPF evaluation running on this thread (set by _AuditSpfQuery.dns), so SPF shares
# the run's cache, nameservers and timeouts; with no evaluation active, pyspf behaves as shipped.
_pyspf_thread = threading.local()


def _pyspf_lookup(name, qtype, strict=True, timeout=None):
    client = getattr(_pyspf_thread, "client", None)
    if client is None:
        return _PYSPF_ORIGINAL_LOOKUP(name, qtype, strict, timeout)
    result = client.resolve(name, qtype)
    if result.is_temporary:
        raise spf.TempError(f"DNS {result.outcome.upper()} for {name} {qtype}")
    key = (name, qtype)
    if qtype in ("TXT", "SPF"):
        return [(key, strings) for strings in result.txt_strings]
    return [(key, record) for record in result.records]


if HAS_PYSPF:
    _PYSPF_ORIGINAL_LOOKUP = getattr(spf, "_v6gate_original_lookup", spf.DNSLookup)
    spf._v6gate_original_lookup = _PYSPF_ORIGINAL_LOOKUP
    spf.DNSLookup = _pyspf_lookup

    class _AuditSpfQuery(spf.query):
        """pyspf's evaluation with our DNS and an optional dual-stack void count.

        RFC 7208 counts a lookup as void when it returns no records. For an IPv6 sender, ``a:host`` asks for
        AAAA; if host only has an A record, pyspf counts that as void although the name is perfectly alive
        (it serves IPv4 senders). In ``dual_stack`` mode such an empty AAAA is not counted.
        """

        def __init__(self, *args, client: DnsClient, dual_stack: bool = False, **kwargs):
            super().__init__(*args, **kwargs)
            self._client = client
            self._dual_stack = dual_stack
            self.dual_stack_exempted = 0

        def dns(self, name, qtype, cnames=None, ignore_void=False):
            previous = getattr(_pyspf_thread, "client", None)
            _pyspf_thread.client = self._client
            try:
                result = super().dns(name, qtype, cnames=cnames, ignore_void=True)
            finally:
                _pyspf_thread.client = previous
            if not result and not ignore_void:
                if self._dual_stack and qtype == "AAAA" and self._client.resolve(name, "A").records:
                    self.dual_stack_exempted += 1
                    return result
                self.void_lookups += 1
                if self.void_lookups > spf.MAX_VOID_LOOKUPS:
                    raise spf.PermError(f"Void lookup limit of {spf.MAX_VOID_LOOKUPS} exceeded")
            return result


def spf_records(client: DnsClient, domain: str) -> tuple[DnsResult, list[str]]:
    """The TXT lookup for ``domain`` and the SPF records among its answers (strings already joined)."""
    txt = client.resolve(domain, "TXT")
    return txt, [record for record in txt.records if _SPF_VERSION.match(record)]


def analyse_spf_tree(client: DnsClient, domain: str) -> dict:
    """Walk the SPF record and everything it includes or redirects to, without a sender address.

    Counts the DNS-querying terms RFC 7208 section 4.6.4 limits to 10 (include, a, mx, ptr, exists,
    redirect) over the whole tree, so the count does not depend on where one sender's evaluation stopped.
    Targets with macros are counted but cannot be followed without a sender.
    """
    warnings: list[str] = []
    visited: set[str] = set()
    state = {"lookups": 0, "temporary": False}

    def walk(current: str, depth: int, top: bool) -> None:
        current = current.lower().rstrip(".")
        if current in visited or depth > 10:
            warnings.append(f"SPF include/redirect loop or nesting too deep at {current}")
            return
        visited.add(current)
        txt, records = spf_records(client, current)
        if txt.is_temporary:
            state["temporary"] = True
            warnings.append(f"SPF record of {current} could not be read: {txt.outcome}")
            return
        if not records:
            where = "" if top else " (included or redirected to)"
            warnings.append(f"no SPF record at {current}{where}")
            return
        if len(records) > 1:
            warnings.append(f"{len(records)} SPF records at {current}; RFC 7208 makes that a permerror")
        terms = records[0].split()[1:]
        has_all = any(term.lstrip("+-~?").lower() == "all" for term in terms)
        for term in terms:
            lowered = term.lower()
            mechanism = lowered.lstrip("+-~?")
            name = re.split(r"[:/=]", mechanism, maxsplit=1)[0]
            if name in _DNS_MECHANISMS:
                state["lookups"] += 1
                if name == "ptr":
                    warnings.append(f"ptr mechanism at {current}: RFC 7208 says do not use it; "
                                    "many receivers skip or distrust it")
                if name == "include":
                    target = term.split(":", 1)[1] if ":" in term else ""
                    if target and "%" not in target:
                        walk(target, depth + 1, False)
            elif name == "redirect" and not has_all:
                state["lookups"] += 1
                target = term.split("=", 1)[1]
                if "%" not in target:
                    walk(target, depth + 1, False)
            elif mechanism == "all" and lowered[0] not in "-~?":
                warnings.append(f"+all at {current} authorises every address on the internet")

    walk(domain, 0, True)
    if state["lookups"] > SPF_LOOKUP_LIMIT:
        warnings.append(f"SPF of {domain} needs {state['lookups']} DNS lookups; the limit is "
                        f"{SPF_LOOKUP_LIMIT}, receivers return permerror")
    return {"lookup_count": state["lookups"], "warnings": warnings, "temporary": state["temporary"]}


def _sender_parts(mail_from: str | None, helo: str | None) -> tuple[str, str, str]:
    """(sender address for pyspf, domain evaluated, identity)."""
    sender = (mail_from or "").strip().strip("<>").strip()
    if sender:
        if "@" not in sender:
            sender = f"postmaster@{sender}"
        return sender, sender.rpartition("@")[2].lower().rstrip("."), "mailfrom"
    # The null sender (bounces) and a missing MAIL FROM are checked as the HELO identity (RFC 7208 2.4).
    if helo:
        return f"postmaster@{helo}", helo.lower().rstrip("."), "helo"
    raise ValueError("either mail_from or helo is needed for an SPF check")


def _evaluate_spf(client, ip: str, sender: str, helo: str, dual_stack: bool) -> tuple[str, str, object]:
    query = _AuditSpfQuery(i=ip, s=sender, h=helo, client=client, dual_stack=dual_stack,
                           timeout=client.resolver.lifetime, querytime=0)
    result, _code, explanation = query.check()
    return result, explanation, query


def check_spf(client: DnsClient, address, mail_from: str | None = None, helo: str | None = None,
              tree_cache: dict | None = None) -> dict:
    """Evaluate SPF with pyspf for one sender address, plus the static lookup count and the warnings."""
    ip = parse_address(address) if isinstance(address, str) else address
    sender, domain, identity = _sender_parts(mail_from, helo)
    helo_name = helo or domain
    result, explanation, query = _evaluate_spf(client, ip.compressed, sender, helo_name, dual_stack=False)
    txt, records = spf_records(client, domain)
    if tree_cache is not None and domain in tree_cache:
        tree = tree_cache[domain]
    else:
        tree = analyse_spf_tree(client, domain)
        if tree_cache is not None:
            tree_cache[domain] = tree
    warnings = list(tree["warnings"])
    report = {
        "address": ip.compressed,
        "family": f"ipv{ip.version}",
        "identity": identity,
        "mail_from": sender if identity == "mailfrom" else "",
        "helo": helo or "",
        "domain": domain,
        "result": result,
        "explanation": explanation,
        "record": records[0] if len(records) == 1 else "",
        "records": records,
        "record_lookup": txt.outcome,
        "lookup_count": tree["lookup_count"],
        "lookups_evaluated": query.lookups,
        "void_lookup_count": query.void_lookups,
        "warnings": warnings,
    }
    if ip.version == 6:
        ds_result, ds_explanation, ds_query = _evaluate_spf(client, ip.compressed, sender, helo_name, True)
        report.update({
            "void_lookup_count_dual_stack": ds_query.void_lookups,
            "dual_stack_exempted_lookups": ds_query.dual_stack_exempted,
            "result_dual_stack": ds_result,
            "explanation_dual_stack": ds_explanation,
        })
        if ds_result != result:
            warnings.append(
                f"pyspf gives {result} ({query.void_lookups} void lookups) but counting an empty AAAA of a "
                f"name that has an A record as not void gives {ds_result}; receivers disagree on this record"
            )
    else:
        report.update({"void_lookup_count_dual_stack": query.void_lookups,
                       "dual_stack_exempted_lookups": 0,
                       "result_dual_stack": result, "explanation_dual_stack": explanation})
    if query.void_lookups > SPF_VOID_LIMIT:
        warnings.append(f"{query.void_lookups} void lookups; the limit is {SPF_VOID_LIMIT}")
    return report


# --------------------------------------------------------------------------------------------- DKIM

DKIM_MIN_RSA_BITS = 1024  # RFC 8301: verifiers must not accept shorter RSA keys
_DKIM_TAG_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_]*$")


def parse_dkim_tags(record: str) -> tuple[dict[str, str], list[str]]:
    """RFC 6376 section 3.2 tag list -> ({tag: value}, errors). Whitespace around tags and values is
    ignored; a duplicate tag or a malformed one is an error."""
    tags: dict[str, str] = {}
    errors: list[str] = []
    for raw in record.split(";"):
        if not raw.strip():
            continue
        name, equals, value = raw.partition("=")
        name = name.strip()
        if not equals or not _DKIM_TAG_NAME.match(name):
            errors.append(f"malformed tag {raw.strip()!r}")
            continue
        if name in tags:
            errors.append(f"duplicate tag {name}=")
            continue
        tags[name] = value.strip()
    return tags, errors


def check_dkim(client: DnsClient, selector: str, domain: str) -> dict:
    """The DKIM key record ``<selector>._domainkey.<domain>``: presence, type, size, flags, errors.

    ``status``: valid, weak (RSA shorter than 1024 bits), revoked (empty p=), invalid (parse errors or
    several records), missing (NXDOMAIN or no TXT), temperror (SERVFAIL or timeout). ``usable`` is True
    only for a valid key a verifier would accept.
    """
    name = f"{selector}._domainkey.{domain}".lower().rstrip(".")
    txt = client.resolve(name, "TXT")
    report = {
        "selector": selector, "domain": domain, "name": name, "lookup": txt.outcome,
        "key_present": False, "key_type": None, "key_bits": None, "revoked": False, "testing": False,
        "flags": [], "hash_algorithms": [], "record": "", "txt_strings": [], "errors": [], "warnings": [],
        "status": "missing", "usable": False,
    }
    if txt.is_temporary:
        report.update(status="temperror", errors=[f"lookup of {name} failed: {txt.outcome} {txt.detail}"])
        return report
    if not txt.records:
        return report
    report["txt_strings"] = [s.decode("utf-8", "replace") for s in txt.txt_strings[0]]
    report["record"] = txt.records[0]
    if len(txt.records) > 1:
        report.update(status="invalid", errors=[f"{len(txt.records)} TXT records at {name}; a verifier "
                                                "may pick any of them"])
        return report
    tags, errors = parse_dkim_tags(txt.records[0])
    version = tags.get("v")
    if version is not None and (version != "DKIM1" or next(iter(tags)) != "v"):
        errors.append(f"v={version} must be v=DKIM1 and the first tag")
    key_type = tags.get("k", "rsa").lower()
    report["key_type"] = key_type
    report["flags"] = [flag.strip() for flag in tags.get("t", "").split(":") if flag.strip()]
    report["testing"] = "y" in report["flags"]
    report["hash_algorithms"] = [h.strip() for h in tags.get("h", "").split(":") if h.strip()]
    if "p" not in tags:
        errors.append("no p= tag")
    elif not re.sub(r"\s+", "", tags["p"]):
        report["revoked"] = True
    else:
        bits, key_errors = _dkim_key_bits(key_type, re.sub(r"\s+", "", tags["p"]))
        report["key_bits"] = bits
        report["key_present"] = bits is not None
        errors.extend(key_errors)
    if report["testing"]:
        report["warnings"].append("t=y: the domain is testing DKIM; verifiers may treat results as unsigned")
    report["errors"] = errors
    if errors:
        report["status"] = "invalid"
    elif report["revoked"]:
        report["status"] = "revoked"
    elif key_type == "rsa" and report["key_bits"] < DKIM_MIN_RSA_BITS:
        report["status"] = "weak"
        report["warnings"].append(f"{report['key_bits']}-bit RSA key; verifiers reject keys shorter than "
                                  f"{DKIM_MIN_RSA_BITS} bits (RFC 8301)")
    else:
        report["status"] = "valid"
        report["usable"] = True
    return report


def _dkim_key_bits(key_type: str, key_b64: str) -> tuple[int | None, list[str]]:
    try:
        key_bytes = base64.b64decode(key_b64, validate=True)
    except (binascii.Error, ValueError):
        return None, ["p= is not valid base64"]
    if key_type == "ed25519":
        if len(key_bytes) != 32:
            return None, [f"Ed25519 key must be 32 bytes, p= holds {len(key_bytes)}"]
        return 256, []
    if key_type != "rsa":
        return None, [f"unknown key type k={key_type}"]
    if not HAS_CRYPTOGRAPHY:
        return None, ["cannot parse RSA key: the cryptography library is missing"]
    try:
        key = load_der_public_key(key_bytes)
    except (ValueError, TypeError) as error:
        return None, [f"p= is not an RSA public key: {error}"]
    if not isinstance(key, rsa.RSAPublicKey):
        kind = "Ed25519" if isinstance(key, ed25519.Ed25519PublicKey) else type(key).__name__
        return None, [f"k=rsa but p= holds a {kind} key"]
    return key.key_size, []


# ------------------------------------------------------------------------------------ IPv6 readiness

VERDICT_ACCEPT = "accept"
VERDICT_TEMPFAIL = "tempfail"
VERDICT_REJECT = "reject"


def _verdict(reply) -> str:
    if reply is None:
        return VERDICT_ACCEPT
    return VERDICT_REJECT if reply.is_permanent else VERDICT_TEMPFAIL


def assess_sender(client: DnsClient, addresses, helo: str | None, mail_from_domains, dkim_selectors,
                  ptr_policy: str = "exists", dkim_domains=None) -> dict:
    """Predict what an Exchange Online-style receiver (and our gate) replies to each (address, MAIL FROM
    domain) of a sending host, using the gate's own rule functions.

    Reverse DNS is judged at RCPT time, so its reply comes first; SPF-or-DKIM at end of data. A DKIM
    "pass" here means a usable key is published for a selector under the domain: the DNS half of DKIM,
    which is all an audit can see.
    """
    if ptr_policy not in PTR_POLICIES:
        raise ValueError(f"ptr_policy must be one of {', '.join(PTR_POLICIES)}")
    ips = parse_addresses(addresses)
    not_ipv6 = [ip.compressed for ip in ips if ip.version != 6]
    if not_ipv6:
        raise ValueError(f"not IPv6 (IPv4 mail is never subject to these rules): {', '.join(not_ipv6)}")
    if helo:
        # A bare "localhost" HELO is a finding for the SPF HELO check, not bad input.
        if not is_dns_name(helo):
            raise ValueError(f"not a valid HELO name: {helo!r}")
        helo = helo.strip().rstrip(".").lower()
    domains = check_domains(mail_from_domains, "MAIL FROM domain") or ([helo] if helo else [])
    if not domains:
        raise ValueError("give mail_from_domains or a helo name")
    identity = "mailfrom" if mail_from_domains else "helo"
    key_domains = check_domains(dkim_domains, "DKIM signing domain") if dkim_domains else domains
    bad_selectors = [repr(s) for s in dkim_selectors if not is_dns_name(s)]
    if bad_selectors:
        raise ValueError(f"not a valid DKIM selector: {', '.join(bad_selectors)}")

    reverse = dict(zip(ips, client.map(lambda ip: check_reverse(client, ip), ips), strict=True))
    dkim_pairs = [(sel, dom) for dom in key_domains for sel in dkim_selectors]
    dkim = client.map(lambda pair: check_dkim(client, *pair), dkim_pairs)
    usable_by_domain = {dom: [d for d in dkim if d["domain"] == dom and d["usable"]] for dom in key_domains}
    any_usable = [d for d in dkim if d["usable"]]
    tree_cache: dict = {}
    pairs = [(ip, dom) for ip in ips for dom in domains]
    spf_results = client.map(
        lambda pair: check_spf(client, pair[0], pair[1] if identity == "mailfrom" else None, helo,
                               tree_cache),
        pairs,
    )

    rows = []
    for (ip, domain), spf_report in zip(pairs, spf_results, strict=True):
        ptr = reverse[ip]
        ptr_status = PtrStatus(ptr["status"])
        # Without dkim_domains each MAIL FROM domain is assumed to sign as itself (d= that domain). With
        # dkim_domains the host signs all mail with those domains, and any of their keys counts, because
        # Exchange accepts any passing DKIM signature, aligned or not.
        usable = usable_by_domain.get(domain, []) if dkim_domains is None else any_usable
        spf_pass = spf_report["result"] == "pass"
        dkim_pass = bool(usable)
        reply = check_reverse_dns(ip.compressed, ptr_status, ptr_policy) or check_authentication(
            ip.compressed, spf_pass, dkim_pass)
        reasons = _readiness_reasons(ptr, ptr_policy, spf_report, dkim, usable)
        rows.append({
            "address": ip.compressed,
            "mail_from_domain": domain,
            "identity": identity,
            "verdict": _verdict(reply),
            "accepted": reply is None,
            "reply": str(reply) if reply else "",
            "reply_code": reply.code if reply else 250,
            "reply_status": reply.status if reply else "",
            "rule": reply.rule if reply else "",
            "reverse_dns": ptr["status"],
            "ptr_names": ptr["ptr_names"],
            "spf": spf_report["result"],
            "spf_dual_stack": spf_report["result_dual_stack"],
            "dkim": "pass" if dkim_pass else "fail",
            "dkim_selectors_usable": [f"{d['selector']}._domainkey.{d['domain']}" for d in usable],
            "reasons": reasons,
        })
    return {
        "accepted": all(row["accepted"] for row in rows),
        "rows": rows,
        "reverse_dns": list(reverse.values()),
        "spf": spf_results,
        "dkim": dkim,
    }


def _readiness_reasons(ptr: dict, ptr_policy: str, spf_report: dict, dkim: list, usable: list) -> list[str]:
    reasons = []
    status = ptr["status"]
    if status == "pass":
        reasons.append(f"reverse DNS: {', '.join(ptr['confirmed_names'])} forward-confirms")
    elif status == "missing":
        reasons.append(f"reverse DNS: no PTR record for {ptr['address']} ({ptr['ptr_outcome']})")
    elif status == "mismatch":
        verdict = "accepted under policy 'exists'" if ptr_policy == "exists" else "rejected under 'fcrdns'"
        reasons.append(f"reverse DNS: PTR {', '.join(ptr['ptr_names'])} does not resolve back to "
                       f"{ptr['address']} ({verdict})")
    else:
        reasons.append(f"reverse DNS: lookup failed temporarily ({ptr['ptr_outcome']}"
                       f"{', forward lookup failed' if ptr['ptr_outcome'] == ANSWER else ''})")
    spf_line = f"SPF {spf_report['result']} for {spf_report['domain']}"
    if spf_report["explanation"] and spf_report["result"] != "pass":
        spf_line += f": {spf_report['explanation']}"
    if spf_report["result_dual_stack"] != spf_report["result"]:
        spf_line += f" (dual-stack void counting: {spf_report['result_dual_stack']})"
    reasons.append(spf_line)
    if usable:
        reasons.append("DKIM: usable key at " + ", ".join(f"{d['selector']}._domainkey.{d['domain']}"
                                                           for d in usable))
    elif dkim:
        found = ", ".join(f"{d['selector']}._domainkey.{d['domain']}: {d['status']}" for d in dkim)
        reasons.append(f"DKIM: no usable key ({found})")
    else:
        reasons.append("DKIM: no selectors declared")
    return reasons
