# -*- coding: utf-8 -*-
# Copyright: (c) 2025, openstack_ops developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

import pytest

from ansible_collections.openstack_ops.live_migration.plugins.module_utils import libvirt_jobs as lj
from ansible_collections.openstack_ops.live_migration.tests.unit.plugins import fakes
from ansible_collections.openstack_ops.live_migration.tests.unit.plugins.fakes import MiB, jobstats
from ansible_collections.openstack_ops.live_migration.tests.unit.plugins.table import FakeClock, table

# Samples shaped like libvirt 9.0 / QEMU 7.2 during a block live migration (128 MiB disk, 256 MiB RAM).
SETUP = jobstats(150)
DISK = jobstats(900, disk_total=128 * MiB, disk_done=64 * MiB)
MEMORY = jobstats(2300, disk_total=128 * MiB, disk_done=128 * MiB, mem_total=256 * MiB, mem_done=176 * MiB,
                  bps=240 * MiB, iteration=1, dirty_rate=2500)
DEST_DONE = fakes.completed_in(2600, 256 * MiB)

NORMALISE = [
    dict(id='setup: all zero', raw=SETUP, expect=dict(type='unbounded', operation='migration_out', phase='setup',
                                                      elapsed_ms=150, data_total=0, disk_total=0)),
    dict(id='disk copy', raw=DISK, expect=dict(phase='disk', disk_total=128 * MiB, disk_processed=64 * MiB,
                                               disk_remaining=64 * MiB, memory_total=0, data_remaining=64 * MiB)),
    dict(id='memory copy', raw=MEMORY, expect=dict(
        phase='memory', data_total=384 * MiB, data_remaining=80 * MiB, memory_remaining=80 * MiB,
        memory_bps=240 * MiB, memory_iteration=1, memory_dirty_rate=2500, memory_dirty_bps=2500 * 4096,
        downtime_ms=300, setup_ms=12, memory_page_size=4096, disk_bps=None)),
    dict(id='destination completed, no disk fields', raw=DEST_DONE, expect=dict(
        type='completed', operation='migration_in', phase='completed', downtime_ms=35, disk_total=None)),
    dict(id='type none', raw={'type': 0}, expect=dict(type='none', phase='none', operation=None, elapsed_ms=None)),
    dict(id='failed with errmsg', raw={'type': 4, 'operation': 5, 'errmsg': 'migration failed'},
         expect=dict(type='failed', phase='failed', errmsg='migration failed')),
    dict(id='cancelled', raw={'type': 5}, expect=dict(type='cancelled', phase='cancelled')),
    dict(id='bounded counts as running', raw=dict(DISK, type=1), expect=dict(type='bounded', phase='disk')),
    dict(id='memory phase without disk (shared storage)', raw=jobstats(500, mem_total=256 * MiB, mem_done=1),
         expect=dict(phase='memory', disk_total=0)),
    dict(id='unknown type', raw={'type': 9}, expect=dict(type='unknown')),
    dict(id='bool is not a number', raw={'type': 2, 'memory_bps': True}, expect=dict(memory_bps=None)),
    dict(id='empty', raw=None, expect=dict(type='none', phase='none')),
]


@table(NORMALISE)
def test_normalise(case):
    job = lj.normalise(case['raw'])
    assert set(job) == set(lj.SCHEMA)
    for key, value in case['expect'].items():
        assert job[key] == value, key


URIS = [
    dict(id='host', template='qemu+tcp://{host}/system', host='cmp1', expected='qemu+tcp://cmp1/system'),
    dict(id='node', template='qemu+tls://{node}/system', host='cmp1', node='cmp1.lab', expected='qemu+tls://cmp1.lab/system'),
    dict(id='node falls back to host', template='qemu+ssh://root@{node}/system', host='cmp1',
         expected='qemu+ssh://root@cmp1/system'),
    dict(id='literal', template='qemu:///system', host='cmp1', expected='qemu:///system'),
    dict(id='unset', template=None, host='cmp1', expected=None),
    dict(id='unknown placeholder', template='qemu+tcp://{hostname}/system', host='cmp1', error='unknown placeholder'),
    dict(id='host unknown', template='qemu+tcp://{host}/system', host=None, error='needs a host name'),
    dict(id='address of the host', template='qemu+tcp://{host}/system', host='cmp1',
         addresses={'cmp1': '198.18.20.11'}, expected='qemu+tcp://198.18.20.11/system'),
    dict(id='address of the node falls back to host', template='qemu+tls://{node}/system', host='cmp1',
         addresses={'cmp1': 'cmp1.mgmt'}, expected='qemu+tls://cmp1.mgmt/system'),
    dict(id='host not in the addresses keeps its name', template='qemu+tcp://{host}/system', host='cmp2',
         addresses={'cmp1': '198.18.20.11'}, expected='qemu+tcp://cmp2/system'),
    dict(id='an address with braces is not a placeholder', template='qemu+tcp://{host}/system', host='cmp1',
         addresses={'cmp1': '[2001:db8::1]'}, expected='qemu+tcp://[2001:db8::1]/system'),
]


