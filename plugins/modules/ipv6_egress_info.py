#!/usr/bin/python
# Copyright: v6gate developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

DOCUMENTATION = r"""
---
module: ipv6_egress_info
short_description: Find the IPv6 address an MX really sends its outbound mail from
version_added: 0.2.0
description:
  - Runs on the mail host. For each destination, tells the IPv6 source address Postfix's smtp client uses,
    Postfix's C(smtp_bind_address6) when it is set (read with C(postconf) unless I(bind_address) is given),
    otherwise the address the kernel selects for that destination, as C(ip -6 route get) shows it
    (source address selection, policy routing and the route's preferred source included).
  - An address is C(usable) when it is a global unicast address of this host with a route to the
    destination; a unique local (C(fc00::/7)), link-local or loopback source, a bind address that is not
    configured on the host, or no route are reasons it is not.
  - Audit the addresses it returns with M(v6gate.mx.ipv6_sender_readiness_info) (reverse DNS, SPF, DKIM,
    every receiver profile) before the host sends over IPv6.
  - Read-only.
author: v6gate developers (!UNKNOWN)
requirements:
  - iproute2 (C(ip)) on the host; C(postconf) to read C(smtp_bind_address6).
options:
  destinations:
    description: IPv6 addresses the host sends to (receivers' MX addresses).
    type: list
    elements: str
    required: true
  bind_address:
    description:
      - The smtp client's IPv6 bind address. By default C(postconf -h smtp_bind_address6) (none when Postfix
        is not installed). An empty string means the kernel chooses.
    type: str
extends_documentation_fragment:
  - v6gate.mx.attributes
attributes:
  check_mode:
    support: full
    details: Only reads routes and addresses.
  diff_mode:
    support: none
    details: Changes nothing.
"""

EXAMPLES = r"""
- name: Where does our mail to the receivers leave from?
  v6gate.mx.ipv6_egress_info:
    destinations: ["2001:db8:5::25"]
  register: egress

- name: Audit those addresses from the controller
  v6gate.mx.ipv6_sender_readiness_info:
    addresses: "{{ egress.addresses }}"
    helo: "{{ ansible_facts.fqdn }}"
    mail_from_domains: [example.com]
  delegate_to: localhost
  when: egress.addresses | length > 0
"""

RETURN = r"""
bind_address:
  description: The bind address used (empty when the kernel chooses).
  returned: always
  type: str
addresses:
  description: The distinct usable source addresses.
  returned: always
  type: list
  elements: str
  sample: ["2001:db8:25::10"]
usable:
  description: Every destination has a usable source address.
  returned: always
  type: bool
results:
  description: One entry per destination.
  returned: always
  type: list
  elements: dict
  contains:
    destination: {description: "The destination as given, compressed.", type: str}
    source: {description: The source address (empty when there is none)., type: str}
    chosen_by: {description: "C(smtp_bind_address6) or C(kernel).", type: str}
    device: {description: The outgoing interface., type: str}
    gateway: {description: The next hop (empty when on link)., type: str}
    scope: {description: "global, ula, link-local, loopback or other.", type: str}
    usable: {description: Receivers on the internet can see the source as a mail server., type: bool}
    reasons: {description: Why it is not usable., type: list, elements: str}
"""

import ipaddress

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.v6gate.mx.plugins.module_utils.egress import judge, parse_host_addresses, parse_route


def _ip(module, *args):
    rc, out, err = module.run_command(["ip", "-j", "-6", *args])
    return rc, out, err.strip()


def main():
    module = AnsibleModule(
        argument_spec={
            "destinations": {"type": "list", "elements": "str", "required": True},
            "bind_address": {"type": "str"},
        },
        supports_check_mode=True,
    )
    params = module.params
    destinations = []
    for text in params["destinations"]:
        try:
            destinations.append(ipaddress.IPv6Address(text.strip().strip("[]")).compressed)
        except ValueError:
            module.fail_json(msg=f"destinations: not an IPv6 address: {text!r}")
    if not destinations:
        module.fail_json(msg="destinations must name at least one IPv6 address")
    bind = params["bind_address"]
    if bind is None:
        postconf = module.get_bin_path("postconf")
        bind = ""
        if postconf:
            rc, out, err = module.run_command([postconf, "-h", "smtp_bind_address6"])
            if rc != 0:
                module.fail_json(msg=f"postconf -h smtp_bind_address6 failed: {err.strip()}")
            bind = out.strip()
    if bind:
        try:
            bind = ipaddress.IPv6Address(bind.strip("[]")).compressed
        except ValueError:
            module.fail_json(msg=f"smtp_bind_address6 is not an IPv6 address: {bind!r}")
    if not module.get_bin_path("ip"):
        module.fail_json(msg="the ip command (iproute2) is missing on the host")
    rc, out, err = _ip(module, "addr")
    if rc != 0:
        module.fail_json(msg=f"ip -6 addr failed: {err}")
    try:
        host_addresses = parse_host_addresses(out)
    except ValueError as error:
        module.fail_json(msg=str(error))
    results = []
    for destination in destinations:
        rc, out, err = _ip(module, "route", "get", destination, *(["from", bind] if bind else []))
        route, route_error = None, ""
        if rc != 0:
            route_error = err or f"ip exited with {rc}"
        else:
            try:
                route = parse_route(out)
            except ValueError as error:
                route_error = str(error)
        results.append(judge(destination, route, bind, host_addresses, route_error))
    addresses = list(dict.fromkeys(result["source"] for result in results if result["usable"]))
    module.exit_json(changed=False, bind_address=bind, addresses=addresses,
                     usable=all(result["usable"] for result in results), results=results)


if __name__ == "__main__":
    main()
