# -*- coding: utf-8 -*-
# Copyright: (c) 2025, openstack_ops developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""libvirt job statistics of a migrating domain, read-only.

The libvirt domain UUID is the Nova instance UUID. ``dom.jobStats()`` is
normalised into one schema (``normalise``). What the end of a job looks like
(libvirt 9.0 / QEMU 7.2): the job type becomes NONE, or the call fails with
OPERATION_INVALID ("domain is not running") or NO_DOMAIN once
VIR_MIGRATE_UNDEFINE_SOURCE removed the domain (Nova sets that flag). The
source's completed statistics are then gone: ``JobTracker`` keeps the last
sample; the destination may still have its completed stats (operation
migration_in, no disk fields). Success is never decided from libvirt.
"""

from __future__ import annotations

import threading
import traceback

from ansible_collections.openstack_ops.live_migration.plugins.module_utils.formatting import progress_core
from ansible_collections.openstack_ops.live_migration.plugins.module_utils.phases import RUNNING_JOB_TYPES, job_phase

try:
    import libvirt
    HAS_LIBVIRT = True
    LIBVIRT_IMPORT_ERROR = None
except ImportError:
    libvirt = None
    HAS_LIBVIRT = False
    LIBVIRT_IMPORT_ERROR = traceback.format_exc()

# virDomainJobType
JOB_TYPES = {0: 'none', 1: 'bounded', 2: 'unbounded', 3: 'completed', 4: 'failed', 5: 'cancelled'}
# virDomainJobOperation
OPERATIONS = {0: 'unknown', 1: 'start', 2: 'save', 3: 'restore', 4: 'migration_in', 5: 'migration_out',
              6: 'snapshot', 7: 'snapshot_revert', 8: 'dump', 9: 'backup', 10: 'snapshot_delete'}
# virDomainState
DOMAIN_STATES = {0: 'nostate', 1: 'running', 2: 'blocked', 3: 'paused', 4: 'shutdown', 5: 'shutoff',
                 6: 'crashed', 7: 'pmsuspended'}

# Numeric libvirt error codes (virErrorNumber), stable across versions.
VIR_ERR_OPERATION_INVALID = 55
VIR_ERR_NO_DOMAIN = 42
VIR_DOMAIN_JOB_STATS_COMPLETED = 1
VIR_DOMAIN_JOB_STATS_KEEP_COMPLETED = 2

# A hypervisor that vanishes (powered off, cable pulled) never closes its TCP connection: without
# keepalive a read on it would hang until the kernel gives up (many minutes). With these, libvirt
# closes the connection after about KEEPALIVE_INTERVAL_S * (KEEPALIVE_COUNT + 1) s without an answer,
# and the read fails (the next one reconnects). Keepalive needs a client event loop: event_loop().
KEEPALIVE_INTERVAL_S = 5
KEEPALIVE_COUNT = 3
_EVENT_LOOP = {'started': False}
_EVENT_LOOP_LOCK = threading.Lock()

# Our key -> jobStats() key. Times in ms, sizes in bytes, rates in bytes/s
# except memory_dirty_rate (pages/s).
FIELDS = (
    ('elapsed_ms', 'time_elapsed'),
    ('remaining_ms', 'time_remaining'),
    ('setup_ms', 'setup_time'),
    ('downtime_ms', 'downtime'),
    ('data_total', 'data_total'),
    ('data_processed', 'data_processed'),
    ('data_remaining', 'data_remaining'),
    ('disk_total', 'disk_total'),
    ('disk_processed', 'disk_processed'),
    ('disk_remaining', 'disk_remaining'),
    ('disk_bps', 'disk_bps'),
    ('memory_total', 'memory_total'),
    ('memory_processed', 'memory_processed'),
    ('memory_remaining', 'memory_remaining'),
    ('memory_bps', 'memory_bps'),
    ('memory_dirty_rate', 'memory_dirty_rate'),
    ('memory_page_size', 'memory_page_size'),
    ('memory_iteration', 'memory_iteration'),
    ('memory_constant', 'memory_constant'),
    ('memory_normal', 'memory_normal'),
    ('memory_normal_bytes', 'memory_normal_bytes'),
    ('memory_postcopy_requests', 'memory_postcopy_requests'),
    ('auto_converge_throttle', 'auto_converge_throttle'),
)
SCHEMA = ('type', 'operation', 'phase') + tuple(ours for ours, theirs in FIELDS) + ('memory_dirty_bps', 'errmsg')


def render_uri(template, host, node=None, addresses=None):
    """Fill a URI template: {host} is Nova's compute host, {node} the hypervisor hostname.

    addresses maps a Nova compute host (or hypervisor) name to the address or name that
    reaches its libvirt from where the module runs, for names that do not resolve there.
    Any other {placeholder} is an error, so a typo does not silently
    connect somewhere else.
    """
    if not template:
        return None
    addresses = addresses or {}
    if ('{host}' in template and not host) or ('{node}' in template and not (node or host)):
        raise ValueError('libvirt_uri %r needs a host name that is not known' % template)
    h = addresses.get(host, host) if host else ''
    n = addresses.get(node or host, node or host) if (node or host) else ''
    out = template.replace('{host}', h).replace('{node}', n)
    others = template.replace('{host}', '').replace('{node}', '')
    if '{' in others or '}' in others:
        raise ValueError('libvirt_uri %r has an unknown placeholder: only {host} and {node} are filled in' % template)
    return out


def normalise(raw):
    """dom.jobStats() dict -> our schema (absent values are None, never invented)."""
    raw = raw or {}
    job = {'type': JOB_TYPES.get(raw.get('type', 0), 'unknown'),
           'operation': OPERATIONS.get(raw.get('operation'), None) if 'operation' in raw else None}
    for ours, theirs in FIELDS:
        value = raw.get(theirs)
        job[ours] = int(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None
    if job['memory_dirty_rate'] is not None and job['memory_page_size']:
        job['memory_dirty_bps'] = job['memory_dirty_rate'] * job['memory_page_size']
    else:
        job['memory_dirty_bps'] = None
    job['errmsg'] = raw.get('errmsg')
    job['phase'] = job_phase(job)
    return job


def rate_bps(prev, cur):
    """Transfer rate in bytes/s: libvirt's memory_bps in the memory phase,
    else the growth of data (or disk) processed between two samples."""
    if cur is None:
        return None
    if cur.get('phase') == 'memory' and cur.get('memory_bps'):
        return float(cur['memory_bps'])
    if prev is None:
        return None
    dt = ((cur.get('elapsed_ms') or 0) - (prev.get('elapsed_ms') or 0)) / 1000.0
    if dt <= 0:
        return None
    for key in ('data_processed', 'disk_processed'):
        if cur.get(key) is not None and prev.get(key) is not None:
            delta = cur[key] - prev[key]
            if delta >= 0:
                return delta / dt
    return None


def eta_s(remaining, bps):
    if remaining is None or not bps or bps <= 0:
        return None
    return remaining / float(bps)


class Reading(object):
    """One poll of the source: kind is 'job', 'ended', 'absent' or 'error'."""

    def __init__(self, kind, job=None, message=None):
        self.kind = kind
        self.job = job
        self.message = message

    def __repr__(self):
        return 'Reading(%r, %r, %r)' % (self.kind, self.job, self.message)


class LibvirtUnavailable(Exception):
    pass


class LibvirtJobReader(object):
    """Read-only access to one hypervisor's libvirt.

    ``lib`` is the libvirt module (injectable for tests). The connection is
    opened read-only: jobStats(), state() and lookups need nothing more, and
    a poller must not be able to change anything.
    """

    def __init__(self, uri, lib=None):
        self.uri = uri
        self.lib = lib if lib is not None else libvirt
        self.conn = None

    def open(self):
        if self.lib is None:
            raise LibvirtUnavailable('the libvirt Python bindings (libvirt-python) are not installed')
        if self.conn is None:
            if hasattr(self.lib, 'registerErrorHandler'):
                # libvirt prints every error on stderr by default; we report them ourselves
                self.lib.registerErrorHandler(_quiet, None)
            keepalive = event_loop(self.lib)
            try:
                self.conn = self.lib.openReadOnly(self.uri)
            except self.lib.libvirtError as e:
                raise LibvirtUnavailable('cannot connect to %s: %s' % (self.uri, _errtext(e)))
            if self.conn is None:
                raise LibvirtUnavailable('cannot connect to %s' % self.uri)
            if keepalive:
                try:
                    self.conn.setKeepAlive(KEEPALIVE_INTERVAL_S, KEEPALIVE_COUNT)
                except self.lib.libvirtError:
                    pass   # a local (qemu:///) connection has no keepalive: nothing to guard there
        return self.conn

    def close(self):
        if self.conn is not None:
            try:
                self.conn.close()
            except Exception:  # closing a broken connection must not hide the real outcome
                pass
            self.conn = None

    def _domain(self, uuid):
        return self.open().lookupByUUIDString(uuid)

    def domain_state(self, uuid):
        """'running', 'paused', ... or 'absent' when the domain is not defined here."""
        try:
            state = self._domain(uuid).state()
        except self.lib.libvirtError as e:
            if _errcode(e) == VIR_ERR_NO_DOMAIN:
                return 'absent'
            raise LibvirtUnavailable('%s: %s' % (self.uri, _errtext(e)))
        return DOMAIN_STATES.get(state[0], 'unknown')

    def stats(self, uuid, completed=False):
        """Raw jobStats() of the domain (libvirtError propagates). ``completed``
        asks for the last completed job's stats and keeps them for other readers."""
        flags = VIR_DOMAIN_JOB_STATS_COMPLETED | VIR_DOMAIN_JOB_STATS_KEEP_COMPLETED if completed else 0
        return self._domain(uuid).jobStats(flags)

    def read(self, uuid):
        """Poll the current job; never raises on libvirt errors."""
        try:
            raw = self.stats(uuid)
        except LibvirtUnavailable as e:
            return Reading('error', message=str(e))
        except self.lib.libvirtError as e:
            code = _errcode(e)
            if code == VIR_ERR_NO_DOMAIN:
                return Reading('absent', message=_errtext(e))
            if code == VIR_ERR_OPERATION_INVALID:
                return Reading('ended', message=_errtext(e))
            # a broken connection: drop it, the next read reconnects
            self.close()
            return Reading('error', message=_errtext(e))
        job = normalise(raw)
        if job['type'] in RUNNING_JOB_TYPES:
            return Reading('job', job=job)
        return Reading('ended', job=job)

    def completed(self, uuid):
        """The completed job's stats kept by libvirt (e.g. migration_in on the destination), or None."""
        try:
            raw = self.stats(uuid, completed=True)
        except (self.lib.libvirtError, LibvirtUnavailable):
            return None
        job = normalise(raw)
        return job if job['type'] == 'completed' else None


