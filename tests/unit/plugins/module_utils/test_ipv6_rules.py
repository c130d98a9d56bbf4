"""The gate's rules and reply texts, asserted character for character."""

import logging
import os

import pytest
from ansible_collections.v6gate.mx.plugins.module_utils import ipv6_rules as rules
from ansible_collections.v6gate.mx.plugins.module_utils.ipv6_rules import (
    OptInList,
    OptInListUnavailable,
    PtrStatus,
    Reply,
)

EXCHANGE_ADDRESS = "2a01:111:f200:2004::240"


# ------------------------------------------------------------------------------------- exact texts


def test_reverse_dns_text_is_exchange_online_text():
    reply = rules.check_reverse_dns(EXCHANGE_ADDRESS, PtrStatus.MISSING)
    assert str(reply) == (
        "450 4.7.25 Service unavailable, sending IPv6 address [2a01:111:f200:2004::240] "
        "must have reverse DNS record."
    )
    assert (reply.code, reply.status, reply.rule) == (450, "4.7.25", "reverse-dns")


def test_authentication_text_is_exchange_online_text():
    reply = rules.check_authentication(EXCHANGE_ADDRESS, spf_pass=False, dkim_pass=False)
    assert str(reply) == (
        "450 4.7.26 Service unavailable, message sent over IPv6 [2a01:111:f200:2004::240] "
        "must pass either SPF or DKIM validation."
    )


def test_opt_in_text_is_exchange_online_text():
    reply = rules.check_recipient_domain("contoso.com", ["fabrikam.com"])
    assert str(reply) == "550 5.2.1 Service unavailable, [contoso.com] does not accept email over IPv6."
    assert reply.is_permanent and not reply.is_temporary


def test_milter_reply_pieces():
    reply = rules.check_reverse_dns("2001:db8::25", PtrStatus.MISSING)
    assert reply.milter_reply() == (
        "450",
        "4.7.25",
        "Service unavailable, sending IPv6 address [2001:db8::25] must have reverse DNS record.",
    )


def test_milter_reply_doubles_percent_signs():
    assert Reply(450, "4.7.0", "100% sure").milter_reply()[2] == "100%% sure"


def test_reply_equality_ignores_rule_label_but_str_is_exact():
    assert Reply(450, "4.7.25", "x", "a") == Reply(450, "4.7.25", "x", "b")
    assert str(Reply(451, "4.4.3", "y")) == "451 4.4.3 y"


# ----------------------------------------------------------------------------------- addresses


@pytest.mark.parametrize(
    ("given", "shown"),
    [
        ("2A01:0111:F200:2004:0000:0000:0000:0240", EXCHANGE_ADDRESS),
        ("IPv6:2001:db8:0:0::1", "2001:db8::1"),
        ("[2001:db8::1]", "2001:db8::1"),
        ("fe80::1%eth0", "fe80::1"),
        (" 2001:db8::a ", "2001:db8::a"),
    ],
)
def test_normalize_ipv6_compresses(given, shown):
    assert rules.normalize_ipv6(given) == shown


@pytest.mark.parametrize(
    "ipv4", ["192.0.2.1", "::ffff:192.0.2.1", "::ffff:c000:0201", "IPv6:::ffff:198.51.100.7"]
)
def test_ipv4_and_ipv4_mapped_are_not_ipv6(ipv4):
    assert rules.normalize_ipv6(ipv4) is None
    assert rules.is_subject_to_gate(ipv4, authenticated=False, trusted_networks=()) is False


@pytest.mark.parametrize("garbage", ["", "unknown", "2001:db8::g", "localhost", None])
def test_garbage_address_raises_so_callers_fail_closed(garbage):
    with pytest.raises(ValueError):
        rules.normalize_ipv6(garbage)
    with pytest.raises(ValueError):
        rules.is_subject_to_gate(garbage, False, ())


def test_subject_to_gate():
    trusted = ["2001:db8:feed::/48", "[2001:db8:cafe::]/64", "198.51.100.0/24"]
    assert rules.is_subject_to_gate("2001:db8:b0::10", False, trusted) is True
    assert rules.is_subject_to_gate("2001:db8:b0::10", True, trusted) is False
    assert rules.is_subject_to_gate("2001:db8:feed:1::5", False, trusted) is False
    assert rules.is_subject_to_gate("2001:db8:cafe::9", False, trusted) is False
    assert rules.is_subject_to_gate("2001:db8:cafe:1::9", False, trusted) is True
    assert rules.is_subject_to_gate("2001:db8:b0::10", False, ()) is True


# ------------------------------------------------------------------------------------- opt-in


@pytest.mark.parametrize(
    "recipient",
    ["contoso.com", "CONTOSO.COM", "Contoso.Com.", "user@CONTOSO.com", "<Mixed.Case@contoso.COM>"],
)
def test_opted_in_domain_matches_case_insensitively(recipient):
    assert rules.check_recipient_domain(recipient, ["Contoso.com"]) is None


