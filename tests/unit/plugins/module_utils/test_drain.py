# -*- coding: utf-8 -*-
# Copyright: (c) 2025, openstack_ops developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Draining a compute host against the fake cloud: each move is live_migrate's own flow."""

from __future__ import annotations

import threading
import time

from ansible_collections.openstack_ops.live_migration.plugins.module_utils import drain as dr
from ansible_collections.openstack_ops.live_migration.plugins.module_utils.errors import OperatorError
from ansible_collections.openstack_ops.live_migration.plugins.module_utils.libvirt_jobs import LibvirtJobReader
from ansible_collections.openstack_ops.live_migration.plugins.module_utils.nova import NovaApi
from ansible_collections.openstack_ops.live_migration.tests.unit.plugins import fakes
from ansible_collections.openstack_ops.live_migration.tests.unit.plugins.table import FakeClock, table

PARAMS = dict(host='cmp1', target_hosts=None, max_parallel=1, order='smallest', retries=1, max_failures=0,
              cold_migrate_stopped=False, allow_leftovers=[], timeout_floor=600, timeout_per_gib=120,
              block_migration=True, on_timeout='abort', queue_timeout=1800, outage_budget=300, poll_interval=1.0,
              libvirt_uri='qemu+tcp://{host}/system', libvirt_addresses=None, recover_on_abort=False,
              accept_suspect_block_migration=False, force_enable=False, wait_up_timeout=0)


def srv(sid, name, host='cmp1', status='ACTIVE', ram=256, **over):
    where = {'OS-EXT-SRV-ATTR:host': host, 'OS-EXT-SRV-ATTR:hypervisor_hostname': host + '.lab'}
    body = fakes.server_json(id=sid, name=name, status=status, **where)
    body['flavor'] = dict(body['flavor'], ram=ram)
    body.update(over)
    return body


def cloud_with(*servers, computes=('cmp1', 'cmp2')):
    clock = FakeClock()
    cloud = fakes.FakeCloud(clock, servers=list(servers), computes=computes)
    cloud.plan = fakes.success_plan()
    return cloud


def run(cloud, op='drain', check_mode=False, **params):
    lib = fakes.FakeLibvirt(cloud)
    d = dr.HostDrain(lambda: NovaApi(fakes.FakeConn(cloud)), dict(PARAMS, **params),
                     reader_factory=lambda uri: LibvirtJobReader(uri, lib=lib),
                     monotonic=cloud.clock.monotonic, sleep=cloud.clock.sleep)
    try:
        return getattr(d, op)(check_mode), None
    except OperatorError as e:
        return dict(e.details, msg=e.msg), e


def posts(cloud):
    return [c[1][0].split('/')[2] for c in cloud.called('post')]


def test_every_server_moved_verified_and_the_service_disabled():
    cloud = cloud_with(srv('a', 'big', ram=1024), srv('b', 'small', ram=128), srv('c', 'elsewhere', host='cmp2'))
    result, error = run(cloud)
    assert error is None, result['msg']
    assert posts(cloud) == ['b', 'a'], 'smallest first'
    assert sorted(m['name'] for m in result['moved']) == ['big', 'small'] and not result['leftovers']
    assert all(m['ok'] and m['dest_host'] == 'cmp2' for m in result['moved'])
    assert cloud.service('cmp1')['status'] == 'disabled'
    assert cloud.service('cmp1')['disabled_reason'].startswith('openstack_ops.live_migration drain started ')
    assert result['disabled_by_drain'] is True and 'Drain of cmp1 complete: 2 server(s) moved' in result['msg']


def test_leftovers_fail_the_drain_unless_allowed_and_named():
    servers = (srv('a', 'web'), srv('e', 'broken', status='ERROR'), srv('s', 'stopped', status='SHUTOFF'))
    result, error = run(cloud_with(*servers))
    assert error is not None and 'NOT complete' in error.msg
    assert 'broken (e): it is ERROR, which a drain does not move' in error.msg
    assert 'stopped (s): it is SHUTOFF and cold_migrate_stopped is false' in error.msg
    result, error = run(cloud_with(*servers), allow_leftovers=['broken', 's'])
    assert error is None, result['msg']
    assert {x['name'] for x in result['leftovers']} == {'broken', 'stopped'} and all(x['allowed'] for x in result['leftovers'])


