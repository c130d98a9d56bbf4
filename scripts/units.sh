#!/usr/bin/env bash
# ansible-test units on the unit tests (tests/unit/, laid out like plugins/), in a virtualenv of its own
# that gets only ansible-test's requirements and tests/unit/requirements.txt: proof that file is whole.
# ansible-test wants the collection at ansible_collections/v6gate/mx and lists files with git inside a
# checkout, so the tracked files are copied to ${V6GATE_UNITS_DIR:-/tmp/v6gate-units} first.
# Usage: scripts/units.sh [ansible-test units options...]   (default: --venv --python 3.11)
set -euo pipefail
cd "$(dirname "$0")/.."
stage=${V6GATE_UNITS_DIR:-/tmp/v6gate-units}
collection="$stage/ansible_collections/v6gate/mx"
rm -rf "$stage"
mkdir -p "$collection"
git ls-files -z | tar --null -T - -cf - | tar -xf - -C "$collection"
scripts/ansible_test_pip.sh
cd "$collection"
[ $# -gt 0 ] || set -- --venv --python 3.11
exec ansible-test units --color no "$@"
