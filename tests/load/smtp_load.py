#!/usr/bin/env python3
"""SMTP load client: N messages over C concurrent connections, one message per connection, every reply kept.

Runs inside a sender container (Python standard library, plus python3-dkim for --sign). Each message has
its own envelope sender ``lt-<run>-<n>@<domain>``, which local(8) writes into the delivered file as
``Return-Path``: the controller can then match every accepted message to its delivered copy. The body
is signed once per run (the signature does not cover the envelope), so every message carries a valid
DKIM signature at no per-message cost.

Prints one JSON document: the run id, and per message ``[n, start (epoch s), latency (s), outcome,
stage, reply]`` where outcome is ``accepted`` (250 after DATA), ``4xx``, ``5xx`` or ``error`` (the
connection failed or timed out; a real sender retries those like a 4xx). Latency runs from the start
of the TCP connection to the final reply after DATA (or to the failure).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import sys
import time
from email.utils import formatdate


class ReplyError(Exception):
    def __init__(self, stage: str, reply: str) -> None:
        super().__init__(f"{stage}: {reply}")
        self.stage, self.reply = stage, reply


def build_message(args) -> bytes:
    lines = [
        f"From: <load@{args.domain}>",
        f"To: <{args.rcpt}>",
        f"Subject: v6gate load run {args.run}",
        f"Date: {formatdate(localtime=False)}",
        f"Message-ID: <load-{args.run}@{args.domain}>",
    ]
    body = "".join(
        f"line {i:04d} of the v6gate load test message, filler text to a realistic size\r\n"
        for i in range(args.body_lines)
    )
    message = ("\r\n".join(lines) + "\r\n\r\n" + body).encode()
    if args.sign:
        import dkim

        with open(args.sign, "rb") as handle:
            key = handle.read()
        signature = dkim.sign(
            message,
            b"s1",
            args.domain.encode(),
            key,
            include_headers=[b"from", b"to", b"subject", b"date", b"message-id"],
        )
        message = signature.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n") + message
    # dot-stuffing once; the terminating dot is added per send
    return message.replace(b"\r\n.", b"\r\n..")


async def read_reply(reader: asyncio.StreamReader) -> str:
    lines = []
    while True:
        raw = await reader.readline()
        if not raw:
            raise ConnectionError("connection closed by the server")
        line = raw.decode("utf-8", "replace").rstrip("\r\n")
        lines.append(line)
        if len(line) < 4 or line[3] != "-":
            return lines[0][:4] + " | ".join(x[4:] for x in lines) if len(lines) > 1 else line


async def command(reader, writer, stage: str, text: bytes | None, expect: str) -> str:
    if text is not None:
        writer.write(text)
        await writer.drain()
    reply = await read_reply(reader)
    if not reply.startswith(expect):
        raise ReplyError(stage, reply)
    return reply


async def one_message(args, number: int, message: bytes) -> list:
    started_wall, started = time.time(), time.monotonic()
    stage, writer = "connect", None
    try:
        async with asyncio.timeout(args.timeout):
            reader, writer = await asyncio.open_connection(
                args.server, args.port, local_addr=(args.source, 0) if args.source else None
            )
            await command(reader, writer, "banner", None, "220")
            stage = "ehlo"
            await command(reader, writer, stage, f"EHLO {args.helo}\r\n".encode(), "250")
            stage = "mail"
            await command(
                reader, writer, stage, f"MAIL FROM:<lt-{args.run}-{number}@{args.domain}>\r\n".encode(), "250"
            )
            stage = "rcpt"
            await command(reader, writer, stage, f"RCPT TO:<{args.rcpt}>\r\n".encode(), "250")
            stage = "data"
            await command(reader, writer, stage, b"DATA\r\n", "354")
            stage = "end-of-data"
            reply = await command(reader, writer, stage, message + b".\r\n", "250")
            latency = time.monotonic() - started
            writer.write(b"QUIT\r\n")
            await writer.drain()
            outcome = "accepted"
    except ReplyError as exc:
        latency, reply = time.monotonic() - started, exc.reply
        outcome = {"4": "4xx", "5": "5xx"}.get(reply[:1], "error")
    except (OSError, ConnectionError, TimeoutError) as exc:
        latency, reply, outcome = time.monotonic() - started, f"{type(exc).__name__}: {exc}", "error"
    finally:
        if writer is not None:
            writer.close()
            with contextlib.suppress(OSError, ConnectionError):
                await writer.wait_closed()
    return [number, round(started_wall, 4), round(latency, 5), outcome, stage, reply]


async def run(args) -> list:
    message = build_message(args)
    numbers = iter(range(args.first, args.first + args.count))
    results: list = []
    started = time.monotonic()

    async def worker() -> None:
        for number in numbers:  # shared iterator: each number is taken by exactly one worker
            if args.rate:  # paced: message n starts no earlier than n / rate seconds into the run
                await asyncio.sleep(max(0.0, started + (number - args.first) / args.rate - time.monotonic()))
            results.append(await one_message(args, number, message))

    await asyncio.gather(*(worker() for _ in range(args.concurrency)))
    return sorted(results)


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--server", required=True)
    parser.add_argument("--port", type=int, default=25)
    parser.add_argument("--source", default=None, help="local address to send from")
    parser.add_argument("--helo", required=True)
    parser.add_argument(
        "--domain", required=True, help="envelope sender domain (SPF) and DKIM signing domain"
    )
    parser.add_argument("--rcpt", required=True)
    parser.add_argument("--run", required=True, help="run id, part of every envelope sender")
    parser.add_argument("--count", type=int, default=1)
    parser.add_argument("--first", type=int, default=0, help="number of the first message")
    parser.add_argument("--concurrency", type=int, default=4)
    parser.add_argument(
        "--rate", type=float, default=0.0, help="messages/s to start at most (0: as fast as C connections go)"
    )
    parser.add_argument(
        "--timeout", type=float, default=120.0, help="seconds per message, connect to final reply"
    )
    parser.add_argument("--body-lines", type=int, default=30)
    parser.add_argument("--sign", default=None, help="DKIM key file (selector s1 of --domain)")
    parser.add_argument(
        "--write-message",
        default=None,
        metavar="FILE",
        help="only write the (signed) message with LF line ends, for smtp-source -F",
    )
    args = parser.parse_args()
    if args.write_message:
        message = build_message(args).replace(b"\r\n..", b"\r\n.").replace(b"\r\n", b"\n")
        with open(args.write_message, "wb") as handle:
            handle.write(message)
        return 0
    results = asyncio.run(run(args))
    json.dump({"run": args.run, "messages": results}, sys.stdout, separators=(",", ":"))
    print()
    return 0


if __name__ == "__main__":
    sys.exit(main())
