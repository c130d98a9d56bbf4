"""Fixtures for the opt-in tests: real SMTP listeners on ::1, an in-process module runner and an
``ansible localhost -m`` runner."""

from __future__ import annotations

import contextlib
import io
import json
import socket
import threading

import pytest
from ansible_cli import run_module


class SmtpListener:
    """A minimal SMTP server on [::1]: sends ``greeting``, answers QUIT with 221, counts sessions.

    Real sockets, so the readiness check goes through connect, greeting and QUIT exactly as it does
    against Postfix; only the greeting is under the test's control.
    """

    def __init__(self, greeting: str = "220 mx.optin.example ESMTP v6gate-test") -> None:
        self.greeting = greeting
        self.sessions = 0
        self.quits = 0
        self._sock = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
        self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._sock.bind(("::1", 0))
        self._sock.listen(8)
        self._sock.settimeout(0.2)
        self.port = self._sock.getsockname()[1]
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                connection, _ = self._sock.accept()
            except OSError:
                continue
            with connection:
                self.sessions += 1
                connection.settimeout(2)
                with contextlib.suppress(OSError):
                    connection.sendall(self.greeting.encode() + b"\r\n")
                    if connection.recv(64).upper().startswith(b"QUIT"):
                        self.quits += 1
                        connection.sendall(b"221 2.0.0 Bye\r\n")

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=2)
        self._sock.close()


@pytest.fixture
def smtp_listener():
    listener = SmtpListener()
    yield listener
    listener.close()


@pytest.fixture
def smtp_listener_554():
    listener = SmtpListener("554 5.3.2 mx.optin.example not accepting mail")
    yield listener
    listener.close()


@pytest.fixture
def closed_port() -> int:
    """A port on ::1 that nothing listens on: connecting is refused at once."""
    with socket.socket(socket.AF_INET6, socket.SOCK_STREAM) as probe:
        probe.bind(("::1", 0))
        return probe.getsockname()[1]


@pytest.fixture
def client(dns_server):
    from ansible_collections.v6gate.mx.plugins.module_utils.dns_client import DnsClient

    return DnsClient([dns_server.nameserver_specs[0]], timeout=2.0, retries=0)


@pytest.fixture
def optin_file(tmp_path):
    """An opt-in file as the ipv6_gate role writes it, with comments and its trailer (2 domains)."""
    path = tmp_path / "ipv6-optin-domains"
    path.write_text(
        "# managed by v6gate\n\nexample.com  # first customer\n# example.net is waiting\nexample.org\n"
        "# v6gate-optin end: 2 domain(s)\n"
    )
    path.chmod(0o640)
    return path


class ModuleExit(Exception):
    pass


def run_module_in_process(args: dict, check: bool = False, diff: bool = False) -> dict:
    """Run ipv6_optin.main() in this process with ``args``; return the JSON it prints."""
    from ansible.module_utils.testing import patch_module_args
    from ansible_collections.v6gate.mx.plugins.modules import ipv6_optin

    full = dict(args, _ansible_check_mode=check, _ansible_diff=diff)
    stdout = io.StringIO()
    with patch_module_args(full), contextlib.redirect_stdout(stdout), pytest.raises(SystemExit):
        ipv6_optin.main()
    return json.loads(stdout.getvalue())


@pytest.fixture
def optin_module():
    return run_module_in_process


def run_through_ansible(args: dict, check: bool = False, diff: bool = False) -> dict:
    """Run ``v6gate.mx.ipv6_optin`` through ``ansible localhost -m`` and return the host's result."""
    return run_module("ipv6_optin", args, check=check, diff=diff)


@pytest.fixture
def ansible_optin():
    return run_through_ansible
