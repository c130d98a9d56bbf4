#!/usr/bin/python
# Copyright: v6gate developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

DOCUMENTATION = r"""
---
module: ipv6_mx_host
short_description: Publish a domain's own MX host name, with AAAA records only while IPv6 is enabled for it
version_added: 0.2.0
description:
  - Keeps the address records of one accepted domain's MX host name, the way Exchange Online does since
    2024 (C(contoso.example) gets C(contoso-example.mx.example.net) under I(zone)). The host name has A
    records always and AAAA records only while I(ipv6=true), so senders do not even try IPv6 for a domain
    that has IPv6 turned off.
  - Changes are RFC 2136 dynamic updates to the zone's I(primary), signed with a TSIG key. One update
    replaces both record sets, so the name is never seen half changed.
  - Before anything changes, the module proves that the primary serves I(zone) with authority and takes
    updates signed with the key (an update whose prerequisite must fail, so nothing changes). Check mode
    runs this proof too.
  - After the update, the module waits until every server in I(authoritative_servers) answers with the new
    records and with authority, and fails naming the servers that lag after I(propagation_timeout).
  - When AAAA records are withdrawn, resolvers may hand them out for their TTL; with I(wait_ttl=true) the
    module then waits that long before it returns, so a gate turned off afterwards no longer meets senders
    that still try IPv6.
  - Order matters and is the playbook's job (C(playbooks/ipv6_domains.yml)); enabling a domain, the gate
    accepts it first, then this module publishes AAAA; disabling, this module withdraws AAAA first, then
    the gate is set.
author: v6gate developers (!UNKNOWN)
requirements:
  - dnspython >= 2.0
options:
  domain:
    description: The accepted domain whose MX host name is kept (U-labels are turned into A-labels).
    type: str
    required: true
  zone:
    description:
      - The zone the MX host names live in (C(mx.example.net)); the name is the domain with its dots turned
        into hyphens, as the first label under this zone.
    type: str
    required: true
  ipv6:
    description: Whether IPv6 is enabled for the domain, that is whether its MX host name has AAAA records.
    type: bool
    required: true
  ipv4_addresses:
    description: The MX's IPv4 addresses; the A records of the host name.
    type: list
    elements: str
    default: []
  ipv6_addresses:
    description: The MX's IPv6 addresses; the AAAA records while I(ipv6=true). Required then.
    type: list
    elements: str
    default: []
  ttl:
    description: TTL of the records, in seconds. A short TTL makes an opt-out take effect sooner.
    type: int
    default: 300
  primary:
    description:
      - The zone's primary server, which takes the updates, as an IP address with an optional port
        (C(192.0.2.53), C(192.0.2.53@5353), C([2001:db8::53]:5353)).
    type: str
    required: true
  tsig_key_name:
    description: Name of the TSIG key the primary allows to update I(zone).
    type: str
    required: true
  tsig_key_secret:
    description: The key's secret, base64, as in the primary's configuration.
    type: str
    required: true
  tsig_key_algorithm:
    description: The key's HMAC algorithm.
    type: str
    default: hmac-sha256
    choices: [hmac-sha256, hmac-sha384, hmac-sha512, hmac-sha224, hmac-sha1]
  authoritative_servers:
    description:
      - Every server that answers for I(zone), in the form of I(primary). A change counts as done only when
        all of them serve it.
      - Empty means the primary and the zone's NS records as the primary serves them, each resolved by the
        host's resolver, on port 53.
    type: list
    elements: str
    default: []
  propagation_timeout:
    description: Seconds to wait for every authoritative server to serve the change.
    type: float
    default: 60
  wait_ttl:
    description:
      - After withdrawing AAAA records, wait their old TTL before returning (see C(ttl_wait)).
      - The wait covers a withdrawal made in this run. A run that withdrew them and was interrupted
        cannot be known afterwards; wait the TTL by hand before turning the gate off then.
    type: bool
    default: true
  timeout:
    description: Seconds to wait for one answer from a server.
    type: float
    default: 5
extends_documentation_fragment:
  - v6gate.mx.attributes
attributes:
  check_mode:
    support: full
    details: Proves reachability, authority and update rights, reads the records; changes nothing.
  diff_mode:
    support: full
    details: Shows the host name's A and AAAA records before and after.
seealso:
  - module: v6gate.mx.ipv6_optin
  - name: RFC 2136, Dynamic Updates in the Domain Name System
    description: The update protocol.
    link: https://www.rfc-editor.org/rfc/rfc2136
"""

EXAMPLES = r"""
- name: Publish contoso.example's MX host name with IPv6
  v6gate.mx.ipv6_mx_host:
    domain: contoso.example
    zone: mx.example.net
    ipv6: true
    ipv4_addresses: [198.51.100.25]
    ipv6_addresses: ["2001:db8:25::25"]
    primary: 2001:db8:53::1
    tsig_key_name: v6gate-update
    tsig_key_secret: "{{ vault_v6gate_tsig_secret }}"
  delegate_to: localhost
  register: mx_host

- name: Tell the domain's admin what to publish
  ansible.builtin.debug:
    msg: "{{ mx_host.mx_record }}"

- name: Withdraw its AAAA (IPv6 off), confirm on every server and wait out the TTL
  v6gate.mx.ipv6_mx_host:
    domain: contoso.example
    zone: mx.example.net
    ipv6: false
    ipv4_addresses: [198.51.100.25]
    primary: 2001:db8:53::1
    authoritative_servers: ["2001:db8:53::1", "2001:db8:53::2"]
    tsig_key_name: v6gate-update
    tsig_key_secret: "{{ vault_v6gate_tsig_secret }}"
  delegate_to: localhost
"""

