# -*- coding: utf-8 -*-
# Copyright: (c) 2025, openstack_ops developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

import inspect

import pytest
from keystoneauth1 import exceptions as ks_exc
from openstack import exceptions as sdk_exc
from openstack.compute.v2 import _proxy as compute_proxy
from openstack.placement.v1 import _proxy as placement_proxy

from ansible_collections.openstack_ops.live_migration.plugins.module_utils import nova, placement, views
from ansible_collections.openstack_ops.live_migration.plugins.module_utils.errors import NovaError
from ansible_collections.openstack_ops.live_migration.tests.unit.plugins import fakes
from ansible_collections.openstack_ops.live_migration.tests.unit.plugins.table import FakeClock, table


@pytest.mark.parametrize('name', [n for n in dir(fakes.FakeCompute) if not n.startswith('_') and n != 'post'])
def test_fake_compute_has_the_sdk_signatures(name):
    """The fakes must not drift from openstacksdk: same parameters as the real proxy."""
    real = inspect.signature(getattr(compute_proxy.Proxy, name))
    fake = inspect.signature(getattr(fakes.FakeCompute, name))
    assert list(fake.parameters) == list(real.parameters)


@pytest.mark.parametrize('name', [n for n in dir(fakes.FakePlacement) if not n.startswith('_')])
def test_fake_placement_has_the_sdk_signatures(name):
    real = inspect.signature(getattr(placement_proxy.Proxy, name))
    fake = inspect.signature(getattr(fakes.FakePlacement, name))
    assert list(fake.parameters) == list(real.parameters)


def test_server_view_from_sdk_resource():
    cloud = fakes.FakeCloud(FakeClock())
    conn = fakes.FakeConn(cloud)
    view = views.server_view(conn.compute.get_server(fakes.UUID))
    assert view['host'] == 'cmp1' and view['node'] == 'cmp1.lab' and view['status'] == 'ACTIVE'
    assert view['vm_state'] == 'active' and view['task_state'] is None and view['locked'] is False
    assert view['flavor'] == {'name': 'm1.tiny', 'vcpus': 1, 'ram': 256, 'disk': 1, 'ephemeral': 0, 'swap': 0,
                              'extra_specs': {}}
    assert view['volume_backed'] is False


def test_server_view_volume_backed_and_fault():
    cloud = fakes.FakeCloud(FakeClock(), servers=[fakes.server_json(image='', fault={'message': 'boom', 'code': 500})])
    view = views.server_view(fakes.FakeConn(cloud).compute.get_server(fakes.UUID))
    assert view['volume_backed'] is True and view['fault'] == 'boom'


FLAVORS = [
    dict(id='plain', flavor=dict(vcpus=2, ram=2048, disk=20, ephemeral=0, swap=0), bfv=False,
         expected={'VCPU': 2, 'MEMORY_MB': 2048, 'DISK_GB': 20}),
    dict(id='volume-backed root not counted', flavor=dict(vcpus=2, ram=2048, disk=20, ephemeral=5, swap=0), bfv=True,
         expected={'VCPU': 2, 'MEMORY_MB': 2048, 'DISK_GB': 5}),
    dict(id='swap rounded up to GB', flavor=dict(vcpus=1, ram=512, disk=1, ephemeral=0, swap=1500), bfv=False,
         expected={'VCPU': 1, 'MEMORY_MB': 512, 'DISK_GB': 3}),
    dict(id='extra spec override and removal',
         flavor=dict(vcpus=4, ram=4096, disk=10, ephemeral=0, swap=0,
                     extra_specs={'resources:VCPU': '0', 'resources:PCPU': '4', 'resources:CUSTOM_X': 'x'}),
         bfv=False, expected={'PCPU': 4, 'MEMORY_MB': 4096, 'DISK_GB': 10}),
    dict(id='dedicated cpus on a PCPU host',
         flavor=dict(vcpus=4, ram=1024, disk=0, ephemeral=0, swap=0, extra_specs={'hw:cpu_policy': 'dedicated'}),
         bfv=True, cpu='PCPU', expected={'PCPU': 4, 'MEMORY_MB': 1024}),
]


@table(FLAVORS)
def test_flavor_resources(case):
    assert placement.flavor_resources(case['flavor'], case['bfv'], case.get('cpu', 'VCPU')) == case['expected']