@table(URIS)
def test_render_uri(case):
    if case.get('error'):
        with pytest.raises(ValueError) as e:
            lj.render_uri(case['template'], case['host'], case.get('node'), case.get('addresses'))
        assert case['error'] in str(e.value)
    else:
        assert lj.render_uri(case['template'], case['host'], case.get('node'), case.get('addresses')) == case['expected']


def n(raw):
    return lj.normalise(raw)


RATES = [
    dict(id='memory phase uses memory_bps', prev=n(DISK), cur=n(MEMORY), expected=240 * MiB),
    dict(id='disk phase from the growth', prev=n(jobstats(500, 128 * MiB, 32 * MiB)),
         cur=n(jobstats(1000, 128 * MiB, 64 * MiB)), expected=64 * MiB),
    dict(id='first sample in disk phase', prev=None, cur=n(DISK), expected=None),
    dict(id='no time passed', prev=n(DISK), cur=n(DISK), expected=None),
    dict(id='no sample', prev=n(DISK), cur=None, expected=None),
]


@table(RATES)
def test_rate_bps(case):
    assert lj.rate_bps(case['prev'], case['cur']) == case['expected']


def test_eta():
    assert lj.eta_s(80 * MiB, 40 * MiB) == 2.0
    assert lj.eta_s(None, 1) is None and lj.eta_s(1, 0) is None and lj.eta_s(1, None) is None


R = lj.Reading
TRACKER = [
    dict(id='type none before the job is not the end', readings=[R('ended', n({'type': 0}))], ended=False, last=None),
    dict(id='job then type none', readings=[R('job', n(DISK)), R('job', n(MEMORY)), R('ended', n({'type': 0}))],
         ended=True, last='memory'),
    dict(id='job then no domain (UNDEFINE_SOURCE)', readings=[R('job', n(MEMORY)), R('absent', message='gone')],
         ended=True, last='memory'),
    dict(id='job then not running', readings=[R('job', n(DISK)), R('ended', message='domain is not running')],
         ended=True, last='disk'),
    dict(id='errors keep the last sample', readings=[R('job', n(DISK)), R('error', message='broken')],
         ended=False, last='disk', errors=1),
    dict(id='a new job after an end', readings=[R('job', n(DISK)), R('ended'), R('job', n(MEMORY))],
         ended=False, last='memory'),
]


@table(TRACKER)
def test_job_tracker(case):
    t = lj.JobTracker()
    for reading in case['readings']:
        t.feed(reading)
    assert t.ended is case['ended']
    assert (t.last or {}).get('phase') == case['last']
    assert t.errors == case.get('errors', 0)


def test_tracker_rates_and_disk_seen():
    t = lj.JobTracker()
    t.feed(R('job', n(DISK)))
    t.feed(R('job', n(MEMORY)))
    assert t.bps() == 240 * MiB and abs(t.eta_s() - 80 / 240.0) < 1e-9 and t.disk_ever_seen()


def test_summarise_job_prefers_completed_times_and_larger_totals():
    last = n(MEMORY)
    out = lj.summarise_job(last, n(DEST_DONE), [n(DISK), last])
    assert out['source'] == 'completed'
    assert out['downtime_ms'] == 35 and out['elapsed_ms'] == 2600
    assert out['data_total'] == 384 * MiB and out['disk_total'] == 128 * MiB
    assert out['iterations'] == 2 and out['disk_total_max'] == 128 * MiB
    assert out['avg_bps'] == int(out['data_processed'] * 1000.0 / 2600)
    only = lj.summarise_job(last, None, [last])
    assert only['source'] == 'last_sample' and only['downtime_ms'] == 300
    assert lj.summarise_job(None, None, []) is None


def reader_on(cloud, uri='qemu+tcp://cmp1/system'):
    return lj.LibvirtJobReader(uri, lib=fakes.FakeLibvirt(cloud))


def test_reader_readings_follow_the_domain():
    clock = FakeClock()
    cloud = fakes.FakeCloud(clock)
    r = reader_on(cloud)
    assert r.domain_state(fakes.UUID) == 'running'
    assert r.read(fakes.UUID).kind == 'ended'           # type NONE: nothing running
    cloud.domains['cmp1'][fakes.UUID]['job'] = MEMORY
    reading = r.read(fakes.UUID)
    assert reading.kind == 'job' and reading.job['phase'] == 'memory'
    cloud.domains['cmp1'][fakes.UUID]['state'] = 5
    assert r.read(fakes.UUID).kind == 'ended'           # OPERATION_INVALID: domain is not running
    del cloud.domains['cmp1'][fakes.UUID]
    assert r.read(fakes.UUID).kind == 'absent'          # NO_DOMAIN after UNDEFINE_SOURCE
    assert r.domain_state(fakes.UUID) == 'absent'
    r.close()


