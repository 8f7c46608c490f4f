#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2025, openstack_ops developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r'''
---
module: libvirt_job_info
short_description: Read libvirt's job statistics (domjobinfo) of a Nova server's domain
version_added: 0.1.0
author: openstack_ops developers (@openstack-ops)
description:
  - Returns C(jobStats()) of the libvirt domain of a Nova server (the domain UUID is the instance
    UUID), normalised into the schema the live_migrate module uses, with a progress line.
  - The connection is read-only.
  - Runs where libvirt is reachable. Either delegate it to the hypervisor with the default local
    URI, or run it anywhere with a remote URI such as C(qemu+tcp://{host}/system).
  - Nova is asked only when it has to be, that is when I(server) is a name, or when I(libvirt_uri)
    contains C({host}) or C({node}) and I(host) is not given. Otherwise no cloud credentials and no
    openstacksdk are needed on the host that runs the module.
options:
  server:
    description:
      - ID (libvirt domain UUID) or name of the server.
    type: str
    required: true
  libvirt_uri:
    description:
      - libvirt URI, or a template with C({host}) (Nova's compute host) and C({node}) (the hypervisor
        hostname) filled in from Nova or from I(host).
    type: str
    default: qemu:///system
  host:
    description:
      - Host name to put in the URI template instead of asking Nova.
    type: str
  completed:
    description:
      - Read the statistics of the last completed job instead of the current one (for example
        C(migration_in) on the destination after a migration). They are kept for other readers.
    type: bool
    default: false
requirements:
  - libvirt-python
extends_documentation_fragment:
  - openstack.cloud.openstack
  - openstack_ops.live_migration.libvirt
notes:
  - Supports check mode (it changes nothing in any mode).
  - The options I(wait) and I(timeout) of the shared OpenStack options are not used.
  - "End of a job (libvirt 9.0): the type becomes C(none); once Nova's VIR_MIGRATE_UNDEFINE_SOURCE
    ran, the domain is gone from the source (C(domain_state=absent))."
'''

EXAMPLES = r'''
- name: On the source hypervisor itself
  openstack_ops.live_migration.libvirt_job_info:
    server: 4f1c4c8e-8a3b-4bd4-9c64-0d8c0d3c1e7a
  delegate_to: compute-01

- name: From the controller, over TCP, looking the host up in Nova
  openstack_ops.live_migration.libvirt_job_info:
    cloud: admin
    server: web-01
    libvirt_uri: "qemu+tcp://{host}/system"
  register: jobinfo

- name: The destination's completed incoming job after a migration
  openstack_ops.live_migration.libvirt_job_info:
    server: 4f1c4c8e-8a3b-4bd4-9c64-0d8c0d3c1e7a
    libvirt_uri: "qemu+tcp://{host}/system"
    host: compute-02
    completed: true
'''

RETURN = r'''
uri:
  description: The libvirt URI that was used.
  returned: always
  type: str
server_id:
  description: The domain UUID (the server ID).
  returned: always
  type: str
domain_state:
  description: C(running), C(paused), C(shutoff), ... or C(absent) when the domain is not defined there.
  returned: always
  type: str
job:
  description: The normalised job statistics, null when there is no domain or it is not running.
  returned: always
  type: dict
  contains:
    type:
      description: C(none), C(bounded), C(unbounded), C(completed), C(failed) or C(cancelled).
      type: str
    operation:
      description: C(migration_out), C(migration_in), ... (null when libvirt does not say).
      type: str
    phase:
      description: C(setup), C(disk) or C(memory) while running; else the type.
      type: str
    elapsed_ms:
      description: Job time in ms.
      type: int
    remaining_ms:
      description: Estimated time left in ms (bounded jobs).
      type: int
    setup_ms:
      description: Setup time in ms.
      type: int
    downtime_ms:
      description: Expected downtime while running; the actual downtime in completed statistics.
      type: int
    data_total:
      description: Bytes to transfer (disk plus memory).
      type: int
    data_processed:
      description: Bytes transferred.
      type: int
    data_remaining:
      description: Bytes left.
      type: int
    disk_total:
      description: Disk bytes to copy (0 or null without a disk copy).
      type: int
    disk_processed:
      description: Disk bytes copied.
      type: int
    disk_remaining:
      description: Disk bytes left.
      type: int
    disk_bps:
      description: Disk rate in bytes/s (libvirt 9.0 did not report it).
      type: int
    memory_total:
      description: Memory bytes to copy.
      type: int
    memory_processed:
      description: Memory bytes copied.
      type: int
    memory_remaining:
      description: Memory bytes left.
      type: int
    memory_bps:
      description: Memory rate in bytes/s.
      type: int
    memory_dirty_rate:
      description: Pages dirtied per second.
      type: int
    memory_dirty_bps:
      description: Bytes dirtied per second (dirty rate times page size).
      type: int
    memory_page_size:
      description: Page size in bytes.
      type: int
    memory_iteration:
      description: Memory pass number.
      type: int
    memory_constant:
      description: Zero pages sent.
      type: int
    memory_normal:
      description: Normal pages sent.
      type: int
    memory_normal_bytes:
      description: Bytes of normal pages sent.
      type: int
    memory_postcopy_requests:
      description: Page requests during post-copy.
      type: int
    auto_converge_throttle:
      description: CPU throttle percentage applied by auto-converge.
      type: int
    errmsg:
      description: libvirt's error message of a failed job.
      type: str
raw:
  description: The raw C(jobStats()) dictionary, as libvirt returned it.
  returned: always
  type: dict
line:
  description: A progress line such as C(disk 64/128 MiB, memory 80 MiB left, 240 MiB/s, ETA 3 s).
  returned: always
  type: str
note:
  description: Why there are no statistics (no such domain, domain not running), else null.
  returned: always
  type: str
'''

import re

from ansible.module_utils.basic import missing_required_lib
from ansible_collections.openstack.cloud.plugins.module_utils.openstack import OpenStackModule
from ansible_collections.openstack_ops.live_migration.plugins.module_utils.cloud import ClearConnectErrors
from ansible_collections.openstack_ops.live_migration.plugins.module_utils.errors import NovaError
from ansible_collections.openstack_ops.live_migration.plugins.module_utils.libvirt_jobs import (
    HAS_LIBVIRT, LIBVIRT_IMPORT_ERROR, LibvirtJobReader, LibvirtUnavailable, job_info, render_uri)
from ansible_collections.openstack_ops.live_migration.plugins.module_utils.nova import NovaApi

UUID_RE = re.compile(r'^[0-9a-fA-F]{8}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{12}$')


class _NoSdkExceptions(object):
    class OpenStackCloudException(Exception):
        pass


class _NoSdk(object):
    """Stands in for openstacksdk when Nova is not needed (see needs_nova)."""
    exceptions = _NoSdkExceptions

    @staticmethod
    def enable_logging(**kwargs):
        return None


def needs_nova(params):
    uri = params.get('libvirt_uri') or ''
    placeholder = '{host}' in uri or '{node}' in uri
    return not UUID_RE.match(params.get('server') or '') or (placeholder and not params.get('host'))


class LibvirtJobInfoModule(ClearConnectErrors, OpenStackModule):
    argument_spec = dict(
        server=dict(type='str', required=True),
        libvirt_uri=dict(type='str', default='qemu:///system'),
        libvirt_addresses=dict(type='dict'),
        host=dict(type='str'),
        completed=dict(type='bool', default=False),
    )
    module_kwargs = dict(supports_check_mode=True)

    def openstack_cloud_from_module(self):
        # Delegated to a hypervisor with a UUID, nothing needs Nova (nor openstacksdk) there.
        if not needs_nova(self.params):
            self.params.pop('cloud', None)
            return _NoSdk, None
        return super(LibvirtJobInfoModule, self).openstack_cloud_from_module()

    def run(self):
        if not HAS_LIBVIRT:
            self.fail_json(msg=missing_required_lib('libvirt-python'), exception=LIBVIRT_IMPORT_ERROR)
        server_id = self.params['server']
        host = self.params['host']
        node = None
        if self.conn is not None:
            try:
                server = NovaApi(self.conn).find_server(server_id)
            except NovaError as e:
                self.fail_json(msg=e.msg)
            if server is None:
                self.fail_json(msg='No server is named or has the ID %r (all projects were searched).' % server_id)
            server_id = server['id']
            if not host:
                host, node = server['host'], server['node']
        try:
            uri = render_uri(self.params['libvirt_uri'], host, node, self.params['libvirt_addresses'])
        except ValueError as e:
            self.fail_json(msg=str(e))
        reader = LibvirtJobReader(uri)
        try:
            result = job_info(reader, server_id, completed=self.params['completed'])
        except LibvirtUnavailable as e:
            self.fail_json(msg='Cannot read libvirt: %s. Check the URI, that libvirtd listens there and that this host '
                               'may connect (read-only).' % e, uri=uri, server_id=server_id)
        finally:
            reader.close()
        self.exit_json(changed=False, **result)


def main():
    module = LibvirtJobInfoModule()
    module()


if __name__ == '__main__':
    main()