INV = {'VCPU': {'total': 8, 'reserved': 0, 'allocation_ratio': 4.0, 'min_unit': 1, 'max_unit': 8, 'step_size': 1},
       'MEMORY_MB': {'total': 16384, 'reserved': 512, 'allocation_ratio': 1.5, 'min_unit': 1, 'max_unit': 16384,
                     'step_size': 1},
       'DISK_GB': {'total': 100, 'reserved': 10, 'allocation_ratio': 1.0, 'min_unit': 1, 'max_unit': 100, 'step_size': 5}}

CAPACITY = [
    dict(id='fits', wanted={'VCPU': 2, 'MEMORY_MB': 2048, 'DISK_GB': 20}, used={'VCPU': 30, 'MEMORY_MB': 0},
         problems=[], unchecked=[]),
    dict(id='allocation ratio counts', wanted={'VCPU': 2}, used={'VCPU': 31}, problems=['VCPU: needs 2, 1 free'],
         unchecked=[]),
    dict(id='reserved counts', wanted={'MEMORY_MB': 16000}, used={'MEMORY_MB': 7900},
         problems=['MEMORY_MB: needs 16000, 15908 free'], unchecked=[]),
    dict(id='memory short', wanted={'MEMORY_MB': 4096}, used={'MEMORY_MB': 20000},
         problems=['MEMORY_MB: needs 4096, 3808 free (capacity 23808, used 20000)'], unchecked=[]),
    dict(id='above max_unit', wanted={'VCPU': 16}, used={}, problems=['largest allocation allowed is 8'], unchecked=[]),
    dict(id='step size', wanted={'DISK_GB': 12}, used={}, problems=['not a multiple of the step size 5'], unchecked=[]),
    dict(id='class without inventory is unchecked', wanted={'PCPU': 2}, used={}, problems=[], unchecked=['PCPU']),
]


@table(CAPACITY)
def test_capacity_shortfalls(case):
    problems, unchecked = placement.capacity_shortfalls(case['wanted'], INV, case['used'])
    assert unchecked == case['unchecked']
    assert len(problems) == len(case['problems'])
    for got, expected in zip(problems, case['problems']):
        assert expected in got


ERRORS = [
    dict(id='conflict', error=fakes.http_error(sdk_exc.ConflictException, 409, 'in vm_state error'), status=409,
         transient=False, text='in vm_state error'),
    dict(id='not found', error=fakes.http_error(sdk_exc.NotFoundException, 404, 'gone'), status=404, transient=False),
    dict(id='find without a response', error=sdk_exc.NotFoundException('No Server found for x'), status=404,
         transient=False),
    dict(id='503', error=fakes.http_error(sdk_exc.HttpException, 503, 'busy'), status=503, transient=True),
    dict(id='duplicate', error=sdk_exc.DuplicateResource('More than one Server'), status=None, transient=False),
    dict(id='keystone 401', error=ks_exc.Unauthorized('The request you have made requires authentication.'),
         status=401, transient=False, text='requires authentication'),
    dict(id='connect failure', error=ks_exc.ConnectFailure('Unable to establish connection'), status=None,
         transient=True),
    dict(id='endpoint missing', error=sdk_exc.EndpointNotFound('placement'), status=None, transient=False),
]


@table(ERRORS)
def test_to_nova_error(case):
    e = nova.to_nova_error('Doing X', case['error'])
    assert isinstance(e, NovaError)
    assert e.status == case['status'] and e.transient is case['transient']
    assert e.msg.startswith('Doing X failed')
    if case.get('text'):
        assert case['text'] in e.msg


RESPONSES = [
    dict(id='nova conflict body', r=fakes.FakeResponse(409, {'conflictingRequest': {'code': 409, 'message': 'busy'}}),
         expected='Live failed (HTTP 409): busy', transient=False),
    dict(id='plain text', r=fakes.FakeResponse(500, 'oops'), expected='Live failed (HTTP 500): oops', transient=True),
]


@table(RESPONSES)
def test_response_error(case):
    e = nova._response_error('Live', case['r'])
    assert e.msg == case['expected'] and e.transient is case['transient']


PROXY_ERRORS = [
    dict(id='wrong password', error=ks_exc.Unauthorized('The request you have made requires authentication.',
                                                        http_status=401),
         status=401, transient=False, text='requires authentication'),
    dict(id='keystone unreachable', error=ks_exc.ConnectFailure('Unable to establish connection'), status=None,
         transient=True, text='Unable to establish connection'),
    dict(id='no compute endpoint', error=ks_exc.EndpointNotFound('Could not find requested endpoint'), status=None,
         transient=False, text='Could not find requested endpoint'),
]


