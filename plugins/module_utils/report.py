# -*- coding: utf-8 -*-
# Copyright: (c) 2025, openstack_ops developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""A migration's timeline report: a JSON document and a self-contained HTML page.

Pure functions: records (as read from the progress_log JSONL) in, strings
out. The HTML has no script and no external resource; the plot of data
remaining over time is an inline SVG.
"""

from __future__ import annotations

import datetime
import json
import re
from html import escape

from ansible_collections.openstack_ops.live_migration.plugins.module_utils.formatting import (
    UNITS, fmt_bytes, fmt_duration, fmt_ms, fmt_rate, summary_line, unit_index)

SERIES = (
    # key, label, stroke, dash
    ('data_remaining', 'data remaining', '#1f5fbf', ''),
    ('disk_remaining', 'disk remaining', '#c0392b', '6 4'),
    ('memory_remaining', 'memory remaining', '#27ae60', '2 3'),
)
MARKED_EVENTS = ('requested', 'migration', 'status', 'timeout', 'abort', 'force_complete', 'recovered', 'verified')


def _iso(ts):
    if ts is None:
        return None
    return datetime.datetime.fromtimestamp(ts, datetime.timezone.utc).strftime('%Y-%m-%dT%H:%M:%SZ')


def build_report(records):
    """The report document from timeline records."""
    start = next((r for r in records if r.get('kind') == 'start'), None)
    result = next((r for r in reversed(records) if r.get('kind') == 'result'), None)
    samples = [r for r in records if r.get('kind') == 'sample']
    events = [r for r in records if r.get('kind') == 'event']
    first_ts = records[0].get('ts') if records else None
    server = (result or {}).get('server') or (start or {}).get('server') or {}
    series = []
    for s in samples:
        point = {'t': s.get('t')}
        for key in ('status', 'phase', 'origin', 'data_total', 'data_remaining', 'disk_total', 'disk_remaining',
                    'memory_total', 'memory_remaining', 'bps', 'eta_s', 'memory_iteration', 'downtime_ms'):
            point[key] = s.get(key)
        series.append(point)
    report = {
        'server': server,
        'source_host': (result or {}).get('source_host') or (start or {}).get('source_host'),
        'dest_host': (result or {}).get('dest_host') or (start or {}).get('target_host'),
        'server_host': (result or {}).get('server_host'),
        'block_migration': (start or {}).get('block_migration'),
        'microversion': (start or {}).get('microversion'),
        'libvirt_uri': (start or {}).get('libvirt_uri'),
        'started_at': _iso(first_ts),
        'finished': result is not None,
        'ok': bool((result or {}).get('ok')),
        'changed': bool((result or {}).get('changed')),
        'msg': (result or {}).get('msg'),
        'summary': (result or {}).get('summary') or (summary_line(result) if result else 'no result recorded (still running, or the run was interrupted)'),
        'elapsed_s': (result or {}).get('elapsed_s'),
        'queued_s': (result or {}).get('queued_s'),
        'running_s': (result or {}).get('running_s'),
        'outage_s': (result or {}).get('outage_s'),
        'attached': bool((result or {}).get('attached') or (start or {}).get('attached')),
        'migration': (result or {}).get('migration'),
        'job': (result or {}).get('job'),
        'hints': (result or {}).get('hints') or [],
        'warnings': (result or {}).get('warnings') or [],
        'timed_out': bool((result or {}).get('timed_out')),
        'on_timeout_action': (result or {}).get('on_timeout_action'),
        'recovered': bool((result or {}).get('recovered')),
        'suspect_block_migration': bool((result or {}).get('suspect_block_migration')),
        'stalled': bool((result or {}).get('stalled')),
        'nova_events': (result or {}).get('events') or [],
        'events': [dict((k, v) for k, v in e.items() if k not in ('kind',)) for e in events],
        'sample_count': len(samples),
        'series': series,
    }
    return report


def report_basename(report):
    """'<server name>-<UTC start time>', safe as a file name."""
    server = report.get('server') or {}
    name = server.get('name') or server.get('id') or 'migration'
    name = re.sub(r'[^A-Za-z0-9._-]+', '_', name).strip('._') or 'migration'
    stamp = (report.get('started_at') or 'unknown').replace(':', '').replace('-', '')
    return '%s-%s' % (name, stamp)


def to_json(report):
    return json.dumps(report, indent=2, sort_keys=True, default=str) + '\n'


def nice_step(span, count=5):
    """A 1/2/5 x 10^n step giving about ``count`` ticks over ``span``."""
    if span <= 0:
        return 1.0
    raw = span / float(count)
    magnitude = 1.0
    while magnitude * 10 <= raw:
        magnitude *= 10
    while magnitude > raw:
        magnitude /= 10
    for factor in (1, 2, 5, 10):
        if magnitude * factor >= raw:
            return magnitude * factor
    return magnitude * 10


def render_svg(series, events=(), width=860, height=360):
    """Data remaining over time as an inline SVG (no script, no external resource)."""
    left, right, top, bottom = 70, 20, 12, 66
    plot_w, plot_h = width - left - right, height - top - bottom
    out = ['<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" viewBox="0 0 %d %d" role="img" '
           'aria-label="data remaining over time">' % (width, height, width, height),
           '<rect x="0" y="0" width="%d" height="%d" fill="#ffffff"/>' % (width, height)]
    points = [p for p in series if p.get('t') is not None]
    keys = [series[0] for series in SERIES]
    values = [p.get(key) for p in points for key in keys if p.get(key) is not None]
    if not points or not values:
        out.append('<text x="%d" y="%d" text-anchor="middle" font-family="sans-serif" font-size="14" fill="#555">'
                   'no progress samples</text>' % (width // 2, height // 2))
        out.append('</svg>')
        return '\n'.join(out)
    t_max = max(p['t'] for p in points) or 1.0
    v_max = max(values) or 1
    unit = unit_index(v_max)
    scale = float(1024 ** unit)
    y_step = nice_step(v_max / scale) * scale
    y_top = y_step * max(1, -(-v_max // y_step))
    x_step = nice_step(t_max)
    x_top = x_step * max(1, -(-t_max // x_step))

    def x(t):
        return left + plot_w * (t / x_top)

    def y(v):
        return top + plot_h * (1 - v / y_top)

    # grid and axes
    tick = 0.0
    while tick <= y_top + 1e-9:
        out.append('<line x1="%d" y1="%.1f" x2="%d" y2="%.1f" stroke="#e5e5e5"/>' % (left, y(tick), left + plot_w, y(tick)))
        out.append('<text x="%d" y="%.1f" text-anchor="end" font-family="sans-serif" font-size="11" fill="#333">%s</text>'
                   % (left - 6, y(tick) + 4, escape('%g %s' % (round(tick / scale, 2), UNITS[unit]))))
        tick += y_step
    tick = 0.0
    while tick <= x_top + 1e-9:
        out.append('<line x1="%.1f" y1="%d" x2="%.1f" y2="%d" stroke="#e5e5e5"/>' % (x(tick), top, x(tick), top + plot_h))
        out.append('<text x="%.1f" y="%d" text-anchor="middle" font-family="sans-serif" font-size="11" fill="#333">%g s</text>'
                   % (x(tick), top + plot_h + 16, round(tick, 2)))
        tick += x_step
    out.append('<line x1="%d" y1="%d" x2="%d" y2="%d" stroke="#333"/>' % (left, top + plot_h, left + plot_w, top + plot_h))
    out.append('<line x1="%d" y1="%d" x2="%d" y2="%d" stroke="#333"/>' % (left, top, left, top + plot_h))
    out.append('<text x="%d" y="%d" text-anchor="middle" font-family="sans-serif" font-size="12" fill="#333">'
               'seconds since the request</text>' % (left + plot_w // 2, top + plot_h + 34))
    # event markers; a label closer than 12 px to the previous one is left out
    last_label_x = None
    for e in events:
        if e.get('name') in MARKED_EVENTS and e.get('t') is not None and e['t'] <= x_top:
            label = e['name'] if e['name'] != 'status' else (e.get('status') or 'status')
            out.append('<line x1="%.1f" y1="%d" x2="%.1f" y2="%d" stroke="#999" stroke-dasharray="3 3"/>'
                       % (x(e['t']), top, x(e['t']), top + plot_h))
            if last_label_x is not None and x(e['t']) - last_label_x < 12:
                continue
            last_label_x = x(e['t'])
            # rotated, anchored at its end: the label reads upwards and hangs inside the plot
            out.append('<text x="%.1f" y="%d" text-anchor="end" font-family="sans-serif" font-size="10" fill="#777" '
                       'transform="rotate(-90 %.1f %d)">%s</text>' % (x(e['t']) - 3, top + 4, x(e['t']) - 3, top + 4,
                                                                      escape(str(label))))
    # series, with the legend under the axis title
    legend_x = left
    legend_y = height - 10
    for key, label, color, dash in SERIES:
        pts = [(p['t'], p[key]) for p in points if p.get(key) is not None]
        if not pts:
            continue
        coords = ' '.join('%.1f,%.1f' % (x(t), y(v)) for t, v in pts)
        out.append('<polyline fill="none" stroke="%s" stroke-width="2"%s points="%s"/>' % (
            color, ' stroke-dasharray="%s"' % dash if dash else '', coords))
        out.append('<line x1="%d" y1="%d" x2="%d" y2="%d" stroke="%s" stroke-width="2"%s/>' % (
            legend_x, legend_y - 4, legend_x + 24, legend_y - 4, color, ' stroke-dasharray="%s"' % dash if dash else ''))
        out.append('<text x="%d" y="%d" font-family="sans-serif" font-size="11" fill="#333">%s</text>' % (
            legend_x + 30, legend_y, escape(label)))
        legend_x += 150
    out.append('</svg>')
    return '\n'.join(out)


def _seconds(value):
    return fmt_duration(value, precise=True) if value is not None else None


def _row(label, value):
    return '<tr><th>%s</th><td>%s</td></tr>' % (escape(label), escape('-' if value is None else str(value)))


def render_html(report):
    """A self-contained page: verdict, figures, plot, events, hints."""
    server = report.get('server') or {}
    job = report.get('job') or {}
    migration = report.get('migration') or {}
    verdict = 'succeeded' if report.get('ok') else ('failed' if report.get('finished') else 'unfinished')
    color = {'succeeded': '#1e7e34', 'failed': '#b02a37', 'unfinished': '#8a6d3b'}[verdict]
    rows = [
        _row('server', '%s (%s)' % (server.get('name'), server.get('id'))),
        _row('source host', report.get('source_host')),
        _row('destination', report.get('dest_host')),
        _row('server host at the end', report.get('server_host')),
        _row('block migration', report.get('block_migration')),
        _row('compute API microversion', report.get('microversion')),
        _row('started (UTC)', report.get('started_at')),
        _row('elapsed', fmt_duration(report.get('elapsed_s'), precise=True) if report.get('elapsed_s') is not None else None),
        _row('queued (before Nova started it)', _seconds(report.get('queued_s'))),
        _row('running', _seconds(report.get('running_s'))),
        _row('cloud API unreachable', _seconds(report.get('outage_s')) if report.get('outage_s') else None),
        _row('attached to a migration in progress', report.get('attached') or None),
        _row('migration record', '%s (%s)' % (migration.get('id'), migration.get('status')) if migration else None),
        _row('libvirt job time', fmt_ms(job.get('elapsed_ms')) if job.get('elapsed_ms') is not None else None),
        _row('downtime', fmt_ms(job.get('downtime_ms')) if job.get('downtime_ms') is not None else None),
        _row('data copied', fmt_bytes(job.get('data_processed')) if job.get('data_processed') else None),
        _row('average rate', fmt_rate(job.get('avg_bps')) if job.get('avg_bps') else None),
        _row('memory passes', job.get('iterations')),
        _row('samples', report.get('sample_count')),
        _row('timed out', '%s (on_timeout=%s)' % (report.get('timed_out'), report.get('on_timeout_action'))
             if report.get('timed_out') else False),
        _row('recovered after abort', report.get('recovered')),
        _row('suspect block migration', report.get('suspect_block_migration')),
        _row('stalled', report.get('stalled')),
    ]
    lists = []
    for title, items in (('Hints', report.get('hints')), ('Warnings', report.get('warnings'))):
        if items:
            lists.append('<h2>%s</h2><ul>%s</ul>' % (title, ''.join('<li>%s</li>' % escape(str(i)) for i in items)))
    event_rows = ''.join('<tr><td>%s</td><td>%s</td><td>%s</td></tr>' % (
        escape('-' if e.get('t') is None else '%.1f s' % e['t']), escape(str(e.get('name'))),
        escape(', '.join('%s=%s' % (k, v) for k, v in sorted(e.items()) if k not in ('t', 'name', 'ts'))))
        for e in report.get('events') or [])
    nova_rows = ''.join('<tr><td>%s</td><td>%s</td><td>%s</td><td>%s</td></tr>' % (
        escape(str(e.get('event'))), escape(str(e.get('result'))), escape(str(e.get('start_time'))),
        escape(str(e.get('details') or e.get('traceback') or '')))
        for e in report.get('nova_events') or [])
    title = 'Live migration of %s' % (server.get('name') or server.get('id') or '?')
    return '\n'.join([
        '<!DOCTYPE html>',
        '<html lang="en"><head><meta charset="utf-8"><title>%s</title>' % escape(title),
        '<style>body{font-family:sans-serif;margin:2em;color:#222;max-width:920px}'
        'table{border-collapse:collapse;margin:1em 0}th,td{text-align:left;padding:3px 10px;border-bottom:1px solid #eee;'
        'vertical-align:top}th{color:#555;font-weight:normal}.verdict{color:%s;font-weight:bold}'
        'pre{white-space:pre-wrap;background:#f6f6f6;padding:8px}</style></head><body>' % color,
        '<h1>%s</h1>' % escape(title),
        '<p class="verdict">%s</p>' % escape(verdict.upper() + ': ' + (report.get('summary') or '')),
        '<pre>%s</pre>' % escape(report.get('msg') or '') if report.get('msg') and not report.get('ok') else '',
        render_svg(report.get('series') or [], report.get('events') or []),
        '<table>%s</table>' % ''.join(rows),
        ''.join(lists),
        '<h2>Timeline</h2><table><tr><th>t</th><th>event</th><th>details</th></tr>%s</table>' % event_rows,
        ('<h2>Nova instance action events</h2><table><tr><th>event</th><th>result</th><th>start</th><th>details</th></tr>'
         '%s</table>' % nova_rows) if nova_rows else '',
        '</body></html>',
        '',
    ])
