#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2025, openstack_ops developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r'''
---
module: live_migration_info
short_description: List the live migrations of a server or a host, with their progress
version_added: 0.1.0
author: openstack_ops developers (@openstack-ops)
description:
  - Lists migration records from C(/os-migrations), which keeps the final status of every
    migration, newest first.
  - For migrations still in progress the progress bytes are read from
    C(/servers/{id}/migrations/{mid}) (compute API microversion 2.23 and later) and turned into a
    progress line.
  - Read-only. A server that does not exist gives an empty list, not a failure.
options:
  server:
    description:
      - Name or ID of a server (all projects are searched).
    type: str
  host:
    description:
      - A compute host, to list the migrations from or to it.
    type: str
  migration_type:
    description:
      - Kind of migration to list; C(all) lists every kind.
    type: str
    choices: [live-migration, migration, resize, evacuation, all]
    default: live-migration
  in_progress:
    description:
      - Only migrations without a final status.
    type: bool
    default: false
  limit:
    description:
      - At most this many records (the newest). 0 lists them all.
    type: int
    default: 20
  with_events:
    description:
      - With I(server), also return its live-migration instance actions and their events (the
        reasons of failures; from microversion 2.34 on, pre-check failures are only there).
    type: bool
    default: false
extends_documentation_fragment:
  - openstack.cloud.openstack
notes:
  - Supports check mode (it changes nothing in any mode).
  - The options I(wait) and I(timeout) of the shared OpenStack options are not used.
'''

EXAMPLES = r'''
- name: Migrations of a server, newest first, with the reasons of failures
  openstack_ops.live_migration.live_migration_info:
    cloud: admin
    server: web-01
    with_events: true
  register: info

- name: Live migrations running from or to a host
  openstack_ops.live_migration.live_migration_info:
    cloud: admin
    host: compute-01
    in_progress: true

- name: Print their progress
  ansible.builtin.debug:
    msg: "{{ info.migrations | map(attribute='progress') | list }}"
'''

RETURN = r'''
server:
  description: The server (id, name, status, vm_state, task_state, host, node), null when not found or not asked.
  returned: always
  type: dict
migrations:
  description: Migration records, newest first.
  returned: always
  type: list
  elements: dict
  contains:
    id:
      description: Migration ID.
      type: int
    uuid:
      description: Migration UUID (microversion 2.59 and later).
      type: str
    status:
      description: Migration status.
      type: str
    migration_type:
      description: C(live-migration), C(migration), C(resize) or C(evacuation).
      type: str
    server_id:
      description: The server's ID.
      type: str
    source_compute:
      description: Source compute host.
      type: str
    source_node:
      description: Source hypervisor hostname.
      type: str
    dest_compute:
      description: Destination compute host.
      type: str
    dest_node:
      description: Destination hypervisor hostname.
      type: str
    dest_address:
      description: The destination's IP address as Nova records it (Nova's C(dest_host)).
      type: str
    created_at:
      description: Creation time.
      type: str
    updated_at:
      description: Last update time.
      type: str
    memory_total_bytes:
      description: Memory to copy (in-progress live migrations only).
      type: int
    memory_processed_bytes:
      description: Memory copied.
      type: int
    memory_remaining_bytes:
      description: Memory left.
      type: int
    disk_total_bytes:
      description: Disk to copy.
      type: int
    disk_processed_bytes:
      description: Disk copied.
      type: int
    disk_remaining_bytes:
      description: Disk left.
      type: int
    in_progress:
      description: True when the migration has no final status yet.
      type: bool
    progress:
      description: A progress line such as C(disk 64/128 MiB, memory 80 MiB left), or the final status.
      type: str
actions:
  description: >-
    With I(with_events) and I(server): the server's live-migration instance actions, newest
    first, each with action, request_id, message, start_time and events (event, result,
    start_time, finish_time, host, details, traceback).
  returned: always
  type: list
  elements: dict
'''

from ansible_collections.openstack.cloud.plugins.module_utils.openstack import OpenStackModule
from ansible_collections.openstack_ops.live_migration.plugins.module_utils.cloud import ClearConnectErrors
from ansible_collections.openstack_ops.live_migration.plugins.module_utils.errors import NovaError
from ansible_collections.openstack_ops.live_migration.plugins.module_utils.info import list_migrations
from ansible_collections.openstack_ops.live_migration.plugins.module_utils.nova import NovaApi


class LiveMigrationInfoModule(ClearConnectErrors, OpenStackModule):
    argument_spec = dict(
        server=dict(type='str'),
        host=dict(type='str'),
        migration_type=dict(type='str', default='live-migration',
                            choices=['live-migration', 'migration', 'resize', 'evacuation', 'all']),
        in_progress=dict(type='bool', default=False),
        limit=dict(type='int', default=20),
        with_events=dict(type='bool', default=False),
    )
    module_kwargs = dict(supports_check_mode=True)

    def run(self):
        params = dict((k, self.params[k]) for k in self.argument_spec)
        if params['limit'] < 0:
            self.fail_json(msg='limit must be 0 (no limit) or more')
        try:
            result = list_migrations(NovaApi(self.conn), params)
        except NovaError as e:
            self.fail_json(msg=e.msg)
        self.exit_json(changed=False, **result)


def main():
    module = LiveMigrationInfoModule()
    module()


if __name__ == '__main__':
    main()
