"""Receiver profiles (plugins/module_utils/receivers/): each receiver's predicted answer for senders on the
real Knot fixture, with the texts as the receivers publish them (docs/receiver-sources.md)."""

import pytest
from ansible_collections.v6gate.mx.plugins.module_utils.dmarc import PublicSuffixList
from ansible_collections.v6gate.mx.plugins.module_utils.readiness import assess_sender
from ansible_collections.v6gate.mx.plugins.module_utils.receivers import CONDITIONS, Rule, profiles

pytestmark = pytest.mark.dns

CONFIRMED = "2001:db8:25::10"  # PTR mail.example.com, AAAA back, inside example.com's SPF; key sel2048
MISMATCH = "2001:db8:25::11"  # PTR does not resolve back
NO_PTR = "2001:db8:25::13"
SERVFAIL = "2001:db8:ffff::1"  # the reverse zone answers SERVFAIL
RELAY_ORG = "2001:db8:26::10"  # PTR relay.example.org, not in example.org's SPF, no key
ALL = list(profiles())
GMAIL_IPV6 = ("550 5.7.1 This message does not meet IPv6 sending guidelines regarding PTR records and "
              "authentication. For more information, go to Email sender guidelines.")


@pytest.fixture(scope="module")
def psl():
    return PublicSuffixList.from_file()


def answers(client, psl, address, domain="example.com", **options):
    report = assess_sender(client, [address], "mail.example.com", [domain], ["sel2048"], receivers=ALL,
                           psl=psl, **options)
    (row,) = report["rows"]
    assert [answer["receiver"] for answer in row["receivers"]] == ALL
    return {answer["receiver"]: answer for answer in row["receivers"]}


def test_a_ready_sender_is_accepted_by_every_receiver(client, psl):
    got = answers(client, psl, CONFIRMED)
    assert {name: answer["verdict"] for name, answer in got.items()} == dict.fromkeys(ALL, "accept")


def test_no_ptr(client, psl):
    got = answers(client, psl, NO_PTR, ipv4_available=True)
    exchange = got["exchange_online"]
    assert exchange["reply"] == ("450 4.7.25 Service unavailable, sending IPv6 address [2001:db8:25::13] "
                                 "must have reverse DNS record.")
    # 4xx: a dual-stack sender moves on to IPv4
    assert (exchange["stage"], exchange["retry_over_ipv4"]) == ("rcpt", True)
    assert got["gmail"]["reply"] == GMAIL_IPV6
    assert (got["gmail"]["verdict"], got["gmail"]["retry_over_ipv4"]) == ("reject", False)
    assert got["gmail"]["reasons"] == ["ptr_not_confirmed"]
    # Yahoo and Outlook.com ask for reverse DNS but publish no reply: the rule, not a made-up text
    for name in ("yahoo", "outlook_com"):
        assert (got[name]["verdict"], got[name]["rule"], got[name]["reply"]) == ("unknown", "reverse-dns", "")
        assert "publishes no reply for this rule" in got[name]["reasons"][0]


def test_a_ptr_that_does_not_confirm(client, psl):
    """Exchange Online asks for a PTR only; Gmail for a forward-confirmed one."""
    got = answers(client, psl, MISMATCH)
    assert got["exchange_online"]["verdict"] == "accept"
    assert got["gmail"]["reply"] == GMAIL_IPV6


def test_neither_spf_nor_dkim(client, psl):
    got = answers(client, psl, RELAY_ORG, domain="example.org")
    assert got["exchange_online"]["reply"].startswith(
        "450 4.7.26 Service unavailable, message sent over IPv6 [2001:db8:26::10]")
    assert got["gmail"]["reply"] == GMAIL_IPV6 and got["gmail"]["reasons"] == ["not_authenticated"]
    yahoo = got["yahoo"]
    assert yahoo["reply"] == (
        "550 5.7.9 This mail has been blocked because the sender is unauthenticated. Yahoo requires all "
        "senders to authenticate with either SPF or DKIM. Authentication results: DKIM = FAILURE - SPF "
        "example.org with ip 2001:db8:26::10 = FAILURE. See "
        "https://senders.yahooinc.com/smtp-error-codes/#authentication-failures for more information.")
    assert yahoo["text_source"] == "third-party"
    assert got["outlook_com"]["verdict"] == "accept"  # its rules are for high-volume senders only


def test_a_dns_failure_is_never_a_verdict(client, psl):
    got = answers(client, psl, SERVFAIL, ipv4_available=True)
    assert got["exchange_online"]["reply"].startswith("451 4.4.3 ")
    assert got["exchange_online"]["retry_over_ipv4"] is True
    assert got["gmail"]["verdict"] == "unknown" and got["gmail"]["reply"] == ""
    assert "ptr_not_confirmed: a DNS lookup failed temporarily" in got["gmail"]["reasons"][0]


def test_dmarc_reject_of_the_from_domain(client, psl):
    """Authenticated as example.com, but From: reject.dmarc.example (p=reject) does not align."""
    got = answers(client, psl, CONFIRMED, from_domain="reject.dmarc.example")
    assert got["exchange_online"]["verdict"] == "accept"  # Exchange's IPv6 rules know no DMARC
    assert got["gmail"]["reply"] == (
        "550 5.7.26 Unauthenticated email from reject.dmarc.example is not accepted due to domain's DMARC "
        "policy. Contact the administrator of reject.dmarc.example domain if this was legitimate email. To "
        "learn about the DMARC initiative, go to Control unauthenticated email from your domain.")
    assert got["yahoo"]["reply"] == "554 5.7.9 Message not accepted for policy reasons."
    # p=none asks nothing of a failing message
    relaxed = answers(client, psl, CONFIRMED, from_domain="none.dmarc.example")
    assert {answer["verdict"] for answer in relaxed.values()} == {"accept"}


