# -*- coding: utf-8 -*-
# Copyright: (c) 2025, openstack_ops developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

from ansible_collections.openstack_ops.live_migration.plugins.module_utils import formatting as f
from ansible_collections.openstack_ops.live_migration.tests.unit.plugins.table import table

KiB, MiB, GiB = 1024, 1024 ** 2, 1024 ** 3

BYTES = [
    dict(id='none', n=None, expected='?'),
    dict(id='zero', n=0, expected='0 B'),
    dict(id='bytes', n=1023, expected='1023 B'),
    dict(id='one KiB', n=KiB, expected='1 KiB'),
    dict(id='one and a half KiB', n=1536, expected='1.5 KiB'),
    dict(id='128 MiB', n=128 * MiB, expected='128 MiB'),
    dict(id='9.8 MiB', n=int(9.8 * MiB), expected='9.8 MiB'),
    dict(id='10.4 MiB rounds', n=int(10.4 * MiB), expected='10 MiB'),
    dict(id='1.5 GiB', n=int(1.5 * GiB), expected='1.5 GiB'),
    dict(id='20 GiB', n=20 * GiB, expected='20 GiB'),
    dict(id='2 TiB', n=2 * 1024 * GiB, expected='2 TiB'),
]


@table(BYTES)
def test_fmt_bytes(case):
    assert f.fmt_bytes(case['n']) == case['expected']


PAIRS = [
    dict(id='example', done=64 * MiB, total=128 * MiB, expected='64/128 MiB'),
    dict(id='unit from total', done=512 * KiB, total=2 * GiB, expected='0/2 GiB'),
    dict(id='fraction', done=int(1.5 * GiB), total=20 * GiB, expected='1.5/20 GiB'),
    dict(id='unknown done', done=None, total=128 * MiB, expected='?/128 MiB'),
    dict(id='unknown total', done=MiB, total=None, expected='1 MiB/?'),
    dict(id='tiny', done=10, total=100, expected='10/100 B'),
]


@table(PAIRS)
def test_fmt_pair(case):
    assert f.fmt_pair(case['done'], case['total']) == case['expected']


DURATIONS = [
    dict(id='none', s=None, expected='?'),
    dict(id='zero', s=0, expected='0 s'),
    dict(id='rounds up', s=2.1, expected='3 s'),
    dict(id='whole', s=3.0, expected='3 s'),
    dict(id='precise', s=3.25, precise=True, expected='3.2 s'),
    dict(id='minutes', s=125, expected='2 min 5 s'),
    dict(id='whole minutes', s=600, expected='10 min'),
    dict(id='hours', s=3720, expected='1 h 2 min'),
    dict(id='whole hours', s=7200, expected='2 h'),
]


@table(DURATIONS)
def test_fmt_duration(case):
    assert f.fmt_duration(case['s'], precise=case.get('precise', False)) == case['expected']


def test_fmt_ms_and_rate():
    assert f.fmt_ms(35) == '35 ms' and f.fmt_ms(1100) == '1.1 s' and f.fmt_ms(None) == '?'
    assert f.fmt_rate(240 * MiB) == '240 MiB/s' and f.fmt_rate(None) == '?'


def sample(**kw):
    base = dict(t=12.34, status='running', phase='memory', disk_total=None, disk_processed=None, memory_total=None,
                memory_remaining=None, bps=None, eta_s=None, memory_iteration=None)
    base.update(kw)
    return base


PROGRESS = [
    dict(id='the example from the issue',
         s=sample(disk_total=128 * MiB, disk_processed=64 * MiB, memory_total=256 * MiB, memory_remaining=80 * MiB,
                  bps=240 * MiB, eta_s=3),
         expected='disk 64/128 MiB, memory 80 MiB left, 240 MiB/s, ETA 3 s'),
    dict(id='disk phase', s=sample(phase='disk', disk_total=128 * MiB, disk_processed=32 * MiB, bps=64 * MiB, eta_s=1.5),
         expected='disk 32/128 MiB, 64 MiB/s, ETA 2 s'),
    dict(id='setup', s=sample(phase='setup'), expected='setting up the disk copy'),
    dict(id='finishing', s=sample(phase='finishing'), expected='copy done, Nova finishing on the destination'),
    dict(id='memory only, later pass', s=sample(memory_total=GiB, memory_remaining=100 * MiB, bps=30 * MiB, eta_s=40,
                                                memory_iteration=7),
         expected='memory 100 MiB left, 30 MiB/s, ETA 40 s, pass 7'),
    dict(id='no ETA outside copy phases', s=sample(phase=None, memory_total=GiB, memory_remaining=0, eta_s=0),
         expected='memory 0 B left'),
    dict(id='nothing yet', s=sample(phase=None), expected='no progress figures yet'),
]


@table(PROGRESS)
def test_progress_core(case):
    assert f.progress_core(case['s']) == case['expected']


def test_progress_line():
    line = f.progress_line(sample(disk_total=128 * MiB, disk_processed=64 * MiB))
    assert line == '  12.3 s running        disk 64/128 MiB'


SUMMARY = [
    dict(id='success', r=dict(ok=True, changed=True, server={'id': 'u1', 'name': 'vm1'}, source_host='cmp1',
                              dest_host='cmp2', elapsed_s=12.4, migration={'id': 7, 'status': 'completed'},
                              job={'elapsed_ms': 10100, 'downtime_ms': 35, 'data_processed': int(1.2 * GiB),
                                   'avg_bps': 120 * MiB, 'iterations': 3}, sample_count=57),
         expected='vm1 (u1) live-migrated cmp1 -> cmp2 in 12.4 s: migration 7 completed, libvirt job 10.1 s, '
                  'downtime 35 ms, 1.2 GiB copied at 120 MiB/s average, 3 memory passes, 57 samples'),
    dict(id='nothing to do', r=dict(ok=True, changed=False, server={'id': 'u1', 'name': 'vm1'}, dest_host='cmp1'),
         expected='vm1 (u1) is already on cmp1: nothing to do'),
    dict(id='suspect', r=dict(ok=True, changed=True, server={'id': 'u1'}, source_host='a', dest_host='b',
                              elapsed_s=1, suspect_block_migration=True),
         expected='u1 live-migrated a -> b in 1.0 s -- SUSPECT: libvirt never reported disk bytes for this block migration'),
    dict(id='failure', r=dict(ok=False, server={'id': 'u1', 'name': 'vm1', 'status': 'ERROR'}, server_host='cmp1',
                              migration={'id': 7, 'status': 'error'}, elapsed_s=61.0),
         expected='vm1 (u1) NOT migrated: it is on cmp1 (ERROR), migration 7 error after 1 min 1 s'),
    dict(id='failure before anything', r=dict(ok=False, server=None), expected='? NOT migrated'),
]


@table(SUMMARY)
def test_summary_line(case):
    assert f.summary_line(case['r']) == case['expected']
