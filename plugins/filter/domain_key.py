# Copyright: v6gate developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

DOCUMENTATION = r"""
---
name: domain_key
short_description: The key a domain is compared by, as the IPv6 gate compares it
version_added: 0.2.0
description:
  - Lower case, without the final dot, internationalized labels as IDNA A-labels (C(xn--)).
  - The gate reads its domains file with the same function, so a playbook that compares lists of domains
    (which are accepted, which have IPv6 on) agrees with the gate on every spelling.
  - A name IDNA cannot encode keeps its case-folded form; it compares equal to itself and to no valid domain.
author: v6gate developers (!UNKNOWN)
options:
  _input:
    description: A domain name.
    type: string
    required: true
"""

EXAMPLES = r"""
- name: Domains listed for the gate that Postfix does not accept
  ansible.builtin.debug:
    msg: "{{ listed | map('v6gate.mx.domain_key') | difference(accepted | map('v6gate.mx.domain_key')) }}"
  vars:
    listed: [Contoso.Example., bücher.example]
    accepted: [contoso.example, xn--bcher-kva.example]
"""

RETURN = r"""
_value:
  description: The comparison key.
  type: string
  sample: xn--bcher-kva.example
"""

from ansible.errors import AnsibleFilterError
from ansible_collections.v6gate.mx.plugins.module_utils.ipv6_rules import normalize_domain


def domain_key(domain):
    if not isinstance(domain, str):
        raise AnsibleFilterError(
            f"domain_key: expected a domain name, got {type(domain).__name__} {domain!r}")
    return normalize_domain(domain)


class FilterModule:
    def filters(self):
        return {"domain_key": domain_key}
