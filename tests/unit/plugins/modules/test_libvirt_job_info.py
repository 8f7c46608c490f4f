# -*- coding: utf-8 -*-
# Copyright: (c) 2025, openstack_ops developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

import pytest

from ansible_collections.openstack_ops.live_migration.plugins.module_utils import libvirt_jobs
from ansible_collections.openstack_ops.live_migration.plugins.modules import libvirt_job_info
from ansible_collections.openstack_ops.live_migration.tests.unit.plugins import fakes
from ansible_collections.openstack_ops.live_migration.tests.unit.plugins.moduletest import run_module
from ansible_collections.openstack_ops.live_migration.tests.unit.plugins.table import FakeClock, table

MiB = fakes.MiB
RUNNING = fakes.jobstats(2300, 128 * MiB, 128 * MiB, 256 * MiB, 176 * MiB, 240 * MiB, 1)

NEEDS_NOVA = [
    dict(id='uuid and local uri', params=dict(server=fakes.UUID, libvirt_uri='qemu:///system'), nova=False),
    dict(id='uuid and literal remote uri', params=dict(server=fakes.UUID, libvirt_uri='qemu+tcp://cmp1/system'), nova=False),
    dict(id='uuid, template and host', params=dict(server=fakes.UUID, libvirt_uri='qemu+tcp://{host}/system', host='cmp1'),
         nova=False),
    dict(id='uuid, template, no host', params=dict(server=fakes.UUID, libvirt_uri='qemu+tcp://{host}/system'), nova=True),
    dict(id='a name', params=dict(server='vm1', libvirt_uri='qemu:///system'), nova=True),
]


@table(NEEDS_NOVA)
def test_needs_nova(case):
    assert libvirt_job_info.needs_nova(case['params']) is case['nova']


CASES = [
    dict(id='delegated with a uuid: no cloud at all', args=dict(server=fakes.UUID, libvirt_uri='qemu+tcp://cmp1/system'),
         conn=False, expect=dict(domain_state='running', uri='qemu+tcp://cmp1/system'),
         line='disk 128/128 MiB, memory 80 MiB left, 240 MiB/s, ETA 1 s'),
    dict(id='name and template: host from nova', args=dict(server='vm1', libvirt_uri='qemu+tcp://{host}/system'),
         conn=True, expect=dict(domain_state='running', uri='qemu+tcp://cmp1/system', server_id=fakes.UUID)),
    dict(id='node placeholder', args=dict(server='vm1', libvirt_uri='qemu+tcp://{node}/system'), conn=True,
         setup=lambda c: c.domains.update({'cmp1.lab': c.domains['cmp1']}),
         expect=dict(uri='qemu+tcp://cmp1.lab/system')),
    dict(id='absent on the destination', args=dict(server=fakes.UUID, libvirt_uri='qemu+tcp://cmp2/system'),
         conn=False, expect=dict(domain_state='absent', job=None)),
    dict(id='unknown server name', args=dict(server='ghost'), conn=True, expect=dict(failed=True),
         msg='No server is named or has the ID'),
    dict(id='unreachable libvirt', args=dict(server=fakes.UUID, libvirt_uri='qemu+tcp://cmp7/system'), conn=False,
         expect=dict(failed=True), msg="Cannot read libvirt: cannot connect to qemu+tcp://cmp7/system"),
]


@table(CASES)
def test_libvirt_job_info(case, monkeypatch, capsys):
    cloud = fakes.FakeCloud(FakeClock())
    cloud.domains['cmp1'][fakes.UUID]['job'] = RUNNING
    if case.get('setup'):
        case['setup'](cloud)
    lib = fakes.FakeLibvirt(cloud)
    monkeypatch.setattr(libvirt_job_info, 'LibvirtJobReader', lambda uri: libvirt_jobs.LibvirtJobReader(uri, lib=lib))
    result = run_module(libvirt_job_info, case['args'], monkeypatch, capsys,
                        conn=fakes.FakeConn(cloud) if case['conn'] else None)
    for key, value in case['expect'].items():
        assert result.get(key) == value, (key, result)
    if case.get('line'):
        assert result['line'] == case['line']
    if case.get('msg'):
        assert case['msg'] in result['msg']
    if not result.get('failed'):
        assert result['changed'] is False


@pytest.mark.skipif(not libvirt_jobs.HAS_LIBVIRT, reason='libvirt-python not installed')
def test_real_bindings_report_an_unsupported_driver(monkeypatch, capsys):
    result = run_module(libvirt_job_info, dict(server='6695eb01-f6a4-8304-79aa-97f2502e193f', libvirt_uri='test:///default'),
                        monkeypatch, capsys)
    assert result['failed'] and 'not supported' in result['msg']


def test_sdk_log_path_without_nova(monkeypatch, capsys, tmp_path):
    cloud = fakes.FakeCloud(FakeClock())
    lib = fakes.FakeLibvirt(cloud)
    monkeypatch.setattr(libvirt_job_info, 'LibvirtJobReader', lambda uri: libvirt_jobs.LibvirtJobReader(uri, lib=lib))
    result = run_module(libvirt_job_info, dict(server=fakes.UUID, libvirt_uri='qemu+tcp://cmp1/system',
                                               sdk_log_path=str(tmp_path / 'sdk.log')), monkeypatch, capsys)
    assert result['domain_state'] == 'running' and result['line'] == 'no job running (none)'
