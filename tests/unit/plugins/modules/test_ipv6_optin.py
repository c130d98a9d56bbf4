"""The ipv6_optin module end to end: readiness refusal, force, idempotence, check and diff mode, the change
log, input errors; in process (fast) and through ``ansible localhost -m`` (the real plumbing)."""

import json

import pytest
from ansible_collections.v6gate.mx.plugins.module_utils.ipv6_rules import render_optin_trailer
from return_docs import documented, undocumented

pytestmark = pytest.mark.dns

BODY = "# managed by v6gate\n\nexample.com  # first customer\n# example.net is waiting\nexample.org\n"


def end(count: int) -> str:
    return render_optin_trailer(count) + "\n"


FILE = BODY + end(2)  # the optin_file fixture


def with_added(*domains: str) -> str:
    """FILE after appending ``domains``: before the trailer, which counts them too."""
    return BODY + "".join(f"{domain}\n" for domain in domains) + end(2 + len(domains))
ACCEPTED = [
    "example.com",
    "example.org",
    "ready.optin.example",
    "loop.optin.example",
    "noptr.optin.example",
    "v4only.optin.example",
]


@pytest.fixture
def base(dns_server, optin_file, tmp_path):
    """Module arguments shared by the tests: the fixture DNS, the test file, a change log in tmp."""
    return {
        "path": str(optin_file),
        "change_log": str(tmp_path / "state" / "optin-changes.jsonl"),
        "nameservers": [dns_server.nameserver_specs[0]],
        "timeout": 2,
        "retries": 0,
        "accepted_domains": ACCEPTED,
        "reason": "CHG-1 test",
        "changed_by": "alice",
    }


def log_lines(args):
    with open(args["change_log"]) as handle:
        return [json.loads(line) for line in handle]


def test_enable_ready_domain_with_all_checks(optin_module, base, optin_file, smtp_listener):
    result = optin_module(
        dict(base, domain="loop.optin.example", smtp_port=smtp_listener.port, smtp_timeout=2)
    )
    assert result["changed"] is True and result["ready"] is True
    assert result["added"] == ["loop.optin.example"] and result["removed"] == []
    assert [c["status"] for c in result["checks"]] == ["pass"] * 5
    assert optin_file.read_text() == with_added("loop.optin.example")
    assert optin_file.stat().st_mode & 0o777 == 0o640
    assert result["domains"] == ["example.com", "example.org", "loop.optin.example"]
    [entry] = log_lines(base)
    assert entry["domain"] == "loop.optin.example" and entry["state"] == "present"
    assert (entry["changed_by"], entry["reason"], entry["forced"]) == ("alice", "CHG-1 test", False)
    assert entry["checks"] == {
        "accepted_domain": "pass",
        "mx": "pass",
        "mx_aaaa": "pass",
        "mx_ptr": "pass",
        "smtp_ipv6": "pass",
    }
    assert entry["file"] == str(optin_file) and entry["time"].endswith("Z")
    assert result["change_log_entries"] == [entry]


def test_second_run_is_idempotent(optin_module, base, optin_file, smtp_listener):
    args = dict(base, domain="ready.optin.example", smtp_addresses=["::1"], smtp_port=smtp_listener.port)
    assert optin_module(args)["changed"] is True
    inode = optin_file.stat().st_ino
    again = optin_module(args)
    assert again["changed"] is False and again["added"] == [] and again["checks"] == []
    assert optin_file.stat().st_ino == inode  # not rewritten
    assert len(log_lines(base)) == 1
    assert smtp_listener.sessions == 1  # no checks for a domain already enabled


