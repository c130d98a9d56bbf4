"""Real authoritative DNS for tests: Knot DNS on loopback, plus a server that never answers.

The zone files live in tests/fixtures/zones/ as plain RFC 1035 files named ``<zone>.zone``; every
file found there is served, so adding a zone is adding a file.  Zone files that fail to load on
purpose (see the README there) make Knot answer SERVFAIL for their names.
"""

from __future__ import annotations

import contextlib
import ctypes
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import dns.message
import dns.query
import dns.rcode
import dns.rdatatype
import dns.resolver

ZONES_DIR = Path(__file__).parent / "fixtures" / "zones"
KNOTD = shutil.which("knotd") or "/usr/sbin/knotd"


def free_port() -> int:
    """A port that is free for both UDP and TCP on 127.0.0.1 and ::1 right now."""
    for _ in range(50):
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
        try:
            for family, host in ((socket.AF_INET, "127.0.0.1"), (socket.AF_INET6, "::1")):
                for kind in (socket.SOCK_DGRAM, socket.SOCK_STREAM):
                    with socket.socket(family, kind) as sock:
                        sock.bind((host, port))
        except OSError:
            continue
        return port
    raise RuntimeError("no free port found on loopback")


def zone_names(zones_dir: Path) -> list[str]:
    """Zones served from ``zones_dir``: ``<zone>.zone`` files; ``root.zone`` is the root zone ``.``."""
    names = (path.name.removesuffix(".zone") for path in zones_dir.glob("*.zone"))
    return sorted("." if name == "root" else name for name in names)


def zone_file(zone: str) -> str:
    return "root.zone" if zone == "." else f"{zone}.zone"


def render_knot_conf(port: int, zones_dir: Path, run_dir: Path, zones: list[str]) -> str:
    zone_lines = "".join(f'  - domain: "{zone}"\n    file: {zone_file(zone)}\n' for zone in zones)
    return (
        "server:\n"
        f"  rundir: {run_dir}\n"
        f"  listen: [127.0.0.1@{port}, ::1@{port}]\n"
        "  # Answering from loopback only; tests need no rate limiting or TCP tuning.\n"
        "database:\n"
        f"  storage: {run_dir}\n"
        "log:\n"
        "  - target: stderr\n"
        "    any: info\n"
        "template:\n"
        "  - id: default\n"
        f"    storage: {zones_dir}\n"
        "    # Never write back into the committed zone files or keep a journal between runs.\n"
        "    zonefile-sync: -1\n"
        "    zonefile-load: whole\n"
        "    journal-content: none\n"
        "    semantic-checks: off\n"
        "zone:\n" + zone_lines
    )


@dataclass
class DnsServer:
    """What tests get from the ``dns_server`` fixture."""

    host: str
    port: int
    zones_dir: Path
    process: subprocess.Popen | None = None
    log_path: Path | None = None
    zones: list[str] = field(default_factory=list)
    host6: str = "::1"

    @property
    def nameservers(self) -> list[str]:
        return [self.host]

    @property
    def nameserver_specs(self) -> list[str]:
        """Nameserver strings in the form the v6gate modules accept (address plus port)."""
        return [f"{self.host}@{self.port}", f"[{self.host6}]:{self.port}"]

    def resolver(self, timeout: float = 2.0) -> dns.resolver.Resolver:
        import dns.nameserver  # dnspython 2.4+; the rest of this file also runs on Debian 12's 2.3

        resolver = dns.resolver.Resolver(configure=False)
        resolver.nameservers = [dns.nameserver.Do53Nameserver(self.host, self.port)]
        resolver.timeout = timeout
        resolver.lifetime = timeout
        resolver.cache = None
        return resolver

    def log(self) -> str:
        return self.log_path.read_text() if self.log_path and self.log_path.exists() else ""


