"""Make the checkout importable as ansible_collections.openstack_ops.live_migration.

The unit tests import the collection exactly as Ansible does. A symlink tree under
.build/pytest points at this checkout, so no install step is needed before pytest.
The bundled collections of the `ansible` package (openstack.cloud, ...) stay importable:
`ansible_collections` is a namespace package and both paths contribute to it.
"""
import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
TREE = os.path.join(ROOT, ".build", "pytest")
LINK = os.path.join(TREE, "ansible_collections", "openstack_ops", "live_migration")

if not os.path.islink(LINK):
    os.makedirs(os.path.dirname(LINK), exist_ok=True)
    os.symlink(ROOT, LINK)
if TREE not in sys.path:
    sys.path.insert(0, TREE)
