#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2025, openstack_ops developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

# This code runs on the compute nodes, EL7's Python 3.6 among them (ansible-core 2.16): no
# `from __future__ import annotations` (Python 3.7+) here, unlike the controller-side modules.
from __future__ import absolute_import, division, print_function

DOCUMENTATION = r"""
---
module: libvirt_migration_wait
short_description: Wait, with a bound, until no live migration runs on this host
version_added: "0.1.0"
author:
  - openstack_ops developers (@openstack-ops)
description:
  - Runs on a compute node. Lists the running domains (C(virsh list)) and their jobs
    (C(virsh domjobinfo)), and waits until none has an outgoing or incoming migration job.
  - The roles' restart handlers call it before restarting libvirtd or nova-compute. A libvirtd
    restart in the middle of a migration loses the job; a nova-compute restart kills the thread
    that monitors it, and the server stays in C(migrating).
  - When migrations still run after I(timeout) seconds, it fails and names them, so that the
    restart does not happen.
  - It changes nothing. When libvirt cannot be reached at all, no migration can be running
    through it, and it says so and returns.
options:
  uri:
    description: The local libvirt connection.
    type: str
    default: qemu:///system
  timeout:
    description: How long to wait for the migrations to end, in seconds. C(0) only looks.
    type: int
    default: 600
  interval:
    description: Seconds between two looks.
    type: int
    default: 5
  restart:
    description: What is about to be restarted, for the messages (such as C(libvirtd.service)).
    type: str
    default: the service
requirements:
  - virsh (libvirt's client) on the host
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
attributes:
  check_mode:
    support: full
    details: It only reads, in check mode too.
  diff_mode:
    support: none
  platform:
    platforms: posix
"""

EXAMPLES = r"""
- name: Wait for the migrations of this host to end before libvirtd restarts
  openstack_ops.live_migration.libvirt_migration_wait:
    timeout: 600
    restart: libvirtd.service
"""

RETURN = r"""
waited:
  description: Seconds spent waiting.
  returned: always
  type: float
  sample: 42.5
seen:
  description: The domains that had a migration job while the module looked.
  returned: always
  type: list
  elements: str
  sample: [instance-00000001]
running:
  description: The migrations still running at the end (empty on success).
  returned: always
  type: list
  elements: dict
  contains:
    domain:
      description: The libvirt domain name.
      type: str
    operation:
      description: The job's operation, such as C(Outgoing migration).
      type: str
    elapsed:
      description: The job's C(Time elapsed), as virsh prints it.
      type: str
"""

import time

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.openstack_ops.live_migration.plugins.module_utils import domain_jobs
from ansible_collections.openstack_ops.live_migration.plugins.module_utils.params import refuse_empty

ENV = {"LC_ALL": "C", "LANG": "C"}


class Unreachable(Exception):
    pass


def read_jobs(module, virsh, uri):
    rc, out, err = module.run_command([virsh, "-c", uri, "list", "--name"], environ_update=ENV)
    if rc != 0:
        raise Unreachable((err or out).strip())
    jobs = []
    for name in [line.strip() for line in out.splitlines() if line.strip()]:
        rc, info, err = module.run_command([virsh, "-c", uri, "domjobinfo", name], environ_update=ENV)
        fields = domain_jobs.parse_domjobinfo(info) if rc == 0 else {}
        operation = domain_jobs.migration_of(fields) if rc == 0 else domain_jobs.incoming_from_error(err)
        if operation is None:
            # the destination's side may show only in the domain's state; a domain gone since the
            # list (a finished outgoing migration undefines it) shows nothing
            rc, state, err = module.run_command([virsh, "-c", uri, "domstate", "--reason", name], environ_update=ENV)
            operation = domain_jobs.migration_from_state(state) if rc == 0 else None
        if operation:
            jobs.append(dict(domain=name, operation=operation, elapsed=fields.get("Time elapsed", "")))
    return jobs


def main():
    module = AnsibleModule(
        argument_spec=dict(
            uri=dict(type="str", default="qemu:///system"),
            timeout=dict(type="int", default=600),
            interval=dict(type="int", default=5),
            restart=dict(type="str", default="the service"),
        ),
        supports_check_mode=True,
    )
    p = module.params
    refuse_empty(module, waited=0.0, seen=[], running=[])
    if p["timeout"] < 0 or p["interval"] < 1:
        module.fail_json(msg="timeout must be >= 0 and interval >= 1 (seconds); got timeout=%s, interval=%s"
                         % (p["timeout"], p["interval"]), waited=0.0, seen=[], running=[])
    virsh = module.get_bin_path("virsh")
    if virsh is None:
        module.exit_json(changed=False, waited=0.0, seen=[], running=[],
                         msg="virsh is not installed: no libvirt migration to wait for")
    try:
        running, waited, seen = domain_jobs.wait_for_migrations(
            lambda: read_jobs(module, virsh, p["uri"]), time.monotonic, time.sleep, p["timeout"], p["interval"])
    except Unreachable as e:
        msg = ("libvirt at %s does not answer (%s): no migration runs through it; going on with the restart of %s"
               % (p["uri"], e, p["restart"]))
        module.warn(msg)
        module.exit_json(changed=False, waited=0.0, seen=[], running=[], msg=msg)
    result = dict(changed=False, waited=round(waited, 1), seen=seen, running=running)
    if running:
        msg = ("%d migration(s) still running on this host after %d s: %s. %s was NOT restarted, so that they "
               "are not cut; the restart stays pending and the next run of the playbook does it. Let them "
               "finish (virsh domjobinfo NAME, or the live_migration_info module), or abort them, then run "
               "again; or raise the wait timeout.")
        module.fail_json(msg=msg % (len(running), p["timeout"], domain_jobs.describe(running), p["restart"]), **result)
    if seen:
        result["msg"] = "waited %.0f s for %s to end before restarting %s" % (
            waited, ", ".join(seen), p["restart"])
    module.exit_json(**result)


if __name__ == "__main__":
    main()
