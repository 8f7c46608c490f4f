# -*- coding: utf-8 -*-
# Copyright: (c) 2025, openstack_ops developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

import json

import pytest

from ansible_collections.openstack_ops.live_migration.plugins.module_utils.timeline import (
    SampleBuffer, Timeline, parse_lines, read_timeline)
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
