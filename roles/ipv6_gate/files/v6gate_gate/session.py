"""One SMTP session as the gate sees it, free of any milter library so it can be tested directly.

The milter glue feeds events in (connect, MAIL FROM, RCPT TO, headers, body, end of message) and carries
the answers out (a Reply or None, header edits). DNS, SPF and DKIM keys are reached through a ``Checks``
object that tests may point at a real test nameserver.

Trust: no decision and no result we write is ever read from a header. Every Authentication-Results that
could be taken as ours, and every X-V6gate-Monitor header, is removed, for every client; DKIM is verified
here, with dkimpy.

Per recipient domain the opt-in list gives a state. ``off``: 550 5.2.1. ``enforce``: the rules answer.
``monitor``: the rules are evaluated and logged with the reply they would have given (``mode=monitor``,
``would_reply=``), and the message is accepted with an X-V6gate-Monitor header per would-be reply. At end
of data one reply answers for all recipients, so a message with any recipient in an enforced domain is
judged as enforced (a 4xx: the sender retries, nothing is lost).
"""

from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass, field

from ansible_collections.v6gate.mx.plugins.module_utils import authres, dkim_verify
from ansible_collections.v6gate.mx.plugins.module_utils.dns_client import Deadline, DnsClient
from ansible_collections.v6gate.mx.plugins.module_utils.gate_log import format_decision, log_value, quoted
from ansible_collections.v6gate.mx.plugins.module_utils.iprev import ReverseDns, reverse_dns
from ansible_collections.v6gate.mx.plugins.module_utils.ipv6_rules import (
    STATE_ENFORCE,
    STATE_MONITOR,
    STATE_OFF,
    PtrStatus,
    Reply,
    check_authentication,
    check_reverse_dns,
    disabled_domain_reply,
    is_subject_to_gate,
    normalize_domain,
    normalize_ipv6,
    recipient_domain,
)
from ansible_collections.v6gate.mx.plugins.module_utils.spf_eval import SpfEvaluation, evaluate_spf

from .config import GateConfig

AUTH_RESULTS = "authentication-results"
MONITOR_HEADER = "X-V6gate-Monitor"
MODE_ENFORCE = STATE_ENFORCE
MODE_MONITOR = STATE_MONITOR
DKIM_SIGNATURE = "dkim-signature"
NO_QUEUE_ID = "NOQUEUE"  # Postfix's word for "no queue file yet"; RCPT-time decisions come before one

IPREV_RESULT = {
    PtrStatus.PASS: "pass",
    PtrStatus.MISMATCH: "fail",
    PtrStatus.MISSING: "fail",
    PtrStatus.TEMPERROR: "temperror",
}


class Checks:
    """The network-facing checks: the collection's core (one DNS client, reverse DNS, SPF, DKIM) bound to
    the gate's nameservers, time limits and cache."""

    def __init__(self, config: GateConfig, client: DnsClient | None = None) -> None:
        self.config = config
        # A lookup tries each server for up to 2 s a round, in as many rounds as dns_timeout allows.
        attempt = min(config.dns_timeout, 2.0)
        self.dns = client or DnsClient(
            config.nameservers, timeout=attempt, retries=max(0, math.ceil(config.dns_timeout / attempt) - 1),
            max_in_flight=256, lifetime=config.dns_timeout, cache_size=config.dns_cache_size,
            keep_for_run=False,
        )

    def deadline(self) -> Deadline:
        return Deadline(self.config.decision_timeout)

    def reverse_dns(self, address: str, deadline: Deadline) -> ReverseDns:
        return reverse_dns(self.dns, address, deadline)

    def spf(self, address: str, sender: str, helo: str, deadline: Deadline) -> SpfEvaluation:
        return evaluate_spf(self.dns, address, sender, helo, deadline.within(self.config.spf_timeout))

    def dkim(self, message: bytes, deadline: Deadline) -> list[dkim_verify.SignatureResult]:
        lookup_key = dkim_verify.key_lookup(self.dns, deadline)
        return dkim_verify.verify_signatures(message, lookup_key, self.config.max_signatures)


@dataclass
class EndOfMessage:
    """What the milter must do at end of data."""

    reply: Reply | None  # None: let the message through
    delete_headers: list[tuple[str, int]] = field(default_factory=list)  # (name, index), highest first
    add_auth_results: str | None = None
    add_monitor: list[str] = field(default_factory=list)  # values of X-V6gate-Monitor headers to add


