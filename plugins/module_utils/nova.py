# -*- coding: utf-8 -*-
# Copyright: (c) 2025, openstack_ops developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Nova and Placement calls through openstacksdk (``conn.compute``, ``conn.placement``).

``NovaApi`` wraps one connection and returns plain dicts with stable keys
(``server_view``, ``migration_view``, ...), so the rest of the code never
sees SDK resources. SDK proxy calls are used where openstacksdk 4.x has them
(it negotiates their microversions). The live-migrate request itself is a
raw POST at the microversion chosen by ``microversion.choose()``: the SDK
picks its own version and would add ``force`` on request.

Every failure of a call becomes a ``NovaError`` whose text names the call;
``transient`` marks the ones worth retrying (5xx, connection errors).

Two Nova facts shape the migration lookups: ``/servers/{id}/migrations``
lists in-progress migrations only (with their progress bytes, 2.23+), while
``/os-migrations?instance_uuid=`` keeps every record with its final status.
"""

from __future__ import annotations

import math

from ansible_collections.openstack_ops.live_migration.plugins.module_utils.errors import NovaError

API_ERRORS = ()
try:
    from openstack.exceptions import SDKException
    API_ERRORS += (SDKException,)
except ImportError:
    pass
try:
    from keystoneauth1.exceptions import ClientException
    API_ERRORS += (ClientException,)
except ImportError:
    pass
try:
    from requests.exceptions import RequestException
    API_ERRORS += (RequestException,)
except ImportError:
    pass

MIGRATION_FIELDS = (
    'id', 'uuid', 'status', 'migration_type', 'source_compute', 'source_node', 'dest_compute', 'dest_node',
    'dest_host', 'created_at', 'updated_at',
    'memory_total_bytes', 'memory_processed_bytes', 'memory_remaining_bytes',
    'disk_total_bytes', 'disk_processed_bytes', 'disk_remaining_bytes',
)
PROGRESS_FIELDS = MIGRATION_FIELDS[-6:]


# ------------------------------------------------------------------ views

def _attr(obj, name, default=None):
    """A field of an SDK resource, or of a plain dict.

    SDK resources are dict subclasses too, but their dict view is a snapshot
    taken when they are built (fetch_usages() for one does not refresh it):
    only plain dicts are read as dicts.
    """
    if obj is None:
        return default
    if type(obj) is dict:  # pylint: disable=unidiomatic-typecheck
        return obj.get(name, default)
    return getattr(obj, name, default)


def flavor_view(flavor):
    if flavor is None:
        return None
    extra = _attr(flavor, 'extra_specs') or {}
    return {
        'name': _attr(flavor, 'original_name') or _attr(flavor, 'name'),
        'vcpus': int(_attr(flavor, 'vcpus') or 0),
        'ram': int(_attr(flavor, 'ram') or 0),
        'disk': int(_attr(flavor, 'disk') or 0),
        'ephemeral': int(_attr(flavor, 'ephemeral') or 0),
        'swap': int(_attr(flavor, 'swap') or 0),
        'extra_specs': dict(extra),
    }


def server_view(server):
    """The server fields this collection uses, under Nova's plain names."""
    image = _attr(server, 'image')
    image_id = _attr(image, 'id') if image else None
    fault = _attr(server, 'fault')
    return {
        'id': _attr(server, 'id'),
        'name': _attr(server, 'name'),
        'status': _attr(server, 'status'),
        'vm_state': _attr(server, 'vm_state'),
        'task_state': _attr(server, 'task_state'),
        'power_state': _attr(server, 'power_state'),
        'host': _attr(server, 'compute_host'),
        'node': _attr(server, 'hypervisor_hostname'),
        'locked': bool(_attr(server, 'is_locked')),
        'locked_reason': _attr(server, 'locked_reason'),
        'flavor': flavor_view(_attr(server, 'flavor')),
        'volume_backed': not image_id,
        'fault': _attr(fault, 'message') if fault else None,
        'project_id': _attr(server, 'project_id'),
    }


def brief_server(server):
    """The part of a server view that a result reports."""
    keys = ('id', 'name', 'status', 'vm_state', 'task_state', 'host', 'node')
    return dict((k, (server or {}).get(k)) for k in keys)


