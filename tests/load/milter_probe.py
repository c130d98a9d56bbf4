#!/usr/bin/env python3
"""Time the gate's own decisions by speaking the milter protocol to it, the way Postfix does.

Runs on the MX (Python standard library, plus dkimpy for ``--sign``) against the gate's socket. For each
message it opens a milter session (as Postfix does per SMTP session), negotiates protocol 6, then sends
CONNECT, HELO, MAIL, RCPT, the headers (with a DKIM-Signature made with ``--sign``, which the gate
verifies as it does for real mail; python3-dkim is on the MX for the gate), the body and end of message,
and times every reply. Commands the gate asked to skip, and replies it asked not to send
(SMFIP_NO*/SMFIP_NR_*), are honoured, as Postfix honours them.

* decision: per message, the sum over commands of the time until the gate's first reply packet (at end
  of message that is its header edit, sent once it has decided);
* answered: the same up to each final answer. At end of message libmilter writes the header edit and
  the final "accept" as two small writes; over TCP without TCP_NODELAY on the milter's side the second
  waits for the peer's delayed ACK (about 40 ms on Linux), which Postfix pays too. That is why the
  gate listens on a Unix socket by default; with an inet socket the difference between the two figures
  is that transport stall, not the gate's work.
* rcpt / eom: time to the first reply at RCPT (reverse DNS) and at end of message (SPF, DKIM verification);
* setup: connect and option negotiation, per milter session.

Prints one JSON document with those lists (seconds) and the outcome counts, after ``--warmup``
untimed messages (warm DNS cache). ``--parallel N`` keeps N milter sessions open at once, as N smtpd
processes would, to measure what concurrency costs the gate (its CPU is read outside, from /proc).
"""

from __future__ import annotations

import argparse
import json
import socket
import struct
import sys
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor

MILTER_VERSION = 6
ALL_ACTIONS = 0x1FF
# SMFIP_* bits: skip a command / send no reply to it (libmilter's mfdef.h)
SKIP = {"C": 0x1, "H": 0x2, "M": 0x4, "R": 0x8, "B": 0x10, "L": 0x20, "N": 0x40}
NO_REPLY = {"L": 0x80, "C": 0x1000, "H": 0x2000, "M": 0x4000, "R": 0x8000, "N": 0x40000, "B": 0x80000}
OFFERED_PROTOCOL = 0x1FFFFF
DEBUG = False
FINAL = {
    b"c": "continue",
    b"s": "continue",
    b"a": "accept",
    b"r": "reject",
    b"t": "tempfail",
    b"d": "discard",
    b"y": "reply",
}


class MilterSession:
    def __init__(self, address: str, timeout: float) -> None:
        if address.startswith("unix:"):
            self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            self.sock.settimeout(timeout)
            self.sock.connect(address.removeprefix("unix:"))
        else:
            host, _, port = address.removeprefix("inet:").rpartition(":")
            self.sock = socket.create_connection((host.strip("[]"), int(port)), timeout=timeout)
            # Commands the gate does not answer (headers, when it asks for no replies) go out back to
            # back; without TCP_NODELAY each would wait for the gate's delayed ACK (40 ms), a cost of
            # this probe, not of the gate.
            self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.stream = self.sock.makefile("rb")
        self.protocol = 0

    def close(self) -> None:
        try:
            self.send(b"Q")
        finally:
            self.stream.close()
            self.sock.close()

    def send(self, cmd: bytes, data: bytes = b"", macros: bytes = b"") -> None:
        # Macros and their command in one write, as Postfix flushes them: two small writes would
        # meet Nagle's algorithm and the peer's delayed ACK and add 40 ms that Postfix never sees.
        packet = struct.pack("!I", len(data) + 1) + cmd + data
        if macros:
            packet = struct.pack("!I", len(macros) + 2) + b"D" + cmd + macros + packet
        self.sock.sendall(packet)

    def receive(self) -> tuple[bytes, bytes]:
        header = self.stream.read(4)
        if len(header) < 4:
            raise ConnectionError("milter closed the connection")
        (length,) = struct.unpack("!I", header)
        packet = self.stream.read(length)
        return packet[:1], packet[1:]

    def negotiate(self) -> None:
        self.send(b"O", struct.pack("!III", MILTER_VERSION, ALL_ACTIONS, OFFERED_PROTOCOL))
        cmd, data = self.receive()
        if cmd != b"O":
            raise ConnectionError(f"unexpected negotiation reply {cmd!r}")
        _version, _actions, self.protocol = struct.unpack("!III", data[:12])
        if DEBUG:
            print(f"negotiated protocol flags {self.protocol:#x}", file=sys.stderr)

    def step(self, cmd: str, data: bytes, macros: bytes = b"") -> tuple[str | None, float, float]:
        """Send one command; return the gate's final answer (None when no reply is due), the time to its
        first reply packet (the gate has decided) and the time to the final answer."""
        if self.protocol & SKIP.get(cmd, 0):
            return None, 0.0, 0.0
        started = time.perf_counter()
        self.send(cmd.encode(), data, macros)
        if self.protocol & NO_REPLY.get(cmd, 0):
            elapsed = time.perf_counter() - started
            return None, elapsed, elapsed
        first = None
        while True:  # header edits and progress packets come before the final answer
            answer, payload = self.receive()
            if first is None:
                first = time.perf_counter() - started
            if answer in FINAL:
                text = payload.rstrip(b"\0").decode("utf-8", "replace")
                return f"{FINAL[answer]} {text}".strip(), first, time.perf_counter() - started


