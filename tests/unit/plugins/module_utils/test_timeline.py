# -*- coding: utf-8 -*-
# Copyright: (c) 2025, openstack_ops developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

import json

import pytest

from ansible_collections.openstack_ops.live_migration.plugins.module_utils.timeline import (
    SampleBuffer, Timeline, job_finished, last_record, parse_lines, progress_text, read_timeline)
from ansible_collections.openstack_ops.live_migration.tests.unit.plugins.table import table

BUFFER = [
    dict(id='fewer than the limit', limit=10, n=5),
    dict(id='exactly the limit', limit=10, n=10),
    dict(id='many more', limit=10, n=1000),
    dict(id='limit two', limit=2, n=50),
    dict(id='odd limit', limit=7, n=333),
    dict(id='one', limit=5, n=1),
]


@table(BUFFER)
def test_sample_buffer_bounds_and_covers(case):
    b = SampleBuffer(case['limit'])
    for i in range(case['n']):
        b.add({'t': i})
    items = [s['t'] for s in b.items()]
    assert len(items) <= case['limit']
    assert items[0] == 0 and items[-1] == case['n'] - 1
    assert items == sorted(set(items))
    assert b.count == case['n']
    if case['n'] <= case['limit'] - 1:
        assert items == list(range(case['n']))
    kept = [s['t'] for s in b.kept]
    gaps = set(kept[i + 1] - kept[i] for i in range(len(kept) - 1))
    assert len(gaps) <= 1, 'kept samples are evenly spaced'


def test_sample_buffer_rejects_tiny_limit():
    with pytest.raises(ValueError):
        SampleBuffer(1)


def test_timeline_writes_one_json_record_per_line(tmp_path):
    path = tmp_path / 'log.jsonl'
    path.write_text('old run\n')
    t = Timeline(str(path), now=lambda: 1700000000.12345).open()
    t.write('event', name='checking', t=None)
    t.write('sample', t=1.5, line='disk 64/128 MiB', nested={'a': 1})
    t.write('result', ok=True)
    t.close()
    lines = path.read_text().splitlines()
    assert len(lines) == 3, 'the file is truncated at open'
    records = [json.loads(x) for x in lines]
    assert [r['kind'] for r in records] == ['event', 'sample', 'result']
    assert records[0]['ts'] == 1700000000.123
    assert read_timeline(str(path)) == records


def test_timeline_without_path_is_a_no_op(tmp_path):
    t = Timeline(None).open()
    t.write('event', name='x')
    t.close()
    assert list(tmp_path.iterdir()) == []


def test_timeline_missing_folder(tmp_path):
    with pytest.raises(IOError):
        Timeline(str(tmp_path / 'nope' / 'log.jsonl')).open()


def test_parse_lines_skips_torn_and_foreign_lines():
    lines = ['{"kind": "sample", "t": 1}', '', '{"kind": "sam', 'not json', '[1, 2]', '{"no_kind": 1}',
             '{"kind": "result", "ok": false}']
    assert [r['kind'] for r in parse_lines(lines)] == ['sample', 'result']


PROGRESS_TEXT = [
    dict(id='nothing yet', record=None, expected='starting'),
    dict(id='a sample', record={'kind': 'sample', 'line': '  3.0 s running  disk 1/2 MiB'},
         expected='  3.0 s running  disk 1/2 MiB'),
    dict(id='the result', record={'kind': 'result', 'summary': 'vm1 live-migrated a -> b'}, expected='vm1 live-migrated a -> b'),
    dict(id='an event', record={'kind': 'event', 'name': 'requested'}, expected='event requested'),
]


@table(PROGRESS_TEXT)
def test_progress_text(case):
    assert progress_text(case['record']) == case['expected']


def test_last_record_reads_the_end_and_skips_a_torn_line(tmp_path):
    path = tmp_path / 'log.jsonl'
    path.write_text('{"kind": "event", "name": "a"}\n' + '{"kind": "sample", "line": "x"}\n' * 5000 + '{"kind": "res')
    assert last_record(str(path)) == {'kind': 'sample', 'line': 'x'}
    assert last_record(str(tmp_path / 'missing.jsonl')) is None


JOB_FILES = [
    dict(id='started', text='{"started": 1, "finished": 0, "ansible_job_id": "j1"}', finished=False),
    dict(id='result written', text='{"changed": true, "ok": true, "msg": "done"}', finished=True),
    dict(id='torn', text='{"changed": tr', finished=False),
    dict(id='missing', text=None, finished=False),
]


@table(JOB_FILES)
def test_job_finished(case, tmp_path):
    path = tmp_path / 'job'
    if case['text'] is not None:
        path.write_text(case['text'])
    assert job_finished(str(path)) is case['finished']
