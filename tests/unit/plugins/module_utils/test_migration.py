# -*- coding: utf-8 -*-
# Copyright: (c) 2025, openstack_ops developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The live migration decision flow, scenario by scenario, against a fake cloud and fake libvirt."""

from __future__ import annotations

import json

import pytest

from keystoneauth1 import exceptions as ks_exc

from ansible_collections.openstack_ops.live_migration.plugins.module_utils import migration as mig
from ansible_collections.openstack_ops.live_migration.plugins.module_utils import verdict, watcher
from ansible_collections.openstack_ops.live_migration.plugins.module_utils.errors import OperatorError
from ansible_collections.openstack_ops.live_migration.plugins.module_utils.libvirt_jobs import LibvirtJobReader
from ansible_collections.openstack_ops.live_migration.plugins.module_utils.nova import NovaApi
from ansible_collections.openstack_ops.live_migration.plugins.module_utils.timeline import Timeline, read_timeline
from ansible_collections.openstack_ops.live_migration.tests.unit.plugins import fakes
from ansible_collections.openstack_ops.live_migration.tests.unit.plugins.table import FakeClock, table

URI = 'qemu+tcp://{host}/system'
BASE = dict(server='vm1', target_host='cmp2', block_migration=True, wait=True, timeout=600, poll_interval=1.0,
            on_timeout='abort', libvirt_uri=URI, progress_log=None, recover_on_abort=False, max_samples=50)


def run(case, tmp_path=None):
    clock = FakeClock()
    cloud = fakes.FakeCloud(clock, **case.get('cloud', {}))
    cloud.plan = fakes.success_plan()
    if case.get('setup'):
        case['setup'](cloud)
    lib = fakes.FakeLibvirt(cloud)
    params = dict(BASE, **case.get('params', {}))
    timeline = Timeline(str(tmp_path / 'log.jsonl') if tmp_path else None, now=clock.time).open()
    conn = fakes.RefusingConn(case['conn_error']) if case.get('conn_error') else fakes.FakeConn(cloud)
    flow = mig.LiveMigration(NovaApi(conn), params,
                             reader_factory=lambda uri: LibvirtJobReader(uri, lib=lib),
                             timeline=timeline, monotonic=clock.monotonic, sleep=clock.sleep)
    try:
        result = flow.execute(check_mode=case.get('check_mode', False))
        error = None
    except OperatorError as e:
        result = dict(e.details, msg=e.msg, failed=True)
        error = e
    return cloud, result, error, clock


def posted(cloud):
    return list(cloud.called('post'))


def mutate(**fields):
    def setup(cloud):
        cloud.servers[fakes.UUID].update(fields)
    return setup


def all_of(*setups):
    def setup(cloud):
        for s in setups:
            s(cloud)
    return setup


def service(host, **fields):
    def setup(cloud):
        for s in cloud.services:
            if s['host'] == host:
                s.update(fields)
    return setup


def plan(steps, on_abort=None, on_force_complete=None):
    def setup(cloud):
        cloud.plan = steps
        cloud.plan_on_abort = on_abort or []
        cloud.plan_on_force_complete = on_force_complete or []
    return setup


