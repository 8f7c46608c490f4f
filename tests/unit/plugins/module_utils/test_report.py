# -*- coding: utf-8 -*-
# Copyright: (c) 2025, openstack_ops developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ET

from ansible_collections.openstack_ops.live_migration.plugins.module_utils import report as rp
from ansible_collections.openstack_ops.live_migration.tests.unit.plugins.table import table

MiB = 1024 * 1024


def records(ok=True, with_result=True, name='vm1', **result):
    out = [
        {'kind': 'event', 'ts': 1700000000.0, 't': None, 'name': 'checking', 'server': name},
        {'kind': 'start', 'ts': 1700000000.5, 'server': {'id': 'u1', 'name': name}, 'source_host': 'cmp1',
         'target_host': 'cmp2', 'block_migration': True, 'microversion': '2.68', 'libvirt_uri': 'qemu+tcp://cmp1/system'},
        {'kind': 'event', 'ts': 1700000000.6, 't': 0.0, 'name': 'requested', 'request_id': 'req-1'},
    ]
    for i in range(10):
        left = (9 - i) * 40 * MiB
        out.append({'kind': 'sample', 'ts': 1700000001 + i, 't': float(i), 'status': 'running',
                    'phase': 'disk' if i < 4 else 'memory', 'origin': 'libvirt', 'data_total': 400 * MiB,
                    'data_remaining': left, 'disk_remaining': max(0, left - 240 * MiB),
                    'memory_remaining': min(left, 240 * MiB), 'bps': 40 * MiB, 'eta_s': left / (40.0 * MiB),
                    'line': '%d s running' % i, 'libvirt': {}, 'nova': {}})
    out.append({'kind': 'event', 'ts': 1700000005, 't': 4.0, 'name': 'status', 'status': 'post-migrating'})
    if with_result:
        out.append({'kind': 'result', 'ts': 1700000011, 'ok': ok, 'changed': True,
                    'server': {'id': 'u1', 'name': name, 'status': 'ACTIVE'},
                    'source_host': 'cmp1', 'dest_host': 'cmp2', 'server_host': 'cmp2' if ok else 'cmp1',
                    'elapsed_s': 10.2, 'migration': {'id': 7, 'status': 'completed' if ok else 'error'},
                    'job': {'elapsed_ms': 9000, 'downtime_ms': 35, 'data_processed': 400 * MiB},
                    'msg': 'the message <b>', 'summary': 'the summary', 'hints': [] if ok else ['do <this>'],
                    'warnings': [], 'events': [{'event': 'compute_live_migration', 'result': 'Success'}]})
        out[-1].update(result)
    return out


BUILD = [
    dict(id='success', recs=records(), expect=dict(ok=True, finished=True, source_host='cmp1', dest_host='cmp2',
                                                   summary='the summary', sample_count=10, microversion='2.68',
                                                   started_at='2023-11-14T22:13:20Z')),
    dict(id='failure', recs=records(ok=False), expect=dict(ok=False, finished=True, server_host='cmp1',
                                                           hints=['do <this>'])),
    dict(id='still running', recs=records(with_result=False), expect=dict(
        ok=False, finished=False, summary='no result recorded (still running, or the run was interrupted)')),
    dict(id='nothing', recs=[], expect=dict(ok=False, finished=False, sample_count=0, started_at=None)),
    dict(id='queued, outage, attached', recs=records(queued_s=95.0, running_s=10.2, outage_s=21.3, attached=True),
         expect=dict(queued_s=95.0, running_s=10.2, outage_s=21.3, attached=True)),
]


@table(BUILD)
def test_build_report(case):
    report = rp.build_report(case['recs'])
    for key, value in case['expect'].items():
        assert report[key] == value, key
    json.loads(rp.to_json(report))


def test_series_and_events():
    report = rp.build_report(records())
    assert [p['t'] for p in report['series']] == [float(i) for i in range(10)]
    assert report['series'][0]['data_remaining'] == 360 * MiB
    assert [e['name'] for e in report['events']] == ['checking', 'requested', 'status']


NAMES = [
    dict(id='plain', server={'name': 'vm1'}, started='2025-01-02T03:04:05Z', expected='vm1-20250102T030405Z'),
    dict(id='unsafe characters', server={'name': '../x y/z'}, started='2025-01-02T03:04:05Z',
         expected='x_y_z-20250102T030405Z'),
    dict(id='id when no name', server={'id': 'u1'}, started=None, expected='u1-unknown'),
    dict(id='nothing', server={}, started=None, expected='migration-unknown'),
]


@table(NAMES)
def test_report_basename(case):
    assert rp.report_basename({'server': case['server'], 'started_at': case['started']}) == case['expected']


STEPS = [
    dict(id='ten', span=10, expected=2),
    dict(id='hundred', span=100, expected=20),
    dict(id='seven', span=7, expected=2),
    dict(id='one', span=1, expected=0.2),
    dict(id='384', span=384, expected=100),
    dict(id='zero', span=0, expected=1.0),
]


@table(STEPS)
def test_nice_step(case):
    assert abs(rp.nice_step(case['span']) - case['expected']) < 1e-9


def test_svg_is_well_formed_and_plots_the_series():
    report = rp.build_report(records())
    svg = rp.render_svg(report['series'], report['events'])
    root = ET.fromstring(svg)
    ns = '{http://www.w3.org/2000/svg}'
    lines = root.findall(ns + 'polyline')
    assert len(lines) == 3
    points = lines[0].get('points').split()
    assert len(points) == 10
    ys = [float(p.split(',')[1]) for p in points]
    assert ys == sorted(ys), 'data remaining goes down, so y goes down the page'
    texts = [t.text for t in root.iter(ns + 'text')]
    assert 'post-migrating' in texts and any(t.endswith('MiB') for t in texts)


def test_svg_without_samples():
    svg = rp.render_svg([])
    assert 'no progress samples' in svg
    ET.fromstring(svg)


def test_html_is_self_contained_and_escaped():
    html = rp.render_html(rp.build_report(records(ok=False, name='<script>alert(1)</script>')))
    assert '<script>' not in html and '&lt;script&gt;' in html
    assert 'do &lt;this&gt;' in html and 'the message &lt;b&gt;' in html
    assert 'FAILED: the summary' in html
    assert not re.search(r'(src|href)=', html), 'no external resource'
    assert '<svg' in html


def test_html_success():
    html = rp.render_html(rp.build_report(records()))
    assert 'SUCCEEDED: the summary' in html and '35 ms' in html and '400 MiB' in html
    assert 'compute_live_migration' in html


def test_html_shows_the_queued_and_the_running_time_apart():
    html = rp.render_html(rp.build_report(records(queued_s=95.0, running_s=10.2, outage_s=21.3, attached=True)))
    assert '<th>queued (before Nova started it)</th><td>1 min 35 s</td>' in html
    assert '<th>running</th><td>10.2 s</td>' in html
    assert '<th>cloud API unreachable</th><td>21.3 s</td>' in html
    assert '<th>attached to a migration in progress</th><td>True</td>' in html
