"""The one rules module, wherever this package runs.

On a mail exchanger the ipv6_gate role installs ``plugins/module_utils/ipv6_rules.py`` next to this file.
In the working tree (unit tests) the same file is imported from the collection. It is never copied
into this directory in git, so the texts keep a single home.
"""

try:
    from .ipv6_rules import *  # noqa: F403 - the deployed copy
except ModuleNotFoundError as exc:
    if exc.name != f"{__package__}.ipv6_rules":
        raise
    from ansible_collections.v6gate.mx.plugins.module_utils.ipv6_rules import *  # noqa: F403
