"""The gate's Prometheus counters: the format node_exporter reads, bounded labels, atomic writes."""

import logging
import re

import pytest
from ansible_collections.v6gate.mx.plugins.module_utils.ipv6_rules import OptInList
from v6gate_gate.config import ConfigError, parse_config
from v6gate_gate.metrics import Metrics, MetricsWriter

# One sample line of the text exposition format: name{labels} value
NAME = r"[a-z_][a-z0-9_]*"
SAMPLE = re.compile(
    rf'^(?P<name>{NAME})(\{{(?P<labels>(?:{NAME}="(?:[^"\\]|\\.)*",?)*)\}})? (?P<value>[0-9.e+-]+)$'
)


def samples(text):
    found = {}
    for line in text.splitlines():
        if line.startswith("#"):
            assert re.match(r"^# (HELP|TYPE) [a-z_][a-z0-9_]* .+$", line), line
            continue
        match = SAMPLE.match(line)
        assert match, f"not a valid sample line: {line!r}"
        found[(match["name"], match["labels"] or "")] = float(match["value"])
    return found


def test_decisions_are_counted_by_rule_code_mode_and_domain(tmp_path):
    metrics = Metrics(str(tmp_path / "gate.prom"), clock=lambda: 1000.0)
    for _ in range(3):
        metrics.decision("spf-dkim", "450", "monitor", "contoso.example")
    metrics.decision("accept", "250", "enforce", "contoso.example")
    metrics.error()
    found = samples(metrics.render())
    assert (
        found[
            (
                "v6gate_gate_decisions_total",
                'rule="spf-dkim",code="450",mode="monitor",domain="contoso.example"',
            )
        ]
        == 3
    )
    assert (
        found[
            (
                "v6gate_gate_decisions_total",
                'rule="accept",code="250",mode="enforce",domain="contoso.example"',
            )
        ]
        == 1
    )
    assert found[("v6gate_gate_errors_total", "")] == 1
    assert found[("v6gate_gate_optin_list_loaded", "")] == 0  # no list given


def test_a_sender_cannot_grow_the_label_set(tmp_path):
    """Recipient domains are the sender's choice: past the cap, and for names that are no DNS name, the
    label is "other"; the quote and the line break of a hostile name never reach the file."""
    metrics = Metrics(str(tmp_path / "gate.prom"), max_domains=3)
    for n in range(50):
        metrics.decision("opt-in", "550", "enforce", f"d{n}.example")
    metrics.decision("opt-in", "550", "enforce", 'evil"}\nv6gate_gate_errors_total 0\n.example')
    metrics.decision("opt-in", "550", "enforce", "d1.example")  # already counted: keeps its label
    found = samples(metrics.render())
    domains = [labels for name, labels in found if name == "v6gate_gate_decisions_total"]
    assert len(domains) == 4
    assert (
        found[("v6gate_gate_decisions_total", 'rule="opt-in",code="550",mode="enforce",domain="other"')] == 48
    )
    assert (
        found[("v6gate_gate_decisions_total", 'rule="opt-in",code="550",mode="enforce",domain="d1.example"')]
        == 2
    )
    assert found[("v6gate_gate_errors_total", "")] == 0


def test_the_gauges_follow_the_opt_in_list(tmp_path):
    path = tmp_path / "domains"
    path.write_text("model opt-out\na.example off\nb.example monitor\n# v6gate-optin end: 2 domain(s)\n")
    metrics = Metrics(str(tmp_path / "gate.prom"), optin=OptInList(str(path)))
    found = samples(metrics.render())
    assert found[("v6gate_gate_optin_list_loaded", "")] == 1
    assert found[("v6gate_gate_domains", 'state="off"')] == 1
    assert found[("v6gate_gate_domains", 'state="monitor"')] == 1
    assert found[("v6gate_gate_domains", 'state="enforce"')] == 0


def test_the_file_is_replaced_whole_and_no_temporary_file_stays(tmp_path):
    target = tmp_path / "gate.prom"
    metrics = Metrics(str(target))
    metrics.decision("accept", "250", "enforce", "contoso.example")
    metrics.write()
    first_inode = target.stat().st_ino
    metrics.write()
    assert target.stat().st_ino != first_inode  # a new file by rename, never rewritten in place
    assert target.stat().st_mode & 0o777 == 0o644
    assert sorted(p.name for p in tmp_path.iterdir()) == ["gate.prom"]


def test_the_writer_logs_a_failing_directory_once_and_keeps_going(tmp_path, caplog):
    metrics = Metrics(str(tmp_path / "missing" / "gate.prom"))
    writer = MetricsWriter(metrics, 0.01, logging.getLogger("metrics-test"))
    writer.start()
    writer._stop_event.wait(0.1)
    (tmp_path / "missing").mkdir()
    writer._stop_event.wait(0.1)
    writer.stop()
    errors = [r for r in caplog.records if "cannot write metrics" in r.getMessage()]
    assert len(errors) == 1
    assert (tmp_path / "missing" / "gate.prom").exists()
    assert not writer.is_alive()


@pytest.mark.parametrize("value", ["relative/gate.prom", "/var/lib/x/gate.txt"])
def test_metrics_file_must_be_an_absolute_prom_path(value):
    with pytest.raises(ConfigError, match=r"metrics_file must be an absolute path ending in \.prom"):
        parse_config(f"[gate]\nauthserv_id = mx.example\noptin_file = /x\nmetrics_file = {value}\n")


def test_metrics_settings_are_read():
    config = parse_config(
        "[gate]\nauthserv_id = mx.example\noptin_file = /x\n"
        "metrics_file = /var/lib/v/gate.prom\nmetrics_interval = 5\nmetrics_max_domains = 20\n"
    )
    assert (config.metrics_file, config.metrics_interval, config.metrics_max_domains) == (
        "/var/lib/v/gate.prom",
        5,
        20,
    )
