# -*- coding: utf-8 -*-
# Copyright: (c) 2025, openstack_ops developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

import pytest

from ansible_collections.openstack_ops.live_migration.plugins.module_utils import ini_keys
from ansible_collections.openstack_ops.live_migration.tests.unit.plugins.table import table

SECRET_CONF = (
    "[DEFAULT]\n"
    "transport_url = rabbit://nova:S3cr3t-mq@192.0.2.1:5672/\n"
    "debug = false\n"
    "\n"
    "[keystone_authtoken]\n"
    "password = S3cr3t-ks\n"
    "\n"
    "[libvirt]\n"
    "virt_type = qemu\n"
    "live_migration_tunnelled = true\n"
)

CASES = [
    dict(id='replace a value, keep the rest',
         text='[libvirt]\n# a comment\nvirt_type = qemu\nlive_migration_scheme = tcp\n',
         settings={'libvirt': {'live_migration_scheme': 'tls'}},
         expected='[libvirt]\n# a comment\nvirt_type = qemu\nlive_migration_scheme = tls\n',
         changes=[('libvirt', 'live_migration_scheme', 'tcp', 'tls')]),
    dict(id='already right: untouched, even when written without spaces',
         text='[libvirt]\nlive_migration_scheme=tls\n',
         settings={'libvirt': {'live_migration_scheme': 'tls'}},
         expected='[libvirt]\nlive_migration_scheme=tls\n', changes=[]),
    dict(id='missing key goes after the last setting of its section',
         text='[DEFAULT]\ndebug = false\n\n[libvirt]\nvirt_type = qemu\n',
         settings={'DEFAULT': {'max_concurrent_live_migrations': 1}},
         expected='[DEFAULT]\ndebug = false\nmax_concurrent_live_migrations = 1\n\n[libvirt]\nvirt_type = qemu\n',
         changes=[('DEFAULT', 'max_concurrent_live_migrations', None, '1')]),
    dict(id='missing section goes at the end after a blank line',
         text='[DEFAULT]\ndebug = false\n',
         settings={'libvirt': {'live_migration_scheme': 'tcp'}},
         expected='[DEFAULT]\ndebug = false\n\n[libvirt]\nlive_migration_scheme = tcp\n',
         changes=[('libvirt', 'live_migration_scheme', None, 'tcp')]),
    dict(id='file without a final newline',
         text='[libvirt]\nvirt_type = qemu',
         settings={'libvirt': {'live_migration_bandwidth': 0}},
         expected='[libvirt]\nvirt_type = qemu\nlive_migration_bandwidth = 0\n',
         changes=[('libvirt', 'live_migration_bandwidth', None, '0')]),
    dict(id='empty file',
         text='', settings={'DEFAULT': {'a': 'b'}}, expected='[DEFAULT]\na = b\n',
         changes=[('DEFAULT', 'a', None, 'b')]),
    dict(id='null removes the key, and its continuation lines',
         text='[libvirt]\nlive_migration_uri = qemu+tcp://%s/system\n    more\nvirt_type = qemu\n',
         settings={'libvirt': {'live_migration_uri': None}},
         expected='[libvirt]\nvirt_type = qemu\n',
         changes=[('libvirt', 'live_migration_uri', 'qemu+tcp://%s/system\nmore', None)]),
    dict(id='a value with continuation lines becomes one line',
         text='[libvirt]\na = x\n  y\nb = 1\n',
         settings={'libvirt': {'a': 'x'}},
         expected='[libvirt]\na = x\nb = 1\n',
         changes=[('libvirt', 'a', 'x\ny', 'x')]),
    dict(id='null on an absent key changes nothing',
         text='[libvirt]\nvirt_type = qemu\n',
         settings={'libvirt': {'live_migration_tunnelled': None}, 'other': {'x': None}},
         expected='[libvirt]\nvirt_type = qemu\n', changes=[]),
    dict(id='duplicates in the section: the first line stays, the others go',
         text='[libvirt]\nlive_migration_scheme = tls\nvirt_type = qemu\nlive_migration_scheme = tcp\n',
         settings={'libvirt': {'live_migration_scheme': 'tls'}},
         expected='[libvirt]\nlive_migration_scheme = tls\nvirt_type = qemu\n',
         changes=[('libvirt', 'live_migration_scheme', 'tls', 'tls')]),
    dict(id='same key in another section is not touched',
         text='[DEFAULT]\nlive_migration_scheme = x\n[libvirt]\nlive_migration_scheme = tcp\n',
         settings={'libvirt': {'live_migration_scheme': 'tls'}},
         expected='[DEFAULT]\nlive_migration_scheme = x\n[libvirt]\nlive_migration_scheme = tls\n',
         changes=[('libvirt', 'live_migration_scheme', 'tcp', 'tls')]),
    dict(id='commented example is neither changed nor counted',
         text='[libvirt]\n#live_migration_scheme = tcp\n',
         settings={'libvirt': {'live_migration_scheme': 'tls'}},
         expected='[libvirt]\n#live_migration_scheme = tcp\nlive_migration_scheme = tls\n',
         changes=[('libvirt', 'live_migration_scheme', None, 'tls')]),
    dict(id='section names are case-sensitive',
         text='[default]\na = 1\n',
         settings={'DEFAULT': {'a': '1'}},
         expected='[default]\na = 1\n\n[DEFAULT]\na = 1\n',
         changes=[('DEFAULT', 'a', None, '1')]),
    dict(id='booleans and numbers are written as nova reads them',
         text='[libvirt]\n',
         settings={'libvirt': {'a': True, 'b': False, 'c': 800}},
         expected='[libvirt]\na = true\nb = false\nc = 800\n',
         changes=[('libvirt', 'a', None, 'true'), ('libvirt', 'b', None, 'false'), ('libvirt', 'c', None, '800')]),
    dict(id='CRLF files stay CRLF',
         text='[libvirt]\r\nvirt_type = qemu\r\n',
         settings={'libvirt': {'virt_type': 'kvm', 'x': 1}},
         expected='[libvirt]\r\nvirt_type = kvm\r\nx = 1\r\n',
         changes=[('libvirt', 'virt_type', 'qemu', 'kvm'), ('libvirt', 'x', None, '1')]),
    dict(id='nova.conf with secrets: only the managed keys move',
         text=SECRET_CONF,
         settings={'libvirt': {'live_migration_tunnelled': None, 'live_migration_scheme': 'tls'},
                   'DEFAULT': {'max_concurrent_live_migrations': 1}},
         expected=SECRET_CONF.replace('debug = false\n', 'debug = false\nmax_concurrent_live_migrations = 1\n')
         .replace('live_migration_tunnelled = true\n', 'live_migration_scheme = tls\n'),
         changes=[('libvirt', 'live_migration_tunnelled', 'true', None), ('libvirt', 'live_migration_scheme', None, 'tls'),
                  ('DEFAULT', 'max_concurrent_live_migrations', None, '1')]),
]


