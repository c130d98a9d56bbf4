"""The gate's session logic against a real nameserver (Knot on loopback, tests/fixtures/zones).

Half of this file is the attacker's side: every header and tag a sender controls, tried for an accept.
"""

import logging
import re
import time
from pathlib import Path

import dkim
import pytest
from ansible_collections.v6gate.mx.plugins.module_utils.dns_client import Deadline
from ansible_collections.v6gate.mx.plugins.module_utils.ipv6_rules import (
    OptInList,
    OptInListUnavailable,
    PtrStatus,
)
from v6gate_gate.config import GateConfig
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
RSA2048 = (Path(__file__).resolve().parents[3] / "fixtures" / "dkim" / "rsa2048.pem").read_bytes()
HEADERS = [
    ("From", "Alice <alice@example.org>"),
    ("To", "user@contoso.example"),
    ("Subject", "over IPv6"),
]
BODY = b"Hello.\r\n"


@pytest.fixture
def optin(tmp_path):
    path = tmp_path / "optin"
    path.write_text("# opted in\nContoso.example\ngate.example\n# v6gate-optin end: 2 domain(s)\n")
    return OptInList(str(path))


@pytest.fixture
def make_session(dns_server, optin, monkeypatch, caplog):
    caplog.set_level(logging.INFO, logger="gate-test")

    def make(ptr_policy="exists", trusted=(), nameserver=None, optin_list=optin, **limits):
        config = GateConfig(
            authserv_id=AUTHSERV_ID,
            optin_file="unused",
            ptr_policy=ptr_policy,
            trusted_networks=tuple(trusted),
            nameservers=(nameserver or dns_server.nameserver_specs[0],),
            **{"dns_timeout": 2.0, "spf_timeout": 5.0, **limits},
        )
        return GateSession(config, optin_list, Checks(config), logging.getLogger("gate-test"))

    return make


def open_transaction(session, client, sender, helo="mail.example.com", auth=None):
    session.connect(client)
    session.hello(helo)
    return session.mail_from(sender, auth)


def dkim_signed(headers=HEADERS, body=BODY, domain=b"example.com", selector=b"sel2048", **options):
    """The DKIM-Signature dkimpy writes for this message, as (name, value) the way a milter gets it."""
    message = b"".join(f"{n}: {v}\r\n".encode() for n, v in headers) + b"\r\n" + body
    signed_headers = [b"from", b"to", b"subject"]
    line = dkim.sign(message, selector, domain, RSA2048, include_headers=signed_headers, **options)
    name, _, value = line.decode().partition(":")
    return (name, value.strip())


def send_message(session, headers, body=BODY, queue_id="Q1"):
    """Headers and body as the milter glue feeds them, then end of message."""
    for name, value in headers:
        session.header(name, value)
    session.body(body)
    return session.end_of_message(queue_id)


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
    session.header("Authentication-Results", OPENDKIM_NONE)  # claims our id: replaced by ours
    outcome = session.end_of_message("4ABC")
    assert outcome.reply is None
    assert outcome.add_auth_results == (
        f"{AUTHSERV_ID}; iprev=pass policy.iprev=2001:db8:25::10 (mail.example.com); "
        "spf=pass smtp.mailfrom=example.com; dkim=none"
    )
    assert outcome.delete_headers == [("Authentication-Results", 1)]
    assert decisions(caplog)[-1] == (
        "decision queue_id=4ABC client=2001:db8:25::10 rule=accept sender_domain=example.com "
        'domains=contoso.example reply="accept" mode=enforce iprev=pass spf=pass dkim=none '
        "removed_auth_results=1"
    )


