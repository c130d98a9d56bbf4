#!/usr/bin/python
# Copyright: v6gate developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

DOCUMENTATION = r"""
---
module: ipv6_optin
short_description: Opt a domain in to (or out of) anonymous inbound mail over IPv6, after readiness checks
version_added: 0.1.0
description:
  - Manages the opt-in file of the v6gate IPv6 gate on an MX host. Recipients in a domain that is not in
    the file get C(550 5.2.1 Service unavailable, [example.com] does not accept email over IPv6.) when mail
    comes anonymously over IPv6.
  - C(state=present) adds the domain, C(state=absent) removes it. With I(domains) and I(exclusive=true) the
    file is made to list exactly those domains (converging to the inventory).
  - The file may list a domain with the state C(monitor) (the gate only watches its rules); such a domain
    counts as present. A file of the C(opt-out) model (a C(model opt-out) line) is refused, because
    removing a line there would turn a domain on; the ipv6_gate role manages those.
  - Comments, blank lines and every other line are kept. The new file is validated with the gate's own
    parser and replaces the old one by rename in the same directory, keeping owner, group and mode, so the
    running gate (which re-reads the file when it changes) never sees a half-written file and needs no
    restart.
  - 'The file ends with a trailer line that counts its domain lines, C(# v6gate-optin end: 3 domain(s)); the
    gate refuses a file without it (and keeps its last good list), so a file cut short is never read as a
    shorter or empty list. Every edit writes exactly one trailer, as the last line, with the new count.'
  - An existing file without a valid trailer (missing, malformed, a wrong count, or text after it), as
    written by hand or by a release before the trailer, or cut short, is an error and is not changed. Check
    its domains, then run the ipv6_gate role (which rewrites the file from C(ipv6_gate_optin_domains)) or
    run this module with I(repair_trailer=true).
  - Before a domain is added, readiness checks run and the change is refused with the reasons unless
    I(force=true). C(accepted_domain) the domain is one of I(accepted_domains); C(mx) it has MX records
    (not a null MX); C(mx_aaaa) at least one MX host has an AAAA record; C(mx_ptr) every such IPv6
    address has a PTR record; C(smtp_ipv6) each such address (or each of I(smtp_addresses)) answers
    SMTP on port I(smtp_port) with a C(220) greeting, tested from where the module runs.
  - A DNS timeout or SERVFAIL fails a check as temporary (the answer is unknown); the domain is not
    enabled.
  - When several domains are added in one run and any of them is not ready, nothing is changed.
  - Every change is appended as one JSON line per domain to I(change_log) (time, host, file, domain,
    state, changed_by, reason, forced, check results) and sent to syslog (facility mail, tag
    C(v6gate-optin)).
author: v6gate developers (!UNKNOWN)
requirements:
  - dnspython >= 2.0 (for the DNS checks)
options:
  domain:
    description:
      - The domain to opt in or out. U-labels (C(bücher.example)) and A-labels are both accepted and
        compare equal; the domain is written as given.
      - Exactly one of I(domain) and I(domains) is required.
    type: str
    aliases: [name]
  domains:
    description: Several domains at once; with I(exclusive=true), the complete list.
    type: list
    elements: str
  state:
    description: C(present) opts the domain(s) in, C(absent) opts them out.
    type: str
    choices: [present, absent]
    default: present
  exclusive:
    description:
      - With I(state=present), remove every domain from the file that is not in I(domain)/I(domains).
    type: bool
    default: false
  path:
    description: The gate's opt-in file (the ipv6_gate role's C(ipv6_gate_optin_file)).
    type: path
    default: /etc/v6gate/ipv6-optin-domains
  create:
    description:
      - Create the opt-in file when it does not exist (mode 0644, with a header comment).
      - Off by default, because a missing file usually means a wrong I(path) or an MX without the gate,
        and a file nobody reads would report success for nothing.
    type: bool
    default: false
  repair_trailer:
    description:
      - When the existing file has no valid trailer but every other line is valid, keep all its lines
        (domains after an old trailer included), drop any old trailer line and append the trailer that
        counts the domains, together with the change asked for. The result reports C(repaired_trailer)
        and a warning; check mode and diff show the repair.
      - Off by default, because a missing trailer can mean the file was cut short and lost domains, so
        look at the file first. With I(exclusive=true) the file ends up listing exactly I(domains)
        anyway.
      - With I(domains=[]) (and I(exclusive=false)) the run only repairs the trailer.
      - A file with a line that is not a domain is refused even with this option.
      - No effect on a file whose trailer is valid.
    type: bool
    default: false
  change_log:
    description: JSON-lines file that records every change; its directory is created if missing.
    type: path
    default: /var/lib/v6gate/optin-changes.jsonl
  changed_by:
    description:
      - Who makes the change, for the change log. The playbook passes the controller user.
      - Default the user that ran C(sudo) on the host, else the user the module runs as.
    type: str
  reason:
    description:
      - Why, for the change log (ticket, request). Required when the file changes (not in check mode).
    type: str
  force:
    description:
      - Enable even when readiness checks fail. The checks still run and are reported and recorded,
        and the change log entry is marked C(forced).
    type: bool
    default: false
  skip_checks:
    description:
      - Readiness checks not to run, e.g. C(smtp_ipv6) when port 25 is not reachable from here, or the
        DNS checks when they already ran on the controller. Skipped checks are reported as C(skipped).
    type: list
    elements: str
    choices: [accepted_domain, mx, mx_aaaa, mx_ptr, smtp_ipv6]
    default: []
  readiness_only:
    description:
      - Only run the readiness checks for I(domain)/I(domains) and report C(ready); never read or change
        the opt-in file. For running the checks on the controller (C(delegate_to=localhost)).
    type: bool
    default: false
  readiness_results:
    description:
      - The C(readiness) result of an earlier run with I(readiness_only=true), typically on the controller
        (C(delegate_to=localhost)). For a domain found there, the checks that ran there are used (and
        recorded) as they are; only the checks skipped there run here, unless I(skip_checks) names them.
        The SMTP check here then targets the MX addresses found there.
    type: dict
    default: {}
  expected_domains:
    description:
      - The domains the file should list (the inventory's C(ipv6_gate_optin_domains)). When given, the
        result reports C(drift) between the file after this run and this list, e.g. a domain enabled here
        but missing from the inventory, which the next converge would remove again.
    type: list
    elements: str
  accepted_domains:
    description: The domains this MX accepts mail for (the postfix role's C(postfix_relay_domains)).
    type: list
    elements: str
    default: []
  smtp_addresses:
    description:
      - IPv6 addresses to test the SMTP greeting on. Default the AAAA addresses of the domain's MX hosts.
    type: list
    elements: str
    default: []
  smtp_port:
    description: TCP port of the SMTP check.
    type: int
    default: 25
  smtp_timeout:
    description: Seconds to wait for the connection and the greeting of each address.
    type: float
    default: 10.0
extends_documentation_fragment:
  - v6gate.mx.attributes
  - v6gate.mx.dns
attributes:
  check_mode:
    support: full
    details: Readiness checks run (they only read DNS and open SMTP connections); nothing is written.
  diff_mode:
    support: full
    details: Shows the opt-in file before and after.
notes:
  - The inventory list C(ipv6_gate_optin_domains) is the source of truth; the ipv6_gate role and
    C(playbooks/optin.yml) converge the file to it. A domain opted in only with this module is removed again
    by the next converge unless it is added to the inventory too.
seealso:
  - module: v6gate.mx.reverse_dns_info
  - module: v6gate.mx.ipv6_sender_readiness_info
"""

