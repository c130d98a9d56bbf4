# Copyright: v6gate developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""DKIM key records (RFC 6376 section 3.6.1) as the audit reads them: presence, type, size, flags.

Signature verification is ``dkim_verify``'s job; this file judges what a domain publishes.
"""

from __future__ import annotations

import base64
import binascii
import re
import traceback

from ansible_collections.v6gate.mx.plugins.module_utils.dns_client import DnsClient

try:
    from cryptography.hazmat.primitives.asymmetric import ed25519, rsa
    from cryptography.hazmat.primitives.serialization import load_der_public_key

    HAS_CRYPTOGRAPHY = True
    CRYPTOGRAPHY_IMPORT_ERROR = None
except ImportError:
    HAS_CRYPTOGRAPHY = False
    CRYPTOGRAPHY_IMPORT_ERROR = traceback.format_exc()

DKIM_MIN_RSA_BITS = 1024  # RFC 8301: verifiers must not accept shorter RSA keys
DKIM_SIGNER_RSA_BITS = 2048  # RFC 8301: signers must use at least this
TAG_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_]*$")  # RFC 6376 3.2 tag-name; DMARC uses it too


def parse_dkim_tags(record: str) -> tuple[dict[str, str], list[str]]:
    """RFC 6376 section 3.2 tag list -> ({tag: value}, errors). Whitespace around tags and values is
    ignored; a duplicate tag or a malformed one is an error."""
    tags: dict[str, str] = {}
    errors: list[str] = []
    for raw in record.split(";"):
        if not raw.strip():
            continue
        name, equals, value = raw.partition("=")
        name = name.strip()
        if not equals or not TAG_NAME.match(name):
            errors.append(f"malformed tag {raw.strip()!r}")
            continue
        if name in tags:
            errors.append(f"duplicate tag {name}=")
            continue
        tags[name] = value.strip()
    return tags, errors


def check_dkim(client: DnsClient, selector: str, domain: str) -> dict:
    """The DKIM key record ``<selector>._domainkey.<domain>``: presence, type, size, flags, errors.

    ``status``: valid, weak (RSA of 1024 to 2047 bits: verifiers accept it, RFC 8301 asks signers for
    2048), too_short (RSA below 1024 bits: verifiers must refuse it), revoked (empty p=), invalid (parse
    errors or several records), missing (NXDOMAIN or no TXT), temperror (SERVFAIL or timeout). ``usable``
    is True for a key a verifier accepts (valid or weak).
    """
    name = f"{selector}._domainkey.{domain}".lower().rstrip(".")
    txt = client.resolve(name, "TXT")
    report = {
        "selector": selector, "domain": domain, "name": name, "lookup": txt.outcome,
        "key_present": False, "key_type": None, "key_bits": None, "revoked": False, "testing": False,
        "flags": [], "hash_algorithms": [], "record": "", "txt_strings": [], "errors": [], "warnings": [],
        "status": "missing", "usable": False,
    }
    if txt.is_temporary:
        report.update(status="temperror", errors=[f"lookup of {name} failed: {txt.outcome} {txt.detail}"])
        return report
    if not txt.records:
        return report
    report["txt_strings"] = [s.decode("utf-8", "replace") for s in txt.txt_strings[0]]
    report["record"] = txt.records[0]
    if len(txt.records) > 1:
        report.update(status="invalid", errors=[f"{len(txt.records)} TXT records at {name}; a verifier "
                                                "may pick any of them"])
        return report
    tags, errors = parse_dkim_tags(txt.records[0])
    version = tags.get("v")
    if version is not None and (version != "DKIM1" or next(iter(tags)) != "v"):
        errors.append(f"v={version} must be v=DKIM1 and the first tag")
    key_type = tags.get("k", "rsa").lower()
    report["key_type"] = key_type
    report["flags"] = [flag.strip() for flag in tags.get("t", "").split(":") if flag.strip()]
    report["testing"] = "y" in report["flags"]
    report["hash_algorithms"] = [h.strip() for h in tags.get("h", "").split(":") if h.strip()]
    if "p" not in tags:
        errors.append("no p= tag")
    elif not re.sub(r"\s+", "", tags["p"]):
        report["revoked"] = True
    else:
        bits, key_errors = _dkim_key_bits(key_type, re.sub(r"\s+", "", tags["p"]))
        report["key_bits"] = bits
        report["key_present"] = bits is not None
        errors.extend(key_errors)
    if report["testing"]:
        report["warnings"].append("t=y: the domain is testing DKIM; verifiers may treat results as unsigned")
    report["errors"] = errors
    if errors:
        report["status"] = "invalid"
    elif report["revoked"]:
        report["status"] = "revoked"
    elif key_type == "rsa" and report["key_bits"] < DKIM_MIN_RSA_BITS:
        report["status"] = "too_short"
        report["warnings"].append(f"{report['key_bits']}-bit RSA key; verifiers reject keys shorter than "
                                  f"{DKIM_MIN_RSA_BITS} bits (RFC 8301)")
    elif key_type == "rsa" and report["key_bits"] < DKIM_SIGNER_RSA_BITS:
        report["status"] = "weak"
        report["usable"] = True
        report["warnings"].append(f"{report['key_bits']}-bit RSA key: verifiers accept it today, but "
                                  f"RFC 8301 asks signers for at least {DKIM_SIGNER_RSA_BITS} bits")
    else:
        report["status"] = "valid"
        report["usable"] = True
    return report


def _dkim_key_bits(key_type: str, key_b64: str) -> tuple[int | None, list[str]]:
    try:
        key_bytes = base64.b64decode(key_b64, validate=True)
    except (binascii.Error, ValueError):
        return None, ["p= is not valid base64"]
    if key_type == "ed25519":
        if len(key_bytes) != 32:
            return None, [f"Ed25519 key must be 32 bytes, p= holds {len(key_bytes)}"]
        return 256, []
    if key_type != "rsa":
        return None, [f"unknown key type k={key_type}"]
    if not HAS_CRYPTOGRAPHY:
        return None, ["cannot parse RSA key: the cryptography library is missing"]
    try:
        key = load_der_public_key(key_bytes)
    except (ValueError, TypeError) as error:
        return None, [f"p= is not an RSA public key: {error}"]
    if not isinstance(key, rsa.RSAPublicKey):
        kind = "Ed25519" if isinstance(key, ed25519.Ed25519PublicKey) else type(key).__name__
        return None, [f"k=rsa but p= holds a {kind} key"]
    return key.key_size, []