@table(PROXY_ERRORS)
def test_proxy_creation_errors_become_nova_errors(case):
    """openstacksdk authenticates when conn.compute is first used: that failure is a NovaError too."""
    api = nova.NovaApi(fakes.RefusingConn(case['error']))
    for call in (api.versions, lambda: api.find_server('vm1'), lambda: api.compute_service('cmp2'),
                 lambda: api.inventories('rp-cmp2')):
        with pytest.raises(NovaError) as info:
            call()
        e = info.value
        assert e.status == case['status'] and e.transient is case['transient']
        assert e.msg.startswith('Connecting to the cloud (')
        assert case['text'] in e.msg


def api_and_cloud(**kw):
    cloud = fakes.FakeCloud(FakeClock(), **kw)
    return nova.NovaApi(fakes.FakeConn(cloud)), cloud


def test_api_versions_and_servers():
    api, cloud = api_and_cloud(high=(2, 96))
    assert api.versions() == ((2, 1), (2, 96))
    assert api.find_server('vm1')['id'] == fakes.UUID
    assert api.find_server(fakes.UUID)['name'] == 'vm1'
    assert api.find_server('nope') is None
    assert cloud.called('find_server')[0][2] == {'all_projects': True}


def test_api_services_hypervisors_placement():
    api, cloud = api_and_cloud()
    assert api.compute_service('cmp2')['state'] == 'up'
    assert api.compute_service('cmp9') is None
    assert api.compute_hosts() == ['cmp1', 'cmp2']
    assert api.hypervisor('cmp2') == ('hyp-cmp2', 'cmp2.lab')
    assert api.hypervisor('cmp9') == (None, None)
    assert api.resource_provider('cmp2.lab') == ('rp-cmp2', 'cmp2.lab')
    assert api.resource_provider('nope', 'rp-cmp1') == ('rp-cmp1', 'cmp1.lab')
    assert api.inventories('rp-cmp2')['VCPU']['allocation_ratio'] == 4.0
    assert api.usages('rp-cmp2') == {'VCPU': 0, 'MEMORY_MB': 0, 'DISK_GB': 0}


def test_api_migrations_newest_first_and_in_progress():
    api, cloud = api_and_cloud()
    for mid, status in ((5, 'completed'), (9, 'running'), (7, 'error')):
        cloud.migrations.append({'id': mid, 'uuid': 'm%d' % mid, 'instance_uuid': fakes.UUID,
                                 'migration_type': 'live-migration', 'status': status, 'source_compute': 'cmp1',
                                 'dest_compute': 'cmp2', 'memory_total_bytes': 10})
    records = api.migrations(server_id=fakes.UUID)
    assert [m['id'] for m in records] == [9, 7, 5]
    assert records[0]['memory_total_bytes'] is None, '/os-migrations has no progress bytes'
    assert api.migrations(server_id=fakes.UUID, limit=1)[0]['id'] == 9
    assert api.new_migration(fakes.UUID, {5, 7, 9}) is None
    assert api.new_migration(fakes.UUID, {5, 7})['id'] == 9
    assert api.in_progress(fakes.UUID, 9)['memory_total_bytes'] == 10
    assert api.in_progress(fakes.UUID, 5) is None, 'finished: 404 from /servers/{id}/migrations/{mid}'
    assert api.migration_record(fakes.UUID, 5)['status'] == 'completed'
    assert [m['id'] for m in api.server_migrations(fakes.UUID)] == [9]
    assert api.migrations(host='cmp3') == []


def test_api_actions():
    api, cloud = api_and_cloud()
    cloud.actions[fakes.UUID] = [
        {'action': 'live-migration', 'request_id': 'req-1', 'start_time': '2025-01-01T00:00:01', 'message': None,
         'events': [{'event': 'compute_live_migration', 'result': 'Error', 'traceback': 'T\n  x\nError: boom',
                     'details': None}]},
        {'action': 'live-migration', 'request_id': 'req-2', 'start_time': '2025-01-01T00:00:02', 'message': 'Error',
         'events': [{'event': 'conductor_live_migrate_instance', 'result': 'Error', 'details': 'pre-check'}]},
        {'action': 'stop', 'request_id': 'req-3', 'start_time': '2025-01-01T00:00:03', 'events': []},
    ]
    assert api.action(fakes.UUID, 'req-1')['request_id'] == 'req-1'
    assert api.action(fakes.UUID)['request_id'] == 'req-2', 'newest of the kind'
    assert api.action(fakes.UUID, 'req-missing')['request_id'] == 'req-2'
    assert [a['request_id'] for a in api.actions(fakes.UUID)] == ['req-2', 'req-1']
    assert views.event_reasons(api.action(fakes.UUID, 'req-1')) == ['compute_live_migration: Error: boom']
    assert views.event_reasons(api.action(fakes.UUID, 'req-2')) == ['conductor_live_migrate_instance: pre-check']
    assert views.event_reasons({'message': 'Error', 'events': []}) == ['Error']
    assert views.event_reasons(None) == []
    assert views.event_reasons({'events': [{'event': 'compute_rollback_live_migration_at_destination', 'host': 'cmp2',
                                            'result': 'Error', 'details': None,
                                            'traceback': 'T\nnova.exception.HypervisorUnavailable: Connection to the '
                                                         'hypervisor is broken on host'}]}) == [
        'compute_rollback_live_migration_at_destination on cmp2: nova.exception.HypervisorUnavailable: Connection to '
        'the hypervisor is broken on host']


