# -*- coding: utf-8 -*-
# Copyright: (c) 2025, openstack_ops developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Drain a compute host: every server moved, each one verified, nothing left behind.

In the order it happens (``HostDrain.run``):

1. checks before any change: the host's nova-compute service exists and is up; the targets (given,
   or every other enabled and up compute) exist, are up and enabled, and can hold what is to move
   (placement, per resource class). A failed check changes nothing;
2. the host's service is disabled with a reason of our own (``drain_reason``), so the scheduler sends
   nothing new there; a service that was already disabled keeps its reason;
3. every server on the host, in all projects, is sorted (``classify``): live-migrate (ACTIVE, PAUSED,
   or one whose live migration is in progress: a rerun attaches to it), cold-migrate (SHUTOFF, with
   ``cold_migrate_stopped``), or a leftover with its reason;
4. the moves, at most ``max_parallel`` at once, in ``order``; each live migration is the per-server
   flow of live_migrate (``LiveMigration``: its checks, watch and verdict, not a copy), with a timeout
   that scales with the server's size; a failure that left the server ACTIVE on the source is retried
   ``retries`` times; after ``max_failures`` failures no new move starts, the running ones are finished
   and verified;
5. the host's servers are listed again: the drain succeeds only when none is left, or each one that is
   left was allowed (``allow_leftovers``); a server that arrived during the drain is a leftover too.

``undrain`` puts the host back in service: it enables the service only when the reason is ours, after
waiting (``wait_up_timeout``) for it to report up when asked.
"""

from __future__ import annotations

import datetime
import math
import threading
import time
from concurrent.futures import ThreadPoolExecutor

from ansible_collections.openstack_ops.live_migration.plugins.module_utils.errors import NOTHING_CHANGED, NovaError, OperatorError
from ansible_collections.openstack_ops.live_migration.plugins.module_utils.formatting import fmt_duration
from ansible_collections.openstack_ops.live_migration.plugins.module_utils.migration import LiveMigration
from ansible_collections.openstack_ops.live_migration.plugins.module_utils.placement import capacity, flavor_resources
from ansible_collections.openstack_ops.live_migration.plugins.module_utils.timeline import Timeline
from ansible_collections.openstack_ops.live_migration.plugins.module_utils.views import brief_server

REASON_PREFIX = 'openstack_ops.live_migration drain'
LIVE, COLD, LEFTOVER = 'live', 'cold', 'leftover'
COLD_WAIT_S = 900.0
WAIT_UP_POLL_S = 5.0     # undrain's wait for the service to report up
# live_migrate's options that a drain passes on to each move (the module offers them with live_migrate's spec)
FLOW_OPTIONS = ('block_migration', 'on_timeout', 'queue_timeout', 'outage_budget', 'poll_interval', 'recover_on_abort',
                'accept_suspect_block_migration', 'libvirt_uri', 'libvirt_addresses')


def drain_reason(now=None):
    """The disabled_reason a drain sets: it names the drain and the time, so that undrain can tell
    its own from an operator's."""
    now = now or datetime.datetime.now(datetime.timezone.utc)
    return '%s started %s' % (REASON_PREFIX, now.strftime('%Y-%m-%dT%H:%M:%SZ'))


def is_drain_reason(reason):
    return bool(reason) and reason.startswith(REASON_PREFIX)


def classify(server, cold_migrate_stopped=False):
    """(LIVE | COLD | LEFTOVER, why) for one server on the host."""
    status = (server.get('status') or '').upper()
    task = (server.get('task_state') or '').lower()
    if task == 'migrating':
        return LIVE, 'a live migration of it is in progress: attached to'
    if server.get('locked'):
        return LEFTOVER, 'it is locked%s' % (' (%s)' % server['locked_reason'] if server.get('locked_reason') else '')
    if task:
        return LEFTOVER, 'Nova is busy with it (task_state=%s)' % task
    if status in ('ACTIVE', 'PAUSED'):
        return LIVE, 'it is %s' % status
    if status == 'SHUTOFF':
        if cold_migrate_stopped:
            return COLD, 'it is SHUTOFF'
        return LEFTOVER, 'it is SHUTOFF and cold_migrate_stopped is false'
    return LEFTOVER, 'it is %s, which a drain does not move' % (status or 'in an unknown state')


