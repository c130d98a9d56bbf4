#!/usr/bin/env python3
"""A UDP DNS relay for the gate topology: forwards every query to the local Knot, except AAAA queries
for names under ``--drop-under``, which it drops. It stands for a sender whose nameserver never answers
for some names while the rest of DNS works, which Knot cannot be told to do. Standard library only.

The gate's nameservers point here (molecule/ipv6_inbound); Postfix and OpenDKIM ask Knot directly.
"""

from __future__ import annotations

import argparse
import socket
import threading

AAAA = 28


def question(data: bytes) -> tuple[str, int] | None:
    """(lower-case name without the final dot, type) of the first question, None if unreadable."""
    position, labels = 12, []
    while position < len(data):
        length = data[position]
        if length == 0:
            if position + 3 > len(data):
                return None
            return ".".join(labels), int.from_bytes(data[position + 1 : position + 3], "big")
        if length & 0xC0:
            return None  # a compression pointer cannot occur in a question we need to read
        labels.append(data[position + 1 : position + 1 + length].decode("ascii", "replace").lower())
        position += 1 + length
    return None


def forward(sock: socket.socket, data: bytes, client, upstream: tuple[str, int]) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as up:
        up.settimeout(3)
        try:
            up.sendto(data, upstream)
            sock.sendto(up.recv(65535), client)
        except OSError:
            pass  # upstream down: the client sees a timeout, as from a dead server


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, default=5300)
    parser.add_argument("--upstream", default="127.0.0.1:53")
    parser.add_argument("--drop-under", required=True, help="zone whose AAAA queries are dropped")
    args = parser.parse_args()
    host, _, port = args.upstream.rpartition(":")
    upstream, zone = (host, int(port)), args.drop_under.lower().rstrip(".")
    sock = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
    sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
    sock.bind(("::", args.port))
    while True:
        data, client = sock.recvfrom(65535)
        asked = question(data)
        if asked and asked[1] == AAAA and (asked[0] == zone or asked[0].endswith("." + zone)):
            continue
        threading.Thread(target=forward, args=(sock, data, client, upstream), daemon=True).start()


if __name__ == "__main__":
    main()
