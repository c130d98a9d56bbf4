"""The role installs every core file the gate imports, directly or through another core file: a file left
out of __ipv6_gate_core_files would only show as an ImportError on a live MX."""

import ast
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[4]
GATE = REPO / "roles" / "ipv6_gate" / "files" / "v6gate_gate"
CORE = REPO / "plugins" / "module_utils"
PREFIX = "ansible_collections.v6gate.mx.plugins.module_utils"


def core_imports(path: Path) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith(PREFIX):
            rest = node.module[len(PREFIX):].lstrip(".")
            names |= {f"{rest}.py"} if rest else {f"{alias.name}.py" for alias in node.names}
    return names


def test_every_core_file_the_gate_imports_is_installed():
    needed, todo = set(), [core_imports(path) for path in GATE.glob("*.py")]
    pending = set().union(*todo)
    while pending:
        name = pending.pop()
        if name not in needed:
            needed.add(name)
            pending |= core_imports(CORE / name)
    installed = yaml.safe_load((REPO / "roles" / "ipv6_gate" / "vars" / "main.yml").read_text())
    assert needed - set(installed["__ipv6_gate_core_files"]) == set()
    assert "gate_log.py" in needed
