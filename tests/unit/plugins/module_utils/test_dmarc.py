"""DMARC (RFC 7489): the Public Suffix List, records on the real Knot fixture (tests/fixtures/zones/
dmarc.example.zone), policy discovery with its organizational-domain fallback, and alignment."""

import pytest
from ansible_collections.v6gate.mx.plugins.module_utils.dmarc import (
    PUBLIC_SUFFIX_LIST,
    DmarcRecordError,
    PublicSuffixList,
    aligned,
    discover_policy,
    evaluate,
    parse_dmarc_record,
)

# A few rules in the list's own format, with each kind of rule (publicsuffix.org/list/).
SMALL_LIST = """// comment
uk
co.uk
*.ck
!www.ck
jp
kawasaki.jp
*.kawasaki.jp
!city.kawasaki.jp
github.io
ελ
"""


@pytest.fixture(scope="module")
def psl():
    return PublicSuffixList.from_file()


@pytest.mark.parametrize("domain, suffix, organizational", [
    ("mail.example.co.uk", "co.uk", "example.co.uk"),
    ("co.uk", "co.uk", "co.uk"),  # a public suffix stays itself
    ("a.b.ck", "b.ck", "a.b.ck"),  # wildcard
    ("www.ck", "ck", "www.ck"),  # exception beats the wildcard
    ("x.www.ck", "ck", "www.ck"),
    ("www.city.kawasaki.jp", "kawasaki.jp", "city.kawasaki.jp"),
    ("a.b.c.kawasaki.jp", "c.kawasaki.jp", "b.c.kawasaki.jp"),
    ("me.github.io", "github.io", "me.github.io"),  # the private section counts
    ("Shop.Example.", "example", "shop.example"),  # no rule: the implicit "*"
    ("παράδειγμα.ελ", "xn--qxam", "xn--hxajbheg2az3al.xn--qxam"),  # rules and names compared as A-labels
])
def test_public_suffix_rules(domain, suffix, organizational):
    small = PublicSuffixList(SMALL_LIST)
    assert small.public_suffix(domain) == suffix
    assert small.organizational_domain(domain) == organizational


def test_the_debian_list_is_read(psl):
    assert psl.organizational_domain("news.bbc.co.uk") == "bbc.co.uk"
    assert psl.organizational_domain("a.b.example.com") == "example.com"
    assert len(psl.rules) > 5000


def test_a_missing_list_says_what_to_install(tmp_path):
    with pytest.raises(ValueError, match=r"cannot read the public suffix list .*apt install publicsuffix"):
        PublicSuffixList.from_file(str(tmp_path / "absent.dat"))
    with pytest.raises(ValueError, match="has no rules"):
        PublicSuffixList("// only comments\n")
    assert PUBLIC_SUFFIX_LIST.startswith("/usr/share/publicsuffix/")


@pytest.mark.parametrize("identifier, mode, expected", [
    ("dmarc.example", "s", True),
    ("DMARC.example.", "s", True),
    ("mail.dmarc.example", "s", False),
    ("mail.dmarc.example", "r", True),
    ("dmarc.example.evil.example", "r", False),  # the name ends like ours; its organizational domain does not
    ("evil-dmarc.example", "r", False),
    ("", "r", False),
])
def test_alignment(psl, identifier, mode, expected):
    assert aligned(identifier, "dmarc.example", mode, psl) is expected


def test_relaxed_alignment_stops_at_a_public_suffix(psl):
    """Two customers of one public suffix (co.uk, github.io) are not aligned with each other."""
    assert aligned("attacker.co.uk", "victim.co.uk", "r", psl) is False
    assert aligned("attacker.github.io", "victim.github.io", "r", psl) is False
    assert aligned("mail.victim.co.uk", "victim.co.uk", "r", psl) is True


def test_record_defaults_and_tags():
    record = parse_dmarc_record("v=DMARC1; p=Reject; rua=mailto:a@example.com,mailto:b@example.net!10m; "
                                "ruf=mailto:f@example.com; fo=1:d; ri=3600; pct=50; aspf=s; np=reject")
    assert record.as_dict() == {"p": "reject", "sp": "reject", "adkim": "r", "aspf": "s", "pct": 50,
                                "rua": ["mailto:a@example.com", "mailto:b@example.net!10m"],
                                "ruf": ["mailto:f@example.com"], "fo": ["1", "d"], "ri": 3600}
    assert record.warnings == []  # np= is DMARCbis's: ignored quietly


