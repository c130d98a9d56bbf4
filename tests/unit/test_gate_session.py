"""The gate's session logic against a real nameserver (Knot on loopback, tests/fixtures/zones)."""

import logging
import re

import dns.resolver
import pytest
from v6gate_gate import dnscheck
from v6gate_gate.config import GateConfig
from v6gate_gate.rules import OptInList, OptInListUnavailable, PtrStatus
from v6gate_gate.session import Checks, GateSession

AUTHSERV_ID = "mx.gate.example"
CONFIRMED = "2001:db8:25::10"  # PTR mail.example.com, AAAA back; covered by example.com's SPF
NO_PTR = "2001:db8:25::13"
MISMATCH = "2001:db8:25::11"
SERVFAIL = "2001:db8:ffff::1"
RELAY_ORG = "2001:db8:26::10"  # PTR relay.example.org; example.org's SPF does not cover it
OPENDKIM_PASS = (
    f"{AUTHSERV_ID}; dkim=pass (2048-bit key; unprotected) header.d=example.org "
    "header.i=@example.org header.a=rsa-sha256 header.s=sel2048 header.b=AbCdEfGh"
)
OPENDKIM_NONE = f"{AUTHSERV_ID}; dkim=none; dkim-atps=neutral"


@pytest.fixture
def optin(tmp_path):
    path = tmp_path / "optin"
    path.write_text("# opted in\nContoso.example\ngate.example\n")
    return OptInList(str(path))


@pytest.fixture
def make_session(dns_server, optin, monkeypatch, caplog):
    caplog.set_level(logging.INFO, logger="gate-test")

    def make(ptr_policy="exists", trusted=(), resolver=None, optin_list=optin):
        config = GateConfig(
            authserv_id=AUTHSERV_ID,
            optin_file="unused",
            ptr_policy=ptr_policy,
            trusted_networks=tuple(trusted),
            dns_timeout=2.0,
            spf_timeout=5.0,
        )
        checks = Checks(config, resolver or dns_server.resolver(timeout=2.0))
        monkeypatch.setattr(dns.resolver, "default_resolver", checks.resolver)  # pyspf's resolver
        return GateSession(config, optin_list, checks, logging.getLogger("gate-test"))

    return make


def open_transaction(session, client, sender, helo="mail.example.com", auth=None):
    session.connect(client)
    session.hello(helo)
    return session.mail_from(sender, auth)


TOOK_MS = re.compile(r" took_ms=(\d+\.\d)$")


def decisions(caplog):
    """Decision lines without their closing took_ms=<ms> field, which every line must end with."""
    lines = [r.getMessage() for r in caplog.records if r.getMessage().startswith("decision ")]
    assert all(TOOK_MS.search(line) for line in lines), lines
    return [TOOK_MS.sub("", line) for line in lines]


def took_ms(caplog):
    return [
        float(TOOK_MS.search(r.getMessage()).group(1))
        for r in caplog.records
        if r.getMessage().startswith("decision ")
    ]


pytestmark = [
    pytest.mark.dns,
    # pyspf 2.0.14 still calls dns.resolver.query(); harmless, and not ours to change
    pytest.mark.filterwarnings("ignore:please use dns.resolver.resolve:DeprecationWarning"),
]


def test_accepted_message_gets_our_authentication_results(make_session, caplog):
    session = make_session()
    assert open_transaction(session, CONFIRMED, "<user@example.com>")
    assert session.recipient("<a@contoso.example>", None) is None
    session.header("Authentication-Results", OPENDKIM_NONE)
    outcome = session.end_of_message("4ABC")
    assert outcome.reply is None
    assert outcome.add_auth_results == (
        f"{AUTHSERV_ID}; iprev=pass policy.iprev=2001:db8:25::10 (mail.example.com); "
        "spf=pass smtp.mailfrom=example.com"
    )
    assert outcome.delete_auth_results == []
    assert decisions(caplog)[-1] == (
        "decision queue_id=4ABC client=2001:db8:25::10 rule=accept "
        'reply="accept" iprev=pass spf=pass dkim=none'
    )


