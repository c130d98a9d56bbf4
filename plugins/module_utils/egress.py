# Copyright: v6gate developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The IPv6 source address a host's outbound SMTP really uses: Postfix's smtp_bind_address6 when set,
else the address the kernel's source address selection picks for the destination, as ``ip -6 route
get`` shows it (RFC 6724; it follows policy routing and the preferred source of the route)."""

from __future__ import annotations

import ipaddress
import json

CHOSEN_BY_BIND = "smtp_bind_address6"
CHOSEN_BY_KERNEL = "kernel"


def address_scope(address: str) -> str:
    """global, ula (fc00::/7), link-local, loopback, or other (multicast, unspecified, mapped)."""
    ip = ipaddress.IPv6Address(address)
    if ip.is_loopback:
        return "loopback"
    if ip.is_link_local:
        return "link-local"
    if ip in ipaddress.IPv6Network("fc00::/7"):
        return "ula"
    if ip.is_multicast or ip.is_unspecified or ip.ipv4_mapped is not None:
        return "other"
    return "global"


def parse_route(text: str) -> dict:
    """``ip -j -6 route get`` output: the route's source, device and gateway."""
    try:
        routes = json.loads(text)
    except ValueError as error:
        raise ValueError(f"unreadable 'ip -j -6 route get' output: {error}") from None
    if not isinstance(routes, list) or not routes or not isinstance(routes[0], dict):
        raise ValueError("'ip -j -6 route get' returned no route")
    route = routes[0]
    source = route.get("prefsrc") or ""
    return {"source": ipaddress.IPv6Address(source).compressed if source else "",
            "device": route.get("dev", ""), "gateway": route.get("gateway", ""),
            "type": route.get("type", "unicast")}


def parse_host_addresses(text: str) -> set[str]:
    """``ip -j -6 addr`` output: every IPv6 address configured on the host, compressed."""
    try:
        links = json.loads(text)
    except ValueError as error:
        raise ValueError(f"unreadable 'ip -j -6 addr' output: {error}") from None
    return {ipaddress.IPv6Address(info["local"]).compressed for link in links
            for info in link.get("addr_info", [])
            if info.get("family", "inet6") == "inet6" and "local" in info}


def judge(destination: str, route: dict | None, bind_address: str, host_addresses: set[str],
          route_error: str = "") -> dict:
    """What Postfix's smtp client would send from towards ``destination``, and whether receivers on the
    internet can see that address as a mail server's (a global unicast address)."""
    chosen_by = CHOSEN_BY_BIND if bind_address else CHOSEN_BY_KERNEL
    source = bind_address or (route or {}).get("source", "")
    result = {"destination": destination, "source": source, "chosen_by": chosen_by,
              "device": (route or {}).get("device", ""), "gateway": (route or {}).get("gateway", ""),
              "scope": address_scope(source) if source else "", "usable": False, "reasons": []}
    reasons = result["reasons"]
    if route_error:
        reasons.append(f"no IPv6 route to {destination}: {route_error}")
    elif not source:
        reasons.append(f"the route to {destination} names no source address")
    if bind_address and bind_address not in host_addresses:
        reasons.append(f"smtp_bind_address6 {bind_address} is not an address of this host: Postfix cannot "
                       "bind to it and IPv6 deliveries fail")
    if source and result["scope"] != "global":
        reasons.append(f"{source} is a {result['scope']} address: receivers on the internet never see it")
    result["usable"] = not reasons
    return result
