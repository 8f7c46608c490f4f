# -*- coding: utf-8 -*-
# Copyright: (c) 2025, openstack_ops developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""A verdict that is never wrong (issue 8), rule by rule, against the fake cloud and fake libvirt.

Each table is one rule of the issue; every case failed on the code before it (the claim it checks
was made, or the run gave up, or a second migration was requested).
"""

from __future__ import annotations

from ansible_collections.openstack_ops.live_migration.plugins.module_utils.waiter import (
    already_there_problems, libvirt_problems, migration_waiting)
from ansible_collections.openstack_ops.live_migration.plugins.module_utils.timeline import read_timeline
from ansible_collections.openstack_ops.live_migration.tests.unit.plugins import fakes
from ansible_collections.openstack_ops.live_migration.tests.unit.plugins.module_utils.test_migration import (
    all_of, mutate, plan, posted, run)
from ansible_collections.openstack_ops.live_migration.tests.unit.plugins.table import table

ERROR_STATE = {'status': 'ERROR', 'OS-EXT-STS:vm_state': 'error'}


def domain(host, state):
    def setup(cloud):
        cloud.domains.setdefault(host, {})[fakes.UUID] = {'state': state, 'job': None, 'completed': None}
    return setup


def open_record(status='running'):
    """A live-migration record of the server with no final status, as a crashed service leaves it."""
    def setup(cloud):
        cloud.migrations.append({
            'id': 7, 'uuid': 'mig-7', 'instance_uuid': fakes.UUID, 'migration_type': 'live-migration',
            'status': status, 'source_compute': 'cmp2', 'source_node': 'cmp2.lab', 'dest_compute': 'cmp1',
            'dest_node': 'cmp1.lab', 'dest_host': None, 'created_at': '2024-01-01T00:00:00.000000',
            'updated_at': None})
    return setup


# ---------------------------------------------------------------- 1. "nothing to do" only when true

ALREADY_THERE = [
    dict(id='active and running there', ok=True, expect=['is already on cmp1: nothing to do']),
    dict(id='paused and paused there', ok=True,
         setup=all_of(mutate(status='PAUSED', **{'OS-EXT-STS:vm_state': 'paused'}), domain('cmp1', 3))),
    dict(id='without libvirt, active', params=dict(libvirt_uri=None), ok=True),
    # measured on the lab before the fix: ok=true, "is already on hv1: nothing to do"
    dict(id='error on the target', setup=mutate(**ERROR_STATE),
         expect=['is on cmp1 already, but that is not a verified end state', 'it is ERROR',
                 'openstack server set --state active', 'Nothing was changed']),
    dict(id='error on the target without libvirt', params=dict(libvirt_uri=None), setup=mutate(**ERROR_STATE),
         expect=['it is ERROR']),
    dict(id='a task on it', setup=mutate(**{'OS-EXT-STS:task_state': 'rebooting'}),
         expect=['task_state=rebooting', 'wait until the task ends']),
    dict(id='shutoff there', setup=mutate(status='SHUTOFF', **{'OS-EXT-STS:vm_state': 'stopped'}),
         expect=['it is SHUTOFF']),
    dict(id='libvirt shows it shut off', setup=domain('cmp1', 5),
         expect=['libvirt on cmp1 shows its domain shutoff, not running', 'virsh domstate']),
    dict(id='libvirt has no such domain', setup=lambda c: c.domains['cmp1'].pop(fakes.UUID),
         expect=['shows its domain absent, not running']),
    dict(id='libvirt does not answer', setup=lambda c: c.libvirt_down.add('cmp1'),
         expect=['libvirt there did not answer', 'not verified', 'Nothing was changed']),
    dict(id='a migration record still open', setup=open_record(),
         expect=['Nova still shows its migration 7 as', 'live_migration_info']),
]


@table(ALREADY_THERE)
def test_already_there(case):
    cloud, result, error, dummy = run(dict(case, params=dict(dict(target_host='cmp1'), **case.get('params', {}))))
    assert not posted(cloud) and result['changed'] is False
    assert (error is None) is case.get('ok', False), result['msg']
    assert result['ok'] is case.get('ok', False)
    for text in case.get('expect', []):
        assert text in result['msg'], result['msg']


def test_already_there_problems_is_pure():
    server = {'id': 'x', 'host': 'h', 'status': 'ACTIVE', 'vm_state': 'active', 'task_state': None}
    assert already_there_problems(server) == [] and already_there_problems(server, 'running') == []
    assert already_there_problems(server, 'paused')


# ---------------------------------------------------------------- 3. success is checked where the guest lands

LANDINGS = [
    dict(id='power_state shutdown', expect=['its power_state is SHUTDOWN, not RUNNING', 'NOT a successful migration'],
         setup=plan(fakes.success_plan() + [(6.0, fakes.set_server(**{'OS-EXT-STS:power_state': 4}))])),
    dict(id='still running on the source too', tweak='keep_source',
         expect=['libvirt shows the domain running on the source cmp1 as well: the guest is on two hosts',
                 'running on cmp2']),
    dict(id='on neither host', tweak='lose_dest',
         expect=['libvirt shows the domain absent on the destination cmp2, not running',
                 'the guest runs on neither cmp1 nor cmp2']),
    dict(id='destination libvirt silent', tweak='dest_down',
         expect=['libvirt on the destination cmp2 did not answer, so the guest is not verified there']),
    dict(id='paused at the destination', tweak='dest_paused',
         expect=['libvirt shows the domain paused on the destination cmp2, not running']),
]


def tweak(name):
    """Change the success plan's end so that libvirt disagrees with Nova."""
    def setup(cloud):
        steps = fakes.success_plan()
        if name == 'keep_source':
            steps = [s for s in steps if not s[1].__qualname__.startswith('undefine')]
        last = max(t for t, fn in steps)
        if name == 'lose_dest':
            steps.append((last + 0.01, fakes.undefine('cmp2')))
        if name == 'dest_down':
            steps.append((last + 0.01, fakes.libvirt_stops('cmp2')))
        if name == 'dest_paused':
            steps.append((last + 0.01, fakes.define('cmp2', state=3)))
        cloud.plan = steps
    return setup


