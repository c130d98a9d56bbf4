"""dkim_record: key records on the real fixture, and proof that the published keys verify real signatures."""

from pathlib import Path

import dkim
import pytest
from ansible_collections.v6gate.mx.plugins.module_utils.dkim_keys import check_dkim, parse_dkim_tags

pytestmark = pytest.mark.dns

DKIM_KEYS = Path(__file__).resolve().parents[3] / "fixtures" / "dkim"


def test_a_1024_bit_key_is_usable_but_flagged_weak(client):
    """RFC 8301: verifiers accept 1024 bits, signers should use 2048; the report says both."""
    report = check_dkim(client, "sel1024", "example.com")
    assert (report["status"], report["usable"]) == ("weak", True)
    assert any("RFC 8301 asks signers for at least 2048 bits" in w for w in report["warnings"])


@pytest.mark.parametrize(
    ("selector", "status", "key_type", "bits", "usable"),
    [
        ("sel2048", "valid", "rsa", 2048, True),
        ("sel1024", "weak", "rsa", 1024, True),
        ("ed25519", "valid", "ed25519", 256, True),
        ("testing", "weak", "rsa", 1024, True),
        ("short512", "too_short", "rsa", 512, False),
        ("revoked", "revoked", "rsa", None, False),
        ("badb64", "invalid", "rsa", None, False),
        ("badversion", "invalid", "rsa", 1024, False),
        ("badkeytype", "invalid", "dsa", None, False),
        ("twokeys", "invalid", None, None, False),
        ("nodata", "missing", None, None, False),
        ("absent", "missing", None, None, False),
    ],
)
def test_selector_status(client, selector, status, key_type, bits, usable):
    report = check_dkim(client, selector, "example.com")
    assert (report["status"], report["key_type"], report["key_bits"], report["usable"]) == (
        status,
        key_type,
        bits,
        usable,
    )


def test_revoked_key(client):
    report = check_dkim(client, "revoked", "example.com")
    assert report["revoked"] is True and report["key_present"] is False


def test_testing_flag(client):
    report = check_dkim(client, "testing", "example.com")
    assert report["testing"] is True and report["flags"] == ["y"]
    assert any("t=y" in w for w in report["warnings"])


def test_short_key_is_explained(client):
    assert any("512-bit RSA key" in w for w in check_dkim(client, "short512", "example.com")["warnings"])


def test_parse_errors_are_reported(client):
    assert check_dkim(client, "badb64", "example.com")["errors"] == ["p= is not valid base64"]
    assert check_dkim(client, "badversion", "example.com")["errors"] == [
        "v=DKIM2 must be v=DKIM1 and the first tag"
    ]


def test_split_txt_strings_are_joined(client):
    report = check_dkim(client, "sel2048", "example.com")
    assert len(report["txt_strings"]) == 3
    assert "".join(report["txt_strings"]) == report["record"]
    published = report["record"].split("p=", 1)[1]
    assert published == (DKIM_KEYS / "rsa2048.pub.b64").read_text().strip()


def test_tag_list_parser():
    tags, errors = parse_dkim_tags(" v = DKIM1 ; k=rsa;p=AB CD;;")
    assert tags == {"v": "DKIM1", "k": "rsa", "p": "AB CD"}
    assert errors == []
    _, errors = parse_dkim_tags("v=DKIM1; k=rsa; k=ed25519; junk")
    assert errors == ["duplicate tag k=", "malformed tag 'junk'"]


def test_temperror_from_servfail_and_timeout(client, silent_client):
    assert check_dkim(client, "sel", "servfail.example")["status"] == "temperror"
    assert check_dkim(silent_client, "sel2048", "example.com")["status"] == "temperror"


@pytest.mark.parametrize(
    ("selector", "key_file", "verifies"),
    [("sel2048", "rsa2048.pem", True), ("sel1024", "rsa1024.pem", True), ("short512", "rsa512.pem", False)],
)
def test_published_keys_verify_real_signatures(client, selector, key_file, verifies):
    """Sign with the committed private key, verify against the key Knot serves (dkimpy refuses < 1024)."""
    message = (
        b"From: sender@example.com\r\nTo: rcpt@example.net\r\nSubject: fixture\r\n"
        b"Message-ID: <fixture@example.com>\r\n\r\nHello over IPv6.\r\n"
    )
    signature = dkim.sign(
        message,
        selector.encode(),
        b"example.com",
        (DKIM_KEYS / key_file).read_bytes(),
        include_headers=[b"From", b"To", b"Subject"],
    )

    def lookup(name, timeout=5):
        result = client.resolve(name.decode().rstrip("."), "TXT")
        return b"".join(result.txt_strings[0]) if result.txt_strings else None

    assert dkim.verify(signature + message, dnsfunc=lookup) is verifies
    assert check_dkim(client, selector, "example.com")["usable"] is verifies


def test_module_through_ansible(dns_server, ansible_module):
    result = ansible_module(
        "dkim_record_info",
        {
            "selector": ["sel2048", "revoked", "short512", "absent"],
            "domain": "example.com",
            "nameservers": [f"127.0.0.1@{dns_server.port}"],
        },
    )
    assert result["_rc"] == 0 and result["changed"] is False
    assert [r["status"] for r in result["results"]] == ["valid", "revoked", "too_short", "missing"]


def test_module_check_mode(dns_server, ansible_module):
    result = ansible_module(
        "dkim_record_info",
        {"selector": ["testing"], "domain": "example.com", "nameservers": [f"127.0.0.1@{dns_server.port}"]},
        check=True,
    )
    assert result["_rc"] == 0 and result["status"] == "weak"
    assert result["results"][0]["testing"] is True


def test_module_bad_selector(ansible_module):
    result = ansible_module("dkim_record_info", {"selector": ["bad selector!"], "domain": "example.com"})
    assert result["failed"] is True
    assert result["msg"] == "not a valid DKIM selector: 'bad selector!'"


def test_module_rejects_out_of_range_options(ansible_module):
    result = ansible_module(
        "dkim_record_info", {"selector": ["sel2048"], "domain": "example.com", "max_in_flight": 0}
    )
    assert result["failed"] is True
    assert result["msg"] == "max_in_flight must be between 1 and 1024, got 0"
