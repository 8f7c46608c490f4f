# -*- coding: utf-8 -*-
# Copyright: (c) 2025, openstack_ops developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""One live migration, in the order it happens: check, request, watch, verdict, and a timeout's policy.

``LiveMigration`` gets its collaborators injected (a NovaApi, a factory of libvirt readers, a
Timeline, a monotonic clock and a sleep function), so its whole decision flow runs in unit tests with
fakes. It returns the module's result dict, or raises OperatorError whose ``details`` are the same dict.

This file is the orchestrator; each question has a file of its own:

- may it start, and is there anything to do at all? checks.py (a migration already in progress is
  attached to, never requested twice; "already there" only when verified);
- the request: here (``request``: a request that got no answer is looked for before anything is said);
- how far is it? watcher.py (Nova's record and libvirt's job, one sample per poll; ``timeout`` counts
  from the moment Nova starts the migration, ``queue_timeout`` bounds the wait before);
- did it succeed, and if not, why and where is the guest? verdict.py;
- what happens when it takes too long? timeouts.py;
- a cloud that blinks: outage.py (one budget for every API call but the request).
"""

from __future__ import annotations

import time

from ansible_collections.openstack_ops.live_migration.plugins.module_utils import microversion
from ansible_collections.openstack_ops.live_migration.plugins.module_utils.checks import Checks
from ansible_collections.openstack_ops.live_migration.plugins.module_utils.errors import NOTHING_CHANGED, NovaError, OperatorError
from ansible_collections.openstack_ops.live_migration.plugins.module_utils.formatting import fmt_duration, summary_line
from ansible_collections.openstack_ops.live_migration.plugins.module_utils.hints import hints_for
from ansible_collections.openstack_ops.live_migration.plugins.module_utils.libvirt_jobs import JobTracker
from ansible_collections.openstack_ops.live_migration.plugins.module_utils.views import brief_server
from ansible_collections.openstack_ops.live_migration.plugins.module_utils.outage import OutageBudget
from ansible_collections.openstack_ops.live_migration.plugins.module_utils.timeline import SampleBuffer, Timeline
from ansible_collections.openstack_ops.live_migration.plugins.module_utils.timeouts import TimeoutPolicy
from ansible_collections.openstack_ops.live_migration.plugins.module_utils.verdict import Verdict
from ansible_collections.openstack_ops.live_migration.plugins.module_utils.waiter import (
    clock, migration_status, server_paused, server_problems)
from ansible_collections.openstack_ops.live_migration.plugins.module_utils.watcher import ChangeRate, Watching

# live_migrate's own options (OpenStackModule adds the cloud's), and so the one place their defaults live:
# LiveMigration fills in what a caller without Ansible (the bench) leaves out.
ARGUMENT_SPEC = dict(
    server=dict(type='str', required=True),
    target_host=dict(type='str'),
    block_migration=dict(type='raw', default=True),
    wait=dict(type='bool', default=True),
    timeout=dict(type='int', default=3600),
    queue_timeout=dict(type='int', default=1800),
    outage_budget=dict(type='float', default=300.0),
    poll_interval=dict(type='float', default=1.0),
    on_timeout=dict(type='str', default='abort', choices=['abort', 'force_complete', 'fail']),
    libvirt_uri=dict(type='str'),
    libvirt_addresses=dict(type='dict'),
    progress_log=dict(type='path'),
    recover_on_abort=dict(type='bool', default=False),
    max_samples=dict(type='int', default=200),
    accept_suspect_block_migration=dict(type='bool', default=False),
)
REQUEST_CHECK_S = 30.0          # after a live-migrate request that got no answer: how long to look for its traces


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


class LiveMigration(Checks, Watching, Verdict, TimeoutPolicy):
    """One live migration, top to bottom: the checks (checks.py), the request, the watch (watcher.py),
    the verdict (verdict.py), and what a timeout calls for (timeouts.py)."""

    def __init__(self, api, params, reader_factory=None, timeline=None, monotonic=time.monotonic, sleep=time.sleep):
        self.api = api
        self.p = dict((name, spec.get('default')) for name, spec in ARGUMENT_SPEC.items())
        self.p.update((k, v) for k, v in params.items() if v is not None or k not in self.p)
        self.p['block_migration'] = normalise_block_migration(self.p.get('block_migration', True))
        self.reader_factory = reader_factory
        self.timeline = timeline or Timeline(None)
        self.monotonic = monotonic
        self.sleep = sleep
        self.warnings = []
        if api.guard is None:
            api.guard = OutageBudget(self.p['outage_budget'], monotonic, sleep,
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
        self.buffer = SampleBuffer(self.p['max_samples'])
        self.migration = None
        self.points = []
        self.last_sample = None
        self.nova_rate = ChangeRate()
        self.libvirt_warned = False
        self.nova_down = None       # the error of the Nova read that failed last while watching, until one works
        self.t0 = None
        self.started_at = None      # when the migration left accepted/queued (monotonic)

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

    def refuse(self, msg, **kwargs):
        """fail() before the request: nothing was changed, and the message ends by saying so."""
        self.fail('%s %s' % (msg.rstrip(), NOTHING_CHANGED), **kwargs)

    def who(self, server=None):
        server = server or self.result.get('server') or {}
        return '%s (%s)' % (server.get('name'), server.get('id')) if server.get('name') else str(server.get('id'))

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
                    else ' ' + NOTHING_CHANGED)
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
            self.refuse('No server is named or has the ID %r (all projects were searched). Check the name, '
                        'or pass the server ID.' % p['server'])
        self.result.update(server=brief_server(server), source_host=server['host'], server_host=server['host'])
        if not server['host']:
            self.refuse("Nova does not show which host %s runs on (OS-EXT-SRV-ATTR:host is hidden): live "
                        "migration needs admin credentials." % self.who(server))
        target = p.get('target_host')
        records = self.api.migrations(server_id=server['id'])
        current = self.migration_in_progress(server, records)
        if current is not None:
            return self.attach(server, current, records, check_mode)
        # a drain's move: the host it listed the server on; found elsewhere, with no migration in progress, the
        # server has moved already (a lost run's migration ended meanwhile): verified there, never moved again
        expected = p.get('expected_host')
        if expected and server['host'] != expected:
            return self.already_there(server, server['host'], records)
        if target and server['host'] == target:
            return self.already_there(server, target, records)
        problems = server_problems(server)
        if problems:
            self.refuse('Cannot live-migrate %s: %s' % (self.who(server), ' '.join(problems)))
        try:
            plan = microversion.choose(min_v, max_v, target, p['block_migration'])
        except ValueError as e:
            self.refuse(str(e))
        problem = microversion.on_timeout_problem(p['on_timeout'], max_v)
        if problem:
            self.refuse(problem)
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

    def attach(self, server, current, records, check_mode):
        """Follow a live migration that is already in progress (a rerun after the controller was lost)
        exactly as if this run had requested it; never request a second one."""
        p = self.p
        sid, mid = server['id'], current.get('id')
        dest = current.get('dest_compute')
        target = p.get('target_host')
        # a drain's move: a migration to any of the drain's targets is its own (the target it would hand
        # this server now may differ from the one a lost run handed it)
        any_of = p.get('attach_targets')
        head = 'A live migration of %s is already in progress: migration %s from %s to %s (status %r)' % (
            self.who(server), mid, current.get('source_compute'), dest or 'a host the scheduler is choosing',
            migration_status(current))
        self.result.update(migration=current, dest_host=dest)
        abort = 'Wait for it to end, or abort it (openstack server migration abort %s %s), then run this again.' % (
            sid, mid)
        if any_of:
            if dest and dest not in any_of:
                self.refuse('%s, not to one of the target_hosts (%s). %s' % (head, ', '.join(any_of), abort))
            target = p['target_host'] = dest    # the verdict checks where it goes
        elif target and dest and dest != target:
            self.refuse('%s, not to the target_host %s. %s' % (head, target, abort))
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
                self.refuse('Nova refused to live-migrate %s: %s.' % (self.who(server), e.msg))
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
        self.refuse('The live-migrate request of %s got no answer (%s), and in %s Nova recorded nothing of it: no new '
                    'migration record, no instance action, no task on the server. Run it again '
                    'once the compute API answers.' % (self.who(server), error.msg, fmt_duration(REQUEST_CHECK_S)))

    def follow(self, sid, known):
        """Watch the migration to its end and judge it; or carry out what a timeout calls for."""
        outcome = self.watch(sid, known, self.p['timeout'], self.p['queue_timeout'])
        if outcome == 'finished':
            return self.conclude(sid)
        if outcome == 'queue_timeout':
            return self.on_queue_timeout(sid, known)
        return self.on_timeout(sid, known)