@pytest.mark.parametrize(
    ("domain", "reason"),
    [
        ("noptr.optin.example", "mx_ptr: 2001:db8:6::26 no PTR (nxdomain)"),
        ("v4only.optin.example", "mx_aaaa: no MX host has an AAAA record"),
        ("nomx.optin.example", "accepted_domain: nomx.optin.example is not one of the domains"),
    ],
)
def test_unready_domain_is_refused_and_nothing_changes(optin_module, base, optin_file, domain, reason):
    before = optin_file.stat()
    result = optin_module(dict(base, domain=domain, skip_checks=["smtp_ipv6"]))
    assert result["failed"] is True and result["changed"] is False and result["ready"] is False
    assert result["msg"].startswith(f"refusing to enable {domain} for IPv6, not ready: ")
    assert reason in result["msg"] and "(force=true overrides)" in result["msg"]
    assert any(r.startswith(reason) for r in result["reasons"])
    after = optin_file.stat()
    assert optin_file.read_text() == FILE and after.st_ino == before.st_ino
    assert log_lines(base) == []


def test_smtp_not_answering_is_refused(optin_module, base, optin_file, closed_port):
    result = optin_module(
        dict(
            base, domain="ready.optin.example", smtp_addresses=["::1"], smtp_port=closed_port, smtp_timeout=2
        )
    )
    assert result["failed"] is True
    assert result["reasons"] == [f"smtp_ipv6: [::1]:{closed_port} not reachable: Connection refused"]
    assert optin_file.read_text() == FILE


def test_force_enables_and_records_it(optin_module, base, optin_file):
    result = optin_module(dict(base, domain="noptr.optin.example", skip_checks=["smtp_ipv6"], force=True))
    assert result["changed"] is True and result["ready"] is False
    assert "enabling despite failed readiness checks" in json.dumps(result["warnings"])
    assert optin_file.read_text().endswith("\nnoptr.optin.example\n" + end(3))
    [entry] = log_lines(base)
    assert entry["forced"] is True and entry["checks"]["mx_ptr"] == "fail"


def test_several_domains_all_or_nothing(optin_module, base, optin_file):
    result = optin_module(
        dict(base, domains=["ready.optin.example", "noptr.optin.example"], skip_checks=["smtp_ipv6"])
    )
    assert result["failed"] is True
    assert result["reasons"] == ["noptr.optin.example: mx_ptr: 2001:db8:6::26 no PTR (nxdomain)"]
    assert result["readiness"]["ready.optin.example"]["ready"] is True
    assert optin_file.read_text() == FILE


def test_check_mode_reports_change_and_diff_writes_nothing(optin_module, base, optin_file):
    result = optin_module(
        dict(base, domain="ready.optin.example", skip_checks=["smtp_ipv6"]), check=True, diff=True
    )
    assert result["changed"] is True and result["added"] == ["ready.optin.example"]
    assert result["diff"] == {
        "before": FILE,
        "after": with_added("ready.optin.example"),
        "before_header": str(optin_file),
        "after_header": str(optin_file),
    }
    assert optin_file.read_text() == FILE
    assert result["change_log_entries"] == []
    assert not (optin_file.parent / "state").exists()  # check mode does not even create the log


def test_check_mode_still_refuses_an_unready_domain(optin_module, base, optin_file):
    result = optin_module(dict(base, domain="noptr.optin.example", skip_checks=["smtp_ipv6"]), check=True)
    assert result["failed"] is True and "mx_ptr" in result["msg"]


def test_disable_needs_no_checks_and_keeps_comments(optin_module, base, optin_file):
    result = optin_module(
        dict(base, domain="example.com", state="absent", nameservers=["192.0.2.1"]), diff=True
    )
    assert result["changed"] is True and result["removed"] == ["example.com"] and result["checks"] == []
    assert result["dns"] == {}  # no DNS query at all (192.0.2.1 would not answer)
    assert optin_file.read_text() == "# managed by v6gate\n\n# example.net is waiting\nexample.org\n" + end(1)
    [entry] = log_lines(base)
    assert (entry["domain"], entry["state"], entry["checks"]) == ("example.com", "absent", {})
    assert optin_module(dict(base, domain="example.com", state="absent"))["changed"] is False