# Preflight refusals: each is a precise error and nothing is changed (no POST).
REFUSALS = [
    dict(id='unknown server', params=dict(server='nope'), expect=['No server is named or has the ID', "'nope'"]),
    dict(id='duplicate name', setup=lambda c: c.servers.update({'u2': fakes.server_json(id='u2')}),
         expect=['More than one Server exists with the name vm1', 'Nothing was changed']),
    dict(id='shutoff server', setup=mutate(status='SHUTOFF', **{'OS-EXT-STS:vm_state': 'stopped'}),
         expect=['it is SHUTOFF; live migration needs ACTIVE or PAUSED', 'cold migration']),
    dict(id='server in error', setup=mutate(status='ERROR'), expect=['openstack server set --state active']),
    dict(id='busy server', setup=mutate(**{'OS-EXT-STS:task_state': 'migrating'}),
         expect=['task_state=migrating', 'live_migration_info']),
    dict(id='locked server', setup=mutate(locked=True, locked_reason='change 42'),
         expect=['it is locked (change 42)', 'openstack server unlock']),
    dict(id='host hidden to non-admin', setup=mutate(**{'OS-EXT-SRV-ATTR:host': None}),
         expect=['OS-EXT-SRV-ATTR:host is hidden', 'admin credentials']),
    dict(id='unknown target', params=dict(target_host='cmp9'),
         expect=["target_host 'cmp9' is not a nova-compute host", 'Known compute hosts: cmp1, cmp2']),
    dict(id='disabled target', setup=service('cmp2', status='disabled', disabled_reason='maintenance'),
         expect=['nova-compute service on cmp2 is disabled (maintenance)', '--enable cmp2']),
    dict(id='target down', setup=service('cmp2', state='down'), expect=['on cmp2 is down (state=down)']),
    dict(id='target forced down', setup=service('cmp2', forced_down=True), expect=['forced down']),
    dict(id='flavor does not fit', setup=lambda c: c.usages['rp-cmp2'].update(MEMORY_MB=15800),
         expect=['does not fit on cmp2', 'MEMORY_MB: needs 256, 72 free']),
    dict(id='target needs 2.30', cloud=dict(high=(2, 29)),
         expect=['before 2.30 a requested host bypasses the scheduler', 'Leave target_host unset']),
    dict(id='auto needs 2.25', cloud=dict(high=(2, 24)), params=dict(target_host=None, block_migration='auto'),
         expect=['block_migration=auto needs compute API microversion 2.25']),
    dict(id='abort needs 2.24', cloud=dict(high=(2, 23)), params=dict(target_host=None),
         expect=['on_timeout=abort needs compute API microversion 2.24', 'on_timeout=fail']),
    dict(id='libvirt unreachable', setup=lambda c: c.libvirt_down.add('cmp1'),
         expect=['cannot read the source hypervisor', "unable to connect to server at 'cmp1:16509'",
                 'qemu+tcp://cmp1/system']),
    dict(id='libvirt on the wrong host', params=dict(libvirt_uri='qemu+tcp://cmp2/system'),
         expect=['libvirt at qemu+tcp://cmp2/system has no domain', 'does not reach the hypervisor']),
    dict(id='unknown uri placeholder', params=dict(libvirt_uri='qemu+tcp://{hostname}/system'),
         expect=['unknown placeholder']),
    dict(id='nova refuses 409 error state', setup=lambda c: setattr(c, 'trigger_error', (
        409, "Cannot 'os-migrateLive' instance %s while it is in vm_state error" % fakes.UUID)),
        expect=['Nova refused to live-migrate', 'HTTP 409', 'Nothing was changed', 'Hint:', 'recover_on_abort']),
    # openstacksdk authenticates when the compute proxy is first used (measured on the lab: a wrong password
    # used to escape as a crash, "Module failed: ... (HTTP 401)", with a traceback)
    dict(id='wrong credentials', conn_error=ks_exc.Unauthorized(
        'The request you have made requires authentication.'),
        expect=['Connecting to the cloud (compute API) failed (HTTP 401)', 'requires authentication',
                'Nothing was changed', 'Hint: Authentication failed', 'clouds.yaml']),
    dict(id='keystone unreachable', conn_error=ks_exc.ConnectFailure(
        'Unable to establish connection to http://192.0.2.1:5000/v3/auth/tokens'),
        expect=['Connecting to the cloud (compute API) failed', 'Unable to establish connection',
                'Nothing was changed']),
    dict(id='nova refuses 403', setup=lambda c: setattr(c, 'trigger_error', (
        403, "Policy doesn't allow os_compute_api:os-migrate-server:migrate_live to be performed.")),
        expect=['HTTP 403', 'admin role']),
]


@table(REFUSALS)
def test_refusals_change_nothing(case):
    cloud, result, error, dummy = run(case)
    assert error is not None, result
    for text in case['expect']:
        assert text in error.msg
    assert not result['ok']
    if 'nova refuses' not in case['id']:
        assert not posted(cloud)
    assert not cloud.called('abort_server_migration') and not cloud.called('reset_server_state')
    assert result['changed'] is False
    if case['id'] == 'libvirt unreachable':
        assert 'Hint:' not in error.msg, 'the listener hint is about migration traffic, not this check'


