# -*- coding: utf-8 -*-
# Copyright: (c) 2025, openstack_ops developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""A FakeCloud served over HTTP as Nova (compute API 2.1-2.96) and Placement, on real time.

For tests only: it lets the real modules run out of process (ansible-playbook, async)
through a real openstacksdk connection, with a clouds.yaml that uses ``auth_type: none``
and endpoint overrides. It answers the requests this collection makes, nothing more.
"""

from __future__ import annotations

import json
import re
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, unquote, urlsplit

from openstack import exceptions as sdk_exc

from ansible_collections.openstack_ops.live_migration.tests.unit.plugins import fakes


class RealClock(object):
    """The clock a FakeCloud reads, moving with real time."""

    @property
    def now(self):
        return time.monotonic()


def _not_found(what):
    return 404, {'itemNotFound': {'code': 404, 'message': '%s could not be found.' % what}}, {}


class FakeNovaHTTP(object):
    def __init__(self, cloud):
        self.cloud = cloud
        self.lock = threading.Lock()
        self.server = ThreadingHTTPServer(('127.0.0.1', 0), self._handler())
        self.port = self.server.server_address[1]
        self.compute_url = 'http://127.0.0.1:%d/compute/v2.1' % self.port
        self.placement_url = 'http://127.0.0.1:%d/placement' % self.port
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        c = r'/compute/v2\.1'
        self.routes = [
            ('GET', c + r'/?', self.compute_version),
            ('GET', r'/placement/?', self.placement_version),
            ('GET', c + r'/servers/detail', self.server_list),
            ('GET', c + r'/servers/([^/]+)', self.server_show),
            ('POST', c + r'/servers/([^/]+)/action', self.server_action),
            ('GET', c + r'/os-migrations', self.migration_list),
            ('GET', c + r'/servers/([^/]+)/migrations', self.server_migration_list),
            ('GET', c + r'/servers/([^/]+)/migrations/(\d+)', self.server_migration_show),
            ('DELETE', c + r'/servers/([^/]+)/migrations/(\d+)', self.server_migration_abort),
            ('POST', c + r'/servers/([^/]+)/migrations/(\d+)/action', self.server_migration_action),
            ('GET', c + r'/servers/([^/]+)/os-instance-actions', self.action_list),
            ('GET', c + r'/servers/([^/]+)/os-instance-actions/([^/]+)', self.action_show),
            ('GET', c + r'/os-services', self.service_list),
            ('GET', c + r'/os-hypervisors/detail', self.hypervisor_list),
            ('GET', r'/placement/resource_providers', self.rp_list),
            ('GET', r'/placement/resource_providers/([^/]+)/inventories', self.rp_inventories),
            ('GET', r'/placement/resource_providers/([^/]+)/usages', self.rp_usages),
        ]

    def start(self):
        self.thread.start()
        return self

    def stop(self):
        self.server.shutdown()
        self.server.server_close()

    def clouds_yaml(self, name='fake'):
        return {'clouds': {name: {
            'auth_type': 'none', 'auth': {'endpoint': self.compute_url},
            'compute_endpoint_override': self.compute_url, 'placement_endpoint_override': self.placement_url}}}

    # ------------------------------------------------------------ plumbing
    def _handler(self):
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                return None

            def _do(self, method):
                parts = urlsplit(self.path)
                length = int(self.headers.get('Content-Length') or 0)
                body = json.loads(self.rfile.read(length)) if length else None
                query = dict((k, v[0]) for k, v in parse_qs(parts.query).items())
                with outer.lock:
                    outer.cloud.advance()
                    status, answer, headers = outer.dispatch(method, unquote(parts.path), query, body)
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
        return Handler

    def dispatch(self, method, path, query, body):
        for m, pattern, handler in self.routes:
            match = re.match(pattern + '$', path)
            if m == method and match:
                try:
                    return handler(query, body, *match.groups())
                except sdk_exc.HttpException as e:
                    kind = {400: 'badRequest', 404: 'itemNotFound', 409: 'conflictingRequest'}.get(e.status_code, 'computeFault')
                    return e.status_code, {kind: {'code': e.status_code, 'message': e.details}}, {}
        return 404, {'itemNotFound': {'code': 404, 'message': 'no route for %s %s' % (method, path)}}, {}

    # ------------------------------------------------------------ compute
    def compute_version(self, query, body):
        return 200, {'version': {'id': 'v2.1', 'status': 'CURRENT', 'version': '2.96', 'min_version': '2.1',
                                 'links': [{'rel': 'self', 'href': self.compute_url + '/'}]}}, {}

    def placement_version(self, query, body):
        return 200, {'versions': [{'id': 'v1.0', 'status': 'CURRENT', 'max_version': '1.39', 'min_version': '1.0',
                                   'links': [{'rel': 'self', 'href': self.placement_url + '/'}]}]}, {}

    def server_list(self, query, body):
        servers = [s for s in self.cloud.servers.values() if not query.get('name') or s['name'] == query['name']]
        return 200, {'servers': servers}, {}

    def server_show(self, query, body, sid):
        if sid not in self.cloud.servers:
            return _not_found('Instance %s' % sid)
        return 200, {'server': self.cloud.servers[sid]}, {}

    def server_action(self, query, body, sid):
        if 'os-resetState' in body:
            self.cloud.compute.reset_server_state(sid, body['os-resetState']['state'])
            return 202, None, {}
        response = self.cloud.compute.post('/servers/%s/action' % sid, json=body)
        return response.status_code, response._body, response.headers

    def migration_list(self, query, body):
        out = []
        for m in self.cloud.migrations:
            if query.get('instance_uuid') and m['instance_uuid'] != query['instance_uuid']:
                continue
            if query.get('migration_type') and m['migration_type'] != query['migration_type']:
                continue
            out.append(dict((k, v) for k, v in m.items() if not k.endswith('_bytes')))
        return 200, {'migrations': out}, {}

    @staticmethod
    def _as_server_migration(m):
        out = dict(m, server_uuid=m['instance_uuid'])
        out.pop('instance_uuid')
        out.pop('migration_type')
        return out

    def server_migration_list(self, query, body, sid):
        return 200, {'migrations': [self._as_server_migration(m) for m in self.cloud.migrations
                                    if m['instance_uuid'] == sid and m['status'] in fakes.IN_PROGRESS]}, {}

    def server_migration_show(self, query, body, sid, mid):
        return 200, {'migration': self._as_server_migration(self.cloud.compute._in_progress(mid, sid))}, {}

    def server_migration_abort(self, query, body, sid, mid):
        self.cloud.compute.abort_server_migration(mid, sid)
        return 202, None, {}

    def server_migration_action(self, query, body, sid, mid):
        self.cloud.compute.force_complete_server_migration(mid, sid)
        return 202, None, {}

    def action_list(self, query, body, sid):
        return 200, {'instanceActions': [dict((k, v) for k, v in a.items() if k != 'events')
                                         for a in self.cloud.actions.get(sid, [])]}, {}

    def action_show(self, query, body, sid, request_id):
        for a in self.cloud.actions.get(sid, []):
            if a['request_id'] == request_id:
                return 200, {'instanceAction': dict(a, instance_uuid=sid)}, {}
        return _not_found('Action %s' % request_id)

    def service_list(self, query, body):
        return 200, {'services': [s for s in self.cloud.services
                                  if all(s.get(k) == v for k, v in query.items())]}, {}

    def hypervisor_list(self, query, body):
        pattern = query.get('hypervisor_hostname_pattern')
        return 200, {'hypervisors': [h for h in self.cloud.hypervisors
                                     if not pattern or pattern in h['hypervisor_hostname']]}, {}

    # ------------------------------------------------------------ placement
    def rp_list(self, query, body):
        return 200, {'resource_providers': [dict(rp, links=[]) for rp in self.cloud.providers
                                            if not query.get('name') or rp['name'] == query['name']]}, {}

    def rp_inventories(self, query, body, rp):
        return 200, {'resource_provider_generation': 1, 'inventories': self.cloud.inventories[rp]}, {}

    def rp_usages(self, query, body, rp):
        return 200, {'resource_provider_generation': 1, 'usages': self.cloud.usages[rp]}, {}