@pytest.mark.parametrize("text, message", [
    ("v=DMARC1; p=block", "p='block' (a policy is none, quarantine or reject), and no valid rua= address"),
    ("v=DMARC1", "no p= tag (a policy is none, quarantine or reject), and no valid rua= address"),
    ("v=DMARC1; p=reject; sp=all", "sp='all' (a policy is none, quarantine or reject), and no valid rua="),
    ("v=DMARC1; p=none; p=reject", "duplicate tag p="),
    ("v=DMARC1; p=none; P=reject", "duplicate tag p="),
    ("v=DMARC1; p none", "no p= tag"),
    ("v=dmarc1; p=none", "must start with v=DMARC1"),
    ("p=none; v=DMARC1", "must start with v=DMARC1"),
])
def test_records_receivers_discard(text, message):
    with pytest.raises(DmarcRecordError, match=message.replace("(", r"\(").replace(")", r"\)")):
        parse_dmarc_record(text)


@pytest.mark.parametrize("value", ["\u00b2", "\u0661\u0660", "1" * 5000, "+50", " 5 0", "-1", "0x10"])
def test_a_hostile_pct_or_ri_falls_back_instead_of_crashing(value):
    """A sender's zone controls pct= and ri=: Unicode digits, huge numbers and signs must not raise or be
    read as numbers (int() accepts "\u0661\u0660" as 10 and "+50" as 50)."""
    record = parse_dmarc_record(f"v=DMARC1; p=reject; pct={value}; ri={value}")
    assert (record.pct, record.ri) == (100, 86400)
    assert len(record.warnings) == 2


def test_the_version_tag_name_is_case_insensitive_its_value_is_not():
    """RFC 7489 6.4: "v" is an ABNF string (case-insensitive), DMARC1 is given as %x44 %x4d ... (exact)."""
    assert parse_dmarc_record("V=DMARC1; p=reject").p == "reject"
    with pytest.raises(DmarcRecordError):
        parse_dmarc_record("V=Dmarc1; p=reject")


def test_a_malformed_tag_is_ignored_not_the_record():
    """RFC 7489 6.3: syntax errors in the rest of the record are ignored or replaced by defaults."""
    record = parse_dmarc_record("v=DMARC1; p=reject; adkim s; =x; rua=mailto:r@example.com")
    assert (record.p, record.adkim, record.rua) == ("reject", "r", ["mailto:r@example.com"])
    assert record.warnings == ["malformed tag 'adkim s' ignored", "malformed tag '=x' ignored"]


def test_a_bad_policy_with_a_report_address_is_read_as_none():
    record = parse_dmarc_record("v=DMARC1; p=block; rua=mailto:r@example.com")
    assert (record.p, record.sp) == ("none", "none")
    assert record.warnings == ["p='block' (a policy is none, quarantine or reject): read as p=none, because "
                               "rua= has a report address (RFC 7489 6.6.3)"]


# Discovery on the fixture: (From domain, status, found at, applied policy, subdomain policy applies).
@pytest.mark.parametrize("domain, status, found_at, applied, from_parent", [
    ("none.dmarc.example", "policy", "_dmarc.none.dmarc.example", "none", False),
    ("reject.dmarc.example", "policy", "_dmarc.reject.dmarc.example", "reject", False),
    ("quarantine.dmarc.example", "policy", "_dmarc.quarantine.dmarc.example", "quarantine", False),
    ("dmarc.example", "policy", "_dmarc.dmarc.example", "quarantine", False),  # p= for the domain itself
    ("child.dmarc.example", "policy", "_dmarc.dmarc.example", "reject", True),  # sp= below it
    # RFC 7489 asks the From domain and the organizational domain only, never the names between
    ("sub.reject.dmarc.example", "policy", "_dmarc.dmarc.example", "reject", True),
    ("split.dmarc.example", "policy", "_dmarc.split.dmarc.example", "reject", False),
    ("other-txt.dmarc.example", "policy", "_dmarc.other-txt.dmarc.example", "reject", False),
    ("alias.dmarc.example", "policy", "_dmarc.alias.dmarc.example", "reject", False),
    # not DMARC records: as if the From domain had none
    ("lower.dmarc.example", "policy", "_dmarc.dmarc.example", "reject", True),
    ("notfirst.dmarc.example", "policy", "_dmarc.dmarc.example", "reject", True),
    ("badp-rua.dmarc.example", "policy", "_dmarc.badp-rua.dmarc.example", "none", False),
    ("two.dmarc.example", "invalid", "_dmarc.two.dmarc.example", None, False),
    ("badp.dmarc.example", "invalid", "_dmarc.badp.dmarc.example", None, False),
    ("badsp.dmarc.example", "invalid", "_dmarc.badsp.dmarc.example", None, False),
    ("dup.dmarc.example", "invalid", "_dmarc.dup.dmarc.example", None, False),
    ("example.org", "none", None, None, False),
    ("mail.example.org", "none", None, None, False),
])
def test_policy_discovery(client, psl, domain, status, found_at, applied, from_parent):
    report = discover_policy(client, domain, psl)
    assert (report["status"], report["found_at"], report["applied_policy"]) == (status, found_at, applied)
    assert report["subdomain_policy_applies"] is from_parent
    assert report["organizational_domain"] == ("example.org" if "example.org" in domain else "dmarc.example")