OUTCOMES = [
    dict(id='block migration with libvirt', ok=True, expect=['live-migrated cmp1 -> cmp2', 'downtime 35 ms']),
    dict(id='nova only', params=dict(libvirt_uri=None), ok=True, expect=['live-migrated cmp1 -> cmp2']),
    dict(id='scheduler picks', params=dict(target_host=None), ok=True, expect=['cmp1 -> cmp2']),
    dict(id='paused before stays paused', setup=all_of(
        mutate(status='PAUSED', **{'OS-EXT-STS:vm_state': 'paused', 'OS-EXT-STS:power_state': 3}),
        lambda c: c.domains['cmp1'][fakes.UUID].update(state=3),
        plan(fakes.success_plan(end_status='PAUSED', dest_state=3))), ok=True, expect=['cmp1 -> cmp2']),
    dict(id='block auto', params=dict(block_migration='auto'), ok=True, expect=['cmp1 -> cmp2']),
    dict(id='string yes', params=dict(block_migration='yes'), ok=True, expect=['cmp1 -> cmp2']),
    dict(id='placement lacks DISK_GB', setup=lambda c: c.inventories['rp-cmp2'].pop('DISK_GB'), ok=True,
         warn=['no DISK_GB inventory']),
    dict(id='flaky nova while watching', setup=lambda c: c.plan.insert(0, (2.0, lambda cl: setattr(cl, 'flaky', 3))),
         ok=True, warn=['did not answer']),
    dict(id='pre-check failure only in events',
         setup=plan(fakes.precheck_failure_plan('Unacceptable CPU info: CPU doesn\'t have compatibility.')),
         ok=False, expect=["ended 'error'", 'Nova says: conductor_live_migrate_instance', 'Unacceptable CPU info',
                           'cpu_mode', 'still runs on the source: nothing moved']),
    dict(id='qemu lacks block migration',
         setup=plan(fakes.libvirt_failure_plan("unable to execute QEMU command 'migrate': this feature or command "
                                               "is not currently supported")),
         ok=False, expect=['qemu_kvm_ev', 'QEMU on the source lacks block migration', 'is ACTIVE (vm_state active) on cmp1']),
    dict(id='destination libvirtd stopped',
         setup=plan(fakes.libvirt_failure_plan("unable to connect to server at 'cmp2:16509': Connection refused")),
         ok=False, expect=['libvirtd-tcp.socket', "ended 'error'"]),
    dict(id='destination libvirtd stopped, nova 34 order',
         setup=plan(fakes.nova34_failure_plan("Cannot recv data: Connection reset by peer",
                                              'Connection to the hypervisor is broken on host')
                    + [(1.2, fakes.libvirt_stops('cmp2'))]),
         ok=False, expect=["ended 'error'", 'Connection to the hypervisor is broken on host',
                           'The server is ERROR (vm_state error) on cmp1', 'systemctl status libvirtd',
                           "libvirt: the domain is running on cmp1 and unknown on cmp2 (its libvirt did not "
                           "answer: cannot connect to qemu+tcp://cmp2/system"],
         # our own read of the stopped libvirtd ("Connection refused") is no cause: no listener hint
         absent=["ended 'failed'", 'It still runs on the source: nothing moved', 'libvirt listener role']),
    dict(id='completed but still on the source', setup=plan(fakes.success_plan(host_moves=False)), ok=False,
         expect=['Nova reports migration 100 of vm1', 'completed, but the server is still on the source host cmp1',
                 'NOT a successful migration', 'libvirt: the domain is']),
    dict(id='completed but server in error', setup=plan(fakes.success_plan(end_status='ERROR')), ok=False,
         expect=['the server is ERROR', 'NOT a successful migration']),
    dict(id='suspect block migration', setup=plan(fakes.success_plan(disk_reported=False)), ok=False,
         suspect=True, expect=['completed, but it is NOT verified: SUSPECT block migration', 'disk_total stayed 0',
                               'accept_suspect_block_migration=true']),
    dict(id='suspect block migration accepted', setup=plan(fakes.success_plan(disk_reported=False)), ok=True,
         params=dict(accept_suspect_block_migration=True), suspect=True,
         warn=['SUSPECT block migration', 'disk_total stayed 0']),
    dict(id='no suspicion without explicit block migration', params=dict(block_migration='auto'),
         setup=plan(fakes.success_plan(disk_reported=False)), ok=True, suspect=False),
]


