"""The openspf RFC 7208 test suite (tests/fixtures/openspf/, from pyspf 2.0.14's source, with its licence)
through the audit's ``check_spf`` and the gate's ``Checks.spf``, every scenario served by a real Knot.

Each scenario's zone data becomes one root zone (``.``) so every name of the scenario lives in it. As in
pyspf's own driver (test/testspf.py): an ``SPF`` record also yields a TXT record unless the name has TXT
data, ``NONE`` is no record, and ``TIMEOUT`` makes the name (or the one type) never answer: a relay in
front of Knot drops those queries.
"""

from __future__ import annotations

import atexit
import functools
import logging
import shutil
import tempfile
from pathlib import Path

import dns.exception
import dns.name
import dns.rdata
import dns.rdataclass
import dns.rdatatype
import pytest
import yaml
from ansible_collections.v6gate.mx.plugins.module_utils.dns_client import Deadline, DnsClient
from ansible_collections.v6gate.mx.plugins.module_utils.spf_eval import check_spf
from dnsserver import STARTERS, DroppingDnsRelay, shared_knot
from v6gate_gate.config import GateConfig
from v6gate_gate.session import Checks

pytestmark = [
    pytest.mark.dns,
    pytest.mark.filterwarnings("ignore:please use dns.resolver.resolve:DeprecationWarning"),
]

SUITE = Path(__file__).resolve().parents[3] / "fixtures" / "openspf" / "rfc7208-tests.yml"
SCENARIOS = list(yaml.safe_load_all(SUITE.read_text()))
CASES = [(index, name) for index, scenario in enumerate(SCENARIOS) for name in scenario["tests"]]
OLD_RESULT_NAMES = {"unknown": "permerror", "error": "temperror"}


def _records(name: str, entries: list):
    """(type, value) pairs as pyspf's driver reads a zonedata entry, and the types answered before a
    whole-name TIMEOUT (None when the name has no TIMEOUT)."""
    records, has_txt, answered_before_timeout = [], False, None
    for entry in entries:
        if entry == "TIMEOUT":
            answered_before_timeout = {rdtype for rdtype, _ in records}
            break
        ((rdtype, value),) = entry.items()
        if rdtype == "TXT":
            has_txt = True
        if value == "NONE":
            continue
        records.append((rdtype, value))
    if not has_txt:
        records += [("TXT", value) for rdtype, value in records if rdtype == "SPF"]
    return records, answered_before_timeout


def _character_string(text: str) -> str:
    """One quoted character-string, every octet outside printable ASCII (and " and \\) as \\DDD."""
    return '"' + "".join(chr(b) if 32 <= b < 127 and b not in b'"\\' else f"\\{b:03d}"
                         for b in text.encode("utf-8")) + '"'


def _rdata(rdtype: str, value):
    if rdtype in ("TXT", "SPF"):
        strings = [value] if isinstance(value, str) else value or [""]  # DNS has no TXT without a string
        return " ".join(_character_string(text) for text in strings)
    if rdtype == "MX":
        return f"{value[0]} {_owner(dns.name.from_text(value[1]))}"
    if rdtype in ("PTR", "CNAME"):
        return _owner(dns.name.from_text(value))
    return dns.rdata.from_text(dns.rdataclass.IN, rdtype, value).to_text()


def _owner(name: dns.name.Name) -> str:
    """A name as Knot's zone parser reads it: every octet outside letters, digits, - and _ as \\DDD."""
    return "".join(
        "".join(chr(b) if (chr(b).isalnum() and b < 128) or b in b"-_" else f"\\{b:03d}" for b in label) + "."
        for label in name.labels if label
    ) or "."


