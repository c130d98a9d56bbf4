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
  receivers:
    description:
      - Receiver profiles to predict, besides the gate's own rules (RV(rows[].reply)); each answers in
        RV(rows[].receivers) and RV(receivers), in the order given. C(exchange_online) (inbound IPv6, the
        gate's rules), C(gmail) (IPv6 sender rule, DMARC enforcement, bulk-sender rules), C(outlook_com)
        (high-volume senders) and C(yahoo). Each rule's reply text is the one the receiver publishes (or,
        marked C(third-party), the one quoted from its bounces); where it publishes none the verdict is
        C(unknown) with the rule.
      - Empty for none (then no DMARC lookups and no public suffix list are needed).
    type: list
    elements: str
    choices: [exchange_online, gmail, outlook_com, yahoo]
    default: [exchange_online, gmail, outlook_com, yahoo]
  from_domain:
    description:
      - The From header domain of the mail, for DMARC and the receivers' alignment rules. By default each
        MAIL FROM domain (or the HELO name) is its own From domain.
    type: str
  bulk_sender:
    description:
      - The host sends in bulk (Gmail and Outlook.com count 5,000 or more messages a day to their users), so
        the receivers' bulk-sender rules apply too.
    type: bool
    default: false
  ipv4_available:
    description:
      - The host can also send over IPv4. A temporary (4xx) reply over IPv6 then makes a dual-stack sender
        try the receiver over IPv4 next (RV(rows[].receivers) C(retry_over_ipv4)).
    type: bool
    default: false
extends_documentation_fragment:
  - v6gate.mx.attributes
  - v6gate.mx.dns
  - v6gate.mx.public_suffix
  - v6gate.mx.read_only
seealso:
  - module: v6gate.mx.reverse_dns_info
  - module: v6gate.mx.spf_check_info
  - module: v6gate.mx.dkim_record_info
  - module: v6gate.mx.dmarc_info
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
    from_domain: {description: The From domain judged for DMARC (with O(receivers))., type: str}
    dmarc:
      description: The From domain's DMARC (with O(receivers)).
      type: dict
      contains:
        status: {description: "policy, none, invalid or temperror.", type: str}
        applied_policy: {description: "The policy for the From domain (null without one).", type: str}
        result: {description: "DMARC result for this row: pass, fail, none or temperror.", type: str}
    receivers:
      description: Per receiver profile (O(receivers), in that order), its predicted answer.
      type: list
      elements: dict
      contains:
        receiver: {description: The profile's name., type: str}
        title: {description: The receiver's name for people., type: str, sample: Outlook.com}
        verdict:
          description: "accept, tempfail, reject, or unknown (no published reply, or DNS failed)."
          type: str
        rule: {description: The receiver's rule that answered (empty when accepted)., type: str}
        reply: {description: "The predicted reply line, exactly as published (empty without one).", type: str}
        code: {description: The SMTP code (null without a reply)., type: int}
        status: {description: The enhanced status code., type: str}
        text_published: {description: The receiver publishes a reply for the rule., type: bool}
        text_source:
          description: "C(receiver) (its own page) or C(third-party) (only quoted from bounces by others)."
          type: str
        stage: {description: "SMTP stage of the reply: connect, rcpt or data (end of DATA).", type: str}
        source: {description: URL of the rule., type: str}
        also: {description: Other replies it publishes for the same rule., type: list, elements: str}
        reasons: {description: "Which conditions held, and notes.", type: list, elements: str}
        unknown_rules:
          description:
            - Rules before the answering one that hold without a published reply, or need a failed lookup.
            - The receiver may answer with one of them first.
          type: list
          elements: str
        notes: {description: "The profile's notes (what it does not predict).", type: list, elements: str}
        retry_over_ipv4:
          description: The reply is temporary and O(ipv4_available), so the sender tries IPv4 next.
          type: bool
receivers:
  description: Per receiver profile, the worst verdict over all rows and its distinct replies.
  returned: when O(receivers) is not empty
  type: list
  elements: dict
  contains:
    receiver: {description: The profile's name., type: str, sample: gmail}
    verdict: {description: "accept, tempfail, reject or unknown.", type: str}
    replies: {description: Distinct predicted replies., type: list, elements: str}
    summary:
      description: "One line: the receiver, its verdict and, unless it accepts, the replies or rules behind."
      type: str
      sample: "Gmail: reject - 550 5.7.1 This message does not meet IPv6 sending ... (ipv6-guidelines)"
dmarc:
  description: Full dmarc_info results per From domain (with O(receivers)).
  returned: always
  type: list
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
from ansible_collections.v6gate.mx.plugins.module_utils.dmarc import PUBLIC_SUFFIX_LIST, PublicSuffixList
from ansible_collections.v6gate.mx.plugins.module_utils.readiness import assess_sender

RECEIVERS = ["exchange_online", "gmail", "outlook_com", "yahoo"]


def main():
    module = AnsibleModule(
        argument_spec={
            "addresses": {"type": "list", "elements": "str", "required": True},
            "helo": {"type": "str"},
            "mail_from_domains": {"type": "list", "elements": "str", "default": []},
            "dkim_selectors": {"type": "list", "elements": "str", "default": []},
            "dkim_domains": {"type": "list", "elements": "str"},
            "ptr_policy": {"type": "str", "choices": ["exists", "fcrdns"], "default": "exists"},
            "receivers": {"type": "list", "elements": "str", "choices": RECEIVERS, "default": RECEIVERS},
            "from_domain": {"type": "str"},
            "bulk_sender": {"type": "bool", "default": False},
            "ipv4_available": {"type": "bool", "default": False},
            "public_suffix_list": {"type": "path", "default": PUBLIC_SUFFIX_LIST},
            **DNS_ARGUMENT_SPEC,
        },
        required_one_of=[("helo", "mail_from_domains")],
        supports_check_mode=True,
    )
    require_libraries(module, need_spf=True, need_crypto=True)
    params = module.params
    if not params["addresses"]:
        module.fail_json(msg="addresses must name at least one IPv6 address")
    receivers = list(dict.fromkeys(params["receivers"]))
    try:
        psl = PublicSuffixList.from_file(params["public_suffix_list"]) if receivers else None
    except ValueError as error:
        module.fail_json(msg=f"{error}; or set receivers: [] to predict the gate's rules only")
    client = client_from_module(module)
    try:
        report = assess_sender(client, params["addresses"], params["helo"], params["mail_from_domains"],
                               params["dkim_selectors"], params["ptr_policy"], params["dkim_domains"],
                               receivers=receivers, psl=psl, from_domain=params["from_domain"],
                               bulk=params["bulk_sender"], ipv4_available=params["ipv4_available"])
    except ValueError as error:
        module.fail_json(msg=str(error))
    module.exit_json(changed=False, dns=client.stats(), **report)


if __name__ == "__main__":
    main()
