#!/usr/bin/python
# Copyright: v6gate developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

DOCUMENTATION = r"""
---
module: spf_check_info
short_description: Evaluate SPF for sender addresses with pyspf and lint the record
version_added: 0.1.0
description:
  - Evaluates SPF (RFC 7208) with pyspf, as policyd-spf does, for each sender address and the MAIL FROM
    (or HELO) identity, and reports the result, the explanation, the record, the DNS-mechanism lookup count
    of the whole record tree and the void-lookup count.
  - For IPv6 senders it also evaluates with dual-stack void counting, where an empty AAAA answer for a
    name that has an A record is not void; pyspf counts it as void, so the two can disagree (for example
    C(permerror) versus C(pass)) and both are reported.
  - Warns about more than 10 DNS lookups, the C(ptr) mechanism, C(+all), a missing record and several records.
  - Evaluates with the same code the C(v6gate.mx) gate milter runs for a live message
    (C(plugins/module_utils/spf_eval.py)), so the result is the one the gate would reach.
  - An identity RFC 7208 section 4.3 makes C(none) without any lookup (an over-long or empty label, an address
    literal, a HELO that is not a fully qualified name) is evaluated, not refused; the result is C(none) and a
    warning names the reason. A O(mail_from) ending in C(@) has no domain at all and fails the task.
  - Read-only.
author: v6gate developers (!UNKNOWN)
requirements:
  - dnspython >= 2.0
  - pyspf >= 2.0.14
options:
  address:
    description: Sender (SMTP client) addresses, IPv4 or IPv6, any textual form.
    type: list
    elements: str
    required: true
    aliases: [addresses]
  mail_from:
    description:
      - MAIL FROM address (C(user@example.com)) or domain (checked as C(postmaster@domain)).
      - When omitted, the HELO identity is checked (the null sender, as for bounces).
      - C(user@) with nothing after the C(@) is refused with a clear message.
    type: str
  helo:
    description: HELO/EHLO name of the sender; used for the HELO identity and the C(%{h}) macro.
    type: str
extends_documentation_fragment:
  - v6gate.mx.attributes
  - v6gate.mx.dns
  - v6gate.mx.read_only
seealso:
  - module: v6gate.mx.ipv6_sender_readiness_info
"""

EXAMPLES = r"""
- name: Would example.com's IPv6 relay pass SPF?
  v6gate.mx.spf_check_info:
    address: 2001:db8:25::10
    mail_from: bounces@example.com
    helo: mail.example.com
  delegate_to: localhost
  register: spf

- name: Fail the play when the record needs too many lookups
  ansible.builtin.assert:
    that: spf.lookup_count <= 10
    fail_msg: "{{ spf.warnings }}"
"""

RETURN = r"""
result:
  description: "pyspf result for the single address: pass, fail, softfail, neutral, none, permerror or
    temperror."
  returned: when one address was given
  type: str
  sample: pass
explanation:
  description: pyspf's explanation for the single address.
  returned: when one address was given
  type: str
record: {description: The SPF record (strings joined)., returned: when one address was given, type: str}
lookup_count:
  description: DNS-querying terms (include, a, mx, ptr, exists, redirect) in the whole record tree.
  returned: when one address was given
  type: int
void_lookup_count: {description: Void lookups pyspf counted., returned: when one address was given, type: int}
result_dual_stack:
  description: The result when an empty AAAA of a name with an A record is not counted as void.
  returned: when one address was given
  type: str
void_lookup_count_dual_stack:
  description: Void lookups when an empty AAAA of a name with an A record is not void.
  returned: when one address was given
  type: int
warnings_found:
  description: Record warnings for the single address.
  returned: when one address was given
  type: list
  elements: str
results:
  description: One entry per address with all of the above plus result_dual_stack, identity and domain.
  returned: always
  type: list
  elements: dict
dns: {description: "Nameservers used, queries sent and cache hits.", returned: always, type: dict}
"""

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.v6gate.mx.plugins.module_utils.addresses import parse_addresses
from ansible_collections.v6gate.mx.plugins.module_utils.audit_module import (
    DNS_ARGUMENT_SPEC,
    client_from_module,
    require_libraries,
)
from ansible_collections.v6gate.mx.plugins.module_utils.spf_eval import check_spf

SINGLE_ADDRESS_KEYS = ("result", "explanation", "record", "lookup_count", "void_lookup_count",
                       "void_lookup_count_dual_stack", "result_dual_stack")


def main():
    module = AnsibleModule(
        argument_spec={
            "address": {"type": "list", "elements": "str", "required": True, "aliases": ["addresses"]},
            "mail_from": {"type": "str"},
            "helo": {"type": "str"},
            **DNS_ARGUMENT_SPEC,
        },
        required_one_of=[("mail_from", "helo")],
        supports_check_mode=True,
    )
    require_libraries(module, need_spf=True)
    texts = module.params["address"]
    if not texts:
        module.fail_json(msg="address must name at least one IP address")
    try:
        addresses = parse_addresses(texts)
    except ValueError as error:
        module.fail_json(msg=str(error))
    mail_from, helo = module.params["mail_from"], module.params["helo"]
    if mail_from and mail_from.strip().strip("<>").strip().endswith("@"):
        module.fail_json(msg=f"mail_from {mail_from!r} has no domain after the @: nothing to check")
    if not (mail_from or "").strip().strip("<>").strip() and not (helo or "").strip():
        module.fail_json(msg="the null sender is checked as the HELO identity: give helo")
    client = client_from_module(module)
    tree_cache = {}
    results = client.map(lambda ip: check_spf(client, ip, mail_from, helo, tree_cache), addresses)
    output = {"changed": False, "results": results, "dns": client.stats()}
    if len(results) == 1:
        output.update({key: results[0][key] for key in SINGLE_ADDRESS_KEYS})
        # "warnings" is reserved by Ansible for its own warnings list; record warnings go to warnings_found
        # and are also shown to the user as Ansible warnings.
        output["warnings_found"] = results[0]["warnings"]
    for warning in dict.fromkeys(w for r in results for w in r["warnings"]):
        module.warn(warning)
    module.exit_json(**output)


if __name__ == "__main__":
    main()
