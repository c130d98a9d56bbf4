#!/usr/bin/python
# Copyright: v6gate developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

DOCUMENTATION = r"""
---
module: gate_metrics_info
short_description: Read the IPv6 gate's counters, and judge a change against a baseline
version_added: 0.2.0
description:
  - Reads the gate's Prometheus textfile (C(ipv6_gate_metrics_file)) and returns its error count, its
    C(dns-temporary) decisions, all decisions, its start time and when it last wrote the file.
  - With I(baseline) (the C(counters) of an earlier run) and I(changed_file), judges a change made in
    between, the way the rollout of C(playbooks/ipv6_domains.yml) and C(playbooks/optin.yml) does after
    each MX; C(problems) lists why it should be rolled back; the gate has not written its counters since
    I(changed_file) changed (it is not running, or hangs), it restarted, it has no domains list loaded, or
    its errors or C(dns-temporary) decisions rose by more than allowed.
author: v6gate developers (!UNKNOWN)
options:
  path:
    description: The gate's metrics file.
    type: path
    default: /var/lib/v6gate-gate/metrics/v6gate_gate.prom
  baseline:
    description: The C(counters) returned before the change.
    type: dict
  changed_file:
    description: The file whose change is judged (the gate's domains file); its modification time is the
      time of the change. Required with I(baseline).
    type: path
  max_errors:
    description: How much C(v6gate_gate_errors_total) may rise before the change counts as harmful.
    type: float
    default: 0
  max_dns_temporary:
    description: How many more C(dns-temporary) decisions are tolerated (DNS trouble unrelated to the change
      happens too; raise this on a busy MX).
    type: float
    default: 0
extends_documentation_fragment:
  - v6gate.mx.attributes
attributes:
  check_mode:
    support: full
    details: Only reads, so it runs the same in check mode.
  diff_mode:
    support: none
    details: Changes nothing, so there is nothing to diff.
seealso:
  - module: v6gate.mx.gate_report_info
"""

EXAMPLES = r"""
- name: Read the counters before the change
  v6gate.mx.gate_metrics_info:
  register: before

- name: Judge the change after a watch
  v6gate.mx.gate_metrics_info:
    baseline: "{{ before.counters }}"
    changed_file: /etc/v6gate/ipv6-optin-domains
  register: after
  failed_when: not after.healthy
"""

RETURN = r"""
counters:
  description: C(errors), C(dns_temporary), C(decisions) (sums over all labels), C(started) and C(written)
    (Unix times), C(list_loaded).
  returned: always
  type: dict
  sample: {errors: 0.0, dns_temporary: 2.0, decisions: 180.0, started: 1764669000.0, written: 1764669400.5,
           list_loaded: true}
healthy:
  description: No problem found (always true without I(baseline)).
  returned: always
  type: bool
problems:
  description: Why the change should be rolled back.
  returned: always
  type: list
  elements: str
  sample: ["gate errors rose by 3 (allowed 0)"]
"""

import os

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.v6gate.mx.plugins.module_utils.gate_metrics import (
    GateCounters,
    compare,
    read_counters,
)


def main():
    module = AnsibleModule(
        argument_spec={
            "path": {"type": "path", "default": "/var/lib/v6gate-gate/metrics/v6gate_gate.prom"},
            "baseline": {"type": "dict"},
            "changed_file": {"type": "path"},
            "max_errors": {"type": "float", "default": 0.0},
            "max_dns_temporary": {"type": "float", "default": 0.0},
        },
        required_by={"baseline": "changed_file"},
        supports_check_mode=True,
    )
    params = module.params
    path = params["path"]
    try:
        with open(path, encoding="utf-8") as handle:
            counters = read_counters(handle.read())
    except OSError as error:
        module.fail_json(msg=f"cannot read the gate's metrics file {path}: {error.strerror} (is the gate "
                             "deployed, and ipv6_gate_metrics_file right?)")
    except ValueError as error:
        module.fail_json(msg=f"{path}: {error}")
    problems = []
    if params["baseline"] is not None:
        try:
            before = GateCounters(**params["baseline"])
            changed_at = os.stat(params["changed_file"]).st_mtime
        except TypeError:
            module.fail_json(msg="baseline is not the counters of an earlier gate_metrics_info run")
        except OSError as error:
            module.fail_json(msg=f"cannot stat {params['changed_file']}: {error.strerror}")
        problems = compare(before, counters, changed_at, params["max_errors"], params["max_dns_temporary"])
    module.exit_json(changed=False, counters=counters.as_dict(), healthy=not problems, problems=problems)


if __name__ == "__main__":
    main()
