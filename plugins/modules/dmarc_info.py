#!/usr/bin/python
# Copyright: v6gate developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

DOCUMENTATION = r"""
---
module: dmarc_info
short_description: Find a domain's DMARC policy and predict the DMARC result of its mail
version_added: 0.2.0
description:
  - Discovers the DMARC policy (RFC 7489 section 6.6.3) of a domain used in the From header field, as a
    receiver does; the record at C(_dmarc.<domain>) or, when there is none, at C(_dmarc.<organizational
    domain>), whose C(sp=) then applies. The organizational domain comes from the Public Suffix List
    (RFC 7489 section 3.2).
  - Status C(policy) (one usable record), C(none) (no record), C(invalid) (several records, or a record
    receivers discard, such as one with a bad C(p=) and no report address; they apply no DMARC) or
    C(temperror) (SERVFAIL or timeout; the policy is unknown, and a failing From domain never falls back to
    its organizational domain's record).
  - Bad values of the other tags, and malformed tags, fall back to their defaults and are listed in
    RV(warnings); unknown tags are ignored, as the RFC asks. A tag given twice makes the record invalid.
  - With I(spf_domain) and I(dkim_domains), the identifiers that passed SPF and DKIM, it tells whether they
    align with the From domain (relaxed or strict, by C(aspf=) and C(adkim=)), the DMARC result, and what
    the policy asks a receiver to do with mail that fails.
  - Read-only.
author: v6gate developers (!UNKNOWN)
requirements:
  - dnspython >= 2.0
  - The Public Suffix List (Debian's C(publicsuffix) package) where the module runs.
options:
  domain:
    description: The From domain (the RFC 5322 From header field's domain).
    type: str
    required: true
  spf_domain:
    description:
      - The domain SPF passed for (the MAIL FROM domain, or the HELO name for an empty MAIL FROM). Leave it
        out when SPF did not pass.
    type: str
    default: ""
  dkim_domains:
    description: The C(d=) domains of the DKIM signatures that verified.
    type: list
    elements: str
    default: []
extends_documentation_fragment:
  - v6gate.mx.attributes
  - v6gate.mx.dns
  - v6gate.mx.public_suffix
  - v6gate.mx.read_only
"""

EXAMPLES = r"""
- name: Read the policy of our domain
  v6gate.mx.dmarc_info:
    domain: example.com
  delegate_to: localhost
  register: dmarc

- name: Would mail signed by our ESP but sent with its bounce domain pass DMARC?
  v6gate.mx.dmarc_info:
    domain: example.com
    spf_domain: bounces.esp.example
    dkim_domains: [example.com]
  delegate_to: localhost
  register: esp

- name: Mail must pass by DKIM alone
  ansible.builtin.assert:
    that: esp.result == 'pass' and esp.alignment.dkim.aligned
"""