RETURN = r"""
domain:
  description: The domain, as a lower-case A-label.
  returned: always
  type: str
  sample: contoso.example
mx_host:
  description: The domain's MX host name.
  returned: always
  type: str
  sample: contoso-example.mx.example.net
mx_record:
  description: The MX record the domain should publish, in zone file form.
  returned: always
  type: str
  sample: "contoso.example. IN MX 10 contoso-example.mx.example.net."
ipv6:
  description: Whether the host name has AAAA records after the run.
  returned: always
  type: bool
before:
  description: The host name's records on the primary before the run.
  returned: always
  type: dict
  sample: {A: ["198.51.100.25"], AAAA: []}
after:
  description: The records after the run (or that it would write, in check mode).
  returned: always
  type: dict
  sample: {A: ["198.51.100.25"], AAAA: ["2001:db8:25::25"]}
servers:
  description:
    - Per authoritative server, what it served when last asked (C(served)), whether that was the change
      (C(in_sync)), after how many seconds (C(seconds)) and any error. Empty in check mode.
  returned: always
  type: dict
ttl_wait:
  description: Seconds resolvers may still hand out the AAAA records withdrawn in this run (their old TTL).
  returned: always
  type: int
waited:
  description: Seconds the module waited for I(ttl_wait) (0 with I(wait_ttl=false)).
  returned: always
  type: float
"""

import time

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.v6gate.mx.plugins.module_utils.audit_module import require_libraries
from ansible_collections.v6gate.mx.plugins.module_utils.dns_client import parse_nameserver
from ansible_collections.v6gate.mx.plugins.module_utils.dns_update import (
    TSIG_ALGORITHMS,
    TsigKey,
    UpdateError,
    ZoneUpdater,
    publish,
    wanted_records,
    zone_nameservers,
)


def main():
    module = AnsibleModule(
        argument_spec={
            "domain": {"type": "str", "required": True},
            "zone": {"type": "str", "required": True},
            "ipv6": {"type": "bool", "required": True},
            "ipv4_addresses": {"type": "list", "elements": "str", "default": []},
            "ipv6_addresses": {"type": "list", "elements": "str", "default": []},
            "ttl": {"type": "int", "default": 300},
            "primary": {"type": "str", "required": True},
            "tsig_key_name": {"type": "str", "required": True},
            "tsig_key_secret": {"type": "str", "required": True, "no_log": True},
            "tsig_key_algorithm": {"type": "str", "default": "hmac-sha256", "choices": list(TSIG_ALGORITHMS)},
            "authoritative_servers": {"type": "list", "elements": "str", "default": []},
            "propagation_timeout": {"type": "float", "default": 60.0},
            "wait_ttl": {"type": "bool", "default": True},
            "timeout": {"type": "float", "default": 5.0},
        },
        supports_check_mode=True,
    )
    require_libraries(module)
    params = module.params
    if not 1 <= params["ttl"] <= 86400:
        module.fail_json(msg=f"ttl must be between 1 and 86400 seconds, got {params['ttl']}")
    for option in ("timeout", "propagation_timeout"):
        if params[option] <= 0:
            module.fail_json(msg=f"{option} must be greater than 0, got {params[option]}")
    key = TsigKey(params["tsig_key_name"], params["tsig_key_secret"], params["tsig_key_algorithm"])
    try:
        wanted = wanted_records(params["ipv4_addresses"], params["ipv6_addresses"], params["ipv6"])
        updater = ZoneUpdater(params["zone"], params["primary"], key, params["timeout"])
        servers = [parse_nameserver(spec) for spec in params["authoritative_servers"]]
    except ValueError as error:
        module.fail_json(msg=f"{params['domain']}: {error}")
    try:
        updater.check()
        if not servers and not module.check_mode:
            servers = zone_nameservers(params["primary"], params["zone"], params["timeout"])
        publication = publish(updater, servers, params["domain"], wanted, params["ttl"],
                              params["propagation_timeout"], check_mode=module.check_mode)
    except (UpdateError, ValueError) as error:
        module.fail_json(msg=f"{params['domain']}: {error}")
    result = dict(publication.as_dict(), waited=0.0)
    if publication.changed:
        result["diff"] = {"before": publication.before.as_dict(), "after": publication.after.as_dict(),
                          "before_header": publication.mx_host, "after_header": publication.mx_host}
    if publication.ttl_wait and params["wait_ttl"]:
        started = time.monotonic()
        time.sleep(publication.ttl_wait)
        result["waited"] = round(time.monotonic() - started, 2)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
