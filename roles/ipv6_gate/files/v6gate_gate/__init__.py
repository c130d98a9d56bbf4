"""v6gate's IPv6 gate: a milter applying Exchange Online's rules to anonymous inbound mail over IPv6.

The decisions and reply texts live in ``ipv6_rules`` (one home, shared with the Ansible audit modules);
``session`` applies them to one SMTP session without any milter library, ``dnscheck`` does the DNS and
SPF work, ``authres`` reads and writes Authentication-Results, and ``milter`` is the thin pymilter glue.
"""

__version__ = "0.1.0"
