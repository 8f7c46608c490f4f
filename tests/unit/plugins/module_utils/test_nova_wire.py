# -*- coding: utf-8 -*-
# Copyright: (c) 2025, openstack_ops developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""NovaApi through a real openstacksdk Connection against a tiny local HTTP stand-in for Nova and Placement.

What this proves without a cloud: the URLs, query parameters, microversion headers and
bodies that openstacksdk 4.22 actually sends for each NovaApi call, and that NovaApi
reads the JSON Nova answers with (field names as in the Nova API reference).
"""

from __future__ import annotations

import json
import re
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

import openstack
import pytest

from ansible_collections.openstack_ops.live_migration.plugins.module_utils.errors import NovaError
from ansible_collections.openstack_ops.live_migration.plugins.module_utils.nova import NovaApi
from ansible_collections.openstack_ops.live_migration.tests.unit.plugins.fakes import UUID, server_json

MIG = {'id': 100, 'uuid': 'c9a1f6a2-0000-4000-8000-000000000100', 'status': 'running', 'server_uuid': UUID,
       'source_compute': 'cmp1', 'source_node': 'cmp1.lab', 'dest_compute': 'cmp2', 'dest_node': 'cmp2.lab',
       'dest_host': '10.0.0.2', 'created_at': '2025-01-01T00:00:00.000000', 'updated_at': None,
       'memory_total_bytes': 268435456, 'memory_processed_bytes': 100, 'memory_remaining_bytes': 268435356,
       'disk_total_bytes': 134217728, 'disk_processed_bytes': 134217728, 'disk_remaining_bytes': 0}


class Nova(object):
    """Routes: (method, regex on the path) -> handler(match, query, body) -> (status, body, headers)."""

    def __init__(self):
        self.requests = []
        self.routes = []
        self.port = None

    def route(self, method, pattern, handler):
        self.routes.append((method, re.compile(pattern + '$'), handler))

    def answer(self, method, path, query, body):
        for m, regex, handler in self.routes:
            match = regex.match(path)
            if m == method and match:
                return handler(match, query, body)
        return 404, {'itemNotFound': {'code': 404, 'message': 'no route for %s %s' % (method, path)}}, {}


def make_handler(nova):
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args):
            return None

        def _do(self, method):
            parts = urlsplit(self.path)
            length = int(self.headers.get('Content-Length') or 0)
            raw = self.rfile.read(length) if length else b''
            body = json.loads(raw) if raw else None
            query = dict((k, v[0]) for k, v in parse_qs(parts.query).items())
            nova.requests.append({'method': method, 'path': parts.path, 'query': query, 'body': body,
                                  'version': self.headers.get('OpenStack-API-Version')})
            status, answer, headers = nova.answer(method, parts.path, query, body)
            data = json.dumps(answer).encode() if answer is not None else b''
            self.send_response(status)
            self.send_header('Content-Type', 'application/json')
            self.send_header('Content-Length', str(len(data)))
            for key, value in headers.items():
                self.send_header(key, value)
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self):
            self._do('GET')

        def do_POST(self):
            self._do('POST')

        def do_DELETE(self):
            self._do('DELETE')

        def do_PUT(self):
            self._do('PUT')
    return Handler


@pytest.fixture
def wire():
    nova = Nova()
    server = ThreadingHTTPServer(('127.0.0.1', 0), make_handler(nova))
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    nova.port = port = server.server_address[1]
    compute = 'http://127.0.0.1:%d/compute/v2.1' % port
    placement = 'http://127.0.0.1:%d/placement' % port
    nova.route('GET', r'/compute/v2\.1/?', lambda m, q, b: (200, {'version': {
        'id': 'v2.1', 'status': 'CURRENT', 'version': '2.96', 'min_version': '2.1',
        'links': [{'rel': 'self', 'href': compute + '/'}]}}, {}))
    nova.route('GET', r'/placement/?', lambda m, q, b: (200, {'versions': [{
        'id': 'v1.0', 'status': 'CURRENT', 'max_version': '1.39', 'min_version': '1.0',
        'links': [{'rel': 'self', 'href': placement + '/'}]}]}, {}))
    conn = openstack.connect(auth_type='none', auth={'endpoint': compute}, compute_endpoint_override=compute,
                             placement_endpoint_override=placement)
    yield nova, NovaApi(conn)
    server.shutdown()
    server.server_close()


def last(nova, method, path_part):
    found = [r for r in nova.requests if r['method'] == method and path_part in r['path']]
    assert found, 'no %s %s in %s' % (method, path_part, [(r['method'], r['path']) for r in nova.requests])
    return found[-1]


def test_versions(wire):
    nova, api = wire
    assert api.versions() == ((2, 1), (2, 96))


def test_find_server_by_name_across_projects(wire):
    nova, api = wire
    body = server_json()
    nova.route('GET', r'/compute/v2\.1/servers/detail', lambda m, q, b: (200, {'servers': [body]}, {}))
    nova.route('GET', r'/compute/v2\.1/servers/%s' % UUID, lambda m, q, b: (200, {'server': body}, {}))
    view = api.find_server('vm1')
    assert view['id'] == UUID and view['host'] == 'cmp1' and view['flavor']['ram'] == 256
    listing = last(nova, 'GET', '/servers/detail')
    assert listing['query'].get('name') == 'vm1' and listing['query'].get('all_tenants') in ('True', 'true', '1')
    assert last(nova, 'GET', '/servers/' + UUID)['version'] == 'compute 2.96'


def test_live_migrate_raw_post(wire):
    nova, api = wire
    nova.route('POST', r'/compute/v2\.1/servers/%s/action' % UUID,
               lambda m, q, b: (202, None, {'x-openstack-request-id': 'req-abc'}))
    assert api.live_migrate(UUID, {'host': 'cmp2', 'block_migration': True}, '2.68') == 'req-abc'
    post = last(nova, 'POST', '/action')
    assert post['version'] == 'compute 2.68'
    assert post['body'] == {'os-migrateLive': {'host': 'cmp2', 'block_migration': True}}


def test_live_migrate_refused_carries_novas_message(wire):
    nova, api = wire
    nova.route('POST', r'/compute/v2\.1/servers/%s/action' % UUID, lambda m, q, b: (409, {'conflictingRequest': {
        'code': 409, 'message': "Cannot 'os-migrateLive' instance %s while it is in vm_state error" % UUID}}, {}))
    with pytest.raises(NovaError) as e:
        api.live_migrate(UUID, {'host': 'cmp2', 'block_migration': True}, '2.68')
    assert e.value.status == 409 and 'while it is in vm_state error' in e.value.msg and not e.value.transient


def test_migration_records(wire):
    nova, api = wire
    record = dict(MIG, instance_uuid=UUID, migration_type='live-migration', status='completed')
    record.pop('server_uuid')
    nova.route('GET', r'/compute/v2\.1/os-migrations', lambda m, q, b: (200, {'migrations': [record]}, {}))
    records = api.migrations(server_id=UUID)
    assert records[0]['id'] == 100 and records[0]['status'] == 'completed' and records[0]['server_id'] == UUID
    query = last(nova, 'GET', '/os-migrations')['query']
    assert query['instance_uuid'] == UUID and query['migration_type'] == 'live-migration'


def test_in_progress_record_and_its_end(wire):
    nova, api = wire
    state = {'status': 200}
    nova.route('GET', r'/compute/v2\.1/servers/%s/migrations/100' % UUID, lambda m, q, b: (
        (200, {'migration': MIG}, {}) if state['status'] == 200 else
        (404, {'itemNotFound': {'code': 404, 'message': 'In-progress live migration 100 is not found'}}, {})))
    live = api.in_progress(UUID, 100)
    assert live['memory_total_bytes'] == 268435456 and live['disk_remaining_bytes'] == 0
    assert live['server_id'] == UUID and live['dest_compute'] == 'cmp2'
    version = last(nova, 'GET', '/migrations/100')['version']
    assert version.startswith('compute 2.') and int(version.split('.')[1]) >= 23
    state['status'] = 404
    assert api.in_progress(UUID, 100) is None


def test_abort_and_force_complete(wire):
    nova, api = wire
    nova.route('DELETE', r'/compute/v2\.1/servers/%s/migrations/100' % UUID, lambda m, q, b: (202, None, {}))
    nova.route('GET', r'/compute/v2\.1/servers/%s/migrations/100' % UUID, lambda m, q, b: (200, {'migration': MIG}, {}))
    nova.route('POST', r'/compute/v2\.1/servers/%s/migrations/100/action' % UUID, lambda m, q, b: (202, None, {}))
    api.abort(UUID, 100)
    assert int(last(nova, 'DELETE', '/migrations/100')['version'].split('.')[1]) >= 24
    api.force_complete(UUID, 100)
    post = last(nova, 'POST', '/migrations/100/action')
    assert post['body'] == {'force_complete': None} and int(post['version'].split('.')[1]) >= 22


def test_abort_refused(wire):
    nova, api = wire
    nova.route('DELETE', r'/compute/v2\.1/servers/%s/migrations/100' % UUID, lambda m, q, b: (400, {'badRequest': {
        'code': 400, 'message': 'Migration 100 state of instance is post-migrating. Cannot abort.'}}, {}))
    with pytest.raises(NovaError) as e:
        api.abort(UUID, 100)
    assert e.value.status == 400 and 'Cannot abort' in e.value.msg


def test_instance_action_events(wire):
    nova, api = wire
    action = {'action': 'live-migration', 'request_id': 'req-abc', 'instance_uuid': UUID, 'message': 'Error',
              'start_time': '2025-01-01T00:00:00.000000', 'user_id': 'u', 'project_id': 'p',
              'events': [{'event': 'conductor_live_migrate_instance', 'result': 'Error',
                          'start_time': '2025-01-01T00:00:00.000000', 'finish_time': '2025-01-01T00:00:01.000000',
                          'traceback': 'Traceback\nnova.exception.MigrationPreCheckError: pre-check', 'host': 'ctl',
                          'hostId': 'x', 'details': 'Migration pre-check error: pre-check'}]}
    nova.route('GET', r'/compute/v2\.1/servers/%s/os-instance-actions/req-abc' % UUID,
               lambda m, q, b: (200, {'instanceAction': action}, {}))
    got = api.action(UUID, 'req-abc')
    assert got['events'][0]['details'] == 'Migration pre-check error: pre-check'
    assert got['events'][0]['traceback'].endswith('MigrationPreCheckError: pre-check')


def test_reset_state(wire):
    nova, api = wire
    nova.route('POST', r'/compute/v2\.1/servers/%s/action' % UUID, lambda m, q, b: (202, None, {}))
    api.reset_state_active(UUID)
    assert last(nova, 'POST', '/action')['body'] == {'os-resetState': {'state': 'active'}}


def test_services_and_hypervisors(wire):
    nova, api = wire
    nova.route('GET', r'/compute/v2\.1/os-services', lambda m, q, b: (200, {'services': [
        {'id': 's2', 'binary': 'nova-compute', 'host': 'cmp2', 'zone': 'nova', 'status': 'disabled', 'state': 'up',
         'updated_at': None, 'disabled_reason': 'maintenance', 'forced_down': False}]}, {}))
    nova.route('GET', r'/compute/v2\.1/os-hypervisors/detail', lambda m, q, b: (200, {'hypervisors': [
        {'id': 'b1e43b5f-0000-4000-8000-000000000002', 'hypervisor_hostname': 'cmp2.lab', 'state': 'up',
         'status': 'enabled', 'hypervisor_type': 'QEMU', 'service': {'host': 'cmp2', 'id': 's2'}}]}, {}))
    service = api.compute_service('cmp2')
    assert service == {'id': 's2', 'host': 'cmp2', 'status': 'disabled', 'state': 'up', 'forced_down': False,
                       'disabled_reason': 'maintenance', 'zone': 'nova'}
    assert last(nova, 'GET', '/os-services')['query'] == {'binary': 'nova-compute', 'host': 'cmp2'}
    assert api.hypervisor('cmp2') == ('b1e43b5f-0000-4000-8000-000000000002', 'cmp2.lab')
    assert last(nova, 'GET', '/os-hypervisors/detail')['query'] == {'hypervisor_hostname_pattern': 'cmp2'}


def test_placement(wire):
    nova, api = wire
    rp = 'b1e43b5f-0000-4000-8000-000000000002'
    nova.route('GET', r'/placement/resource_providers', lambda m, q, b: (200, {'resource_providers': [
        {'uuid': rp, 'name': 'cmp2.lab', 'generation': 3, 'links': []}]}, {}))
    nova.route('GET', r'/placement/resource_providers/%s/inventories' % rp, lambda m, q, b: (200, {
        'resource_provider_generation': 3, 'inventories': {
            'VCPU': {'total': 8, 'reserved': 0, 'allocation_ratio': 4.0, 'min_unit': 1, 'max_unit': 8, 'step_size': 1},
            'MEMORY_MB': {'total': 16384, 'reserved': 512, 'allocation_ratio': 1.0, 'min_unit': 1, 'max_unit': 16384,
                          'step_size': 1}}}, {}))
    nova.route('GET', r'/placement/resource_providers/%s/usages' % rp, lambda m, q, b: (200, {
        'resource_provider_generation': 3, 'usages': {'VCPU': 3, 'MEMORY_MB': 1024}}, {}))
    assert api.resource_provider('cmp2.lab') == (rp, 'cmp2.lab')
    assert last(nova, 'GET', '/placement/resource_providers')['query'] == {'name': 'cmp2.lab'}
    inventories = api.inventories(rp)
    assert inventories['VCPU']['allocation_ratio'] == 4.0 and inventories['MEMORY_MB']['reserved'] == 512
    assert api.usages(rp) == {'VCPU': 3, 'MEMORY_MB': 1024}


def test_server_error_is_transient(wire):
    nova, api = wire
    nova.route('GET', r'/compute/v2\.1/servers/%s' % UUID, lambda m, q, b: (503, {'computeFault': {
        'code': 503, 'message': 'busy'}}, {}))
    with pytest.raises(NovaError) as e:
        api.get_server(UUID)
    assert e.value.transient and e.value.status == 503


def test_wrong_password_is_a_nova_error_not_a_crash():
    """Password auth that keystone rejects (what the lab showed with a wrong password): openstacksdk
    authenticates while it builds conn.compute, before any NovaApi call runs. It must come out as a
    NovaError naming the 401, not as the raw keystoneauth exception (a module crash)."""
    nova = Nova()
    server = ThreadingHTTPServer(('127.0.0.1', 0), make_handler(nova))
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        identity = 'http://127.0.0.1:%d/identity/v3' % server.server_address[1]
        nova.route('GET', r'/identity/v3/?', lambda m, q, b: (200, {'version': {
            'id': 'v3.14', 'status': 'stable', 'links': [{'rel': 'self', 'href': identity + '/'}]}}, {}))
        nova.route('POST', r'/identity/v3/auth/tokens', lambda m, q, b: (401, {'error': {
            'code': 401, 'title': 'Unauthorized',
            'message': 'The request you have made requires authentication.'}}, {}))
        conn = openstack.connect(auth_type='password', auth={
            'auth_url': identity, 'username': 'admin', 'password': 'wrong', 'project_name': 'admin',
            'user_domain_name': 'Default', 'project_domain_name': 'Default'})
        with pytest.raises(NovaError) as e:
            NovaApi(conn).versions()
        assert e.value.status == 401 and not e.value.transient
        assert e.value.msg.startswith('Connecting to the cloud (compute API) failed (HTTP 401)')
        assert 'requires authentication' in e.value.msg
        token = last(nova, 'POST', '/auth/tokens')
        assert token['body']['auth']['identity']['password']['user']['name'] == 'admin'
    finally:
        server.shutdown()
        server.server_close()


def test_disable_and_enable_a_compute_service(wire):
    """What openstacksdk really sends for the drain's disable/enable (PUT by service ID, 2.53+)."""
    nova, api = wire
    svc = {'id': 's2', 'binary': 'nova-compute', 'host': 'cmp2', 'zone': 'nova', 'status': 'enabled', 'state': 'up',
           'updated_at': None, 'disabled_reason': None, 'forced_down': False}
    nova.route('PUT', r'/compute/v2\.1/os-services/s2', lambda m, q, b: (200, {'service': dict(svc, **b)}, {}))
    api.disable_compute_service({'id': 's2', 'host': 'cmp2'}, 'openstack_ops.live_migration drain started x')
    put = last(nova, 'PUT', '/os-services/s2')
    assert put['body'] == {'status': 'disabled', 'disabled_reason': 'openstack_ops.live_migration drain started x'}
    assert int(put['version'].split('.')[1]) >= 53
    api.enable_compute_service({'id': 's2', 'host': 'cmp2'})
    assert last(nova, 'PUT', '/os-services/s2')['body'] == {'status': 'enabled'}
