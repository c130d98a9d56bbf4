"""Per-domain states (enforce, monitor, off) and the two models (opt-in, opt-out) of the domains file."""

import pytest
from ansible_collections.v6gate.mx.plugins.module_utils.ipv6_rules import (
    MODEL_OPT_IN,
    MODEL_OPT_OUT,
    STATE_ENFORCE,
    STATE_MONITOR,
    STATE_OFF,
    OptInList,
    check_recipient_domain,
    parse_optin_file,
    parse_optin_text,
    render_optin_trailer,
)


def domains_file(*lines: str) -> str:
    """The lines, then the trailer counting the domain lines, as the writers do it."""
    count = sum(1 for line in lines if line.split("#")[0].strip() and not line.startswith("model "))
    return "".join(f"{line}\n" for line in lines) + render_optin_trailer(count) + "\n"


def test_a_bare_domain_is_enforced_and_unlisted_domains_are_off_under_opt_in():
    parsed = parse_optin_file(domains_file("Contoso.example", "fabrikam.example monitor  # a week first"))
    assert parsed.model == MODEL_OPT_IN
    assert parsed.states == {"contoso.example": STATE_ENFORCE, "fabrikam.example": STATE_MONITOR}
    assert parsed.domains == {"contoso.example": "Contoso.example", "fabrikam.example": "fabrikam.example"}
    assert parsed.state_of("contoso.example") == STATE_ENFORCE
    assert parsed.state_of("unlisted.example") == STATE_OFF


def test_under_opt_out_unlisted_domains_are_enforced_and_listed_ones_keep_their_state():
    parsed = parse_optin_file(
        domains_file("model opt-out", "contoso.example off", "fabrikam.example monitor", "bücher.example")
    )
    assert parsed.model == MODEL_OPT_OUT
    assert parsed.state_of("contoso.example") == STATE_OFF
    assert parsed.state_of("fabrikam.example") == STATE_MONITOR
    assert parsed.state_of("xn--bcher-kva.example") == STATE_ENFORCE
    assert parsed.state_of("unlisted.example") == STATE_ENFORCE


def test_the_trailer_counts_domain_lines_not_the_model_line():
    text = "model opt-out\ncontoso.example off\n" + render_optin_trailer(2) + "\n"
    with pytest.raises(ValueError, match="the trailer says 2 domain"):
        parse_optin_file(text)


@pytest.mark.parametrize(
    ("lines", "message"),
    [
        (["contoso.example off"], r"contoso.example: 'off' under the opt-in model"),
        (
            ["model opt-out", "a.example off", "A.example monitor"],
            r"line 3: 'A.example' is listed with two states",
        ),
        (["model opt-out", "model opt-in"], r"line 2: a second model line \(the first is line 1\)"),
        (["model optout"], r"line 1: expected 'model opt-in' or 'model opt-out'"),
        (["model"], r"line 1: expected 'model opt-in'"),
        (
            ["a.example enforced"],
            r"line 1: not a single domain name: 'a.example enforced' \('enforced' is not",
        ),
        (["a.example monitor off"], r"line 1: not a single domain name"),
        (["a.example OFF"], r"'OFF' is not a state"),
    ],
)
def test_a_bad_state_or_model_line_refuses_the_whole_file(lines, message):
    with pytest.raises(ValueError, match=message):
        parse_optin_file(domains_file(*lines))


def test_the_same_state_twice_is_allowed_and_counted_twice():
    assert parse_optin_text(domains_file("a.example monitor", "A.EXAMPLE monitor")) == {
        "a.example": "a.example"
    }


def test_the_live_list_follows_a_switch_of_model(tmp_path):
    path = tmp_path / "domains"
    path.write_text(domains_file("contoso.example"))
    optin = OptInList(str(path))
    assert optin.model == MODEL_OPT_IN
    assert optin.state_of("<user@Contoso.Example>") == STATE_ENFORCE
    assert str(check_recipient_domain("user@fabrikam.example", optin)).startswith("550 5.2.1 ")
    new = tmp_path / "domains.new"
    new.write_text(domains_file("model opt-out", "contoso.example off"))
    new.replace(path)
    assert optin.model == MODEL_OPT_OUT
    assert optin.state_of("user@contoso.example") == STATE_OFF
    assert check_recipient_domain("user@fabrikam.example", optin) is None
    assert str(check_recipient_domain("user@CONTOSO.example", optin)) == (
        "550 5.2.1 Service unavailable, [contoso.example] does not accept email over IPv6."
    )
    assert optin.contains("fabrikam.example") and not optin.contains("contoso.example")


def test_an_invalid_state_line_keeps_the_last_good_list(tmp_path, caplog):
    path = tmp_path / "domains"
    path.write_text(domains_file("model opt-out", "contoso.example off"))
    optin = OptInList(str(path))
    new = tmp_path / "domains.new"
    new.write_text(domains_file("model opt-out", "contoso.example of"))  # a typo must not re-enable it
    new.replace(path)
    assert optin.state_of("contoso.example") == STATE_OFF
    assert "keeping last good list" in caplog.text
