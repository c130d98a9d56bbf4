"""A module's RETURN documentation, and the keys of a real result it leaves out."""

import ast
from pathlib import Path

import yaml

MODULES = Path(__file__).resolve().parents[1] / "plugins" / "modules"
# Keys Ansible itself adds to every result; not the module's to document.
ANSIBLE_KEYS = {"action", "changed", "invocation", "failed", "warnings", "deprecations", "msg", "diff"}


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
