#!/usr/bin/env python3
"""A DNS relay that adds a network round trip: every query (UDP or TCP) waits half of ``--rtt`` before it
is forwarded to the upstream server and half after its answer, so a client sees the answers of a server
``--rtt`` away. This kernel has no netem; the relay runs in a process of its own so that its work does
not share the benchmark's interpreter. Standard library only.

    python3 bench/dns_delay_relay.py --listen 127.0.0.1:5399 --upstream 127.0.0.1:5300 --rtt 0.02
"""

from __future__ import annotations

import argparse
import asyncio
import signal

UPSTREAM_TIMEOUT = 5.0


def host_port(text: str) -> tuple[str, int]:
    host, _, port = text.rpartition(":")
    return host.strip("[]"), int(port)


class _Upstream(asyncio.DatagramProtocol):
    def __init__(self, answer: asyncio.Future) -> None:
        self.answer = answer

    def datagram_received(self, data: bytes, addr) -> None:
        if not self.answer.done():
            self.answer.set_result(data)


async def _ask_udp(upstream: tuple[str, int], query: bytes) -> bytes:
    loop = asyncio.get_running_loop()
    answer = loop.create_future()
    transport, _ = await loop.create_datagram_endpoint(lambda: _Upstream(answer), remote_addr=upstream)
    try:
        transport.sendto(query)
        return await asyncio.wait_for(answer, UPSTREAM_TIMEOUT)
    finally:
        transport.close()


class _Listener(asyncio.DatagramProtocol):
    def __init__(self, upstream: tuple[str, int], half_rtt: float) -> None:
        self.upstream, self.half_rtt = upstream, half_rtt
        self.transport = None
        self.tasks: set = set()

    def connection_made(self, transport) -> None:
        self.transport = transport

    def datagram_received(self, data: bytes, addr) -> None:
        task = asyncio.ensure_future(self._relay(data, addr))
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    async def _relay(self, query: bytes, client) -> None:
        await asyncio.sleep(self.half_rtt)
        try:
            answer = await _ask_udp(self.upstream, query)
        except (TimeoutError, OSError):
            return  # the client times out, as it would on a lost packet
        await asyncio.sleep(self.half_rtt)
        self.transport.sendto(answer, client)


async def _tcp_client(reader, writer, upstream: tuple[str, int], half_rtt: float) -> None:
    try:
        up_reader, up_writer = await asyncio.open_connection(*upstream)
    except OSError:
        writer.close()
        return
    try:
        while True:
            length = await reader.readexactly(2)
            query = await reader.readexactly(int.from_bytes(length, "big"))
            await asyncio.sleep(half_rtt)
            up_writer.write(length + query)
            answer_length = await asyncio.wait_for(up_reader.readexactly(2), UPSTREAM_TIMEOUT)
            answer = await up_reader.readexactly(int.from_bytes(answer_length, "big"))
            await asyncio.sleep(half_rtt)
            writer.write(answer_length + answer)
            await writer.drain()
    except (TimeoutError, asyncio.IncompleteReadError, OSError):
        pass
    finally:
        up_writer.close()
        writer.close()


async def serve(listen: tuple[str, int], upstream: tuple[str, int], rtt: float) -> None:
    loop = asyncio.get_running_loop()
    half = rtt / 2
    transport, _ = await loop.create_datagram_endpoint(lambda: _Listener(upstream, half), local_addr=listen)
    server = await asyncio.start_server(lambda r, w: _tcp_client(r, w, upstream, half), *listen)
    stop = loop.create_future()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set_result, None)
    print(
        f"relaying {listen[0]}:{listen[1]} -> {upstream[0]}:{upstream[1]}, {rtt * 1000:.0f} ms round trip",
        flush=True,
    )
    await stop
    transport.close()
    server.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--listen", required=True, type=host_port)
    parser.add_argument("--upstream", required=True, type=host_port)
    parser.add_argument("--rtt", required=True, type=float, help="round trip in seconds")
    args = parser.parse_args()
    asyncio.run(serve(args.listen, args.upstream, args.rtt))


if __name__ == "__main__":
    main()
