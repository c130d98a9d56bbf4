# Copyright: v6gate developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""What every audit module shares: the DNS options, the library check and the run's DnsClient."""

from __future__ import annotations

from ansible_collections.v6gate.mx.plugins.module_utils.dkim_keys import (
    CRYPTOGRAPHY_IMPORT_ERROR,
    HAS_CRYPTOGRAPHY,
)
from ansible_collections.v6gate.mx.plugins.module_utils.dns_client import (
    DNSPYTHON_IMPORT_ERROR,
    HAS_DNSPYTHON,
    DnsClient,
)
from ansible_collections.v6gate.mx.plugins.module_utils.spf_eval import HAS_PYSPF, PYSPF_IMPORT_ERROR

DNS_ARGUMENT_SPEC = {
    "nameservers": {"type": "list", "elements": "str", "default": []},
    "timeout": {"type": "float", "default": 3.0},
    "retries": {"type": "int", "default": 1},
    "max_in_flight": {"type": "int", "default": 32},
}


def require_libraries(module, need_spf: bool = False, need_crypto: bool = False) -> None:
    """fail_json with Ansible's standard missing-library message when a Python dependency is absent."""
    from ansible.module_utils.basic import missing_required_lib

    if not HAS_DNSPYTHON:
        module.fail_json(msg=missing_required_lib("dnspython"), exception=DNSPYTHON_IMPORT_ERROR)
    if need_spf and not HAS_PYSPF:
        module.fail_json(msg=missing_required_lib("pyspf"), exception=PYSPF_IMPORT_ERROR)
    if need_crypto and not HAS_CRYPTOGRAPHY:
        module.fail_json(msg=missing_required_lib("cryptography"), exception=CRYPTOGRAPHY_IMPORT_ERROR)


def client_from_module(module) -> DnsClient:
    """Build the run's DnsClient from the shared options; bad options end the module with fail_json."""
    params = module.params
    if params["timeout"] <= 0:
        module.fail_json(msg=f"timeout must be greater than 0, got {params['timeout']}")
    if params["retries"] < 0:
        module.fail_json(msg=f"retries must be 0 or more, got {params['retries']}")
    if not 1 <= params["max_in_flight"] <= 1024:
        module.fail_json(msg=f"max_in_flight must be between 1 and 1024, got {params['max_in_flight']}")
    try:
        return DnsClient(params["nameservers"], params["timeout"], params["retries"], params["max_in_flight"])
    except ValueError as error:
        module.fail_json(msg=str(error))
    raise AssertionError("unreachable: fail_json exits")
