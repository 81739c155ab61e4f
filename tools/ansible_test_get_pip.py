"""Offline stand-in for ansible-test's pip bootstrap script (get-pip-<version>.py).

ansible-test creates every virtual environment without pip and then runs a
get-pip script it downloads from ci-files.testing.ansible.com. rentstack sends
no traffic beyond the Debian and PyPI mirrors, so `make sanity` always copies this file to ~/.ansible/test/cache/get_pip_<version>.py,
the path ansible-test looks at before downloading. It does what get-pip does
with the same arguments (`pip==24.2 --no-setuptools --no-wheel ...`): pip from
the interpreter's own ensurepip, then `pip install` of the requested packages
from the configured index.
"""

from __future__ import annotations

import subprocess
import sys


def main(argv: list[str]) -> int:
    subprocess.run([sys.executable, "-m", "ensurepip", "--default-pip"], check=True, stdout=subprocess.DEVNULL)
    # get-pip's own switches; pip install does not know them.
    args = [arg for arg in argv if arg not in ("--no-setuptools", "--no-wheel")]
    return subprocess.run([sys.executable, "-m", "pip", "install", *args], check=False).returncode


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
