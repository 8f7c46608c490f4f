# -*- coding: utf-8 -*-
# Copyright: (c) 2025, openstack_ops developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Plain-dict views of openstacksdk resources, with stable keys under Nova's plain names.

``NovaApi`` (nova.py) returns only these, so the rest of the code never sees SDK resources.
"""

from __future__ import annotations

# Nova's field names, but for its 'dest_host' (the destination's IP address): in our results 'dest_host' is
# the destination compute host, so the migration record carries that address as 'dest_address'.
MIGRATION_FIELDS = (
    'id', 'uuid', 'status', 'migration_type', 'source_compute', 'source_node', 'dest_compute', 'dest_node',
    'created_at', 'updated_at',
    'memory_total_bytes', 'memory_processed_bytes', 'memory_remaining_bytes',
    'disk_total_bytes', 'disk_processed_bytes', 'disk_remaining_bytes',
)
PROGRESS_FIELDS = MIGRATION_FIELDS[-6:]


def sdk_field(obj, name, default=None):
    """A field of an SDK resource, or of a plain dict.

    SDK resources are dict subclasses too, but their dict view is a snapshot
    taken when they are built (fetch_usages() for one does not refresh it):
    only plain dicts are read as dicts.
    """
    if obj is None:
        return default
    if type(obj) is dict:  # pylint: disable=unidiomatic-typecheck
        return obj.get(name, default)
    return getattr(obj, name, default)


def flavor_view(flavor):
    if flavor is None:
        return None
    extra = sdk_field(flavor, 'extra_specs') or {}
    return {
        'name': sdk_field(flavor, 'original_name') or sdk_field(flavor, 'name'),
        'vcpus': int(sdk_field(flavor, 'vcpus') or 0),
        'ram': int(sdk_field(flavor, 'ram') or 0),
        'disk': int(sdk_field(flavor, 'disk') or 0),
        'ephemeral': int(sdk_field(flavor, 'ephemeral') or 0),
        'swap': int(sdk_field(flavor, 'swap') or 0),
        'extra_specs': dict(extra),
    }


def server_view(server):
    """The server fields this collection uses, under Nova's plain names."""
    image = sdk_field(server, 'image')
    image_id = sdk_field(image, 'id') if image else None
    fault = sdk_field(server, 'fault')
    return {
        'id': sdk_field(server, 'id'),
        'name': sdk_field(server, 'name'),
        'status': sdk_field(server, 'status'),
        'vm_state': sdk_field(server, 'vm_state'),
        'task_state': sdk_field(server, 'task_state'),
        'power_state': sdk_field(server, 'power_state'),
        'host': sdk_field(server, 'compute_host'),
        'node': sdk_field(server, 'hypervisor_hostname'),
        'locked': bool(sdk_field(server, 'is_locked')),
        'locked_reason': sdk_field(server, 'locked_reason'),
        'flavor': flavor_view(sdk_field(server, 'flavor')),
        'volume_backed': not image_id,
        'fault': sdk_field(fault, 'message') if fault else None,
        'project_id': sdk_field(server, 'project_id'),
    }


def brief_server(server):
    """The part of a server view that a result reports."""
    keys = ('id', 'name', 'status', 'vm_state', 'task_state', 'host', 'node')
    return dict((k, (server or {}).get(k)) for k in keys)


def migration_view(migration):
    out = dict((k, sdk_field(migration, k)) for k in MIGRATION_FIELDS)
    out['dest_address'] = sdk_field(migration, 'dest_host')
    out['server_id'] = sdk_field(migration, 'server_uuid') or sdk_field(migration, 'server_id')
    return out


def service_view(service):
    return {
        'host': sdk_field(service, 'host'),
        'status': sdk_field(service, 'status'),
        'state': sdk_field(service, 'state'),
        'forced_down': bool(sdk_field(service, 'is_forced_down')),
        'disabled_reason': sdk_field(service, 'disabled_reason'),
        'zone': sdk_field(service, 'availability_zone'),
    }


def event_view(event, traceback_lines=6):
    tb = sdk_field(event, 'traceback')
    if tb:
        tb = '\n'.join(tb.strip().splitlines()[-traceback_lines:])
    return {
        'event': sdk_field(event, 'event'),
        'result': sdk_field(event, 'result'),
        'start_time': sdk_field(event, 'start_time'),
        'finish_time': sdk_field(event, 'finish_time'),
        'host': sdk_field(event, 'host'),
        'details': sdk_field(event, 'details'),
        'traceback': tb,
    }


def action_view(action):
    return {
        'action': sdk_field(action, 'action'),
        'request_id': sdk_field(action, 'request_id'),
        'message': sdk_field(action, 'message'),
        'start_time': sdk_field(action, 'start_time'),
        'events': [event_view(e) for e in (sdk_field(action, 'events') or [])],
    }


def event_reasons(action):
    """Error texts of an instance action: the action message, then each failed
    event's details (2.84+) or the last line of its traceback (admin), with the
    host the event ran on (Nova's own texts do not always name it)."""
    reasons = []
    if not action:
        return reasons
    for event in action.get('events') or []:
        if (event.get('result') or '').lower() not in ('error', 'failed'):
            continue
        text = event.get('details')
        if not text and event.get('traceback'):
            text = event['traceback'].strip().splitlines()[-1]
        if text:
            where = ' on %s' % event['host'] if event.get('host') else ''
            reasons.append('%s%s: %s' % (event.get('event'), where, text))
    if action.get('message') and not reasons:
        reasons.append(action['message'])
    return reasons
