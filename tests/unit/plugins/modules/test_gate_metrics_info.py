"""gate_metrics_info through ``ansible localhost -m``: counters, a judged change, clear errors."""

import os
import time

from return_docs import documented, undocumented

FILE = ("# HELP v6gate_gate_errors_total x\nv6gate_gate_errors_total {errors}\n"
        'v6gate_gate_decisions_total{{rule="dns-temporary",code="451",mode="enforce",domain="a.example"}} 2\n'
        "v6gate_gate_optin_list_loaded 1\nv6gate_gate_start_time_seconds 1000.000\n"
        "v6gate_gate_metrics_written_seconds {written:.3f}\n")


def test_a_change_followed_by_errors_is_unhealthy(ansible_module, tmp_path):
    metrics, domains = tmp_path / "v6gate_gate.prom", tmp_path / "ipv6-optin-domains"
    metrics.write_text(FILE.format(errors=0, written=time.time()))
    before = ansible_module("gate_metrics_info", {"path": str(metrics)})
    assert before["_rc"] == 0 and before["healthy"] is True and before["counters"]["dns_temporary"] == 2
    assert undocumented(documented("gate_metrics_info"), before) == []
    domains.write_text("model opt-in\n")
    os.utime(domains, (time.time() - 5, time.time() - 5))
    metrics.write_text(FILE.format(errors=3, written=time.time()))
    after = ansible_module("gate_metrics_info", {"path": str(metrics), "baseline": before["counters"],
                                                 "changed_file": str(domains)})
    assert after["_rc"] == 0 and after["healthy"] is False
    assert after["problems"] == ["gate errors rose by 3 (allowed 0)"]


def test_errors_are_clear(ansible_module, tmp_path):
    missing = ansible_module("gate_metrics_info", {"path": str(tmp_path / "none.prom")})
    assert missing["_rc"] != 0 and "cannot read the gate's metrics file" in missing["msg"]
    other = tmp_path / "node.prom"
    other.write_text("node_load1 0.5\n")
    assert "not the gate's metrics file" in ansible_module("gate_metrics_info", {"path": str(other)})["msg"]
    needs = ansible_module("gate_metrics_info", {"path": str(other), "baseline": {}})
    assert needs["_rc"] != 0 and "changed_file" in needs["msg"]
