# -*- coding: utf-8 -*-
# Copyright: (c) 2025, openstack_ops developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

import json
import os

from ansible_collections.openstack_ops.live_migration.plugins.modules import ini_keys
from ansible_collections.openstack_ops.live_migration.tests.unit.plugins.module_utils.test_ini_keys import SECRET_CONF
from ansible_collections.openstack_ops.live_migration.tests.unit.plugins.moduletest import run_module
from ansible_collections.openstack_ops.live_migration.tests.unit.plugins.table import table

SETTINGS = {'libvirt': {'live_migration_tunnelled': None, 'live_migration_scheme': 'tls'},
            'DEFAULT': {'max_concurrent_live_migrations': 1}}
CHANGED = (SECRET_CONF.replace('debug = false\n', 'debug = false\nmax_concurrent_live_migrations = 1\n')
           .replace('live_migration_tunnelled = true\n', 'live_migration_scheme = tls\n'))

CASES = [
    dict(id='changes the file, keeps owner and mode', start=SECRET_CONF, check=False, diff=False,
         changed=True, content=CHANGED),
    dict(id='check mode predicts and writes nothing', start=SECRET_CONF, check=True, diff=False,
         changed=True, content=SECRET_CONF),
    dict(id='second run changes nothing', start=CHANGED, check=False, diff=False, changed=False, content=CHANGED),
    dict(id='check mode on a converged file', start=CHANGED, check=True, diff=True, changed=False, content=CHANGED),
    dict(id='diff in check mode', start=SECRET_CONF, check=True, diff=True, changed=True, content=SECRET_CONF),
]


@table(CASES)
def test_module(case, monkeypatch, capsys, tmp_path):
    conf = tmp_path / 'nova.conf'
    conf.write_text(case['start'])
    os.chmod(conf, 0o640)
    args = dict(path=str(conf), settings=SETTINGS, _ansible_diff=case['diff'])
    result = run_module(ini_keys, args, monkeypatch, capsys, check_mode=case['check'])
    assert result['changed'] is case['changed']
    assert bool(result['changes']) is case['changed']
    assert conf.read_text() == case['content']
    assert oct(conf.stat().st_mode & 0o777) == oct(0o640)
    assert [p.name for p in tmp_path.iterdir()] == ['nova.conf']  # no temporary file left
    assert ('diff' in result) is case['diff']
    # whatever the mode, the secrets never leave the module
    assert 'S3cr3t' not in json.dumps(result)


def test_diff_holds_the_managed_keys(monkeypatch, capsys, tmp_path):
    conf = tmp_path / 'nova.conf'
    conf.write_text(SECRET_CONF)
    result = run_module(ini_keys, dict(path=str(conf), settings=SETTINGS, _ansible_diff=True), monkeypatch, capsys)
    assert result['diff']['before'] == '[libvirt]\nlive_migration_tunnelled = true\n'
    assert result['diff']['after'] == '[libvirt]\nlive_migration_scheme = tls\n[DEFAULT]\nmax_concurrent_live_migrations = 1\n'


FAILURES = [
    dict(id='missing file', path='nope.conf', settings=SETTINGS, message='nope.conf does not exist'),
    dict(id='bad settings', path='nova.conf', settings={'libvirt': ['x']},
         message="settings: settings['libvirt'] must be a dict"),
]


@table(FAILURES)
def test_failures(case, monkeypatch, capsys, tmp_path):
    (tmp_path / 'nova.conf').write_text(SECRET_CONF)
    result = run_module(ini_keys, dict(path=str(tmp_path / case['path']), settings=case['settings']),
                        monkeypatch, capsys)
    assert result['failed'] and case['message'] in result['msg']
    assert (tmp_path / 'nova.conf').read_text() == SECRET_CONF


def test_an_empty_path_is_refused(monkeypatch, capsys):
    result = run_module(ini_keys, dict(path='', settings={'libvirt': {'virt_type': 'qemu'}}), monkeypatch, capsys)
    assert result['failed'] and result['msg'] == 'path is an empty string: give it a value, or leave it out to get its default. Nothing was changed.'