def wait_until_answering(
    host: str,
    port: int,
    probe_name: str,
    deadline: float,
    process: subprocess.Popen | None = None,
    log_path: Path | None = None,
) -> None:
    query = dns.message.make_query(probe_name, "SOA")
    last_error: Exception | None = None
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            log = log_path.read_text() if log_path and log_path.exists() else ""
            name = Path(str(process.args[0])).name
            raise RuntimeError(f"{name} exited with status {process.returncode} before answering:\n{log}")
        try:
            response = dns.query.udp(query, host, port=port, timeout=0.3)
            if response.rcode() == dns.rcode.NOERROR and response.answer:
                return
        except Exception as error:  # keep polling until the deadline
            last_error = error
        time.sleep(0.05)
    raise RuntimeError(f"the DNS server did not answer on {host}@{port}: {last_error}")


@contextlib.contextmanager
def running_knot(work_dir: Path, zones_dir: Path = ZONES_DIR, probe_zone: str = "example.com"):
    """Start knotd in the foreground on a free loopback port; stop it on exit."""
    work_dir.mkdir(parents=True, exist_ok=True)
    port = free_port()
    zones = zone_names(zones_dir)
    conf = work_dir / "knot.conf"
    conf.write_text(render_knot_conf(port, zones_dir, work_dir, zones))
    log_path = work_dir / "knotd.log"
    with log_path.open("w") as log:
        process = subprocess.Popen(
            [KNOTD, "-c", str(conf)], stdout=log, stderr=subprocess.STDOUT, preexec_fn=_die_with_parent
        )
    server = DnsServer("127.0.0.1", port, zones_dir, process, log_path, zones)
    try:
        wait_until_answering(server.host, port, probe_zone, time.monotonic() + 10, process, log_path)
        yield server
    finally:
        stop_process(process)


def _die_with_parent() -> None:
    """In the child before exec: SIGTERM when the process that started Knot exits, however it exits
    (a killed pytest, or a fork of it that ends with os._exit), so no knotd outlives its test run."""
    PR_SET_PDEATHSIG = 1
    ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)


# Knot servers shared by the tests of one pytest process, started before any test runs.
# ansible-test units runs every test in a fork of the pytest process: a server a test's fixture started
# would die with that fork and be started again for the next test (0.35 s each, 17 servers for the
# openspf suite). A conftest starts what the collected tests need (STARTERS, keyed by fixture name)
# in the process itself, and the forks inherit it.
STARTERS: dict[str, Callable[[], object]] = {}
_shared: dict[object, DnsServer] = {}
_shared_stack = contextlib.ExitStack()


def shared_knot(key: object, zones_dir: Path, probe_zone: str = "example.com") -> DnsServer:
    """The Knot serving ``zones_dir`` for this process, started on first use and kept until
    :func:`stop_shared_knots`."""
    server = _shared.get(key)
    if server is None:
        work_dir = Path(_shared_stack.enter_context(tempfile.TemporaryDirectory(prefix="v6gate-knot-")))
        server = _shared_stack.enter_context(running_knot(work_dir, zones_dir, probe_zone))
        _shared[key] = server
    return server


def start_shared_knots(fixture_names: set[str]) -> None:
    for name, start in STARTERS.items():
        if name in fixture_names:
            start()


def stop_shared_knots() -> None:
    _shared_stack.close()
    _shared.clear()


class SilentDnsServer:
    """UDP and TCP sockets on loopback that accept queries and never reply: a dead nameserver.

    Knot cannot be told to drop queries, so this is the one fake in the DNS tests; it is what a
    resolver sees when a nameserver is down behind a firewall that drops packets.
    """

    def __init__(self, host: str = "127.0.0.1") -> None:
        self.host = host
        self.port = free_port()
        self._udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self._udp.bind((host, self.port))
        self._tcp = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._tcp.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._tcp.bind((host, self.port))
        self._tcp.listen(16)
        self._tcp.settimeout(0.2)
        self._held: list[socket.socket] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._accept_and_hold, daemon=True)
        self._thread.start()

    @property
    def nameserver_spec(self) -> str:
        return f"{self.host}@{self.port}"

    def _accept_and_hold(self) -> None:
        while not self._stop.is_set():
            with contextlib.suppress(OSError):
                connection, _ = self._tcp.accept()
                self._held.append(connection)

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=2)
        for sock in [*self._held, self._udp, self._tcp]:
            sock.close()


