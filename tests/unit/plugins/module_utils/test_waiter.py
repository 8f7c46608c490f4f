# -*- coding: utf-8 -*-
# Copyright: (c) 2025, openstack_ops developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

from ansible_collections.openstack_ops.live_migration.plugins.module_utils import waiter as w
from ansible_collections.openstack_ops.live_migration.tests.unit.plugins.table import FakeClock, table

STATUSES = [
    dict(id='accepted', status='accepted', completed=False, failed=False, running=True),
    dict(id='queued', status='queued', completed=False, failed=False, running=True),
    dict(id='preparing', status='preparing', completed=False, failed=False, running=True),
    dict(id='running', status='running', completed=False, failed=False, running=True),
    dict(id='post-copy', status='running (post-copy)', completed=False, failed=False, running=True),
    dict(id='post-migrating', status='post-migrating', completed=False, failed=False, running=True),
    dict(id='completed', status='completed', completed=True, failed=False, running=False),
    dict(id='Completed in capitals', status='Completed', completed=True, failed=False, running=False),
    dict(id='error (nova 34 abort)', status='error', completed=False, failed=True, running=False),
    dict(id='failed', status='failed', completed=False, failed=True, running=False),
    dict(id='cancelled (fake driver abort)', status='cancelled', completed=False, failed=True, running=False),
    dict(id='unknown counts as running', status='brand-new', completed=False, failed=False, running=True),
]


@table(STATUSES)
def test_migration_predicates(case):
    m = {'status': case['status']}
    assert w.migration_completed(m) is case['completed']
    assert w.migration_failed(m) is case['failed']
    assert w.migration_running(m) is case['running']
    assert w.migration_finished(m) is (case['completed'] or case['failed'])


def test_no_record_is_neither():
    assert not w.migration_running(None) and not w.migration_finished(None) and w.migration_status(None) == ''


def srv(host='cmp2', status='ACTIVE', task=None, vm='active', power=None):
    power = power if power is not None else {'ACTIVE': 1, 'PAUSED': 3}.get(status, 4)
    return {'host': host, 'status': status, 'task_state': task, 'vm_state': vm, 'id': 'u1', 'power_state': power}


SUCCESS = [
    dict(id='all three hold', m='completed', s=srv(), problems=[]),
    dict(id='paused before, paused after', m='completed', s=srv(status='PAUSED'), paused=True, problems=[]),
    dict(id='paused before, active after', m='completed', s=srv(), paused=True, problems=[]),
    dict(id='failed migration ends ACTIVE on the source', m='error', s=srv(host='cmp1'),
         problems=["'error', not 'completed'", 'still on the source host cmp1']),
    dict(id='completed but still on the source', m='completed', s=srv(host='cmp1'),
         problems=['still on the source host cmp1']),
    dict(id='completed but elsewhere', m='completed', s=srv(host='cmp3'),
         problems=['on cmp3, not on the destination cmp2']),
    dict(id='completed but ERROR', m='completed', s=srv(status='ERROR', vm='error'),
         problems=['is ERROR (vm_state error), not ACTIVE']),
    dict(id='paused but was active', m='completed', s=srv(status='PAUSED'), problems=['is PAUSED']),
    dict(id='task still running', m='completed', s=srv(task='migrating'), problems=['task_state=migrating']),
    dict(id='host unknown', m='completed', s=srv(host=None), problems=["host is unknown"]),
    dict(id='no record', m=None, s=srv(), problems=["'missing'"]),
    dict(id='ACTIVE but shut down', m='completed', s=srv(power=4), problems=['power_state is SHUTDOWN, not RUNNING']),
    dict(id='ACTIVE but crashed', m='completed', s=srv(power=6), problems=['power_state is CRASHED, not RUNNING']),
    dict(id='power_state hidden', m='completed', s=dict(srv(), power_state=None),
         problems=['power_state is unknown, not RUNNING']),
    dict(id='PAUSED but running', m='completed', s=srv(status='PAUSED', power=1), paused=True,
         problems=['power_state is RUNNING, not PAUSED']),
]


@table(SUCCESS)
def test_success_problems(case):
    m = {'status': case['m'], 'dest_compute': 'cmp2'} if case['m'] else None
    problems = w.success_problems(m, case['s'], 'cmp1', case.get('paused', False), 'cmp2' if m else None)
    text = ' | '.join(problems)
    if not case['problems']:
        assert problems == []
    for expected in case['problems']:
        assert expected in text


SERVER = [
    dict(id='active', s=srv(status='ACTIVE'), expect=[]),
    dict(id='paused', s=srv(status='PAUSED'), expect=[]),
    dict(id='shutoff', s=srv(status='SHUTOFF'), expect=['SHUTOFF', 'cold migration']),
    dict(id='error', s=srv(status='ERROR'), expect=['ERROR', '--state active']),
    dict(id='busy', s=srv(task='resize_prep'), expect=['task_state=resize_prep']),
    dict(id='locked', s=dict(srv(), locked=True), expect=['locked;']),
]