def test_stopped_servers_cold_migrate_when_asked():
    cloud = cloud_with(srv('s', 'stopped', status='SHUTOFF', **{'OS-EXT-STS:vm_state': 'stopped'}))
    result, error = run(cloud, cold_migrate_stopped=True)
    assert error is None, result['msg']
    assert cloud.called('migrate_server') and cloud.called('confirm_server_resize')
    assert result['moved'][0]['action'] == 'cold' and cloud.servers['s']['OS-EXT-SRV-ATTR:host'] == 'cmp2'


REFUSALS = [
    dict(id='unknown host', params=dict(host='cmp9'), expect=["'cmp9' is not a nova-compute host"]),
    dict(id='host down', setup=lambda c: c.service('cmp1').update(state='down'), expect=['is down']),
    dict(id='nowhere to go', setup=lambda c: c.service('cmp2').update(status='disabled'),
         expect=['No other nova-compute service is enabled and up']),
    dict(id='target disabled', params=dict(target_hosts=['cmp2']), setup=lambda c: c.service('cmp2').update(
        status='disabled'), expect=['target_hosts: the nova-compute service of cmp2 is disabled']),
    dict(id='target down', params=dict(target_hosts=['cmp2']), setup=lambda c: c.service('cmp2').update(
        state='down'), expect=['target_hosts: the nova-compute service of cmp2 is down']),
    dict(id='target forced down', params=dict(target_hosts=['cmp2']), setup=lambda c: c.service('cmp2').update(
        forced_down=True), expect=['target_hosts: the nova-compute service of cmp2 is down']),
    dict(id='target unknown', params=dict(target_hosts=['cmp2', 'cmp7']),
         expect=['target_hosts: cmp7 is not a nova-compute host']),
    dict(id='target is the host', params=dict(target_hosts=['cmp1']), expect=['names the host being drained']),
    dict(id='no room', setup=lambda c: c.usages['rp-cmp2'].update(MEMORY_MB=15800),
         expect=['cannot hold the servers of cmp1: MEMORY_MB: the servers need 512, the targets have 72 free']),
]


@table(REFUSALS)
def test_checks_change_nothing(case):
    cloud = cloud_with(srv('a', 'web'), srv('b', 'db'))
    if case.get('setup'):
        case['setup'](cloud)
    result, error = run(cloud, **case.get('params', {}))
    assert error is not None
    for text in case['expect']:
        assert text in error.msg, error.msg
    assert 'Nothing was changed.' in error.msg
    assert not cloud.called('post') and not cloud.called('disable_service')


ORDER = [
    dict(id='smallest first (the default)', order='smallest', expected=['b', 'c', 'a']),
    dict(id='largest first', order='largest', expected=['a', 'c', 'b']),
    dict(id='by name', order='name', expected=['c', 'a', 'b']),
]


@table(ORDER)
def test_order(case):
    """RAM plus local disk: a 2048 MiB, b 128 MiB, c 512 MiB (same 1 GB disk); names: c 'alpha', a 'mid',
    b 'zulu'."""
    cloud = cloud_with(srv('a', 'mid', ram=2048), srv('b', 'zulu', ram=128), srv('c', 'alpha', ram=512))
    result, error = run(cloud, order=case['order'])
    assert error is None, result['msg']
    assert posts(cloud) == case['expected']


def test_a_rerun_of_a_finished_drain_changes_nothing():
    cloud = cloud_with(srv('a', 'web'), srv('b', 'db'))
    first, error = run(cloud)
    assert error is None, first['msg']
    reason = cloud.service('cmp1')['disabled_reason']
    assert first['changed'] is True and first['disabled_by_drain'] is True and first['disabled_reason'] == reason
    cloud.calls = []
    again, error = run(cloud)
    assert error is None, again['msg']
    assert again['changed'] is False and again['moved'] == [] and again['leftovers'] == []
    assert not cloud.called('post') and not cloud.called('disable_service') and not cloud.called('enable_service')
    # the reason is the drain's own, from the first run: kept, and read as the drain's (undrain enables it)
    assert cloud.service('cmp1')['disabled_reason'] == reason
    assert again['disabled_reason'] == reason and again['disabled_by_drain'] is True
    assert 'Drain of cmp1 complete: 0 server(s) moved and verified, 0 left' in again['msg']
    assert reason in again['msg']
    planned, error = run(cloud, check_mode=True)
    assert error is None and planned['changed'] is False