def migration_view(migration):
    out = dict((k, _attr(migration, k)) for k in MIGRATION_FIELDS)
    out['server_id'] = _attr(migration, 'server_uuid') or _attr(migration, 'server_id')
    return out


def service_view(service):
    return {
        'host': _attr(service, 'host'),
        'status': _attr(service, 'status'),
        'state': _attr(service, 'state'),
        'forced_down': bool(_attr(service, 'is_forced_down')),
        'disabled_reason': _attr(service, 'disabled_reason'),
        'zone': _attr(service, 'availability_zone'),
    }


def event_view(event, traceback_lines=6):
    tb = _attr(event, 'traceback')
    if tb:
        tb = '\n'.join(tb.strip().splitlines()[-traceback_lines:])
    return {
        'event': _attr(event, 'event'),
        'result': _attr(event, 'result'),
        'start_time': _attr(event, 'start_time'),
        'finish_time': _attr(event, 'finish_time'),
        'host': _attr(event, 'host'),
        'details': _attr(event, 'details'),
        'traceback': tb,
    }


def action_view(action):
    return {
        'action': _attr(action, 'action'),
        'request_id': _attr(action, 'request_id'),
        'message': _attr(action, 'message'),
        'start_time': _attr(action, 'start_time'),
        'events': [event_view(e) for e in (_attr(action, 'events') or [])],
    }


def event_reasons(action):
    """Error texts of an instance action: the action message, then each failed
    event's details (2.84+) or the last line of its traceback (admin), with the
    host the event ran on (Nova's own texts do not always name it)."""
    reasons = []
    if not action:
        return reasons
    for event in action.get('events') or []:
        if (event.get('result') or '').lower() not in ('error', 'failed'):
            continue
        text = event.get('details')
        if not text and event.get('traceback'):
            text = event['traceback'].strip().splitlines()[-1]
        if text:
            where = ' on %s' % event['host'] if event.get('host') else ''
            reasons.append('%s%s: %s' % (event.get('event'), where, text))
    if action.get('message') and not reasons:
        reasons.append(action['message'])
    return reasons


# -------------------------------------------------------------- placement

def flavor_resources(flavor, volume_backed=False, dedicated_cpu_class='VCPU'):
    """Placement resources a flavor asks for, the way Nova computes them:
    DISK_GB = root (0 when volume-backed) + ephemeral + swap in GB rounded up;
    ``resources:CLASS=N`` extra specs override (0 removes a class)."""
    extra = flavor.get('extra_specs') or {}
    cpu_class = dedicated_cpu_class if (extra.get('hw:cpu_policy') == 'dedicated') else 'VCPU'
    wanted = {
        cpu_class: flavor.get('vcpus') or 0,
        'MEMORY_MB': flavor.get('ram') or 0,
        'DISK_GB': (0 if volume_backed else (flavor.get('disk') or 0)) + (flavor.get('ephemeral') or 0)
        + int(math.ceil((flavor.get('swap') or 0) / 1024.0)),
    }
    for key, value in extra.items():
        if key.startswith('resources:'):
            try:
                wanted[key.split(':', 1)[1]] = int(value)
            except (TypeError, ValueError):
                continue
    return dict((k, v) for k, v in wanted.items() if v)


def capacity_shortfalls(wanted, inventories, usages):
    """Compare a request with a resource provider: returns (problems, unchecked).

    capacity = (total - reserved) * allocation_ratio; free = capacity - used.
    A class the provider has no inventory for goes to ``unchecked`` (it may be
    served by a sharing provider); it is not a problem by itself.
    """
    problems = []
    unchecked = []
    for rc in sorted(wanted):
        amount = wanted[rc]
        inv = inventories.get(rc)
        if inv is None:
            unchecked.append(rc)
            continue
        capacity = int((inv.get('total') or 0) - (inv.get('reserved') or 0)) * float(inv.get('allocation_ratio') or 1.0)
        capacity = int(capacity)
        used = int(usages.get(rc) or 0)
        free = capacity - used
        if amount > free:
            problems.append('%s: needs %d, %d free (capacity %d, used %d)' % (rc, amount, free, capacity, used))
        elif inv.get('max_unit') and amount > inv['max_unit']:
            problems.append('%s: needs %d, the largest allocation allowed is %d' % (rc, amount, inv['max_unit']))
        elif inv.get('min_unit') and amount < inv['min_unit']:
            problems.append('%s: needs %d, the smallest allocation allowed is %d' % (rc, amount, inv['min_unit']))
        elif inv.get('step_size') and inv['step_size'] > 1 and amount % inv['step_size']:
            problems.append('%s: %d is not a multiple of the step size %d' % (rc, amount, inv['step_size']))
    return problems, unchecked