def size_mib(server):
    """RAM plus local disk in MiB (a volume-backed root disk is not copied)."""
    flavor = server.get('flavor') or {}
    disk_gb = (0 if server.get('volume_backed') else (flavor.get('disk') or 0)) + (flavor.get('ephemeral') or 0)
    return (flavor.get('ram') or 0) + disk_gb * 1024 + (flavor.get('swap') or 0)


def order_servers(servers, order):
    if order == 'name':
        return sorted(servers, key=lambda s: ((s.get('name') or ''), s.get('id')))
    return sorted(servers, key=lambda s: (size_mib(s), s.get('name') or ''), reverse=(order == 'largest'))


def server_timeout(server, floor_s, s_per_gib):
    """The migration timeout of one server: its size (RAM plus local disk) at s_per_gib, at least floor_s."""
    return int(max(floor_s, math.ceil(size_mib(server) / 1024.0 * s_per_gib)))


def capacity_problems(servers, providers):
    """Whether the targets can hold the servers, per resource class: ``providers`` maps a target to
    (inventories, usages). Returns the shortfalls, one line per class, empty when they fit."""
    wanted = {}
    for s in servers:
        flavor = s.get('flavor') or {}
        if not (flavor.get('vcpus') or flavor.get('ram')):
            continue
        for rc, amount in flavor_resources(flavor, s.get('volume_backed')).items():
            wanted[rc] = wanted.get(rc, 0) + amount
    problems = []
    for rc in sorted(wanted):
        free = [max(0, capacity(inventories[rc]) - int(usages.get(rc) or 0))
                for inventories, usages in providers.values() if rc in inventories]
        if free and wanted[rc] > sum(free):
            problems.append('%s: the servers need %d, the targets have %d free' % (rc, wanted[rc], sum(free)))
    return problems