def test_an_operator_reason_is_kept():
    cloud = cloud_with(srv('a', 'web'))
    cloud.service('cmp1').update(status='disabled', disabled_reason='RMA ticket 42')
    result, error = run(cloud)
    assert error is None and not cloud.called('disable_service')
    assert result['disabled_reason'] == 'RMA ticket 42' and result['disabled_by_drain'] is False


def test_a_failure_on_the_source_is_retried():
    cloud = cloud_with(srv('a', 'web'))
    cloud.plan = fakes.libvirt_failure_plan('boom')
    original = cloud.compute.post

    def post(url, json=None, microversion=None, **kwargs):
        response = original(url, json=json, microversion=microversion)
        cloud.plan = fakes.success_plan()    # the next attempt succeeds
        return response
    cloud.compute.post = post
    result, error = run(cloud, retries=1)
    assert error is None, result['msg']
    assert result['moved'][0]['attempts'] == 2 and len(cloud.called('post')) == 2


def test_max_failures_stops_new_moves_and_names_the_rest():
    cloud = cloud_with(srv('a', 'one'), srv('b', 'two'), srv('c', 'three'))
    cloud.plan = fakes.libvirt_failure_plan('boom')
    result, error = run(cloud, retries=0, max_failures=1, order='name')
    assert error is not None and len(cloud.called('post')) == 1
    assert [s['name'] for s in result['skipped']] == ['three', 'two']
    assert 'max_failures (1) reached before it started' in error.msg


def test_a_server_that_arrives_during_the_drain_is_a_leftover():
    cloud = cloud_with(srv('a', 'web'))
    newcomer = srv('n', 'newcomer')
    cloud.plan = fakes.success_plan() + [(0.5, lambda c: c.servers.setdefault('n', newcomer))]
    result, error = run(cloud)
    assert error is not None and 'newcomer (n): it arrived on the host during the drain' in error.msg


def test_a_rerun_attaches_to_a_migration_in_progress():
    cloud = cloud_with(srv('a', 'web'))
    cloud.plan = fakes.success_plan(start=20.0)
    cloud.compute.post('/servers/a/action', json={'os-migrateLive': {'host': 'cmp2', 'block_migration': True}},
                       microversion='2.68')
    cloud.clock.sleep(5)
    cloud.calls = []
    result, error = run(cloud)
    assert error is None, result['msg']
    assert not cloud.called('post') and result['moved'][0]['attached'] is True


def test_check_mode_plans_and_changes_nothing():
    cloud = cloud_with(srv('a', 'web'), srv('e', 'broken', status='ERROR'))
    result, error = run(cloud, check_mode=True)
    assert error is None and result['changed'] is True and 'move 1 server(s) to cmp2, leave 1' in result['msg']
    assert not cloud.called('post') and not cloud.called('disable_service')


UNDRAIN = [
    dict(id='our reason', reason=dr.drain_reason(), status='disabled', changed=True, enabled=True),
    dict(id='already enabled', reason=None, status='enabled', changed=False, enabled=True),
    dict(id="an operator's reason", reason='RMA ticket 42', status='disabled', error='disabled by someone else',
         enabled=False),
    dict(id="an operator's reason, forced", reason='RMA ticket 42', status='disabled', force=True, changed=True,
         enabled=True),
]


@table(UNDRAIN)
def test_undrain(case):
    cloud = cloud_with(srv('a', 'web'))
    cloud.service('cmp1').update(status=case['status'], disabled_reason=case['reason'])
    result, error = run(cloud, op='undrain', force_enable=case.get('force', False))
    if case.get('error'):
        assert error is not None and case['error'] in error.msg and 'Nothing was changed' in error.msg
    else:
        assert error is None and result['changed'] is case['changed']
    assert (cloud.service('cmp1')['status'] == 'enabled') is case['enabled']


def test_at_most_max_parallel_moves_at_once(monkeypatch):
    live = {'now': 0, 'max': 0}
    lock = threading.Lock()

    def move(self, server, action, target):
        with lock:
            live['now'] += 1
            live['max'] = max(live['max'], live['now'])
        time.sleep(0.05)
        with lock:
            live['now'] -= 1
        return {'id': server['id'], 'name': server['name'], 'ok': True}
    monkeypatch.setattr(dr.HostDrain, 'move', move)
    monkeypatch.setattr(dr.HostDrain, 'conclude', lambda self, host, plan, t0: self.result)
    cloud = cloud_with(*[srv('s%d' % i, 'vm%d' % i) for i in range(6)])
    result, error = run(cloud, max_parallel=2)
    assert error is None and live['max'] == 2 and len(result['moved']) == 6


