# -*- coding: utf-8 -*-
# Copyright: (c) 2025, openstack_ops developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""playbooks/awx-live-migrate.yml (docs/awx.md): AWX's libvirt TLS credential gives three files under
generated names in LIBVIRT_TLS_*; the first play puts them in one folder as libvirt's pkipath wants
them, then live-migrate.yml runs (tested in test_live_migrate_playbook.py). Here: the first play
alone (its tag), with and without the credential."""

from __future__ import annotations

import importlib.metadata
import os
import stat
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
PLAYBOOK = os.path.join(ROOT, 'playbooks', 'awx-live-migrate.yml')
ANSIBLE_PLAYBOOK = os.path.join(os.path.dirname(sys.executable), 'ansible-playbook')
CORE = tuple(int(p) for p in importlib.metadata.version('ansible-core').split('.')[:2])
pytestmark = [
    pytest.mark.skipif(not os.path.exists(ANSIBLE_PLAYBOOK), reason='ansible-playbook not next to this Python'),
    # it imports live-migrate.yml, which needs 2.18: test_live_migrate_playbook.py proves the refusal below
    pytest.mark.skipif(CORE < (2, 18), reason='awx-live-migrate.yml imports live-migrate.yml: ansible-core >= 2.18'),
]
FILES = {'LIBVIRT_TLS_CA_CERT': 'cacert.pem', 'LIBVIRT_TLS_CLIENT_CERT': 'clientcert.pem',
         'LIBVIRT_TLS_CLIENT_KEY': 'clientkey.pem'}


def run(tmp_path, env_files, *extra):
    env = {k: v for k, v in os.environ.items() if not k.startswith('LIBVIRT_TLS_')}
    env.update(env_files, ANSIBLE_NOCOLOR='1', ANSIBLE_FORCE_COLOR='0', ANSIBLE_LOCAL_TEMP=str(tmp_path / 'tmp'),
               ANSIBLE_COLLECTIONS_PATH=os.path.join(ROOT, '.build', 'pytest'))
    return subprocess.run([ANSIBLE_PLAYBOOK, '-i', 'localhost,', PLAYBOOK, '-e', 'ansible_python_interpreter=' + sys.executable,
                           '-e', 'libvirt_pki_dir=%s' % (tmp_path / 'pki')] + list(extra),
                          cwd=str(tmp_path), env=env, capture_output=True, text=True, timeout=300, check=False)


def test_syntax():
    done = subprocess.run([ANSIBLE_PLAYBOOK, '-i', 'localhost,', '--syntax-check', PLAYBOOK], capture_output=True,
                          text=True, timeout=300, check=False,
                          env=dict(os.environ, ANSIBLE_COLLECTIONS_PATH=os.path.join(ROOT, '.build', 'pytest')))
    assert done.returncode == 0, done.stdout + done.stderr


def test_the_credential_files_land_in_one_private_folder(tmp_path):
    env_files = {}
    for var, name in FILES.items():
        path = tmp_path / ('awx_generated_' + var.lower())
        path.write_text('PEM of %s\n' % name)
        env_files[var] = str(path)
    done = run(tmp_path, env_files, '--tags', 'libvirt_pki')
    assert done.returncode == 0, done.stdout + done.stderr
    pki = tmp_path / 'pki'
    assert stat.S_IMODE(pki.stat().st_mode) == 0o700
    assert sorted(p.name for p in pki.iterdir()) == sorted(FILES.values())
    for var, name in FILES.items():
        assert (pki / name).read_text() == 'PEM of %s\n' % name
        assert stat.S_IMODE((pki / name).stat().st_mode) == 0o600
    assert 'PEM of' not in done.stdout, 'a key was printed'


def test_without_the_credential_it_names_what_is_missing_and_changes_nothing(tmp_path):
    ca = tmp_path / 'ca'
    ca.write_text('PEM\n')
    done = run(tmp_path, {'LIBVIRT_TLS_CA_CERT': str(ca)}, '-e', 'instance=vm1')
    out = ' '.join(done.stdout.split())
    assert done.returncode != 0
    assert 'LIBVIRT_TLS_CLIENT_CERT, LIBVIRT_TLS_CLIENT_KEY not set: attach the libvirt TLS client credential' in out, done.stdout
    assert 'Nothing was changed' in out
    assert not (tmp_path / 'pki').exists()
    # localhost failed: no task of live-migrate.yml's plays ran
    later = done.stdout.split('TASK [Check that the libvirt TLS credential', 1)[1].split('PLAY RECAP', 1)[0]
    assert 'TASK [' not in later, done.stdout
