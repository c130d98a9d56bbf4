# Copyright: v6gate developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The DNS options every v6gate.mx module shares (plugins/module_utils/audit_module.py, dns_client.py)."""

from __future__ import annotations


class ModuleDocFragment:
    DOCUMENTATION = r"""
options:
  nameservers:
    description:
      - Nameservers to ask, as IP addresses with an optional port
        (C(192.0.2.53), C(192.0.2.53@5353), C(192.0.2.53:5353), C(2001:db8::53), C([2001:db8::53]:5353)).
      - Empty means the resolver configuration (C(/etc/resolv.conf)) of the host the module runs on.
    type: list
    elements: str
    default: []
  timeout:
    description: Seconds to wait for one answer from a nameserver.
    type: float
    default: 3.0
  retries:
    description: How many more times to try after a timeout before the lookup counts as C(timeout).
    type: int
    default: 1
  max_in_flight:
    description: Upper bound on DNS queries in flight at once (1-1024); lookups are cached for the run.
    type: int
    default: 32
"""
