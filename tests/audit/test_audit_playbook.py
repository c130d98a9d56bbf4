"""playbooks/audit.yml end to end against the Knot fixture: exit status and the three reports."""

import ipaddress
import json
import os
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from ansible_cli import ansible_bin

pytestmark = pytest.mark.dns

REPO_ROOT = Path(__file__).resolve().parents[2]
INVENTORY = Path(__file__).parent / "inventory.yml"
NO_PTR = (
    "450 4.7.25 Service unavailable, sending IPv6 address [2001:db8:25::13] must have reverse DNS record."
)
NO_AUTH = (
    "450 4.7.26 Service unavailable, message sent over IPv6 [{}] must pass either SPF or DKIM validation."
)


def run_audit(
    dns_server, reports_dir: Path, *extra: str, inventory: Path = INVENTORY
) -> subprocess.CompletedProcess:
    env = dict(
        os.environ,
        ANSIBLE_CONFIG=str(REPO_ROOT / "ansible.cfg"),
        ANSIBLE_NOCOLOR="1",
        V6GATE_FIXTURE_DNS_PORT=str(dns_server.port),
    )
    command = [
        str(ansible_bin("ansible-playbook")),
        "-i",
        str(inventory),
        str(REPO_ROOT / "playbooks" / "audit.yml"),
        "-e",
        f"v6gate_audit_reports_dir={reports_dir}",
        "-e",
        f"ansible_python_interpreter={sys.executable}",
        *extra,
    ]
    return subprocess.run(command, cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=300)


@pytest.fixture(scope="module")
def audit(dns_server, tmp_path_factory):
    reports = tmp_path_factory.mktemp("audit-reports")
    return run_audit(dns_server, reports), reports


def test_audit_fails_when_a_sender_would_be_refused(audit):
    completed, _ = audit
    assert completed.returncode == 2, completed.stdout + completed.stderr
    expected = "3 address/domain pair(s) would be refused and 1 sender(s) could not be audited"
    assert expected in completed.stdout


def test_json_report_has_every_result(audit):
    _, reports = audit
    data = json.loads((reports / "audit.json").read_text())
    assert (data["refused"], data["errors"]) == (3, 1)
    senders = data["senders"]
    assert set(senders) == {
        "relay-good.example.com",
        "relay-noptr.example.com",
        "relay.example.org",
        "relay-bad-input.example.net",
        "relay-dualstack.example.com",
    }
    good = senders["relay-good.example.com"]
    assert [row["verdict"] for row in good["rows"]] == ["accept", "accept"]
    assert good["reverse_dns"][0]["ptr_names"] == ["mail.example.com"]
    assert senders["relay-noptr.example.com"]["replies"] == [NO_PTR]
    assert senders["relay.example.org"]["replies"] == [NO_AUTH.format("2001:db8:26::10")]
    dual = senders["relay-dualstack.example.com"]["rows"][0]
    assert (dual["spf"], dual["spf_dual_stack"]) == ("permerror", "pass")
    assert "not IPv6" in senders["relay-bad-input.example.net"]["msg"]


def test_markdown_summary_has_one_row_per_sender_and_address(audit):
    _, reports = audit
    text = (reports / "audit.md").read_text()
    gate, receivers = text.split("## By receiver")
    table = [line for line in gate.splitlines() if line.startswith("| relay")]
    assert len(table) == 6
    assert (
        "| relay-good.example.com | `2001:db8:25::10` | example.com | PASS (pass) | PASS (pass) | PASS "
        "| **ACCEPT** | 250 accepted |"
    ) in table
    assert any(NO_PTR in line and "FAIL (missing)" in line for line in table)
    assert any("FAIL (permerror, dual-stack pass)" in line for line in table)
    assert "**2 accepted, 3 refused,\n1 not audited.**" in text
    # a column per receiver; the senders that could be audited, one row each
    header = ("| Sender | Address | MAIL FROM | From | DMARC | Exchange Online (inbound IPv6) | Gmail | "
              "Outlook.com | Yahoo |")
    assert header in receivers
    by_receiver = [line for line in receivers.splitlines() if line.startswith("| relay")]
    assert len(by_receiver) == 5
    assert ("| relay-noptr.example.com | `2001:db8:25::13` | example.com | example.com | none, none | "
            "**TEMPFAIL** 450 4.7.25 (reverse-dns) | **REJECT** 550 5.7.1 (ipv6-guidelines) | **UNKNOWN** "
            "(reverse-dns) | **UNKNOWN** (reverse-dns) |") in by_receiver
    assert ("- **Gmail**, relay.example.org `2001:db8:26::10` / example.org: `550 5.7.1 This message does "
            "not meet IPv6 sending guidelines regarding PTR records and authentication. For more "
            "information, go to Email sender guidelines.` (data; not_authenticated)") in receivers


