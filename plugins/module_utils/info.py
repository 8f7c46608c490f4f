# -*- coding: utf-8 -*-
# Copyright: (c) 2025, openstack_ops developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""What live_migration_info returns, from a NovaApi."""

from __future__ import annotations

from ansible_collections.openstack_ops.live_migration.plugins.module_utils.formatting import progress_core
from ansible_collections.openstack_ops.live_migration.plugins.module_utils.views import PROGRESS_FIELDS, brief_server
from ansible_collections.openstack_ops.live_migration.plugins.module_utils.watcher import build_sample
from ansible_collections.openstack_ops.live_migration.plugins.module_utils.waiter import migration_finished, migration_status


def progress_text(migration):
    """A progress line for an in-progress record, else its status."""
    if migration_finished(migration) or not any(migration.get(k) for k in PROGRESS_FIELDS):
        return migration_status(migration) or 'unknown'
    nova = dict((k, migration.get(k)) for k in PROGRESS_FIELDS)
    sample = build_sample(0.0, migration_status(migration), None, None, nova)
    return '%s: %s' % (migration_status(migration), progress_core(sample))


def list_migrations(api, params):
    server = None
    server_id = None
    if params.get('server'):
        server = api.find_server(params['server'])
        if server is None:
            return {'server': None, 'migrations': [], 'actions': []}
        server_id = server['id']
    mtype = params.get('migration_type') or 'live-migration'
    records = api.migrations(server_id=server_id, host=params.get('host'),
                             migration_type=None if mtype == 'all' else mtype)
    if params.get('in_progress'):
        records = [m for m in records if not migration_finished(m)]
    if params.get('limit'):
        records = records[:params['limit']]
    live = {}
    for m in records:
        m['in_progress'] = not migration_finished(m)
        if m['in_progress'] and m.get('migration_type') in (None, 'live-migration') and m.get('server_id'):
            if m['server_id'] not in live:
                live[m['server_id']] = dict((x['id'], x) for x in api.server_migrations(m['server_id']))
            for key, value in (live[m['server_id']].get(m['id']) or {}).items():
                if value is not None:
                    m[key] = value
        m['progress'] = progress_text(m)
    actions = []
    if params.get('with_events') and server_id:
        actions = api.actions(server_id, limit=params.get('limit') or None)
    return {'server': brief_server(server) if server else None, 'migrations': records, 'actions': actions}