def test_not_opted_in_domain_is_shown_in_lower_case_never_in_the_clients_spelling():
    reply = rules.check_recipient_domain("user@FABRIKAM.Example", ["contoso.com"])
    assert reply.text == "Service unavailable, [fabrikam.example] does not accept email over IPv6."


def test_not_opted_in_domain_is_shown_as_the_admin_configured_it():
    reply = rules.check_recipient_domain("user@fabrikam.example", ["contoso.com"], ["Fabrikam.Example"])
    assert str(reply) == "550 5.2.1 Service unavailable, [Fabrikam.Example] does not accept email over IPv6."


def test_idn_matches_in_either_form_and_reply_stays_ascii():
    assert rules.check_recipient_domain("user@xn--bcher-kva.example", ["Bücher.example"]) is None
    assert rules.check_recipient_domain("user@BÜCHER.example", ["xn--bcher-kva.example"]) is None
    reply = rules.check_recipient_domain("user@bücher.example", ["contoso.com"])
    assert reply.text == "Service unavailable, [xn--bcher-kva.example] does not accept email over IPv6."


def test_subdomain_is_not_covered_by_parent_opt_in():
    assert rules.check_recipient_domain("sub.contoso.com", ["contoso.com"]) is not None


def test_hostile_domain_text_cannot_inject_into_reply():
    reply = rules.check_recipient_domain("x@evil\r\n250 ok.example", ["contoso.com"])
    assert "\r" not in reply.text and "\n" not in reply.text


# ------------------------------------------------------------------------------------- reverse DNS


@pytest.mark.parametrize(
    ("status", "policy", "expected"),
    [
        (PtrStatus.PASS, "exists", None),
        (PtrStatus.PASS, "fcrdns", None),
        (PtrStatus.MISMATCH, "exists", None),
        (PtrStatus.MISMATCH, "fcrdns", "4.7.25"),
        (PtrStatus.MISSING, "exists", "4.7.25"),
        (PtrStatus.MISSING, "fcrdns", "4.7.25"),
        (PtrStatus.TEMPERROR, "exists", "4.4.3"),
        (PtrStatus.TEMPERROR, "fcrdns", "4.4.3"),
    ],
)
def test_reverse_dns_policy_matrix(status, policy, expected):
    reply = rules.check_reverse_dns("2001:db8::25", status, policy)
    assert (reply.status if reply else None) == expected


def test_dns_temporary_failure_is_its_own_4xx():
    reply = rules.check_reverse_dns("2001:db8::25", PtrStatus.TEMPERROR)
    assert str(reply) == (
        "451 4.4.3 Service unavailable, reverse DNS lookup for IPv6 address [2001:db8::25] "
        "failed temporarily, try again later."
    )
    assert reply.is_temporary


def test_unknown_policy_is_refused():
    with pytest.raises(ValueError, match="unknown PTR policy"):
        rules.check_reverse_dns("2001:db8::25", PtrStatus.PASS, "strict")


def test_classify_ptr():
    a = "2001:db8::25"
    assert rules.classify_ptr(a, None) is PtrStatus.TEMPERROR
    assert rules.classify_ptr(a, []) is PtrStatus.MISSING
    assert rules.classify_ptr(a, ["mx.example."]) is PtrStatus.PASS
    assert rules.classify_ptr(a, ["MX.example."], {"mx.example": ["2001:db8:0::25"]}) is PtrStatus.PASS
    assert rules.classify_ptr(a, ["mx.example."], {"mx.example.": ["2001:db8::26"]}) is PtrStatus.MISMATCH
    assert rules.classify_ptr(a, ["mx.example."], {"mx.example.": []}) is PtrStatus.MISMATCH
    assert rules.classify_ptr(a, ["mx.example."], {"mx.example.": None}) is PtrStatus.TEMPERROR
    # one name confirms, another is unknown: confirmed wins
    assert rules.classify_ptr(a, ["a.example", "b.example"], {"a.example": None, "b.example": [a]}) is (
        PtrStatus.PASS
    )


# ------------------------------------------------------------------------------------- SPF/DKIM


@pytest.mark.parametrize(("spf", "dkim"), [(True, False), (False, True), (True, True)])
def test_either_spf_or_dkim_is_enough(spf, dkim):
    assert rules.check_authentication("2001:db8::25", spf, dkim) is None


# ------------------------------------------------------------------------------------- whole message


def test_evaluate_message_order_and_per_recipient_verdicts():
    verdict = rules.evaluate_message(
        "2001:db8::25",
        ["a@contoso.com", "b@fabrikam.example", "c@CONTOSO.COM"],
        ["contoso.com"],
        PtrStatus.MISSING,
        spf_pass=False,
        dkim_pass=False,
    )
    replies = [v.reply.status if v.reply else None for v in verdict.recipients]
    # opt-in is judged before reverse DNS: the not-opted-in domain gets the permanent 5.2.1
    assert replies == ["4.7.25", "5.2.1", "4.7.25"]
    assert verdict.data_reply is None  # no recipient accepted: DATA never happens
    assert verdict.delivered_to == ()


