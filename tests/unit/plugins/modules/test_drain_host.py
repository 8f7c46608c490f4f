# -*- coding: utf-8 -*-
# Copyright: (c) 2025, openstack_ops developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""drain_host through Ansible's module machinery, against the fake cloud."""

from __future__ import annotations

import functools

import yaml

from ansible_collections.openstack_ops.live_migration.plugins.module_utils import drain as dr
from ansible_collections.openstack_ops.live_migration.plugins.modules import drain_host
from ansible_collections.openstack_ops.live_migration.tests.unit.plugins import fakes
from ansible_collections.openstack_ops.live_migration.tests.unit.plugins.moduletest import run_module
from ansible_collections.openstack_ops.live_migration.tests.unit.plugins.table import FakeClock, table

CASES = [
    dict(id='drained', args=dict(host='cmp1'), expect=dict(ok=True, changed=True), msg='Drain of cmp1 complete'),
    dict(id='check mode', args=dict(host='cmp1'), check=True, expect=dict(ok=True), msg='Would drain cmp1', no_post=True),
    dict(id='empty host', args=dict(host=''), expect=dict(failed=True), msg='host is an empty string', no_post=True),
    # measured before: the empty item was taken as a host name
    dict(id='empty target_hosts item', args=dict(host='cmp1', target_hosts=['cmp2', '']), expect=dict(failed=True),
         msg='target_hosts[1] is an empty string: remove the empty item', no_post=True),
    dict(id='-e target_hosts=cmp2,', args=dict(host='cmp1', target_hosts='cmp2,'), expect=dict(failed=True),
         msg='target_hosts[1] is an empty string: remove the empty item', no_post=True),
    dict(id='bad max_parallel', args=dict(host='cmp1', max_parallel=0), expect=dict(failed=True),
         msg='max_parallel must be at least 1. Nothing was changed.', no_post=True),
    dict(id='undrained', args=dict(host='cmp1', state='undrained'), expect=dict(ok=True, changed=False),
         msg='enabled already', no_post=True),
    dict(id='bad wait_up_timeout', args=dict(host='cmp1', state='undrained', wait_up_timeout=-1),
         expect=dict(failed=True), msg='wait_up_timeout must be at least 0. Nothing was changed.', no_post=True),
    dict(id='undrained, waited for a service that stays down',
         args=dict(host='cmp1', state='undrained', wait_up_timeout=20),
         setup=lambda c: c.service('cmp1').update(status='disabled', disabled_reason=dr.drain_reason(), state='down'),
         expect=dict(failed=True, changed=False), msg='still down after wait_up_timeout=20 s', no_post=True),
]


@table(CASES)
def test_drain_host_module(case, monkeypatch, capsys, tmp_path):
    clock = FakeClock()
    cloud = fakes.FakeCloud(clock)
    cloud.plan = fakes.success_plan()
    if case.get('setup'):
        case['setup'](cloud)
    monkeypatch.setattr(drain_host, 'HostDrain', functools.partial(dr.HostDrain, monotonic=clock.monotonic,
                                                                   sleep=clock.sleep))
    args = dict(case['args'], progress_dir=str(tmp_path / 'progress'))
    result = run_module(drain_host, args, monkeypatch, capsys, conn=fakes.FakeConn(cloud),
                        check_mode=case.get('check', False))
    for key, value in case['expect'].items():
        assert result.get(key) == value, (key, result.get(key), result.get('msg'))
    assert case['msg'] in result['msg'], result['msg']
    if case.get('no_post'):
        assert not cloud.called('post')
    if case['id'] == 'drained':
        assert (tmp_path / 'progress' / ('%s.jsonl' % fakes.UUID)).exists()


def test_returned_keys_are_documented(monkeypatch, capsys, tmp_path):
    clock = FakeClock()
    cloud = fakes.FakeCloud(clock)
    cloud.plan = fakes.success_plan()
    monkeypatch.setattr(drain_host, 'HostDrain', functools.partial(dr.HostDrain, monotonic=clock.monotonic,
                                                                   sleep=clock.sleep))
    result = run_module(drain_host, dict(host='cmp1'), monkeypatch, capsys, conn=fakes.FakeConn(cloud))
    documented = set(yaml.safe_load(drain_host.RETURN))
    returned = set(result) - {'invocation', 'warnings', 'failed', 'changed'}
    assert returned <= documented, 'undocumented keys: %s' % (returned - documented)


def test_a_failed_move_is_reported_under_not_moved_and_fails_the_task(monkeypatch, capsys):
    """`failed` is Ansible's own status key: the list of servers that did not move is `not_moved`."""
    clock = FakeClock()
    cloud = fakes.FakeCloud(clock)
    cloud.plan = fakes.libvirt_failure_plan('boom')
    monkeypatch.setattr(drain_host, 'HostDrain', functools.partial(dr.HostDrain, monotonic=clock.monotonic,
                                                                   sleep=clock.sleep))
    result = run_module(drain_host, dict(host='cmp1', retries=0), monkeypatch, capsys, conn=fakes.FakeConn(cloud))
    assert result['failed'] is True and [m['id'] for m in result['not_moved']] == [fakes.UUID]
    assert 'NOT complete' in result['msg']
