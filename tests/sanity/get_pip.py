"""Stand-in for the get-pip.py that ansible-test downloads from ci-files.testing.ansible.com to bootstrap
pip in its sanity-test virtual environments; that host is not reachable from here. It takes the same
arguments and gets pip the ordinary way: the interpreter's bundled pip (ensurepip), then the pinned
versions from PyPI. scripts/sanity.sh puts it where ansible-test looks for its cached copy.
"""

import ensurepip
import subprocess
import sys

GET_PIP_ONLY = {"--no-setuptools", "--no-wheel"}  # get-pip.py's own flags; pip install has none of these

ensurepip.bootstrap(upgrade=True)
arguments = [argument for argument in sys.argv[1:] if argument not in GET_PIP_ONLY]
sys.exit(subprocess.call([sys.executable, "-m", "pip", "install", *arguments]))