def test_an_spf_temperror_is_not_a_dmarc_fail(client, psl):
    """SPF that fails temporarily (an include SERVFAILs) leaves DMARC undecided: a sender whose zone
    breaks must get "unknown", not a predicted 5xx policy reject, and the gate's own answer stays 4xx."""
    got = answers(client, psl, CONFIRMED, domain="tempfail.example.com", from_domain="reject.dmarc.example")
    assert {name: got[name]["verdict"] for name in ("gmail", "yahoo")} == dict.fromkeys(("gmail", "yahoo"),
                                                                                        "unknown")
    assert got["gmail"]["code"] is None and got["yahoo"]["code"] is None


def test_a_rule_without_a_published_reply_does_not_hide_a_later_refusal(client, psl):
    """Yahoo publishes no text for its reverse DNS rule; an unauthenticated sender without PTR is still
    refused by the authentication rule that follows, and the report says the other may come first."""
    yahoo = answers(client, psl, NO_PTR, domain="example.org")["yahoo"]
    assert (yahoo["verdict"], yahoo["rule"], yahoo["code"]) == ("reject", "authentication", 550)
    assert yahoo["unknown_rules"] == ["reverse-dns"]
    assert yahoo["reasons"][0].startswith("reverse-dns may answer first: ")


def test_profile_notes_are_returned(client, psl):
    exchange = answers(client, psl, CONFIRMED)["exchange_online"]
    assert exchange["notes"] and "550 5.2.1" in exchange["notes"][0]


def test_bulk_senders(client, psl):
    # example.com has no DMARC record
    got = answers(client, psl, CONFIRMED, bulk=True)
    assert got["gmail"]["reply"].startswith("550 5.7.40 Your message was blocked because the sending domain "
                                            "doesn't have a DMARC record")
    assert got["gmail"]["also"][0].startswith("421 4.7.40 Your email has been rate limited")
    assert got["outlook_com"]["reply"] == ("550 5.7.515 Access denied, sending domain example.com does not "
                                           "meet the required authentication level.")
    assert got["yahoo"]["verdict"] == "unknown" and got["yahoo"]["rule"] == "bulk-authentication"
    # a From domain with p=none that does not align: Gmail rate-limits, Outlook.com refuses
    unaligned = answers(client, psl, CONFIRMED, bulk=True, from_domain="none.dmarc.example")
    assert unaligned["gmail"]["reply"].startswith("421 4.7.32 Your email has been rate limited because the "
                                                  "From: header (RFC5322)")
    assert unaligned["outlook_com"]["reply"].startswith("550 5.7.515 Access denied, sending domain "
                                                        "none.dmarc.example ")


def test_every_profile_cites_its_sources():
    for profile in profiles().values():
        assert profile.sources and all(source.startswith("https://") for source in profile.sources)
        for rule in profile.rules:
            assert rule.source in profile.sources, (profile.name, rule.name)


def test_a_rule_with_an_unknown_condition_or_half_a_reply_is_refused():
    assert "ptr_not_confirmed" in CONDITIONS
    with pytest.raises(ValueError, match="bad conditions"):
        Rule(name="x", when=("sender_is_nice",), source="https://example.invalid/")
    with pytest.raises(ValueError, match="code/text pair"):
        Rule(name="x", when=("dkim_not_pass",), source="https://example.invalid/", code=550)


def test_unknown_profiles_and_missing_list_are_refused(client, psl):
    with pytest.raises(ValueError, match="unknown receiver profile"):
        assess_sender(client, [CONFIRMED], "mail.example.com", ["example.com"], [], receivers=["hotmale"],
                      psl=psl)
    with pytest.raises(ValueError, match="need the public suffix list"):
        assess_sender(client, [CONFIRMED], "mail.example.com", ["example.com"], [], receivers=["gmail"])


def test_each_receiver_is_summed_up_over_all_rows_in_one_line(client, psl):
    report = assess_sender(client, [CONFIRMED, NO_PTR], "mail.example.com", ["example.com"], ["sel2048"],
                           receivers=ALL, psl=psl)
    summaries = {entry["receiver"]: entry for entry in report["receivers"]}
    assert summaries["gmail"]["verdict"] == "reject"  # the worst row wins
    assert summaries["gmail"]["summary"] == f"Gmail: reject - {GMAIL_IPV6} (ipv6-guidelines)"
    assert summaries["yahoo"]["summary"].startswith("Yahoo: unknown - reverse-dns: ptr_not_confirmed: ")
    assert summaries["outlook_com"]["summary"] == ("Outlook.com: unknown - reverse-dns: ptr_not_confirmed: "
                                                   "Outlook.com publishes no reply for this rule")
    ready = assess_sender(client, [CONFIRMED], "mail.example.com", ["example.com"], ["sel2048"],
                          receivers=["outlook_com"], psl=psl)
    assert ready["receivers"][0]["summary"] == "Outlook.com: accept"
    assert report["verdict"] == "tempfail" and report["replies"][0].startswith("450 4.7.25 ")
