#!/usr/bin/env bash
# Runs benchmarks under bench/ (each prints its ratios against a baseline measured in the same run).
# Usage: scripts/bench.sh [bench/NAME_bench.py ...] [-- OPTIONS passed to each benchmark]
set -uo pipefail
cd "$(dirname "$0")/.."
export PATH="$PWD/.venv/bin:$PATH" CONTAINERS_CONF="$PWD/containers.conf" ANSIBLE_CONFIG="$PWD/ansible.cfg"
benches=()
while [ $# -gt 0 ] && [ "$1" != "--" ]; do
  benches+=("$1")
  shift
done
[ "${1:-}" = "--" ] && shift
if [ ${#benches[@]} -eq 0 ]; then
  shopt -s nullglob
  benches=(bench/*_bench.py)
fi
rc=0
for bench in "${benches[@]}"; do
  echo "=== $bench $*"
  python "$bench" "$@" || rc=1
done
exit $rc