def test_reader_connection_errors():
    clock = FakeClock()
    cloud = fakes.FakeCloud(clock)
    cloud.libvirt_down.add('cmp1')
    r = reader_on(cloud)
    with pytest.raises(lj.LibvirtUnavailable) as e:
        r.domain_state(fakes.UUID)
    assert "unable to connect to server at 'cmp1:16509'" in str(e.value)
    assert r.read(fakes.UUID).kind == 'error'


def test_reader_completed_stats_on_the_destination():
    clock = FakeClock()
    cloud = fakes.FakeCloud(clock)
    cloud.domains['cmp2'][fakes.UUID] = {'state': 1, 'job': None, 'completed': DEST_DONE}
    r = reader_on(cloud, 'qemu+tcp://cmp2/system')
    assert r.completed(fakes.UUID)['downtime_ms'] == 35
    del cloud.domains['cmp2'][fakes.UUID]
    assert r.completed(fakes.UUID) is None


def test_reader_without_bindings():
    r = lj.LibvirtJobReader('qemu:///system', lib=None)
    r.lib = None
    with pytest.raises(lj.LibvirtUnavailable):
        r.open()


def test_job_info():
    clock = FakeClock()
    cloud = fakes.FakeCloud(clock)
    cloud.domains['cmp1'][fakes.UUID]['job'] = MEMORY
    info = lj.job_info(reader_on(cloud), fakes.UUID)
    assert info['domain_state'] == 'running' and info['job']['phase'] == 'memory'
    assert info['line'] == 'disk 128/128 MiB, memory 80 MiB left, 240 MiB/s, ETA 1 s'
    assert info['raw']['memory_bps'] == 240 * MiB
    absent = lj.job_info(reader_on(cloud, 'qemu+tcp://cmp2/system'), fakes.UUID)
    assert absent['domain_state'] == 'absent' and absent['job'] is None and 'no domain' in absent['note']


@pytest.mark.skipif(not lj.HAS_LIBVIRT, reason='libvirt-python not installed')
def test_real_libvirt_test_driver():
    """The real bindings against libvirt's built-in test driver (no daemon): read-only
    open, lookup by UUID, state, NO_DOMAIN, and an unsupported jobStats reported as an error."""
    r = lj.LibvirtJobReader('test:///default')
    uuid = r.open().lookupByName('test').UUIDString()
    assert r.domain_state(uuid) == 'running'
    assert r.domain_state('11111111-2222-3333-4444-555555555555') == 'absent'
    assert r.read('11111111-2222-3333-4444-555555555555').kind == 'absent'
    assert r.read(uuid).kind == 'error'     # the test driver has no job statistics
    with pytest.raises(lj.LibvirtUnavailable):
        lj.job_info(lj.LibvirtJobReader('test:///default'), uuid)
    r.close()
    with pytest.raises(lj.LibvirtUnavailable):
        lj.LibvirtJobReader('qemu+tcp://127.0.0.1:1/system').open()


class _KeepAliveLib(object):
    """A libvirt stand-in with an event loop and a connection that records its keepalive."""

    class libvirtError(Exception):
        pass

    def __init__(self):
        import threading
        self.registered = 0
        self.blocked = threading.Event()
        self.conns = []

    def virEventRegisterDefaultImpl(self):
        self.registered += 1

    def virEventRunDefaultImpl(self):
        self.blocked.wait()   # the real one blocks until an event; this one forever

    def openReadOnly(self, uri):
        lib = self

        class Conn(object):
            keepalive = None

            def setKeepAlive(self, interval, count):
                self.keepalive = (interval, count)

            def close(self):
                return 0
        conn = Conn()
        lib.conns.append(conn)
        return conn


def test_connections_use_keepalive_with_one_event_loop(monkeypatch):
    from ansible_collections.openstack_ops.live_migration.plugins.module_utils import libvirt_jobs as lj
    monkeypatch.setitem(lj._EVENT_LOOP, 'started', False)
    lib = _KeepAliveLib()
    for host in ('a', 'b'):
        lj.LibvirtJobReader('qemu+tcp://%s/system' % host, lib=lib).open()
    assert lib.registered == 1, 'the event loop is registered once per process'
    assert [c.keepalive for c in lib.conns] == [(lj.KEEPALIVE_INTERVAL_S, lj.KEEPALIVE_COUNT)] * 2