def test_not_opted_in_recipient_is_rejected_alone(make_session, caplog):
    session = make_session()
    open_transaction(session, CONFIRMED, "user@example.com")
    reply = session.recipient("<b@Fabrikam.Example>", None)
    assert str(reply) == "550 5.2.1 Service unavailable, [fabrikam.example] does not accept email over IPv6."
    assert session.recipient("<a@CONTOSO.EXAMPLE>", None) is None
    assert session.accepted_recipients == ["<a@CONTOSO.EXAMPLE>"]
    assert decisions(caplog) == [
        "decision queue_id=NOQUEUE client=2001:db8:25::10 rule=opt-in rcpt=<b@Fabrikam.Example> "
        'reply="550 5.2.1 Service unavailable, [fabrikam.example] does not accept email over IPv6."'
    ]


def test_missing_ptr_is_4_7_25_and_opt_in_is_judged_first(make_session):
    session = make_session()
    open_transaction(session, NO_PTR, "user@example.com")
    assert str(session.recipient("<a@contoso.example>")) == (
        "450 4.7.25 Service unavailable, sending IPv6 address [2001:db8:25::13] must have reverse DNS record."
    )
    assert session.recipient("<a@fabrikam.example>").status == "5.2.1"


@pytest.mark.parametrize(("policy", "status"), [("exists", None), ("fcrdns", "4.7.25")])
def test_ptr_policy_for_a_ptr_that_does_not_resolve_back(make_session, policy, status):
    session = make_session(ptr_policy=policy)
    open_transaction(session, MISMATCH, "user@example.com")
    reply = session.recipient("<a@contoso.example>")
    assert (reply.status if reply else None) == status
    assert session.reverse.iprev is PtrStatus.MISMATCH


@pytest.mark.parametrize(("policy", "code"), [("exists", None), ("fcrdns", 451)])
def test_forward_lookup_failure_matters_only_under_fcrdns(make_session, policy, code):
    session = make_session(ptr_policy=policy)
    open_transaction(session, "2001:db8:25::16", "user@example.com")  # PTR into a SERVFAIL zone
    reply = session.recipient("<a@contoso.example>")
    assert (reply.code if reply else None) == code
    assert session.reverse.iprev is PtrStatus.TEMPERROR


def test_servfail_on_reverse_zone_is_451_4_4_3(make_session):
    session = make_session()
    open_transaction(session, SERVFAIL, "user@example.com")
    assert str(session.recipient("<a@contoso.example>")) == (
        "451 4.4.3 Service unavailable, reverse DNS lookup for IPv6 address [2001:db8:ffff::1] "
        "failed temporarily, try again later."
    )


def test_nameserver_timeout_is_451_4_4_3_never_5xx(make_session, silent_dns_server):
    resolver = dnscheck.make_resolver([silent_dns_server.nameserver_spec], timeout=0.5)
    session = make_session(resolver=resolver)
    open_transaction(session, CONFIRMED, "user@example.com")
    reply = session.recipient("<a@contoso.example>")
    assert (reply.code, reply.status) == (451, "4.4.3")


def test_decision_time_includes_the_dns_wait(make_session, silent_dns_server, caplog):
    resolver = dnscheck.make_resolver([silent_dns_server.nameserver_spec], timeout=0.3)
    session = make_session(resolver=resolver)
    open_transaction(session, CONFIRMED, "user@example.com")
    session.recipient("<a@contoso.example>")
    assert len(took_ms(caplog)) == 1 and took_ms(caplog)[0] >= 300


def test_spf_fail_without_dkim_is_4_7_26(make_session):
    session = make_session()
    open_transaction(session, RELAY_ORG, "user@example.org", helo="relay.example.org")
    assert session.recipient("<a@contoso.example>") is None
    session.header("Authentication-Results", OPENDKIM_NONE)
    outcome = session.end_of_message("5DEF")
    assert str(outcome.reply) == (
        "450 4.7.26 Service unavailable, message sent over IPv6 [2001:db8:26::10] "
        "must pass either SPF or DKIM validation."
    )