LIBVIRT_VIEWS = [
    dict(id='not read', args=('cmp1', None, 'cmp2', None, {}), expect=None),
    dict(id='both hosts', args=('cmp1', 'running', 'cmp2', 'absent', {}),
         expect='libvirt: the domain is running on cmp1 and absent on cmp2.'),
    dict(id='destination did not answer', args=('cmp1', 'running', 'cmp2', None, {'cmp2': 'Connection refused'}),
         expect='libvirt: the domain is running on cmp1 and unknown on cmp2 (its libvirt did not answer: '
                'Connection refused).'),
    dict(id='source did not answer', args=('cmp1', None, 'cmp2', 'running', {'cmp1': 'No route to host'}),
         expect='libvirt: the domain is unknown on cmp1 (its libvirt did not answer: No route to host) and '
                'running on cmp2.'),
    dict(id='destination not known yet', args=('cmp1', 'paused', None, None, {}),
         expect='libvirt: the domain is paused on cmp1.'),
]


@table(LIBVIRT_VIEWS)
def test_libvirt_view(case):
    assert verdict.libvirt_view(*case['args']) == case['expect']


@table(OUTCOMES)
def test_outcomes(case, tmp_path):
    cloud, result, error, clock = run(case, tmp_path)
    assert len(posted(cloud)) == 1
    body = posted(cloud)[0][2]['json']['os-migrateLive']
    assert 'force' not in body
    assert result['changed'] is True
    if case['ok']:
        assert error is None, result['msg']
        assert result['ok'] is True
        assert result['migration']['status'] == 'completed'
        assert result['server']['host'] == result['dest_host'] == 'cmp2'
        assert result['source_host'] == 'cmp1'
    else:
        assert error is not None
        assert result['ok'] is False
        assert result['server']['host'] == 'cmp1' or 'completed' in error.msg
    for text in case.get('expect', []):
        assert text in result['msg']
    for text in case.get('absent', []):
        assert text not in result['msg']
    for text in case.get('warn', []):
        assert any(text in w for w in result['warnings']), result['warnings']
    if 'suspect' in case:
        assert result['suspect_block_migration'] is case['suspect']
    records = read_timeline(str(tmp_path / 'log.jsonl'))
    assert records[0]['kind'] == 'event' and records[0]['name'] == 'checking'
    assert records[-1]['kind'] == 'result' and records[-1]['ok'] is case['ok']


def test_success_figures_and_overhead():
    """Samples carry Nova's and libvirt's figures; the end is noticed within 0.5 s."""
    case = {}
    cloud, result, error, clock = run(case)
    assert error is None
    samples = result['samples']
    assert len(samples) >= 5
    both = [s for s in samples if s['libvirt'] and s['nova'] and s['nova']['memory_total_bytes']]
    assert both, 'no sample carries both sources'
    assert {'setup', 'disk', 'memory'} <= set(s['phase'] for s in samples)
    assert any('disk ' in s['line'] and 'MiB/s' in s['line'] and 'ETA' in s['line'] for s in samples)
    job = result['job']
    assert job['source'] == 'completed' and job['downtime_ms'] == 35 and job['operation'] == 'migration_in'
    assert job['disk_total_max'] == 128 * fakes.MiB
    # Nova said 'completed' at end + 0.6 s after the request: find that time in the plan
    completed_at = [t for t, fn in fakes.success_plan() if fn.__closure__ and
                    any(getattr(c, 'cell_contents', None) == {'status': 'completed'} for c in fn.__closure__)][0]
    assert result['elapsed_s'] - completed_at <= 0.5
    assert result['events'] and result['events'][0]['event'] == 'compute_live_migration'
    assert result['request_id'] == 'req-100'
    assert result['microversion'] == '2.68'


def test_samples_are_bounded_but_cover_the_run():
    cloud, result, error, dummy = run(dict(params=dict(max_samples=8)))
    assert error is None
    assert len(result['samples']) <= 8
    assert result['sample_count'] > 8
    assert result['samples'][0]['t'] == 0.0
    assert result['samples'][-1]['t'] == max(s['t'] for s in result['samples'])


def test_check_mode_reports_and_changes_nothing():
    cloud, result, error, dummy = run(dict(check_mode=True))
    assert error is None
    assert result['changed'] is True and result['ok'] is True
    assert result['plan']['microversion'] == '2.68'
    assert result['plan']['body'] == {'host': 'cmp2', 'block_migration': True}
    assert 'Would live-migrate vm1' in result['msg']
    assert not posted(cloud)
    write_calls = ('post', 'abort_server_migration', 'force_complete_server_migration', 'reset_server_state')
    assert not [c for c in cloud.calls if c[0] in write_calls]


