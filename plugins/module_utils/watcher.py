# -*- coding: utf-8 -*-
# Copyright: (c) 2025, openstack_ops developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Watching one migration (part of LiveMigration): Nova's record and libvirt's job, turned into samples.

``watch()`` polls until the migration record has a final status, or a budget runs out: ``timeout``
from the moment Nova started the migration, ``queue_timeout`` before that. Each ``poll()`` reads
Nova (through the outage budget, without waiting: while Nova does not answer, libvirt goes on being
read) and libvirt's job statistics on the source, and makes one sample (``build_sample``).
"""

from __future__ import annotations

from ansible_collections.openstack_ops.live_migration.plugins.module_utils.errors import NovaError
from ansible_collections.openstack_ops.live_migration.plugins.module_utils.formatting import fmt_duration, progress_core, progress_line
from ansible_collections.openstack_ops.live_migration.plugins.module_utils.libvirt_jobs import eta_s, rate_bps
from ansible_collections.openstack_ops.live_migration.plugins.module_utils.views import PROGRESS_FIELDS
from ansible_collections.openstack_ops.live_migration.plugins.module_utils.phases import FINISHING, nova_phase
from ansible_collections.openstack_ops.live_migration.plugins.module_utils.waiter import (
    adaptive_interval, migration_finished, migration_status, migration_waiting, stalled)


STALL_WINDOW_S = 60.0


class ChangeRate(object):
    """Bytes/s of a counter that is updated in steps (Nova writes the progress of a
    migration to its database every few seconds): the growth between two changes
    over the time between the polls that first saw them. Polling faster than the
    counter changes is what makes this close to the truth."""

    def __init__(self):
        self.since = None   # (t, value) when the current value was first seen
        self.bps = None

    def feed(self, t, value):
        if value is None:
            return self.bps
        if self.since is None:
            self.since = (t, value)
        elif value != self.since[1]:
            dt = t - self.since[0]
            self.bps = (value - self.since[1]) / dt if dt > 0 and value > self.since[1] else None
            self.since = (t, value)
        return self.bps


def build_sample(t, status, job, prev_job, nova, nova_bps=None, job_ended=False):
    """One progress sample: flat figures from libvirt when it has a running
    job, else from Nova's progress bytes (with ``nova_bps`` from a ChangeRate);
    both raw sources kept alongside. ``job_ended``: libvirt's job on the source is
    over while Nova still finishes (phase ``finishing``): Nova's last progress
    bytes are stale then and are not shown as progress."""
    sample = {'t': round(t, 3), 'status': status, 'libvirt': job, 'nova': nova}
    flat = dict.fromkeys(('phase', 'data_total', 'data_processed', 'data_remaining', 'disk_total', 'disk_processed',
                          'disk_remaining', 'memory_total', 'memory_processed', 'memory_remaining', 'bps', 'eta_s',
                          'memory_dirty_bps', 'memory_iteration', 'downtime_ms'))
    if job:
        for key in flat:
            if key in job:
                flat[key] = job[key]
        flat['bps'] = rate_bps(prev_job, job)
        flat['origin'] = 'libvirt'
    elif job_ended:
        flat['phase'] = FINISHING
        flat['origin'] = 'libvirt'
    elif nova and any(nova.get(k) for k in PROGRESS_FIELDS):
        for kind in ('disk', 'memory'):
            for part in ('total', 'processed', 'remaining'):
                flat['%s_%s' % (kind, part)] = nova.get('%s_%s_bytes' % (kind, part))
        for part in ('total', 'processed', 'remaining'):
            values = [flat['disk_' + part], flat['memory_' + part]]
            flat['data_' + part] = sum(v for v in values if v) if any(v is not None for v in values) else None
        flat['phase'] = nova_phase(nova, status)
        flat['bps'] = nova_bps
        flat['origin'] = 'nova'
    else:
        flat['origin'] = None
    flat['eta_s'] = eta_s(flat['data_remaining'], flat['bps'])
    if flat['eta_s'] is not None:
        flat['eta_s'] = round(flat['eta_s'], 1)
    if flat['bps'] is not None:
        flat['bps'] = int(flat['bps'])
    sample.update(flat)
    sample['line'] = progress_line(sample)
    return sample


class Watching(object):
    """Mixed into LiveMigration: the watch of one migration."""

    def interval(self, elapsed):
        status = migration_status(self.migration)
        finishing = self.tracker.ended or status in ('post-migrating', 'completed')
        eta = (self.last_sample or {}).get('eta_s')
        return adaptive_interval(self.p['poll_interval'], elapsed, eta_s=eta, finishing=finishing)

    def watch(self, sid, known, budget, queue_budget=None):
        """Poll until the migration record has a final status: 'finished', or 'timeout' / 'queue_timeout'.

        With ``queue_budget``, the migration may wait that long to be started by Nova (accepted, queued),
        and ``budget`` counts from the first poll that sees it started; without, ``budget`` counts from now
        whatever the status (the grace periods after abort and force-complete)."""
        start = self.monotonic()
        while True:
            self.poll(sid, known)
            if migration_finished(self.migration):
                return 'finished'
            now = self.monotonic()
            if queue_budget is None:
                deadline, over = start + budget, 'timeout'
            elif migration_waiting(self.migration):
                deadline, over = start + queue_budget, 'queue_timeout'
            else:
                if self.started_at is None:
                    self.started_at = now
                    self.timeline.write('event', t=self.elapsed(), name='started', status=migration_status(
                        self.migration), queued_s=round(now - self.t0, 1))
                deadline, over = self.started_at + budget, 'timeout'
            if now >= deadline:
                return over
            self.sleep(max(0.0, min(self.interval(now - self.t0), deadline - now)))

    def poll(self, sid, known):
        t = self.elapsed()
        try:
            with self.api.guard.no_wait():   # libvirt goes on being read while Nova does not answer
                self.read_nova(sid, known, t)
            if self.nova_down is not None:
                self.timeline.write('event', t=t, name='nova_back', outage_s=round(self.api.guard.outage_s, 1))
            self.nova_down = None
        except NovaError as e:
            if not e.transient:
                raise
            if self.nova_down is None:
                self.warn('Nova did not answer while watching (%s); libvirt is watched alone until it does '
                          '(outage_budget=%s in all).' % (e.msg, fmt_duration(self.api.guard.budget_s)))
            self.nova_down = e
        job = prev_job = None
        if self.source_reader is not None and not self.tracker.ended:
            reading = self.source_reader.read(sid)
            prev_job = self.tracker.last
            job = self.tracker.feed(reading)
            if reading.kind == 'error' and not self.libvirt_warned:
                self.libvirt_warned = True
                self.warn('libvirt on the source: %s (progress continues from Nova alone until it answers).' % reading.message)
        nova = nova_bps = None
        if self.migration is not None:
            nova = dict((k, self.migration.get(k)) for k in PROGRESS_FIELDS)
            done = [nova.get('disk_processed_bytes'), nova.get('memory_processed_bytes')]
            nova_bps = self.nova_rate.feed(t, sum(v for v in done if v) if any(v is not None for v in done) else None)
        sample = build_sample(t, migration_status(self.migration) or 'requested', job, prev_job, nova, nova_bps,
                              job_ended=self.tracker.ended and job is None)
        self.last_sample = sample
        self.buffer.add(sample)
        self.timeline.write('sample', **sample)
        if sample.get('data_remaining') is not None and sample.get('origin') == 'libvirt':
            self.points.append((t, sample['data_remaining']))
            if not self.result['stalled'] and stalled(self.points, STALL_WINDOW_S):
                self.result['stalled'] = True
                self.warn('The migration of %s is not converging: no new low in data remaining for %d s (%s). '
                          'The guest dirties memory faster than it is copied: raise live_migration_bandwidth, '
                          'enable live_migration_permit_auto_converge or post-copy, or use on_timeout=force_complete.'
                          % (self.who(), STALL_WINDOW_S, progress_core(sample)))
        return sample

    def read_nova(self, sid, known, t):
        if self.migration is None:
            self.migration = self.api.new_migration(sid, known)
            if self.migration is not None:
                self.timeline.write('event', t=t, name='migration', id=self.migration.get('id'),
                                    status=self.migration.get('status'), dest=self.migration.get('dest_compute'))
        if self.migration is not None:
            mid = self.migration['id']
            fresh = None
            # the in-progress view carries the progress bytes; once libvirt's job is over there
            # are none left to read, and the record (the list) says when Nova is done
            if not migration_finished(self.migration) and not self.tracker.ended:
                fresh = self.api.in_progress(sid, mid)
            if fresh is None:
                fresh = self.api.migration_record(sid, mid)
            self.merge(fresh, t)

    def merge(self, fresh, t):
        """Fold a fresh read of the migration record into ours (a value Nova no longer shows is kept)."""
        before = migration_status(self.migration)
        for key, value in (fresh or {}).items():
            if value is not None:
                self.migration[key] = value
        if migration_status(self.migration) != before:
            self.timeline.write('event', t=t, name='status', status=self.migration.get('status'))