# ------------------------------------------------------------------ errors

def _status_of(error):
    for name in ('status_code', 'http_status'):
        value = getattr(error, name, None)
        if isinstance(value, int):
            return value
    response = getattr(error, 'response', None)
    value = getattr(response, 'status_code', None)
    return value if isinstance(value, int) else None


def _text_of(error):
    details = getattr(error, 'details', None)
    if details and isinstance(details, str):
        return details
    return str(error)


def to_nova_error(what, error):
    status = _status_of(error)
    if status is None and type(error).__name__ in ('NotFoundException', 'ResourceNotFound'):
        status = 404  # find_*(ignore_missing=False) raises it without a response
    text = _text_of(error)
    prefix = '%s failed' % what
    if status:
        prefix += ' (HTTP %d)' % status
    transient = status is None or status >= 500 or status in (408, 429)
    if type(error).__name__ in ('DuplicateResource', 'InvalidRequest', 'ConfigException',
                                'EndpointNotFound', 'MissingRequiredOptions', 'NoMatchingPlugin'):
        transient = False
    return NovaError('%s: %s' % (prefix, text), status=status, transient=transient)


def _response_error(what, response):
    """A NovaError from a raw response (Nova puts the text in {"<kind>": {"message": ...}})."""
    text = None
    try:
        body = response.json()
        if isinstance(body, dict) and len(body) == 1:
            inner = list(body.values())[0]
            if isinstance(inner, dict):
                text = inner.get('message')
    except Exception:  # not JSON: fall back to the raw text
        text = None
    if not text:
        text = (getattr(response, 'text', '') or '').strip() or getattr(response, 'reason', '') or 'no details'
    status = response.status_code
    return NovaError('%s failed (HTTP %d): %s' % (what, status, text), status=status,
                     transient=status >= 500 or status in (408, 429))


