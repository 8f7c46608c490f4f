# -*- coding: utf-8 -*-
# Copyright: (c) 2025, openstack_ops developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The files ansible-builder reads: execution-environment.yml (the EE definition),
meta/execution-environment.yml with meta/ee-requirements.txt and bindep.txt (the collection's
own requirements). Checked with ansible-builder's and bindep's own code, offline; the image
build itself needs a base image and is not part of the unit tier (docs/awx.md)."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
import yaml

from ansible_collections.openstack_ops.live_migration.tests.unit.plugins.table import table

ansible_builder = pytest.importorskip('ansible_builder')
from ansible_builder._target_scripts import introspect  # noqa: E402  pylint: disable=wrong-import-position
from ansible_builder.ee_schema import validate_schema  # noqa: E402  pylint: disable=wrong-import-position
from bindep.depends import Depends  # noqa: E402  pylint: disable=wrong-import-position

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
BIN = os.path.dirname(sys.executable)


def load(path):
    with open(os.path.join(ROOT, path)) as f:
        return yaml.safe_load(f)


def galaxy_version():
    return load('galaxy.yml')['version']


@pytest.fixture(scope='module')
def tarball(tmp_path_factory):
    """The collection as users get it: built by ansible-galaxy, so build_ignore applies."""
    out = tmp_path_factory.mktemp('dist')
    subprocess.run([os.path.join(BIN, 'ansible-galaxy'), 'collection', 'build', '--force', '--output-path', str(out),
                    ROOT], check=True, capture_output=True, timeout=300)
    return out / ('openstack_ops-live_migration-%s.tar.gz' % galaxy_version())


def test_the_installed_collection_declares_its_requirements_to_ansible_builder(tarball, tmp_path):
    subprocess.run([os.path.join(BIN, 'ansible-galaxy'), 'collection', 'install', '--force', '--no-deps', '-p', str(tmp_path),
                    str(tarball)], check=True, capture_output=True, timeout=300)
    found = introspect.process(data_dir=str(tmp_path))
    ours = 'openstack_ops.live_migration'
    assert sorted(found['python'][ours]) == ['libvirt-python', 'openstacksdk>=4.0.0'], found
    system = found['system'][ours]
    for package in ('libvirt-dev [compile platform:dpkg]', 'libvirt-devel [compile platform:rpm]',
                    'libvirt0 [platform:dpkg]', 'libvirt-libs [platform:rpm]'):
        assert package in system, system


# bindep.txt per platform: what the builder stage installs ([compile]), what stays in the EE.
# Profiles as bindep computes them on each platform (bindep --profiles there).
PLATFORMS = [
    dict(id='Debian 12', platform=['platform:dpkg', 'platform:debian', 'platform:debian-12'],
         compile=['gcc', 'libvirt-dev', 'libvirt0', 'pkg-config', 'python3-dev'], runtime=['libvirt0']),
    dict(id='Ubuntu 24.04', platform=['platform:dpkg', 'platform:ubuntu', 'platform:ubuntu-noble'],
         compile=['gcc', 'libvirt-dev', 'libvirt0', 'pkg-config', 'python3-dev'], runtime=['libvirt0']),
    dict(id='RHEL 9', platform=['platform:rpm', 'platform:redhat', 'platform:rhel', 'platform:rhel-9'],
         compile=['gcc', 'libvirt-devel', 'libvirt-libs', 'pkgconf-pkg-config', 'python3-devel'],
         runtime=['libvirt-libs']),
    dict(id='CentOS Stream 9', platform=['platform:rpm', 'platform:redhat', 'platform:centos', 'platform:centos-9'],
         compile=['gcc', 'libvirt-devel', 'libvirt-libs', 'pkgconf-pkg-config', 'python3-devel'],
         runtime=['libvirt-libs']),
]


@table(PLATFORMS)
def test_bindep_names_the_packages_of_each_platform(case):
    with open(os.path.join(ROOT, 'bindep.txt')) as f:
        depends = Depends(f.read())
    for profile, expected in (('compile', case['compile']), ('default', case['runtime'])):
        names = sorted(rule[0] for rule in depends.active_rules(case['platform'] + [profile]))
        assert names == expected, (profile, names)


def test_the_definition_is_valid_ansible_builder_3_and_installs_this_version():
    definition = load('execution-environment.yml')
    validate_schema(definition)
    assert definition['version'] == 3
    name = 'openstack_ops-live_migration-%s.tar.gz' % galaxy_version()
    collections = definition['dependencies']['galaxy']['collections']
    assert collections == [{'name': 'collections/' + name, 'type': 'file'}], 'galaxy.yml says %s' % name
    assert definition['additional_build_files'] == [{'src': '.build/dist/' + name, 'dest': 'collections'}]
    # the EE's interpreter: ansible-core 2.21 runs on Python >= 3.12, and its headers build libvirt-python
    interpreter = definition['dependencies']['python_interpreter']
    assert interpreter['package_system'] + '-devel [compile platform:rpm]' in definition['dependencies']['system']
    assert 'ansible-core==' in definition['dependencies']['ansible_core']['package_pip']


def test_ansible_builder_creates_the_build_context(tarball, tmp_path):
    """`ansible-builder create`: the Containerfile and context the build would use, without building."""
    (tmp_path / '.build' / 'dist').mkdir(parents=True)
    (tmp_path / '.build' / 'dist' / tarball.name).write_bytes(tarball.read_bytes())
    (tmp_path / 'execution-environment.yml').write_text(open(os.path.join(ROOT, 'execution-environment.yml')).read())
    done = subprocess.run([os.path.join(BIN, 'ansible-builder'), 'create', '--context', 'context'], cwd=str(tmp_path),
                          capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    context = tmp_path / 'context'
    containerfile = (context / 'Containerfile').read_text()
    assert 'ARG EE_BASE_IMAGE="quay.io/centos/centos:stream9"' in containerfile
    assert 'introspect.py introspect' in containerfile and '/output/scripts/assemble' in containerfile
    assert (context / '_build' / 'collections' / tarball.name).is_file()
    assert yaml.safe_load((context / '_build' / 'requirements.yml').read_text())['collections'][0]['type'] == 'file'