def job_info(reader, uuid, completed=False):
    """What libvirt_job_info returns for one domain (raises LibvirtUnavailable)."""
    out = {'uri': reader.uri, 'server_id': uuid, 'domain_state': reader.domain_state(uuid),
           'job': None, 'raw': None, 'line': None, 'note': None}
    if out['domain_state'] == 'absent':
        out['note'] = 'no domain with this UUID on %s' % reader.uri
        return out
    try:
        raw = reader.stats(uuid, completed=completed)
    except reader.lib.libvirtError as e:
        if _errcode(e) in (VIR_ERR_OPERATION_INVALID, VIR_ERR_NO_DOMAIN):
            out['note'] = _errtext(e)
            return out
        raise LibvirtUnavailable('%s: %s' % (reader.uri, _errtext(e)))
    job = normalise(raw)
    out['raw'] = dict(raw or {})
    out['job'] = job
    bps = rate_bps(None, job)
    flat = dict(job, bps=bps, eta_s=eta_s(job.get('data_remaining'), bps))
    out['line'] = progress_core(flat) if job['type'] in RUNNING_JOB_TYPES else 'no job running (%s)' % job['type']
    return out


class JobTracker(object):
    """Follows the readings of one migration on the source.

    Before the job starts (Nova is still preparing the destination) the
    source shows type NONE; that is not the end. Once a running job was
    seen, NONE, OPERATION_INVALID or NO_DOMAIN mean it ended, and the last
    running sample is what we keep.
    """

    def __init__(self):
        self.seen_running = False
        self.ended = False
        self.last = None
        self.prev = None
        self.jobs = []
        self.errors = 0
        self.last_error = None

    def feed(self, reading):
        """Returns the new running sample, or None."""
        if reading.kind == 'job':
            self.seen_running = True
            self.ended = False
            self.prev, self.last = self.last, reading.job
            self.jobs.append(reading.job)
            return reading.job
        if reading.kind == 'error':
            self.errors += 1
            self.last_error = reading.message
            return None
        if self.seen_running and reading.kind in ('ended', 'absent'):
            self.ended = True
        return None

    def bps(self):
        return rate_bps(self.prev, self.last)

    def eta_s(self):
        if self.last is None:
            return None
        return eta_s(self.last.get('data_remaining'), self.bps())

    def disk_ever_seen(self):
        return any((j.get('disk_total') or 0) > 0 for j in self.jobs)


