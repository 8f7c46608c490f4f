# -*- coding: utf-8 -*-
# Copyright: (c) 2026, openstack_ops developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""x509_check in-process against the real files of make-pki.sh (test_x509's fixture)."""

from __future__ import annotations

import json
import os

import pytest

from ansible_collections.openstack_ops.live_migration.plugins.modules import x509_check
from ansible_collections.openstack_ops.live_migration.tests.unit.plugins.module_utils.test_x509 import make_pki
from ansible_collections.openstack_ops.live_migration.tests.unit.plugins.moduletest import run_module
from ansible_collections.openstack_ops.live_migration.tests.unit.plugins.table import table


def args(pki, server_cert='hv-c-server-cert.pem', **extra):
    out = dict(ca_cert=str(pki / 'ca-cert.pem'), ca_cert_label='libvirt_listener_tls_ca_cert', certificates=[
        dict(cert=str(pki / server_cert), key=str(pki / 'hv-c-server-key.pem'), names=['198.18.10.13', 'hv-c'],
             cert_label='libvirt_listener_tls_server_cert', key_label='libvirt_listener_tls_server_key'),
        dict(cert=str(pki / 'hv-c-client-cert.pem'), key=str(pki / 'hv-c-client-key.pem'))])
    out.update(extra)
    return out


@pytest.fixture(scope='module')
def pki(tmp_path_factory):
    return make_pki(tmp_path_factory)


CASES = [
    dict(id='good material', server='hv-c-server-cert.pem', extra={}, failed=False, problems=0),
    dict(id='good material in check mode', server='hv-c-server-cert.pem', extra={}, check=True, failed=False, problems=0),
    dict(id='expired: fails, one message', server='hv-c-expired-server-cert.pem', extra={}, failed=True, problems=1,
         msg='1 problem(s) with the TLS files:\nlibvirt_listener_tls_server_cert='),
    dict(id='another CA in check mode: fails too', server='hv-c-wrongca-server-cert.pem', extra={}, check=True,
         failed=True, problems=1, msg='is not signed by the CA'),
    dict(id='fail_on_problem false: findings only', server='hv-c-nosan-server-cert.pem',
         extra=dict(fail_on_problem=False), failed=False, problems=1),
]


@table(CASES)
def test_module(pki, case, monkeypatch, capsys):
    before = sorted((p.name, os.stat(p).st_mtime_ns) for p in pki.iterdir())
    result = run_module(x509_check, args(pki, case['server'], **case['extra']), monkeypatch, capsys,
                        check_mode=case.get('check', False))
    assert result['changed'] is False
    assert bool(result.get('failed')) is case['failed'], result
    assert len(result['problems']) == case['problems'], result['problems']
    assert [f['kind'] for f in result['files']] == ['ca_cert', 'cert', 'key', 'cert', 'key']
    assert all(isinstance(f['days_left'], int) for f in result['files'] if f['kind'] != 'key')
    if 'msg' in case:
        assert case['msg'] in result['msg'], result['msg']
    assert sorted((p.name, os.stat(p).st_mtime_ns) for p in pki.iterdir()) == before   # read-only


def test_expiring_material_warns(pki, monkeypatch, capsys):
    result = run_module(x509_check, args(pki, warn_days=100), monkeypatch, capsys)
    assert not result.get('failed') and result['problems'] == []
    assert len(result['expiring']) == 3
    # the task's warnings (ansible-core 2.19+ gives them as structured events: read them as text)
    shown = json.dumps(result.get('warnings', []))
    assert all(w in shown for w in result['expiring']) and 'libvirt_listener_tls_ca_cert=' in shown


def test_empty_string_refused(pki, monkeypatch, capsys):
    result = run_module(x509_check, args(pki, ca_cert=''), monkeypatch, capsys)
    assert result['failed'] and 'ca_cert is an empty string' in result['msg']
