# -*- coding: utf-8 -*-
# Copyright: (c) 2025, openstack_ops developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Placement arithmetic: what a flavor asks for, and whether a resource provider can give it.

Pure functions on plain dicts (``NovaApi.inventories`` and ``usages`` give the provider's side).
"""

from __future__ import annotations

import math


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
