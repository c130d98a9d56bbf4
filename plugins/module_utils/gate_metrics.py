# Copyright: v6gate developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Reading the gate's counters (its node_exporter textfile, Prometheus text format), for the rollout's
watch: did errors or temporary DNS failures rise, did the gate restart, is it still writing?"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass

_SAMPLE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})?\s+(\S+)')
_LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"')


def parse_samples(text: str) -> list[tuple[str, dict, float]]:
    """(name, labels, value) of every sample line; comments and malformed lines are skipped."""
    samples = []
    for line in text.splitlines():
        match = _SAMPLE.match(line)
        if not match:
            continue
        try:
            value = float(match.group(3))
        except ValueError:
            continue
        samples.append((match.group(1), dict(_LABEL.findall(match.group(2) or "")), value))
    return samples


@dataclass(frozen=True)
class GateCounters:
    errors: float = 0.0
    dns_temporary: float = 0.0
    decisions: float = 0.0
    started: float = 0.0
    written: float = 0.0
    list_loaded: bool = False

    def as_dict(self) -> dict:
        return asdict(self)


def read_counters(text: str) -> GateCounters:
    """The counters the watch compares, summed over their labels."""
    values = {"errors": 0.0, "dns_temporary": 0.0, "decisions": 0.0, "started": 0.0, "written": 0.0,
              "list_loaded": False}
    seen = set()
    for name, labels, value in parse_samples(text):
        seen.add(name)
        if name == "v6gate_gate_errors_total":
            values["errors"] += value
        elif name == "v6gate_gate_decisions_total":
            values["decisions"] += value
            if labels.get("rule") == "dns-temporary":
                values["dns_temporary"] += value
        elif name == "v6gate_gate_start_time_seconds":
            values["started"] = value
        elif name == "v6gate_gate_metrics_written_seconds":
            values["written"] = value
        elif name == "v6gate_gate_optin_list_loaded":
            values["list_loaded"] = value == 1
    if "v6gate_gate_metrics_written_seconds" not in seen:
        raise ValueError("not the gate's metrics file (no v6gate_gate_metrics_written_seconds)")
    return GateCounters(**values)


def compare(before: GateCounters, after: GateCounters, changed_at: float, max_errors: float,
            max_dns_temporary: float) -> list[str]:
    """Why the change must be rolled back; empty when the gate looks as healthy as before."""
    problems = []
    if after.written <= changed_at:
        problems.append("the gate has not written its counters since the change (is it running?)")
    if after.started != before.started:
        problems.append("the gate restarted during the watch")
    if not after.list_loaded:
        problems.append("the gate has no domains list loaded")
    if after.errors - before.errors > max_errors:
        problems.append(f"gate errors rose by {after.errors - before.errors:g} (allowed {max_errors:g})")
    rise = after.dns_temporary - before.dns_temporary
    if rise > max_dns_temporary:
        problems.append(f"dns-temporary decisions rose by {rise:g} (allowed {max_dns_temporary:g})")
    return problems