def test_exclusive_converges_to_the_inventory(optin_module, base, optin_file):
    args = dict(
        base, domains=["example.org", "ready.optin.example"], exclusive=True, skip_checks=["smtp_ipv6"]
    )
    drift = optin_module(args, check=True)
    assert drift["changed"] is True
    assert (drift["added"], drift["removed"]) == (["ready.optin.example"], ["example.com"])
    result = optin_module(args)
    assert result["domains"] == ["example.org", "ready.optin.example"]
    assert [(e["domain"], e["state"]) for e in log_lines(base)] == [
        ("ready.optin.example", "present"),
        ("example.com", "absent"),
    ]
    assert optin_module(args, check=True)["changed"] is False


def test_reason_is_required_for_a_change(optin_module, base, optin_file):
    result = optin_module(dict(base, domain="example.com", state="absent", reason=""))
    assert result["failed"] is True
    assert result["msg"] == "reason is required when the opt-in file changes (for the change log)"
    assert optin_file.read_text() == FILE
    # a run that changes nothing needs no reason
    assert optin_module(dict(base, domain="example.net", state="absent", reason=None))["changed"] is False


def test_invalid_domain_input(optin_module, base, optin_file):
    result = optin_module(dict(base, domains=["ok.example", "bad$.example", "x@example.com"]))
    assert result["failed"] is True
    assert "'bad$.example'" in result["msg"] and "'x@example.com'" in result["msg"]
    assert optin_file.read_text() == FILE


def test_invalid_existing_file_is_not_touched(optin_module, base, optin_file):
    optin_file.write_text("example.com\nnot a domain\n")
    result = optin_module(dict(base, domain="example.com", state="absent"))
    assert result["failed"] is True
    assert "is not valid, fix it by hand first" in result["msg"] and "line 2" in result["msg"]
    assert optin_file.read_text() == "example.com\nnot a domain\n"


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        (BODY, "no trailer"),  # a file from a release before the trailer, or written by hand
        (BODY.replace("example.org\n", "") + end(2), "says 2 domain(s) but the file has 1"),  # cut short
        (FILE + "example.net\n", "text after the trailer"),  # echo example.net >> file
    ],
)
def test_file_without_valid_trailer_is_refused_with_the_fix(optin_module, base, optin_file, text, problem):
    optin_file.write_text(text)
    for args in (dict(base, domain="example.com", state="absent"),
                 dict(base, domain="ready.optin.example", nameservers=["192.0.2.1"])):
        result = optin_module(args)
        assert result["failed"] is True and result["changed"] is False
        assert result["msg"].startswith(f"opt-in file {optin_file} has no valid trailer (")
        assert problem in result["msg"]
        assert "run the ipv6_gate role" in result["msg"] and "repair_trailer=true" in result["msg"]
        assert result["dns"] == {}  # refused before any readiness check
    assert optin_file.read_text() == text
    assert log_lines(base) == []


def test_repair_trailer_in_check_mode_shows_the_repair(optin_module, base, optin_file):
    optin_file.write_text(BODY)
    result = optin_module(dict(base, domain="example.com", repair_trailer=True), check=True, diff=True)
    assert result["changed"] is True and result["repaired_trailer"] is True
    assert (result["added"], result["removed"]) == ([], [])
    assert result["diff"]["before"] == BODY and result["diff"]["after"] == FILE
    assert f"opt-in file {optin_file} had no valid trailer" in json.dumps(result["warnings"])
    assert optin_file.read_text() == BODY