RETURN = r"""
domain:
  description: The From domain as a lower-case A-label.
  returned: always
  type: str
  sample: mail.example.com
organizational_domain:
  description: Its organizational domain (RFC 7489 section 3.2).
  returned: always
  type: str
  sample: example.com
status:
  description: "C(policy), C(none), C(invalid) or C(temperror)."
  returned: always
  type: str
  sample: policy
found_at:
  description: The name whose record applies (null when none does).
  returned: always
  type: str
  sample: _dmarc.example.com
record: {description: The DMARC record with its strings joined (null when none)., returned: always, type: str}
policy:
  description: The record's tags with RFC 7489's defaults filled in (null unless RV(status) is C(policy)).
  returned: always
  type: dict
  contains:
    p: {description: Policy of the domain., type: str, sample: reject}
    sp: {description: Policy of its subdomains (C(p=) when not given)., type: str}
    adkim: {description: "DKIM alignment, C(r) relaxed or C(s) strict.", type: str}
    aspf: {description: "SPF alignment, C(r) or C(s).", type: str}
    pct: {description: Percentage of failing mail the policy applies to., type: int}
    rua: {description: Aggregate report addresses., type: list, elements: str}
    ruf: {description: Failure report addresses., type: list, elements: str}
    fo: {description: Failure reporting options., type: list, elements: str}
    ri: {description: Aggregate report interval in seconds., type: int}
applied_policy:
  description: The policy for mail from RV(domain), C(sp=) when the record is the organizational domain's.
  returned: always
  type: str
  sample: reject
subdomain_policy_applies:
  description: The record came from the organizational domain, so its C(sp=) applies.
  returned: always
  type: bool
errors: {description: Why a record is unusable or unknown., returned: always, type: list, elements: str}
warnings:
  description: Values that fell back to their defaults, ignored tags.
  returned: always
  type: list
  elements: str
lookups:
  description: The TXT lookups in order, with outcome (answer, nxdomain, nodata, servfail or timeout).
  returned: always
  type: list
  elements: dict
  contains:
    name: {description: The name asked., type: str}
    outcome: {description: The outcome., type: str}
    detail: {description: Detail of a failure., type: str}
result:
  description:
    - The DMARC result for mail with the given SPF and DKIM identifiers, C(pass), C(fail), C(none) (no
      usable policy) or C(temperror).
  returned: always
  type: str
  sample: pass
disposition:
  description: What the policy asks for mail that fails (C(none), C(quarantine), C(reject)); C(none) on pass.
  returned: always
  type: str
disposition_otherwise:
  description:
    - With C(pct) below 100, what it asks for the failing mail outside the percentage (the next weaker
      policy); the same as RV(disposition) otherwise.
  returned: always
  type: str
alignment:
  description: Whether each identifier aligns with the From domain.
  returned: always
  type: dict
  contains:
    spf:
      description: The SPF identifier.
      type: dict
      contains:
        domain: {description: "I(spf_domain), or null.", type: str}
        aligned: {description: It aligns., type: bool}
        mode: {description: C(relaxed) or C(strict)., type: str}
    dkim:
      description: The DKIM identifiers.
      type: dict
      contains:
        signatures:
          description: One entry per I(dkim_domains) item.
          type: list
          elements: dict
          contains:
            domain: {description: The C(d=) domain., type: str}
            aligned: {description: It aligns., type: bool}
        aligned: {description: At least one aligns., type: bool}
        mode: {description: C(relaxed) or C(strict)., type: str}
dns: {description: "Nameservers used, queries sent and cache hits.", returned: always, type: dict}
"""

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.v6gate.mx.plugins.module_utils.addresses import is_dns_name
from ansible_collections.v6gate.mx.plugins.module_utils.audit_module import (
    DNS_ARGUMENT_SPEC,
    client_from_module,
    require_libraries,
)
from ansible_collections.v6gate.mx.plugins.module_utils.dmarc import (
    PUBLIC_SUFFIX_LIST,
    PublicSuffixList,
    discover_policy,
    evaluate,
)


def main():
    module = AnsibleModule(
        argument_spec={
            "domain": {"type": "str", "required": True},
            "spf_domain": {"type": "str", "default": ""},
            "dkim_domains": {"type": "list", "elements": "str", "default": []},
            "public_suffix_list": {"type": "path", "default": PUBLIC_SUFFIX_LIST},
            **DNS_ARGUMENT_SPEC,
        },
        supports_check_mode=True,
    )
    require_libraries(module)
    params = module.params
    names = {"domain": [params["domain"]], "spf_domain": [params["spf_domain"]][:bool(params["spf_domain"])],
             "dkim_domains": params["dkim_domains"]}
    for option, values in names.items():
        bad = [repr(value) for value in values if not is_dns_name(value.strip(), fqdn=True)]
        if bad:
            module.fail_json(msg=f"{option}: not a valid domain name: {', '.join(bad)}")
    try:
        psl = PublicSuffixList.from_file(params["public_suffix_list"])
    except ValueError as error:
        module.fail_json(msg=str(error))
    client = client_from_module(module)
    policy = discover_policy(client, params["domain"].strip(), psl)
    verdict = evaluate(policy, psl, params["spf_domain"].strip(), [d.strip() for d in params["dkim_domains"]])
    alignment = {"spf": verdict.pop("spf"), "dkim": verdict.pop("dkim")}
    module.exit_json(changed=False, **policy, **verdict, alignment=alignment, dns=client.stats())


if __name__ == "__main__":
    main()