@table(LANDINGS)
def test_success_needs_the_guest_where_it_landed(case):
    case = dict(case)
    if case.get('tweak'):
        case['setup'] = tweak(case['tweak'])
    cloud, result, error, dummy = run(case)
    assert error is not None, result['msg']
    assert result['ok'] is False and result['migration']['status'] == 'completed'
    for text in case['expect']:
        assert text in error.msg, error.msg


LIBVIRT_RULES = [
    dict(id='moved', src='absent', dst='running', problems=0),
    dict(id='moved, source kept shut off', src='shutoff', dst='running', problems=0),
    dict(id='paused guest moved paused', src='absent', dst='paused', paused=True, problems=0),
    dict(id='two hosts', src='running', dst='running', problems=1, text='on two hosts'),
    dict(id='source paused', src='paused', dst='running', problems=1, text='paused on the source'),
    dict(id='neither', src='absent', dst='absent', problems=2, text='neither'),
    dict(id='source unknown', src=None, dst='running', problems=1, text='not verified gone'),
]


@table(LIBVIRT_RULES)
def test_libvirt_problems(case):
    problems = libvirt_problems('s', case['src'], 'd', case['dst'], case.get('paused', False))
    assert len(problems) == case['problems'], problems
    if case.get('text'):
        assert case['text'] in ' '.join(problems)


# ---------------------------------------------------------------- 4. "Nothing was changed" only once checked

def test_request_without_answer_but_accepted_is_followed():
    cloud, result, error, dummy = run(dict(setup=lambda c: setattr(c, 'lose_answer', (503, 'Gateway went away'))))
    assert error is None, result['msg']
    assert result['ok'] is True and result['changed'] is True and len(posted(cloud)) == 1
    assert any('got no answer' in w and 'but Nova accepted it' in w for w in result['warnings']), result['warnings']
    assert result['request_id'] == 'req-100'


def test_request_without_answer_and_without_trace_changed_nothing():
    cloud, result, error, clock = run(dict(setup=lambda c: setattr(c, 'trigger_error', (503, 'Gateway went away'))))
    assert error is not None and result['changed'] is False
    assert 'got no answer' in error.msg and 'Nova recorded nothing of it' in error.msg
    assert 'Nothing was changed' in error.msg and len(posted(cloud)) == 1
    # it looked for the traces before saying so
    assert sum(1 for c in cloud.calls if c[0] == 'server_actions') >= 10