def summarise_job(last, completed=None, jobs=None):
    """The final job figures.

    Times (elapsed, downtime) come from libvirt's completed statistics when
    we have them (the destination keeps its incoming job's), since the
    source's vanish with its domain; byte counts from whichever saw more,
    as the destination's have no disk fields.
    """
    base = completed or last
    if not base:
        return None
    jobs = jobs or []
    out = dict((k, base.get(k)) for k in SCHEMA)
    if completed and last:
        for key in ('data_total', 'data_processed', 'disk_total', 'disk_processed'):
            if (last.get(key) or 0) > (out.get(key) or 0):
                out[key] = last.get(key)
    out['source'] = 'completed' if completed else 'last_sample'
    elapsed = out.get('elapsed_ms')
    processed = out.get('data_processed')
    out['avg_bps'] = int(processed * 1000.0 / elapsed) if processed and elapsed else None
    out['iterations'] = max([j.get('memory_iteration') or 0 for j in jobs + [base]] or [0]) or None
    out['disk_total_max'] = max([j.get('disk_total') or 0 for j in jobs + [base]] or [0])
    return out


def event_loop(lib):
    """Start libvirt's default event loop once per process (a daemon thread), which client keepalive
    needs; False when this libvirt module has none (the unit tests' stand-in)."""
    if not hasattr(lib, 'virEventRegisterDefaultImpl'):
        return False
    with _EVENT_LOOP_LOCK:
        if not _EVENT_LOOP['started']:
            lib.virEventRegisterDefaultImpl()

            def run():
                while True:
                    lib.virEventRunDefaultImpl()
            threading.Thread(target=run, name='libvirt-events', daemon=True).start()
            _EVENT_LOOP['started'] = True
    return True


def _quiet(ctx, err):
    return None


def _errcode(e):
    try:
        return e.get_error_code()
    except Exception:  # not a libvirtError after all
        return None


def _errtext(e):
    try:
        return e.get_error_message() or str(e)
    except Exception:  # not a libvirtError after all
        return str(e)
