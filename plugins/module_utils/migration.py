# -*- coding: utf-8 -*-
# Copyright: (c) 2025, openstack_ops developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""One live migration: check, trigger, watch, verify, and handle a timeout.

``LiveMigration`` gets its collaborators injected (a NovaApi, a factory of
libvirt readers, a Timeline, a monotonic clock and a sleep function), so its
whole decision flow runs in unit tests with fakes. It returns the module's
result dict, or raises OperatorError whose ``details`` are the same dict.

Success needs all of: the migration record is 'completed', the server's
host is the destination, the server is ACTIVE (PAUSED if it was paused
before) with that power_state and no task, and, where libvirt is read, the
domain runs on the destination and not on the source. Nothing else -- not the
server status alone, not libvirt alone -- makes a success.

A run that finds a live migration of the server already in progress attaches
to it (``attached``) and watches and verifies it as if it had started it.
The cloud may blink: every API call but the request itself goes through one
outage budget (outage.py). ``timeout`` counts from the moment Nova starts the
migration; the wait before that (accepted, queued) is bounded by
``queue_timeout``.
"""

from __future__ import annotations

import time

from ansible_collections.openstack_ops.live_migration.plugins.module_utils import microversion
from ansible_collections.openstack_ops.live_migration.plugins.module_utils.errors import NovaError, OperatorError
from ansible_collections.openstack_ops.live_migration.plugins.module_utils.formatting import (
    fmt_duration, progress_core, progress_line, summary_line)
from ansible_collections.openstack_ops.live_migration.plugins.module_utils.hints import hints_for
from ansible_collections.openstack_ops.live_migration.plugins.module_utils.libvirt_jobs import (
    JobTracker, LibvirtUnavailable, eta_s, rate_bps, render_uri, summarise_job)
from ansible_collections.openstack_ops.live_migration.plugins.module_utils.nova import (
    PROGRESS_FIELDS, capacity_shortfalls, event_reasons, flavor_resources)
from ansible_collections.openstack_ops.live_migration.plugins.module_utils.outage import DEFAULT_BUDGET_S, OutageBudget
from ansible_collections.openstack_ops.live_migration.plugins.module_utils.timeline import SampleBuffer, Timeline
from ansible_collections.openstack_ops.live_migration.plugins.module_utils.waiter import (
    adaptive_interval, already_there_problems, clock, host_changed, libvirt_problems, migration_completed,
    migration_finished, migration_running, migration_status, migration_waiting, server_paused, server_problems,
    server_settled, stalled, success_problems, suspect_block_migration, wait_for)

SETTLE_TIMEOUT_S = 60.0         # after a final migration status: Nova finishing with the server
ABORT_GRACE_S = 120.0           # after an abort request: the migration reaching a final status
FORCE_COMPLETE_GRACE_S = 300.0  # after force-complete: the paused guest's last copy
STALL_WINDOW_S = 60.0
SETTLE_INTERVAL_S = 0.5
REQUEST_CHECK_S = 30.0          # after a live-migrate request that got no answer: how long to look for its traces
LIBVIRT_VERIFY_S = 20.0         # after 'completed': how long libvirt may take to answer on both hosts
DEFAULT_QUEUE_TIMEOUT_S = 1800
QUIET_S = 3.0                   # after a failure: how long Nova's view must stay unchanged (settle_final)

NOVA34_ABORT = (
    "This is how Nova (measured with nova 34 and the libvirt driver) reports an abort: libvirt "
    "cancels cleanly and the guest keeps running on the source, but Nova ends the migration "
    "'error' (not 'cancelled') and puts the server in ERROR, so the next live migration is "
    "refused (HTTP 409) until the server is reset to active.")


def normalise_block_migration(value):
    """True / False / 'auto' from what a playbook may pass (bool, 'yes', 'auto', ...)."""
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text == 'auto':
        return 'auto'
    if text in ('true', 'yes', 'on', '1', 'y', 't'):
        return True
    if text in ('false', 'no', 'off', '0', 'n', 'f'):
        return False
    raise ValueError("block_migration must be true, false or auto, not %r" % (value,))


def nova_phase(nova, status):
    if not nova:
        return None
    if (nova.get('memory_processed_bytes') or 0) > 0:
        return 'memory'
    if (nova.get('disk_total_bytes') or 0) > 0:
        return 'disk'
    return 'setup' if status == 'running' else None


def libvirt_view(source_host, src, dest_host, dst, errors):
    """One sentence on where libvirt sees the domain (states from LibvirtJobReader.domain_state), or
    None when libvirt was not read at all. A host whose libvirt did not answer is named with why."""
    if src is None and dst is None and not errors:
        return None
    parts = []
    for host, state in ((source_host, src), (dest_host, dst)):
        if not host:
            continue
        if state is not None:
            parts.append('%s on %s' % (state, host))
        elif host in errors:
            parts.append('unknown on %s (its libvirt did not answer: %s)' % (host, errors[host]))
        else:
            parts.append('unknown on %s' % host)
    return 'libvirt: the domain is %s.' % ' and '.join(parts)


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
        flat['phase'] = 'finishing'
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


def brief_server(server):
    keys = ('id', 'name', 'status', 'vm_state', 'task_state', 'host', 'node')
    return dict((k, (server or {}).get(k)) for k in keys)


class LiveMigration(object):

    def __init__(self, api, params, reader_factory=None, timeline=None, monotonic=time.monotonic, sleep=time.sleep):
        self.api = api
        self.p = dict(params)
        self.p['block_migration'] = normalise_block_migration(self.p.get('block_migration', True))
        self.reader_factory = reader_factory
        self.timeline = timeline or Timeline(None)
        self.monotonic = monotonic
        self.sleep = sleep
        self.warnings = []
        if api.guard is None:
            api.guard = OutageBudget(self.p.get('outage_budget') or DEFAULT_BUDGET_S, monotonic, sleep,
                                     reauth=api.reauthenticate)
        api.guard.on_retry = self.on_retry
        self.result = {'changed': False, 'ok': False, 'server': None, 'source_host': None, 'dest_host': None,
                       'migration': None, 'elapsed_s': None, 'job': None, 'samples': [], 'sample_count': 0,
                       'events': [], 'hints': [], 'microversion': None, 'timed_out': False,
                       'on_timeout_action': None, 'recovered': False, 'suspect_block_migration': False,
                       'stalled': False, 'request_id': None, 'libvirt_uri': None, 'server_host': None,
                       'attached': False, 'outage_s': 0.0, 'queued_s': None, 'running_s': None}
        # the migration being followed
        self.source_host = None
        self.paused_before = False
        self.max_version = None
        # watch state
        self.source_reader = None
        self.tracker = JobTracker()
        self.buffer = SampleBuffer(self.p.get('max_samples') or 200)
        self.migration = None
        self.points = []
        self.last_sample = None
        self.nova_rate = ChangeRate()
        self.libvirt_warned = False
        self.nova_down = None       # the error of the Nova read that failed last while watching, until one works
        self.t0 = None
        self.started_at = None      # when the migration left accepted/queued (monotonic)

    # ------------------------------------------------------------ helpers
    def _clock(self, total, interval):
        return clock(total, interval, self.monotonic, self.sleep)

    def warn(self, text):
        if text not in self.warnings:
            self.warnings.append(text)
            self.timeline.write('event', t=self.elapsed(), name='warning', text=text)

    def elapsed(self):
        return None if self.t0 is None else round(self.monotonic() - self.t0, 3)

    def on_retry(self, error, wait_s):
        """The outage budget retries a call: say so in the timeline (the result sums it up)."""
        self.timeline.write('event', t=self.elapsed(), name='retry', error=error.msg, wait_s=round(wait_s, 2),
                            outage_s=round(self.api.guard.outage_s, 1))

    def stamp(self):
        """The figures every result carries: the time queued and running, and the cloud's outage."""
        outage = self.api.guard.outage_s
        self.result['outage_s'] = round(outage, 1)
        if outage >= 1.0:
            outages = self.api.guard.outages
            self.warn('The cloud API was unreachable for %s in all (%d outage%s); calls were retried within '
                      'outage_budget=%s.' % (fmt_duration(outage), outages, '' if outages == 1 else 's',
                                             fmt_duration(self.api.guard.budget_s)))
        if self.t0 is not None:
            now = self.monotonic()
            start = self.started_at if self.started_at is not None else now
            self.result['queued_s'] = round(start - self.t0, 1)
            self.result['running_s'] = round(now - start, 1) if self.started_at is not None else None

    def fail(self, msg, reasons=(), hints=True, hint_source=None):
        """Raise the OperatorError; known causes in msg/reasons add hints (hints=False: our own
        message already says what to do, and a table match would mislead). hint_source: the part of
        msg that may match (libvirt's view of the hosts quotes connection errors of our own reads,
        which are no cause of the failure)."""
        hints = hints_for([msg if hint_source is None else hint_source] + list(reasons)) if hints else []
        self.result['hints'] = hints
        if hints:
            msg = msg.rstrip() + ' Hint: ' + ' '.join(hints)
        self.result['samples'] = self.buffer.items()
        self.result['sample_count'] = self.buffer.count
        self.stamp()
        if self.result['outage_s'] >= 1 and 'unreachable' not in msg:
            msg = msg.rstrip() + ' The cloud API was unreachable for %s in all while this ran.' % fmt_duration(
                self.result['outage_s'])
        details = dict(self.result, warnings=list(self.warnings))
        details.pop('msg', None)
        raise OperatorError(msg, **details)

    def who(self, server=None):
        server = server or self.result.get('server') or {}
        return '%s (%s)' % (server.get('name'), server.get('id')) if server.get('name') else str(server.get('id'))

    # ------------------------------------------------------------ entry
    def execute(self, check_mode=False):
        """run() plus the timeline's first and last records, and clean-up."""
        self.timeline.write('event', t=None, name='checking', server=self.p.get('server'),
                            target_host=self.p.get('target_host'))
        try:
            result = self.run(check_mode)
            self.stamp()
            result['warnings'] = list(self.warnings)
            result['msg'] = result.get('msg') or summary_line(result)
            self.timeline.write('result', **self._record(result))
            return result
        except OperatorError as e:
            record = dict(e.details, msg=e.msg, ok=False)
            self.timeline.write('result', **self._record(record))
            raise
        except NovaError as e:
            self.result['samples'] = self.buffer.items()
            self.result['sample_count'] = self.buffer.count
            self.stamp()
            following = self.result.get('changed') or self.result.get('attached')
            tail = (' The live migration was requested and may still be running: follow it with '
                    'live_migration_info, or run this again to attach to it.' if following
                    else ' Nothing was changed.')
            details = dict(self.result)
            hints = hints_for([e.msg])
            details.update(hints=hints, warnings=list(self.warnings))
            msg = e.msg.rstrip()
            msg += ('' if msg.endswith('.') else '.') + tail + (' Hint: ' + ' '.join(hints) if hints else '')
            err = OperatorError(msg, **details)
            self.timeline.write('result', **self._record(dict(details, msg=err.msg, ok=False)))
            raise err
        except Exception as e:
            # a bug: still end the timeline with a result, so that its readers stop waiting
            self.timeline.write('result', ok=False, changed=self.result.get('changed'), server=self.result.get('server'),
                                msg='internal error in live_migrate: %r' % (e,), summary='internal error: %r' % (e,))
            raise
        finally:
            for reader in (self.source_reader,):
                if reader is not None:
                    reader.close()
            self.timeline.close()

    @staticmethod
    def _record(result):
        record = dict(result)
        record.pop('samples', None)  # the samples are already in the file, one per line
        record['summary'] = summary_line(record)
        return record

    def run(self, check_mode=False):
        p = self.p
        min_v, max_v = self.api.versions()
        self.max_version = max_v
        server = self.api.find_server(p['server'])
        if server is None:
            self.fail('No server is named or has the ID %r (all projects were searched). Check the name, '
                      'or pass the server ID. Nothing was changed.' % p['server'])
        self.result.update(server=brief_server(server), source_host=server['host'], server_host=server['host'])
        if not server['host']:
            self.fail("Nova does not show which host %s runs on (OS-EXT-SRV-ATTR:host is hidden): live "
                      "migration needs admin credentials. Nothing was changed." % self.who(server))
        target = p.get('target_host')
        records = self.api.migrations(server_id=server['id'])
        current = self.migration_in_progress(server, records)
        if current is not None:
            return self.attach(server, current, records, check_mode)
        if target and server['host'] == target:
            return self.already_there(server, target, records)
        problems = server_problems(server)
        if problems:
            self.fail('Cannot live-migrate %s: %s Nothing was changed.' % (self.who(server), ' '.join(problems)))
        try:
            plan = microversion.choose(min_v, max_v, target, p['block_migration'])
        except ValueError as e:
            self.fail('%s Nothing was changed.' % e)
        problem = microversion.on_timeout_problem(p['on_timeout'], max_v)
        if problem:
            self.fail('%s Nothing was changed.' % problem)
        self.result['microversion'] = plan['microversion']
        if not plan['features']['progress_bytes']:
            self.warn('The compute API stops at %s: Nova reports no progress bytes before 2.23.' % plan['max'])
        if target:
            self.check_target(server, target)
            self.check_capacity(server, target)
        self.source_reader = self.open_source_libvirt(server)
        if check_mode:
            self.result.update(
                ok=True, changed=True, dest_host=target,
                plan={'microversion': plan['microversion'], 'body': plan['body'],
                      'compute_api': {'min': plan['min'], 'max': plan['max']}},
                msg='Would live-migrate %s from %s to %s (block_migration=%s, compute API %s).' % (
                    self.who(server), server['host'], target or "a host the scheduler picks",
                    p['block_migration'], plan['microversion']))
            return self.result
        return self.migrate(server, plan)

    # ------------------------------------------------------------ a migration already there, or none needed
    @staticmethod
    def migration_in_progress(server, records):
        """The live migration of the server that is in progress, or None: Nova has the server in task
        'migrating' and its newest live-migration record has no final status. (A record that never got a
        final status while the server has no task is a leftover of a crashed service, not a migration.)"""
        if (server.get('task_state') or '').lower() != 'migrating':
            return None
        for record in records:   # newest first
            return record if migration_running(record) else None
        return None

    def attach(self, server, current, records, check_mode):
        """Follow a live migration that is already in progress (a rerun after the controller was lost)
        exactly as if this run had requested it; never request a second one."""
        p = self.p
        sid, mid = server['id'], current.get('id')
        dest = current.get('dest_compute')
        target = p.get('target_host')
        head = 'A live migration of %s is already in progress: migration %s from %s to %s (status %r)' % (
            self.who(server), mid, current.get('source_compute'), dest or 'a host the scheduler is choosing',
            migration_status(current))
        self.result.update(migration=current, dest_host=dest)
        if target and dest and dest != target:
            self.fail('%s, not to the target_host %s. Nothing was changed. Wait for it to end, or abort it '
                      '(openstack server migration abort %s %s), then run this again.' % (head, target, sid, mid))
        self.source_host = current.get('source_compute') or server['host']
        self.paused_before = server_paused(server)
        self.result.update(attached=True, source_host=self.source_host)
        self.source_reader = self.open_source_libvirt(dict(server, host=self.source_host,
                                                           node=current.get('source_node') or server.get('node')),
                                                      attached=True)
        if check_mode:
            self.result.update(ok=True, msg='%s. Would attach to it and verify it (no second migration).' % head)
            return self.result
        self.t0 = self.monotonic()
        self.migration = dict(current)
        self.timeline.write('start', server=brief_server(server), source_host=self.source_host,
                            target_host=target, block_migration=p['block_migration'], timeout=p['timeout'],
                            on_timeout=p['on_timeout'], libvirt_uri=self.result['libvirt_uri'], attached=True,
                            migration=mid)
        self.timeline.write('event', t=0.0, name='attached', id=mid, status=current.get('status'), dest=dest)
        if not p.get('wait', True):
            self.result.update(ok=True, msg='%s. Attached to it; not waiting (wait=false): follow it with '
                                            'live_migration_info.' % head)
            return self.result
        known = set(r['id'] for r in records if r.get('id') != mid)
        return self.follow(server['id'], known)

    def already_there(self, server, target, records):
        """The server sits on the target: a success only when Nova is done with it, no migration of it is
        open, and (with libvirt_uri) its domain runs there. Anything else fails and says what to do."""
        state = None
        if self.p.get('libvirt_uri'):
            reader, state = self.domain_state_on(server, lambda e, reader: (
                '%s is on %s already, but libvirt there did not answer (%s), so its guest is not verified. Check '
                'libvirt_uri and libvirtd on %s. Nothing was changed.' % (self.who(server), target, e, target)))
            reader.close()
            self.result['libvirt_uri'] = reader.uri
        problems = already_there_problems(server, state)
        open_records = [r for r in records if migration_running(r)]
        if open_records:
            problems.append('Nova still shows its migration %s as %r although no task is on the server: look at it '
                            'with live_migration_info before anything else.' % (
                                open_records[0].get('id'), migration_status(open_records[0])))
        if problems:
            self.fail('%s is on %s already, but that is not a verified end state: %s Nothing was changed.' % (
                self.who(server), target, ' '.join(problems)))
        self.result.update(ok=True, changed=False, dest_host=target,
                           msg='%s is already on %s: nothing to do.' % (self.who(server), target))
        return self.result

    # ------------------------------------------------------------ preflight
    def check_target(self, server, target):
        service = self.api.compute_service(target)
        if service is None:
            hosts = self.api.compute_hosts()
            self.fail('target_host %r is not a nova-compute host. Known compute hosts: %s. Nothing was changed.'
                      % (target, ', '.join(hosts) or 'none'))
        if service['state'] != 'up' or service['forced_down']:
            forced = ', forced down' if service['forced_down'] else ''
            self.fail('The nova-compute service on %s is down (state=%s%s): start it, or pick another '
                      'target_host. Nothing was changed.' % (target, service['state'], forced))
        if service['status'] != 'enabled':
            self.fail('The nova-compute service on %s is disabled%s: enable it (openstack compute service set '
                      '--enable %s nova-compute) or pick another target_host. Nothing was changed.' % (
                          target, ' (%s)' % service['disabled_reason'] if service['disabled_reason'] else '', target))

    def check_capacity(self, server, target):
        flavor = server.get('flavor') or {}
        if not (flavor.get('vcpus') or flavor.get('ram')):
            self.warn('The flavor details of %s are not embedded in the server (compute API < 2.47): '
                      'capacity on %s not checked in placement; the scheduler still checks it.' % (self.who(server), target))
            return
        try:
            hyp_id, node = self.api.hypervisor(target)
            if node is None:
                self.warn('No hypervisor found for %s: capacity not checked in placement.' % target)
                return
            rp_id, rp_name = self.api.resource_provider(node, hyp_id)
            if rp_id is None:
                self.warn('No placement resource provider named %s: capacity not checked.' % node)
                return
            inventories = self.api.inventories(rp_id)
            usages = self.api.usages(rp_id)
        except NovaError as e:
            self.warn('Capacity on %s not checked in placement: %s' % (target, e.msg))
            return
        cpu_class = 'PCPU' if 'PCPU' in inventories else 'VCPU'
        wanted = flavor_resources(flavor, server.get('volume_backed'), cpu_class)
        problems, unchecked = capacity_shortfalls(wanted, inventories, usages)
        if unchecked:
            self.warn('Placement has no %s inventory on %s: not checked there.' % (', '.join(unchecked), rp_name))
        if problems:
            self.fail('The flavor %s of %s does not fit on %s (placement resource provider %s): %s. Free capacity '
                      'there or pick another target_host. Nothing was changed.' % (
                          flavor.get('name'), self.who(server), target, rp_name, '; '.join(problems)))

    def reader_for(self, host, node=None):
        uri = render_uri(self.p['libvirt_uri'], host, node, self.p.get('libvirt_addresses'))
        return self.reader_factory(uri)

    def domain_state_on(self, server, unreachable):
        """(reader, domain state) on the server's host; a libvirt that does not answer fails the run with
        unreachable(error, reader), a URI template that cannot be filled in with its own message."""
        try:
            reader = self.reader_for(server['host'], server.get('node'))
        except ValueError as e:
            self.fail('%s. Nothing was changed.' % e)
        try:
            return reader, reader.domain_state(server['id'])
        except LibvirtUnavailable as e:
            reader.close()
            self.fail(unreachable(e, reader), hints=False)

    def open_source_libvirt(self, server, attached=False):
        if not self.p.get('libvirt_uri'):
            return None
        reader, state = self.domain_state_on(server, lambda e, reader: (
            'libvirt_uri: cannot read the source hypervisor: %s. Check the URI (%s from the template %s), that '
            'libvirtd listens there and that this host may connect. Nothing was changed.' % (
                e, reader.uri, self.p['libvirt_uri'])))
        if state == 'absent' and attached:
            self.warn('libvirt at %s has no domain %s any more: the migration may be past its copy.' % (
                reader.uri, server['id']))
        elif state == 'absent':
            reader.close()
            self.fail('libvirt at %s has no domain %s: the URI does not reach the hypervisor %s runs on (%s). '
                      'Nothing was changed.' % (reader.uri, server['id'], self.who(server), server['host']))
        self.result['libvirt_uri'] = reader.uri
        return reader

    # ------------------------------------------------------------ migrate
    def migrate(self, server, plan):
        p = self.p
        sid = server['id']
        self.source_host = server['host']
        self.paused_before = server_paused(server)
        known = self.api.migration_ids(sid)
        known_actions = self.api.action_ids(sid)
        self.timeline.write('start', server=brief_server(server), source_host=self.source_host,
                            target_host=p.get('target_host'), block_migration=p['block_migration'],
                            microversion=plan['microversion'], timeout=p['timeout'], on_timeout=p['on_timeout'],
                            libvirt_uri=self.result['libvirt_uri'])
        request_id = self.request(server, plan, known, known_actions)
        self.result.update(changed=True, request_id=request_id)
        self.timeline.write('event', t=0.0, name='requested', request_id=request_id)
        if not p.get('wait', True):
            self.migration = self.api.new_migration(sid, known)
            self.result.update(ok=True, migration=self.migration, dest_host=(self.migration or {}).get('dest_compute'))
            self.result['msg'] = ('Live migration of %s from %s requested (migration %s, %s); not waiting (wait=false). '
                                  'Follow it with live_migration_info.' % (
                                      self.who(server), self.source_host, (self.migration or {}).get('id', '?'),
                                      migration_status(self.migration) or 'no record yet'))
            return self.result

        return self.follow(sid, known)

    def request(self, server, plan, known, known_actions):
        """POST the live migration; its request ID. A request that got no answer (5xx, a timeout, a
        dropped connection) may still have been accepted: "Nothing was changed" is said only once no new
        migration record, instance action or task of the server showed up; otherwise it is followed."""
        sid = server['id']
        self.t0 = self.monotonic()
        try:
            return self.api.live_migrate(sid, plan['body'], plan['microversion'])
        except NovaError as e:
            if not e.transient:
                self.t0 = None
                self.fail('Nova refused to live-migrate %s: %s. Nothing was changed.' % (self.who(server), e.msg))
            error = e
        for dummy in self._clock(REQUEST_CHECK_S, 1.0):
            record = self.api.new_migration(sid, known)
            actions = self.api.action_ids(sid) - known_actions
            task = self.api.get_server(sid).get('task_state')
            if record is not None or actions or (task or '').lower() == 'migrating':
                self.warn('The live-migrate request of %s got no answer (%s), but Nova accepted it (%s): it is '
                          'followed as usual.' % (self.who(server), error.msg, 'migration %s' % record.get('id')
                                                  if record else 'instance action' if actions else 'task migrating'))
                return sorted(actions)[0] if actions else None
        self.fail('The live-migrate request of %s got no answer (%s), and in %s Nova recorded nothing of it: no new '
                  'migration record, no instance action, no task on the server. Nothing was changed. Run it again '
                  'once the compute API answers.' % (self.who(server), error.msg, fmt_duration(REQUEST_CHECK_S)))

    def follow(self, sid, known):
        """Watch the migration to its end and judge it; or carry out what a timeout calls for."""
        outcome = self.watch(sid, known, self.p['timeout'], self.p.get('queue_timeout') or DEFAULT_QUEUE_TIMEOUT_S)
        if outcome == 'finished':
            return self.conclude(sid)
        if outcome == 'queue_timeout':
            return self.on_queue_timeout(sid, known)
        return self.on_timeout(sid, known)

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

    def settle_final(self, sid, budget=SETTLE_TIMEOUT_S):
        """The server once Nova has stopped changing it and the migration record, after a migration
        that did not succeed (the record is refreshed on the way).

        Measured with nova 34 and the libvirt driver (and so written in its code): the rollback
        first leaves the server ACTIVE with no task and the migration 'cancelled' (after an abort)
        or 'failed'; only then does the error of libvirt's migration thread reach the compute
        manager, which sets the migration to 'error' and the server to ERROR. The first settled
        view is therefore not the last one: wait until nothing changed for QUIET_S seconds."""
        mid = (self.migration or {}).get('id')
        last = since = server = None
        for dummy in self._clock(budget, SETTLE_INTERVAL_S):
            server = self.api.get_server(sid)
            if mid is not None:
                self.merge(self.api.migration_record(sid, mid), self.elapsed())
            view = (migration_status(self.migration), server.get('status'), server.get('vm_state'),
                    server.get('task_state'), server.get('host'))
            now = self.monotonic()
            if view != last:
                last, since = view, now
            elif server_settled(server) and now - since >= QUIET_S:
                break
        return server

    def settle(self, sid, predicate, budget=SETTLE_TIMEOUT_S):
        ok, server, dummy = wait_for(lambda: self.api.get_server(sid), predicate, budget, SETTLE_INTERVAL_S, self._clock)
        return ok, server

    def conclude(self, sid):
        """The migration record has a final status: verify, or explain the failure."""
        m = self.migration
        if migration_completed(m):
            dest = m.get('dest_compute')
            server = self.settle(sid, lambda s: server_settled(s) and host_changed(s, self.source_host))[1]
            elapsed = self.elapsed()
            problems = success_problems(m, server, self.source_host, self.paused_before, self.p.get('target_host'))
            self.result.update(server=brief_server(server), migration=m, elapsed_s=elapsed,
                               dest_host=dest, server_host=server.get('host'))
            src, dst, view = self.libvirt_verdict(sid, dest, m.get('dest_node'), server_paused(server))
            if self.source_reader is not None:
                problems += libvirt_problems(self.source_host, src, dest, dst, server_paused(server))
            self.finish_job(sid, dest, m.get('dest_node'))
            self.result['events'] = self.events(sid)
            if problems:
                msg = ('Nova reports migration %s of %s completed, but %s. This is NOT a successful migration: '
                       'check the server (openstack server show %s) and the guest on both hosts.' % (
                           m.get('id'), self.who(server), '; '.join(problems), sid))
                self.fail(msg + view, hint_source=msg)
            self.result['ok'] = True
            self.check_suspect()
            self.result['samples'] = self.buffer.items()
            self.result['sample_count'] = self.buffer.count
            self.timeline.write('event', t=elapsed, name='verified', host=server.get('host'), status=server.get('status'))
            return self.result
        server = self.settle_final(sid)
        m = self.migration
        self.result.update(server=brief_server(server), migration=m, elapsed_s=self.elapsed(),
                           dest_host=m.get('dest_compute'), server_host=server.get('host'))
        action = self.action(sid)
        reasons = event_reasons(action) if action else []
        if server.get('fault') and server['fault'] not in ' '.join(reasons):
            reasons.append('server fault: %s' % server['fault'])
        self.result['events'] = (action or {}).get('events') or []
        msg = 'Live migration of %s from %s to %s failed: migration %s ended %r.' % (
            self.who(server), self.source_host, m.get('dest_compute') or '?', m.get('id'), m.get('status'))
        if reasons:
            msg += ' Nova says: %s.' % ' | '.join(r.rstrip('.') for r in reasons)
        else:
            msg += (' Nova recorded no reason: see the nova-compute logs on %s and %s for request %s.'
                    % (self.source_host, m.get('dest_compute') or 'the destination', self.result.get('request_id')))
        msg += ' ' + self.where(server)
        # where the guest really is: Nova may say ERROR while the domain runs on the source
        self.fail(msg + self.libvirt_locations(sid, m.get('dest_compute'), m.get('dest_node'))[2], reasons,
                  hint_source=msg)

    def libvirt_verdict(self, sid, dest, dest_node, paused=False):
        """libvirt_locations() once both hosts agree that the guest moved, or as they are after
        LIBVIRT_VERIFY_S (a libvirtd restarting, a destination still resuming the guest)."""
        for dummy in self._clock(LIBVIRT_VERIFY_S, 1.0):
            src, dst, view = self.libvirt_locations(sid, dest, dest_node)
            if self.source_reader is None or not libvirt_problems(self.source_host, src, dest, dst, paused):
                break
        return src, dst, view

    def where(self, server):
        text = 'The server is %s (vm_state %s) on %s.' % (server.get('status'), server.get('vm_state'), server.get('host'))
        if server.get('host') == self.source_host and (server.get('status') or '').upper() in ('ACTIVE', 'PAUSED'):
            text += ' It still runs on the source: nothing moved.'
        return text

    def action(self, sid):
        try:
            return self.api.action(sid, self.result.get('request_id'))
        except NovaError as e:
            self.warn('Could not read the instance action events: %s' % e.msg)
            return None

    def events(self, sid):
        action = self.action(sid)
        return (action or {}).get('events') or []

    def finish_job(self, sid, dest, dest_node):
        """The final libvirt figures: the destination's completed stats, else our last sample."""
        if self.source_reader is None:
            return
        completed = None
        if dest:
            reader = None
            try:
                reader = self.reader_for(dest, dest_node)
                completed = reader.completed(sid)
            except (ValueError, LibvirtUnavailable):
                completed = None
            finally:
                if reader is not None:
                    reader.close()
        self.result['job'] = summarise_job(self.tracker.last, completed, self.tracker.jobs)

    def check_suspect(self):
        if suspect_block_migration(self.tracker.jobs, self.p['block_migration']):
            self.result['suspect_block_migration'] = True
            self.warn('SUSPECT block migration: libvirt never reported a disk byte (disk_total stayed 0 in all %d '
                      'samples). Without VIR_MIGRATE_NON_SHARED_INC libvirt can report success while the guest '
                      'arrives on an empty disk. Check the guest and its disk on %s now.'
                      % (len(self.tracker.jobs), self.result.get('dest_host')))

    # ------------------------------------------------------------ timeout
    def on_timeout(self, sid, known):
        p = self.p
        action = p['on_timeout']
        m = self.migration
        self.result.update(timed_out=True, on_timeout_action=action)
        self.timeline.write('event', t=self.elapsed(), name='timeout', action=action)
        progress = progress_core(self.last_sample or {})
        mid = m.get('id')   # a timeout comes only once Nova started the migration: there is a record
        head = 'Timed out after %s waiting for migration %s of %s (status %r; %s).' % (
            fmt_duration(p['timeout']), mid, self.who(), m.get('status'), progress)
        if action == 'fail':
            server = self.api.get_server(sid)
            self.result.update(server=brief_server(server), server_host=server.get('host'), migration=m,
                               elapsed_s=self.elapsed())
            self.fail('%s on_timeout=fail: the migration was left running. Stop it with: openstack server migration '
                      'abort %s %s; or finish it with: openstack server migration force complete %s %s.'
                      % (head, sid, mid, sid, mid))
        if action == 'force_complete':
            try:
                self.api.force_complete(sid, mid)
            except NovaError as e:
                return self.timeout_refused(sid, known, head, 'force-complete', e)
            self.timeline.write('event', t=self.elapsed(), name='force_complete')
            self.warn('%s Requested force-complete: the guest is paused for the last copy.' % head)
            if self.watch(sid, known, FORCE_COMPLETE_GRACE_S) == 'finished':
                return self.conclude(sid)
            return self.force_complete_expired(sid, head)
        # abort
        try:
            self.api.abort(sid, mid)
        except NovaError as e:
            return self.timeout_refused(sid, known, head, 'abort', e)
        self.timeline.write('event', t=self.elapsed(), name='abort')
        self.watch(sid, known, ABORT_GRACE_S)
        if migration_completed(self.migration):
            self.warn('%s The abort came too late: the migration completed.' % head)
            return self.conclude(sid)
        server = self.settle_final(sid)
        self.after_abort(sid, server, head)

    def force_complete_expired(self, sid, head):
        """Force-complete was asked for and the migration still did not end: where the guest is, what
        libvirt shows on both hosts, and what the operator can do now."""
        m = self.migration
        mid, dest = m.get('id'), m.get('dest_compute')
        server = self.api.get_server(sid)
        self.result.update(server=brief_server(server), server_host=server.get('host'), migration=m,
                           elapsed_s=self.elapsed(), dest_host=dest)
        src, dst, view = self.libvirt_locations(sid, dest, m.get('dest_node'))
        postcopy = 'post-copy' in migration_status(m) or any(
            (j.get('memory_postcopy_requests') or 0) > 0 for j in self.tracker.jobs)
        msg = '%s Force-complete was requested, but the migration is still %r %s later.' % (
            head, migration_status(m), fmt_duration(FORCE_COMPLETE_GRACE_S))
        if postcopy:
            msg += (' Force-complete switched it to post-copy: the guest already runs on %s and fetches the rest of '
                    'its memory from %s. An abort is no longer possible (Nova refuses it in post-copy): wait for it '
                    '(openstack server migration show %s %s), and restart neither host until it has ended; if it '
                    'fails now, the guest is lost on both.' % (dest or 'the destination', self.source_host, sid, mid))
        else:
            paused_on = self.source_host if src in (None, 'paused') else None
            msg += (' The guest is %s (force-complete pauses it so that the last memory can be copied) and stays '
                    'paused until the migration ends. Next: abort it, which resumes the guest on %s (openstack '
                    'server migration abort %s %s), or wait for it (openstack server migration show %s %s).' % (
                        'paused on %s' % paused_on if paused_on else '%s on %s' % (src, self.source_host),
                        self.source_host, sid, mid, sid, mid))
        self.fail(msg + view + ' ' + self.where(server), hint_source=msg)

    def on_queue_timeout(self, sid, known):
        """The migration waited queue_timeout without being started by Nova: nothing was copied yet, so a
        queued one is cancelled (microversion 2.65); one that cannot be is left alone and reported."""
        p = self.p
        m = self.migration
        status = migration_status(m)
        self.result.update(timed_out=True)
        self.timeline.write('event', t=self.elapsed(), name='queue_timeout', status=status or None)
        waited = fmt_duration(p.get('queue_timeout') or DEFAULT_QUEUE_TIMEOUT_S)
        server = self.api.get_server(sid)
        self.result.update(server=brief_server(server), server_host=server.get('host'), migration=m,
                           elapsed_s=self.elapsed())
        if m is None:
            self.fail('No migration record appeared for %s within queue_timeout (%s) after the request %s: Nova has '
                      'not started it, and there is nothing to cancel. Look at nova-conductor and the instance '
                      'actions (openstack server event list %s). %s' % (
                          self.who(server), waited, self.result.get('request_id'), sid, self.where(server)))
        mid = m.get('id')
        head = ('Migration %s of %s waited %s (queue_timeout) without being started by Nova (status %r'
                % (mid, self.who(server), waited, status))
        head += ': the source\'s max_concurrent_live_migrations are busy).' if status == 'queued' else ').'
        can_abort = status == 'queued' and microversion.features(self.max_version)['abort_queued']
        if not can_abort:
            why = ('aborting a queued migration needs compute API microversion %s' % microversion.requires(
                'abort_queued') if status == 'queued' else 'Nova cannot abort a migration in status %r' % status)
            self.fail('%s It was left as it is (%s): it starts when Nova gets to it; follow it with '
                      'live_migration_info, or run this again to attach to it. Nothing has been copied yet. %s' % (
                          head, why, self.where(server)))
        try:
            self.api.abort(sid, mid)
        except NovaError as e:
            self.poll(sid, known)
            if not migration_waiting(self.migration):
                self.warn('%s Nova refused to cancel it (%s): it has just started, and is followed as usual.' % (
                    head, e.msg))
                return self.follow(sid, known)
            self.fail('%s Cancelling it failed: %s. %s' % (head, e.msg, self.where(server)))
        self.result['changed'] = True
        self.timeline.write('event', t=self.elapsed(), name='abort', queued=True)
        self.watch(sid, known, ABORT_GRACE_S)
        if migration_completed(self.migration):
            self.warn('%s The cancel came too late: the migration ran and completed.' % head)
            return self.conclude(sid)
        server = self.settle_final(sid)
        self.result.update(server=brief_server(server), server_host=server.get('host'), migration=self.migration)
        self.fail('%s It was cancelled before anything was copied (the migration ended %r). %s Run it again when the '
                  'source is less busy, or raise queue_timeout.' % (head, migration_status(self.migration),
                                                                    self.where(server)))

    def timeout_refused(self, sid, known, head, what, error):
        """Nova refused abort/force-complete: maybe the migration just ended."""
        self.poll(sid, known)
        if migration_finished(self.migration):
            self.warn('%s Nova refused %s (%s): the migration had just ended.' % (head, what, error.msg))
            return self.conclude(sid)
        server = self.api.get_server(sid)
        self.result.update(server=brief_server(server), server_host=server.get('host'), migration=self.migration,
                           elapsed_s=self.elapsed())
        self.fail('%s Nova refused the %s: %s. The migration continues (status %r): follow it with '
                  'live_migration_info. %s' % (head, what, error.msg, migration_status(self.migration), self.where(server)))

    def libvirt_locations(self, sid, dest, dest_node):
        """(state on source, state on destination, ' ' + libvirt_view(...)) from libvirt for a failure
        message; a state is None where unknown. Nothing is read without a libvirt_uri (text '')."""
        if self.source_reader is None:
            return None, None, ''
        src = dst = None
        errors = {}
        try:
            src = self.source_reader.domain_state(sid)
        except LibvirtUnavailable as e:
            errors[self.source_host] = str(e)
            self.warn('libvirt on the source: %s' % e)
        if dest:
            reader = None
            try:
                reader = self.reader_for(dest, dest_node)
                dst = reader.domain_state(sid)
            except (ValueError, LibvirtUnavailable) as e:
                errors[dest] = str(e)
                self.warn('libvirt on the destination: %s' % e)
            finally:
                if reader is not None:
                    reader.close()
        view = libvirt_view(self.source_host, src, dest, dst, errors)
        return src, dst, ' ' + view if view else ''

    def after_abort(self, sid, server, head):
        m = self.migration
        dest = m.get('dest_compute')
        self.result.update(server=brief_server(server), server_host=server.get('host'), migration=m,
                           elapsed_s=self.elapsed(), dest_host=dest)
        msg = '%s The migration was aborted (on_timeout=abort) and ended %r. %s' % (
            head, m.get('status'), self.where(server))
        nova_error_state = (server.get('vm_state') or '').lower() == 'error' or (server.get('status') or '').upper() == 'ERROR'
        if migration_status(m) == 'error' and nova_error_state:
            msg += ' ' + NOVA34_ABORT
        hint_source = msg
        src, dst, view = self.libvirt_locations(sid, dest, m.get('dest_node'))
        msg += view
        if nova_error_state:
            if self.p.get('recover_on_abort'):
                msg += ' ' + self.recover(sid, server, src, dst, dest)
            else:
                msg += (' To recover: confirm the domain runs on %s (virsh domstate %s) and is absent from %s, then '
                        'run openstack server set --state active %s; or rerun with recover_on_abort=true and a '
                        'libvirt_uri.' % (self.source_host, sid, dest or 'the destination', sid))
        self.result['events'] = self.events(sid)
        self.fail(msg, hint_source=hint_source)

    def recover(self, sid, server, src, dst, dest):
        """Reset the server to active, only when libvirt proves where the guest is."""
        refuse = None
        if self.source_reader is None:
            refuse = 'no libvirt_uri to confirm where the guest runs'
        elif self.paused_before:
            refuse = 'the server was PAUSED before the migration; a reset would mark it ACTIVE'
        elif server.get('host') != self.source_host:
            refuse = 'Nova shows the server on %s, not on the source %s' % (server.get('host'), self.source_host)
        elif src != 'running':
            refuse = 'libvirt shows the domain %s on the source, not running' % (src or 'unknown')
        elif not dest:
            refuse = 'the destination is not known'
        elif dst != 'absent':
            refuse = 'libvirt shows the domain %s on the destination %s, not absent' % (dst or 'unknown', dest)
        if refuse:
            return 'recover_on_abort: the server was NOT reset, because %s.' % refuse
        try:
            self.api.reset_state_active(sid)
            after = self.api.get_server(sid)
        except NovaError as e:
            return 'recover_on_abort: resetting the server failed: %s.' % e.msg
        self.result.update(recovered=True, server=brief_server(after), server_host=after.get('host'))
        self.timeline.write('event', t=self.elapsed(), name='recovered', status=after.get('status'))
        return ('recover_on_abort: libvirt confirmed the domain running on %s and absent from %s, so the server was '
                'reset to active; it is now %s on %s.' % (self.source_host, dest, after.get('status'), after.get('host')))