def test_dkim_pass_from_opendkim_with_spf_fail_is_accepted(make_session):
    session = make_session()
    open_transaction(session, RELAY_ORG, "user@example.org", helo="relay.example.org")
    session.recipient("<a@contoso.example>")
    session.header("Authentication-Results", OPENDKIM_PASS)
    outcome = session.end_of_message("5DEF")
    assert outcome.reply is None
    assert "spf=fail smtp.mailfrom=example.org" in outcome.add_auth_results


def test_forged_results_never_count_and_are_removed(make_session, caplog):
    session = make_session()
    open_transaction(session, RELAY_ORG, "user@example.org", helo="relay.example.org")
    session.recipient("<a@contoso.example>")
    session.header("Authentication-Results", OPENDKIM_NONE)  # 1: OpenDKIM's own
    forged_spf = f"{AUTHSERV_ID.upper()}; spf=pass smtp.mailfrom=example.org"
    session.header("Authentication-Results", forged_spf)  # 2
    session.header("Authentication-Results", "other.example; dkim=pass header.d=example.org")  # 3: not ours
    session.header("Authentication-Results", f"{AUTHSERV_ID}; iprev=pass (unterminated")  # 4
    outcome = session.end_of_message("5DEF")
    assert outcome.reply.status == "4.7.26"
    assert outcome.delete_auth_results == []  # nothing is edited in a rejected message
    session.mail_from("user@example.org", None)
    session.recipient("<a@contoso.example>")
    for value in (OPENDKIM_PASS, f"{AUTHSERV_ID}; spf=pass smtp.mailfrom=example.org"):
        session.header("Authentication-Results", value)
    outcome = session.end_of_message("6GHI")
    assert outcome.reply is None
    assert outcome.delete_auth_results == [2]


def test_two_headers_claiming_our_dkim_results_are_both_distrusted(make_session, caplog):
    session = make_session()
    open_transaction(session, RELAY_ORG, "user@example.org", helo="relay.example.org")
    session.recipient("<a@contoso.example>")
    session.header("Authentication-Results", OPENDKIM_NONE)
    session.header("Authentication-Results", OPENDKIM_PASS)
    outcome = session.end_of_message("7JKL")
    assert outcome.reply.status == "4.7.26"
    assert any("trusting none" in r.getMessage() for r in caplog.records)


def test_null_sender_is_checked_on_the_helo_identity(make_session):
    session = make_session()
    open_transaction(session, CONFIRMED, "<>", helo="mail.example.com")
    session.recipient("<a@contoso.example>")
    outcome = session.end_of_message("8MNO")
    assert outcome.reply is None
    assert outcome.add_auth_results.endswith("spf=pass smtp.helo=mail.example.com")


@pytest.mark.parametrize(
    ("client", "kwargs", "auth"),
    [
        ("198.51.100.10", {}, None),
        ("::ffff:198.51.100.10", {}, None),
        (NO_PTR, {"trusted": ["2001:db8:25::/48"]}, None),
        (NO_PTR, {}, "alice"),
    ],
)
def test_exempt_clients_get_no_reply_from_the_gate(make_session, client, kwargs, auth):
    session = make_session(**kwargs)
    assert open_transaction(session, client, "user@example.org", auth=auth) is False
    assert session.recipient("<a@fabrikam.example>") is None
    assert session.end_of_message("X").reply is None


def test_reverse_dns_is_looked_up_once_per_connection(make_session):
    session = make_session()
    open_transaction(session, CONFIRMED, "user@example.com")
    session.recipient("<a@contoso.example>")
    first = session.reverse
    session.mail_from("user@example.com", None)
    session.recipient("<b@contoso.example>")
    assert session.reverse is first


def test_unusable_opt_in_list_raises_for_the_glue_to_tempfail(make_session, tmp_path):
    session = make_session(optin_list=OptInList(str(tmp_path / "absent")))
    open_transaction(session, CONFIRMED, "user@example.com")
    with pytest.raises(OptInListUnavailable):
        session.recipient("<a@contoso.example>")
