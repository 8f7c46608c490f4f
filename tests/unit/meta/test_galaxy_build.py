# -*- coding: utf-8 -*-
# Copyright: (c) 2025, openstack_ops developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""galaxy.yml: the tarball ansible-galaxy builds holds what a controller or an execution environment
runs, and none of the test tiers, lab, bench or tools (build_ignore); documentation and issues point
into the collection's own docs, which the tarball ships."""

from __future__ import annotations

import os
import subprocess
import sys
import tarfile

import pytest
import yaml

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
BIN = os.path.dirname(sys.executable)

# needed by users, by ansible-builder (meta/execution-environment.yml, its requirements, bindep.txt)
# and by ansible-doc (docs/ is where galaxy.yml's documentation points)
SHIPPED = ['MANIFEST.json', 'FILES.json', 'README.md', 'CHANGELOG.md', 'bindep.txt',
           'meta/runtime.yml', 'meta/execution-environment.yml', 'meta/ee-requirements.txt',
           'changelogs/changelog.yaml', 'changelogs/config.yaml',
           'plugins/modules/live_migrate.py', 'plugins/module_utils/waiter.py',
           'roles/libvirt_listener/meta/argument_specs.yml', 'playbooks/live-migrate.yml',
           'docs/modules.md', 'docs/roles.md', 'docs/awx.md']
# what an EE does not need: test tiers, the lab, the bench, the developer's tools and files
LEFT_OUT = ['extensions', 'tests', 'changelogs/fragments', 'bench', 'lab', 'tools', '.ci', 'Makefile',
            'requirements.txt', 'execution-environment.yml', '.ansible-lint', '.yamllint', '.gitignore']


def load(path):
    with open(os.path.join(ROOT, path)) as f:
        return yaml.safe_load(f)


@pytest.fixture(scope='module')
def members(tmp_path_factory):
    out = tmp_path_factory.mktemp('dist')
    subprocess.run([os.path.join(BIN, 'ansible-galaxy'), 'collection', 'build', '--force', '--output-path', str(out),
                    ROOT], check=True, capture_output=True, timeout=300)
    with tarfile.open(str(out / ('openstack_ops-live_migration-%s.tar.gz' % load('galaxy.yml')['version']))) as tar:
        return {m.name.rstrip('/') for m in tar.getmembers()}


@pytest.mark.parametrize('path', SHIPPED)
def test_the_tarball_ships(members, path):
    assert path in members


@pytest.mark.parametrize('path', LEFT_OUT)
def test_the_tarball_leaves_out(members, path):
    assert os.path.exists(os.path.join(ROOT, path)), '%s is gone from the checkout: drop it here' % path
    assert not [m for m in members if m == path or m.startswith(path + '/')], path


def test_no_python_cache_or_test_output_in_the_tarball(members):
    assert not [m for m in members if '__pycache__' in m or m.endswith('.pyc') or m.startswith('tests/output')]


@pytest.mark.parametrize('key', ['documentation', 'issues'])
def test_documentation_and_issues_point_into_the_shipped_docs(members, key):
    url = load('galaxy.yml')[key]
    assert url.startswith('file:'), url
    path, dummy, anchor = url[len('file:'):].partition('#')
    assert path in members, url
    if anchor:   # a Markdown heading, as GitHub makes its anchor
        with open(os.path.join(ROOT, path)) as f:
            anchors = {line.lstrip('#').strip().lower().replace(' ', '-') for line in f if line.startswith('#')}
        assert anchor in anchors, url


def test_sanity_still_sees_what_the_tarball_leaves_out():
    """make sanity copies SANITY_EXTRA beside the installed tree: each of them exists and is left out."""
    with open(os.path.join(ROOT, 'Makefile')) as f:
        line = [x for x in f if x.startswith('SANITY_EXTRA')][0]
    extra = line.split(':=', 1)[1].split()
    ignored = load('galaxy.yml')['build_ignore']
    for path in extra:
        assert os.path.exists(os.path.join(ROOT, path)), path
        assert any(path == i or path.startswith(i + '/') for i in ignored), path
    assert 'tests/unit' in extra and 'extensions' in extra