EXAMPLES = r"""
- name: Opt example.com in to anonymous IPv6 mail (refused with reasons when not ready)
  v6gate.mx.ipv6_optin:
    domain: example.com
    accepted_domains: "{{ postfix_relay_domains }}"
    reason: "CHG-1234: example.com asked for IPv6 inbound"
    changed_by: alice
  become: true

- name: Check readiness from the controller only
  v6gate.mx.ipv6_optin:
    domain: example.com
    readiness_only: true
    accepted_domains: "{{ postfix_relay_domains }}"
    nameservers: ["2001:db8::53"]
  delegate_to: localhost
  register: readiness

- name: Opt example.net out
  v6gate.mx.ipv6_optin:
    domain: example.net
    state: absent
    reason: "CHG-1240: mailbox provider cannot take IPv6 yet"
  become: true

- name: Add the trailer to a file written by hand, keeping its domains (look at the file first)
  v6gate.mx.ipv6_optin:
    domains: []
    repair_trailer: true
    reason: "CHG-1250: opt-in file written by hand"
  become: true

- name: Make the file list exactly the inventory's domains (check mode shows the drift)
  v6gate.mx.ipv6_optin:
    domains: "{{ ipv6_gate_optin_domains }}"
    exclusive: true
    accepted_domains: "{{ postfix_relay_domains }}"
    reason: converge to inventory
  become: true
"""

