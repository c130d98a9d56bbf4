#!/usr/bin/env python3
"""The collection as a user gets it: build the tarball, install it into an empty collections path, and
from there (no checkout on any path, no project ansible.cfg) read every module's and role's docs,
syntax-check the playbooks by FQCN, and call one module for real against the test Knot server.

Also checks the tarball holds only what a user needs (no tests, lab tooling or private keys).
Usage: scripts/collection_check.py   (run by scripts/test.sh, stage "collection")
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))

from dnsserver import running_knot

NOT_FOR_USERS = (
    "tests/",
    "molecule/",
    "bench/",
    "scripts/",
    "inventories/",
    ".ci/",
    ".venv/",
    "collections/",
)


def run(argv: list[str], env: dict, cwd: Path) -> str:
    done = subprocess.run(argv, env=env, cwd=cwd, capture_output=True, text=True, timeout=600)
    if done.returncode != 0:
        raise SystemExit(f"collection check: {' '.join(argv)} failed:\n{done.stdout}\n{done.stderr}")
    return done.stdout


def main() -> int:
    with tempfile.TemporaryDirectory(prefix="v6gate-collection-") as temp:
        work = Path(temp)
        env = {key: value for key, value in os.environ.items() if not key.startswith("ANSIBLE_")}
        (work / "ansible.cfg").write_text("[defaults]\n")  # not the checkout's ansible.cfg
        env.update(
            ANSIBLE_CONFIG=str(work / "ansible.cfg"),
            ANSIBLE_COLLECTIONS_PATH=str(work / "collections"),
            ANSIBLE_LOCAL_TEMP=str(work / "tmp"),
            ANSIBLE_HOME=str(work / "home"),
            ANSIBLE_NOCOLOR="1",
        )
        run(["ansible-galaxy", "collection", "build", "--output-path", str(work), str(REPO)], env, work)
        (tarball,) = work.glob("v6gate-mx-*.tar.gz")
        with tarfile.open(tarball) as archive:
            names = archive.getnames()
        unwanted = [n for n in names if n.startswith(NOT_FOR_USERS) or n.endswith((".pem", ".key"))]
        if unwanted:
            raise SystemExit(
                f"collection check: the tarball holds files users do not need: {unwanted[:10]}"
            )
        for needed in ("LICENSE", "README.md", "meta/runtime.yml", "plugins/modules/reverse_dns_info.py"):
            if needed not in names:
                raise SystemExit(f"collection check: the tarball lacks {needed}")
        print(f"tarball {tarball.name}: {len(names)} entries, nothing from tests/ or the lab, no keys")
        run(
            [
                "ansible-galaxy",
                "collection",
                "install",
                "--offline",
                "-p",
                str(work / "collections"),
                str(tarball),
            ],
            env,
            work,
        )

        modules = sorted(p.stem for p in (REPO / "plugins" / "modules").glob("*.py"))
        roles = sorted(
            p.name for p in (REPO / "roles").iterdir() if (p / "meta" / "argument_specs.yml").exists()
        )
        docs = json.loads(run(["ansible-doc", "--json", *(f"v6gate.mx.{m}" for m in modules)], env, work))
        missing = [m for m in modules if f"v6gate.mx.{m}" not in docs]
        if missing:
            raise SystemExit(f"collection check: ansible-doc has no documentation for {missing}")
        for role in roles:
            run(["ansible-doc", "-t", "role", f"v6gate.mx.{role}"], env, work)
        filters = sorted(p.stem for p in (REPO / "plugins" / "filter").glob("*.py"))
        docs = json.loads(run(["ansible-doc", "-t", "filter", "--json", *(f"v6gate.mx.{f}" for f in filters)],
                              env, work))
        missing = [f for f in filters if f"v6gate.mx.{f}" not in docs]
        if missing:
            raise SystemExit(f"collection check: ansible-doc has no documentation for the filters {missing}")
        print(f"ansible-doc: {len(modules)} modules, {len(filters)} filter(s), {len(roles)} roles")

        playbooks = sorted(p.stem for p in (REPO / "playbooks").glob("*.yml") if p.stem != "lab")
        for playbook in playbooks:
            run(
                ["ansible-playbook", "-i", "localhost,", "--syntax-check", f"v6gate.mx.{playbook}"],
                env,
                work,
            )
        print(f"syntax check by FQCN: {', '.join(f'v6gate.mx.{p}' for p in playbooks)}")

        with running_knot(work / "knot") as knot:
            args = f"address=2001:db8:25::10 nameservers={knot.host}@{knot.port}"
            out = run(
                [
                    "ansible",
                    "localhost",
                    "-c",
                    "local",
                    "-i",
                    "localhost,",
                    "-m",
                    "v6gate.mx.reverse_dns_info",
                    "-a",
                    args,
                    "-e",
                    f"ansible_python_interpreter={sys.executable}",
                ],
                env,
                work,
            )
        if '"status": "pass"' not in out:
            raise SystemExit(
                f"collection check: reverse_dns from the installed collection did not pass:\n{out}"
            )
        print("v6gate.mx.reverse_dns_info from the installed collection against the test Knot: status pass")
    return 0


if __name__ == "__main__":
    sys.exit(main())