class DroppingDnsRelay:
    """A UDP relay in front of a real server that drops some queries: a sender's nameserver that never
    answers for some names, while the rest of DNS works (Knot cannot do that). By default every query of
    ``drop_types``; ``drop(name, rdtype)`` (lower-case name without the final dot, type as text) decides
    instead when given."""

    def __init__(
        self,
        upstream_host: str,
        upstream_port: int,
        drop_types=("AAAA",),
        host: str = "127.0.0.1",
        drop=None,
        delay: float = 0.0,
    ):
        self.host = host
        self.port = free_port()
        self._upstream = (upstream_host, upstream_port)
        types = {t.upper() for t in drop_types}
        self._drop = drop or (lambda _name, rdtype: rdtype in types)
        self._delay = delay  # seconds before each relayed answer: a slow nameserver, in user space
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self._sock.bind((host, self.port))
        self._sock.settimeout(0.2)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._relay, daemon=True)
        self._thread.start()

    @property
    def nameserver_spec(self) -> str:
        return f"{self.host}@{self.port}"

    def _relay(self) -> None:
        while not self._stop.is_set():
            try:
                data, client = self._sock.recvfrom(65535)
            except OSError:
                continue
            try:
                query = dns.message.from_wire(data)
            except Exception:
                continue
            if query.question:
                question = query.question[0]
                name = question.name.to_text(omit_final_dot=True).lower()
                if self._drop(name, dns.rdatatype.to_text(question.rdtype)):
                    continue
            threading.Thread(target=self._answer, args=(query, client), daemon=True).start()

    def _answer(self, query, client) -> None:
        with contextlib.suppress(Exception):
            reply = dns.query.udp(query, self._upstream[0], port=self._upstream[1], timeout=2)
            time.sleep(self._delay)
            self._sock.sendto(reply.to_wire(), client)

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=2)
        self._sock.close()


# ------------------------------------------------------------------ a zone that takes dynamic updates

UPDATE_ZONE = "mx.example.net"
UPDATE_KEY_NAME = "v6gate-update"
READ_ONLY_KEY_NAME = "read-only"  # a key the primary knows, with no update rights in the zone's ACL


@dataclass
class UpdatableZone:
    """A primary that takes RFC 2136 updates signed with ``keys[UPDATE_KEY_NAME]``, a secondary fed by
    NOTIFY and IXFR/AXFR, and a stale secondary that is never notified (it serves what it had at start)."""

    zone: str
    keys: dict[str, str]
    primary: DnsServer
    secondary: DnsServer
    stale_secondary: DnsServer

    @property
    def primary_spec(self) -> str:
        return f"{self.primary.host}@{self.primary.port}"

    @property
    def server_specs(self) -> list[str]:
        """The zone's authoritative servers that stay in sync: the primary and the notified secondary."""
        return [self.primary_spec, f"{self.secondary.host}@{self.secondary.port}"]

    @property
    def stale_spec(self) -> str:
        return f"{self.stale_secondary.host}@{self.stale_secondary.port}"


def _zone_text(zone: str) -> str:
    # A refresh of a day: only NOTIFY brings a change to a secondary, so the stale one stays stale.
    return (
        f"$ORIGIN {zone}.\n$TTL 300\n"
        f"@ SOA ns1 hostmaster 1 86400 3600 864000 60\n@ NS ns1\n@ NS ns2\n"
        "ns1 A 127.0.0.1\nns2 A 127.0.0.1\n"
        "; a domain already published with IPv6, for the tests that withdraw it\n"
        "published-example A 198.51.100.25\npublished-example AAAA 2001:db8:25::25\n"
    )


def _knot_conf(port: int, run_dir: Path, body: str) -> str:
    return (
        f"server:\n  rundir: {run_dir}\n  listen: [127.0.0.1@{port}, ::1@{port}]\n"
        f"database:\n  storage: {run_dir}\nlog:\n  - target: stderr\n    any: info\n" + body
    )


