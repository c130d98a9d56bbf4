# Copyright: v6gate developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Addresses and domain names as users and senders write them, checked once for every face."""

from __future__ import annotations

import ipaddress
import re


def parse_address(text) -> ipaddress.IPv4Address | ipaddress.IPv6Address:
    """Any textual address form: compressed or expanded IPv6, ``[...]``, ``IPv6:`` prefix, zone index;
    IPv4-mapped IPv6 (``::ffff:198.51.100.10``) is the IPv4 client it stands for."""
    if not isinstance(text, str) or not text.strip():
        raise ValueError(f"{text!r} is not an IP address")
    cleaned = text.strip()
    if cleaned[:5].lower() == "ipv6:":
        cleaned = cleaned[5:]
    if cleaned.startswith("[") and cleaned.endswith("]"):
        cleaned = cleaned[1:-1]
    cleaned = cleaned.split("%", 1)[0]
    try:
        address = ipaddress.ip_address(cleaned)
    except ValueError:
        raise ValueError(f"{text!r} is not an IPv4 or IPv6 address") from None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


_DNS_LABEL = re.compile(r"^(?!-)[A-Za-z0-9_-]{1,63}(?<!-)$")


def is_dns_name(text, fqdn: bool = False) -> bool:
    """Letters, digits, hyphens and underscores in labels of at most 63 octets, 253 in all; with ``fqdn``,
    at least two labels. Internationalised names must be given in their xn-- form."""
    if not isinstance(text, str):
        return False
    labels = text.strip().rstrip(".").split(".")
    return (0 < len(text.strip()) <= 253 and all(_DNS_LABEL.match(label) for label in labels)
            and (not fqdn or len(labels) >= 2))


def check_domains(texts, what: str) -> list[str]:
    """Lower-cased names without the final dot; ValueError naming every bad entry."""
    bad = [repr(text) for text in texts if not is_dns_name(text, fqdn=True)]
    if bad:
        raise ValueError(f"not a valid {what}: {', '.join(bad)}")
    return [text.strip().rstrip(".").lower() for text in texts]


def parse_addresses(texts) -> list:
    """Parse every address; one ValueError naming all bad entries, so a typo is reported at once."""
    parsed, bad = [], []
    for text in texts:
        try:
            parsed.append(parse_address(text))
        except ValueError:
            bad.append(repr(text))
    if bad:
        raise ValueError(f"not an IPv4 or IPv6 address: {', '.join(bad)}")
    return parsed


def same_address(candidate: str, ip) -> bool:
    """Whether the text ``candidate`` is the address ``ip`` (False for text that is no address)."""
    try:
        return ipaddress.ip_address(candidate) == ip
    except ValueError:
        return False