def z(*parts: str) -> bytes:
    return b"".join(p.encode() + b"\0" for p in parts)


def probe_message(args, number: int) -> tuple[list[tuple[str, str]], bytes]:
    """The headers and body of one probe message, DKIM-signed when --sign names a key (untimed)."""
    headers = [
        ("From", f"<probe@{args.domain}>"),
        ("To", f"<{args.rcpt}>"),
        ("Subject", f"v6gate milter probe {number}"),
        ("Message-ID", f"<probe-{number}@{args.domain}>"),
    ]
    body = b"probe body line, filler text to a realistic message size\r\n" * 30
    if args.sign:
        import dkim  # python3-dkim, installed on the MX for the gate

        message = b"".join(f"{n}: {v}\r\n".encode() for n, v in headers) + b"\r\n" + body
        with open(args.sign, "rb") as key:
            line = dkim.sign(
                message,
                args.selector.encode(),
                args.domain.encode(),
                key.read(),
                include_headers=[b"from", b"to", b"subject", b"message-id"],
            )
        name, _, value = line.decode().partition(":")
        headers.insert(0, (name, value.strip().replace("\r\n", "\n")))
    return headers, body


def one_message(args, number: int, message) -> tuple[float, float, float, float, float, str]:
    queue_id = f"PROBE{number:06X}"
    setup_started = time.perf_counter()
    session = MilterSession(args.socket, args.timeout)
    try:
        session.negotiate()
        setup = time.perf_counter() - setup_started
        headers, body = message
        steps = [
            ("C", z(args.client_name) + b"6" + struct.pack("!H", 40000 + number % 20000) + z(args.client)),
            ("H", z(args.helo)),
            ("M", z(f"<probe@{args.domain}>")),
            ("R", z(f"<{args.rcpt}>")),
            *[("L", z(name, value)) for name, value in headers],
            ("N", b""),
            ("B", body),
            ("E", b""),
        ]
        decided = answered = rcpt = eom = 0.0
        outcome = "continue"
        for cmd, data in steps:
            macros = z("i", queue_id) if cmd in ("R", "E") else b""
            answer, first, final = session.step(cmd, data, macros)
            decided += first
            answered += final
            if cmd == "R":
                rcpt = first
            elif cmd == "E":
                eom = first
            if answer is not None:
                outcome = answer
                if not answer.startswith("continue") and cmd != "E":
                    break  # the gate decided early (reject/tempfail/accept): the message ends here
        return setup, decided, answered, rcpt, eom, outcome
    finally:
        session.close()


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--socket",
        default="unix:/run/v6gate-gate/milter.sock",
        help="the gate's socket in Postfix notation: unix:/path or inet:host:port",
    )
    parser.add_argument("--client", required=True, help="IPv6 address of the simulated SMTP client")
    parser.add_argument("--client-name", default="unknown", help="client host name as Postfix passes it")
    parser.add_argument("--helo", required=True)
    parser.add_argument("--domain", required=True, help="envelope sender domain")
    parser.add_argument("--rcpt", required=True)
    parser.add_argument("--authserv-id", required=True)
    parser.add_argument("--sign", help="private key file: DKIM-sign each message as --domain (untimed)")
    parser.add_argument("--selector", default="s1", help="DKIM selector for --sign (s1)")
    parser.add_argument("--count", type=int, default=1000)
    parser.add_argument("--warmup", type=int, default=50)
    parser.add_argument("--timeout", type=float, default=60.0)
    parser.add_argument(
        "--parallel", type=int, default=1, help="milter sessions at once, as smtpd processes open them"
    )
    args = parser.parse_args()
    # Signed before the clock starts: signing is this probe's CPU, which would compete with the gate's
    # for the same cores while the sessions run in parallel.
    messages = [probe_message(args, number) for number in range(args.warmup + args.count)]
    for number in range(args.warmup):
        one_message(args, number, messages[number])
    timed = range(args.warmup, args.warmup + args.count)
    started = time.perf_counter()
    with ThreadPoolExecutor(max_workers=args.parallel) as pool:
        runs = list(pool.map(lambda number: one_message(args, number, messages[number]), timed))
    elapsed = time.perf_counter() - started
    result: dict = {"setup": [], "decision": [], "answered": [], "rcpt": [], "eom": [], "outcomes": Counter()}
    result["parallel"] = args.parallel
    result["seconds"] = round(elapsed, 6)
    for setup, decision, answered, rcpt, eom, outcome in runs:
        result["setup"].append(round(setup, 6))
        result["decision"].append(round(decision, 6))
        result["answered"].append(round(answered, 6))
        result["rcpt"].append(round(rcpt, 6))
        result["eom"].append(round(eom, 6))
        result["outcomes"][outcome.split(" ")[0]] += 1
    json.dump(result, sys.stdout, separators=(",", ":"))
    print()
    return 0


if __name__ == "__main__":
    sys.exit(main())