def test_repair_trailer_keeps_the_domains_and_records_nothing_per_domain(optin_module, base, optin_file):
    optin_file.write_text(BODY)
    inode = optin_file.stat().st_ino
    assert "reason is required" in optin_module(dict(base, domain="example.com", repair_trailer=True,
                                                     reason=""))["msg"]
    result = optin_module(dict(base, domain="example.com", repair_trailer=True))
    assert result["changed"] is True and result["repaired_trailer"] is True
    assert result["domains"] == ["example.com", "example.org"]
    assert optin_file.read_text() == FILE
    assert optin_file.stat().st_ino != inode and optin_file.stat().st_mode & 0o777 == 0o640
    assert result["change_log_entries"] == [] and log_lines(base) == []  # no domain changed
    again = optin_module(dict(base, domain="example.com"))  # a valid file now: no option needed
    assert again["changed"] is False and again["repaired_trailer"] is False


def test_repair_only_run_with_no_domains(optin_module, base, optin_file):
    optin_file.write_text(BODY)
    assert "domains is empty" in optin_module(dict(base, domains=[]))["msg"]
    result = optin_module(dict(base, domains=[], repair_trailer=True, nameservers=["192.0.2.1"]))
    assert result["changed"] is True and result["repaired_trailer"] is True and result["dns"] == {}
    assert optin_file.read_text() == FILE
    assert optin_module(dict(base, domains=[], repair_trailer=True))["changed"] is False


def test_repair_trailer_together_with_a_change(optin_module, base, optin_file):
    optin_file.write_text(FILE + "example.net\n")  # appended by hand after the trailer
    result = optin_module(dict(base, domain="example.org", state="absent", repair_trailer=True))
    assert result["changed"] is True and result["removed"] == ["example.org"]
    assert optin_file.read_text() == (
        "# managed by v6gate\n\nexample.com  # first customer\n# example.net is waiting\nexample.net\n"
        + end(2)
    )
    assert [(e["domain"], e["state"]) for e in log_lines(base)] == [("example.org", "absent")]


def test_repair_trailer_does_not_bless_a_bad_line(optin_module, base, optin_file):
    optin_file.write_text("example.com\nnot a domain\n")
    result = optin_module(dict(base, domain="example.com", state="absent", repair_trailer=True))
    assert result["failed"] is True and "is not valid, fix it by hand first" in result["msg"]
    assert optin_file.read_text() == "example.com\nnot a domain\n"


def test_missing_file_is_an_error_unless_create(optin_module, base, optin_file):
    optin_file.unlink()
    result = optin_module(dict(base, domain="ready.optin.example", skip_checks=["smtp_ipv6"]))
    assert result["failed"] is True and "does not exist; deploy the ipv6_gate role first" in result["msg"]
    assert not optin_file.exists()
    created = optin_module(dict(base, domain="ready.optin.example", skip_checks=["smtp_ipv6"], create=True))
    assert created["changed"] is True
    text = optin_file.read_text()
    assert text.startswith("# Domains that accept anonymous mail over IPv6") and text.endswith(
        "\nready.optin.example\n" + end(1)
    )
    assert optin_file.stat().st_mode & 0o777 == 0o644


def test_readiness_only_never_touches_the_file(optin_module, base, optin_file):
    optin_file.unlink()  # not even read
    result = optin_module(
        dict(
            base,
            domains=["ready.optin.example", "noptr.optin.example"],
            readiness_only=True,
            skip_checks=["smtp_ipv6"],
        )
    )
    assert result["changed"] is False and "failed" not in result
    assert result["ready"] is False
    assert result["reasons"] == ["noptr.optin.example: mx_ptr: 2001:db8:6::26 no PTR (nxdomain)"]
    assert set(result["readiness"]) == {"ready.optin.example", "noptr.optin.example"}


def test_bad_options(optin_module, base):
    assert (
        "exclusive=true needs state=present"
        in optin_module(dict(base, domains=["example.com"], exclusive=True, state="absent"))["msg"]
    )
    assert (
        "smtp_addresses must be IPv6"
        in optin_module(dict(base, domain="example.com", smtp_addresses=["198.51.100.10"]))["msg"]
    )
    assert (
        "smtp_port must be between 1 and 65535"
        in optin_module(dict(base, domain="example.com", smtp_port=0))["msg"]
    )
    assert "mutually exclusive" in optin_module(dict(base, domain="a.example", domains=["b.example"]))["msg"]


