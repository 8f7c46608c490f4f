# -*- coding: utf-8 -*-
# Copyright: (c) 2025, openstack_ops developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Fakes for unit tests only: a Nova/Placement cloud and libvirt, driven by a FakeClock.

The fake cloud answers with real openstacksdk resource objects built from
Nova API JSON (``Server.existing(**api_json)``), and raises real
openstacksdk exceptions, so the attribute mapping and error handling of the
code under test are exercised as with a real cloud. The proxy methods have
the signatures of openstacksdk 4.22 (a test compares them).

What happens after a live-migrate request is a *plan*: a list of
(seconds after the request, function(cloud)) steps, applied lazily
whenever the cloud or libvirt is read.
"""

from __future__ import annotations

import copy
import warnings

import requests
from openstack import exceptions as sdk_exc
from openstack.compute.v2 import hypervisor as _hyp
from openstack.compute.v2 import migration as _mig
from openstack.compute.v2 import server as _server
from openstack.compute.v2 import server_action as _sa
from openstack.compute.v2 import server_migration as _sm
from openstack.compute.v2 import service as _svc
from openstack.placement.v1 import resource_provider as _rp
from openstack.placement.v1 import resource_provider_inventory as _inv

MiB = 1024 * 1024
UUID = '4f1c4c8e-8a3b-4bd4-9c64-0d8c0d3c1e7a'
IN_PROGRESS = ('queued', 'preparing', 'running', 'running (post-copy)', 'post-migrating')


def _quiet_existing(cls):
    """Resource.existing without openstacksdk's own RemovedInSDK50Warning noise."""
    original = cls.existing

    def existing(**body):
        with warnings.catch_warnings():
            warnings.simplefilter('ignore')
            return original(**body)
    return existing


class _Quiet(object):
    def __init__(self, module):
        self._module = module

    def __getattr__(self, name):
        value = getattr(self._module, name)
        if isinstance(value, type) and hasattr(value, 'existing'):
            return type(value.__name__, (), {'existing': staticmethod(_quiet_existing(value))})
        return value


_server, _sm, _mig, _svc, _hyp, _sa, _rp, _inv = [_Quiet(m) for m in (_server, _sm, _mig, _svc, _hyp, _sa, _rp, _inv)]


def http_error(cls, status, details):
    response = requests.Response()
    response.status_code = status
    response.headers['x-openstack-request-id'] = 'req-error'
    return cls(message='%s: %d' % (cls.__name__, status), response=response, details=details)


class FakeResponse(object):
    def __init__(self, status_code, body=None, headers=None):
        self.status_code = status_code
        self._body = body
        self.headers = headers or {}
        self.text = '' if body is None else str(body)
        self.reason = ''

    def json(self):
        if self._body is None:
            raise ValueError('no JSON body')
        return self._body


class Endpoint(object):
    def __init__(self, low, high):
        self.min_microversion = low
        self.max_microversion = high


def server_json(**over):
    body = {
        'id': UUID, 'name': 'vm1', 'status': 'ACTIVE', 'OS-EXT-STS:vm_state': 'active',
        'OS-EXT-STS:task_state': None, 'OS-EXT-STS:power_state': 1,
        'OS-EXT-SRV-ATTR:host': 'cmp1', 'OS-EXT-SRV-ATTR:hypervisor_hostname': 'cmp1.lab',
        'locked': False, 'locked_reason': None, 'tenant_id': 'p1',
        'image': {'id': 'img-1', 'links': []},
        'flavor': {'original_name': 'm1.tiny', 'vcpus': 1, 'ram': 256, 'disk': 1, 'ephemeral': 0, 'swap': 0,
                   'extra_specs': {}},
    }
    body.update(over)
    return body


def service_json(host, status='enabled', state='up', forced_down=False, reason=None):
    return {'id': 'svc-' + host, 'binary': 'nova-compute', 'host': host, 'status': status, 'state': state,
            'forced_down': forced_down, 'disabled_reason': reason, 'zone': 'nova'}


