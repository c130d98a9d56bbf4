"""One SMTP session as the gate sees it, free of any milter library so it can be tested directly.

The milter glue feeds events in (connect, MAIL FROM, RCPT TO, headers, end of message) and carries the
answers out (a Reply or None, header edits). DNS and SPF are reached through a ``Checks`` object that tests
may point at a real test nameserver.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field

from . import authres, dnscheck
from .config import GateConfig
from .rules import (
    PtrStatus,
    Reply,
    check_authentication,
    check_recipient_domain,
    check_reverse_dns,
    is_subject_to_gate,
    normalize_ipv6,
)

AUTH_RESULTS = "authentication-results"
NO_QUEUE_ID = "NOQUEUE"  # Postfix's word for "no queue file yet"; RCPT-time decisions come before one

IPREV_RESULT = {
    PtrStatus.PASS: "pass",
    PtrStatus.MISMATCH: "fail",
    PtrStatus.MISSING: "fail",
    PtrStatus.TEMPERROR: "temperror",
}


class Checks:
    """The network-facing checks, bound to one resolver and time limits."""

    def __init__(self, config: GateConfig, resolver=None) -> None:
        self.config = config
        self.resolver = resolver or dnscheck.make_resolver(config.nameservers, config.dns_timeout)

    def reverse_dns(self, address: str) -> dnscheck.ReverseDns:
        return dnscheck.reverse_dns(self.resolver, address, self.config.ptr_policy)

    def spf(self, address: str, sender: str, helo: str) -> dnscheck.SpfResult:
        return dnscheck.check_spf(address, sender, helo, self.config.dns_timeout, self.config.spf_timeout)


@dataclass
class EndOfMessage:
    """What the milter must do at end of data."""

    reply: Reply | None  # None: let the message through
    delete_auth_results: list[int] = field(default_factory=list)  # 1-based indexes, highest first
    add_auth_results: str | None = None


@dataclass
class _Header:
    index: int  # 1-based among Authentication-Results headers, as the milter protocol counts them
    value: str


class GateSession:
    """State of one SMTP connection through the gate."""

    def __init__(self, config: GateConfig, optin, checks: Checks, log: logging.Logger) -> None:
        self.config = config
        self.optin = optin
        self.checks = checks
        self.log = log
        self.client: str | None = None  # compressed IPv6, or None when the client is outside the gate
        self.client_text = ""
        self.helo = ""
        self.reverse: dnscheck.ReverseDns | None = None  # looked up once per connection
        self._new_transaction()

    # ------------------------------------------------------------------------------------ events

    def connect(self, address: str) -> bool:
        """Returns False when the connection is outside the gate (IPv4, trusted network)."""
        self.client_text = address
        subject = is_subject_to_gate(address, False, self.config.trusted_networks)
        self.client = normalize_ipv6(address) if subject else None
        if not subject:
            reason = "ipv4" if normalize_ipv6(address) is None else "trusted-network"
            self.log.info("exempt client=%s reason=%s", address, reason)
        return subject

    def hello(self, name: str) -> None:
        self.helo = name or ""

    def mail_from(self, sender: str, authenticated_as: str | None) -> bool:
        """Start a transaction. Returns False when this transaction is exempt (SASL-authenticated)."""
        self._new_transaction()
        self.sender = sender or ""
        if self.client is None:
            return False
        if authenticated_as:
            self.log.info("exempt client=%s reason=authenticated user=%s", self.client, authenticated_as)
            return False
        self.gated = True
        return True

    def recipient(self, recipient: str, queue_id: str | None = None) -> Reply | None:
        """Rules 1 and 2 for one recipient; other recipients are judged on their own."""
        if not self.gated:
            return None
        started = time.monotonic()
        reply = check_recipient_domain(recipient, self.optin, self.config.known_domains)
        if reply is None:
            if self.reverse is None:
                self.reverse = self.checks.reverse_dns(self.client)
            reply = check_reverse_dns(self.client, self.reverse.status, self.config.ptr_policy)
        if reply is None:
            self.accepted_recipients.append(recipient)
        else:
            self._log_decision(queue_id, reply.rule, reply, started, recipient=recipient)
        return reply

    def header(self, name: str, value: str) -> None:
        if not self.gated or name.lower() != AUTH_RESULTS:
            return
        self._auth_results_seen += 1
        self.auth_results.append(_Header(self._auth_results_seen, value))

    def end_of_message(self, queue_id: str | None) -> EndOfMessage:
        """Rule 3, our Authentication-Results, and removal of results that falsely claim our authserv-id."""
        if not self.gated:
            return EndOfMessage(None)
        started = time.monotonic()
        dkim_pass, dkim_note, untrusted = self._dkim_verdict()
        spf_result = self.checks.spf(self.client, self.sender, self.helo)
        reply = check_authentication(self.client, spf_result.result == "pass", dkim_pass)
        ours = self._our_auth_results(spf_result)
        details = (
            f"iprev={IPREV_RESULT[self.reverse.iprev] if self.reverse else 'none'} "
            f"spf={spf_result.result} dkim={dkim_note}"
        )
        if untrusted:
            details += f" removed_forged_auth_results={len(untrusted)}"
        self._log_decision(queue_id, reply.rule if reply else "accept", reply, started, extra=details)
        if reply is not None:
            return EndOfMessage(reply)  # a rejected message is not edited
        return EndOfMessage(None, sorted(untrusted, reverse=True), ours)

    # ---------------------------------------------------------------------------------- helpers

    def _new_transaction(self) -> None:
        self.gated = False
        self.sender = ""
        self.accepted_recipients: list[str] = []
        self.auth_results: list[_Header] = []
        self._auth_results_seen = 0

    def _dkim_verdict(self) -> tuple[bool, str, list[int]]:
        """DKIM as OpenDKIM found it, read from the one Authentication-Results it adds with our id.

        OpenDKIM runs before the gate, adds exactly one header (AlwaysAddARHeader) and removes headers that
        claim our authserv-id for DKIM. Anything else claiming our id is forged: it is removed, never read.
        If more than one header with our id carries DKIM results, none is trusted.
        """
        ours = self.config.authserv_id.lower()
        dkim_headers: list[tuple[_Header, authres.AuthResults]] = []
        untrusted: list[int] = []
        for header in self.auth_results:
            if authres.authserv_id_of(header.value) != ours:
                continue
            try:
                parsed = authres.parse_authentication_results(header.value)
            except authres.AuthResParseError:
                untrusted.append(header.index)
                continue
            if "dkim" in parsed.methods():
                dkim_headers.append((header, parsed))
            else:
                untrusted.append(header.index)
        if not dkim_headers:
            self.log.warning(
                "no DKIM verdict from OpenDKIM for client=%s (is it attached before the gate?)", self.client
            )
            return False, "unknown", untrusted
        if len(dkim_headers) > 1:
            self.log.warning(
                "%d Authentication-Results claim %s with DKIM results; trusting none", len(dkim_headers), ours
            )
            untrusted.extend(h.index for h, _ in dkim_headers)
            return False, "untrusted", untrusted
        results = [r for r in dkim_headers[0][1].results if r.method == "dkim"]
        passed = any(r.result == "pass" for r in results)
        return passed, "pass" if passed else (results[0].result if results else "none"), untrusted

    def _our_auth_results(self, spf_result: dnscheck.SpfResult) -> str:
        results = []
        if self.reverse is not None:
            comment = self.reverse.confirmed_name or (self.reverse.names[0] if self.reverse.names else "")
            iprev = IPREV_RESULT[self.reverse.iprev]
            results.append(("iprev", iprev, [("policy.iprev", self.client)], comment))
        prop = "smtp.mailfrom" if spf_result.identity == "mailfrom" else "smtp.helo"
        results.append(("spf", spf_result.result, [(prop, spf_result.domain)], ""))
        return authres.format_authentication_results(self.config.authserv_id, results)

    def _log_decision(
        self,
        queue_id,
        rule: str,
        reply: Reply | None,
        started: float,
        recipient: str | None = None,
        extra: str = "",
    ) -> None:
        """One line per decision; took_ms is the gate's own time for it (DNS included), without transport."""
        took_ms = (time.monotonic() - started) * 1000
        line = f"decision queue_id={queue_id or NO_QUEUE_ID} client={self.client} rule={rule}"
        if recipient is not None:
            line += f" rcpt={recipient}"
        line += f' reply="{reply if reply else "accept"}"'
        if extra:
            line += " " + extra
        line += f" took_ms={took_ms:.1f}"
        self.log.info("%s", line)
