"""The gate's counters in Prometheus text format, written for node_exporter's textfile collector.

node_exporter reads every ``*.prom`` file of its textfile directory on each scrape; the file is replaced
by rename from a temporary name without ``.prom``, so a scrape never sees half of it. Counters live in
memory and start at 0 when the gate starts (``v6gate_gate_start_time_seconds`` says when): Prometheus'
``rate()`` and ``increase()`` handle the reset.

The recipient domain is a label, and a sender chooses recipients: past ``max_domains`` distinct domains
every new one is counted as ``other``, so no sender can grow the file (or a Prometheus series count)
without bound. Postfix refuses recipients of domains it does not accept before the gate sees them, so in
practice the label set is the MX's own domains.
"""

from __future__ import annotations

import contextlib
import logging
import os
import tempfile
import threading
import time
from collections import Counter

from ansible_collections.v6gate.mx.plugins.module_utils.addresses import is_dns_name
from ansible_collections.v6gate.mx.plugins.module_utils.ipv6_rules import DOMAIN_STATES

OTHER_DOMAIN = "other"
NO_DOMAIN = "none"

_HELP = {
    "v6gate_gate_decisions_total": (
        "counter",
        "Decisions of the IPv6 gate by rule, reply code (the would-be reply in monitor mode), mode and "
        "recipient domain.",
    ),
    "v6gate_gate_errors_total": ("counter", "Transactions the gate answered 451 4.3.0 because it failed."),
    "v6gate_gate_optin_list_loaded": ("gauge", "1 while a valid opt-in list is in force, else 0."),
    "v6gate_gate_domains": ("gauge", "Domains listed in the opt-in list, by state."),
    "v6gate_gate_start_time_seconds": ("gauge", "When this gate process started (Unix time)."),
    "v6gate_gate_metrics_written_seconds": ("gauge", "When this file was written (Unix time)."),
}


def _label(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


class Metrics:
    """Thread-safe counters; ``render()`` gives the exposition text, ``write()`` replaces the file."""

    def __init__(self, path: str, max_domains: int = 1000, optin=None, clock=time.time) -> None:
        self.path = path
        self.max_domains = max_domains
        self.optin = optin  # the OptInList, for the gauges
        self._clock = clock
        self._lock = threading.Lock()
        self._decisions: Counter = Counter()
        self._domains: set[str] = set()
        self._errors = 0
        self.started = clock()

    def decision(self, rule: str, code: str, mode: str, domain: str) -> None:
        if not domain:
            label = NO_DOMAIN
        elif not is_dns_name(domain, fqdn=True):
            label = OTHER_DOMAIN
        else:
            label = domain
        with self._lock:
            if label not in self._domains and label not in (NO_DOMAIN, OTHER_DOMAIN):
                if len(self._domains) >= self.max_domains:
                    label = OTHER_DOMAIN
                else:
                    self._domains.add(label)
            self._decisions[(rule, code, mode, label)] += 1

    def error(self) -> None:
        with self._lock:
            self._errors += 1

    def render(self) -> str:
        with self._lock:
            decisions = sorted(self._decisions.items())
            errors = self._errors
        samples: dict[str, list[str]] = {name: [] for name in _HELP}
        for (rule, code, mode, domain), count in decisions:
            labels = f'rule="{_label(rule)}",code="{code}",mode="{mode}",domain="{_label(domain)}"'
            samples["v6gate_gate_decisions_total"].append(f"{{{labels}}} {count}")
        samples["v6gate_gate_errors_total"].append(f" {errors}")
        loaded = 0
        states = dict.fromkeys(DOMAIN_STATES, 0)
        if self.optin is not None and self.optin.loaded:
            with contextlib.suppress(Exception):  # the gauges must never stop the counters being written
                listed = self.optin.current()
                loaded = 1
                for state in listed.states.values():
                    states[state] += 1
        samples["v6gate_gate_optin_list_loaded"].append(f" {loaded}")
        for state, count in states.items():
            samples["v6gate_gate_domains"].append(f'{{state="{state}"}} {count}')
        samples["v6gate_gate_start_time_seconds"].append(f" {self.started:.3f}")
        samples["v6gate_gate_metrics_written_seconds"].append(f" {self._clock():.3f}")
        lines = []
        for name, (kind, text) in _HELP.items():
            lines += [f"# HELP {name} {text}", f"# TYPE {name} {kind}"]
            lines += [f"{name}{sample}" for sample in samples[name]]
        return "\n".join(lines) + "\n"

    def write(self) -> None:
        """Replace the file by rename; readable by node_exporter (0644)."""
        directory = os.path.dirname(os.path.abspath(self.path))
        fd, temp_path = tempfile.mkstemp(dir=directory, prefix=".v6gate-gate.", suffix=".tmp")
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                handle.write(self.render())
                os.fchmod(handle.fileno(), 0o644)
            os.replace(temp_path, self.path)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(temp_path)
            raise


class MetricsWriter(threading.Thread):
    """Writes the file every ``interval`` seconds, and once more when stopped."""

    def __init__(self, metrics: Metrics, interval: float, log: logging.Logger) -> None:
        super().__init__(name="v6gate-metrics", daemon=True)
        self.metrics = metrics
        self.interval = interval
        self.log = log
        self._stop_event = threading.Event()
        self._failing = False

    def _write(self) -> None:
        try:
            self.metrics.write()
        except OSError as exc:
            if not self._failing:  # logged once per outage, not every interval
                self.log.error("cannot write metrics to %s: %s", self.metrics.path, exc)
            self._failing = True
        else:
            if self._failing:
                self.log.info("metrics written to %s again", self.metrics.path)
            self._failing = False

    def run(self) -> None:
        self._write()
        while not self._stop_event.wait(self.interval):
            self._write()
        self._write()

    def stop(self) -> None:
        self._stop_event.set()
        self.join(timeout=5)
