#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2025, openstack_ops developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r'''
---
module: drain_host
short_description: Empty a compute host by live migration, every move verified, nothing left behind; or put it back in service
version_added: 0.1.0
author: openstack_ops developers (@openstack-ops)
description:
  - "C(state=drained): checks before any change (the host's nova-compute service exists and is up; the
    targets exist, are up and enabled, and can hold the servers, per placement resource class), then
    disables the host's service with a reason of its own (a service already disabled keeps its reason),
    sorts every server on the host (all projects), and moves them, at most I(max_parallel) at once."
  - Each live migration is M(openstack_ops.live_migration.live_migrate)'s own flow (checks, watch,
    verdict), with a timeout that scales with the server's size. A server whose live migration is already
    in progress is attached to, never migrated twice, so a rerun picks up where a lost run stopped.
  - "The drain succeeds only when the host's servers, listed again at the end, are none, or each one that
    is left is named in I(allow_leftovers). A server that arrived during the drain is a leftover too. Every
    leftover is returned with its reason."
  - C(state=undrained) enables the host's service again, only when it was disabled by a drain (its reason
    starts with C(openstack_ops.live_migration drain)), unless I(force_enable).
  - Needs admin credentials.
options:
  host:
    description: The compute host (nova-compute service host) to drain or to put back in service.
    type: str
    required: true
  state:
    description: C(drained) empties the host; C(undrained) puts it back in service.
    type: str
    choices: [drained, undrained]
    default: drained
  target_hosts:
    description:
      - Compute hosts to move the servers to, in turn. Unset, the scheduler picks among every other enabled
        and up compute host (the drained host's service is disabled first).
    type: list
    elements: str
  max_parallel:
    description: How many migrations run at once, in all.
    type: int
    default: 1
  order:
    description: The order of the moves, C(smallest) or C(largest) flavor (RAM plus local disk) first, or by C(name).
    type: str
    choices: [smallest, largest, name]
    default: smallest
  retries:
    description: Further attempts for a server whose migration failed and left it ACTIVE on the source.
    type: int
    default: 1
  max_failures:
    description:
      - After this many failed moves no new one starts; the running ones are finished and verified. C(0) never
        stops.
    type: int
    default: 3
  cold_migrate_stopped:
    description: Cold-migrate SHUTOFF servers (and confirm); otherwise they are leftovers.
    type: bool
    default: false
  allow_leftovers:
    description: Names or IDs of servers that may stay on the host without failing the drain.
    type: list
    elements: str
    default: []
  timeout_floor:
    description: The least migration timeout of a server, in seconds.
    type: int
    default: 600
  timeout_per_gib:
    description: Seconds of migration timeout per GiB of the server's RAM plus local disk (above the floor).
    type: int
    default: 120
  force_enable:
    description: With C(state=undrained), enable the service even when someone else disabled it.
    type: bool
    default: false
  wait_up_timeout:
    description:
      - With C(state=undrained), first wait up to this many seconds for the host's nova-compute service to
        report up (after a reboot); still down then, or forced down, the service is not enabled and the task
        fails. C(0) does not wait (the service is enabled, up or not). Not waited for in check mode.
    type: int
    default: 0
  progress_dir:
    description: A folder for one live_migrate progress log per server (C(<server id>.jsonl)).
    type: path
  block_migration:
    description: As in M(openstack_ops.live_migration.live_migrate).
    type: raw
    default: true
  on_timeout:
    description: As in M(openstack_ops.live_migration.live_migrate).
    type: str
    choices: [abort, force_complete, fail]
    default: abort
  queue_timeout:
    description: As in M(openstack_ops.live_migration.live_migrate).
    type: int
    default: 1800
  outage_budget:
    description: As in M(openstack_ops.live_migration.live_migrate), for each server.
    type: float
    default: 300
  poll_interval:
    description: As in M(openstack_ops.live_migration.live_migrate).
    type: float
    default: 1.0
  recover_on_abort:
    description: As in M(openstack_ops.live_migration.live_migrate).
    type: bool
    default: false
  accept_suspect_block_migration:
    description: As in M(openstack_ops.live_migration.live_migrate).
    type: bool
    default: false
  libvirt_uri:
    description: As in M(openstack_ops.live_migration.live_migrate).
    type: str
requirements:
  - libvirt-python (only with I(libvirt_uri))
notes:
  - Supports check mode, in which the checks run and the plan (what moves, what stays) is returned; nothing changes.
extends_documentation_fragment:
  - openstack.cloud.openstack
  - openstack_ops.live_migration.libvirt
'''

EXAMPLES = r'''
- name: Empty compute-07 for a kernel update, two migrations at a time
  openstack_ops.live_migration.drain_host:
    cloud: admin
    host: compute-07
    max_parallel: 2
    libvirt_uri: "qemu+tls://{host}/system"

- name: Put it back in service once nova-compute is up again after the reboot
  openstack_ops.live_migration.drain_host:
    cloud: admin
    host: compute-07
    state: undrained
    wait_up_timeout: 600
'''

RETURN = r'''
msg:
  description: What happened; on failure every server that was not moved, with its reason.
  returned: always
  type: str
ok:
  description: True when the host is empty (but for allowed leftovers), or undrained.
  returned: always
  type: bool
host:
  description: The host.
  returned: always
  type: str
targets:
  description: The target hosts checked for capacity.
  returned: with state=drained, once checked
  type: list
  elements: str
service:
  description: The host's nova-compute service as it was found (id, host, status, state, forced_down, disabled_reason, zone).
  returned: once found
  type: dict
disabled_reason:
  description: The host service's disabled reason during the drain (its own, or the one it already had).
  returned: with state=drained
  type: str
disabled_by_drain:
  description:
    - True when the service is disabled with a drain's reason, set by this run or, on a rerun, by an earlier
      one (undrain enables it again). False when it was disabled for another reason, which is kept.
  returned: with state=drained
  type: bool
servers:
  description: Every server found on the host, with C(action) (C(live), C(cold), C(leftover)) and C(why).
  returned: with state=drained, once listed
  type: list
  elements: dict
moved:
  description: >-
    One entry per server moved and verified: id, name, action, ok, msg, source_host, dest_host,
    server_host, attached, migration, elapsed_s, timeout_s, attempts.
  returned: with state=drained
  type: list
  elements: dict
not_moved:
  description: The same, for each server whose move failed (its C(msg) is live_migrate's story). Not named
    C(failed), which Ansible reads as the task's own status.
  returned: with state=drained
  type: list
  elements: dict
skipped:
  description: Servers not started because I(max_failures) was reached.
  returned: with state=drained
  type: list
  elements: dict
leftovers:
  description: The servers on the host at the end, each with C(why) and C(allowed).
  returned: with state=drained, at the end
  type: list
  elements: dict
elapsed_s:
  description: Seconds from the start of the moves to the final listing.
  returned: with state=drained, at the end
  type: float
'''

import os

from ansible.module_utils.basic import missing_required_lib
from ansible_collections.openstack.cloud.plugins.module_utils.openstack import OpenStackModule
from ansible_collections.openstack_ops.live_migration.plugins.module_utils.cloud import ClearConnectErrors
from ansible_collections.openstack_ops.live_migration.plugins.module_utils.drain import FLOW_OPTIONS, HostDrain
from ansible_collections.openstack_ops.live_migration.plugins.module_utils.errors import NOTHING_CHANGED, NovaError, OperatorError
from ansible_collections.openstack_ops.live_migration.plugins.module_utils.libvirt_jobs import (
    HAS_LIBVIRT, LIBVIRT_IMPORT_ERROR, LibvirtJobReader)
from ansible_collections.openstack_ops.live_migration.plugins.module_utils.migration import ARGUMENT_SPEC
from ansible_collections.openstack_ops.live_migration.plugins.module_utils.nova import NovaApi
from ansible_collections.openstack_ops.live_migration.plugins.module_utils.timeline import Timeline


class DrainHostModule(ClearConnectErrors, OpenStackModule):
    argument_spec = dict(
        host=dict(type='str', required=True),
        state=dict(type='str', default='drained', choices=['drained', 'undrained']),
        target_hosts=dict(type='list', elements='str'),
        max_parallel=dict(type='int', default=1),
        order=dict(type='str', default='smallest', choices=['smallest', 'largest', 'name']),
        retries=dict(type='int', default=1),
        max_failures=dict(type='int', default=3),
        cold_migrate_stopped=dict(type='bool', default=False),
        allow_leftovers=dict(type='list', elements='str', default=[]),
        timeout_floor=dict(type='int', default=600),
        timeout_per_gib=dict(type='int', default=120),
        force_enable=dict(type='bool', default=False),
        wait_up_timeout=dict(type='int', default=0),
        progress_dir=dict(type='path'),
        **dict((k, ARGUMENT_SPEC[k]) for k in FLOW_OPTIONS)
    )
    module_kwargs = dict(supports_check_mode=True)

    def run(self):
        p = dict((k, self.params[k]) for k in self.argument_spec)
        for name, low in (('max_parallel', 1), ('retries', 0), ('max_failures', 0), ('timeout_floor', 1),
                          ('timeout_per_gib', 0), ('wait_up_timeout', 0)):
            if p[name] < low:
                self.fail_json(msg='%s must be at least %s. %s' % (name, low, NOTHING_CHANGED))
        if p['libvirt_uri'] and not HAS_LIBVIRT:
            self.fail_json(msg=missing_required_lib('libvirt-python', reason='to read job statistics with libvirt_uri'),
                           exception=LIBVIRT_IMPORT_ERROR)
        progress_dir = None if self.ansible.check_mode else p['progress_dir']
        if progress_dir:
            os.makedirs(progress_dir, exist_ok=True)
        drain = HostDrain(lambda: NovaApi(self.conn), p, reader_factory=LibvirtJobReader if p['libvirt_uri'] else None,
                          timeline_factory=lambda server: Timeline(
                              os.path.join(progress_dir, '%s.jsonl' % server['id']) if progress_dir else None).open())
        try:
            if p['state'] == 'undrained':
                result = drain.undrain(self.ansible.check_mode)
            else:
                result = drain.drain(self.ansible.check_mode)
        except OperatorError as e:
            details = dict(e.details)
            for warning in details.pop('warnings', []):
                self.warn(warning)
            self.fail_json(msg=e.msg, **details)
        except NovaError as e:
            self.fail_json(msg='%s. The drain stopped there: run it again once the cloud answers (a migration '
                               'still running is attached to).' % e.msg.rstrip('.'), **drain.result)
        for warning in drain.warnings:
            self.warn(warning)
        self.exit_json(**result)


def main():
    module = DrainHostModule()
    module()


if __name__ == '__main__':
    main()
