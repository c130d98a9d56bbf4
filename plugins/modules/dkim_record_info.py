#!/usr/bin/python
# Copyright: v6gate developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

DOCUMENTATION = r"""
---
module: dkim_record_info
short_description: Check published DKIM key records
version_added: 0.1.0
description:
  - Looks up C(<selector>._domainkey.<domain>) TXT for each selector and parses the key record (RFC 6376),
    whether a key is present, its type (C(rsa), C(ed25519)) and size, whether it is revoked (empty C(p=)),
    the testing flag C(t=y), and parse errors. TXT records split into several strings are joined.
  - Status C(valid), C(weak) (RSA of 1024 to 2047 bits; verifiers accept it, but RFC 8301 asks signers for
    2048, so it is usable with a warning), C(too_short) (RSA shorter than 1024 bits, refused by verifiers per
    RFC 8301), C(revoked), C(invalid), C(missing) (NXDOMAIN or no TXT record) or C(temperror) (SERVFAIL or
    timeout).
  - Read-only.
author: v6gate developers (!UNKNOWN)
requirements:
  - dnspython >= 2.0
  - cryptography
options:
  selector:
    description: DKIM selectors to check.
    type: list
    elements: str
    required: true
    aliases: [selectors]
  domain:
    description: Signing domain (the C(d=) of the signatures).
    type: str
    required: true
extends_documentation_fragment:
  - v6gate.mx.attributes
  - v6gate.mx.dns
  - v6gate.mx.read_only
"""

EXAMPLES = r"""
- name: Check the current and the next DKIM key
  v6gate.mx.dkim_record_info:
    selector: [s2026a, s2026b]
    domain: example.com
  delegate_to: localhost
  register: dkim

- name: Every key must be usable
  ansible.builtin.assert:
    that: dkim.results | rejectattr('usable') | list | length == 0
"""

RETURN = r"""
status:
  description: Status when one selector was given.
  returned: when one selector was given
  type: str
  sample: valid
results:
  description: One entry per selector.
  returned: always
  type: list
  elements: dict
  contains:
    selector: {description: The selector as given., type: str, sample: sel2048}
    domain: {description: The signing domain as given., type: str, sample: example.com}
    name: {description: The name looked up., type: str, sample: sel2048._domainkey.example.com}
    lookup:
      description: "DNS outcome of the TXT lookup: answer, nxdomain, nodata, servfail or timeout."
      type: str
    hash_algorithms:
      description: "C(h=) hash algorithms the key allows; empty means any."
      type: list
      elements: str
    status: {description: "valid, weak, too_short, revoked, invalid, missing or temperror.", type: str}
    usable: {description: True when a verifier would accept signatures made with this key., type: bool}
    key_present: {description: A parseable public key is published., type: bool}
    key_type: {description: "C(k=) value, C(rsa) by default.", type: str}
    key_bits: {description: Key size in bits (256 for Ed25519)., type: int}
    revoked: {description: C(p=) is empty., type: bool}
    testing: {description: C(t=y) is set., type: bool}
    flags: {description: C(t=) flags., type: list, elements: str}
    record: {description: The TXT record with its strings joined., type: str}
    txt_strings: {description: The TXT record's character-strings as published., type: list, elements: str}
    errors: {description: Parse errors., type: list, elements: str}
    warnings: {description: Findings that do not make the key invalid., type: list, elements: str}
dns: {description: "Nameservers used, queries sent and cache hits.", returned: always, type: dict}
"""

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.v6gate.mx.plugins.module_utils.addresses import is_dns_name
from ansible_collections.v6gate.mx.plugins.module_utils.audit_module import (
    DNS_ARGUMENT_SPEC,
    client_from_module,
    require_libraries,
)
from ansible_collections.v6gate.mx.plugins.module_utils.dkim_keys import check_dkim


def main():
    module = AnsibleModule(
        argument_spec={
            "selector": {"type": "list", "elements": "str", "required": True, "aliases": ["selectors"]},
            "domain": {"type": "str", "required": True},
            **DNS_ARGUMENT_SPEC,
        },
        supports_check_mode=True,
    )
    require_libraries(module, need_crypto=True)
    selectors, domain = module.params["selector"], module.params["domain"].strip()
    if not selectors:
        module.fail_json(msg="selector must name at least one DKIM selector")
    bad = [repr(s) for s in selectors if not is_dns_name(s)]
    if bad:
        module.fail_json(msg=f"not a valid DKIM selector: {', '.join(bad)}")
    if not is_dns_name(domain, fqdn=True):
        module.fail_json(msg=f"not a valid domain name: {domain!r}")
    client = client_from_module(module)
    results = client.map(lambda selector: check_dkim(client, selector, domain), selectors)
    output = {"changed": False, "results": results, "dns": client.stats()}
    if len(results) == 1:
        output["status"] = results[0]["status"]
    module.exit_json(**output)


if __name__ == "__main__":
    main()
