"""gate_report_info through ``ansible localhost -m``: decision lines in log files, the merge of several
hosts' reports, input errors. The journal path runs against a live gate in molecule/ipv6_inbound."""

import pytest
from ansible_collections.v6gate.mx.plugins.module_utils.gate_log import format_decision
from ansible_collections.v6gate.mx.plugins.module_utils.ipv6_rules import disabled_domain_reply
from return_docs import documented, undocumented

R521 = str(disabled_domain_reply("fabrikam.example"))


def write_log(path, *clients):
    lines = ["Dec  2 10:00:00 mx v6gate-gate[812]: INFO exempt client=2001:db8::13 reason=trusted-network"]
    lines += ["Dec  2 10:00:01 mx v6gate-gate[812]: INFO "
              + format_decision("NOQUEUE", client, "opt-in", R521, "enforce", "sender.example",
                                ["fabrikam.example"], rcpt="<u@fabrikam.example>") for client in clients]
    path.write_text("\n".join(lines) + "\n")
    return str(path)


def test_a_syslog_file_is_reported_per_domain(ansible_module, tmp_path):
    log = write_log(tmp_path / "mail.log", "2001:db8:25::10", "2001:db8:25::10", "2001:db8:25::11")
    result = ansible_module("gate_report_info", {"log_files": [log], "top": 1}, check=True)
    assert result["_rc"] == 0 and result["changed"] is False
    fabrikam = result["report"]["domains"]["fabrikam.example"]
    assert fabrikam["refused"] == 3 and fabrikam["top_clients"] == [["2001:db8:25::10", 2]]
    assert "| `fabrikam.example` | 3 | 3 | 0 | 0 | enforced |" in result["markdown"]
    assert undocumented(documented("gate_report_info"), result) == []


def test_reports_of_two_hosts_merge(ansible_module, tmp_path):
    hosts = (("a.log", ["2001:db8:25::10"]), ("b.log", ["2001:db8:25::10", "2001:db8::9"]))
    parts = [ansible_module("gate_report_info", {"log_files": [write_log(tmp_path / name, *clients)]})
             ["report"] for name, clients in hosts]
    merged = ansible_module("gate_report_info", {"merge": parts})
    assert merged["_rc"] == 0 and merged["source"] == "merge of 2 report(s)"
    assert merged["report"]["decision_lines"] == 3
    assert merged["report"]["domains"]["fabrikam.example"]["top_clients"][0] == ["2001:db8:25::10", 2]


def test_input_errors_are_clear(ansible_module, tmp_path):
    missing = ansible_module("gate_report_info", {"log_files": [str(tmp_path / "none.log")]})
    assert missing["_rc"] != 0 and "cannot read" in missing["msg"] and "No such file" in missing["msg"]
    bad = ansible_module("gate_report_info", {"merge": [{"domains": {}}]})
    assert bad["_rc"] != 0 and bad["msg"] == "merge item 1 is not a gate_report_info report (no counts)"
    assert "top must be at least 1" in ansible_module("gate_report_info", {"top": 0})["msg"]


def test_the_window_is_parsed_before_the_journal_is_read():
    import datetime

    from ansible_collections.v6gate.mx.plugins.modules.gate_report_info import parse_time

    now = datetime.datetime(2026, 12, 2, 15, 30, tzinfo=datetime.UTC)
    assert parse_time("7 days ago", now) == now - datetime.timedelta(days=7)
    assert parse_time("90 minutes ago", now) == now - datetime.timedelta(minutes=90)
    assert parse_time("yesterday", now) == datetime.datetime(2026, 12, 1, tzinfo=datetime.UTC)
    assert parse_time("2026-11-01 08:00+00:00", now) == datetime.datetime(2026, 11, 1, 8,
                                                                           tzinfo=datetime.UTC)


def test_a_window_that_is_not_a_time_is_refused(ansible_module):
    result = ansible_module("gate_report_info", {"since": "last tuesday"})
    assert result["_rc"] != 0
    assert result["msg"] == ("'last tuesday' is not a time: use e.g. '7 days ago', 'today' or "
                             "'2026-11-01 08:00'")


def test_without_python3_systemd_the_journal_path_names_the_package(ansible_module):
    try:
        import systemd.journal  # noqa: F401
    except ImportError:
        result = ansible_module("gate_report_info", {"since": "1 hour ago"})
        assert result["_rc"] != 0 and "systemd (Debian: python3-systemd)" in result["msg"]
    else:
        pytest.skip("python3-systemd is installed here")
