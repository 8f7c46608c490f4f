# -*- coding: utf-8 -*-
# Copyright: (c) 2025, openstack_ops developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Human-readable figures: byte counts, rates, durations, progress and summary lines.

Pure functions over plain dicts (samples and results as built by migration.py).
"""

from __future__ import annotations

import math

from ansible_collections.openstack_ops.live_migration.plugins.module_utils.phases import FINISHING

UNITS = ('B', 'KiB', 'MiB', 'GiB', 'TiB', 'PiB')


def unit_index(n):
    """The index in UNITS of the largest unit that keeps n at 1 or more (binary prefixes)."""
    n = abs(n)
    i = 0
    while n >= 1024 and i < len(UNITS) - 1:
        n /= 1024.0
        i += 1
    return i


def _number(value):
    """One decimal below 10, none from 10 on or when the decimal is 0."""
    rounded = round(value, 1)
    if rounded >= 10 or float(rounded).is_integer():
        return '%d' % round(value)
    return '%.1f' % rounded


def fmt_bytes(n, unit=None):
    """1536 -> '1.5 KiB', 134217728 -> '128 MiB', None -> '?'."""
    if n is None:
        return '?'
    i = unit_index(n) if unit is None else unit
    if i == 0:
        return '%d B' % n
    return '%s %s' % (_number(n / float(1024 ** i)), UNITS[i])


def fmt_pair(done, total):
    """(67108864, 134217728) -> '64/128 MiB' (one unit, taken from the total)."""
    if total is None:
        return '%s/?' % fmt_bytes(done)
    i = unit_index(max(total, done or 0))
    if i == 0:
        return '%s/%d B' % ('?' if done is None else '%d' % done, total)
    scale = float(1024 ** i)
    return '%s/%s %s' % ('?' if done is None else _number(done / scale), _number(total / scale), UNITS[i])


def fmt_rate(bps):
    return '?' if bps is None else fmt_bytes(bps) + '/s'


def fmt_duration(seconds, precise=False):
    """3.2 -> '3 s' (or '3.2 s' when precise), 125 -> '2 min 5 s', 3720 -> '1 h 2 min'."""
    if seconds is None:
        return '?'
    if seconds < 60:
        if precise:
            return '%.1f s' % seconds
        return '%d s' % int(math.ceil(seconds - 1e-9)) if seconds > 0 else '0 s'
    seconds = int(round(seconds))
    if seconds < 3600:
        minutes, rest = divmod(seconds, 60)
        return '%d min %d s' % (minutes, rest) if rest else '%d min' % minutes
    hours, rest = divmod(seconds, 3600)
    return '%d h %d min' % (hours, rest // 60) if rest // 60 else '%d h' % hours


def fmt_ms(ms):
    if ms is None:
        return '?'
    if ms < 1000:
        return '%d ms' % ms
    return fmt_duration(ms / 1000.0, precise=True)


def progress_core(sample):
    """'disk 64/128 MiB, memory 80 MiB left, 240 MiB/s, ETA 3 s' from a flat sample."""
    parts = []
    phase = sample.get('phase')
    if phase == 'setup':
        parts.append('setting up the disk copy')
    if phase == FINISHING:
        parts.append('copy done, Nova finishing on the destination')
    if sample.get('disk_total'):
        parts.append('disk %s' % fmt_pair(sample.get('disk_processed'), sample['disk_total']))
    if sample.get('memory_total'):
        parts.append('memory %s left' % fmt_bytes(sample.get('memory_remaining')))
    if sample.get('bps'):
        parts.append(fmt_rate(sample['bps']))
    if sample.get('eta_s') is not None and phase in ('disk', 'memory'):
        parts.append('ETA %s' % fmt_duration(sample['eta_s']))
    if (sample.get('memory_iteration') or 0) >= 2:
        parts.append('pass %d' % sample['memory_iteration'])
    if not parts:
        return 'no progress figures yet'
    return ', '.join(parts)


def progress_line(sample):
    """'  12.3 s running        disk 64/128 MiB, ...' for one sample."""
    return '%6.1f s %-14s %s' % (sample.get('t') or 0.0, sample.get('status') or '-', progress_core(sample))


def summary_line(result):
    """One line that tells how a live migration ended."""
    server = result.get('server') or {}
    who = server.get('name') or server.get('id') or '?'
    if server.get('name') and server.get('id'):
        who = '%s (%s)' % (server['name'], server['id'])
    migration = result.get('migration') or {}
    if result.get('ok'):
        if not result.get('changed') and not result.get('attached'):
            return '%s is already on %s: nothing to do' % (who, result.get('dest_host'))
        parts = ['%s live-migrated %s -> %s in %s' % (
            who, result.get('source_host'), result.get('dest_host'), fmt_duration(result.get('elapsed_s'), precise=True))]
        job = result.get('job') or {}
        details = []
        if migration.get('id') is not None:
            details.append('%smigration %s completed' % ('attached to ' if result.get('attached') else '',
                                                         migration['id']))
        if (result.get('queued_s') or 0) >= 1:
            details.append('%s queued, %s running' % (fmt_duration(result['queued_s'], precise=True),
                                                      fmt_duration(result.get('running_s'), precise=True)))
        if (result.get('outage_s') or 0) >= 1:
            details.append('the cloud API was unreachable for %s' % fmt_duration(result['outage_s']))
        if job.get('elapsed_ms') is not None:
            details.append('libvirt job %s' % fmt_ms(job['elapsed_ms']))
        if job.get('downtime_ms') is not None:
            details.append('downtime %s' % fmt_ms(job['downtime_ms']))
        if job.get('data_processed'):
            copied = '%s copied' % fmt_bytes(job['data_processed'])
            if job.get('avg_bps'):
                copied += ' at %s average' % fmt_rate(job['avg_bps'])
            details.append(copied)
        if job.get('iterations'):
            details.append('%d memory passes' % job['iterations'])
        if result.get('sample_count'):
            details.append('%d samples' % result['sample_count'])
        line = parts[0]
        if details:
            line += ': ' + ', '.join(details)
        if result.get('suspect_block_migration'):
            line += ' -- SUSPECT: libvirt never reported disk bytes for this block migration'
        return line
    where = result.get('server_host') or (result.get('server') or {}).get('host')
    state = (result.get('server') or {}).get('status')
    line = '%s NOT migrated' % who
    if where:
        line += ': it is on %s' % where
        if state:
            line += ' (%s)' % state
    if migration.get('id') is not None:
        line += ', migration %s %s' % (migration['id'], migration.get('status'))
    if result.get('elapsed_s') is not None:
        line += ' after %s' % fmt_duration(result['elapsed_s'], precise=True)
    return line