RETURN = r"""
ready:
  description: Whether every domain to be added passed its readiness checks (true when nothing is added).
  returned: always
  type: bool
checks:
  description: Readiness checks of the single domain to be added (or assessed); empty when none.
  returned: always
  type: list
  elements: dict
  contains:
    check: {description: "accepted_domain, mx, mx_aaaa, mx_ptr or smtp_ipv6.", type: str}
    status:
      description: C(pass), C(fail), C(skipped) (asked not to run) or C(unchecked) (an earlier check failed).
      type: str
    detail: {description: What was found., type: str, sample: "MX 10 mx1.example.com"}
    temporary: {description: The check failed because DNS failed temporarily; try again., type: bool}
    checked_from: {description: Host name of the machine the check ran on (controller or MX)., type: str}
    mx_hosts:
      description: The C(mx) check only, the domain's MX host names, most preferred first.
      type: list
      elements: str
    addresses:
      description: The C(mx_aaaa) check only, the IPv6 addresses of those MX hosts.
      type: list
      elements: str
    ptr:
      description:
        - The C(mx_ptr) check only, per address its reverse DNS as M(v6gate.mx.reverse_dns_info) reports
          it (C(address), C(ptr_outcome), C(ptr_names), C(confirmed_names) and the rest).
      type: list
      elements: dict
    targets:
      description: The C(smtp_ipv6) check only, the addresses that were asked for an SMTP greeting.
      type: list
      elements: str
    port:
      description: The C(smtp_ipv6) check only, the SMTP port used.
      type: int
  sample:
    - {check: mx, status: pass, detail: "MX 10 mx1.example.com", temporary: false}
    - {check: mx_ptr, status: fail, detail: "2001:db8:6::26 no PTR (nxdomain)", temporary: false}
readiness:
  description: Per domain to be added (or assessed), keyed by domain, its checks, C(ready) and C(reasons).
  returned: always
  type: dict
reasons:
  description: One line per failed check, over all domains; why the change was refused.
  returned: always
  type: list
  elements: str
  sample: ["mx_aaaa: no MX host has an AAAA record: mx-v4.example.com (nodata); IPv6 senders cannot reach it"]
added:
  description: Domains added to the file (or that would be, in check mode).
  returned: always
  type: list
  elements: str
removed:
  description: Domains removed from the file (or that would be).
  returned: always
  type: list
  elements: str
domains:
  description: The domains the file lists after the run, as written in it.
  returned: unless readiness_only
  type: list
  elements: str
optin_file:
  description:
    - The opt-in file (the I(path) option).
    - Not returned as C(path), which would make Ansible add file attributes to the result.
  returned: unless readiness_only
  type: str
repaired_trailer:
  description: Whether the file had no valid trailer and gets one in this run (I(repair_trailer=true)).
  returned: unless readiness_only
  type: bool
change_log_entries:
  description: The JSON objects appended to the change log (empty in check mode and when nothing changed).
  returned: always
  type: list
  elements: dict
drift:
  description:
    - With I(expected_domains), how the file after this run differs from them. C(missing) are expected but
      not in the file, C(extra) are in the file but not expected (both as comparison keys, lower case
      A-labels). Both empty means the file agrees with the inventory.
  returned: when expected_domains is given and not readiness_only
  type: dict
  sample: {missing: [], extra: ["example.net"]}
dns:
  description: Nameservers used, queries sent and cache hits (empty when no DNS check ran).
  returned: always
  type: dict
"""

import getpass
import os
import syslog

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.v6gate.mx.plugins.module_utils.audit_module import (
    DNS_ARGUMENT_SPEC,
    client_from_module,
    require_libraries,
)
from ansible_collections.v6gate.mx.plugins.module_utils.ipv6_rules import (
    OptInTrailerError,
    normalize_domain,
    render_optin_trailer,
)
from ansible_collections.v6gate.mx.plugins.module_utils.v6gate_optin import (
    CHECKS,
    DEFAULT_CHANGE_LOG,
    DEFAULT_OPTIN_FILE,
    NEW_FILE_TEXT,
    ChangeLog,
    assess_readiness,
    change_entries,
    combine_readiness,
    describe_os_error,
    parse_smtp_addresses,
    plan_edit,
    read_optin_file,
    syslog_line,
    validate_domains,
    write_atomically,
)