def test_already_on_target_is_idempotent():
    cloud, result, error, dummy = run(dict(params=dict(target_host='cmp1')))
    assert error is None
    assert result['changed'] is False and result['ok'] is True
    assert 'already on cmp1' in result['msg']
    assert not posted(cloud)


def test_wait_false_returns_after_the_request():
    cloud, result, error, dummy = run(dict(params=dict(wait=False)))
    assert error is None
    assert result['changed'] is True
    assert result['migration']['status'] == 'accepted'
    assert 'not waiting' in result['msg']


def test_old_cloud_without_target_uses_legacy_body():
    cloud, result, error, dummy = run(dict(cloud=dict(high=(2, 24)), params=dict(target_host=None, libvirt_uri=None)))
    assert error is None, result['msg']
    call = posted(cloud)[0]
    assert call[2]['microversion'] == '2.24'
    assert call[2]['json'] == {'os-migrateLive': {'host': None, 'block_migration': True, 'disk_over_commit': False}}


TIMEOUTS = [
    dict(id='abort, nova 34 leaves ERROR',
         setup=plan(fakes.endless_plan(), on_abort=fakes.nova34_abort()),
         expect=['Timed out after 1 min waiting', 'aborted (on_timeout=abort)', "ended 'error'",
                 "Nova ends the migration 'error' (not 'cancelled') and puts the server in ERROR",
                 'HTTP 409', 'the domain is running on cmp1 and absent on cmp2',
                 'openstack server set --state active'],
         recovered=False, final_status='ERROR'),
    # the order nova 34 really goes through (lab): ACTIVE + 'cancelled' first, then 'error' + ERROR
    dict(id='abort, nova 34 order: cancelled then error',
         setup=plan(fakes.endless_plan(), on_abort=fakes.nova34_abort_measured(error_at=1.5, server_error_at=1.6)),
         expect=["ended 'error'", 'The server is ERROR (vm_state error) on cmp1',
                 "Nova ends the migration 'error' (not 'cancelled')", 'openstack server set --state active'],
         absent=["ended 'cancelled'", 'nothing moved'], recovered=False, final_status='ERROR'),
    dict(id='abort, nova 34 order: error seen before ERROR',
         setup=plan(fakes.endless_plan(), on_abort=fakes.nova34_abort_measured(first=None, error_at=0.6,
                                                                               server_error_at=1.6)),
         expect=["ended 'error'", 'The server is ERROR (vm_state error) on cmp1', 'To recover'],
         absent=['nothing moved'], recovered=False, final_status='ERROR'),
    dict(id='abort, nova 34 order, with recovery', params=dict(recover_on_abort=True),
         setup=plan(fakes.endless_plan(), on_abort=fakes.nova34_abort_measured(first=None, error_at=0.6,
                                                                               server_error_at=1.6)),
         expect=['The server is ERROR (vm_state error) on cmp1', 'recover_on_abort: libvirt confirmed',
                 'it is now ACTIVE on cmp1'],
         recovered=True, final_status='ACTIVE'),
    dict(id='abort with recovery', params=dict(recover_on_abort=True),
         setup=plan(fakes.endless_plan(), on_abort=fakes.nova34_abort()),
         expect=['recover_on_abort: libvirt confirmed the domain running on cmp1 and absent from cmp2',
                 'it is now ACTIVE on cmp1'],
         recovered=True, final_status='ACTIVE'),
    dict(id='recovery refused when the destination has the domain', params=dict(recover_on_abort=True),
         setup=plan(fakes.endless_plan(), on_abort=fakes.nova34_abort() + [(0.1, fakes.define('cmp2'))]),
         expect=['the server was NOT reset', 'running on the destination cmp2, not absent'],
         recovered=False, final_status='ERROR'),
    dict(id='recovery refused for a paused server', params=dict(recover_on_abort=True),
         setup=all_of(mutate(status='PAUSED'), plan(fakes.endless_plan(), on_abort=fakes.nova34_abort())),
         expect=['was PAUSED before the migration'], recovered=False, final_status='ERROR'),
    dict(id='abort, fake driver says cancelled',
         setup=plan(fakes.endless_plan(), on_abort=fakes.fake_driver_abort()),
         expect=["ended 'cancelled'", 'It still runs on the source: nothing moved'],
         absent=['Nova ends the migration', 'To recover'], recovered=False, final_status='ACTIVE'),
    dict(id='abort refused', setup=all_of(plan(fakes.endless_plan()), lambda c: setattr(
        c, 'abort_error', fakes.http_error(fakes.sdk_exc.ConflictException, 409, 'Migration is in post-copy'))),
        expect=['Nova refused the abort', 'Migration is in post-copy', 'The migration continues'],
        recovered=False, final_status='ACTIVE'),
    dict(id='fail leaves it running', params=dict(on_timeout='fail'), setup=plan(fakes.endless_plan()),
         expect=['on_timeout=fail: the migration was left running', 'openstack server migration abort'],
         recovered=False, final_status='ACTIVE', no_abort=True),
]


