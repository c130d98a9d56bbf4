#!/usr/bin/env bash
# ansible-test sanity on the collection as users get it: the tarball that `ansible-galaxy collection
# build` makes (galaxy.yml's build_ignore decides what is in it), unpacked at
# ${V6GATE_SANITY_DIR:-/tmp/v6gate-sanity}/ansible_collections/v6gate/mx with tests/sanity/ beside it
# (outside this checkout: inside it, ansible-test would list files with git and find none).
# ansible-test bootstraps pip in its test environments with a get-pip.py from a host that is not
# reachable here; tests/sanity/get_pip.py stands in for it (bundled pip, then PyPI).
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

ansible_test=$(python3 -c 'import ansible_test, os; print(os.path.dirname(ansible_test.__file__))')
pip_version=$(sed -n "s/^ *pip='\([0-9.]*\)',$/\1/p" "$ansible_test/_internal/python_requirements.py")
[ -n "$pip_version" ] || { echo "sanity: cannot tell which pip ansible-test bootstraps" >&2; exit 1; }
mkdir -p ~/.ansible/test/cache
cp tests/sanity/get_pip.py ~/.ansible/test/cache/"get_pip_${pip_version//./_}.py"

cd "$collection"
[ $# -gt 0 ] || set -- --python 3.11
exec ansible-test sanity --color no "$@"