SIZES = [
    dict(id='small: the floor', ram=256, disk=1, floor=600, per_gib=120, expected=600),
    dict(id='large: RAM and disk', ram=16384, disk=80, floor=600, per_gib=120, expected=int((16 + 80) * 120)),
    dict(id='volume-backed: no root disk', ram=8192, disk=80, volume=True, floor=60, per_gib=60, expected=480),
]


@table(SIZES)
def test_timeout_scales_with_size(case):
    server = {'flavor': {'ram': case['ram'], 'disk': case['disk']}, 'volume_backed': case.get('volume', False)}
    assert dr.server_timeout(server, case['floor'], case['per_gib']) == case['expected']


CLASSIFY = [
    dict(id='active', s={'status': 'ACTIVE'}, action='live'),
    dict(id='paused', s={'status': 'PAUSED'}, action='live'),
    dict(id='migrating: attach', s={'status': 'MIGRATING', 'task_state': 'migrating'}, action='live'),
    dict(id='shutoff', s={'status': 'SHUTOFF'}, action='leftover'),
    dict(id='shutoff, cold allowed', s={'status': 'SHUTOFF'}, cold=True, action='cold'),
    dict(id='suspended', s={'status': 'SUSPENDED'}, action='leftover'),
    dict(id='rebooting', s={'status': 'ACTIVE', 'task_state': 'rebooting'}, action='leftover'),
    dict(id='locked', s={'status': 'ACTIVE', 'locked': True, 'locked_reason': 'audit'}, action='leftover'),
]


@table(CLASSIFY)
def test_classify(case):
    assert dr.classify(case['s'], case.get('cold', False))[0] == case['action']


ATTACH = [
    dict(id='to the other target', dest='cmp3', targets=['cmp2', 'cmp3']),
    dict(id='to the round-robin target', dest='cmp2', targets=['cmp2', 'cmp3']),
    dict(id='no target_hosts: wherever the scheduler sent it', dest='cmp3', targets=None),
]


@table(ATTACH)
def test_a_rerun_attaches_to_a_migration_in_progress_to_any_of_its_targets(case):
    """Round-robin hands this server cmp2; the migration a lost run started goes to cmp3. It is still
    the drain's own move: attached to and verified on cmp3, never refused, never requested again."""
    cloud = cloud_with(srv('a', 'web'), computes=('cmp1', 'cmp2', 'cmp3'))
    cloud.plan = fakes.success_plan(dest=case['dest'], start=20.0)
    cloud.compute.post('/servers/a/action', json={'os-migrateLive': {'host': case['dest'], 'block_migration': True}},
                       microversion='2.68')
    cloud.clock.sleep(5)
    cloud.calls = []
    result, error = run(cloud, target_hosts=case['targets'])
    assert error is None, result['msg']
    assert not cloud.called('post')
    moved = result['moved'][0]
    assert moved['attached'] is True and moved['dest_host'] == case['dest'] == moved['server_host']
    assert cloud.servers['a']['OS-EXT-SRV-ATTR:host'] == case['dest']


def test_a_migration_in_progress_to_a_host_outside_the_targets_is_not_the_drains():
    cloud = cloud_with(srv('a', 'web'), computes=('cmp1', 'cmp2', 'cmp3', 'cmp4'))
    cloud.plan = fakes.success_plan(dest='cmp4', start=20.0)
    cloud.compute.post('/servers/a/action', json={'os-migrateLive': {'host': 'cmp4', 'block_migration': True}},
                       microversion='2.68')
    cloud.clock.sleep(5)
    cloud.calls = []
    result, error = run(cloud, target_hosts=['cmp2', 'cmp3'])
    assert error is not None and not cloud.called('post')
    assert 'not to one of the target_hosts (cmp2, cmp3)' in result['not_moved'][0]['msg']


