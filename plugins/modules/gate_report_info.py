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
requirements:
  - python3-systemd (Debian package; the ipv6_gate role installs it), to read the journal
options:
  since:
    description:
      - Start of the window, C(N minutes|hours|days|weeks ago), C(today), C(yesterday), or an ISO date or
        date and time (C(2026-11-01), C(2026-11-01 08:00)), in the host's local time unless it has an offset.
    type: str
    default: 7 days ago
  before:
    description: End of the window, in the form of I(since); empty or unset means now.
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

import datetime
import re
import traceback

from ansible.module_utils.basic import AnsibleModule, missing_required_lib
from ansible_collections.v6gate.mx.plugins.module_utils.gate_log import GateReport, render_markdown

try:
    from systemd import journal

    HAS_SYSTEMD = True
    SYSTEMD_IMPORT_ERROR = None
except ImportError:
    HAS_SYSTEMD = False
    SYSTEMD_IMPORT_ERROR = traceback.format_exc()

_AGO = re.compile(r"^(\d+)\s*(minute|hour|day|week)s?\s+ago$")


def parse_time(text: str, now: datetime.datetime) -> datetime.datetime:
    """``7 days ago`` (minutes, hours, days, weeks), ``today``, ``yesterday``, or an ISO date or date and
    time in the host's local time."""
    value = text.strip().lower()
    match = _AGO.match(value)
    if match:
        return now - datetime.timedelta(**{f"{match.group(2)}s": int(match.group(1))})
    midnight = now.replace(hour=0, minute=0, second=0, microsecond=0)
    if value in ("today", "yesterday"):
        return midnight - datetime.timedelta(days=1 if value == "yesterday" else 0)
    try:
        parsed = datetime.datetime.fromisoformat(text.strip())
    except ValueError:
        raise ValueError(f"{text!r} is not a time: use e.g. '7 days ago', 'today' or '2026-11-01 08:00'"
                         ) from None
    return parsed if parsed.tzinfo else parsed.astimezone()


def read_journal(module, report: GateReport, since: datetime.datetime, before) -> str:
    """The gate unit's messages from ``since`` on, one at a time: a busy MX logs millions a week, and only
    the counts are kept."""
    if not HAS_SYSTEMD:
        module.fail_json(msg=missing_required_lib("systemd (Debian: python3-systemd)"),
                         exception=SYSTEMD_IMPORT_ERROR)
    unit = module.params["unit"]
    unit = unit if "." in unit else f"{unit}.service"
    reader = journal.Reader()
    reader.add_match(_SYSTEMD_UNIT=unit)
    reader.seek_realtime(since)
    for entry in reader:
        if before is not None and entry["__REALTIME_TIMESTAMP"] >= before:
            break
        message = entry.get("MESSAGE", "")
        report.add_line(message.decode("utf-8", "replace") if isinstance(message, bytes) else str(message))
    return f"journal ({unit}, {since.isoformat(timespec='seconds')} to " \
           f"{before.isoformat(timespec='seconds') if before else 'now'})"


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
        now = datetime.datetime.now().astimezone()
        try:
            since = parse_time(params["since"], now)
            before = parse_time(params["before"], now) if params["before"] else None
        except ValueError as error:
            module.fail_json(msg=str(error))
        source = read_journal(module, report, since, before)
    result = report.as_dict(params["top"])
    module.exit_json(changed=False, report=result, markdown=render_markdown(result, params["title"]),
                     source=source)


if __name__ == "__main__":
    main()