@table(TIMEOUTS)
def test_timeouts(case):
    case = dict(case, params=dict(dict(timeout=60), **case.get('params', {})))
    cloud, result, error, dummy = run(case)
    assert error is not None
    for text in case['expect']:
        assert text in error.msg, error.msg
    for text in case.get('absent', []):
        assert text not in error.msg
    assert result['timed_out'] is True
    assert result['recovered'] is case['recovered']
    assert cloud.servers[fakes.UUID]['status'] == case['final_status']
    assert cloud.servers[fakes.UUID]['OS-EXT-SRV-ATTR:host'] == 'cmp1'
    assert bool(cloud.called('abort_server_migration')) is not case.get('no_abort', False)
    assert bool(cloud.called('reset_server_state')) is case['recovered']


def test_timeout_force_complete_then_success():
    case = dict(params=dict(timeout=30, on_timeout='force_complete'),
                setup=plan(fakes.endless_plan(), on_force_complete=fakes.force_complete_finish()))
    cloud, result, error, dummy = run(case)
    assert error is None, result['msg']
    assert result['ok'] and result['timed_out'] and result['on_timeout_action'] == 'force_complete'
    assert result['server']['host'] == 'cmp2'
    assert result['job']['downtime_ms'] == 1100
    assert any('force-complete' in w for w in result['warnings'])


def test_stall_is_reported():
    case = dict(params=dict(timeout=200, on_timeout='fail'), setup=plan(fakes.endless_plan()))
    cloud, result, error, dummy = run(case)
    assert error is not None
    assert result['stalled'] is True
    assert any('not converging' in w for w in result['warnings'])


def test_no_migration_record_appears():
    def setup(cloud):
        cloud.plan = []
        original = cloud.compute.post

        def post(url, json=None, microversion=None, **kwargs):
            response = original(url, json=json, microversion=microversion)
            cloud.migrations.clear()
            return response
        cloud.compute.post = post
    cloud, result, error, dummy = run(dict(setup=setup, params=dict(timeout=20, queue_timeout=30)))
    assert error is not None
    assert 'No migration record appeared' in error.msg and 'within queue_timeout (30 s)' in error.msg
    assert 'nothing to cancel' in error.msg and result['timed_out'] is True


def test_lost_contact_with_nova():
    def setup(cloud):
        cloud.plan = fakes.endless_plan()
        cloud.plan.insert(0, (2.0, lambda cl: setattr(cl, 'flaky', 1000)))
    cloud, result, error, clock = run(dict(setup=setup, params=dict(timeout=300, outage_budget=60)))
    assert error is not None
    assert 'the cloud API was unreachable for 60 s in all, over the outage_budget of 60 s' in error.msg
    assert 'live_migration_info, or run this again to attach to it' in error.msg
    assert result['changed'] is True and result['outage_s'] == 60.0
    assert clock.now - 1000.0 < 70   # gave up once the budget was spent


def test_timeline_records(tmp_path):
    cloud, result, error, clock = run({}, tmp_path)
    records = read_timeline(str(tmp_path / 'log.jsonl'))
    kinds = [r['kind'] for r in records]
    assert kinds[0] == 'event' and kinds[1] == 'start' and kinds[-1] == 'result'
    assert kinds.count('sample') == result['sample_count']
    names = [r.get('name') for r in records if r['kind'] == 'event']
    assert names[:3] == ['checking', 'requested', 'migration']
    assert 'verified' in names
    last = records[-1]
    assert last['ok'] is True and 'samples' not in last and last['summary'].startswith('vm1 (')
    json.dumps(records)


@pytest.mark.parametrize('value,expected', [
    (True, True), (False, False), ('auto', 'auto'), ('AUTO', 'auto'), ('yes', True), ('no', False), ('true', True),
])
def test_normalise_block_migration(value, expected):
    assert mig.normalise_block_migration(value) == expected