WAIT_UP = [
    dict(id='back after 12 s: enabled then', up_at=12.0, timeout=60, enabled=True, msg='enabled again (up after 1'),
    dict(id='already up: no wait', state='up', timeout=60, enabled=True, msg='enabled again (up) ', waited=0),
    dict(id='still down: refused, not enabled', timeout=30, enabled=False, waited=30,
         error='still down after wait_up_timeout=30 s: it was not enabled'),
    dict(id='forced down: refused at once', forced=True, timeout=60, enabled=False, waited=0,
         error='is forced down: it never reports up by itself'),
    dict(id="an operator's reason: refused before any wait", reason='RMA ticket 42', timeout=60, enabled=False,
         waited=0, error='disabled by someone else'),
    dict(id='0 (the default): enabled at once, down or not', timeout=0, enabled=True, waited=0,
         msg='enabled again (it was disabled'),
]


@table(WAIT_UP)
def test_undrain_waits_for_the_service_to_be_up_when_asked(case):
    cloud = cloud_with(srv('a', 'web'))
    cloud.service('cmp1').update(status='disabled', disabled_reason=case.get('reason', dr.drain_reason()),
                                 state=case.get('state', 'down'), forced_down=case.get('forced', False))
    if case.get('up_at'):
        cloud.t0 = cloud.clock.now
        cloud.steps = [(case['up_at'], lambda c: c.service('cmp1').update(state='up'))]
    t0 = cloud.clock.now
    result, error = run(cloud, op='undrain', wait_up_timeout=case['timeout'])
    if case.get('error'):
        assert error is not None and case['error'] in error.msg and 'Nothing was changed' in error.msg, error.msg
        assert not cloud.called('enable_service')
    else:
        assert error is None and result['changed'] is True and case['msg'] in result['msg'], result['msg']
    assert (cloud.service('cmp1')['status'] == 'enabled') is case['enabled']
    if 'waited' in case:
        assert cloud.clock.now - t0 == case['waited']
    if case.get('up_at'):
        assert case['up_at'] <= cloud.clock.now - t0 <= case['up_at'] + dr.WAIT_UP_POLL_S


def test_a_server_that_left_the_host_before_its_turn_is_not_moved_again():
    """Listed on cmp1 when the drain started; by its turn (queued behind max_parallel) it is ACTIVE on
    cmp2, its migration (a lost run's, or an operator's) done: verified there, never requested again."""
    cloud = cloud_with(srv('a', 'one'), srv('b', 'two'), computes=('cmp1', 'cmp2', 'cmp3'))

    def b_moves(c):
        c.servers['b'].update({'OS-EXT-SRV-ATTR:host': 'cmp2', 'OS-EXT-SRV-ATTR:hypervisor_hostname': 'cmp2.lab'})
        if 'b' in c.domains['cmp1']:
            c.domains['cmp2']['b'] = c.domains['cmp1'].pop('b')
    cloud.plan = fakes.success_plan() + [(0.5, b_moves)]
    result, error = run(cloud, order='name')
    assert error is None, result['msg']
    assert posts(cloud) == ['a'], 'b was requested a second migration'
    b = [m for m in result['moved'] if m['id'] == 'b'][0]
    assert b['ok'] is True and b['changed'] is False and 'is already on cmp2: nothing to do' in b['msg']


COLD_TURN = [
    dict(id='moved already: verified, not moved again', change={'OS-EXT-SRV-ATTR:host': 'cmp2'}, ok=True,
         msg='stopped is already on cmp2 (SHUTOFF): nothing to do'),
    dict(id='started meanwhile: not cold-migrated (it would be stopped)', change={'status': 'ACTIVE'}, ok=False,
         msg='was SHUTOFF on cmp1 when the drain started; it is now ACTIVE (task None) on cmp1: not cold-migrated'),
]


@table(COLD_TURN)
def test_a_stopped_server_is_read_again_at_its_turn(case, monkeypatch):
    cloud = cloud_with(srv('s', 'stopped', status='SHUTOFF', **{'OS-EXT-STS:vm_state': 'stopped'}))
    original = dr.HostDrain.cold

    def cold(self, server, target):
        cloud.servers['s'].update(case['change'])     # between the listing and its turn
        return original(self, server, target)
    monkeypatch.setattr(dr.HostDrain, 'cold', cold)
    result, error = run(cloud, cold_migrate_stopped=True)
    assert not cloud.called('migrate_server')
    outcome = (result['moved'] + result['not_moved'])[0]
    assert outcome['ok'] is case['ok'] and case['msg'] in outcome['msg'], outcome
