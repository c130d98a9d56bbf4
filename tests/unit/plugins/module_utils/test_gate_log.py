"""The gate's decision line, written and read by one module: round trips, what a sender cannot forge
through MAIL FROM or a recipient, and the report built from the lines (counts, merge, bounds, Markdown)."""

from ansible_collections.v6gate.mx.plugins.module_utils.gate_log import (
    OTHER,
    GateReport,
    format_decision,
    parse_decision,
    render_markdown,
)
from ansible_collections.v6gate.mx.plugins.module_utils.ipv6_rules import (
    check_authentication,
    disabled_domain_reply,
)

CLIENT = "2001:db8:25::10"
R521 = str(disabled_domain_reply("fabrikam.example"))
R4726 = str(check_authentication(CLIENT, False, False))


def line(rule="opt-in", reply=R521, mode="enforce", sender="sender.example", domains=("fabrikam.example",),
         rcpt="<u@fabrikam.example>", client=CLIENT):
    return "INFO " + format_decision("NOQUEUE", client, rule, reply, mode, sender, domains, rcpt=rcpt,
                                     took_ms=0.4)


def test_a_decision_line_reads_back_field_by_field():
    fields = parse_decision(line())
    assert fields == {"queue_id": "NOQUEUE", "client": CLIENT, "rule": "opt-in",
                      "rcpt": "<u@fabrikam.example>", "sender_domain": "sender.example",
                      "domains": "fabrikam.example", "reply": R521, "mode": "enforce", "took_ms": "0.4"}


def test_monitor_mode_logs_accept_and_the_would_be_reply():
    fields = parse_decision(line(rule="spf-dkim", reply=R4726, mode="monitor", rcpt=None))
    assert fields["reply"] == "accept" and fields["would_reply"] == R4726 and "rcpt" not in fields


def test_a_null_sender_is_logged_as_angle_brackets():
    assert parse_decision(line(sender=""))["sender_domain"] == "<>"


def test_a_sender_cannot_forge_fields_through_mail_from_or_rcpt():
    forged_rcpt = '<"x rule=accept reply="accept" mode=monitor"@fabrikam.example>'
    forged_sender = 'a.example reply="accept" mode=monitor would_reply="x"'
    fields = parse_decision(line(rcpt=forged_rcpt, sender=forged_sender,
                                 domains=('fabrikam.example mode=monitor',)))
    assert fields["rule"] == "opt-in" and fields["reply"] == R521 and fields["mode"] == "enforce"
    assert "would_reply" not in fields
    # and the report, which only reads the gate's fields, counts a refusal in enforce mode
    assert fields["rcpt"] == forged_rcpt and fields["sender_domain"] == forged_sender
    report = GateReport()
    report.add_line(line(rcpt=forged_rcpt, sender=forged_sender))
    assert report.as_dict()["domains"]["fabrikam.example"]["refused"] == 1


def test_other_lines_are_ignored_and_cut_lines_counted():
    report = GateReport()
    report.add_line("INFO exempt client=2001:db8::1 reason=authenticated user=alice")
    report.add_line("INFO decision queue_id=NOQUEUE client=2001:db8::1 rule=opt-in")  # cut short
    assert report.as_dict()["decision_lines"] == 0 and report.as_dict()["unreadable_lines"] == 1


def test_report_per_domain_with_top_refused_senders_and_a_verdict():
    report = GateReport()
    for _ in range(3):
        report.add_line(line())
    report.add_line(line(client="2001:db8:25::11", sender="other.example"))
    report.add_line(line(rule="accept", reply=None, domains=("contoso.example",)))
    for client in ("2001:db8:26::1", "2001:db8:26::1", "2001:db8:26::2"):
        report.add_line(line(rule="spf-dkim", reply=R4726, mode="monitor", domains=("watched.example",),
                             client=client, sender="spffail.example"))
    report.add_line(line(rule="accept", reply=None, mode="monitor", domains=("quiet.example",)))
    domains = report.as_dict(top=1)["domains"]
    assert domains["fabrikam.example"]["refused"] == 4
    assert domains["fabrikam.example"]["top_clients"] == [[CLIENT, 3]]
    assert domains["fabrikam.example"]["top_sender_domains"] == [["sender.example", 3]]
    assert domains["fabrikam.example"]["verdict"] == "enforced"
    assert domains["contoso.example"]["refused"] == 0 and domains["contoso.example"]["top_clients"] == []
    assert domains["watched.example"]["would_refuse"] == 3 and domains["watched.example"]["refused"] == 0
    assert domains["watched.example"]["verdict"] == "review: 3 would-be refusal(s) from 2 sending address(es)"
    assert domains["quiet.example"]["verdict"] == "ready: no would-be refusals in the window"


def test_a_message_to_two_domains_counts_once_for_each():
    report = GateReport()
    report.add_line(line(rule="spf-dkim", reply=R4726, rcpt=None, domains=("a.example", "b.example")))
    domains = report.as_dict()["domains"]
    assert domains["a.example"]["refused"] == domains["b.example"]["refused"] == 1


def test_reports_of_several_hosts_merge_exactly():
    first, second = GateReport(), GateReport()
    first.add_line(line())
    second.add_line(line())
    second.add_line(line(client="2001:db8:25::11"))
    merged = GateReport()
    for part in (first, second):
        data = part.as_dict()
        merged.merge_counts(data["counts"], data["decision_lines"], data["unreadable_lines"])
    result = merged.as_dict()
    assert result["decision_lines"] == 3
    assert result["domains"]["fabrikam.example"]["top_clients"] == [[CLIENT, 2], ["2001:db8:25::11", 1]]


def test_a_flood_of_distinct_senders_is_bounded():
    report = GateReport(limit=5)
    for n in range(50):
        report.add_line(line(client=f"2001:db8:27::{n:x}", domains=(f"d{n}.example",)))
    data = report.as_dict(top=10)
    assert len(data["domains"]) == 5 + 1 and data["domains"][OTHER]["refused"] == 45
    assert data["domains"][OTHER]["top_clients"][0] == [OTHER, 40]
    assert len(data["domains"][OTHER]["top_clients"]) == 5 + 1


def test_markdown_keeps_sender_text_inside_code_spans():
    report = GateReport()
    report.add_line(line(sender="<script>x</script>|`evil`"))
    text = render_markdown(report.as_dict(), "IPv6 gate report")
    assert text.startswith("# IPv6 gate report\n")
    assert "| `fabrikam.example` | 1 | 1 | 0 | 0 | enforced |" in text
    row = next(row for row in text.splitlines() if "script" in row)
    assert row.count("`") == 2 and "|`" not in row.replace("| `", "")
