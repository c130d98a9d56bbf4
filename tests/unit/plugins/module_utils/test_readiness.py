"""plugins/module_utils/readiness.py: the audit predicts the reply the gate gives, by the same code path.

Each sender is fed to both faces against the same real Knot: to the audit's ``assess_sender``, and to the
gate's ``GateSession`` as a live SMTP transaction (unsigned message, so DKIM plays no part on either
side). The two replies must be the same text, rule for rule, including the temporary ones.
"""

import logging

import pytest
from ansible_collections.v6gate.mx.plugins.module_utils.dns_client import DnsClient
from ansible_collections.v6gate.mx.plugins.module_utils.ipv6_rules import OptInList
from ansible_collections.v6gate.mx.plugins.module_utils.readiness import assess_sender
from v6gate_gate.config import GateConfig
from v6gate_gate.session import Checks, GateSession

pytestmark = pytest.mark.dns

CONFIRMED = "2001:db8:25::10"  # PTR mail.example.com, AAAA back, inside example.com's SPF
MISMATCH = "2001:db8:25::11"  # PTR does not resolve back
NO_PTR = "2001:db8:25::13"
SERVFAIL = "2001:db8:ffff::1"  # the reverse zone answers SERVFAIL
RELAY_ORG = "2001:db8:26::10"  # PTR relay.example.org, not in example.org's SPF

SENDERS = [
    # (address, MAIL FROM, HELO, PTR policy, DNS path, the reply both must give)
    (CONFIRMED, "user@example.com", "mail.example.com", "exists", "knot", ""),
    (CONFIRMED, "", "mail.example.com", "fcrdns", "knot", ""),
    (NO_PTR, "user@example.com", "mail.example.com", "exists", "knot", "450 4.7.25"),
    (MISMATCH, "user@example.com", "mail.example.com", "fcrdns", "knot", "450 4.7.25"),
    (MISMATCH, "user@example.com", "mail.example.com", "exists", "knot", ""),
    (SERVFAIL, "user@example.com", "mail.example.com", "exists", "knot", "451 4.4.3"),
    (RELAY_ORG, "user@example.org", "relay.example.org", "exists", "knot", "450 4.7.26"),
    (CONFIRMED, "user@toomany.example.com", "mail.example.com", "exists", "knot", "450 4.7.26"),
    # Every AAAA dropped: the PTR exists but cannot be confirmed. Under "exists" both accept; under
    # "fcrdns" both say try again. (The audit used to predict 451 for the first, the gate accepted.)
    (CONFIRMED, "user@example.com", "mail.example.com", "exists", "dropping", ""),
    (CONFIRMED, "user@example.com", "mail.example.com", "fcrdns", "dropping", "451 4.4.3"),
]


@pytest.fixture
def optin(tmp_path):
    path = tmp_path / "optin"
    path.write_text("contoso.example\n# v6gate-optin end: 1 domain(s)\n")
    return OptInList(str(path))


def gate_reply(nameserver, optin, address, mail_from, helo, policy) -> str:
    config = GateConfig(authserv_id="mx.gate.example", optin_file="unused", ptr_policy=policy,
                        nameservers=(nameserver,), dns_timeout=0.5, decision_timeout=5.0)
    session = GateSession(config, optin, Checks(config), logging.getLogger("same-path"))
    session.connect(address)
    session.hello(helo)
    assert session.mail_from(mail_from, None)
    reply = session.recipient("<user@contoso.example>")
    if reply is None:
        for name, value in (("From", "a@example.com"), ("To", "user@contoso.example"), ("Subject", "x")):
            session.header(name, value)
        session.body(b"Hello.\r\n")
        reply = session.end_of_message("Q1").reply
    return str(reply) if reply else ""


def audit_reply(nameserver, address, mail_from, helo, policy) -> str:
    client = DnsClient([nameserver], timeout=0.5, retries=0)
    domains = [mail_from.rpartition("@")[2]] if mail_from else []
    report = assess_sender(client, [address], helo, domains, [], ptr_policy=policy)
    (row,) = report["rows"]
    return row["reply"]


@pytest.mark.parametrize(("address", "mail_from", "helo", "policy", "path", "expected"), SENDERS)
def test_the_audit_predicts_the_gates_reply(dns_server, dropping_dns_relay, optin, address, mail_from, helo,
                                            policy, path, expected):
    nameserver = dns_server.nameserver_specs[0] if path == "knot" else dropping_dns_relay.nameserver_spec
    predicted = audit_reply(nameserver, address, mail_from, helo, policy)
    given = gate_reply(nameserver, optin, address, mail_from, helo, policy)
    assert predicted == given
    assert given.startswith(expected) and bool(given) == bool(expected)