def test_normalise_block_migration_rejects():
    with pytest.raises(ValueError):
        mig.normalise_block_migration('sometimes')


RATES = [
    dict(id='first value has no rate', feed=[(0.0, 0)], expected=None),
    dict(id='steps seen late', feed=[(0.0, 0), (0.2, 0), (1.0, 32), (1.2, 32), (2.0, 64)], expected=32.0),
    dict(id='unchanged keeps the rate', feed=[(0.0, 0), (1.0, 32), (1.5, 32)], expected=32.0),
    dict(id='going back is no rate', feed=[(0.0, 10), (1.0, 5)], expected=None),
    dict(id='None is ignored', feed=[(0.0, 0), (0.5, None), (2.0, 64)], expected=32.0),
]


@table(RATES)
def test_change_rate(case):
    rate = watcher.ChangeRate()
    got = None
    for t, value in case['feed']:
        got = rate.feed(t, value)
    assert got == case['expected']


MiB = fakes.MiB
NOVA = dict(memory_total_bytes=256 * MiB, memory_processed_bytes=176 * MiB, memory_remaining_bytes=80 * MiB,
            disk_total_bytes=128 * MiB, disk_processed_bytes=128 * MiB, disk_remaining_bytes=0)
LIBVIRT = {'phase': 'memory', 'elapsed_ms': 3000, 'data_total': 384 * MiB, 'data_processed': 304 * MiB,
           'data_remaining': 80 * MiB, 'disk_total': 128 * MiB, 'disk_processed': 128 * MiB, 'disk_remaining': 0,
           'memory_total': 256 * MiB, 'memory_processed': 176 * MiB, 'memory_remaining': 80 * MiB,
           'memory_bps': 40 * MiB, 'memory_dirty_bps': 0, 'memory_iteration': 1, 'downtime_ms': 300}

SAMPLES = [
    dict(id='libvirt wins when it has a job', job=LIBVIRT, nova=NOVA, nova_bps=1,
         expect=dict(origin='libvirt', phase='memory', bps=40 * MiB, eta_s=2.0, data_remaining=80 * MiB,
                     line='   3.0 s running        disk 128/128 MiB, memory 80 MiB left, 40 MiB/s, ETA 2 s')),
    dict(id='nova alone', job=None, nova=NOVA, nova_bps=40 * MiB,
         expect=dict(origin='nova', phase='memory', data_total=384 * MiB, data_remaining=80 * MiB, eta_s=2.0)),
    dict(id='nova disk phase', job=None, nova=dict(NOVA, memory_total_bytes=0, memory_processed_bytes=0,
                                                   memory_remaining_bytes=0, disk_processed_bytes=64 * MiB,
                                                   disk_remaining_bytes=64 * MiB), nova_bps=None,
         expect=dict(origin='nova', phase='disk', eta_s=None, line='   3.0 s running        disk 64/128 MiB')),
    dict(id='nothing yet', job=None, nova=dict.fromkeys(NOVA), nova_bps=None,
         expect=dict(origin=None, phase=None, line='   3.0 s running        no progress figures yet')),
    dict(id='no record', job=None, nova=None, nova_bps=None, expect=dict(origin=None, nova=None, libvirt=None)),
    dict(id='job over, Nova finishing: its last bytes are stale', job=None, nova=NOVA, nova_bps=40 * MiB, ended=True,
         expect=dict(origin='libvirt', phase='finishing', data_remaining=None, eta_s=None,
                     line='   3.0 s running        copy done, Nova finishing on the destination')),
]


@table(SAMPLES)
def test_build_sample(case):
    sample = watcher.build_sample(3.0, 'running', case['job'], None, case['nova'], case['nova_bps'],
                                  job_ended=case.get('ended', False))
    for key, value in case['expect'].items():
        assert sample[key] == value, key
    assert sample['nova'] == case['nova'] and sample['libvirt'] == case['job']


def test_a_bug_still_ends_the_timeline(tmp_path):
    def setup(cloud):
        def broken(*args, **kwargs):
            raise AttributeError('boom')
        cloud.compute.get_endpoint_data = broken
    with pytest.raises(AttributeError):
        run(dict(setup=setup), tmp_path)
    records = read_timeline(str(tmp_path / 'log.jsonl'))
    assert records[-1]['kind'] == 'result' and records[-1]['ok'] is False
    assert 'internal error' in records[-1]['msg']