def _start_knotd(work_dir: Path, port: int, conf_text: str) -> tuple[subprocess.Popen, Path]:
    work_dir.mkdir(parents=True, exist_ok=True)
    conf = work_dir / "knot.conf"
    conf.write_text(conf_text)
    log_path = work_dir / "knotd.log"
    with log_path.open("w") as log:
        process = subprocess.Popen(
            [KNOTD, "-c", str(conf)], stdout=log, stderr=subprocess.STDOUT, preexec_fn=_die_with_parent
        )
    return process, log_path


def stop_process(process: subprocess.Popen) -> None:
    """SIGTERM, and SIGKILL after 10 s: for knotd here and the benchmarks' Unbound."""
    process.terminate()
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


@contextlib.contextmanager
def running_updatable_zone(work_dir: Path, zone: str = UPDATE_ZONE):
    import base64
    import secrets

    keys = {
        name: base64.b64encode(secrets.token_bytes(32)).decode()
        for name in (UPDATE_KEY_NAME, READ_ONLY_KEY_NAME)
    }
    key_lines = "key:\n" + "".join(
        f"  - id: {name}\n    algorithm: hmac-sha256\n    secret: {secret}\n" for name, secret in keys.items()
    )
    ports = {role: free_port() for role in ("primary", "secondary", "stale")}
    primary_dir = work_dir / "primary"
    primary_dir.mkdir(parents=True, exist_ok=True)
    (primary_dir / f"{zone}.zone").write_text(_zone_text(zone))
    primary_conf = _knot_conf(
        ports["primary"],
        primary_dir,
        key_lines
        + (
            f"remote:\n  - id: secondary\n    address: 127.0.0.1@{ports['secondary']}\n"
            f"acl:\n  - id: update\n    key: {UPDATE_KEY_NAME}\n    action: update\n"
            "  - id: transfer\n    address: 127.0.0.0/8\n    action: transfer\n"
            f"zone:\n  - domain: {zone}\n    storage: {primary_dir}\n    file: {zone}.zone\n"
            "    zonefile-sync: -1\n    journal-content: changes\n    notify: secondary\n"
            "    acl: [update, transfer]\n"
        ),
    )

    def secondary_conf(port: int, run_dir: Path, notified: bool) -> str:
        notify_acl = (
            "acl:\n  - id: notify\n    address: 127.0.0.0/8\n    action: notify\n" if notified else ""
        )
        # 'master' is Knot 3.2's name (Debian 12); Debian 13's Knot 3.4 reads it too.
        return _knot_conf(
            port,
            run_dir,
            (
                f"remote:\n  - id: primary\n    address: 127.0.0.1@{ports['primary']}\n"
                + notify_acl
                + f"zone:\n  - domain: {zone}\n    storage: {run_dir}\n    master: primary\n"
                "    zonefile-sync: -1\n    journal-content: changes\n"
                + ("    acl: notify\n" if notified else "")
            ),
        )

    started = []
    try:
        servers = {}
        for role, notified in (("primary", None), ("secondary", True), ("stale", False)):
            run_dir = work_dir / role
            text = primary_conf if role == "primary" else secondary_conf(ports[role], run_dir, notified)
            process, log_path = _start_knotd(run_dir, ports[role], text)
            started.append(process)
            server = DnsServer("127.0.0.1", ports[role], run_dir, process, log_path, [zone])
            # A secondary answers once its first transfer from the primary is done.
            wait_until_answering(server.host, server.port, zone, time.monotonic() + 15, process, log_path)
            servers[role] = server
        yield UpdatableZone(zone, keys, servers["primary"], servers["secondary"], servers["stale"])
    finally:
        for process in started:
            stop_process(process)


def shared_updatable_zone() -> UpdatableZone:
    zone = _shared.get("updatable")
    if zone is None:
        temporary = tempfile.TemporaryDirectory(prefix="v6gate-knot-update-")
        work_dir = Path(_shared_stack.enter_context(temporary))
        zone = _shared_stack.enter_context(running_updatable_zone(work_dir))
        _shared["updatable"] = zone
    return zone


STARTERS["updatable_zone"] = shared_updatable_zone
