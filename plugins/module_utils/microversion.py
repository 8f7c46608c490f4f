# -*- coding: utf-8 -*-
# Copyright: (c) 2025, openstack_ops developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Compute API microversions: which one to send, which features exist.

Pure functions: the caller passes the min/max versions the cloud announces
(``conn.compute.get_endpoint_data()``) and gets back a plan or a ValueError
whose text is meant for the operator.

What matters for a live migration (Nova API reference):

- 2.22 force-complete, 2.23 progress bytes in migration records, 2.24 abort;
- 2.25 ``block_migration: auto`` (and no more ``disk_over_commit``);
- 2.30 a requested host is checked by the scheduler unless ``force`` is set;
  before 2.30 a host always bypasses the scheduler, so we refuse it;
- 2.34 pre-checks run asynchronously: their failures only show in the
  instance action events;
- 2.68 ``force`` is gone. We never send ``force``.
"""

from __future__ import annotations

# Feature name -> first microversion that has it.
FEATURES = (
    ('force_complete', (2, 22)),
    ('progress_bytes', (2, 23)),
    ('abort', (2, 24)),
    ('block_migration_auto', (2, 25)),
    ('host_checked_by_scheduler', (2, 30)),
    ('async_prechecks', (2, 34)),
    ('embedded_flavor', (2, 47)),
    ('migration_uuid', (2, 59)),
    ('abort_queued', (2, 65)),
    ('force_removed', (2, 68)),
    ('event_details', (2, 84)),
)

# The live-migrate request body is the same from 2.30 on once `force` is
# left out, and 2.68 is the last version that changed it. We send the highest
# version the cloud has, capped here, so a future body change cannot surprise us.
TRIGGER_CAP = (2, 68)
OLDEST = (2, 1)


def parse(value):
    """Return a (major, minor) tuple from '2.25', (2, 25), [2, 25] or None.

    None stays None (the cloud did not announce microversions). A float is
    refused: 2.3 and 2.30 are different versions.
    """
    if value is None:
        return None
    if isinstance(value, (tuple, list)):
        if len(value) != 2:
            raise ValueError('invalid microversion %r' % (value,))
        return int(value[0]), int(value[1])
    if isinstance(value, str):
        parts = value.strip().split('.')
        if len(parts) == 2 and parts[0].isdigit() and parts[1].isdigit():
            return int(parts[0]), int(parts[1])
    raise ValueError('invalid microversion %r' % (value,))


def fmt(version):
    """(2, 25) -> '2.25'."""
    if version is None:
        return None
    return '%d.%d' % tuple(version)


def features(max_version):
    """Feature name -> bool for a cloud whose highest microversion is max_version."""
    top = parse(max_version) or OLDEST
    return dict((name, top >= since) for name, since in FEATURES)


def requires(feature):
    """The microversion string that introduced a feature."""
    return fmt(dict(FEATURES)[feature])


def live_migrate_body(version, target_host, block_migration):
    """The os-migrateLive body for a microversion. Never contains `force`."""
    version = parse(version)
    if version >= (2, 25):
        return {'host': target_host or None, 'block_migration': block_migration}
    return {'host': target_host or None,
            'block_migration': bool(block_migration),
            'disk_over_commit': False}


def choose(min_version, max_version, target_host=None, block_migration=True):
    """Plan a live migration request for a cloud with this microversion range.

    block_migration is True, False or 'auto'. Returns a dict with the
    version to send (``microversion``), the ``body``, the cloud's ``min``/``max``
    and its ``features``. Raises ValueError when the request cannot be made
    safely on this cloud.
    """
    low = parse(min_version) or OLDEST
    high = parse(max_version) or OLDEST
    if block_migration not in (True, False, 'auto'):
        raise ValueError("block_migration must be true, false or 'auto', not %r" % (block_migration,))
    if target_host and high < (2, 30):
        raise ValueError(
            'The compute API of this cloud stops at microversion %s: before 2.30 a '
            'requested host bypasses the scheduler (it implies force), which this '
            'module never does. Leave target_host unset to let the scheduler pick the '
            'destination.' % fmt(high))
    if block_migration == 'auto' and high < (2, 25):
        raise ValueError(
            "block_migration=auto needs compute API microversion 2.25; this cloud stops "
            "at %s. Use block_migration=true or false." % fmt(high))
    chosen = max(low, min(high, TRIGGER_CAP))
    return {
        'microversion': fmt(chosen),
        'min': fmt(low),
        'max': fmt(high),
        'body': live_migrate_body(chosen, target_host, block_migration),
        'features': features(high),
    }


def on_timeout_problem(action, max_version):
    """Why on_timeout=action cannot work on this cloud, or None when it can."""
    needed = {'abort': 'abort', 'force_complete': 'force_complete'}.get(action)
    if needed is None:
        return None
    if features(max_version)[needed]:
        return None
    return ('on_timeout=%s needs compute API microversion %s; this cloud stops at %s. '
            'Use on_timeout=fail.' % (action, requires(needed), fmt(parse(max_version) or OLDEST)))
