#!/usr/bin/env bash
# Every check, in order, with each stage's duration: ruff, ansible-lint, ansible-test sanity, the
# collection installed from its tarball, ansible-test units (tests/unit/), pytest (the other tests),
# every Molecule scenario.
# Usage: scripts/test.sh [stage ...]   stages: ruff ansible-lint sanity collection units pytest molecule
#                                      (default: all)
set -uo pipefail
cd "$(dirname "$0")/.."
export PATH="$PWD/.venv/bin:$PATH"
export CONTAINERS_CONF="$PWD/containers.conf"
export ANSIBLE_CONFIG="$PWD/ansible.cfg"
export ANSIBLE_FORCE_COLOR=0 PY_COLORS=0

stages=("$@")
[ ${#stages[@]} -gt 0 ] || stages=(ruff ansible-lint sanity collection units pytest molecule)

failed=()
summary=()
run_stage() {
  local name=$1; shift
  local start=$SECONDS rc
  echo "=== stage $name: $*"
  "$@"; rc=$?
  summary+=("$(printf '%-44s %5ss  %s' "$name" $((SECONDS - start)) "$([ $rc -eq 0 ] && echo ok || echo "FAILED ($rc)")")")
  [ $rc -eq 0 ] || failed+=("$name")
}

scenarios() {
  local dir
  for dir in molecule/*/molecule.yml; do
    [ -e "$dir" ] && basename "$(dirname "$dir")"
  done
}

for stage in "${stages[@]}"; do
  case "$stage" in
    ruff) run_stage ruff ruff check . ;;
    ansible-lint)
      # ansible-lint installs this collection into its caches (.ansible/ here, collections/ under
      # ANSIBLE_HOME) and keeps an older copy of the same version: start both empty, so it lints
      # against this tree and not against what an earlier run left on the machine.
      rm -rf .ansible .cache/ansible-lint-home
      run_stage ansible-lint env ANSIBLE_HOME="$PWD/.cache/ansible-lint-home" ansible-lint --offline ;;
    sanity) run_stage "ansible-test sanity" scripts/sanity.sh --python 3.11 ;;
    collection) run_stage "collection from its tarball" python3 scripts/collection_check.py ;;
    units) run_stage "ansible-test units" scripts/units.sh --venv --python 3.11 ;;
    pytest) run_stage pytest pytest -q --ignore=tests/unit ;;
    molecule)
      for scenario in $(scenarios); do
        # molecule/<scenario>/matrix: one line of VAR=value settings per run (e.g. the MX's Debian release).
        if [ -f "molecule/$scenario/matrix" ]; then
          while read -r settings; do
            case "$settings" in ''|'#'*) continue ;; esac
            # shellcheck disable=SC2086 # the settings are words on purpose
            run_stage "molecule:$scenario ($settings)" env $settings molecule test -s "$scenario"
          done < "molecule/$scenario/matrix"
        else
          run_stage "molecule:$scenario" molecule test -s "$scenario"
        fi
      done ;;
    *) echo "unknown stage: $stage" >&2; exit 2 ;;
  esac
done

echo
echo "=== stage durations"
printf '%s\n' "${summary[@]}"
if [ ${#failed[@]} -gt 0 ]; then
  echo "FAILED stages: ${failed[*]}"
  exit 1
fi
echo "all stages passed"