class HostDrain(object):
    """One drain (or undrain) of one compute host. ``api_factory()`` gives a NovaApi of its own to each
    move (each has its own outage budget); the moves run in threads."""

    def __init__(self, api_factory, params, reader_factory=None, monotonic=time.monotonic, sleep=time.sleep,
                 now=None, timeline_factory=None):
        self.api_factory = api_factory
        self.api = api_factory()
        self.p = dict(params)
        self.reader_factory = reader_factory
        self.monotonic = monotonic
        self.sleep = sleep
        self.now = now
        self.timeline_factory = timeline_factory or (lambda server: Timeline(None))
        self.lock = threading.Lock()
        self.failures = 0
        self.warnings = []
        self.result = {'changed': False, 'ok': False, 'host': self.p['host'], 'targets': [], 'service': None,
                       'disabled_reason': None, 'disabled_by_drain': False, 'servers': [], 'moved': [],
                       'not_moved': [], 'leftovers': [], 'skipped': [], 'elapsed_s': None}

    def refuse(self, msg):
        raise OperatorError('%s %s' % (msg.rstrip(), NOTHING_CHANGED), **dict(self.result, warnings=self.warnings))

    def fail(self, msg):
        raise OperatorError(msg, **dict(self.result, warnings=self.warnings))

    # ------------------------------------------------------------ undrain
    def undrain(self, check_mode=False):
        host = self.p['host']
        service = self.service_of(host, self.api.compute_services())
        self.result['service'] = service
        self.not_someone_elses(service)      # before waiting: no wait for a service that stays disabled anyway
        waited = ''
        if (self.p.get('wait_up_timeout') or 0) > 0 and not check_mode:
            service, waited = self.wait_up(host, service)
            self.not_someone_elses(service)
        reason = service.get('disabled_reason')
        if service['status'] == 'enabled':
            self.result.update(ok=True, msg='The nova-compute service of %s is enabled already%s: nothing to do.' % (
                host, waited))
            return self.result
        if not check_mode:
            self.api.enable_compute_service(service)
        self.result.update(ok=True, changed=True, service=dict(service, status='enabled', disabled_reason=None),
                           msg='The nova-compute service of %s is enabled again%s (it was disabled: %r).' % (
                               host, waited, reason))
        return self.result

    def not_someone_elses(self, service):
        reason = service.get('disabled_reason')
        if service['status'] != 'enabled' and not is_drain_reason(reason) and not self.p.get('force_enable'):
            self.refuse('The nova-compute service of %s was disabled by someone else (reason: %r), not by a drain: '
                        'it is left disabled. Enable it by hand, or rerun with force_enable=true.' % (
                            service['host'], reason))

    def wait_up(self, host, service):
        """Wait up to wait_up_timeout s for the service to report up (nova-compute back after a reboot):
        (the service as last read, ' (up after N s)'); refuses, with nothing changed, when it stays down."""
        limit = float(self.p['wait_up_timeout'])
        t0 = self.monotonic()
        while True:
            if service['forced_down']:
                self.refuse('The nova-compute service of %s is forced down: it never reports up by itself. Unset it '
                            '(openstack compute service set --up %s nova-compute) once the host is back, then run '
                            'this again.' % (host, host))
            if service['state'] == 'up':
                waited = self.monotonic() - t0
                return service, ' (up after %s)' % fmt_duration(waited) if waited > 0 else ' (up)'
            if self.monotonic() - t0 >= limit:
                self.refuse('The nova-compute service of %s is still down after wait_up_timeout=%d s: it was not '
                            'enabled. Check nova-compute on %s (and that it reaches the message queue), or raise '
                            'wait_up_timeout.' % (host, limit, host))
            self.sleep(min(WAIT_UP_POLL_S, max(0.1, limit - (self.monotonic() - t0))))
            service = self.service_of(host, self.api.compute_services())
            self.result['service'] = service

    # ------------------------------------------------------------ drain
    def drain(self, check_mode=False):
        t0 = self.monotonic()
        host = self.p['host']
        services = self.api.compute_services()
        service = self.service_of(host, services)
        if service['state'] != 'up' or service['forced_down']:
            self.refuse('The nova-compute service of %s is down: its servers cannot be live-migrated (libvirt and '
                        'nova-compute on the source take part in every move). Start it first.' % host)
        targets = self.targets(host, services)
        servers = self.api.servers(host=host)
        plan = []
        for server in servers:
            action, why = classify(server, self.p.get('cold_migrate_stopped'))
            plan.append((server, action, why))
        movers = [s for s, action, why in plan if action in (LIVE, COLD)]
        problems = capacity_problems(movers, self.providers(targets))
        if problems:
            self.refuse('The targets (%s) cannot hold the servers of %s: %s. Free capacity there, or add target_hosts.'
                        % (', '.join(targets), host, '; '.join(problems)))
        self.result.update(targets=targets, service=service, servers=[
            dict(brief_server(s), action=a, why=w) for s, a, w in plan])
        if check_mode:
            self.result.update(ok=True, changed=bool(movers) or service['status'] == 'enabled', msg=(
                'Would drain %s: disable its service, move %d server(s) to %s, leave %d.' % (
                    host, len(movers), ', '.join(targets), len(plan) - len(movers))))
            return self.result
        self.disable(service)
        lives = order_servers([s for s, a, w in plan if a == LIVE], self.p.get('order') or 'smallest')
        colds = order_servers([s for s, a, w in plan if a == COLD], self.p.get('order') or 'smallest')
        self.move_all(lives, colds, targets)
        return self.conclude(host, plan, t0)

    def service_of(self, host, services):
        found = [s for s in services if s['host'] == host]
        if not found:
            self.refuse('%r is not a nova-compute host. Known compute hosts: %s.' % (
                host, ', '.join(sorted(s['host'] for s in services)) or 'none'))
        return found[0]

    def targets(self, host, services):
        services = dict((s['host'], s) for s in services)
        given = self.p.get('target_hosts') or []
        if host in given:
            self.refuse('target_hosts names the host being drained, %s.' % host)
        if given:
            problems = []
            for name in given:
                s = services.get(name)
                if s is None:
                    problems.append('%s is not a nova-compute host' % name)
                elif s['state'] != 'up' or s['forced_down']:
                    problems.append('the nova-compute service of %s is down' % name)
                elif s['status'] != 'enabled':
                    problems.append('the nova-compute service of %s is disabled' % name)
            if problems:
                self.refuse('target_hosts: %s.' % '; '.join(problems))
            return list(given)
        found = sorted(h for h, s in services.items() if h != host and s['status'] == 'enabled'
                       and s['state'] == 'up' and not s['forced_down'])
        if not found:
            self.refuse('No other nova-compute service is enabled and up: there is nowhere to move the servers of %s.'
                        % host)
        return found

    def providers(self, targets):
        """target -> (inventories, usages) from placement; a target placement does not know is skipped
        with a warning (the scheduler still checks)."""
        out = {}
        for target in targets:
            try:
                hyp_id, node = self.api.hypervisor(target)
                rp_id, dummy = self.api.resource_provider(node or target, hyp_id)
                if rp_id is None:
                    self.warnings.append('No placement resource provider for %s: its capacity is not counted.' % target)
                    continue
                out[target] = (self.api.inventories(rp_id), self.api.usages(rp_id))
            except NovaError as e:
                self.warnings.append('Capacity of %s not read from placement: %s' % (target, e.msg))
        return out

    def disable(self, service):
        if service['status'] != 'enabled':
            reason = service.get('disabled_reason')
            # a rerun finds the reason an earlier drain set: still the drain's (undrain enables it again)
            self.result.update(disabled_reason=reason, disabled_by_drain=is_drain_reason(reason))
            if not is_drain_reason(reason):
                self.warnings.append('The nova-compute service of %s was disabled already (reason: %r): that reason '
                                     'is kept, and undrain leaves the service disabled (unless force_enable).' % (
                                         service['host'], reason))
            return
        reason = drain_reason(self.now() if self.now else None)
        self.api.disable_compute_service(service, reason)
        self.result.update(changed=True, disabled_reason=reason, disabled_by_drain=True)

    # ------------------------------------------------------------ the moves
    def move_all(self, lives, colds, targets):
        jobs = [(s, LIVE) for s in lives] + [(s, COLD) for s in colds]
        counter = {'next': 0}

        def target_for():
            given = self.p.get('target_hosts')
            if not given:
                return None   # the scheduler picks (the drained host's service is disabled)
            with self.lock:
                counter['next'] += 1
                return targets[(counter['next'] - 1) % len(targets)]

        def run(job):
            server, action = job
            if self.stopped():
                with self.lock:
                    self.result['skipped'].append(dict(brief_server(server), why='max_failures (%d) reached before it '
                                                       'started' % self.p['max_failures']))
                return
            outcome = self.move(server, action, target_for())
            with self.lock:
                (self.result['moved'] if outcome['ok'] else self.result['not_moved']).append(outcome)
                if not outcome['ok']:
                    self.failures += 1
                if outcome.get('changed'):
                    self.result['changed'] = True

        with ThreadPoolExecutor(max_workers=max(1, self.p.get('max_parallel') or 1)) as pool:
            list(pool.map(run, jobs))

    def stopped(self):
        limit = self.p.get('max_failures') or 0
        with self.lock:
            return bool(limit) and self.failures >= limit

    def move(self, server, action, target):
        attempts = 0
        while True:
            attempts += 1
            outcome = self.live(server, target) if action == LIVE else self.cold(server, target)
            outcome.update(attempts=attempts, action=action)
            retry = (not outcome['ok'] and attempts <= (self.p.get('retries') or 0) and outcome.get('on_source_active')
                     and not self.stopped())
            if not retry:
                return outcome

    def live(self, server, target):
        """live_migrate's own flow for one server, its timeout scaled with its size."""
        params = dict((k, self.p.get(k)) for k in FLOW_OPTIONS)
        params.update(server=server['id'], target_host=target, attach_targets=self.p.get('target_hosts') or None,
                      expected_host=server.get('host'),
                      timeout=server_timeout(server, self.p['timeout_floor'], self.p['timeout_per_gib']))
        flow = LiveMigration(self.api_factory(), params, reader_factory=self.reader_factory,
                             timeline=self.timeline_factory(server), monotonic=self.monotonic, sleep=self.sleep)
        try:
            r = flow.execute()
            ok, msg = bool(r.get('ok')), r.get('msg')
        except OperatorError as e:
            r, ok, msg = dict(e.details), False, e.msg
        srv = r.get('server') or {}
        return {'id': server['id'], 'name': server.get('name'), 'ok': ok, 'changed': bool(r.get('changed')),
                'msg': msg, 'source_host': r.get('source_host'), 'dest_host': r.get('dest_host'),
                'server_host': r.get('server_host'), 'attached': r.get('attached'), 'elapsed_s': r.get('elapsed_s'),
                'migration': (r.get('migration') or {}).get('id'), 'timeout_s': params['timeout'],
                'on_source_active': srv.get('host') == server.get('host') and srv.get('status') == 'ACTIVE'}

    def cold(self, server, target):
        """A cold migration of a SHUTOFF server, confirmed, and verified: SHUTOFF on another host."""
        api = self.api_factory()
        sid, source = server['id'], server.get('host')
        out = {'id': sid, 'name': server.get('name'), 'ok': False, 'changed': False, 'source_host': source,
               'dest_host': target, 'on_source_active': False}
        try:
            # as listed at the start? (its turn may come long after): elsewhere, it moved already; no longer
            # SHUTOFF (started meanwhile), a cold migration would stop it: neither is moved
            now = api.get_server(sid)
            if now.get('host') != source or (now.get('status') or '').upper() != 'SHUTOFF' or now.get('task_state'):
                out.update(server_host=now.get('host'), dest_host=now.get('host'))
                if now.get('host') != source and (now.get('status') or '').upper() == 'SHUTOFF' \
                        and not now.get('task_state'):
                    out.update(ok=True, msg='%s is already on %s (SHUTOFF): nothing to do.' % (
                        server.get('name'), now.get('host')))
                else:
                    out['msg'] = ('%s (%s) was SHUTOFF on %s when the drain started; it is now %s (task %s) on %s: '
                                  'not cold-migrated. Run the drain again.' % (
                                      server.get('name'), sid, source, now.get('status'), now.get('task_state'),
                                      now.get('host')))
                return out
            api.cold_migrate(sid, target)
            out['changed'] = True
            deadline = self.monotonic() + COLD_WAIT_S
            now = api.get_server(sid)
            while (now.get('status') or '').upper() != 'VERIFY_RESIZE' and self.monotonic() < deadline:
                if (now.get('status') or '').upper() == 'ERROR':
                    break
                self.sleep(2.0)
                now = api.get_server(sid)
            if (now.get('status') or '').upper() == 'VERIFY_RESIZE':
                api.confirm_resize(sid)
                while self.monotonic() < deadline:
                    now = api.get_server(sid)
                    if not now.get('task_state') and (now.get('status') or '').upper() != 'VERIFY_RESIZE':
                        break
                    self.sleep(2.0)
        except NovaError as e:
            out['msg'] = 'Cold migration of %s failed: %s' % (sid, e.msg)
            return out
        out.update(server_host=now.get('host'), dest_host=target or now.get('host'))
        if now.get('host') and now.get('host') != source and (now.get('status') or '').upper() == 'SHUTOFF':
            out.update(ok=True, msg='%s cold-migrated %s -> %s, confirmed, SHUTOFF there.' % (
                server.get('name'), source, now.get('host')))
        else:
            out['msg'] = ('Cold migration of %s (%s) not verified: it is %s (vm_state %s) on %s after %s.' % (
                server.get('name'), sid, now.get('status'), now.get('vm_state'), now.get('host'), fmt_duration(COLD_WAIT_S)))
        return out

    # ------------------------------------------------------------ nothing left behind
    def conclude(self, host, plan, t0):
        planned = dict((s['id'], (a, w)) for s, a, w in plan)
        failed = dict((f['id'], f) for f in self.result['not_moved'])
        skipped = dict((s['id'], s) for s in self.result['skipped'])
        allowed = set(self.p.get('allow_leftovers') or [])
        leftovers = []
        for s in self.api.servers(host=host):
            if s['id'] in failed:
                why = 'its move failed: %s' % failed[s['id']].get('msg')
            elif s['id'] in skipped:
                why = skipped[s['id']]['why']
            elif s['id'] in planned:
                action, why = planned[s['id']]
                if action != LEFTOVER:
                    why = 'still on the host after its move was verified elsewhere: check it'
            else:
                why = 'it arrived on the host during the drain'
            leftovers.append(dict(brief_server(s), why=why, allowed=bool(allowed & {s['id'], s.get('name')})))
        self.result.update(leftovers=leftovers, elapsed_s=round(self.monotonic() - t0, 1))
        moved = len(self.result['moved'])
        blocking = [x for x in leftovers if not x['allowed']]
        if blocking or self.result['not_moved']:
            names = '; '.join('%s (%s): %s' % (x['name'], x['id'], x['why'].rstrip('.')) for x in blocking)
            msg = ('Drain of %s is NOT complete: %d server(s) moved and verified, %d failed, %d left on the host%s. '
                   'The service stays disabled (%r); run the drain again to retry (a migration still running is '
                   'attached to, never started twice), or undrain-host.yml to put the host back in service.' % (
                       host, moved, len(self.result['not_moved']), len(blocking), ': ' + names if names else '',
                       self.result['disabled_reason']))
            self.fail(msg)
        allowed = ' (allowed)' if leftovers else ''
        self.result.update(ok=True, msg='Drain of %s complete: %d server(s) moved and verified, %d left%s, service '
                                        'disabled (%r).' % (host, moved, len(leftovers), allowed,
                                                            self.result['disabled_reason']))
        return self.result
