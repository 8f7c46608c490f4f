"""Local stand-in for ansible-test's get-pip bootstrap (ci-files.testing.ansible.com is unreachable here).

Bootstraps the bundled pip with ensurepip, then installs the requested packages with it
from the configured indexes. get-pip's own flags (--no-setuptools, --no-wheel) are dropped.
"""
import subprocess
import sys

args = [a for a in sys.argv[1:] if a not in ('--no-setuptools', '--no-wheel')]
subprocess.check_call([sys.executable, '-m', 'ensurepip', '--default-pip'])
subprocess.check_call([sys.executable, '-m', 'pip', 'install'] + args)
