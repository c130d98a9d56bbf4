"""v6gate's IPv6 gate: a milter applying Exchange Online's rules to anonymous inbound mail over IPv6.

A thin face over the collection's core (``ansible_collections.v6gate.mx.plugins.module_utils``, installed
beside this package): ``ipv6_rules`` decides and words the replies, ``dns_client``, ``iprev``, ``spf_eval``
and ``dkim_verify`` look things up and verify, ``authres`` reads and writes Authentication-Results. Here,
``session`` applies them to one SMTP session without any milter library, ``config`` reads the file, ``cli``
checks it, and ``milter`` is the pymilter glue.
"""

__version__ = "0.1.0"
