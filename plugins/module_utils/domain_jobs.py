# -*- coding: utf-8 -*-
# Copyright: (c) 2025, openstack_ops developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The migration jobs of one host, read the way an operator reads them (``virsh list`` and
``virsh domjobinfo``), and the bounded wait for them to end before libvirtd or nova-compute
restarts.

Restarting libvirtd in the middle of a migration makes libvirt lose the job (the migration
fails, or goes on in QEMU with nobody watching it); restarting nova-compute kills the thread
that monitors it, and the server stays in ``migrating``. So the restart handlers wait, with a
bound, until neither an outgoing nor an incoming migration runs on the host.

This runs on the compute node: it has virsh, and maybe no libvirt-python for its system Python
(nova may live in a venv). Python 3.6 (EL7) compatible. ``LC_ALL=C`` keeps virsh's labels English.
"""

# This code runs on the compute nodes, EL7's Python 3.6 among them (ansible-core 2.16): no
# `from __future__ import annotations` (Python 3.7+) here, unlike the controller-side modules.
from __future__ import absolute_import, division, print_function


def parse_domjobinfo(text):
    """``virsh domjobinfo`` text -> {label: value}, such as {'Job type': 'Unbounded',
    'Operation': 'Outgoing migration', 'Time elapsed': '1234 ms'}."""
    fields = {}
    for line in text.splitlines():
        label, sep, value = line.partition(":")
        if sep and label.strip():
            fields[label.strip()] = " ".join(value.split())
    return fields


def migration_of(fields):
    """The operation when the job is a migration ('Outgoing migration', 'Incoming migration'),
    else None. libvirt before 3.3 prints no Operation line: any job of a domain is then taken
    as a migration (the wait is cautious, never the other way)."""
    job_type = fields.get("Job type", "None")
    if job_type in ("None", ""):
        return None
    operation = fields.get("Operation")
    if operation is None:
        return "a job (type %s; this libvirt does not say which)" % job_type
    return operation if "migration" in operation.lower() else None


def incoming_from_error(error):
    """The destination's libvirt refuses domjobinfo for an incoming migration (libvirt 9.0: "migration
    statistics are available only on the source host"): that refusal is the incoming migration."""
    return "Incoming migration" if "only on the source host" in (error or "") else None


def migration_from_state(text):
    """``virsh domstate --reason`` text -> the migration it shows, else None: an incoming domain
    waits 'paused (migrating)'; a post-copy migration shows '(post-copy)' on either side."""
    state = " ".join((text or "").split())
    if "post-copy" in state:
        return "Post-copy migration (%s)" % state
    if state == "paused (migrating)":
        return "Incoming migration"
    return None


def describe(jobs):
    """'instance-00000001 (Outgoing migration, 12 s)', ... for a message."""
    return ", ".join(
        "%s (%s%s)" % (j["domain"], j["operation"], (", %s" % j["elapsed"]) if j.get("elapsed") else "")
        for j in jobs)


def wait_for_migrations(read_jobs, clock, sleep, timeout, interval):
    """Poll ``read_jobs()`` (a list of {'domain', 'operation', 'elapsed'}) until it is empty
    or ``timeout`` seconds have passed. Returns (jobs still running, seconds waited, every
    domain seen migrating). ``clock``/``sleep`` are injected: time.monotonic/time.sleep on a
    node, a fake clock in the unit tests."""
    start = clock()
    seen = []
    while True:
        jobs = read_jobs()
        for job in jobs:
            if job["domain"] not in seen:
                seen.append(job["domain"])
        waited = clock() - start
        if not jobs or waited >= timeout:
            return jobs, waited, seen
        sleep(min(interval, max(timeout - waited, 0)))
