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

import datetime

from ansible_collections.openstack_ops.live_migration.plugins.module_utils.errors import NovaError
from ansible_collections.openstack_ops.live_migration.plugins.module_utils.views import (
    action_view, migration_view, sdk_field, server_view, service_view)

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

    def servers(self, host=None):
        """Every server (all projects), or those on one compute host, as views."""
        query = {'all_projects': True}
        if host:
            query['compute_host'] = host
        return self._call('Listing servers%s' % (' on %s' % host if host else ''), lambda: [
            server_view(s) for s in self.compute.servers(details=True, **query)])

    def get_server(self, server_id):
        return server_view(self._call('Reading server %s' % server_id, self.compute.get_server, server_id))

    def reset_state_active(self, server_id):
        self._call('Resetting server %s to active' % server_id, self.compute.reset_server_state, server_id, 'active')

    # -- compute services and hypervisors
    def compute_service(self, host):
        services = self._call('Listing the nova-compute service of %s' % host, lambda: list(
            self.compute.services(binary='nova-compute', host=host)))
        services = [service_view(s) for s in services if sdk_field(s, 'host') == host]
        return services[0] if services else None

    def compute_hosts(self):
        services = self._call('Listing nova-compute services', lambda: list(
            self.compute.services(binary='nova-compute')))
        return sorted(set(sdk_field(s, 'host') for s in services if sdk_field(s, 'host')))

    def hypervisor(self, host):
        """(hypervisor id, hypervisor_hostname) of a compute host, or (None, None)."""
        def matches(h):
            service = sdk_field(h, 'service_details') or {}
            name = sdk_field(h, 'name') or ''
            return service.get('host') == host or name == host or name.startswith(host + '.')

        listing = self._call('Listing hypervisors', lambda: list(
            self.compute.hypervisors(details=True, hypervisor_hostname_pattern=host)))
        found = [h for h in listing if matches(h)]
        if not found:
            listing = self._call('Listing hypervisors', lambda: list(self.compute.hypervisors(details=True)))
            found = [h for h in listing if matches(h)]
        if not found:
            return None, None
        return sdk_field(found[0], 'id'), sdk_field(found[0], 'name')

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
        return sdk_field(rps[0], 'id'), sdk_field(rps[0], 'name')

    def inventories(self, rp_id):
        items = self._call('Reading the inventories of resource provider %s' % rp_id, lambda: list(
            self.placement.resource_provider_inventories(rp_id)))
        out = {}
        for inv in items:
            out[sdk_field(inv, 'resource_class') or sdk_field(inv, 'id')] = dict(
                (k, sdk_field(inv, k)) for k in ('total', 'reserved', 'allocation_ratio', 'min_unit', 'max_unit', 'step_size'))
        return out

    def usages(self, rp_id):
        rp = self._call('Reading the usages of resource provider %s' % rp_id,
                        self.placement.fetch_resource_provider_usages, rp_id)
        return dict(sdk_field(rp, 'usages') or {})

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

    def migrations(self, server_id=None, host=None, migration_type='live-migration', limit=None, changes_since=None):
        """Records from /os-migrations (final statuses included), newest first; ``changes_since`` is a
        Unix time (microversion 2.59 and later)."""
        query = {}
        if changes_since is not None:
            query['changes_since'] = datetime.datetime.fromtimestamp(
                changes_since, datetime.timezone.utc).strftime('%Y-%m-%dT%H:%M:%SZ')
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
        return set(sdk_field(a, 'request_id') for a in listing if sdk_field(a, 'action') == action_name)

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
        actions = [a for a in actions if sdk_field(a, 'action') == action_name]
        if not actions:
            return None
        actions.sort(key=lambda a: sdk_field(a, 'start_time') or '', reverse=True)
        newest = sdk_field(actions[0], 'request_id')
        return action_view(self._call('Reading instance action %s' % newest,
                                      self.compute.get_server_action, newest, server_id))

    def actions(self, server_id, action_name='live-migration', limit=None):
        """The server's instance actions of one kind, newest first, each with its events."""
        listing = self._call('Listing the instance actions of server %s' % server_id,
                             lambda: list(self.compute.server_actions(server_id)))
        listing = [a for a in listing if sdk_field(a, 'action') == action_name]
        listing.sort(key=lambda a: sdk_field(a, 'start_time') or '', reverse=True)
        if limit:
            listing = listing[:limit]
        return [action_view(self._call('Reading instance action %s' % sdk_field(a, 'request_id'),
                                       self.compute.get_server_action, sdk_field(a, 'request_id'), server_id))
                for a in listing]


def _int(value):
    try:
        return int(value)
    except (TypeError, ValueError):
        return -1
