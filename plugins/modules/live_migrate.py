#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2025, openstack_ops developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r'''
---
module: live_migrate
short_description: Live-migrate a Nova server, watch it through Nova and libvirt, and verify where it ended
version_added: 0.1.0
author: openstack_ops developers (@openstack-ops)
description:
  - Checks that the server and the target can take a live migration, asks Nova for it (the target
    is validated by the scheduler, C(force) is never used), follows the migration record and its
    progress bytes, and optionally libvirt's job statistics on the source hypervisor.
  - "Succeeds only when all of these hold: the migration record is C(completed), the server's host
    (C(OS-EXT-SRV-ATTR:host)) is the destination, the server is C(ACTIVE) (or C(PAUSED) when it
    was paused before) with no task and a power_state that agrees (C(RUNNING), or C(PAUSED)), and, with
    I(libvirt_uri), libvirt shows the domain running on the destination and not running on the source
    (a guest on two hosts, on none, or on a host whose libvirt does not answer is a failure). A failed
    live migration also ends C(ACTIVE) on the source: the status alone proves nothing, and this module
    never reports that as a success."
  - "A rerun never starts a second migration: when a live migration of the server is in progress
    (the server's task is C(migrating) and its newest live-migration record has no final status), the
    module attaches to it and watches and verifies it exactly as if it had started it
    (C(attached=true)). If that migration goes to another host than I(target_host), it fails and names
    both."
  - "API calls that fail transiently (HTTP 5xx, 408, 429, connection refused or reset, a timeout) are
    retried with backoff, and an expired token is renewed once per call, in every phase; the time the
    cloud was unreachable adds up against I(outage_budget). While Nova does not answer, libvirt goes on
    being watched. The live-migrate request itself is never repeated: when it got no answer, the module
    looks for a new migration record, instance action or task before it says that nothing was changed,
    and follows the migration when Nova did accept it. Every API call has a timeout: I(api_timeout),
    60 s when unset."
  - On failure the message carries the reason from the migration record, the instance action
    events (from microversion 2.34 on, pre-check failures are only recorded there) and the server
    fault, plus a hint when the cause is known.
  - "Measured with nova 34 and the libvirt driver: after an abort, libvirt cancels cleanly and the
    guest keeps running on the source, but Nova ends the migration C(error) (not C(cancelled)) and
    puts the server in C(ERROR), so the next migration is refused with HTTP 409. The module says
    so, and I(recover_on_abort) can reset the server to active once libvirt confirms where the
    guest runs."
  - Needs admin credentials (host names, migration records and live migration are admin-only by
    default).
options:
  server:
    description:
      - Name or ID of the server. Names are looked up in all projects; a name used by several
        servers is refused (pass the ID).
    type: str
    required: true
  target_host:
    description:
      - Compute host (nova-compute service host) to move the server to. The scheduler validates it
        (compute API microversion 2.30 or later is required for that).
      - When the server already runs there the module changes nothing (C(changed=false)), and succeeds
        only when Nova is done with it (C(ACTIVE) or C(PAUSED), no task, no migration open) and, with
        I(libvirt_uri), its domain runs there; otherwise it fails and says what to do.
      - Unset, the scheduler picks the destination. An empty string is refused (C(-e target_host=) passes
        one); leave the option out to let the scheduler choose. The same holds for every string option.
    type: str
  block_migration:
    description:
      - C(true) copies the local disks (block live migration), C(false) expects shared storage,
        C(auto) lets Nova decide (needs microversion 2.25).
      - Accepts a boolean or the string C(auto).
    type: raw
    default: true
  wait:
    description:
      - Wait for the migration to end and verify it. With C(false) the module returns once Nova
        accepted the request (follow it with M(openstack_ops.live_migration.live_migration_info)).
    type: bool
    default: true
  timeout:
    description:
      - Seconds to wait for the migration record to reach a final status, counted from the moment Nova
        starts the migration (the first status after C(accepted) and C(queued)); the wait before that is
        bounded by I(queue_timeout).
      - On expiry I(on_timeout) is carried out; the module then waits up to 120 s (abort) or 300 s
        (force_complete) more for Nova to settle and reports where the server ended up.
    type: int
    default: 3600
  queue_timeout:
    description:
      - Seconds the migration may wait before Nova starts it (status C(accepted), or C(queued) behind the
        source's C(max_concurrent_live_migrations)). That time does not count against I(timeout).
      - On expiry a C(queued) migration is cancelled (microversion 2.65 and later), which is safe because
        nothing has been copied yet, and the module fails; on older clouds, or in status C(accepted), it
        is left alone and the module fails saying so.
    type: int
    default: 1800
  outage_budget:
    description:
      - Seconds the cloud API may be unreachable in all, over every phase of the run, before the module
        gives up. The result (C(outage_s)) and the message say how long it was.
    type: float
    default: 300
  poll_interval:
    description:
      - Seconds between polls of Nova and libvirt in steady state. Polling is faster (0.2 s) during
        the first 5 s, when the estimated remaining time is short, and once the libvirt job ended,
        so the end is noticed quickly.
    type: float
    default: 1.0
  on_timeout:
    description:
      - What to do when I(timeout) expires.
      - C(abort) cancels the migration (microversion 2.24); see the description for what Nova 34 does
        to the server then.
      - C(force_complete) pauses the guest so the remaining memory is copied (microversion 2.22); the
        module then keeps waiting and verifies as usual.
      - C(fail) leaves the migration running and fails.
    type: str
    choices: [abort, force_complete, fail]
    default: abort
  libvirt_uri:
    description:
      - libvirt URI template of the hypervisors, for example C(qemu+tcp://{host}/system),
        C(qemu+tls://{host}/system) or C(qemu+ssh://root@{host}/system).
      - C({host}) is replaced by Nova's compute host name, C({node}) by the hypervisor hostname.
      - Connections are read-only. Without it, progress comes from Nova alone.
      - When set, the source domain must be reachable before anything is changed.
    type: str
  progress_log:
    description:
      - Path of a JSONL timeline, written while the module runs (truncated at the start). Records
        have a C(kind) (C(event), C(start), C(sample), C(result)) and a C(ts); each C(sample) has a
        ready-made progress C(line). The last record is always the C(result).
      - Not written in check mode.
    type: path
  recover_on_abort:
    description:
      - After an abort that left the server in C(ERROR), reset it to active, but only when libvirt
        confirms the domain is running on the source and absent from the destination, and Nova
        shows the server on the source. Needs I(libvirt_uri).
      - Never done for a server that was C(PAUSED) before.
    type: bool
    default: false
  accept_suspect_block_migration:
    description:
      - Accept a block migration in which libvirt never reported a disk byte (C(suspect_block_migration)),
        with a warning, instead of failing. Set it only once the guest and its disk were checked on the
        destination.
    type: bool
    default: false
  max_samples:
    description:
      - Upper bound on the number of progress samples returned; they are thinned evenly over the
        whole run. The progress log keeps every sample.
    type: int
    default: 200
requirements:
  - libvirt-python (only with I(libvirt_uri))
notes:
  - Supports check mode, in which the module runs all checks (server, target service, placement
    capacity, libvirt reachability) and reports what it would do.
  - The placement capacity check compares the flavor (root disk not counted for a volume-backed
    server) with the free inventory of the target's resource provider; classes without inventory
    there are not checked, and an unreachable placement only produces a warning.
  - "A block migration whose libvirt samples never show a disk byte is suspect
    (C(suspect_block_migration)) and fails unless I(accept_suspect_block_migration) is set: measured
    with libvirt 9.0, without VIR_MIGRATE_NON_SHARED_INC the guest can arrive on an empty disk while
    everything reports success."
extends_documentation_fragment:
  - openstack.cloud.openstack
  - openstack_ops.live_migration.libvirt
'''

EXAMPLES = r'''
- name: Block-live-migrate a server to a given host, watching libvirt on the source
  openstack_ops.live_migration.live_migrate:
    cloud: admin
    server: web-01
    target_host: compute-02
    block_migration: true
    timeout: 1800
    libvirt_uri: "qemu+tcp://{host}/system"
    progress_log: /var/tmp/web-01-migration.jsonl
  register: migration

- name: Let the scheduler choose, finish by pausing the guest if it takes too long
  openstack_ops.live_migration.live_migrate:
    cloud: admin
    server: 4f1c4c8e-8a3b-4bd4-9c64-0d8c0d3c1e7a
    block_migration: auto
    timeout: 600
    on_timeout: force_complete

- name: Abort on timeout and put the server back to ACTIVE when libvirt proves it never left
  openstack_ops.live_migration.live_migrate:
    cloud: admin
    server: db-01
    target_host: compute-03
    timeout: 300
    libvirt_uri: "qemu+tls://{host}/system"
    recover_on_abort: true

- name: What would happen (no change)
  openstack_ops.live_migration.live_migrate:
    cloud: admin
    server: web-01
    target_host: compute-02
  check_mode: true
'''

RETURN = r'''
msg:
  description: What happened, in one line on success; the full story on failure.
  returned: always
  type: str
ok:
  description: True when the migration was verified (or nothing had to be done, or check mode).
  returned: always
  type: bool
server:
  description: The server as Nova shows it at the end.
  returned: when the server was found
  type: dict
  contains:
    id:
      description: Server ID (also the libvirt domain UUID).
      type: str
    name:
      description: Server name.
      type: str
    status:
      description: Server status, for example C(ACTIVE).
      type: str
    vm_state:
      description: C(OS-EXT-STS:vm_state).
      type: str
    task_state:
      description: C(OS-EXT-STS:task_state), null when Nova is done with the server.
      type: str
    host:
      description: C(OS-EXT-SRV-ATTR:host), the compute host the server is on.
      type: str
    node:
      description: C(OS-EXT-SRV-ATTR:hypervisor_hostname).
      type: str
source_host:
  description: The compute host the server was on before.
  returned: when the server was found
  type: str
dest_host:
  description: The destination (the migration record's C(dest_compute), else I(target_host)).
  returned: always
  type: str
server_host:
  description: The compute host Nova shows the server on at the end.
  returned: always
  type: str
migration:
  description: The migration record, merged from C(/os-migrations) and C(/servers/{id}/migrations/{mid}).
  returned: once a record was found
  type: dict
  contains:
    id:
      description: Migration ID.
      type: int
    uuid:
      description: Migration UUID (microversion 2.59 and later).
      type: str
    status:
      description: C(accepted), C(queued), C(preparing), C(running), C(post-migrating), C(completed),
        C(failed), C(error) or C(cancelled).
      type: str
    migration_type:
      description: C(live-migration).
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
      description: The destination's IP address as Nova records it (Nova calls it C(dest_host); here
        C(dest_host) is the destination compute host, at the top of the result).
      type: str
    server_id:
      description: The server the migration belongs to.
      type: str
    created_at:
      description: Creation time.
      type: str
    updated_at:
      description: Last update time.
      type: str
    memory_total_bytes:
      description: Memory to copy (microversion 2.23 and later, while in progress).
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
elapsed_s:
  description: Seconds from the request to the verified end (or to the failure).
  returned: when the migration was requested and waited for
  type: float
job:
  description: >-
    The final libvirt job figures: the destination's completed statistics when libvirt kept them,
    else the last running sample of the source. Null without I(libvirt_uri).
  returned: on success with libvirt_uri
  type: dict
  contains:
    source:
      description: C(completed) (libvirt's completed job statistics) or C(last_sample).
      type: str
    elapsed_ms:
      description: Job time in ms.
      type: int
    downtime_ms:
      description: Downtime in ms (actual in completed statistics, expected in a running sample).
      type: int
    data_total:
      description: Bytes to transfer (disk plus memory).
      type: int
    data_processed:
      description: Bytes transferred.
      type: int
    avg_bps:
      description: Average rate in bytes/s (data processed over job time).
      type: int
    iterations:
      description: Memory passes (the highest memory_iteration seen).
      type: int
    disk_total_max:
      description: The largest disk_total seen; 0 for a block migration is suspect.
      type: int
samples:
  description: >-
    Progress samples, at most I(max_samples), spread over the run. Each has C(t) (s since the
    request), C(status) (Nova), C(phase) (setup, disk, memory, finishing once libvirt's job is over), C(origin) (libvirt or nova),
    data/disk/memory total/processed/remaining in bytes, C(bps), C(eta_s), C(memory_dirty_bps),
    C(memory_iteration), C(downtime_ms) (expected), C(line) (the progress line), and the raw
    C(nova) bytes and normalised C(libvirt) job statistics it was built from.
  returned: when the migration was requested and waited for
  type: list
  elements: dict
sample_count:
  description: Number of samples taken (the progress log has them all).
  returned: always
  type: int
events:
  description: >-
    The Nova instance action events of this migration (event, result, start_time, finish_time,
    host, details, the last lines of the traceback).
  returned: when the migration was requested and waited for
  type: list
  elements: dict
hints:
  description: What to do about a known cause of failure.
  returned: always
  type: list
  elements: str
microversion:
  description: The compute API microversion the request was sent with.
  returned: when the checks got that far
  type: str
request_id:
  description: The request ID of the live-migrate call (it names the instance action).
  returned: when the migration was requested
  type: str
timed_out:
  description: True when I(timeout) expired.
  returned: always
  type: bool
on_timeout_action:
  description: The I(on_timeout) action carried out, if any.
  returned: always
  type: str
recovered:
  description: True when I(recover_on_abort) reset the server to active.
  returned: always
  type: bool
attached:
  description: True when the module found the live migration already in progress and followed it instead of
    requesting one (a rerun after the controller was lost).
  returned: always
  type: bool
outage_s:
  description: Seconds the cloud API was unreachable in all during the run (retried within I(outage_budget)).
  returned: always
  type: float
queued_s:
  description: Seconds from the request (or the attach) until Nova started the migration (it left C(accepted)
    and C(queued)); the time up to the end when it never started. Null before the request.
  returned: always
  type: float
running_s:
  description: Seconds from the start of the migration to the end of the run; null when it never started.
  returned: always
  type: float
suspect_block_migration:
  description: True when a block migration succeeded but libvirt never reported a disk byte.
  returned: always
  type: bool
stalled:
  description: True when data remaining reached no new low for 60 s (not converging).
  returned: always
  type: bool
libvirt_uri:
  description: The source's libvirt URI after filling in the template.
  returned: always
  type: str
plan:
  description: In check mode, the request that would be sent.
  returned: in check mode when a migration would happen
  type: dict
  contains:
    microversion:
      description: Compute API microversion.
      type: str
    body:
      description: The os-migrateLive body.
      type: dict
    compute_api:
      description: The cloud's C(min) and C(max) microversions.
      type: dict
'''

from ansible.module_utils.basic import missing_required_lib
from ansible_collections.openstack.cloud.plugins.module_utils.openstack import OpenStackModule
from ansible_collections.openstack_ops.live_migration.plugins.module_utils.cloud import ClearConnectErrors
from ansible_collections.openstack_ops.live_migration.plugins.module_utils.errors import NOTHING_CHANGED, OperatorError
from ansible_collections.openstack_ops.live_migration.plugins.module_utils.libvirt_jobs import (
    HAS_LIBVIRT, LIBVIRT_IMPORT_ERROR, LibvirtJobReader)
from ansible_collections.openstack_ops.live_migration.plugins.module_utils.migration import (
    ARGUMENT_SPEC, LiveMigration, normalise_block_migration)
from ansible_collections.openstack_ops.live_migration.plugins.module_utils.nova import NovaApi
from ansible_collections.openstack_ops.live_migration.plugins.module_utils.timeline import Timeline


class LiveMigrateModule(ClearConnectErrors, OpenStackModule):
    argument_spec = dict(ARGUMENT_SPEC)
    module_kwargs = dict(
        supports_check_mode=True,
        required_if=[('recover_on_abort', True, ['libvirt_uri'])],
    )

    def run(self):
        params = dict((k, self.params[k]) for k in self.argument_spec)
        try:
            params['block_migration'] = normalise_block_migration(params['block_migration'])
        except ValueError as e:
            self.fail_json(msg=str(e))
        for name, low in (('timeout', 1), ('queue_timeout', 1), ('outage_budget', 0), ('poll_interval', 0.1),
                          ('max_samples', 2)):
            if params[name] < low:
                self.fail_json(msg='%s must be at least %s' % (name, low))
        if params['libvirt_uri'] and not HAS_LIBVIRT:
            self.fail_json(msg=missing_required_lib('libvirt-python', reason='to read job statistics with libvirt_uri'),
                           exception=LIBVIRT_IMPORT_ERROR)

        timeline = Timeline(None if self.ansible.check_mode else params['progress_log'])
        try:
            timeline.open()
        except (IOError, OSError) as e:
            self.fail_json(msg='progress_log: cannot write %s: %s. %s' % (params['progress_log'], e, NOTHING_CHANGED))

        flow = LiveMigration(NovaApi(self.conn), params, reader_factory=LibvirtJobReader, timeline=timeline)
        try:
            result = flow.execute(check_mode=self.ansible.check_mode)
        except OperatorError as e:
            details = dict(e.details)
            for warning in details.pop('warnings', []):
                self.warn(warning)
            self.fail_json(msg=e.msg, **details)
        for warning in result.pop('warnings', []):
            self.warn(warning)
        self.exit_json(**result)


def main():
    module = LiveMigrateModule()
    module()


if __name__ == '__main__':
    main()
