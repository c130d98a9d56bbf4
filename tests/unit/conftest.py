"""Make the working tree importable as the v6gate.mx collection, and the milter package from its role."""

import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
for path in (REPO / "collections", REPO / "roles" / "ipv6_gate" / "files"):
    if str(path) not in sys.path:
        sys.path.insert(0, str(path))
