# -*- coding: utf-8 -*-
# Copyright: (c) 2025, openstack_ops developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

from ansible_collections.openstack_ops.live_migration.plugins.modules import live_migration_info
from ansible_collections.openstack_ops.live_migration.tests.unit.plugins import fakes
from ansible_collections.openstack_ops.live_migration.tests.unit.plugins.moduletest import run_module
from ansible_collections.openstack_ops.live_migration.tests.unit.plugins.table import FakeClock, table

MiB = fakes.MiB


def cloud_with_history():
    cloud = fakes.FakeCloud(FakeClock(), servers=[fakes.server_json(), fakes.server_json(id='u2', name='vm2')])
    base = dict(instance_uuid=fakes.UUID, migration_type='live-migration', source_compute='cmp1', dest_compute='cmp2',
                memory_total_bytes=None, memory_processed_bytes=None, memory_remaining_bytes=None,
                disk_total_bytes=None, disk_processed_bytes=None, disk_remaining_bytes=None)
    cloud.migrations += [
        dict(base, id=1, status='completed'),
        dict(base, id=2, status='error'),
        dict(base, id=3, status='running', memory_total_bytes=256 * MiB, memory_processed_bytes=176 * MiB,
             memory_remaining_bytes=80 * MiB, disk_total_bytes=128 * MiB, disk_processed_bytes=128 * MiB,
             disk_remaining_bytes=0),
        dict(base, id=4, status='completed', instance_uuid='u2', migration_type='migration', source_compute='cmp3',
             dest_compute='cmp1'),
    ]
    cloud.actions[fakes.UUID] = [{'action': 'live-migration', 'request_id': 'req-2', 'start_time': '2025-01-01T00:00:02',
                                  'message': 'Error', 'events': [{'event': 'compute_live_migration', 'result': 'Error',
                                                                  'details': 'boom'}]}]
    return cloud


CASES = [
    dict(id='a server, newest first', args=dict(server='vm1'), ids=[3, 2, 1],
         progress={3: 'running: disk 128/128 MiB, memory 80 MiB left', 2: 'error'}),
    dict(id='in progress only', args=dict(server='vm1', in_progress=True), ids=[3]),
    dict(id='limit', args=dict(server='vm1', limit=2), ids=[3, 2]),
    dict(id='a host, every kind', args=dict(host='cmp1', migration_type='all'), ids=[4, 3, 2, 1]),
    dict(id='a host, live only', args=dict(host='cmp3'), ids=[]),
    dict(id='unknown server is an empty list', args=dict(server='ghost'), ids=[], server=None),
    dict(id='with events', args=dict(server='vm1', with_events=True), ids=[3, 2, 1], actions=['req-2']),
]


@table(CASES)
def test_live_migration_info(case, monkeypatch, capsys):
    cloud = cloud_with_history()
    result = run_module(live_migration_info, case['args'], monkeypatch, capsys, conn=fakes.FakeConn(cloud))
    assert result['changed'] is False and not result.get('failed'), result
    assert [m['id'] for m in result['migrations']] == case['ids']
    for mid, text in case.get('progress', {}).items():
        assert [m for m in result['migrations'] if m['id'] == mid][0]['progress'].startswith(text)
    if 'server' in case:
        assert result['server'] is None
    assert [a['request_id'] for a in result['actions']] == case.get('actions', [])
    assert not [c for c in cloud.calls if c[0] in ('post', 'abort_server_migration', 'reset_server_state')]


def test_check_mode_is_the_same(monkeypatch, capsys):
    cloud = cloud_with_history()
    result = run_module(live_migration_info, dict(server='vm1'), monkeypatch, capsys, conn=fakes.FakeConn(cloud),
                        check_mode=True)
    assert [m['id'] for m in result['migrations']] == [3, 2, 1]
