"""pymilter glue: connect SMTP events to GateSession, and never let an error become an accept.

Kept thin on purpose: every decision is made in ``session`` (tested without pymilter); this file only
translates callbacks, macros and header edits, and turns any exception into a temporary failure.
"""

from __future__ import annotations

import functools
import logging

import Milter
from ansible_collections.v6gate.mx.plugins.module_utils.ipv6_rules import OptInList, gate_error_reply

from . import __version__
from .config import GateConfig
from .metrics import Metrics, MetricsWriter
from .session import MONITOR_HEADER, Checks, GateSession

log = logging.getLogger("v6gate-gate")


def _answer_tempfail(milter) -> int:
    if milter.metrics is not None:
        milter.metrics.error()
    try:
        milter.setreply(*gate_error_reply().milter_reply())
    except Exception:  # the tempfail below stands anyway
        log.exception("could not set the temporary reply text")
    return Milter.TEMPFAIL


def _fail_closed(callback):
    """Any exception inside a callback, or in an earlier one that could not answer, answers 451 4.3.0."""

    @functools.wraps(callback)
    def guarded(self, *args):
        if self.failed_in is not None:
            log.error(
                "earlier error in %s for client=%s; answering tempfail",
                self.failed_in,
                getattr(self.session, "client_text", "?"),
            )
            return _answer_tempfail(self)
        try:
            return callback(self, *args)
        except Exception:
            log.exception(
                "internal error in %s for client=%s; answering tempfail",
                callback.__name__,
                getattr(self.session, "client_text", "?"),
            )
            return _answer_tempfail(self)

    return guarded


def _no_reply(callback):
    """For callbacks Postfix need not wait for (HELO, each header): an exception is remembered and the
    next callback that answers (MAIL, RCPT or end of message) answers 451 4.3.0 instead."""

    @Milter.noreply
    @functools.wraps(callback)
    def guarded(self, *args):
        if self.failed_in is None:
            try:
                callback(self, *args)
            except Exception:
                log.exception(
                    "internal error in %s for client=%s; the next reply is tempfail",
                    callback.__name__,
                    getattr(self.session, "client_text", "?"),
                )
                self.failed_in = callback.__name__
        return Milter.CONTINUE

    return guarded


class GateMilter(Milter.Base):
    """One instance per SMTP connection (pymilter's factory)."""

    config = None
    optin = None
    checks = None
    metrics = None

    def __init__(self) -> None:
        self.session = GateSession(self.config, self.optin, self.checks, log, self.metrics)
        self.failed_in: str | None = None  # a callback without a reply that raised

    def _reply(self, reply):
        if reply is None:
            return Milter.CONTINUE
        self.setreply(*reply.milter_reply())
        return Milter.REJECT if reply.is_permanent else Milter.TEMPFAIL

    @_fail_closed
    def connect(self, hostname, family, hostaddr):
        address = hostaddr[0] if isinstance(hostaddr, tuple) and hostaddr else str(hostaddr)
        self.session.connect(address)  # exempt clients stay attached: their headers are cleaned too
        return Milter.CONTINUE

    @_no_reply
    def hello(self, name):
        self.session.hello(name)

    @_fail_closed
    def envfrom(self, sender, *esmtp_params):
        self.session.mail_from(sender, self.getsymval("{auth_authen}"))
        return Milter.CONTINUE

    @_fail_closed
    def envrcpt(self, recipient, *esmtp_params):
        return self._reply(self.session.recipient(recipient, self.getsymval("i")))

    @_no_reply
    def header(self, name, value):
        self.session.header(name, value)

    @_fail_closed
    def body(self, chunk):
        self.session.body(chunk)  # kept only while a signature is to be verified, up to max_message_bytes
        return Milter.CONTINUE

    @_fail_closed
    def eom(self):
        outcome = self.session.end_of_message(self.getsymval("i"))
        if outcome.reply is not None:
            return self._reply(outcome.reply)
        for name, index in outcome.delete_headers:  # highest index first, so the others do not shift
            self.chgheader(name, index, "")
        if outcome.add_auth_results:
            self.addheader("Authentication-Results", outcome.add_auth_results, 0)
        for value in outcome.add_monitor:
            self.addheader(MONITOR_HEADER, value, 0)
        return Milter.ACCEPT

    def abort(self):
        return Milter.CONTINUE

    def close(self):
        return Milter.CONTINUE


def run(config: GateConfig) -> None:
    """Serve milter connections until stopped."""
    checks = Checks(config)
    GateMilter.config = config
    GateMilter.optin = OptInList(config.optin_file, log)  # a missing list makes RCPT tempfail, not 5xx
    GateMilter.checks = checks
    writer = None
    if config.metrics_file:
        GateMilter.metrics = Metrics(config.metrics_file, config.metrics_max_domains, GateMilter.optin)
        writer = MetricsWriter(GateMilter.metrics, config.metrics_interval, log)
        writer.start()
    Milter.factory = GateMilter
    Milter.set_flags(Milter.ADDHDRS | Milter.CHGHDRS)
    trusted = ",".join(str(n) for n in config.trusted_networks) or "-"
    log.info(
        "starting v6gate-gate %s on %s (authserv_id=%s ptr_policy=%s trusted=%s)",
        __version__,
        config.socket,
        config.authserv_id,
        config.ptr_policy,
        trusted,
    )
    try:
        Milter.runmilter("v6gate-gate", config.socket, config.milter_timeout)
    finally:
        if writer is not None:
            writer.stop()
    log.info("stopped")
