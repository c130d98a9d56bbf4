"""Reading the gate's counters and judging a change by them (the rollout's watch), on the text the gate's
own Metrics class renders."""

import pytest
from ansible_collections.v6gate.mx.plugins.module_utils.gate_metrics import (
    GateCounters,
    compare,
    read_counters,
)
from v6gate_gate.metrics import Metrics


def rendered(clock: float, errors: int = 0, temporary: int = 0) -> str:
    metrics = Metrics("/nonexistent/v6gate_gate.prom", clock=lambda: clock)
    metrics.started = 1000.0
    for _ in range(temporary):
        metrics.decision("dns-temporary", "451", "enforce", "contoso.example")
    metrics.decision("accept", "250", "enforce", "contoso.example")
    for _ in range(errors):
        metrics.error()
    return metrics.render()


def test_the_counters_of_the_gates_own_file():
    counters = read_counters(rendered(2000.0, errors=2, temporary=3))
    assert (counters.errors, counters.dns_temporary, counters.decisions) == (2, 3, 4)
    assert counters.started == 1000.0 and counters.written == 2000.0


def test_another_file_is_refused():
    with pytest.raises(ValueError, match="not the gate's metrics file"):
        read_counters("node_load1 0.5\n")


def healthy(**changes) -> GateCounters:
    values = {"errors": 1, "dns_temporary": 1, "decisions": 10, "started": 1000.0, "written": 2000.0,
              "list_loaded": True}
    return GateCounters(**{**values, **changes})


@pytest.mark.parametrize("after, problem", [
    (healthy(written=2500.0), None),
    (healthy(written=2500.0, errors=2), "gate errors rose by 1 (allowed 0)"),
    (healthy(written=2500.0, dns_temporary=3), "dns-temporary decisions rose by 2 (allowed 0)"),
    (healthy(written=2050.0), "the gate has not written its counters since the change (is it running?)"),
    (healthy(written=2500.0, started=2400.0), "the gate restarted during the watch"),
    (healthy(written=2500.0, list_loaded=False), "the gate has no domains list loaded"),
])
def test_a_change_is_judged_by_what_rose_after_it(after, problem):
    problems = compare(healthy(), after, changed_at=2100.0, max_errors=0, max_dns_temporary=0)
    assert problems == ([problem] if problem else [])


def test_allowances_let_unrelated_noise_pass():
    after = healthy(written=2500.0, errors=3, dns_temporary=5)
    assert compare(healthy(), after, 2100.0, max_errors=2, max_dns_temporary=4) == []