class GateSession:
    """State of one SMTP connection through the gate."""

    def __init__(self, config: GateConfig, optin, checks: Checks, log: logging.Logger, metrics=None) -> None:
        self.config = config
        self.optin = optin
        self.checks = checks
        self.log = log
        self.metrics = metrics  # anything with decision(rule, code, mode, domain); None counts nothing
        self.client: str | None = None  # compressed IPv6, or None when the client is outside the gate
        self.client_text = ""
        self.helo = ""
        self.reverse: ReverseDns | None = None  # looked up once per connection
        self._new_transaction()

    # ------------------------------------------------------------------------------------ events

    def connect(self, address: str) -> bool:
        """Returns whether the rules apply to this connection (not IPv4, not a trusted network).

        Every connection stays attached either way: forged Authentication-Results are removed for all.
        """
        self.client_text = log_value(address or "unknown")
        try:
            subject = is_subject_to_gate(address, False, self.config.trusted_networks)
        except ValueError:  # not an IP address at all (a local submission has none)
            subject = False
        self.client = normalize_ipv6(address) if subject else None
        if not subject:
            try:
                reason = "ipv4" if normalize_ipv6(address) is None else "trusted-network"
            except ValueError:
                reason = "no-ip-address"
            self.log.info("exempt client=%s reason=%s", self.client_text, reason)
        return subject

    def hello(self, name: str) -> None:
        self.helo = name or ""

    def mail_from(self, sender: str, authenticated_as: str | None) -> bool:
        """Start a transaction. Returns whether the rules apply to it (if not, headers are still cleaned)."""
        self._new_transaction()
        self.sender = sender or ""
        # Mail from our own users is signed, not verified; everything else gets our DKIM results.
        self.verify_dkim = not authenticated_as
        if self.client is None:
            return False
        if authenticated_as:
            self.log.info(
                "exempt client=%s reason=authenticated user=%s", self.client, log_value(authenticated_as)
            )
            return False
        self.gated = True
        return True

    def recipient(self, recipient: str, queue_id: str | None = None) -> Reply | None:
        """Rules 1 and 2 for one recipient; other recipients are judged on their own."""
        if not self.gated:
            return None
        started = time.monotonic()
        state = self.optin.state_of(recipient)
        if state == STATE_OFF:
            reply = disabled_domain_reply(recipient, self.config.known_domains)
            self._log_decision(queue_id, reply.rule, reply, started, [recipient], MODE_ENFORCE, at_rcpt=True)
            return reply
        if self.reverse is None:
            self.reverse = self.checks.reverse_dns(self.client, self.checks.deadline())
        policy = self.config.ptr_policy
        reply = check_reverse_dns(self.client, self.reverse.status(policy), policy)
        if reply is not None:
            self._log_decision(queue_id, reply.rule, reply, started, [recipient], state, at_rcpt=True)
            if state == STATE_ENFORCE:
                return reply
            self._would_reply(reply)
        self.accepted_recipients.append((recipient, state))
        return None

    def header(self, name: str, value: str) -> None:
        key = name.strip().lower()
        if key in (AUTH_RESULTS, MONITOR_HEADER.lower()):
            # Postfix finds the header to delete by its name in any case: count every spelling together.
            index = self._seen_by_name[key] = self._seen_by_name.get(key, 0) + 1
            if key != AUTH_RESULTS or authres.claims_authserv_id(value, self.config.authserv_id):
                self.removed_headers.append((name, index))
        if not self.verify_dkim or self._too_large:
            return
        self.signed = self.signed or key == DKIM_SIGNATURE
        raw = name.encode("utf-8", "surrogateescape") + b": " + value.encode("utf-8", "surrogateescape")
        self._size += len(raw) + 2
        if len(self.headers) >= self.config.max_headers or self._size > self.config.max_message_bytes:
            self._too_large = True
            self.headers.clear()
            return
        self.headers.append(raw)

    def wants_body(self) -> bool:
        """Only a signed message that is verified here is kept; Postfix may skip the rest of the body."""
        return self.verify_dkim and self.signed and not self._too_large

    def body(self, chunk: bytes) -> None:
        if not self.wants_body():
            return
        self._size += len(chunk)
        if self._size > self.config.max_message_bytes:
            self._too_large = True
            self.body_chunks.clear()
            return
        self.body_chunks.append(chunk)

    def end_of_message(self, queue_id: str | None) -> EndOfMessage:
        """Rule 3, our Authentication-Results, and removal of every header that claims our authserv-id."""
        removals = sorted(self.removed_headers, key=lambda item: (-item[1], item[0]))
        if not self.verify_dkim:
            return EndOfMessage(None, removals)
        started = time.monotonic()
        deadline = self.checks.deadline()
        spf_result = self.checks.spf(self.client, self.sender, self.helo, deadline) if self.gated else None
        signatures = self._verify_signatures(deadline)
        ours = self._our_auth_results(spf_result, signatures)
        if not self.gated:
            return EndOfMessage(None, removals, ours)
        dkim_pass = dkim_verify.any_pass(signatures)
        reply = check_authentication(self.client, spf_result.result == "pass", dkim_pass)
        details = (
            f"iprev={IPREV_RESULT[self.reverse.iprev] if self.reverse else 'none'} "
            f"spf={spf_result.result} dkim={_dkim_summary(signatures, self._too_large)}"
        )
        forged_monitor = sum(1 for removal in removals if removal[0].lower() == MONITOR_HEADER.lower())
        if len(removals) > forged_monitor:
            details += f" removed_auth_results={len(removals) - forged_monitor}"
        if forged_monitor:
            details += f" removed_monitor_headers={forged_monitor}"
        enforced = any(state == STATE_ENFORCE for _recipient, state in self.accepted_recipients)
        mode = MODE_ENFORCE if enforced else MODE_MONITOR
        rule = reply.rule if reply else "accept"
        recipients = [recipient for recipient, _state in self.accepted_recipients]
        self._log_decision(queue_id, rule, reply, started, recipients, mode, extra=details)
        if reply is not None and enforced:
            return EndOfMessage(reply)  # a rejected message is not edited
        if reply is not None:
            self._would_reply(reply)
        return EndOfMessage(None, removals, ours, [self._monitor_value(r) for r in self.would_replies])

    # ---------------------------------------------------------------------------------- helpers

    def _new_transaction(self) -> None:
        self.gated = False
        self.verify_dkim = False
        self.sender = ""
        self.accepted_recipients: list[tuple[str, str]] = []  # (recipient, state of its domain)
        self.would_replies: list[Reply] = []  # what monitor mode kept from the sender
        self.removed_headers: list[tuple[str, int]] = []
        self._seen_by_name: dict[str, int] = {}
        self.headers: list[bytes] = []
        self.body_chunks: list[bytes] = []
        self.signed = False
        self._size = 0
        self._too_large = False

    def _verify_signatures(self, deadline) -> list[dkim_verify.SignatureResult]:
        if self._too_large:
            return [dkim_verify.SignatureResult(dkim_verify.NEUTRAL, reason="message too large to verify")]
        if not self.signed:
            return []
        message = b"\r\n".join(self.headers) + b"\r\n\r\n" + b"".join(self.body_chunks)
        message = message.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")
        return self.checks.dkim(message, deadline)

    def _our_auth_results(self, spf_result, signatures) -> str:
        results = []
        if self.gated and self.reverse is not None:
            comment = self.reverse.confirmed_name or (self.reverse.names[0] if self.reverse.names else "")
            iprev = IPREV_RESULT[self.reverse.iprev]
            results.append(("iprev", iprev, [("policy.iprev", self.client)], comment))
        if spf_result is not None:
            prop = "smtp.mailfrom" if spf_result.identity == "mailfrom" else "smtp.helo"
            properties = [(prop, spf_result.domain)] if spf_result.domain else []
            results.append(("spf", spf_result.result, properties, ""))
        for signature in signatures:
            properties = [("header.d", signature.domain), ("header.s", signature.selector)]
            results.append(("dkim", signature.result, [p for p in properties if p[1]], signature.reason))
        if not signatures:
            results.append(("dkim", "none", [], ""))
        return authres.format_authentication_results(self.config.authserv_id, results)

    def _would_reply(self, reply: Reply) -> None:
        if reply not in self.would_replies:
            self.would_replies.append(reply)

    def _monitor_value(self, reply: Reply) -> str:
        would = quoted(str(reply))
        return f'{self.config.authserv_id}; mode=monitor; rule={reply.rule}; would-reply="{would}"'

    def _log_decision(
        self,
        queue_id,
        rule: str,
        reply: Reply | None,
        started: float,
        recipients: list[str],
        mode: str,
        extra: str = "",
        at_rcpt: bool = False,
    ) -> None:
        """One line per decision; took_ms is the gate's own time for it (DNS included), without transport.

        Under monitor mode a refusal is logged as reply="accept" would_reply="<the refusal>". The decision is
        counted once per distinct recipient domain.
        """
        took_ms = (time.monotonic() - started) * 1000
        domains = list(dict.fromkeys(normalize_domain(recipient_domain(r)) for r in recipients))
        sender_domain = normalize_domain(recipient_domain(self.sender))
        line = format_decision(queue_id or NO_QUEUE_ID, self.client, rule, str(reply) if reply else None,
                               mode, sender_domain, domains, rcpt=recipients[0] if at_rcpt else None,
                               extra=extra, took_ms=took_ms)
        self.log.info("%s", line)
        if self.metrics is not None:
            code = str(reply.code) if reply else "250"
            for domain in domains:
                self.metrics.decision(rule, code, mode, domain)


def _dkim_summary(signatures, too_large: bool) -> str:
    if too_large:
        return "too-large"
    if not signatures:
        return "none"
    if dkim_verify.any_pass(signatures):
        return "pass"
    return signatures[0].result
