#!/usr/bin/env bash
# ansible-test sanity, then antsibull-docs' and antsibull-changelog's lint, on the collection as users
# get it: the tarball that `ansible-galaxy collection build` makes (galaxy.yml's build_ignore decides
# what is in it), unpacked at
# ${V6GATE_SANITY_DIR:-/tmp/v6gate-sanity}/ansible_collections/v6gate/mx with tests/sanity/ beside it
# (outside this checkout: inside it, ansible-test would list files with git and find none).
# ansible-test's pip bootstrap is pointed at PyPI by scripts/ansible_test_pip.sh.
# Usage: scripts/sanity.sh [ansible-test sanity options...]   (default: --python 3.11)
set -euo pipefail
cd "$(dirname "$0")/.."
stage=${V6GATE_SANITY_DIR:-/tmp/v6gate-sanity}
collection="$stage/ansible_collections/v6gate/mx"
rm -rf "$stage"
mkdir -p "$stage/build" "$collection"
ansible-galaxy collection build --force --output-path "$stage/build" . >/dev/null
tar -xzf "$stage"/build/v6gate-mx-*.tar.gz -C "$collection"
mkdir -p "$collection/tests"
cp -r tests/sanity tests/config.yml "$collection/tests/"

scripts/ansible_test_pip.sh

cd "$collection"
[ $# -gt 0 ] || set -- --python 3.11
ansible-test sanity --color no "$@"
# What docs.ansible.com's build checks: every plugin's and role's documentation, and the changelog.
antsibull-docs lint-collection-docs --plugin-docs --validate-collection-refs all .
antsibull-changelog lint
