# Copyright: v6gate developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Exchange Online, anonymous inbound mail over IPv6: the rules the v6gate gate applies, with the gate's
own rule functions and reply texts (ipv6_rules), so the prediction and the MX never disagree."""

from __future__ import annotations

from ansible_collections.v6gate.mx.plugins.module_utils.ipv6_rules import (
    check_authentication,
    check_reverse_dns,
)
from ansible_collections.v6gate.mx.plugins.module_utils.receivers import Profile, Rule

SOURCE = ("https://learn.microsoft.com/en-us/microsoft-365/security/office-365-security/"
          "mail-flow-inbound-ipv6-support-about")

PROFILE = Profile(
    name="exchange_online",
    title="Exchange Online (inbound IPv6)",
    sources=(SOURCE,),
    notes=("550 5.2.1 (the recipient domain does not accept IPv6) depends on the receiving tenant, not on "
           "the sender; it is not predicted here.",),
    rules=(
        # 4.7.25 (or 451 4.4.3 when the lookup fails: v6gate's text, Exchange publishes none), at RCPT
        Rule(name="reverse-dns", when=(), stage="rcpt", source=SOURCE,
             reply=lambda facts: check_reverse_dns(facts.address, facts.gate_ptr, facts.ptr_policy)),
        Rule(name="spf-dkim", when=(), stage="data", source=SOURCE,
             reply=lambda facts: check_authentication(facts.address, facts.spf == "pass", facts.dkim_pass)),
    ),
)
