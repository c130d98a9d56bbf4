"""The one Authentication-Results reader and writer (plugins/module_utils/authres.py)."""

import pytest
from ansible_collections.v6gate.mx.plugins.module_utils import authres

OURS = "mx.gate.example"


def test_parse_opendkim_header_with_semicolon_inside_comment():
    parsed = authres.parse_authentication_results(
        "mx.example; dkim=pass (2048-bit key; unprotected) header.d=example.org header.s=sel"
    )
    assert parsed.authserv_id == "mx.example"
    assert parsed.results[0].method == "dkim" and parsed.results[0].result == "pass"
    assert ("header.d", "example.org") in parsed.results[0].properties


def test_parse_several_results_and_versions():
    parsed = authres.parse_authentication_results(
        'MX.Example 1; spf=pass smtp.mailfrom=a.example; dkim/1=fail reason="bad sig" header.d=b.example'
    )
    assert parsed.authserv_id == "mx.example"
    assert [(r.method, r.result) for r in parsed.results] == [("spf", "pass"), ("dkim", "fail")]


def test_parse_none():
    assert authres.parse_authentication_results("mx.example; none").results == ()


@pytest.mark.parametrize(
    "bad",
    ["mx.example; dkim=pass (open", 'mx.example; dkim=pass reason="open', "mx.example; dkim", "a b c; x=y"],
)
def test_malformed_headers_raise(bad):
    with pytest.raises(authres.AuthResParseError):
        authres.parse_authentication_results(bad)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("mx.example; dkim=pass", "mx.example"),
        ("(comment) MX.example ; spf=pass", "mx.example"),
        ("mx.example; dkim=pass (unterminated", "mx.example"),
        ("", None),
    ],
)
def test_authserv_id_of(value, expected):
    assert authres.authserv_id_of(value) == expected


# Every way a sender has been seen (or could try) to write a header a reader takes as ours.
FORGED = [
    f"{OURS}; dkim=pass header.d=example.org",
    f"{OURS.upper()}; spf=pass smtp.mailfrom=example.org",
    f'"{OURS}"; spf=pass smtp.mailfrom=example.org',  # quoted authserv-id
    f"(x) (y) {OURS}; dkim=pass header.d=example.org x.y=z",  # two comments: passed Postfix's regexp
    f"(a (nested) comment) {OURS}; dkim=pass header.d=example.org",
    f"(an escaped \\) paren) {OURS}; spf=pass smtp.mailfrom=example.org",
    f"{OURS} 1; dkim=pass header.d=example.org",  # with a version
    f"{OURS}.; dkim=pass header.d=example.org",
    '"mx\\.gate\\.example"; dkim=pass header.d=example.org',  # quoted-pairs inside the quoted id
    "mx.gate (split) .example; dkim=pass header.d=example.org",  # obs-syntax CFWS inside the name
    "mx.gate(x).example; dkim=pass header.d=example.org",
    f"=?utf-8?q?{OURS}?=; dkim=pass header.d=example.org",  # an encoded-word a lax reader decodes
    "=?utf-8?b?bXguZ2F0ZS5leGFtcGxl?=; dkim=pass header.d=example.org",
    "\uff4d\uff58.gate.example; dkim=pass header.d=example.org",  # fullwidth letters (NFKC folds them)
    f"{OURS}; dkim=pass (unterminated comment",
    f"{OURS}; dkim=fail header.i=x;dkim=pass @example.org",  # OpenDKIM's copy of a crafted i= tag
    f"other.example; dkim=pass header.d=example.org (via {OURS})",  # a mention is removed too
]


@pytest.mark.parametrize("value", FORGED)
def test_every_spelling_of_our_id_is_claimed(value):
    assert authres.claims_authserv_id(value, OURS)


@pytest.mark.parametrize(
    "value",
    [
        "other.example; dkim=pass header.d=example.org",
        "gate.example; dkim=pass",
        "mx.gate-example.org; spf=pass",
        "=?x-unknown?q?abc?=; spf=pass",
    ],
)
def test_other_servers_results_are_kept(value):
    assert not authres.claims_authserv_id(value, OURS)


def test_a_longer_name_that_contains_our_id_is_removed_rather_than_trusted():
    assert authres.claims_authserv_id("mx.gate.example.net; spf=pass", OURS)


def test_written_values_cannot_change_the_header_syntax():
    value = authres.format_authentication_results(
        OURS, [("dkim", "pass", [("header.d", 'evil.example; dkim=pass "x" (y)')], "a (b); c")]
    )
    parsed = authres.parse_authentication_results(value)
    assert [(r.method, r.result) for r in parsed.results] == [("dkim", "pass")]
    assert value == f"{OURS}; dkim=pass header.d=evil.exampledkim=passxy (a b c)"