def build_root_zone(zonedata: dict, path: Path):
    """Write the scenario's root zone; return the drop rule for its TIMEOUTs."""
    lines = [". 60 IN SOA ns.test. hostmaster.test. 1 3600 600 86400 60", ". 60 IN NS ns.test."]
    whole_name: dict[str, set] = {}  # name -> the types still answered; every other type times out
    one_type: set[tuple[str, str]] = set()
    for raw_name, entries in zonedata.items():
        name = raw_name.lower().rstrip(".")
        records, answered = _records(name, entries)
        if answered is not None:
            whole_name[name] = answered
        for rdtype, value in records:
            if value == "TIMEOUT":
                one_type.add((name, rdtype))
                continue
            try:
                owner = dns.name.from_text(name)
                rdata = _rdata(rdtype, value)
            except (dns.exception.DNSException, ValueError):
                continue  # a name or value that cannot exist in DNS: absent, as for a resolver
            lines.append(f"{_owner(owner)} 60 IN {rdtype} {rdata}")
    path.write_text("\n".join(lines) + "\n")

    def drop(name: str, rdtype: str) -> bool:
        return (name, rdtype) in one_type or (name in whole_name and rdtype not in whole_name[name])

    return drop


@functools.cache
def _scenario_knots() -> list[tuple[object, object]]:
    """Knot per scenario (each scenario is a root zone of its own), with the scenario's drop rule."""
    served = []
    for index, scenario in enumerate(SCENARIOS):
        zones = ZONES_ROOT / f"scenario{index}"
        zones.mkdir(parents=True, exist_ok=True)
        drop = build_root_zone(scenario["zonedata"], zones / "root.zone")
        served.append((shared_knot(("openspf", index), zones, probe_zone="."), drop))
    return served


ZONES_ROOT = Path(tempfile.mkdtemp(prefix="v6gate-openspf-"))
atexit.register(shutil.rmtree, ZONES_ROOT, ignore_errors=True)
STARTERS["served_scenarios"] = _scenario_knots


@pytest.fixture(scope="module")
def served_scenarios():
    """A nameserver per scenario: its Knot behind a relay that drops the scenario's TIMEOUT queries.
    Relays are started on first use: they are threads, which a test's fork does not inherit."""
    knots = _scenario_knots()
    relays: dict[int, DroppingDnsRelay] = {}

    def nameserver(scenario: int) -> str:
        if scenario not in relays:
            knot, drop = knots[scenario]
            relays[scenario] = DroppingDnsRelay(knot.host, knot.port, drop=drop)
        return relays[scenario].nameserver_spec

    yield nameserver
    for relay in relays.values():
        relay.close()


def _expected(test: dict) -> list[str]:
    result = test["result"]
    return [result] if isinstance(result, str) else list(result)


def _check(result: str, explanation: str, test: dict) -> None:
    result = OLD_RESULT_NAMES.get(result, result)
    assert result in _expected(test), f"{result} not in {_expected(test)}: {test.get('description', '')}"
    if test.get("explanation") not in (None, "DEFAULT") and result == "fail":
        assert explanation == test["explanation"]


@pytest.mark.parametrize(("scenario", "name"), CASES, ids=[name for _, name in CASES])
def test_the_audit_gives_the_suites_result(served_scenarios, scenario, name):
    test = SCENARIOS[scenario]["tests"][name]
    client = DnsClient([served_scenarios(scenario)], timeout=0.3, retries=0)
    report = check_spf(client, test["host"], test.get("mailfrom") or None, test.get("helo"))
    _check(report["result"], report["explanation"], test)


@pytest.mark.parametrize(("scenario", "name"), CASES, ids=[name for _, name in CASES])
def test_the_gate_gives_the_suites_result(served_scenarios, scenario, name):
    test = SCENARIOS[scenario]["tests"][name]
    config = GateConfig(authserv_id="mx.test", optin_file="unused", nameservers=(served_scenarios(scenario),),
                        dns_timeout=0.3)
    result = Checks(config).spf(test["host"], test.get("mailfrom", ""), test.get("helo", ""), Deadline(10))
    _check(result.result, result.explanation, test)


def test_the_suite_is_whole():
    assert (len(SCENARIOS), len(CASES)) == (16, 203)
    logging.getLogger(__name__).info("openspf suite: %d scenarios, %d tests", len(SCENARIOS), len(CASES))