def test_invalid_records_say_why(client, psl):
    assert discover_policy(client, "two.dmarc.example", psl)["errors"] == [
        "_dmarc.two.dmarc.example has 2 DMARC records: receivers apply no DMARC (RFC 7489 6.6.3)"]
    assert "p='block'" in discover_policy(client, "badp.dmarc.example", psl)["errors"][0]


def test_bad_values_fall_back_to_defaults_with_warnings(client, psl):
    report = discover_policy(client, "defaults.dmarc.example", psl)
    assert report["status"] == "policy"
    assert (report["policy"]["pct"], report["policy"]["adkim"], report["policy"]["ri"]) == (100, "r", 86400)
    assert report["warnings"] == [
        "rua: 'ftp://r.dmarc.example' is not a mailto: report address; ignored",
        "adkim='x' is not r or s: relaxed alignment applies",
        "pct='200' is not 0 to 100: 100 applies",
        "ri='soon' is not a number of seconds: 86400 applies",
        "unknown tag foo= ignored",
    ]


def test_a_failing_zone_is_temperror_and_never_falls_back(client, psl):
    """A sender's zone that SERVFAILs at _dmarc of its From domain must not get its parent's policy."""
    report = discover_policy(client, "host.servfail.example", psl)
    assert report["status"] == "temperror" and report["found_at"] is None
    assert [lookup["name"] for lookup in report["lookups"]] == ["_dmarc.host.servfail.example"]
    assert evaluate(report, psl, spf_domain="host.servfail.example")["result"] == "temperror"


def test_a_silent_server_is_temperror(silent_client, psl):
    report = discover_policy(silent_client, "dmarc.example", psl)
    assert report["status"] == "temperror" and "timeout" in report["errors"][0]


@pytest.mark.parametrize("domain, spf, dkim, result, disposition, otherwise", [
    ("reject.dmarc.example", "reject.dmarc.example", [], "pass", "none", "none"),
    ("reject.dmarc.example", "bounce.reject.dmarc.example", [], "fail", "reject", "reject"),  # aspf=s
    ("reject.dmarc.example", "", ["mail.reject.dmarc.example"], "fail", "reject", "reject"),  # adkim=s
    ("reject.dmarc.example", "", ["other.example", "reject.dmarc.example"], "pass", "none", "none"),
    ("child.dmarc.example", "bounce.dmarc.example", [], "pass", "none", "none"),  # relaxed
    ("child.dmarc.example", "dmarc.example.evil.example", ["evil.example"], "fail", "reject", "reject"),
    ("quarantine.dmarc.example", "", [], "fail", "quarantine", "none"),  # pct=25
    ("pct0.dmarc.example", "", [], "fail", "quarantine", "quarantine"),  # p=reject; pct=0: none rejected
    ("none.dmarc.example", "", [], "fail", "none", "none"),
    ("two.dmarc.example", "", [], "none", "none", "none"),
    ("example.org", "example.org", [], "none", "none", "none"),
])
def test_evaluate(client, psl, domain, spf, dkim, result, disposition, otherwise):
    verdict = evaluate(discover_policy(client, domain, psl), psl, spf_domain=spf, dkim_domains=dkim)
    assert (verdict["result"], verdict["disposition"], verdict["disposition_otherwise"]) == (
        result, disposition, otherwise)