def default_changed_by() -> str:
    return os.environ.get("SUDO_USER") or getpass.getuser()


class LazyDnsClient:
    """The run's DnsClient, created on the first lookup: runs that need no DNS (an opt-out, checks done on
    the controller) neither require dnspython nor touch a resolver."""

    def __init__(self, module):
        self._module = module
        self.client = None

    def _get(self):
        if self.client is None:
            require_libraries(self._module)
            self.client = client_from_module(self._module)
        return self.client

    def resolve(self, name, rdtype, deadline=None):
        return self._get().resolve(name, rdtype, deadline)

    def map(self, function, items):
        return self._get().map(function, items)

    def stats(self) -> dict:
        return self.client.stats() if self.client else {}


def run_readiness(module, domains: dict[str, str], smtp_addresses: list[str]) -> tuple[dict, dict]:
    """Readiness of each domain (keyed by comparison key) and the DNS statistics."""
    params = module.params
    client = LazyDnsClient(module)
    options = (params["accepted_domains"], params["skip_checks"], smtp_addresses, params["smtp_port"],
               params["smtp_timeout"])
    earlier = params["readiness_results"]
    readiness = {}
    for key in domains:
        if key in earlier:
            try:
                readiness[key] = combine_readiness(earlier[key], client, key, *options)
            except ValueError as error:
                module.fail_json(msg=str(error))
        else:
            readiness[key] = assess_readiness(client, key, *options)
    return readiness, client.stats()


def summarise(readiness: dict) -> dict:
    only = next(iter(readiness.values())) if len(readiness) == 1 else None
    return {
        "ready": all(report["ready"] for report in readiness.values()),
        "checks": only["checks"] if only else [],
        "reasons": [reason if only else f"{key}: {reason}"
                    for key, report in readiness.items() for reason in report["reasons"]],
        "readiness": readiness,
    }