class NovaApi(object):
    """The calls this collection makes, each returning plain dicts.

    With a ``guard`` (an outage.OutageBudget), every call but the live-migrate POST
    retries transient failures within the guard's budget of unreachable time."""

    def __init__(self, conn, guard=None):
        self.conn = conn
        self.guard = guard

    def reauthenticate(self):
        """Drop the token so that the next call authenticates again (a password session can; a
        bare token cannot, and its next call fails with 401 again)."""
        session = getattr(self.conn, 'session', None)
        if session is not None and hasattr(session, 'invalidate'):
            session.invalidate()

    def _proxy(self, service):
        """``conn.compute`` or ``conn.placement``. openstacksdk builds a proxy on its first use, and
        that authenticates and discovers the endpoint: wrong credentials (HTTP 401), an unreachable
        keystone or a missing endpoint raise there, before the call it is passed to. They become
        NovaErrors here like any other failed call (they used to escape as a crash)."""
        try:
            return getattr(self.conn, service)
        except API_ERRORS as e:
            raise to_nova_error('Connecting to the cloud (%s API)' % service, e)

    @property
    def compute(self):
        return self._proxy('compute')

    @property
    def placement(self):
        return self._proxy('placement')

    def _once(self, what, fn, *args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except API_ERRORS as e:
            raise to_nova_error(what, e)

    def _call(self, what, fn, *args, **kwargs):
        if self.guard is None:
            return self._once(what, fn, *args, **kwargs)
        return self.guard.call(self._once, what, fn, *args, **kwargs)

    # -- discovery
    def versions(self):
        """(min, max) compute microversions as tuples, (None, None) when unknown."""
        def endpoint_data():
            # the proxy is built (and the token fetched) on first use: inside the call, so it is retried too
            return self.compute.get_endpoint_data()
        data = self._call('Reading the compute API versions', endpoint_data)
        if data is None:
            return None, None
        return getattr(data, 'min_microversion', None), getattr(data, 'max_microversion', None)

    # -- servers
    def find_server(self, name_or_id):
        """The server view, or None when no server has this name or ID."""
        try:
            found = self._call('Looking up server %s' % name_or_id, self.compute.find_server,
                               name_or_id, ignore_missing=False, all_projects=True)
        except NovaError as e:
            if e.status == 404:
                return None
            raise
        return self.get_server(found.id)

    def get_server(self, server_id):
        return server_view(self._call('Reading server %s' % server_id, self.compute.get_server, server_id))

    def reset_state_active(self, server_id):
        self._call('Resetting server %s to active' % server_id, self.compute.reset_server_state, server_id, 'active')

    # -- compute services and hypervisors
    def compute_service(self, host):
        services = self._call('Listing the nova-compute service of %s' % host, lambda: list(
            self.compute.services(binary='nova-compute', host=host)))
        services = [service_view(s) for s in services if _attr(s, 'host') == host]
        return services[0] if services else None

    def compute_hosts(self):
        services = self._call('Listing nova-compute services', lambda: list(
            self.compute.services(binary='nova-compute')))
        return sorted(set(_attr(s, 'host') for s in services if _attr(s, 'host')))

    def hypervisor(self, host):
        """(hypervisor id, hypervisor_hostname) of a compute host, or (None, None)."""
        def matches(h):
            service = _attr(h, 'service_details') or {}
            name = _attr(h, 'name') or ''
            return service.get('host') == host or name == host or name.startswith(host + '.')

        listing = self._call('Listing hypervisors', lambda: list(
            self.compute.hypervisors(details=True, hypervisor_hostname_pattern=host)))
        found = [h for h in listing if matches(h)]
        if not found:
            listing = self._call('Listing hypervisors', lambda: list(self.compute.hypervisors(details=True)))
            found = [h for h in listing if matches(h)]
        if not found:
            return None, None
        return _attr(found[0], 'id'), _attr(found[0], 'name')

    # -- placement
    def resource_provider(self, node, hypervisor_id=None):
        """(uuid, name) of the compute node's resource provider, or (None, None)."""
        rps = self._call('Looking up resource provider %s' % node, lambda: list(
            self.placement.resource_providers(name=node)))
        if not rps and hypervisor_id:
            rps = self._call('Looking up resource provider %s' % hypervisor_id, lambda: list(
                self.placement.resource_providers(id=hypervisor_id)))
        if not rps:
            return None, None
        return _attr(rps[0], 'id'), _attr(rps[0], 'name')

    def inventories(self, rp_id):
        items = self._call('Reading the inventories of resource provider %s' % rp_id, lambda: list(
            self.placement.resource_provider_inventories(rp_id)))
        out = {}
        for inv in items:
            out[_attr(inv, 'resource_class') or _attr(inv, 'id')] = dict(
                (k, _attr(inv, k)) for k in ('total', 'reserved', 'allocation_ratio', 'min_unit', 'max_unit', 'step_size'))
        return out

    def usages(self, rp_id):
        rp = self._call('Reading the usages of resource provider %s' % rp_id,
                        self.placement.fetch_resource_provider_usages, rp_id)
        return dict(_attr(rp, 'usages') or {})

    # -- migrations
    def live_migrate(self, server_id, body, microversion):
        """POST os-migrateLive; returns the request ID (it names the instance action)."""
        what = 'Live-migrating server %s' % server_id
        # never retried: Nova may have accepted a request whose answer was lost (LiveMigration.request)
        response = self._once(what, self.compute.post, '/servers/%s/action' % server_id,
                              json={'os-migrateLive': body}, microversion=microversion)
        if response.status_code >= 400:
            raise _response_error(what, response)
        headers = getattr(response, 'headers', None) or {}
        return headers.get('x-openstack-request-id') or headers.get('x-compute-request-id')

    def migrations(self, server_id=None, host=None, migration_type='live-migration', limit=None):
        """Records from /os-migrations (final statuses included), newest first."""
        query = {}
        if server_id:
            query['server_id'] = server_id
        if host:
            query['host'] = host
        if migration_type:
            query['migration_type'] = migration_type
        what = 'Listing migrations'

        def fetch():
            out = []
            for m in self.compute.migrations(**query):
                out.append(migration_view(m))
            return out
        records = self._call(what, fetch)
        records.sort(key=lambda m: _int(m.get('id')), reverse=True)
        return records[:limit] if limit else records

    def migration_ids(self, server_id):
        return set(m['id'] for m in self.migrations(server_id=server_id))

    def action_ids(self, server_id, action_name='live-migration'):
        """Request IDs of the server's instance actions of one kind (no events: one call)."""
        listing = self._call('Listing the instance actions of server %s' % server_id,
                             lambda: list(self.compute.server_actions(server_id)))
        return set(_attr(a, 'request_id') for a in listing if _attr(a, 'action') == action_name)

    def new_migration(self, server_id, known_ids):
        """The newest live-migration record of the server that is not in known_ids."""
        for m in self.migrations(server_id=server_id):
            if m['id'] not in known_ids:
                return m
        return None

    def migration_record(self, server_id, migration_id):
        for m in self.migrations(server_id=server_id):
            if m['id'] == migration_id:
                return m
        return None

    def in_progress(self, server_id, migration_id):
        """The in-progress record with its progress bytes, or None once it is no longer in progress."""
        try:
            m = self._call('Reading migration %s of server %s' % (migration_id, server_id),
                           self.compute.get_server_migration, str(migration_id), server_id)
        except NovaError as e:
            if e.status == 404:
                return None
            raise
        return migration_view(m) if m is not None else None

    def server_migrations(self, server_id):
        """In-progress migrations of a server, with progress bytes."""
        try:
            items = self._call('Listing the in-progress migrations of server %s' % server_id,
                               lambda: list(self.compute.server_migrations(server_id)))
        except NovaError as e:
            if e.status == 404:
                return []
            raise
        return [migration_view(m) for m in items]

    def abort(self, server_id, migration_id):
        self._call('Aborting migration %s of server %s' % (migration_id, server_id),
                   self.compute.abort_server_migration, str(migration_id), server_id, ignore_missing=False)

    def force_complete(self, server_id, migration_id):
        self._call('Force-completing migration %s of server %s' % (migration_id, server_id),
                   self.compute.force_complete_server_migration, str(migration_id), server_id)

    # -- instance actions
    def action(self, server_id, request_id=None, action_name='live-migration'):
        """The instance action (with events) of a request, else the newest of that kind."""
        if request_id:
            try:
                return action_view(self._call('Reading instance action %s' % request_id,
                                              self.compute.get_server_action, request_id, server_id))
            except NovaError as e:
                if e.status != 404:
                    raise
        actions = self._call('Listing the instance actions of server %s' % server_id,
                             lambda: list(self.compute.server_actions(server_id)))
        actions = [a for a in actions if _attr(a, 'action') == action_name]
        if not actions:
            return None
        actions.sort(key=lambda a: _attr(a, 'start_time') or '', reverse=True)
        newest = _attr(actions[0], 'request_id')
        return action_view(self._call('Reading instance action %s' % newest,
                                      self.compute.get_server_action, newest, server_id))

    def actions(self, server_id, action_name='live-migration', limit=None):
        """The server's instance actions of one kind, newest first, each with its events."""
        listing = self._call('Listing the instance actions of server %s' % server_id,
                             lambda: list(self.compute.server_actions(server_id)))
        listing = [a for a in listing if _attr(a, 'action') == action_name]
        listing.sort(key=lambda a: _attr(a, 'start_time') or '', reverse=True)
        if limit:
            listing = listing[:limit]
        return [action_view(self._call('Reading instance action %s' % _attr(a, 'request_id'),
                                       self.compute.get_server_action, _attr(a, 'request_id'), server_id))
                for a in listing]


def _int(value):
    try:
        return int(value)
    except (TypeError, ValueError):
        return -1
