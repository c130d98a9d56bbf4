#!/usr/bin/python
# Copyright: v6gate developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

DOCUMENTATION = r"""
---
module: gate_report_info
short_description: Report what the IPv6 gate decided per recipient domain, and who was (or would be) refused
version_added: 0.2.0
description:
  - Reads the IPv6 gate's decision lines over a time window, from the journal (C(journalctl -u v6gate-gate))
    or from log files, and reports per recipient domain the decisions by rule, mode and reply code, the
    refusals given, the refusals monitor mode would have given, temporary failures, and the sending
    addresses and sender domains behind the refusals.
  - Answers "can I enforce domain X?" with a C(verdict) per domain; C(ready) when a monitored domain had no
    would-be refusal in the window, C(review) with the count otherwise.
  - With I(merge), combines the C(report) results of several hosts instead (on the controller); counts add
    up exactly, the top lists are computed from the merged counts.
  - Only the fields the gate writes are read (rule, reply, mode); values a sender chose (MAIL FROM,
    recipients) are escaped in the log and are only ever shown, inside code spans in the Markdown.
author: v6gate developers (!UNKNOWN)
options:
  since:
    description: Start of the window, in any form C(journalctl --since) takes (C(7 days ago), C(2026-11-01)).
    type: str
    default: 7 days ago
  before:
    description: End of the window (given to C(journalctl --until)); empty or unset means now.
    type: str
  unit:
    description: The gate's systemd unit.
    type: str
    default: v6gate-gate
  log_files:
    description:
      - Read these files (syslog or C(journalctl -o cat) output) instead of the journal. I(since) and
        I(before) do not apply to them.
    type: list
    elements: path
    default: []
  top:
    description: How many sending addresses and sender domains to list per domain.
    type: int
    default: 10
  max_distinct:
    description:
      - At most this many distinct domains, addresses and sender domains are counted per count; the rest are
        counted as C((other)), so a flood of distinct senders cannot exhaust memory.
    type: int
    default: 10000
  merge:
    description:
      - The C(report) results of earlier runs (one per MX host) to merge instead of reading any log.
    type: list
    elements: dict
  title:
    description: Heading of the Markdown report.
    type: str
    default: IPv6 gate report
extends_documentation_fragment:
  - v6gate.mx.attributes
attributes:
  check_mode:
    support: full
    details: Only reads the journal or the files, so it runs the same in check mode.
  diff_mode:
    support: none
    details: Changes nothing, so there is nothing to diff.
notes:
  - C(playbooks/report.yml) runs it on every MX and writes the merged report as JSON and Markdown.
seealso:
  - module: v6gate.mx.ipv6_optin
"""

EXAMPLES = r"""
- name: Read a week of the gate's decisions on each MX
  v6gate.mx.gate_report_info:
    since: 7 days ago
  become: true
  register: gate_report

- name: Merge them on the controller
  v6gate.mx.gate_report_info:
    merge: "{{ ansible_play_hosts | map('extract', hostvars, ['gate_report', 'report']) | list }}"
  delegate_to: localhost
  run_once: true
  register: merged
"""

RETURN = r"""
report:
  description: The counts and their summary.
  returned: always
  type: dict
  contains:
    decision_lines: {description: Decision lines read., type: int}
    unreadable_lines: {description: Lines that start like a decision but lack its fields., type: int}
    domains:
      description:
        - Per recipient domain, C(decisions) (list of C(rule), C(mode), C(code), C(count)), C(total),
          C(refused) (enforced refusals), C(would_refuse) (monitor mode), C(temporary) (4xx for DNS or gate
          trouble), C(top_clients) and C(top_sender_domains) (lists of [value, count] of refused senders),
          C(monitored) and C(verdict).
      type: dict
    counts: {description: "Every count, so that reports of several hosts merge exactly.", type: dict}
markdown:
  description: The report as a Markdown document.
  returned: always
  type: str
source:
  description: Where the lines came from (C(journal), the files, or C(merge)).
  returned: always
  type: str
"""

import subprocess

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.v6gate.mx.plugins.module_utils.gate_log import GateReport, render_markdown


def read_journal(module, report: GateReport) -> str:
    params = module.params
    journalctl = module.get_bin_path("journalctl", required=True)
    command = [journalctl, "-u", params["unit"], "--since", params["since"], "-o", "cat", "--no-pager", "-q"]
    if params["before"]:
        command += ["--until", params["before"]]
    # Streamed: a busy MX logs millions of lines a week, and only the counts are kept.
    with subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                          errors="replace") as process:
        for line in process.stdout:
            report.add_line(line.rstrip("\n"))
        error = process.stderr.read()
    if process.returncode != 0:
        module.fail_json(msg=f"journalctl failed ({process.returncode}): {error.strip()}")
    return f"journal ({params['unit']}, since {params['since']})"


def main():
    module = AnsibleModule(
        argument_spec={
            "since": {"type": "str", "default": "7 days ago"},
            "before": {"type": "str"},
            "unit": {"type": "str", "default": "v6gate-gate"},
            "log_files": {"type": "list", "elements": "path", "default": []},
            "top": {"type": "int", "default": 10},
            "max_distinct": {"type": "int", "default": 10000},
            "merge": {"type": "list", "elements": "dict"},
            "title": {"type": "str", "default": "IPv6 gate report"},
        },
        mutually_exclusive=[("merge", "log_files")],
        supports_check_mode=True,
    )
    params = module.params
    for option in ("top", "max_distinct"):
        if params[option] < 1:
            module.fail_json(msg=f"{option} must be at least 1, got {params[option]}")
    report = GateReport(params["max_distinct"])
    if params["merge"] is not None:
        for number, part in enumerate(params["merge"], 1):
            if not isinstance(part.get("counts"), dict):
                module.fail_json(msg=f"merge item {number} is not a gate_report_info report (no counts)")
            report.merge_counts(part["counts"], part.get("decision_lines", 0),
                                part.get("unreadable_lines", 0))
        source = f"merge of {len(params['merge'])} report(s)"
    elif params["log_files"]:
        for path in params["log_files"]:
            try:
                with open(path, encoding="utf-8", errors="replace") as handle:
                    for line in handle:
                        report.add_line(line.rstrip("\n"))
            except OSError as error:
                module.fail_json(msg=f"cannot read {path}: {error.strerror}")
        source = ", ".join(params["log_files"])
    else:
        source = read_journal(module, report)
    result = report.as_dict(params["top"])
    module.exit_json(changed=False, report=result, markdown=render_markdown(result, params["title"]),
                     source=source)


if __name__ == "__main__":
    main()
