"""A minimal SMTP server for the readiness checks' tests."""

from __future__ import annotations

import contextlib
import socket
import threading


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