def test_refused_request_is_not_looked_for():
    cloud, result, error, clock = run(dict(setup=lambda c: setattr(c, 'trigger_error', (409, 'busy'))))
    assert 'Nova refused to live-migrate' in error.msg and 'Nothing was changed' in error.msg
    assert sum(1 for c in cloud.calls if c[0] == 'server_actions') == 1   # the one before the request


# ---------------------------------------------------------------- 5. ride out a cloud that blinks

def blink(at, reads=0, expired=False):
    def step(cloud):
        if expired:
            cloud.expired = 1
        cloud.flaky = reads
    return (at, step)


BLINKS = [
    dict(id='nova gone for many polls while copying', blink=blink(2.0, reads=40), outage=True, long=True),
    dict(id='503 right after completed', blink=blink(6.2, reads=3), outage=True),
    dict(id='token expired mid-watch', blink=blink(2.0, expired=True), reauth=1),
    dict(id='nova blinks during the settle after a failure', failure=True, blink=blink(1.75, reads=5), long=True),
]


@table(BLINKS)
def test_blinks_are_ridden_out(case):
    steps = fakes.libvirt_failure_plan('boom') if case.get('failure') else fakes.success_plan()
    cloud, result, error, dummy = run(dict(setup=plan(steps + [case['blink']])))
    if case.get('failure'):
        assert error is not None and 'failed: migration 100 ended' in error.msg, error.msg
    else:
        assert error is None, result['msg']
        assert result['ok'] is True
    if case.get('outage'):
        assert result['outage_s'] > 0
    if result['outage_s'] >= 1:
        assert any('The cloud API was unreachable for' in w for w in result['warnings']), result['warnings']
        assert 'the cloud api was unreachable for' in result['msg'].lower()
    assert cloud.reauths == case.get('reauth', 0)
    assert (result['outage_s'] >= 1) is bool(case.get('long'))


def test_abort_rides_out_a_503():
    def setup(cloud):
        cloud.plan = fakes.endless_plan()
        cloud.plan_on_abort = fakes.fake_driver_abort()
        original = cloud.compute.abort_server_migration

        def abort(*args, **kwargs):
            if not cloud.called('abort_server_migration'):
                cloud.record('abort_server_migration', *args)
                raise fakes.http_error(fakes.sdk_exc.HttpException, 503, 'Service Unavailable')
            return original(*args, **kwargs)
        cloud.compute.abort_server_migration = abort
    cloud, result, error, dummy = run(dict(setup=setup, params=dict(timeout=60)))
    assert "aborted (on_timeout=abort) and ended 'cancelled'" in error.msg, error.msg


# ---------------------------------------------------------------- 6. a rerun attaches

def started_earlier(target='cmp2', status='running', elapsed=10.0):
    """Another run (lost since) requested the migration; it is `status` `elapsed` s later."""
    def setup(cloud):
        cloud.compute.post('/servers/%s/action' % fakes.UUID, json={'os-migrateLive': {
            'host': target, 'block_migration': True}}, microversion='2.68')
        cloud.clock.sleep(elapsed)
        cloud.advance()
        cloud.calls = []
    return setup


def test_rerun_attaches_and_verifies():
    cloud, result, error, dummy = run(dict(setup=all_of(plan(fakes.success_plan(start=20.0)), started_earlier())))
    assert error is None, result['msg']
    assert result['attached'] is True and result['ok'] is True and not posted(cloud)
    assert result['migration']['id'] == 100 and result['migration']['status'] == 'completed'
    assert result['changed'] is False and 'attached to migration 100' in result['msg']
    assert result['server']['host'] == 'cmp2' and result['source_host'] == 'cmp1'


def test_rerun_with_another_target_fails_naming_both():
    cloud, result, error, dummy = run(dict(setup=all_of(plan(fakes.success_plan(start=20.0)), started_earlier()),
                                           params=dict(target_host='cmp3'), cloud=dict(computes=('cmp1', 'cmp2', 'cmp3'))))
    assert error is not None and not posted(cloud)
    assert 'migration 100 from cmp1 to cmp2' in error.msg and 'not to the target_host cmp3' in error.msg