def test_junit_xml_marks_refusals_as_failures(audit):
    _, reports = audit
    root = ET.parse(reports / "audit-junit.xml").getroot()
    assert (root.get("tests"), root.get("failures"), root.get("errors")) == ("6", "3", "1")
    failures = {
        case.get("name"): case.find("failure")
        for case in root.iter("testcase")
        if case.find("failure") is not None
    }
    assert failures["2001:db8:25::13 MAIL FROM example.com"].get("message") == NO_PTR
    assert failures["2001:db8:26::10 MAIL FROM example.org"].get("type") == "4.7.26"
    name = "2001:db8:26::10 MAIL FROM example.org"
    case = next(case for case in root.iter("testcase") if case.get("name") == name)
    properties = {item.get("name"): item.get("value") for item in case.iter("property")}
    assert properties["receiver.outlook_com"] == "accept"
    assert properties["receiver.yahoo"].startswith("reject 550 5.7.9 This mail has been blocked")


def test_report_only_writes_reports_and_succeeds(dns_server, tmp_path):
    completed = run_audit(dns_server, tmp_path, "-e", "v6gate_audit_report_only=true")
    assert completed.returncode == 0, completed.stdout + completed.stderr
    assert {p.name for p in tmp_path.iterdir()} == {"audit.json", "audit.md", "audit-junit.xml"}


def test_all_good_group_passes(dns_server, tmp_path):
    completed = run_audit(dns_server, tmp_path, "--limit", "relay-good.example.com")
    assert completed.returncode == 0, completed.stdout + completed.stderr
    assert json.loads((tmp_path / "audit.json").read_text())["refused"] == 0


def host_internet_ipv6_addresses() -> set[str]:
    """This machine's IPv6 addresses minus loopback, link-local and ULA, as the playbook should pick them."""
    listing = json.loads(
        subprocess.run(["ip", "-j", "-6", "addr"], capture_output=True, text=True, check=True).stdout
    )
    addresses = {
        ipaddress.IPv6Address(info["local"]) for link in listing for info in link.get("addr_info", [])
    }
    ula = ipaddress.IPv6Network("fc00::/7")
    return {a.compressed for a in addresses if not (a.is_loopback or a.is_link_local or a in ula)}


def test_addresses_come_from_facts_when_not_declared(dns_server, tmp_path):
    """No v6gate_audit_ipv6_addresses: the play gathers network facts and audits the addresses that can
    reach the internet; a host without any is reported as not audited, never as passed."""
    inventory = tmp_path / "inventory.yml"
    inventory.write_text(
        "senders:\n  hosts:\n    localhost:\n      ansible_connection: local\n"
        "      v6gate_audit_mail_from_domains: [example.com]\n"
        f"      v6gate_audit_nameservers: ['127.0.0.1@{dns_server.port}']\n"
    )
    reports = tmp_path / "reports"
    # Container networks of other test runs may come and go meanwhile: look before and after.
    before = host_internet_ipv6_addresses()
    completed = run_audit(dns_server, reports, inventory=inventory)
    assert "ok: [localhost]" in completed.stdout.split("Read IPv6 addresses from the sender's facts")[1]
    assert completed.returncode == 2, completed.stdout + completed.stderr  # none has a PTR in the fixture
    sender = json.loads((reports / "audit.json").read_text())["senders"]["localhost"]
    after = host_internet_ipv6_addresses()
    if "rows" in sender:
        audited = {row["address"] for row in sender["rows"]}
        assert before & after <= audited <= before | after
    else:
        assert not before & after
        assert sender["msg"] == "addresses must name at least one IPv6 address"
