"""DKIM verification with dkimpy (plugins/module_utils/dkim_verify.py), keys served by a real Knot."""

from pathlib import Path

import dkim
import pytest
from ansible_collections.v6gate.mx.plugins.module_utils import dkim_verify

FIXTURES = Path(__file__).resolve().parents[3] / "fixtures" / "dkim"
RSA2048 = (FIXTURES / "rsa2048.pem").read_bytes()
MESSAGE = (
    b"From: Alice <alice@example.com>\r\n"
    b"To: user@contoso.example\r\n"
    b"Subject: hello over IPv6\r\n"
    b"Message-ID: <1@example.com>\r\n"
    b"\r\n"
    b"Hello.\r\n"
)

pytestmark = pytest.mark.dns


def signed(message=MESSAGE, selector=b"sel2048", domain=b"example.com", **options):
    signature = dkim.sign(
        message, selector, domain, RSA2048, include_headers=[b"from", b"to", b"subject"], **options
    )
    return signature + message


@pytest.fixture
def lookup(dns_server):
    resolver = dns_server.resolver(timeout=2.0)

    def lookup_key(name):
        import dns.resolver

        try:
            answer = resolver.resolve(name, "TXT", search=False)
        except (dns.resolver.NXDOMAIN, dns.resolver.NoAnswer):
            return None
        except dns.resolver.NoNameservers as error:
            raise dkim_verify.DkimKeyTemporaryError(str(error)) from None
        return b"".join(answer[0].strings)

    return lookup_key


def results(message, lookup_key, **kwargs):
    found = dkim_verify.verify_signatures(message, lookup_key, **kwargs)
    return [(r.result, r.domain, r.selector) for r in found]


def test_a_valid_signature_passes(lookup):
    assert results(signed(), lookup) == [("pass", "example.com", "sel2048")]


def test_unsigned_message_has_no_results(lookup):
    assert dkim_verify.verify_signatures(MESSAGE, lookup) == []


def test_a_changed_body_fails(lookup):
    message = signed().replace(b"Hello.", b"Hello, changed.")
    assert results(message, lookup) == [("fail", "example.com", "sel2048")]


def test_the_crafted_i_tag_from_the_review_is_a_missing_key_not_a_pass(lookup):
    bogus = (
        b"DKIM-Signature: v=1; a=rsa-sha256; c=relaxed/relaxed; d=example.com; s=s9;\r\n"
        b" i=x=3Bdkim=3Dpass=20@example.com; h=from:to:subject; bh=AAAA; b=AAAA\r\n"
    )
    found = dkim_verify.verify_signatures(bogus + MESSAGE, lookup)
    assert [(r.result, r.reason) for r in found] == [("permerror", "no key for signature")]


def test_l_tag_signatures_never_pass_even_when_valid(lookup):
    message = signed(length=True) + b"Appended by someone else.\r\n"
    found = dkim_verify.verify_signatures(message, lookup)
    assert [(r.result, r.reason) for r in found] == [("policy", "l= body length limit not accepted")]


def test_a_key_in_a_servfail_zone_is_a_temporary_error(lookup):
    found = dkim_verify.verify_signatures(signed(domain=b"servfail.example"), lookup)
    assert [r.result for r in found] == ["temperror"]
    assert dkim_verify.any_temporary(found) and not dkim_verify.any_pass(found)


def test_only_max_signatures_are_tried_and_any_valid_one_passes(lookup):
    message = signed()
    bogus = b"DKIM-Signature: v=1; a=rsa-sha256; d=example.com; s=nokey; h=from; bh=AAAA; b=AAAA\r\n"
    found = results(bogus * 2 + message, lookup, max_signatures=3)
    assert found == [("permerror", "example.com", "nokey")] * 2 + [("pass", "example.com", "sel2048")]
    skipped = dkim_verify.verify_signatures(bogus * 3 + message, lookup, max_signatures=3)
    assert skipped[-1].result == "neutral" and not dkim_verify.any_pass(skipped)


@pytest.mark.parametrize(
    "header",
    [
        # a duplicate tag
        b"DKIM-Signature: v=1; d=example.com; d=evil.example; s=sel2048; h=from; bh=A; b=A\r\n",
        b"DKIM-Signature: garbage without tags\r\n",
        b"DKIM-Signature: v=1; a=rsa-sha256; d=example.com; s=sel2048; h=from; bh=!!; b=!!\r\n",
        b"DKIM-Signature: v=1; a=rsa-sha256; d=..; s=\xff\xfe; h=from; bh=AAAA; b=AAAA\r\n",
    ],
)
def test_malformed_signatures_never_pass(lookup, header):
    found = dkim_verify.verify_signatures(header + MESSAGE, lookup)
    assert len(found) == 1 and found[0].result in ("permerror", "fail")


def test_a_512_bit_key_is_refused(lookup):
    short = (FIXTURES / "rsa512.pem").read_bytes()
    signature = dkim.sign(MESSAGE, b"short512", b"example.com", short, include_headers=[b"from"])
    found = dkim_verify.verify_signatures(signature + MESSAGE, lookup)
    assert [r.result for r in found] == ["permerror"]
    assert "KeyFormatError" in found[0].reason


def _der_rsa_public_key(modulus: int, exponent: int) -> bytes:
    """A PKCS#1 RSAPublicKey, as a sender may publish in p= (DKIM accepts it as well as SPKI)."""

    def length(n: int) -> bytes:
        if n < 128:
            return bytes([n])
        raw = n.to_bytes((n.bit_length() + 7) // 8, "big")
        return bytes([0x80 | len(raw)]) + raw

    def integer(value: int) -> bytes:
        raw = value.to_bytes(value.bit_length() // 8 + 1, "big")
        return b"\x02" + length(len(raw)) + raw

    body = integer(modulus) + integer(exponent)
    return b"\x30" + length(len(body)) + body


@pytest.mark.parametrize(("modulus_bits", "exponent_bits"), [(16384, 17), (4096, 4096)])
def test_a_key_built_to_burn_cpu_is_refused_before_any_arithmetic(modulus_bits, exponent_bits):
    """A sender's own key record: a huge modulus or public exponent would make dkimpy's pure-Python
    pow() run for seconds with the GIL held, stalling every milter thread past any deadline."""
    import base64
    import hashlib
    import secrets
    import time

    modulus = secrets.randbits(modulus_bits) | (1 << (modulus_bits - 1)) | 1
    exponent = secrets.randbits(exponent_bits) | (1 << (exponent_bits - 1)) | 1
    key = base64.b64encode(_der_rsa_public_key(modulus, exponent))
    body = b"Hello.\r\n"
    body_hash = base64.b64encode(hashlib.sha256(body).digest()).decode()
    fake = base64.b64encode(secrets.token_bytes(modulus_bits // 8)).decode()
    message = (f"DKIM-Signature: v=1; a=rsa-sha256; c=relaxed/relaxed; d=attacker.example; s=big; h=from; "
               f"bh={body_hash}; b={fake}\r\nFrom: x@attacker.example\r\n\r\n").encode() + body
    started = time.monotonic()
    (result,) = dkim_verify.verify_signatures(message, lambda name: b"v=DKIM1; k=rsa; p=" + key)
    assert time.monotonic() - started < 0.5
    assert result.result == dkim_verify.PERMERROR and "key too large" in result.reason