def test_api_write_calls():
    api, cloud = api_and_cloud()
    cloud.plan = fakes.success_plan()
    request_id = api.live_migrate(fakes.UUID, {'host': 'cmp2', 'block_migration': True}, '2.68')
    assert request_id == 'req-100'
    call = cloud.called('post')[0]
    assert call[1] == ('/servers/%s/action' % fakes.UUID,)
    assert call[2] == {'json': {'os-migrateLive': {'host': 'cmp2', 'block_migration': True}}, 'microversion': '2.68'}
    cloud.clock.sleep(1.5)
    api.force_complete(fakes.UUID, 100)
    api.reset_state_active(fakes.UUID)
    assert cloud.servers[fakes.UUID]['OS-EXT-STS:vm_state'] == 'active'


def test_api_abort_refused_is_a_nova_error():
    api, cloud = api_and_cloud()
    cloud.plan = fakes.success_plan()
    api.live_migrate(fakes.UUID, {'host': 'cmp2', 'block_migration': True}, '2.68')
    with pytest.raises(NovaError) as e:
        api.abort(fakes.UUID, 100)       # still 'accepted': not in progress
    assert e.value.status == 404


def test_api_trigger_refused():
    api, cloud = api_and_cloud()
    cloud.trigger_error = (400, 'Compute host cmp9 could not be found.')
    with pytest.raises(NovaError) as e:
        api.live_migrate(fakes.UUID, {'host': 'cmp9', 'block_migration': True}, '2.68')
    assert e.value.status == 400 and 'cmp9 could not be found' in e.value.msg


def test_api_transient_errors_are_marked():
    api, cloud = api_and_cloud()
    cloud.flaky = 1
    with pytest.raises(NovaError) as e:
        api.get_server(fakes.UUID)
    assert e.value.transient and e.value.status == 503
    assert api.get_server(fakes.UUID)['id'] == fakes.UUID


def test_migration_view_calls_nova_dest_host_dest_address():
    """One name, one meaning: dest_host is the destination compute host in every result; the record's
    IP address (Nova's dest_host) is dest_address."""
    view = views.migration_view({'id': 5, 'dest_compute': 'cmp2', 'dest_host': '10.0.0.2', 'server_uuid': 'u1'})
    assert view['dest_address'] == '10.0.0.2' and view['dest_compute'] == 'cmp2' and 'dest_host' not in view


def test_servers_in_all_projects_and_on_one_host():
    clock = FakeClock()
    cloud = fakes.FakeCloud(clock, servers=[fakes.server_json(), fakes.server_json(
        id='u2', name='vm2', **{'OS-EXT-SRV-ATTR:host': 'cmp2'})])
    api = nova.NovaApi(fakes.FakeConn(cloud))
    assert sorted(s['name'] for s in api.servers()) == ['vm1', 'vm2']
    assert [s['id'] for s in api.servers(host='cmp2')] == ['u2']
    assert cloud.called('servers')[0][2]['all_projects'] is True


def test_migrations_changed_since_a_unix_time():
    clock = FakeClock()
    cloud = fakes.FakeCloud(clock)
    for mid, created in ((1, '2025-01-01T00:00:00.000000'), (2, '2025-06-01T00:00:00.000000')):
        cloud.migrations.append({'id': mid, 'instance_uuid': fakes.UUID, 'migration_type': 'live-migration',
                                 'status': 'completed', 'created_at': created, 'updated_at': None})
    api = nova.NovaApi(fakes.FakeConn(cloud))
    assert [m['id'] for m in api.migrations(changes_since=1735689600 + 86400)] == [2]   # after 2025-01-02
    assert cloud.called('migrations')[-1][2]['changes_since'] == '2025-01-02T00:00:00Z'
