#!/usr/bin/python
# Copyright: v6gate developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

DOCUMENTATION = r"""
---
module: ipv6_sender_readiness_info
short_description: Predict how an Exchange Online-style receiver answers a sending host over IPv6
version_added: 0.1.0
description:
  - For a sending host (its IPv6 addresses, HELO name, MAIL FROM domains and DKIM selectors), looks up
    reverse DNS, SPF and DKIM keys and predicts, per address and MAIL FROM domain, the exact reply an
    Exchange Online-style receiver (and the v6gate milter) gives to anonymous mail over IPv6, such as
    C(450 4.7.25 Service unavailable, sending IPv6 address [2001:db8:25::13] must have reverse DNS record.)
    or C(450 4.7.26 ...), or acceptance, with the reasons.
  - Uses the gate's own rule module (C(ipv6_rules)), so the audit and the MX never disagree.
  - DKIM counts as passing when a usable key (valid, not revoked, RSA of at least 1024 bits or Ed25519) is
    published for a declared selector; whether the host really signs cannot be seen from DNS.
  - Read-only.
author: v6gate developers (!UNKNOWN)
requirements:
  - dnspython >= 2.0
  - pyspf >= 2.0.14
  - cryptography
options:
  addresses:
    description: The host's IPv6 sending addresses. IPv4 addresses are refused (IPv4 mail is never gated).
    type: list
    elements: str
    required: true
  helo:
    description: The host's HELO/EHLO name.
    type: str
  mail_from_domains:
    description:
      - Envelope sender domains the host sends for. SPF is evaluated for each.
      - When empty, the HELO identity is evaluated instead (as for bounces with an empty MAIL FROM).
    type: list
    elements: str
    default: []
  dkim_selectors:
    description: DKIM selectors the host signs with; looked up under each domain in O(dkim_domains).
    type: list
    elements: str
    default: []
  dkim_domains:
    description:
      - Signing domains (C(d=)). By default each MAIL FROM domain signs as itself and only its own keys count.
      - When given, the host signs all mail with these domains, and a usable key under any of them counts.
    type: list
    elements: str
  ptr_policy:
    description:
      - C(exists) (Exchange Online) requires any PTR record; C(fcrdns) also requires forward confirmation.
    type: str
    choices: [exists, fcrdns]
    default: exists
extends_documentation_fragment:
  - v6gate.mx.attributes
  - v6gate.mx.dns
  - v6gate.mx.read_only
seealso:
  - module: v6gate.mx.reverse_dns_info
  - module: v6gate.mx.spf_check_info
  - module: v6gate.mx.dkim_record_info
"""

EXAMPLES = r"""
- name: Would Exchange Online accept our relay over IPv6?
  v6gate.mx.ipv6_sender_readiness_info:
    addresses: [2001:db8:25::10]
    helo: mail.example.com
    mail_from_domains: [example.com]
    dkim_selectors: [sel2048]
  delegate_to: localhost
  register: readiness

- name: Show the predicted replies
  ansible.builtin.debug:
    msg: "{{ readiness.rows | map(attribute='reply') | select | list }}"
"""

RETURN = r"""
accepted: {description: True when every address and domain would be accepted., returned: always, type: bool}
verdict:
  description: Worst outcome over all rows, C(accept), C(tempfail) (4xx) or C(reject) (5xx).
  returned: always
  type: str
replies:
  description: The distinct predicted non-accepting replies, exactly as a client would see them.
  returned: always
  type: list
  elements: str
  sample:
    - "450 4.7.25 Service unavailable, sending IPv6 address [2001:db8:25::13] must have reverse DNS
      record."
rows:
  description: One entry per address and MAIL FROM domain.
  returned: always
  type: list
  elements: dict
  contains:
    address: {description: IPv6 address., type: str}
    mail_from_domain: {description: Domain evaluated., type: str}
    identity:
      description: "SPF identity checked: C(mailfrom), or C(helo) without MAIL FROM domains."
      type: str
    verdict: {description: "accept, tempfail or reject.", type: str}
    accepted: {description: Whether the message would be accepted., type: bool}
    reply: {description: "The predicted reply line, empty when accepted.", type: str}
    reply_code: {description: SMTP code (250 when accepted)., type: int}
    reply_status: {description: Enhanced status code such as C(4.7.25)., type: str}
    rule: {description: "Gate rule that answered: reverse-dns, spf-dkim or dns-temporary.", type: str}
    reverse_dns: {description: "pass, missing, mismatch or temperror (forward-confirmed).", type: str}
    ptr_names: {description: PTR names of the address., type: list, elements: str}
    spf: {description: pyspf result., type: str}
    spf_dual_stack: {description: Result with dual-stack void counting., type: str}
    dkim: {description: C(pass) when a usable key is published., type: str}
    dkim_selectors_usable:
      description: "C(<selector>._domainkey.<domain>) names with a usable key."
      type: list
      elements: str
    reasons: {description: "Human-readable reasons, one per check.", type: list, elements: str}
reverse_dns: {description: Full reverse_dns_info results per address., returned: always, type: list}
spf: {description: Full spf_check_info results per address and domain., returned: always, type: list}
dkim: {description: Full dkim_record_info results per selector and domain., returned: always, type: list}
dns: {description: "Nameservers used, queries sent and cache hits.", returned: always, type: dict}
"""

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.v6gate.mx.plugins.module_utils.audit_module import (
    DNS_ARGUMENT_SPEC,
    client_from_module,
    require_libraries,
)
from ansible_collections.v6gate.mx.plugins.module_utils.readiness import (
    VERDICT_ACCEPT,
    VERDICT_REJECT,
    VERDICT_TEMPFAIL,
    assess_sender,
)

_SEVERITY = (VERDICT_ACCEPT, VERDICT_TEMPFAIL, VERDICT_REJECT)


def main():
    module = AnsibleModule(
        argument_spec={
            "addresses": {"type": "list", "elements": "str", "required": True},
            "helo": {"type": "str"},
            "mail_from_domains": {"type": "list", "elements": "str", "default": []},
            "dkim_selectors": {"type": "list", "elements": "str", "default": []},
            "dkim_domains": {"type": "list", "elements": "str"},
            "ptr_policy": {"type": "str", "choices": ["exists", "fcrdns"], "default": "exists"},
            **DNS_ARGUMENT_SPEC,
        },
        required_one_of=[("helo", "mail_from_domains")],
        supports_check_mode=True,
    )
    require_libraries(module, need_spf=True, need_crypto=True)
    params = module.params
    if not params["addresses"]:
        module.fail_json(msg="addresses must name at least one IPv6 address")
    client = client_from_module(module)
    try:
        report = assess_sender(client, params["addresses"], params["helo"], params["mail_from_domains"],
                               params["dkim_selectors"], params["ptr_policy"], params["dkim_domains"])
    except ValueError as error:
        module.fail_json(msg=str(error))
    verdict = max((row["verdict"] for row in report["rows"]), key=_SEVERITY.index)
    replies = list(dict.fromkeys(row["reply"] for row in report["rows"] if row["reply"]))
    module.exit_json(changed=False, verdict=verdict, replies=replies, dns=client.stats(), **report)


if __name__ == "__main__":
    main()