@table(SERVER)
def test_server_problems(case):
    text = ' '.join(w.server_problems(case['s']))
    if not case['expect']:
        assert text == ''
    for expected in case['expect']:
        assert expected in text


def test_host_changed_and_state():
    assert w.host_changed(srv(host='cmp2'), 'cmp1') and not w.host_changed(srv(host='cmp1'), 'cmp1')
    assert not w.host_changed(srv(host=None), 'cmp1')
    assert w.server_settled(srv()) and not w.server_settled(srv(task='migrating')) and not w.server_settled(None)


def test_clock_yields_elapsed_until_total():
    c = FakeClock()
    seen = list(w.clock(3.0, 1.0, c.monotonic, c.sleep))
    assert seen == [0.0, 1.0, 2.0, 3.0]


def test_clock_shortens_the_last_sleep():
    c = FakeClock()
    seen = list(w.clock(2.5, 1.0, c.monotonic, c.sleep))
    assert seen == [0.0, 1.0, 2.0, 2.5] and c.sleeps == [1.0, 1.0, 0.5]


def test_clock_with_callable_interval():
    c = FakeClock()
    seen = list(w.clock(2.0, lambda elapsed: 0.5 if elapsed < 1 else 1.0, c.monotonic, c.sleep))
    assert seen == [0.0, 0.5, 1.0, 2.0]


ADAPTIVE = [
    dict(id='warm-up is fast', base=2.0, elapsed=1.0, eta=None, finishing=False, expected=0.2),
    dict(id='steady state', base=2.0, elapsed=30.0, eta=100.0, finishing=False, expected=2.0),
    dict(id='near the end: half the ETA', base=2.0, elapsed=30.0, eta=2.0, finishing=False, expected=1.0),
    dict(id='very near the end: floor', base=2.0, elapsed=30.0, eta=0.1, finishing=False, expected=0.2),
    dict(id='libvirt job ended: floor', base=2.0, elapsed=30.0, eta=None, finishing=True, expected=0.2),
    dict(id='unknown ETA: base', base=5.0, elapsed=30.0, eta=None, finishing=False, expected=5.0),
    dict(id='base below the floor wins', base=0.1, elapsed=1.0, eta=None, finishing=False, expected=0.1),
]


@table(ADAPTIVE)
def test_adaptive_interval(case):
    got = w.adaptive_interval(case['base'], case['elapsed'], case['eta'], case['finishing'])
    assert abs(got - case['expected']) < 1e-9


def test_wait_for():
    c = FakeClock()
    values = iter([1, 2, 3, 4, 5])

    def clk(total, interval):
        return w.clock(total, interval, c.monotonic, c.sleep)
    ok, last, elapsed = w.wait_for(lambda: next(values), lambda v: v == 3, 10, 1, clk)
    assert (ok, last, elapsed) == (True, 3, 2.0)
    ok, last, elapsed = w.wait_for(lambda: 0, lambda v: v == 1, 2, 1, clk)
    assert (ok, last) == (False, 0)


def pts(*values, step=10):
    return [(i * step, v) for i, v in enumerate(values)]


STALL = [
    dict(id='converging', points=pts(100, 90, 80, 70, 60, 50, 40, 30), window=30, stalled=False),
    dict(id='hovering', points=pts(100, 50, 40, 45, 42, 44, 41, 43), window=30, stalled=True),
    dict(id='new low at the end', points=pts(100, 50, 40, 45, 42, 44, 41, 39), window=30, stalled=False),
    dict(id='too short to tell', points=pts(100, 100, 100), window=30, stalled=False),
    dict(id='already zero', points=pts(0, 0, 0, 0, 0, 0), window=20, stalled=False),
    dict(id='None values ignored', points=pts(None, 100, 50, None, 60, 60, 60, 60), window=30, stalled=True),
]


@table(STALL)
def test_stalled(case):
    assert w.stalled(case['points'], case['window']) is case['stalled']


def job(phase, disk_total=0):
    return {'phase': phase, 'disk_total': disk_total, 'disk_processed': 0}


SUSPECT = [
    dict(id='disk seen', jobs=[job('setup'), job('disk', 128), job('memory', 128)], block=True, suspect=False),
    dict(id='never a disk byte', jobs=[job('setup'), job('memory'), job('memory')], block=True, suspect=True),
    dict(id='not a block migration', jobs=[job('memory')], block=False, suspect=False),
    dict(id='auto is not judged', jobs=[job('memory')], block='auto', suspect=False),
    dict(id='never reached memory', jobs=[job('setup'), job('setup')], block=True, suspect=False),
    dict(id='no samples', jobs=[], block=True, suspect=False),
]


@table(SUSPECT)
def test_suspect_block_migration(case):
    assert w.suspect_block_migration(case['jobs'], case['block']) is case['suspect']