def test_evaluate_message_reaches_end_of_data_only_with_an_accepted_recipient():
    verdict = rules.evaluate_message(
        "2001:db8::25",
        ["a@contoso.com", "b@fabrikam.example"],
        ["contoso.com"],
        PtrStatus.PASS,
        spf_pass=False,
        dkim_pass=False,
    )
    assert [v.accepted for v in verdict.recipients] == [True, False]
    assert verdict.data_reply.status == "4.7.26"
    ok = rules.evaluate_message(
        "2001:db8::25", ["a@contoso.com", "b@fabrikam.example"], ["contoso.com"], PtrStatus.PASS, False, True
    )
    assert ok.delivered_to == ("a@contoso.com",)


@pytest.mark.parametrize(
    ("client", "kwargs"),
    [
        ("192.0.2.10", {}),
        ("::ffff:192.0.2.10", {}),
        ("2001:db8::25", {"authenticated": True}),
        ("2001:db8::25", {"trusted_networks": ["2001:db8::/64"]}),
    ],
)
def test_clients_outside_the_gate_are_never_affected(client, kwargs):
    verdict = rules.evaluate_message(
        client, ["x@nowhere.example"], [], PtrStatus.MISSING, False, False, **kwargs
    )
    assert verdict.subject_to_gate is False
    assert verdict.delivered_to == ("x@nowhere.example",)


# ------------------------------------------------------------------------------------- opt-in file


def optin_text(*lines: str) -> str:
    """An opt-in file as v6gate writes it: the lines, then the trailer counting the domain lines."""
    count = sum(1 for line in lines if line.split("#", 1)[0].strip())
    return "".join(f"{line}\n" for line in lines) + rules.render_optin_trailer(count) + "\n"


def test_parse_optin_text():
    parsed = rules.parse_optin_text(
        optin_text("# managed", "", "Contoso.com   # main", "Bücher.example.", "contoso.COM")
    )
    assert parsed == {"contoso.com": "Contoso.com", "xn--bcher-kva.example": "Bücher.example"}


@pytest.mark.parametrize("bad", ["contoso com", "user@contoso.com", "localhost", ".contoso.com", "a..b"])
def test_parse_optin_text_rejects_bad_lines_with_line_number(bad):
    with pytest.raises(ValueError, match="line 2"):
        rules.parse_optin_text(optin_text("ok.example", bad))


def _replace(path, text):
    """Write like Ansible's template module: new file, then rename (new inode)."""
    tmp = path.with_suffix(".tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


def test_optin_list_reloads_on_change(tmp_path):
    path = tmp_path / "optin"
    path.write_text(optin_text("contoso.com"))
    optin = OptInList(str(path))
    assert "CONTOSO.com" in optin and "fabrikam.example" not in optin
    _replace(path, optin_text("contoso.com", "fabrikam.example"))
    assert "fabrikam.example" in optin
    assert rules.check_recipient_domain("x@fabrikam.example", optin) is None
    # in-place rewrite with a different size is also noticed
    path.write_text(optin_text("fabrikam.example"))
    assert "contoso.com" not in optin
    assert optin.domains() == ("fabrikam.example",)


def test_optin_list_keeps_last_good_list_and_logs_once(tmp_path, caplog):
    path = tmp_path / "optin"
    path.write_text(optin_text("contoso.com"))
    optin = OptInList(str(path))
    caplog.set_level(logging.INFO)
    _replace(path, optin_text("contoso.com", "not a domain"))
    assert "contoso.com" in optin
    assert "contoso.com" in optin
    errors = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert len(errors) == 1 and "line 2" in errors[0].getMessage()
    assert "keeping last good list (1)" in errors[0].getMessage()
    path.unlink()
    assert "contoso.com" in optin
    assert len([r for r in caplog.records if r.levelno == logging.ERROR]) == 2
    _replace(path, optin_text("fabrikam.example"))
    assert "fabrikam.example" in optin and "contoso.com" not in optin


def test_optin_list_never_loaded_fails_closed(tmp_path):
    optin = OptInList(str(tmp_path / "missing"))
    assert not optin.loaded
    with pytest.raises(OptInListUnavailable):
        rules.check_recipient_domain("x@contoso.com", optin)
    (tmp_path / "missing").write_text("")  # an empty file is a file cut short, not an empty list
    with pytest.raises(OptInListUnavailable):
        rules.check_recipient_domain("x@contoso.com", optin)
    (tmp_path / "missing").write_text(optin_text())  # an explicitly empty list
    assert rules.check_recipient_domain("x@contoso.com", optin).status == "5.2.1"


def test_optin_list_unreadable_keeps_last_good(tmp_path, caplog):
    path = tmp_path / "optin"
    path.write_text(optin_text("contoso.com"))
    optin = OptInList(str(path))
    path.unlink()
    path.mkdir()  # stat works, open fails: the same path as an unreadable file, also for root
    assert "contoso.com" in optin
    assert any("cannot use" in r.getMessage() for r in caplog.records if r.levelno == logging.ERROR)