def _tuples(changes):
    return [(c['section'], c['key'], c['before'], c['after']) for c in changes]


@table(CASES)
def test_apply(case):
    text, changes = ini_keys.apply(case['text'], case['settings'])
    assert text == case['expected']
    assert _tuples(changes) == case['changes']
    # exact changed: the changes list is empty exactly when the file stays the same
    assert (text != case['text']) == bool(changes)
    # idempotent: a second pass changes nothing
    assert ini_keys.apply(text, case['settings']) == (text, [])


BAD = [
    dict(id='section not a dict', settings={'libvirt': 'x'}, message="settings['libvirt'] must be a dict"),
    dict(id='key with =', settings={'libvirt': {'a=b': 1}}, message="invalid key 'a=b' in section [libvirt]"),
    dict(id='commented key', settings={'libvirt': {'#a': 1}}, message="invalid key '#a'"),
    dict(id='list value', settings={'libvirt': {'a': [1]}}, message='[libvirt] a: a value must be a string'),
    dict(id='two-line value', settings={'libvirt': {'a': 'x\ny'}}, message='[libvirt] a: a value must be one line'),
    dict(id='bracket in section', settings={'a]b': {'a': 1}}, message="invalid section name 'a]b'"),
]


@table(BAD)
def test_bad_settings(case):
    with pytest.raises(ValueError) as err:
        ini_keys.apply('', case['settings'])
    assert case['message'] in str(err.value)


def test_diff_shows_the_managed_keys_only():
    settings = {'libvirt': {'live_migration_tunnelled': None, 'live_migration_scheme': 'tls', 'virt_type': 'qemu'},
                'DEFAULT': {'max_concurrent_live_migrations': 1}}
    dummy, changes = ini_keys.apply(SECRET_CONF, settings)
    diff = ini_keys.diff(settings, changes, '/etc/nova/nova.conf')
    assert diff['before'] == '[libvirt]\nlive_migration_tunnelled = true\n'
    assert diff['after'] == '[libvirt]\nlive_migration_scheme = tls\n[DEFAULT]\nmax_concurrent_live_migrations = 1\n'
    assert diff['before_header'] == '/etc/nova/nova.conf (managed keys only)'
    assert 'S3cr3t' not in repr(diff) and 'S3cr3t' not in repr(changes)