def test_not_opted_in_recipient_is_rejected_alone(make_session, caplog):
    session = make_session()
    open_transaction(session, CONFIRMED, "user@example.com")
    reply = session.recipient("<b@Fabrikam.Example>", None)
    assert str(reply) == "550 5.2.1 Service unavailable, [fabrikam.example] does not accept email over IPv6."
    assert session.recipient("<a@CONTOSO.EXAMPLE>", None) is None
    assert session.accepted_recipients == [("<a@CONTOSO.EXAMPLE>", "enforce")]
    assert decisions(caplog) == [
        "decision queue_id=NOQUEUE client=2001:db8:25::10 rule=opt-in rcpt=<b@Fabrikam.Example> "
        "sender_domain=example.com domains=fabrikam.example "
        'reply="550 5.2.1 Service unavailable, [fabrikam.example] does not accept email over IPv6." '
        "mode=enforce"
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
    session = make_session(nameserver=silent_dns_server.nameserver_spec, dns_timeout=0.5)
    open_transaction(session, CONFIRMED, "user@example.com")
    reply = session.recipient("<a@contoso.example>")
    assert (reply.code, reply.status) == (451, "4.4.3")


def test_decision_time_includes_the_dns_wait(make_session, silent_dns_server, caplog):
    session = make_session(nameserver=silent_dns_server.nameserver_spec, dns_timeout=0.3)
    open_transaction(session, CONFIRMED, "user@example.com")
    session.recipient("<a@contoso.example>")
    assert len(took_ms(caplog)) == 1 and took_ms(caplog)[0] >= 300


def test_spf_fail_without_dkim_is_4_7_26(make_session):
    session = make_session()
    open_transaction(session, RELAY_ORG, "user@example.org", helo="relay.example.org")
    assert session.recipient("<a@contoso.example>") is None
    outcome = send_message(session, HEADERS)
    assert str(outcome.reply) == (
        "450 4.7.26 Service unavailable, message sent over IPv6 [2001:db8:26::10] "
        "must pass either SPF or DKIM validation."
    )


def test_a_valid_dkim_signature_passes_with_spf_fail(make_session, caplog):
    session = make_session()
    open_transaction(session, RELAY_ORG, "user@example.org", helo="relay.example.org")
    session.recipient("<a@contoso.example>")
    outcome = send_message(session, [dkim_signed(), *HEADERS])
    assert outcome.reply is None
    assert outcome.add_auth_results.endswith(
        "spf=fail smtp.mailfrom=example.org; dkim=pass header.d=example.com header.s=sel2048"
    )
    expected = 'rule=accept sender_domain=example.org domains=contoso.example reply="accept" mode=enforce ' \
        "iprev=pass spf=fail dkim=pass"
    assert decisions(caplog)[-1].endswith(expected)


def test_a_valid_signature_fails_once_the_body_is_changed(make_session):
    session = make_session()
    open_transaction(session, RELAY_ORG, "user@example.org", helo="relay.example.org")
    session.recipient("<a@contoso.example>")
    outcome = send_message(session, [dkim_signed(), *HEADERS], body=b"Hello, changed.\r\n")
    assert outcome.reply.status == "4.7.26"


# ------------------------------------------------------------------------------------ the attacker


def test_the_crafted_i_tag_and_opendkims_copy_of_it_never_pass(make_session, caplog):
    """The review's attack: a bogus signature whose i= makes OpenDKIM's header read "dkim=pass"."""
    session = make_session()
    open_transaction(session, RELAY_ORG, "a@example.org", helo="relay.example.org")
    session.recipient("<user@contoso.example>")
    bogus = (
        "DKIM-Signature",
        "v=1; a=rsa-sha256; c=relaxed/relaxed; d=example.org; s=s9; i=x=3Bdkim=3Dpass=20@example.org;"
        " h=from:to:subject; bh=AAAA; b=AAAA",
    )
    opendkim_copy = (
        f"{AUTHSERV_ID}; dkim=fail reason=\"key not found in DNS\" header.d=example.org "
        "header.i=x;dkim=pass @example.org header.a=rsa-sha256"
    )
    outcome = send_message(session, [("Authentication-Results", opendkim_copy), bogus, *HEADERS])
    assert outcome.reply.status == "4.7.26"
    assert decisions(caplog)[-1].endswith("spf=fail dkim=permerror removed_auth_results=1")


@pytest.mark.parametrize(
    "forged",
    [
        OPENDKIM_PASS,
        f"{AUTHSERV_ID}; spf=pass smtp.mailfrom=example.org",
        f"(x) (y) {AUTHSERV_ID}; dkim=pass header.d=example.org x.y=z",
        f'"{AUTHSERV_ID}"; dkim=pass header.d=example.org',
        f"(nested (comment)) {AUTHSERV_ID}; spf=pass smtp.mailfrom=example.org",
        f"(escaped \\) paren) {AUTHSERV_ID}; spf=pass smtp.mailfrom=example.org",
        f"{AUTHSERV_ID}; iprev=pass (unterminated",
    ],
)
def test_forged_results_never_count_and_are_removed(make_session, forged):
    session = make_session()
    open_transaction(session, RELAY_ORG, "user@example.org", helo="relay.example.org")
    session.recipient("<a@contoso.example>")
    outcome = send_message(session, [("Authentication-Results", forged), *HEADERS])
    assert outcome.reply.status == "4.7.26"
    assert outcome.delete_headers == []  # nothing is edited in a rejected message
    session.mail_from("user@example.org", None)
    session.recipient("<a@contoso.example>")
    headers = [
        ("Authentication-Results", "other.example; dkim=pass header.d=example.org"),  # 1: not ours, kept
        ("Authentication-Results", forged),  # 2
        dkim_signed(),
        *HEADERS,
    ]
    outcome = send_message(session, headers, queue_id="Q2")
    assert outcome.reply is None
    assert outcome.delete_headers == [("Authentication-Results", 2)]


@pytest.mark.parametrize(
    ("client", "kwargs", "auth", "writes"),
    [
        ("198.51.100.10", {}, None, True),  # IPv4: not gated, but our DKIM results replace any forgery
        (NO_PTR, {"trusted": ["2001:db8:25::/48"]}, None, True),
        (NO_PTR, {}, "alice", False),  # our own user: signed, not verified
    ],
)
def test_forged_results_are_removed_for_exempt_clients_too(make_session, client, kwargs, auth, writes):
    session = make_session(**kwargs)
    assert open_transaction(session, client, "user@example.org", auth=auth) is False
    assert session.recipient("<a@fabrikam.example>") is None
    headers = [("authentication-results", f"(x) (y) {AUTHSERV_ID}; dkim=pass header.d=example.org"), *HEADERS]
    outcome = send_message(session, headers)
    assert outcome.reply is None
    assert outcome.delete_headers == [("authentication-results", 1)]
    assert outcome.add_auth_results == (f"{AUTHSERV_ID}; dkim=none" if writes else None)


def test_an_l_tag_signature_with_appended_content_is_not_a_pass(make_session):
    session = make_session()
    open_transaction(session, RELAY_ORG, "user@example.org", helo="relay.example.org")
    session.recipient("<a@contoso.example>")
    signature = dkim_signed(length=True)
    outcome = send_message(session, [signature, *HEADERS], body=BODY + b"Click here.\r\n")
    assert outcome.reply.status == "4.7.26"


def test_a_signature_whose_key_zone_fails_is_temporary_and_never_a_pass(make_session, caplog):
    session = make_session()
    open_transaction(session, RELAY_ORG, "user@example.org", helo="relay.example.org")
    session.recipient("<a@contoso.example>")
    outcome = send_message(session, [dkim_signed(domain=b"servfail.example"), *HEADERS])
    assert outcome.reply.code == 450 and outcome.reply.status == "4.7.26"
    assert decisions(caplog)[-1].endswith("spf=fail dkim=temperror")


@pytest.mark.parametrize(
    ("limits", "headers"),
    [
        ({"max_headers": 3}, [("X-Filler", str(n)) for n in range(5)]),
        ({"max_message_bytes": 200}, [("X-Filler", "x" * 300)]),
    ],
)
def test_a_message_beyond_the_limits_is_not_verified_and_not_kept(make_session, caplog, limits, headers):
    session = make_session(**limits)
    open_transaction(session, RELAY_ORG, "user@example.org", helo="relay.example.org")
    session.recipient("<a@contoso.example>")
    outcome = send_message(session, [dkim_signed(), *HEADERS, *headers])
    assert outcome.reply.status == "4.7.26"
    assert session.headers == [] and session.body_chunks == []
    assert decisions(caplog)[-1].endswith("dkim=too-large")


def test_unsigned_messages_keep_no_body(make_session):
    session = make_session()
    open_transaction(session, RELAY_ORG, "user@example.org", helo="relay.example.org")
    session.recipient("<a@contoso.example>")
    for name, value in HEADERS:
        session.header(name, value)
    assert not session.wants_body()
    session.body(b"x" * 100000)
    assert session.body_chunks == []


def test_a_sender_cannot_write_fields_into_the_decision_line(make_session, caplog):
    session = make_session()
    open_transaction(session, CONFIRMED, "user@example.com")
    session.recipient('<"x rule=accept reply=accept"@fabrikam.example>')
    line = decisions(caplog)[-1]
    assert line.count(" rule=") == 1 and line.count(" reply=") == 1
    assert 'rcpt=<%22x%20rule%3Daccept%20reply%3Daccept%22@fabrikam.example>' in line


def test_slow_forward_lookups_stay_within_the_decision_deadline(make_session, dropping_dns_relay):
    """Every AAAA query is dropped: without one deadline the PTR's name would wait its full timeout."""
    session = make_session(ptr_policy="fcrdns", nameserver=dropping_dns_relay.nameserver_spec,
                           decision_timeout=1.0, dns_timeout=5.0)
    open_transaction(session, CONFIRMED, "user@example.com")
    started = time.monotonic()
    reply = session.recipient("<a@contoso.example>")
    assert time.monotonic() - started < 3.0
    assert (reply.code, reply.status) == (451, "4.4.3")
    assert session.reverse.iprev is PtrStatus.TEMPERROR


def test_slow_forward_lookups_do_not_block_a_ptr_under_the_exists_policy(make_session, dropping_dns_relay):
    session = make_session(nameserver=dropping_dns_relay.nameserver_spec, decision_timeout=1.0,
                           dns_timeout=5.0)
    open_transaction(session, CONFIRMED, "user@example.com")
    assert session.recipient("<a@contoso.example>") is None
    assert session.reverse.iprev is PtrStatus.TEMPERROR


def test_spf_takes_the_per_lookup_limit_not_the_whole_budget(silent_dns_server):
    """Each lookup ends at its own limit (0.3 s here), not at the end of the 10 s SPF budget."""
    config = GateConfig(authserv_id=AUTHSERV_ID, optin_file="unused", dns_timeout=0.3, spf_timeout=10.0,
                        nameservers=(silent_dns_server.nameserver_spec,))
    started = time.monotonic()
    result = Checks(config).spf(CONFIRMED, "user@example.com", "mail.example.com", Deadline(10))
    assert result.result == "temperror"
    assert time.monotonic() - started < 2.0


def test_spf_gets_no_time_once_the_deadline_has_passed(make_session):
    result = make_session().checks.spf(CONFIRMED, "user@example.com", "mail.example.com", Deadline(0))
    assert (result.result, result.explanation) == ("temperror", "decision deadline reached")


def test_null_sender_is_checked_on_the_helo_identity(make_session):
    session = make_session()
    open_transaction(session, CONFIRMED, "<>", helo="mail.example.com")
    session.recipient("<a@contoso.example>")
    outcome = session.end_of_message("8MNO")
    assert outcome.reply is None
    assert outcome.add_auth_results.endswith("spf=pass smtp.helo=mail.example.com; dkim=none")


@pytest.mark.parametrize(
    ("client", "kwargs", "auth"),
    [
        ("198.51.100.10", {}, None),
        ("::ffff:198.51.100.10", {}, None),
        (NO_PTR, {"trusted": ["2001:db8:25::/48"]}, None),
        (NO_PTR, {}, "alice"),
        ("localhost", {}, None),  # a local submission has no IP address
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


# ------------------------------------------------------------------------- per-domain states (monitor)

R4725_NO_PTR = (
    f"450 4.7.25 Service unavailable, sending IPv6 address [{NO_PTR}] must have reverse DNS record."
)
R4726_RELAY = (
    f"450 4.7.26 Service unavailable, message sent over IPv6 [{RELAY_ORG}] must pass either SPF or DKIM "
    "validation."
)


class CountingMetrics:
    def __init__(self):
        self.seen = []

    def decision(self, rule, code, mode, domain):
        self.seen.append((rule, code, mode, domain))


@pytest.fixture
def states_list(tmp_path):
    def make(*lines):
        path = tmp_path / "domains"
        count = sum(1 for line in lines if not line.startswith("model "))
        path.write_text("".join(f"{line}\n" for line in lines) + f"# v6gate-optin end: {count} domain(s)\n")
        return OptInList(str(path))

    return make


def test_monitor_accepts_a_missing_ptr_and_says_what_it_would_have_replied(make_session, states_list, caplog):
    metrics = CountingMetrics()
    session = make_session(optin_list=states_list("contoso.example monitor"))
    session.metrics = metrics
    open_transaction(session, NO_PTR, "user@example.com")
    assert session.recipient("<a@contoso.example>") is None
    outcome = send_message(session, HEADERS)
    assert outcome.reply is None
    assert outcome.add_monitor[0] == (
        f'{AUTHSERV_ID}; mode=monitor; rule=reverse-dns; would-reply="{R4725_NO_PTR}"'
    )
    assert decisions(caplog)[0] == (
        f"decision queue_id=NOQUEUE client={NO_PTR} rule=reverse-dns rcpt=<a@contoso.example> "
        f'sender_domain=example.com domains=contoso.example reply="accept" would_reply="{R4725_NO_PTR}" '
        "mode=monitor"
    )
    assert ("reverse-dns", "450", "monitor", "contoso.example") in metrics.seen


def test_monitor_accepts_a_would_be_4_7_26_logged_counted_and_marked(make_session, states_list, caplog):
    metrics = CountingMetrics()
    session = make_session(optin_list=states_list("contoso.example monitor"))
    session.metrics = metrics
    open_transaction(session, RELAY_ORG, "user@example.org", helo="relay.example.org")
    assert session.recipient("<a@contoso.example>") is None
    outcome = send_message(session, HEADERS)
    assert outcome.reply is None
    assert outcome.add_monitor == [f'{AUTHSERV_ID}; mode=monitor; rule=spf-dkim; would-reply="{R4726_RELAY}"']
    assert outcome.add_auth_results.endswith("spf=fail smtp.mailfrom=example.org; dkim=none")
    assert decisions(caplog)[-1] == (
        f"decision queue_id=Q1 client={RELAY_ORG} rule=spf-dkim sender_domain=example.org "
        f'domains=contoso.example reply="accept" would_reply="{R4726_RELAY}" mode=monitor iprev=pass '
        "spf=fail dkim=none"
    )
    assert metrics.seen == [("spf-dkim", "450", "monitor", "contoso.example")]


def test_a_message_with_an_enforced_recipient_is_judged_enforced(make_session, states_list):
    session = make_session(optin_list=states_list("contoso.example monitor", "gate.example"))
    open_transaction(session, RELAY_ORG, "user@example.org", helo="relay.example.org")
    assert session.recipient("<a@contoso.example>") is None
    assert session.recipient("<b@gate.example>") is None
    outcome = send_message(session, HEADERS)
    assert str(outcome.reply) == R4726_RELAY
    assert outcome.add_monitor == []


def test_monitor_still_refuses_nothing_for_an_enforced_domain(make_session, states_list):
    session = make_session(optin_list=states_list("contoso.example monitor", "gate.example"))
    open_transaction(session, NO_PTR, "user@example.com")
    assert str(session.recipient("<b@gate.example>")) == R4725_NO_PTR
    assert session.recipient("<a@contoso.example>") is None
    assert session.accepted_recipients == [("<a@contoso.example>", "monitor")]


def test_opt_out_enforces_unlisted_domains_and_refuses_the_ones_turned_off(make_session, states_list, caplog):
    session = make_session(optin_list=states_list("model opt-out", "fabrikam.example off"))
    open_transaction(session, NO_PTR, "user@example.com")
    assert str(session.recipient("<a@fabrikam.example>")) == (
        "550 5.2.1 Service unavailable, [fabrikam.example] does not accept email over IPv6."
    )
    assert str(session.recipient("<a@unlisted.example>")) == R4725_NO_PTR  # enabled: the rules answer
    session = make_session(optin_list=states_list("model opt-out", "fabrikam.example off"))
    open_transaction(session, CONFIRMED, "user@example.com")
    assert session.recipient("<a@unlisted.example>") is None
    assert send_message(session, HEADERS).reply is None


@pytest.mark.parametrize(
    ("client", "kwargs", "auth"),
    [
        (RELAY_ORG, {}, None),  # gated and accepted (DKIM pass)
        ("198.51.100.10", {}, None),
        (NO_PTR, {"trusted": ["2001:db8:25::/48"]}, None),
        (NO_PTR, {}, "alice"),
    ],
)
def test_a_forged_monitor_header_is_removed_for_every_client(make_session, client, kwargs, auth, caplog):
    """A sender's own X-V6gate-Monitor could make a downstream filter (or an admin) think a message was
    only monitored, or hide a real would-be refusal: every one is removed, whatever its text."""
    session = make_session(**kwargs)
    open_transaction(session, client, "user@example.org", helo="relay.example.org", auth=auth)
    session.recipient("<a@contoso.example>")
    headers = [
        ("X-V6gate-Monitor", f"{AUTHSERV_ID}; mode=monitor; rule=accept"),
        ("x-v6gate-monitor", "anything at all"),
        dkim_signed(),
        *HEADERS,
    ]
    outcome = send_message(session, headers)
    assert outcome.reply is None
    assert outcome.delete_headers == [("x-v6gate-monitor", 2), ("X-V6gate-Monitor", 1)]
    assert outcome.add_monitor == []


def test_a_forged_monitor_header_does_not_soften_an_enforced_refusal(make_session, caplog):
    session = make_session()
    open_transaction(session, RELAY_ORG, "user@example.org", helo="relay.example.org")
    session.recipient("<a@contoso.example>")
    headers = [("X-V6gate-Monitor", f"{AUTHSERV_ID}; mode=monitor"), *HEADERS]
    outcome = send_message(session, headers)
    assert str(outcome.reply) == R4726_RELAY
    expected = "mode=enforce iprev=pass spf=fail dkim=none removed_monitor_headers=1"
    assert decisions(caplog)[-1].endswith(expected)


def test_header_indexes_count_names_case_insensitively_as_postfix_does(make_session):
    """Postfix's cleanup finds the header to delete by strncasecmp on the name, counting every spelling.
    Counting per spelling would make "delete Authentication-Results #1" hit the sender's harmless
    lower-case one, and leave the forgery that claims our authserv-id in the mailbox."""
    session = make_session()
    open_transaction(session, CONFIRMED, "user@example.com")
    session.recipient("<a@contoso.example>")
    headers = [
        ("authentication-results", "other.example; dkim=pass header.d=example.org"),  # 1: kept
        ("Authentication-Results", f"{AUTHSERV_ID}; dkim=pass header.d=example.org"),  # 2: forged
        ("x-v6gate-monitor", "first"),  # 1
        ("X-V6GATE-MONITOR", "second"),  # 2
        *HEADERS,
    ]
    outcome = send_message(session, headers)
    assert outcome.reply is None
    assert outcome.delete_headers == [("Authentication-Results", 2), ("X-V6GATE-MONITOR", 2),
                                      ("x-v6gate-monitor", 1)]