def jobstats(t_ms, disk_total=0, disk_done=0, mem_total=0, mem_done=0, bps=0, iteration=0, dirty_rate=0,
             downtime=300, jtype=2):
    """A jobStats() dict with the keys libvirt 9.0 / QEMU 7.2 returned during a migration."""
    return {
        'type': jtype, 'operation': 5, 'time_elapsed': t_ms, 'setup_time': 12, 'downtime': downtime,
        'data_total': disk_total + mem_total, 'data_processed': disk_done + mem_done,
        'data_remaining': (disk_total - disk_done) + (mem_total - mem_done),
        'disk_total': disk_total, 'disk_processed': disk_done, 'disk_remaining': disk_total - disk_done,
        'memory_total': mem_total, 'memory_processed': mem_done, 'memory_remaining': mem_total - mem_done,
        'memory_bps': bps, 'memory_constant': 1000 if mem_done else 0, 'memory_normal': mem_done // 4096,
        'memory_normal_bytes': mem_done, 'memory_dirty_rate': dirty_rate, 'memory_iteration': iteration,
        'memory_page_size': 4096, 'memory_postcopy_requests': 0,
    }


def completed_in(t_ms, mem_total, downtime=35):
    """The destination's completed stats (operation migration_in, no disk fields)."""
    return {'type': 3, 'operation': 4, 'time_elapsed': t_ms, 'downtime': downtime, 'setup_time': 12,
            'data_total': mem_total, 'data_processed': mem_total, 'data_remaining': 0,
            'memory_total': mem_total, 'memory_processed': mem_total, 'memory_remaining': 0,
            'memory_bps': 0, 'memory_iteration': 2}


class FakeCloud(object):
    """Nova + Placement + libvirt state, moved forward by a plan on a FakeClock."""

    def __init__(self, clock, servers=None, computes=('cmp1', 'cmp2'), low=(2, 1), high=(2, 96)):
        self.clock = clock
        self.endpoint = Endpoint(low, high)
        self.servers = dict((s['id'], s) for s in (servers or [server_json()]))
        self.services = [service_json(h) for h in computes]
        self.hypervisors = [{'id': 'hyp-%s' % h, 'hypervisor_hostname': '%s.lab' % h,
                             'service': {'host': h, 'id': 'svc-' + h}, 'state': 'up', 'status': 'enabled'}
                            for h in computes]
        self.providers = [{'uuid': 'rp-%s' % h, 'name': '%s.lab' % h, 'generation': 1} for h in computes]
        self.inventories = dict(('rp-%s' % h, {
            'VCPU': {'total': 8, 'reserved': 0, 'allocation_ratio': 4.0, 'min_unit': 1, 'max_unit': 8, 'step_size': 1},
            'MEMORY_MB': {'total': 16384, 'reserved': 512, 'allocation_ratio': 1.0, 'min_unit': 1,
                          'max_unit': 16384, 'step_size': 1},
            'DISK_GB': {'total': 100, 'reserved': 0, 'allocation_ratio': 1.0, 'min_unit': 1, 'max_unit': 100,
                        'step_size': 1},
        }) for h in computes)
        self.usages = dict(('rp-%s' % h, {'VCPU': 0, 'MEMORY_MB': 0, 'DISK_GB': 0}) for h in computes)
        self.migrations = []
        self.actions = dict((sid, []) for sid in self.servers)
        # libvirt: host -> uuid -> {'state': 1 running / 3 paused / 5 shutoff, 'job': raw or None, 'completed': raw}
        self.domains = dict((h, {}) for h in computes)
        for s in self.servers.values():
            self.domains.setdefault(s['OS-EXT-SRV-ATTR:host'], {})[s['id']] = {'state': 1, 'job': None, 'completed': None}
        self.libvirt_down = set()
        self.plan = []
        self.plan_on_abort = []
        self.plan_on_force_complete = []
        self.steps = []
        self.t0 = None
        self.calls = []
        self.trigger_error = None
        self.abort_error = None
        self.flaky = 0     # number of next reads that fail with HTTP 503
        self.expired = 0   # number of next reads that fail with HTTP 401 (a token that expired) until re-auth
        self.reauths = 0
        self.lose_answer = None   # (status, text): the live-migrate POST is carried out, its answer is lost
        self.compute = FakeCompute(self)
        self.placement = FakePlacement(self)

    # -- plan machinery
    def elapsed(self):
        return None if self.t0 is None else self.clock.now - self.t0

    def advance(self):
        if self.t0 is None:
            return
        t = self.elapsed()
        while self.steps and self.steps[0][0] <= t + 1e-9:
            fn = self.steps.pop(0)[1]
            fn(self)

    def replace_plan(self, steps):
        """Drop what is left of the plan; run ``steps`` relative to now."""
        now = self.elapsed()
        self.steps = sorted(((now + t, fn) for t, fn in steps), key=lambda s: s[0])

    def record(self, _call, *args, **kwargs):
        self.calls.append((_call, args, kwargs))

    def called(self, name):
        return [c for c in self.calls if c[0] == name]

    # -- convenience for plans
    @property
    def mig(self):
        return self.migrations[-1]

    def server(self, sid=UUID):
        return self.servers[sid]

    def event(self, sid, event, result, details=None, traceback=None):
        action = self.actions[sid][-1]
        action['events'].append({'event': event, 'result': result, 'start_time': '2025-01-01T00:00:00.000000',
                                 'finish_time': '2025-01-01T00:00:01.000000', 'host': 'cmp1',
                                 'details': details, 'traceback': traceback})


