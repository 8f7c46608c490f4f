# -*- coding: utf-8 -*-
# Copyright: (c) 2025, openstack_ops developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Waiting, the kubernetes.core way: a clock generator and pure predicates.

``clock()`` yields the elapsed time and sleeps between yields; the interval
can be a function of what was seen so far (``adaptive_interval``). The
predicates take plain dicts (a migration record, a server view as built by
nova.py) and never call anything.
"""

from __future__ import annotations

import time

# Live migration statuses (nova.objects.migration): the API creates the record
# as 'accepted'; the compute managers move it through queued, preparing,
# running (or 'running (post-copy)'), post-migrating, then one final status.
MIGRATION_COMPLETED = frozenset(['completed'])
MIGRATION_FAILED = frozenset(['failed', 'error', 'cancelled', 'aborted'])

# Before these statuses end, Nova has not started the migration: 'accepted' while the conductor
# schedules and pre-checks, 'queued' while the source's max_concurrent_live_migrations are busy.
# Nothing has been copied yet; ``timeout`` counts from the first status after them.
MIGRATION_WAITING = frozenset(['accepted', 'queued'])

SERVER_MIGRATABLE = frozenset(['ACTIVE', 'PAUSED'])
# OS-EXT-STS:power_state (nova.compute.power_state)
POWER_STATES = {0: 'NOSTATE', 1: 'RUNNING', 3: 'PAUSED', 4: 'SHUTDOWN', 6: 'CRASHED', 7: 'SUSPENDED'}
# libvirt domain states (LibvirtJobReader.domain_state) in which the guest is not running on a host
DOMAIN_GONE = frozenset(['absent', 'shutoff'])


def clock(total, interval, monotonic=time.monotonic, sleep=time.sleep):
    """Yield the elapsed seconds: 0.0 first, then after each sleep.

    Stops once ``total`` seconds have passed; the last sleep is shortened so
    the final yield happens at ``total`` and not one interval later.
    ``interval`` is a number or a callable(elapsed) -> seconds.
    """
    start = monotonic()
    yield 0.0
    while True:
        elapsed = monotonic() - start
        if elapsed >= total:
            return
        step = interval(elapsed) if callable(interval) else interval
        sleep(max(0.0, min(step, total - elapsed)))
        yield monotonic() - start


def adaptive_interval(base, elapsed, eta_s=None, finishing=False, floor=0.2, warmup_s=5.0):
    """The next poll interval.

    Fast (``floor``) during the first ``warmup_s`` seconds, when the job is
    expected to end within two base intervals, and while ``finishing`` (the
    libvirt job has ended or Nova is post-migrating): that is where the
    orchestration overhead would come from. ``base`` otherwise.
    """
    floor = min(floor, base)
    if elapsed < warmup_s or finishing:
        return floor
    if eta_s is not None and eta_s <= 2 * base:
        return max(floor, min(base, eta_s / 2.0))
    return base


def wait_for(fetch, predicate, timeout, interval, clock_fn=clock):
    """Poll ``fetch()`` until ``predicate(value)``: returns (ok, last value, elapsed)."""
    last = None
    elapsed = 0.0
    for elapsed in clock_fn(timeout, interval):
        last = fetch()
        if predicate(last):
            return True, last, elapsed
    return False, last, elapsed


# ---------------------------------------------------------------- predicates

def migration_status(migration):
    return ((migration or {}).get('status') or '').strip().lower()


def migration_completed(migration):
    return migration_status(migration) in MIGRATION_COMPLETED


def migration_failed(migration):
    return migration_status(migration) in MIGRATION_FAILED


def migration_finished(migration):
    return migration_completed(migration) or migration_failed(migration)


def migration_running(migration):
    """A record exists and has no final status (unknown statuses count as running)."""
    return migration is not None and not migration_finished(migration)


def migration_waiting(migration):
    """Nova has not started the migration yet: no record, 'accepted' or 'queued'."""
    return migration is None or migration_status(migration) in MIGRATION_WAITING


def server_paused(server):
    """The server was paused by its user (vm_state stays 'paused' while it migrates)."""
    return ((server or {}).get('vm_state') or '').lower() == 'paused' or \
        ((server or {}).get('status') or '').upper() == 'PAUSED'


def power_state_name(server):
    value = (server or {}).get('power_state')
    return POWER_STATES.get(value, 'unknown (%r)' % (value,)) if value is not None else 'unknown'


def host_changed(server, source_host):
    host = (server or {}).get('host')
    return bool(host) and host != source_host


def server_settled(server):
    """Nova is done with the server: no task_state."""
    return server is not None and not server.get('task_state')


def server_state_acceptable(server, paused_before=False):
    """ACTIVE, or PAUSED when the server was paused before the migration."""
    status = ((server or {}).get('status') or '').upper()
    return status == 'ACTIVE' or (paused_before and status == 'PAUSED')


def server_problems(server):
    """Why a server cannot be live-migrated now (empty list: it can)."""
    problems = server_state_problems(server)
    if server.get('locked'):
        reason = server.get('locked_reason')
        problems.append('it is locked%s; unlock it first (openstack server unlock %s).'
                        % (' (%s)' % reason if reason else '', server.get('id')))
    return problems


def server_state_problems(server):
    """Why the server is not in a state Nova is done with: not ACTIVE or PAUSED, or a task on it."""
    problems = []
    status = (server.get('status') or '').upper()
    if status not in SERVER_MIGRATABLE:
        hint = ''
        if status in ('SHUTOFF', 'SUSPENDED', 'SHELVED', 'SHELVED_OFFLOADED'):
            hint = ' A stopped server moves with a cold migration (openstack server migrate).'
        elif status == 'ERROR':
            hint = (' If the guest is fine on its hypervisor (for example after an aborted '
                    'migration), reset it first: openstack server set --state active %s.' % server.get('id'))
        problems.append('it is %s; live migration needs ACTIVE or PAUSED.%s' % (status or 'in an unknown state', hint))
    if server.get('task_state'):
        problems.append("Nova is busy with it (task_state=%s); wait until the task ends, "
                        "or look for a running migration with live_migration_info." % server['task_state'])
    return problems


def already_there_problems(server, domain_state=None):
    """Why a server that sits on the requested target is NOT a verified "nothing to do" (empty: it is).

    It must be ACTIVE or PAUSED with no task (a migration in progress is attached to before this is
    asked), and where libvirt was read (``domain_state`` not None), its domain must run there.
    """
    problems = server_state_problems(server)
    if domain_state is not None:
        expected = 'paused' if server_paused(server) else 'running'
        if domain_state != expected:
            problems.append('libvirt on %s shows its domain %s, not %s: check the guest there (virsh domstate %s).'
                            % (server.get('host'), domain_state, expected, server.get('id')))
    return problems


def libvirt_problems(source_host, src, dest_host, dst, paused_before=False):
    """Why libvirt does not confirm the guest moved (empty list: it does).

    ``src``/``dst`` are domain states (LibvirtJobReader.domain_state), None where libvirt did not
    answer. The guest must run on the destination (paused, when it was paused before) and not on
    the source: a guest on two hosts, or on none, is a failure, and so is a host we could not ask.
    """
    expected = 'paused' if paused_before else 'running'
    problems = []
    if dst is None:
        problems.append('libvirt on the destination %s did not answer, so the guest is not verified there' % dest_host)
    elif dst != expected:
        problems.append('libvirt shows the domain %s on the destination %s, not %s' % (dst, dest_host, expected))
    if src is None:
        problems.append('libvirt on the source %s did not answer, so the guest is not verified gone from there'
                        % source_host)
    elif src not in DOMAIN_GONE:
        both = dst in ('running', 'paused')
        problems.append('libvirt shows the domain %s on the source %s%s' % (
            src, source_host, ' as well: the guest is on two hosts' if both else ''))
    if dst is not None and src is not None and dst in DOMAIN_GONE and src in DOMAIN_GONE:
        problems.append('the guest runs on neither %s nor %s' % (source_host, dest_host))
    return problems


def success_problems(migration, server, source_host, paused_before=False, target_host=None):
    """Why a live migration is NOT a success, as far as Nova tells (empty list: it is one).

    Success needs all of: the migration record is 'completed', the server's
    host is the destination (and not the source), the server is ACTIVE (or
    PAUSED when it was paused before) with no task, and its power_state
    agrees (RUNNING, or PAUSED for a PAUSED server). A failed live migration also
    ends ACTIVE on the source, so the status alone proves nothing. With
    libvirt, libvirt_problems() adds what the hypervisors say.
    """
    problems = []
    if not migration_completed(migration):
        problems.append("the migration record is '%s', not 'completed'" % (migration_status(migration) or 'missing'))
    host = (server or {}).get('host')
    dest = (migration or {}).get('dest_compute') or target_host
    if not host:
        problems.append("the server's host is unknown")
    elif host == source_host:
        problems.append('the server is still on the source host %s' % source_host)
    elif dest and host != dest:
        problems.append('the server is on %s, not on the destination %s' % (host, dest))
    elif target_host and host != target_host:
        problems.append('the server is on %s, not on the requested target %s' % (host, target_host))
    if server is not None and not server_state_acceptable(server, paused_before):
        problems.append('the server is %s (vm_state %s), not %s' % (
            server.get('status'), server.get('vm_state'), 'ACTIVE or PAUSED' if paused_before else 'ACTIVE'))
    if server is not None and server.get('task_state'):
        problems.append('Nova still has a task on it (task_state=%s)' % server.get('task_state'))
    expected_power = 'PAUSED' if server_paused(server) else 'RUNNING'   # the status was checked above
    if server is not None and power_state_name(server) != expected_power:
        problems.append('its power_state is %s, not %s' % (power_state_name(server), expected_power))
    return problems


def stalled(points, window_s):
    """True when bytes remaining reached no new low during the last window_s seconds.

    ``points`` are (elapsed_s, bytes_remaining) in time order. Remaining goes
    up and down while the guest dirties memory; a migration that converges
    keeps setting new lows. Needs more than window_s seconds of history.
    """
    points = [(t, r) for t, r in points if r is not None]
    if len(points) < 3 or points[-1][0] - points[0][0] <= window_s:
        return False
    cut = points[-1][0] - window_s
    before = [r for t, r in points if t <= cut]
    recent = [r for t, r in points if t > cut]
    if not before or not recent:
        return False
    best_before = min(before)
    return best_before > 0 and min(recent) >= best_before


def suspect_block_migration(jobs, block_migration):
    """A block migration whose libvirt samples never showed a disk byte.

    Measured with libvirt 9.0: without VIR_MIGRATE_NON_SHARED_INC libvirt
    refuses, or (when forced) reports success while the guest arrives on an
    empty disk, and disk_total stays 0 in every sample. We only judge when
    block migration was explicitly requested and at least one sample reached
    the memory phase (so the disk phase, if any, is behind us).
    """
    if block_migration is not True:
        return False
    jobs = [j for j in jobs if j]
    if not any(j.get('phase') == 'memory' for j in jobs):
        return False
    return all(not (j.get('disk_total') or j.get('disk_processed')) for j in jobs)
