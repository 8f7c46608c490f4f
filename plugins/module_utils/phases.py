# -*- coding: utf-8 -*-
# Copyright: (c) 2025, openstack_ops developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The phase of a migration, one definition for the samples, the progress lines and the report.

While data moves: ``setup`` (nothing copied yet: the NBD export is being set up), ``disk`` (the
block copy), ``memory`` (RAM passes; data_total is then disk + memory). ``finishing``: libvirt's job
on the source is over while Nova still finishes on the destination. A libvirt job that is not running
has its type as its phase (none, completed, failed, cancelled).

Seen with libvirt 9.0 / QEMU 7.2: setup (all zero), disk copy (only disk_* move), memory copy
(memory_* move). Nova's progress bytes (2.23+) tell the same, coarser.
"""

from __future__ import annotations

SETUP = 'setup'
DISK = 'disk'
MEMORY = 'memory'
FINISHING = 'finishing'
RUNNING_JOB_TYPES = ('bounded', 'unbounded')


def job_phase(job):
    """The phase from a normalised libvirt job (libvirt_jobs.normalise)."""
    jtype = job.get('type')
    if jtype not in RUNNING_JOB_TYPES:
        return jtype or 'none'
    if (job.get('memory_processed') or 0) > 0 or (job.get('memory_total') or 0) > 0:
        return MEMORY
    if (job.get('disk_total') or 0) > 0 or (job.get('disk_processed') or 0) > 0:
        return DISK
    return SETUP


def nova_phase(nova, status):
    """The phase from Nova's progress bytes of a migration record (None when it says nothing)."""
    if not nova:
        return None
    if (nova.get('memory_processed_bytes') or 0) > 0:
        return MEMORY
    if (nova.get('disk_total_bytes') or 0) > 0:
        return DISK
    return SETUP if status == 'running' else None
