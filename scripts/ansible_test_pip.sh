#!/usr/bin/env bash
# ansible-test bootstraps pip in the virtualenvs it makes with a get-pip.py from a host that is not
# reachable here; it looks in its cache first. tests/sanity/get_pip.py (the bundled pip, then PyPI) is
# put there under the name of the pip version this ansible-test asks for.
set -euo pipefail
cd "$(dirname "$0")/.."
ansible_test=$(python3 -c 'import ansible_test, os; print(os.path.dirname(ansible_test.__file__))')
pip_version=$(sed -n "s/^ *pip='\([0-9.]*\)',$/\1/p" "$ansible_test/_internal/python_requirements.py")
[ -n "$pip_version" ] || { echo "ansible-test: cannot tell which pip it bootstraps" >&2; exit 1; }
mkdir -p ~/.ansible/test/cache
cp tests/sanity/get_pip.py ~/.ansible/test/cache/"get_pip_${pip_version//./_}.py"
