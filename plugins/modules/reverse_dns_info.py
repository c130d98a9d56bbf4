#!/usr/bin/python
# Copyright: v6gate developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

DOCUMENTATION = r"""
---
module: reverse_dns_info
short_description: Look up PTR records of IPv4/IPv6 addresses and check forward confirmation
version_added: 0.1.0
description:
  - For each address, looks up its PTR names and, for each name, whether its AAAA (IPv6) or A (IPv4)
    records hold the address again (forward-confirmed reverse DNS).
  - Status C(pass) when a name forward-confirms, C(missing) when there is no PTR record (NXDOMAIN or no data),
    C(mismatch) when PTR names exist but none resolves back, C(temperror) when a lookup failed with SERVFAIL
    or timed out and the answer is unknown.
  - Read-only; never changes anything. Many addresses are looked up concurrently with a per-run cache.
author: v6gate developers (!UNKNOWN)
requirements:
  - dnspython >= 2.0
options:
  address:
    description:
      - Addresses in any textual form (compressed or expanded IPv6, C([...]), IPv4, IPv4-mapped IPv6
        such as C(::ffff:198.51.100.10), which is looked up as the IPv4 address it carries).
    type: list
    elements: str
    required: true
    aliases: [addresses]
extends_documentation_fragment:
  - v6gate.mx.attributes
  - v6gate.mx.dns
  - v6gate.mx.read_only
notes:
  - Runs on the controller or any host with dnspython; use C(delegate_to=localhost) to audit from the
    controller.
seealso:
  - module: v6gate.mx.ipv6_sender_readiness_info
"""

EXAMPLES = r"""
- name: Check reverse DNS of the outbound relays
  v6gate.mx.reverse_dns_info:
    address:
      - 2001:db8:25::10
      - 198.51.100.10
  delegate_to: localhost
  register: rdns

- name: Ask a specific nameserver on a non-standard port
  v6gate.mx.reverse_dns_info:
    address: "{{ ansible_all_ipv6_addresses }}"
    nameservers: ["[2001:db8::53]:5353"]
    timeout: 2
  delegate_to: localhost
"""

RETURN = r"""
status:
  description: Status of the address when exactly one was given.
  returned: when one address was given
  type: str
  sample: pass
results:
  description: One entry per address, in input order.
  returned: always
  type: list
  elements: dict
  contains:
    input: {description: The address as given., type: str}
    address:
      description: Normalised address (IPv4-mapped shown as IPv4).
      type: str
      sample: "2001:db8:25::10"
    family: {description: C(ipv4) or C(ipv6)., type: str}
    reverse_name: {description: The ip6.arpa or in-addr.arpa name asked., type: str}
    ptr_outcome: {description: "answer, nxdomain, nodata, servfail or timeout.", type: str}
    ptr_names: {description: PTR target names., type: list, elements: str, sample: ["mail.example.com"]}
    forward:
      description: Per PTR name, the forward lookup and whether it holds the address.
      type: list
      elements: dict
      sample:
        - {name: mail.example.com, type: AAAA, outcome: answer, addresses: ["2001:db8:25::10"],
           confirmed: true}
    confirmed_names: {description: PTR names that forward-confirm., type: list, elements: str}
    status: {description: "pass, missing, mismatch or temperror.", type: str}
    detail:
      description: What the PTR lookup said beyond its outcome (for example the server that failed).
      type: str
    warnings:
      description: Findings about the reverse DNS, such as more PTR names than are resolved back.
      type: list
      elements: str
summary:
  description: Number of addresses per status.
  returned: always
  type: dict
  sample: {pass: 2, missing: 1, mismatch: 0, temperror: 0}
dns:
  description: Nameservers used, queries sent and cache hits.
  returned: always
  type: dict
"""

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.v6gate.mx.plugins.module_utils.addresses import parse_addresses
from ansible_collections.v6gate.mx.plugins.module_utils.audit_module import (
    DNS_ARGUMENT_SPEC,
    client_from_module,
    require_libraries,
)
from ansible_collections.v6gate.mx.plugins.module_utils.iprev import check_reverse

STATUSES = ("pass", "missing", "mismatch", "temperror")


def main():
    module = AnsibleModule(
        argument_spec={
            "address": {"type": "list", "elements": "str", "required": True, "aliases": ["addresses"]},
            **DNS_ARGUMENT_SPEC,
        },
        supports_check_mode=True,
    )
    require_libraries(module)
    texts = module.params["address"]
    if not texts:
        module.fail_json(msg="address must name at least one IP address")
    try:
        parse_addresses(texts)
    except ValueError as error:
        module.fail_json(msg=str(error))
    client = client_from_module(module)
    results = client.map(lambda text: check_reverse(client, text), texts)
    summary = {status: sum(1 for r in results if r["status"] == status) for status in STATUSES}
    output = {"changed": False, "results": results, "summary": summary, "dns": client.stats()}
    if len(results) == 1:
        output["status"] = results[0]["status"]
    module.exit_json(**output)


if __name__ == "__main__":
    main()