def test_rerun_after_completion_does_not_migrate_again():
    """The first run's migration completed while nobody watched: a rerun with the same target is a
    verified "nothing to do", never a second migration."""
    cloud, result, error, dummy = run(dict(setup=all_of(plan(fakes.success_plan()), started_earlier(elapsed=30)),
                                           params=dict(target_host='cmp2')))
    assert error is None and not posted(cloud) and result['changed'] is False
    assert 'already on cmp2: nothing to do' in result['msg']


def test_attach_in_check_mode():
    cloud, result, error, dummy = run(dict(setup=all_of(plan(fakes.success_plan(start=20.0)), started_earlier()),
                                           check_mode=True))
    assert error is None and result['ok'] is True and 'Would attach to it' in result['msg']
    assert not posted(cloud)


def test_stale_record_without_task_is_not_attached():
    cloud, result, error, dummy = run(dict(setup=open_record()))
    assert error is None and result['attached'] is False and len(posted(cloud)) == 1


# ---------------------------------------------------------------- 7. queued is not running

def queued_plan(wait, **kw):
    return [(0.0, fakes.set_mig(status='queued', dest_compute='cmp2'))] + [
        (t + wait, fn) for t, fn in fakes.success_plan(**kw) if t > 0.0]


def test_queue_wait_does_not_count_against_timeout(tmp_path):
    cloud, result, error, dummy = run(dict(setup=plan(queued_plan(100.0)), params=dict(timeout=30)), tmp_path)
    assert error is None, result['msg']
    assert result['queued_s'] >= 100 > result['running_s'] and result['timed_out'] is False
    assert 'queued' in result['msg']
    started = [r for r in read_timeline(str(tmp_path / 'log.jsonl')) if r.get('name') == 'started']
    assert started and started[0]['queued_s'] >= 100


QUEUE_TIMEOUTS = [
    dict(id='cancelled once queue_timeout passed', high=(2, 96),
         expect=['waited 2 min (queue_timeout) without being started by Nova', "status 'queued'",
                 'max_concurrent_live_migrations', 'cancelled before anything was copied'], aborted=True),
    dict(id='left alone before 2.65', high=(2, 64),
         expect=['needs compute API microversion 2.65', 'Nothing has been copied yet', 'attach'], aborted=False),
]


@table(QUEUE_TIMEOUTS)
def test_queue_timeout(case):
    cloud, result, error, dummy = run(dict(
        setup=plan(queued_plan(10000.0), on_abort=[(0.2, fakes.set_mig(status='cancelled')),
                                                   (0.3, fakes.set_server(**{'OS-EXT-STS:task_state': None}))]),
        cloud=dict(high=case['high']), params=dict(timeout=30, queue_timeout=120)))
    assert error is not None and result['timed_out'] is True
    for text in case['expect']:
        assert text in error.msg, error.msg
    assert bool(cloud.called('abort_server_migration')) is case['aborted']
    assert result['running_s'] is None and result['queued_s'] >= 120


def test_waiting_statuses():
    assert migration_waiting(None) and migration_waiting({'status': 'queued'}) and migration_waiting({'status': 'accepted'})
    assert not migration_waiting({'status': 'preparing'}) and not migration_waiting({'status': 'running'})


# ---------------------------------------------------------------- 8. after force_complete

FORCE_COMPLETE_STUCK = [
    dict(id='guest paused on the source', on_fc=[(0.5, lambda c: c.domains['cmp1'][fakes.UUID].update(state=3))],
         expect=['still \'running\' 5 min later', 'The guest is paused on cmp1', 'abort it, which resumes the guest '
                 'on cmp1', 'openstack server migration abort', 'libvirt: the domain is paused on cmp1 and absent on cmp2']),
    dict(id='switched to post-copy', on_fc=[(0.5, fakes.set_mig(status='running (post-copy)'))],
         expect=['switched it to post-copy', 'An abort is no longer possible', 'restart neither host']),
]


@table(FORCE_COMPLETE_STUCK)
def test_force_complete_grace_expired(case):
    cloud, result, error, dummy = run(dict(setup=plan(fakes.endless_plan(), on_force_complete=case['on_fc']),
                                           params=dict(timeout=60, on_timeout='force_complete')))
    assert error is not None
    for text in case['expect']:
        assert text in error.msg, error.msg
