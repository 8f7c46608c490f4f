# -*- coding: utf-8 -*-
# Copyright: (c) 2025, openstack_ops developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The modules that run on the compute nodes, and every module_utils they import, stay importable by
EL7's Python 3.6 (ansible-core 2.16 manages it): no `from __future__ import annotations` (3.7+)."""

from __future__ import annotations

import ast
import os

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
NODE_SIDE = ['migration_preflight', 'ini_keys', 'libvirt_migration_wait', 'x509_check']   # run by the roles on the compute nodes
PREFIX = 'ansible_collections.openstack_ops.live_migration.plugins.module_utils'


def collection_imports(path):
    """module_utils files a module imports, recursively."""
    seen, todo = set(), [path]
    while todo:
        current = todo.pop()
        if current in seen:
            continue
        seen.add(current)
        for node in ast.walk(ast.parse(open(current).read())):
            if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith(PREFIX):
                names = [node.module[len(PREFIX):].lstrip('.')] if node.module != PREFIX else [a.name for a in node.names]
                for name in names:
                    todo.append(os.path.join(ROOT, 'plugins', 'module_utils', name + '.py'))
    return sorted(seen)


@pytest.mark.parametrize('module', NODE_SIDE)
def test_node_side_code_runs_on_python_36(module):
    files = collection_imports(os.path.join(ROOT, 'plugins', 'modules', module + '.py'))
    assert len(files) >= 2, files
    for path in files:
        tree = ast.parse(open(path).read())
        future = [a.name for n in tree.body if isinstance(n, ast.ImportFrom) and n.module == '__future__'
                  for a in n.names]
        assert 'annotations' not in future, '%s imports annotations from __future__ (Python 3.7+)' % path
