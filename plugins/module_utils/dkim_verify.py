# Copyright: v6gate developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""DKIM signature verification (RFC 6376) with dkimpy, for the gate's rule "SPF or DKIM must pass".

The gate verifies every signature itself instead of reading another program's verdict out of a header,
so nothing a sender writes into a header can become a pass. dkimpy does the cryptography and
canonicalization; this file decides which signatures are tried, asks DNS through the caller's lookup
(its resolver and deadline), and tells a temporary DNS failure apart from a signature that is bad.

Policy, per signature:
- at most ``max_signatures`` are tried, in header order; the rest are reported as not checked;
- a signature with ``l=`` (a body length limit) never counts as a pass: content appended after the signed
  part would ride on it (RFC 6376 section 8.2), so it is reported as ``policy`` and its key not fetched;
- RSA keys shorter than 1024 bits fail (RFC 8301), as dkimpy enforces with ``minkey``;
- RSA keys with a modulus over 8192 bits or a public exponent over 64 bits are refused before any
  arithmetic: dkimpy's pure-Python ``pow()`` on a sender's key built for it would hold the GIL for
  seconds to minutes, stalling every milter thread past any deadline.
"""

from __future__ import annotations

import base64
import traceback
from dataclasses import dataclass

try:
    import dkim
    import dkim.crypto
    import dkim.util

    HAS_DKIMPY = True
    DKIMPY_IMPORT_ERROR = None
except ImportError:
    HAS_DKIMPY = False
    DKIMPY_IMPORT_ERROR = traceback.format_exc()

PASS = "pass"
FAIL = "fail"
POLICY = "policy"
NEUTRAL = "neutral"
TEMPERROR = "temperror"
PERMERROR = "permerror"

DEFAULT_MAX_SIGNATURES = 5
MIN_RSA_BITS = 1024
MAX_RSA_BITS = 8192  # no signer uses more; verification cost grows with the cube of the size
MAX_RSA_EXPONENT_BITS = 64  # 65537 has 17 bits; a large exponent only serves to make pow() slow


class DkimKeyTemporaryError(Exception):
    """Raised by a key lookup when DNS could not say whether the key exists (SERVFAIL, timeout)."""


class DkimKeyRefused(Exception):
    """A published key this verifier will not spend arithmetic on."""


def refuse_costly_key(record: bytes | None) -> None:
    """Raise DkimKeyRefused for an RSA key over MAX_RSA_BITS or with a public exponent over
    MAX_RSA_EXPONENT_BITS. Records that do not parse are left to dkimpy, which rejects them cheaply."""
    if not record:
        return
    try:
        tags = dkim.util.parse_tag_value(record)
        if tags.get(b"k", b"rsa").strip().lower() != b"rsa" or not tags.get(b"p"):
            return
        key = dkim.crypto.parse_public_key(base64.b64decode(b"".join(tags[b"p"].split())))
    except Exception:  # bad base64, tags or ASN.1 (dkimpy has several error types): its verify rejects it
        return
    bits, exponent_bits = key["modulus"].bit_length(), key["publicExponent"].bit_length()
    if bits > MAX_RSA_BITS or exponent_bits > MAX_RSA_EXPONENT_BITS:
        raise DkimKeyRefused(f"key too large ({bits}-bit modulus, {exponent_bits}-bit exponent)")


@dataclass(frozen=True)
class SignatureResult:
    result: str  # pass, fail, policy, neutral, temperror, permerror (RFC 8601 dkim results)
    domain: str = ""  # d=, lower case, printable ASCII only
    selector: str = ""  # s=
    reason: str = ""


def _printable(raw: bytes | None) -> str:
    text = (raw or b"").decode("ascii", "replace")
    return "".join(ch for ch in text if ch.isascii() and ch.isprintable() and not ch.isspace()).lower()


def _tags(signature_value: bytes) -> dict | None:
    try:
        return dkim.util.parse_tag_value(signature_value)
    except Exception:  # dkimpy raises InvalidTagValueList (and others) for a malformed tag list
        return None


def key_lookup(client, deadline=None):
    """A ``lookup_key`` over the one DNS client (``dns_client.DnsClient``) within ``deadline``: the first
    TXT record's strings joined, None when there is none."""

    def lookup_key(name: str) -> bytes | None:
        result = client.resolve(name, "TXT", deadline)
        if result.is_temporary:
            reason = result.detail or result.outcome
            raise DkimKeyTemporaryError(f"key lookup {name} failed temporarily ({reason})")
        return b"".join(result.txt_strings[0]) if result.txt_strings else None

    return lookup_key


def verify_signatures(message: bytes, lookup_key, max_signatures: int = DEFAULT_MAX_SIGNATURES):
    """Verify each DKIM-Signature of ``message`` (headers and body, CRLF or LF line ends).

    ``lookup_key(name)`` returns the TXT record at ``name`` (bytes, its strings joined) or None when there
    is none, and raises DkimKeyTemporaryError when DNS failed temporarily. Returns one SignatureResult
    per DKIM-Signature header, in order; an empty list when there is none.
    """
    try:
        verifier = dkim.DKIM(message, minkey=MIN_RSA_BITS)
    except Exception as error:  # dkimpy could not even split the message into headers and body
        return [SignatureResult(PERMERROR, reason=_reason(error))]
    signatures = [value for name, value in verifier.headers if name.lower() == b"dkim-signature"]
    results = []
    for index, value in enumerate(signatures):
        tags = _tags(value)
        if tags is None:
            results.append(SignatureResult(PERMERROR, reason="malformed tag list"))
            continue
        domain, selector = _printable(tags.get(b"d")), _printable(tags.get(b"s"))
        if index >= max_signatures:
            results.append(SignatureResult(NEUTRAL, domain, selector, f"only {max_signatures} are checked"))
        elif b"l" in tags:
            results.append(SignatureResult(POLICY, domain, selector, "l= body length limit not accepted"))
        else:
            results.append(_verify_one(verifier, index, domain, selector, lookup_key))
    return results


def _verify_one(verifier, index: int, domain: str, selector: str, lookup_key) -> SignatureResult:
    looked_up = {}

    def dnsfunc(name, timeout=None):
        text = name.decode("ascii", "replace") if isinstance(name, bytes) else str(name)
        looked_up["key"] = record = lookup_key(text)
        refuse_costly_key(record)
        return record

    try:
        verified = verifier.verify(index, dnsfunc=dnsfunc)
    except DkimKeyTemporaryError as error:
        return SignatureResult(TEMPERROR, domain, selector, str(error) or "key lookup failed temporarily")
    except DkimKeyRefused as error:
        return SignatureResult(PERMERROR, domain, selector, str(error))
    except dkim.ValidationError as error:  # e.g. body hash mismatch, expired signature
        return SignatureResult(FAIL, domain, selector, _reason(error))
    except Exception as error:  # malformed signature or key (KeyFormatError, ...): none may pass
        return SignatureResult(PERMERROR, domain, selector, _reason(error))
    if verified:
        return SignatureResult(PASS, domain, selector)
    if "key" in looked_up and not looked_up["key"]:
        return SignatureResult(PERMERROR, domain, selector, "no key for signature")
    return SignatureResult(FAIL, domain, selector, "signature did not verify")


def _reason(error: Exception) -> str:
    text = " ".join(str(error).split())[:80]
    return f"{type(error).__name__}: {text}" if text else type(error).__name__


def any_pass(results) -> bool:
    return any(r.result == PASS for r in results)


def any_temporary(results) -> bool:
    return any(r.result == TEMPERROR for r in results)