def test_unwritable_change_log_fails_before_changing(optin_module, base, optin_file, tmp_path):
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("")
    result = optin_module(
        dict(base, domain="example.com", state="absent", change_log=str(blocker / "changes.jsonl"))
    )
    assert result["failed"] is True and "not-a-dir" in result["msg"]
    assert optin_file.read_text() == FILE


# ------------------------------------------------------------------------------------- through Ansible


def test_through_ansible_enable_check_diff_and_refusal(ansible_optin, base, optin_file, smtp_listener):
    args = dict(base, domain="ready.optin.example", smtp_addresses=["::1"], smtp_port=smtp_listener.port)
    drift = ansible_optin(args, check=True, diff=True)
    assert drift["_rc"] == 0 and drift["changed"] is True
    assert drift["diff"]["after"] == with_added("ready.optin.example")
    assert optin_file.read_text() == FILE

    done = ansible_optin(args)
    assert done["_rc"] == 0 and done["changed"] is True
    assert [c["status"] for c in done["checks"]] == ["pass"] * 5
    assert optin_file.read_text() == with_added("ready.optin.example")
    assert ansible_optin(args)["changed"] is False

    refused = ansible_optin(dict(base, domain="noptr.optin.example", skip_checks=["smtp_ipv6"]))
    assert refused["_rc"] != 0 and refused["failed"] is True
    assert refused["reasons"] == ["mx_ptr: 2001:db8:6::26 no PTR (nxdomain)"]
    assert optin_file.read_text() == with_added("ready.optin.example")
    assert [e["domain"] for e in log_lines(base)] == ["ready.optin.example"]


def test_through_ansible_every_key_is_documented_and_none_is_a_file_attribute(ansible_optin, base,
                                                                              smtp_listener):
    """Ansible adds state, mode, owner... to a result with a ``path`` key, as if a file module ran."""
    args = dict(base, domain="ready.optin.example", smtp_addresses=["::1"], smtp_port=smtp_listener.port)
    result = ansible_optin(args)
    assert result["_rc"] == 0 and result["optin_file"] == base["path"]
    assert not {"path", "state", "mode", "owner", "uid", "size"} & set(result)
    assert undocumented(documented("ipv6_optin"), result) == []


def test_through_ansible_file_without_trailer(ansible_optin, base, optin_file):
    optin_file.write_text(BODY)
    refused = ansible_optin(dict(base, domain="example.com", state="absent"))
    assert refused["_rc"] != 0 and refused["failed"] is True
    assert refused["msg"].startswith(f"opt-in file {optin_file} has no valid trailer (no trailer: ")
    assert "repair_trailer=true" in refused["msg"]
    assert optin_file.read_text() == BODY

    preview = ansible_optin(dict(base, domain="example.com", state="absent", repair_trailer=True),
                            check=True, diff=True)
    assert preview["_rc"] == 0 and preview["changed"] is True and preview["repaired_trailer"] is True
    without_com = "# managed by v6gate\n\n# example.net is waiting\nexample.org\n" + end(1)
    assert preview["diff"]["after"] == without_com
    assert optin_file.read_text() == BODY

    repaired = ansible_optin(dict(base, domain="example.com", state="absent", repair_trailer=True))
    assert repaired["_rc"] == 0 and repaired["removed"] == ["example.com"]
    assert optin_file.read_text() == without_com
    assert ansible_optin(dict(base, domain="example.com", state="absent"))["changed"] is False


def test_through_ansible_bad_input(ansible_optin, base):
    result = ansible_optin(dict(base, domain="not a domain"))
    assert result["failed"] is True
    assert result["msg"] == (
        "domain 'not a domain': must be a single domain name, without '#', spaces or line breaks"
    )


# ------------------------------------------------------------- checks split between controller and host