def main():
    module = AnsibleModule(
        argument_spec={
            "domain": {"type": "str", "aliases": ["name"]},
            "domains": {"type": "list", "elements": "str"},
            "state": {"type": "str", "choices": ["present", "absent"], "default": "present"},
            "exclusive": {"type": "bool", "default": False},
            "path": {"type": "path", "default": DEFAULT_OPTIN_FILE},
            "create": {"type": "bool", "default": False},
            "repair_trailer": {"type": "bool", "default": False},
            "change_log": {"type": "path", "default": DEFAULT_CHANGE_LOG},
            "changed_by": {"type": "str"},
            "reason": {"type": "str"},
            "force": {"type": "bool", "default": False},
            "skip_checks": {"type": "list", "elements": "str", "choices": list(CHECKS), "default": []},
            "readiness_only": {"type": "bool", "default": False},
            "readiness_results": {"type": "dict", "default": {}},
            "expected_domains": {"type": "list", "elements": "str"},
            "accepted_domains": {"type": "list", "elements": "str", "default": []},
            "smtp_addresses": {"type": "list", "elements": "str", "default": []},
            "smtp_port": {"type": "int", "default": 25},
            "smtp_timeout": {"type": "float", "default": 10.0},
            **DNS_ARGUMENT_SPEC,
        },
        required_one_of=[("domain", "domains")],
        mutually_exclusive=[("domain", "domains")],
        supports_check_mode=True,
    )
    params = module.params
    if params["exclusive"] and params["state"] != "present":
        module.fail_json(msg="exclusive=true needs state=present "
                             "(it makes the file list exactly these domains)")
    if not 1 <= params["smtp_port"] <= 65535:
        module.fail_json(msg=f"smtp_port must be between 1 and 65535, got {params['smtp_port']}")
    if params["smtp_timeout"] <= 0:
        module.fail_json(msg=f"smtp_timeout must be greater than 0, got {params['smtp_timeout']}")
    given = [params["domain"]] if params["domain"] is not None else params["domains"]
    try:
        domains = validate_domains(given)
        expected = params["expected_domains"]
        expected = None if expected is None else validate_domains(expected)
        smtp_addresses = parse_smtp_addresses(params["smtp_addresses"])
    except ValueError as error:
        module.fail_json(msg=str(error))
    if not domains and not params["exclusive"] and not params["repair_trailer"]:
        module.fail_json(msg="domains is empty: name at least one domain "
                             "(or use exclusive=true to empty the file, or repair_trailer=true to only "
                             "repair its trailer)")

    result = {"changed": False, "ready": True, "checks": [], "reasons": [], "readiness": {}, "added": [],
              "removed": [], "change_log_entries": [], "dns": {}}

    if params["readiness_only"]:
        readiness, stats = run_readiness(module, domains, smtp_addresses) if params["state"] == "present" \
            else ({}, {})
        result.update(summarise(readiness), dns=stats)
        module.exit_json(**result)

    path = params["path"]
    change_log = None
    try:
        if not module.check_mode:
            # Taken before reading the file: the lock keeps a concurrent run from editing in between, and
            # opening it proves the change can be recorded before anything is changed.
            change_log = ChangeLog(params["change_log"])
        before = read_optin_file(path)
        if before is None and not (params["create"] and params["state"] == "present"):
            if params["state"] == "absent":
                module.fail_json(msg=f"opt-in file {path} does not exist (is the ipv6_gate role deployed, "
                                     "is path right?)", **result)
            module.fail_json(msg=f"opt-in file {path} does not exist; deploy the ipv6_gate role first or "
                                 "set create=true", **result)
        base_text = NEW_FILE_TEXT if before is None else before
        try:
            edit = plan_edit(base_text, domains, params["state"], params["exclusive"],
                             repair_trailer=params["repair_trailer"])
        except OptInTrailerError as error:
            module.fail_json(msg=f"opt-in file {path} has no valid trailer ({error}). Check that it "
                                 "lists every domain it should (it may have been cut short, or written by "
                                 "hand or by a v6gate release before the trailer), then run the ipv6_gate "
                                 "role, which rewrites it from ipv6_gate_optin_domains, or run this module "
                                 "again with repair_trailer=true, which keeps the file's domains and appends "
                                 f"the trailer ({render_optin_trailer(3)!r} for 3 domains). Until then the "
                                 "gate keeps its last good list, or answers 4xx if it has none.", **result)
        except ValueError as error:
            module.fail_json(msg=f"opt-in file {path} is not valid, fix it by hand first (the gate keeps "
                                 f"its last good list meanwhile): {error}", **result)
        if before is None:
            edit.before = ""
        result.update(optin_file=path, added=edit.added, removed=edit.removed, domains=edit.domains_after(),
                      repaired_trailer=edit.repaired_trailer)
        if edit.repaired_trailer:
            module.warn(f"opt-in file {path} had no valid trailer; its domains are kept as they are and it "
                        f"now ends with {edit.after.splitlines()[-1]!r}")
        if expected is not None:
            after = {normalize_domain(d) for d in result["domains"]}
            result["drift"] = {"missing": [k for k in expected if k not in after],
                               "extra": sorted(after - set(expected))}
        changed = edit.changed

        to_check = {normalize_domain(d): d for d in edit.added}
        readiness, stats = run_readiness(module, to_check, smtp_addresses)
        result.update(summarise(readiness), dns=stats)
        if not result["ready"] and not params["force"]:
            module.fail_json(msg="refusing to enable " + ", ".join(edit.added) + " for IPv6, not ready: "
                                 + "; ".join(result["reasons"]) + " (force=true overrides)", **result)
        if not result["ready"]:
            module.warn("enabling despite failed readiness checks (force=true): "
                        + "; ".join(result["reasons"]))

        if changed:
            result["diff"] = {"before": edit.before, "after": edit.after,
                              "before_header": path, "after_header": path}
        if changed and not module.check_mode:
            reason = (params["reason"] or "").strip()
            if not reason:
                module.fail_json(msg="reason is required when the opt-in file changes (for the change log)",
                                 **result)
            changed_by = (params["changed_by"] or "").strip() or default_changed_by()
            entries = change_entries(edit, path, changed_by, reason, params["force"], readiness)
            write_atomically(path, edit.after)
            change_log.append(entries)
            syslog.openlog("v6gate-optin", syslog.LOG_PID, syslog.LOG_MAIL)
            for entry in entries:
                syslog.syslog(syslog.LOG_NOTICE, syslog_line(entry))
            result["change_log_entries"] = entries
        result["changed"] = changed
    except OSError as error:
        failed_path = error.filename or path
        module.fail_json(msg=describe_os_error(error, failed_path), **result)
    except UnicodeDecodeError as error:
        module.fail_json(msg=f"opt-in file {path} is not UTF-8: {error}", **result)
    finally:
        if change_log is not None:
            change_log.close()
    module.exit_json(**result)


if __name__ == "__main__":
    main()
