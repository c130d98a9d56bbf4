"""The domain_key filter compares domains as the gate does."""

import pytest
from ansible.errors import AnsibleFilterError
from ansible_collections.v6gate.mx.plugins.filter.domain_key import FilterModule
from ansible_collections.v6gate.mx.plugins.module_utils.ipv6_rules import parse_optin_file

domain_key = FilterModule().filters()["domain_key"]


@pytest.mark.parametrize("written, key", [
    ("Contoso.Example.", "contoso.example"),
    ("bücher.example", "xn--bcher-kva.example"),
    ("XN--BCHER-KVA.example", "xn--bcher-kva.example"),
    (" fabrikam.example ", "fabrikam.example"),
])
def test_keys_match_the_gate_file_parser(written, key):
    assert domain_key(written) == key
    parsed = parse_optin_file(f"{written.strip()}\n# v6gate-optin end: 1 domain(s)\n")
    assert list(parsed.domains) == [key]


@pytest.mark.parametrize("value", [None, 42, ["contoso.example"]])
def test_refuses_what_is_not_a_name(value):
    with pytest.raises(AnsibleFilterError, match="expected a domain name"):
        domain_key(value)