def test_controller_results_are_used_and_smtp_runs_on_the_host(optin_module, base, optin_file, smtp_listener):
    # On the controller: DNS checks, SMTP skipped (it is to be tested from the MX host).
    controller = optin_module(
        dict(base, domain="loop.optin.example", readiness_only=True, skip_checks=["smtp_ipv6"])
    )
    assert controller["ready"] is True
    # On the host: no nameserver that answers at all, so every DNS result must come from the controller;
    # the SMTP check targets the MX address found there (::1).
    result = optin_module(
        dict(
            base,
            domain="loop.optin.example",
            nameservers=["192.0.2.1"],
            readiness_results=controller["readiness"],
            smtp_port=smtp_listener.port,
            smtp_timeout=2,
        )
    )
    assert result["changed"] is True and result["dns"] == {}
    assert [c["status"] for c in result["checks"]] == ["pass"] * 5
    assert smtp_listener.sessions == 1
    assert log_lines(base)[0]["checks"]["smtp_ipv6"] == "pass"


def test_controller_failure_is_recorded_on_the_host(optin_module, base, optin_file):
    controller = optin_module(
        dict(base, domain="noptr.optin.example", readiness_only=True, skip_checks=["smtp_ipv6"])
    )
    refused = optin_module(
        dict(
            base,
            domain="noptr.optin.example",
            skip_checks=["smtp_ipv6"],
            readiness_results=controller["readiness"],
            nameservers=["192.0.2.1"],
        )
    )
    assert refused["failed"] is True and refused["reasons"] == ["mx_ptr: 2001:db8:6::26 no PTR (nxdomain)"]
    forced = optin_module(
        dict(
            base,
            domain="noptr.optin.example",
            skip_checks=["smtp_ipv6"],
            force=True,
            readiness_results=controller["readiness"],
            nameservers=["192.0.2.1"],
        )
    )
    assert forced["changed"] is True
    assert log_lines(base)[0]["forced"] is True and log_lines(base)[0]["checks"]["mx_ptr"] == "fail"


def test_malformed_readiness_results_are_refused(optin_module, base, optin_file):
    result = optin_module(
        dict(
            base,
            domain="ready.optin.example",
            readiness_results={"ready.optin.example": {"checks": [{"check": "mx"}]}},
        )
    )
    assert result["failed"] is True and "not a readiness check" in result["msg"]
    assert optin_file.read_text() == FILE


def test_drift_against_the_inventory(optin_module, base, optin_file):
    result = optin_module(
        dict(base, domain="example.org", state="absent", expected_domains=["Example.com", "example.org"])
    )
    assert result["drift"] == {"missing": ["example.org"], "extra": []}
    agreed = optin_module(
        dict(base, domains=["example.com"], expected_domains=["example.com"], exclusive=True), check=True
    )
    assert agreed["changed"] is False and agreed["drift"] == {"missing": [], "extra": []}


def test_each_change_goes_to_syslog(optin_module, base, optin_file, monkeypatch):
    from ansible_collections.v6gate.mx.plugins.modules import ipv6_optin

    sent = []
    monkeypatch.setattr(ipv6_optin.syslog, "openlog", lambda *args: sent.append(("openlog", args)))
    monkeypatch.setattr(ipv6_optin.syslog, "syslog", lambda *args: sent.append(("syslog", args)))
    optin_module(dict(base, domains=["example.org"], exclusive=True, reason='CHG-3 "tidy"'))
    ours = sent.index(("openlog", ("v6gate-optin", ipv6_optin.syslog.LOG_PID, ipv6_optin.syslog.LOG_MAIL)))
    assert sent[ours + 1 :] == [
        (
            "syslog",
            (
                ipv6_optin.syslog.LOG_NOTICE,
                f"opt-in absent domain=example.com file={optin_file} by=alice forced=no "
                'checks=- reason="CHG-3 \\"tidy\\""',
            ),
        )
    ]
