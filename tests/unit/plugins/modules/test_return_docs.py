"""Every key a module returns is in its RETURN documentation (nested lists and dicts included), so
``ansible-doc`` tells a user all there is to register."""

import ast
from pathlib import Path

import pytest
import yaml

MODULES = Path(__file__).resolve().parents[4] / "plugins" / "modules"
# Keys Ansible itself adds to every result; not the module's to document.
ANSIBLE_KEYS = {"action", "changed", "invocation", "failed", "warnings", "deprecations", "msg", "diff"}

CALLS = {
    "reverse_dns_info": {"address": ["2001:db8:25::10", "2001:db8:25::18"]},
    "spf_check_info": {"address": ["2001:db8:25::10"], "mail_from": "user@example.com",
                       "helo": "mail.example.com"},
    "dkim_record_info": {"selector": ["sel2048"], "domain": "example.com"},
    "ipv6_sender_readiness_info": {"addresses": ["2001:db8:25::10"], "mail_from_domains": ["example.com"],
                                   "helo": "mail.example.com", "dkim_selectors": ["sel2048"]},
}


def documented(module: str) -> dict:
    tree = ast.parse((MODULES / f"{module}.py").read_text())
    text = next(node.value.value for node in tree.body if isinstance(node, ast.Assign)
                and node.targets[0].id == "RETURN")
    return yaml.safe_load(text) or {}


def undocumented(docs: dict, result: dict, where: str = "", top: bool = True) -> list[str]:
    missing = []
    for key, value in result.items():
        if key.startswith("_") or (top and key in ANSIBLE_KEYS):
            continue
        if key not in docs:
            missing.append(where + key)
            continue
        contains = docs[key].get("contains")
        if contains and isinstance(value, list):
            for item in value:
                missing += undocumented(contains, item, f"{where}{key}[].", top=False)
        elif contains and isinstance(value, dict):
            missing += undocumented(contains, value, f"{where}{key}.", top=False)
    return sorted(set(missing))


@pytest.mark.dns
@pytest.mark.parametrize("module", sorted(CALLS))
def test_every_returned_key_is_documented(dns_server, ansible_module, module):
    result = ansible_module(module, {**CALLS[module], "nameservers": [f"127.0.0.1@{dns_server.port}"]})
    assert result["_rc"] == 0, result.get("msg")
    assert undocumented(documented(module), result) == []