def set_mig(**fields):
    def step(cloud):
        cloud.mig.update(fields)
    return step


def set_server(sid=UUID, **fields):
    def step(cloud):
        cloud.servers[sid].update(fields)
    return step


def set_job(host, raw, sid=UUID):
    def step(cloud):
        cloud.domains.setdefault(host, {}).setdefault(sid, {'state': 1, 'job': None, 'completed': None})['job'] = raw
    return step


def undefine(host, sid=UUID):
    def step(cloud):
        cloud.domains.get(host, {}).pop(sid, None)
    return step


def libvirt_stops(host):
    """That host's libvirtd stops answering (the lab's test stops the destination's mid-copy)."""
    def step(cloud):
        cloud.libvirt_down.add(host)
    return step


def define(host, sid=UUID, state=1, completed=None):
    def step(cloud):
        cloud.domains.setdefault(host, {})[sid] = {'state': state, 'job': None, 'completed': completed}
    return step


def add_event(event, result, details=None, traceback=None, sid=UUID):
    def step(cloud):
        cloud.event(sid, event, result, details, traceback)
    return step


# ---------------------------------------------------------------- plans

def copy_steps(start, source, disk, mem, rate, step=0.2, nova_every=1.0, iterations=1, dirty_rate=0):
    """libvirt samples (every `step` s) and Nova progress updates (every `nova_every` s) of a copy
    that starts at `start`: setup 0.2 s, then disk, then memory. Returns (steps, end time)."""
    steps = [(start, set_job(source, jobstats(0)))]
    t = start + 0.2
    done_disk = done_mem = 0
    last_nova = -1e9
    elapsed_ms = 200
    phase_mem = mem * iterations
    while done_disk < disk or done_mem < phase_mem:
        chunk = int(rate * step)
        if done_disk < disk:
            done_disk = min(disk, done_disk + chunk)
        else:
            done_mem = min(phase_mem, done_mem + chunk)
        iteration = 0 if done_disk < disk else 1 + min(iterations - 1, done_mem // max(mem, 1))
        mem_total = mem if done_disk >= disk else 0
        mem_done_view = done_mem - (iteration - 1) * mem if iteration else 0
        raw = jobstats(elapsed_ms, disk, done_disk, mem_total, max(0, min(mem, mem_done_view)),
                       rate if mem_total else 0, iteration, dirty_rate)
        steps.append((t, set_job(source, raw)))
        if t - last_nova >= nova_every:
            last_nova = t
            # Nova copies libvirt's figures into the record: no memory total before the memory phase
            steps.append((t, set_mig(memory_total_bytes=raw['memory_total'], memory_processed_bytes=raw['memory_processed'],
                                     memory_remaining_bytes=raw['memory_remaining'], disk_total_bytes=disk,
                                     disk_processed_bytes=done_disk, disk_remaining_bytes=disk - done_disk)))
        t += step
        elapsed_ms += int(step * 1000)
    return steps, t


def success_plan(source='cmp1', dest='cmp2', disk=128 * MiB, mem=256 * MiB, rate=64 * MiB, start=1.0,
                 host_moves=True, final_status='completed', disk_reported=True, end_status='ACTIVE', dest_state=1):
    steps = [
        (0.0, set_mig(status='accepted')),
        (0.3, set_mig(status='preparing', dest_compute=dest, dest_node=dest + '.lab', dest_host='10.0.0.2')),
        (start, set_mig(status='running')),
    ]
    copy, end = copy_steps(start, source, disk if disk_reported else 0, mem, rate)
    steps += copy
    steps += [
        (end, undefine(source)),
        (end, define(dest, state=dest_state, completed=completed_in(int((end - start) * 1000), mem))),
        (end, set_mig(status='post-migrating')),
        (end + 0.4, add_event('compute_live_migration', 'Success')),
    ]
    if host_moves:
        steps.append((end + 0.5, set_server(**{'OS-EXT-SRV-ATTR:host': dest, 'OS-EXT-SRV-ATTR:hypervisor_hostname':
                                               dest + '.lab', 'OS-EXT-STS:task_state': None, 'status': end_status})))
    else:
        steps.append((end + 0.5, set_server(**{'OS-EXT-STS:task_state': None})))
    steps.append((end + 0.6, set_mig(status=final_status)))
    return steps


def precheck_failure_plan(details):
    """2.34+: the API accepted, the conductor's pre-check failed; the reason is only in the events."""
    return [
        (0.0, set_mig(status='accepted')),
        (0.8, add_event('conductor_live_migrate_instance', 'Error', details=details,
                        traceback='Traceback (most recent call last):\n  ...\nnova.exception.MigrationPreCheckError: '
                                  'Migration pre-check error: %s' % details)),
        (0.8, set_mig(status='error')),
        (0.8, set_server(**{'OS-EXT-STS:task_state': None})),
    ]


def copy_then_libvirt_error(error, source='cmp1', dest='cmp2'):
    """The first steps of a failed migration: the copy starts, libvirt's job goes away, and the
    instance action records libvirt's error (the rollback follows in the callers' steps)."""
    return [
        (0.0, set_mig(status='accepted')),
        (0.3, set_mig(status='preparing', dest_compute=dest, dest_node=dest + '.lab')),
        (1.0, set_mig(status='running')),
        (1.0, set_job(source, jobstats(0))),
        (1.5, set_job(source, None)),
        (1.6, add_event('compute_live_migration', 'Error',
                        traceback='Traceback (most recent call last):\n  ...\nlibvirt.libvirtError: %s' % error)),
    ]


def libvirt_failure_plan(text, source='cmp1', dest='cmp2'):
    """The copy starts, then libvirt fails; Nova rolls back: migration 'error', server ACTIVE on the source."""
    return copy_then_libvirt_error('internal error: %s' % text, source, dest) + [
        (1.7, set_server(**{'OS-EXT-STS:task_state': None})),
        (1.8, set_mig(status='error')),
    ]


def endless_plan(source='cmp1', dest='cmp2', mem=256 * MiB):
    """A migration that never converges: memory remaining hovers around 100 MiB."""
    steps = [
        (0.0, set_mig(status='accepted')),
        (0.3, set_mig(status='preparing', dest_compute=dest, dest_node=dest + '.lab')),
        (1.0, set_mig(status='running')),
    ]
    for i in range(0, 20000):
        t = 1.0 + i * 0.5
        left = 100 * MiB + (i % 5) * MiB
        # the disk was copied first (128 MiB), memory passes go on
        steps.append((t, set_job(source, jobstats(int(i * 500), 128 * MiB, 128 * MiB, mem, mem - left, 30 * MiB,
                                                  1 + i // 10, dirty_rate=8000))))
    return steps


def nova34_abort(source='cmp1', sid=UUID):
    """What nova 34 + the libvirt driver did after an abort (measured)."""
    return [
        (0.4, set_job(source, None)),
        (0.6, add_event('compute_live_migration', 'Error', details='Migration operation was cancelled')),
        (0.7, set_server(sid=sid, **{'OS-EXT-STS:task_state': None, 'OS-EXT-STS:vm_state': 'error', 'status': 'ERROR'})),
        (0.8, set_mig(status='error')),
    ]


def nova34_abort_measured(source='cmp1', sid=UUID, first='cancelled', error_at=0.9, server_error_at=0.95):
    """The order nova 34 + the libvirt driver really goes through after an abort (seen on the lab, and
    in nova's code): the rollback leaves the server ACTIVE with no task and the migration 'cancelled';
    then the exception of libvirt's migration thread reaches the compute manager, which sets the
    migration 'error' and the server ERROR. A poll can land in between."""
    steps = [
        (0.4, set_job(source, None)),
        (0.6, set_server(sid=sid, **{'OS-EXT-STS:task_state': None})),
        (error_at, set_mig(status='error')),
        (server_error_at, set_server(sid=sid, **{'OS-EXT-STS:vm_state': 'error', 'status': 'ERROR'})),
    ]
    if first:
        steps.insert(2, (0.6, set_mig(status=first)))
    return steps


def nova34_failure_plan(text, fault, source='cmp1', dest='cmp2', gap=1.0):
    """libvirt fails mid-copy (e.g. the destination's libvirtd stopped), in nova 34's order: the rollback
    leaves the server ACTIVE and the migration 'failed'; `gap` s later the manager sets 'error' and ERROR
    with the fault the destination's rollback raised."""
    return copy_then_libvirt_error(text, source, dest) + [
        (1.7, set_server(**{'OS-EXT-STS:task_state': None})),
        (1.7, set_mig(status='failed')),
        (1.7 + gap, set_mig(status='error')),
        (1.7 + gap, set_server(**{'OS-EXT-STS:vm_state': 'error', 'status': 'ERROR',
                                  'fault': {'code': 500, 'message': fault}})),
    ]


def fake_driver_abort(source='cmp1', sid=UUID):
    """What the fake driver does after an abort: 'cancelled', server stays ACTIVE."""
    return [
        (0.4, set_job(source, None)),
        (0.7, set_server(sid=sid, **{'OS-EXT-STS:task_state': None})),
        (0.8, set_mig(status='cancelled')),
    ]


def force_complete_finish(source='cmp1', dest='cmp2', mem=256 * MiB):
    return [
        (0.5, set_mig(status='running')),
        (1.5, undefine(source)),
        (1.5, define(dest, completed=completed_in(9000, mem, downtime=1100))),
        (1.5, set_mig(status='post-migrating')),
        (2.0, set_server(**{'OS-EXT-SRV-ATTR:host': dest, 'OS-EXT-STS:task_state': None})),
        (2.1, set_mig(status='completed')),
    ]


# ---------------------------------------------------------------- proxies

class FakeCompute(object):
    """The conn.compute methods used, with openstacksdk 4.22 signatures."""

    def __init__(self, cloud):
        self.cloud = cloud

    def _read(self, name, *args, **kwargs):
        self.cloud.record(name, *args, **kwargs)
        self.cloud.advance()
        if self.cloud.flaky:
            self.cloud.flaky -= 1
            raise http_error(sdk_exc.HttpException, 503, 'Service Unavailable')
        if self.cloud.expired:
            raise http_error(sdk_exc.HttpException, 401, 'The request you have made requires authentication.')

    def get_endpoint_data(self, auth=None):
        self._read('get_endpoint_data')
        return self.cloud.endpoint

    def find_server(self, name_or_id, ignore_missing=True, *, details=True, all_projects=False):
        self._read('find_server', name_or_id, all_projects=all_projects)
        if name_or_id in self.cloud.servers:
            return _server.Server.existing(**copy.deepcopy(self.cloud.servers[name_or_id]))
        found = [s for s in self.cloud.servers.values() if s['name'] == name_or_id]
        if len(found) > 1:
            raise sdk_exc.DuplicateResource('More than one Server exists with the name %s.' % name_or_id)
        if not found:
            if ignore_missing:
                return None
            raise sdk_exc.NotFoundException('No Server found for %s' % name_or_id)
        return _server.Server.existing(**copy.deepcopy(found[0]))

    def servers(self, details=True, all_projects=False, **query):
        self._read('servers', details=details, all_projects=all_projects, **query)
        for s in self.cloud.servers.values():
            if query.get('compute_host') and s['OS-EXT-SRV-ATTR:host'] != query['compute_host']:
                continue
            yield _server.Server.existing(**copy.deepcopy(s))

    def get_server(self, server):
        self._read('get_server', server)
        sid = getattr(server, 'id', server)
        if sid not in self.cloud.servers:
            raise http_error(sdk_exc.NotFoundException, 404, 'Instance %s could not be found.' % sid)
        return _server.Server.existing(**copy.deepcopy(self.cloud.servers[sid]))

    def services(self, **query):
        self._read('services', **query)
        for s in self.cloud.services:
            if all(s.get(k) == v for k, v in query.items()):
                yield _svc.Service.existing(**copy.deepcopy(s))

    def hypervisors(self, details=False, **query):
        self._read('hypervisors', details=details, **query)
        pattern = query.get('hypervisor_hostname_pattern')
        for h in self.cloud.hypervisors:
            if pattern is None or pattern in h['hypervisor_hostname']:
                yield _hyp.Hypervisor.existing(**copy.deepcopy(h))

    def migrations(self, **query):
        self._read('migrations', **query)
        for m in self.cloud.migrations:
            if query.get('server_id') and m['instance_uuid'] != query['server_id']:
                continue
            if query.get('migration_type') and m['migration_type'] != query['migration_type']:
                continue
            if query.get('host') and query['host'] not in (m.get('source_compute'), m.get('dest_compute')):
                continue
            if query.get('changes_since') and (m.get('updated_at') or m['created_at']) < query['changes_since']:
                continue
            body = dict((k, v) for k, v in m.items() if not k.endswith('_bytes'))
            yield _mig.Migration.existing(**copy.deepcopy(body))

    def _in_progress(self, server_migration, server):
        sid = getattr(server, 'id', server)
        for m in self.cloud.migrations:
            if str(m['id']) == str(server_migration) and m['instance_uuid'] == sid and m['status'] in IN_PROGRESS:
                return m
        raise http_error(sdk_exc.NotFoundException, 404,
                         'In-progress live migration %s is not found for server %s.' % (server_migration, sid))

    def get_server_migration(self, server_migration, server, ignore_missing=True):
        self._read('get_server_migration', server_migration, server)
        m = self._in_progress(server_migration, server)
        body = dict(m, server_uuid=m['instance_uuid'])
        body.pop('instance_uuid')
        body.pop('migration_type')
        return _sm.ServerMigration.existing(**copy.deepcopy(body))

    def server_migrations(self, server):
        self._read('server_migrations', server)
        sid = getattr(server, 'id', server)
        for m in self.cloud.migrations:
            if m['instance_uuid'] == sid and m['status'] in IN_PROGRESS:
                body = dict(m, server_uuid=sid)
                body.pop('instance_uuid')
                body.pop('migration_type')
                yield _sm.ServerMigration.existing(**copy.deepcopy(body))

    def abort_server_migration(self, server_migration, server, ignore_missing=True):
        self._read('abort_server_migration', server_migration, server)
        if self.cloud.abort_error:
            raise self.cloud.abort_error
        m = self._in_progress(server_migration, server)
        if m['status'] not in ('running', 'queued'):
            raise http_error(sdk_exc.ConflictException, 409, 'Migration %s state of instance %s is %s. Cannot abort '
                             'live migration %s.' % (m['id'], m['instance_uuid'], m['status'], m['id']))
        self.cloud.replace_plan(self.cloud.plan_on_abort)

    def force_complete_server_migration(self, server_migration, server=None):
        self._read('force_complete_server_migration', server_migration, server)
        m = self._in_progress(server_migration, server)
        if m['status'] != 'running':
            raise http_error(sdk_exc.ConflictException, 409, 'Migration %s state of instance %s is %s.' % (
                m['id'], m['instance_uuid'], m['status']))
        self.cloud.replace_plan(self.cloud.plan_on_force_complete)

    def server_actions(self, server, **query):
        self._read('server_actions', server)
        sid = getattr(server, 'id', server)
        for a in self.cloud.actions.get(sid, []):
            yield _sa.ServerAction.existing(**copy.deepcopy(dict((k, v) for k, v in a.items() if k != 'events')))

    def get_server_action(self, server_action, server, ignore_missing=True):
        self._read('get_server_action', server_action, server)
        sid = getattr(server, 'id', server)
        for a in self.cloud.actions.get(sid, []):
            if a['request_id'] == server_action:
                return _sa.ServerAction.existing(**copy.deepcopy(a))
        raise http_error(sdk_exc.NotFoundException, 404, 'Action %s on instance %s could not be found.' % (
            server_action, sid))

    def reset_server_state(self, server, state):
        self._read('reset_server_state', server, state)
        s = self.cloud.servers[getattr(server, 'id', server)]
        s.update({'OS-EXT-STS:vm_state': state, 'status': 'ACTIVE' if state == 'active' else 'ERROR',
                  'OS-EXT-STS:task_state': None})

    def post(self, url, json=None, microversion=None, **kwargs):
        self._read('post', url, json=json, microversion=microversion)
        cloud = self.cloud
        sid = url.split('/')[2]
        if cloud.trigger_error:
            status, message = cloud.trigger_error
            kind = {400: 'badRequest', 403: 'forbidden', 409: 'conflictingRequest'}.get(status, 'computeFault')
            return FakeResponse(status, {kind: {'code': status, 'message': message}})
        server = cloud.servers[sid]
        body = json['os-migrateLive']
        mid = len(cloud.migrations) + 100
        cloud.migrations.append({
            'id': mid, 'uuid': 'mig-uuid-%d' % mid, 'instance_uuid': sid, 'migration_type': 'live-migration',
            'status': 'accepted', 'source_compute': server['OS-EXT-SRV-ATTR:host'],
            'source_node': server['OS-EXT-SRV-ATTR:hypervisor_hostname'], 'dest_compute': body.get('host'),
            'dest_node': None, 'dest_host': None, 'created_at': '2025-01-01T00:00:00.000000',
            'updated_at': None,
            'memory_total_bytes': None, 'memory_processed_bytes': None, 'memory_remaining_bytes': None,
            'disk_total_bytes': None, 'disk_processed_bytes': None, 'disk_remaining_bytes': None})
        request_id = 'req-%d' % mid
        cloud.actions.setdefault(sid, []).append({'action': 'live-migration', 'request_id': request_id,
                                                  'start_time': '2025-01-01T00:00:%02d.000000' % (mid % 60),
                                                  'message': None, 'events': []})
        server['OS-EXT-STS:task_state'] = 'migrating'
        cloud.t0 = cloud.clock.now
        cloud.steps = sorted(cloud.plan, key=lambda s: s[0])
        if cloud.lose_answer:
            status, message = cloud.lose_answer
            return FakeResponse(status, {'computeFault': {'code': status, 'message': message}})
        return FakeResponse(202, None, {'x-openstack-request-id': request_id})


class FakePlacement(object):
    def __init__(self, cloud):
        self.cloud = cloud

    def resource_providers(self, **query):
        self.cloud.record('resource_providers', **query)
        for rp in self.cloud.providers:
            if query.get('name') and rp['name'] != query['name']:
                continue
            if query.get('id') and rp['uuid'] != query['id']:
                continue
            yield _rp.ResourceProvider.existing(**copy.deepcopy(rp))

    def resource_provider_inventories(self, resource_provider, **query):
        self.cloud.record('resource_provider_inventories', resource_provider)
        for rc, inv in self.cloud.inventories[resource_provider].items():
            yield _inv.ResourceProviderInventory.existing(resource_class=rc, resource_provider_id=resource_provider,
                                                          **copy.deepcopy(inv))

    def fetch_resource_provider_usages(self, resource_provider):
        self.cloud.record('fetch_resource_provider_usages', resource_provider)
        rp = [p for p in self.cloud.providers if p['uuid'] == resource_provider][0]
        res = _rp.ResourceProvider.existing(**rp)
        # as openstacksdk's fetch_usages(): the attribute is set, the dict view is not refreshed
        res._body.attributes.update({'usages': copy.deepcopy(self.cloud.usages[resource_provider])})
        return res


class FakeSession(object):
    """conn.session: invalidate() drops the token, as keystoneauth's does; the next call gets a new one."""

    def __init__(self, cloud):
        self.cloud = cloud

    def invalidate(self):
        self.cloud.reauths += 1
        self.cloud.expired = 0
        return True


class FakeConn(object):
    def __init__(self, cloud):
        self.compute = cloud.compute
        self.placement = cloud.placement
        self.session = FakeSession(cloud)


class RefusingConn(object):
    """A connection whose proxies fail when first used, as openstacksdk's do: ``conn.compute``
    authenticates and discovers the endpoint on first access, so wrong credentials or an
    unreachable keystone raise on the attribute access itself, not in the method called."""

    def __init__(self, error):
        self.error = error

    @property
    def compute(self):
        raise self.error

    @property
    def placement(self):
        raise self.error


# ---------------------------------------------------------------- libvirt

class FakeLibvirtError(Exception):
    def __init__(self, msg, code):
        super(FakeLibvirtError, self).__init__(msg)
        self.msg = msg
        self.code = code

    def get_error_code(self):
        return self.code

    def get_error_message(self):
        return self.msg


class FakeLibvirt(object):
    """Stands in for the libvirt module: openReadOnly() on hosts of a FakeCloud."""
    libvirtError = FakeLibvirtError

    def __init__(self, cloud):
        self.cloud = cloud
        self.opened = []

    def registerErrorHandler(self, handler, ctx):
        return None

    def openReadOnly(self, uri):
        host = uri.split('://', 1)[1].split('/', 1)[0]
        self.opened.append(uri)
        if host in self.cloud.libvirt_down or host not in self.cloud.domains:
            raise FakeLibvirtError("unable to connect to server at '%s:16509': Connection refused" % host, 38)
        return FakeVirConnect(self.cloud, host)


class FakeVirConnect(object):
    def __init__(self, cloud, host):
        self.cloud = cloud
        self.host = host
        self.closed = False

    def lookupByUUIDString(self, uuid):
        self.cloud.advance()
        if uuid not in self.cloud.domains.get(self.host, {}):
            raise FakeLibvirtError('Domain not found: no domain with matching uuid', 42)
        return FakeDomain(self.cloud, self.host, uuid)

    def close(self):
        self.closed = True
        return 0


class FakeDomain(object):
    def __init__(self, cloud, host, uuid):
        self.cloud = cloud
        self.host = host
        self.uuid = uuid

    def _dom(self):
        self.cloud.advance()
        dom = self.cloud.domains.get(self.host, {}).get(self.uuid)
        if dom is None:
            raise FakeLibvirtError('Domain not found: no domain with matching uuid', 42)
        return dom

    def state(self):
        return [self._dom()['state'], 1]

    def jobStats(self, flags=0):
        dom = self._dom()
        if flags & 1:
            return dict(dom.get('completed') or {'type': 0})
        if dom['state'] not in (1, 3):   # a paused domain migrates too
            raise FakeLibvirtError('Requested operation is not valid: domain is not running', 55)
        return dict(dom.get('job') or {'type': 0})
