#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2025, openstack_ops developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

# This code runs on the compute nodes, EL7's Python 3.6 among them (ansible-core 2.16): no
# `from __future__ import annotations` (Python 3.7+) here, unlike the controller-side modules.
from __future__ import absolute_import, division, print_function

DOCUMENTATION = r"""
---
module: migration_preflight
short_description: Check from one compute node that its peers are ready for live migration
version_added: "0.1.0"
author:
  - openstack_ops developers (@openstack-ops)
description:
  - Runs on a compute node and checks each peer compute node the way a live migration will
    use it, without changing anything.
  - ICMP reachability, resolution of the peer's host name, TCP to the libvirt port (must
    accept), TCP to the migration port range (must be open or refused, never filtered),
    C(virsh -c URI hostname) over the configured transport, and free disk space in the
    instances path.
  - The module never fails on a broken pair; it returns every check so that the caller can
    report all broken pairs of all nodes in one message. Use I(fail_on_error) to fail here.
options:
  peers:
    description: The peer compute nodes.
    type: list
    elements: dict
    required: true
    suboptions:
      name:
        description: The peer's host name, as Nova and QEMU use it for the migration streams.
        type: str
        required: true
      address:
        description: The peer's address on the migration network.
        type: str
        required: true
      busy_ports:
        description:
          - Migration ports the peer listens on right now (a QEMU waiting for an incoming migration
            stream). They are never probed, because QEMU takes the first connection to such a port for
            the stream, and a probe there fails the running migration. The preflight role fills them in
            from C(ss -ltn) on each peer just before the probes.
        type: list
        elements: int
        default: []
  checks:
    description: Which checks to run.
    type: list
    elements: str
    choices: [icmp, resolve, libvirt_port, migration_ports, virsh, disk]
    default: [icmp, resolve, libvirt_port, migration_ports, virsh, disk]
  libvirt_port:
    description: The peer's libvirt port (16509 tcp, 16514 tls, 22 ssh).
    type: int
    default: 16514
  migration_port_min:
    description: First port of QEMU's migration range.
    type: int
    default: 49152
  migration_port_max:
    description: Last port of QEMU's migration range.
    type: int
    default: 49215
  libvirt_uri:
    description: URI template for I(checks=virsh), C({host}) is replaced by the peer address.
    type: str
    default: qemu+tls://{host}/system
  instances_path:
    description: Where Nova keeps instance disks; the nearest existing parent is measured.
    type: path
    default: /var/lib/nova/instances
  min_free_gb:
    description: Free space the instances path needs, in GiB.
    type: float
    default: 10
  timeout:
    description: Seconds per probe.
    type: float
    default: 3
  fail_on_error:
    description: Fail this task when any check fails.
    type: bool
    default: false
notes:
  - Read-only; check mode runs the same probes.
attributes:
  check_mode:
    description: Can run in check_mode and return changed status prediction without modifying target.
    support: full
  diff_mode:
    description: Will return details on what has changed (or possibly needs changing in check_mode), when in diff mode.
    support: none
"""

EXAMPLES = r"""
- name: Check the peers of this compute node
  openstack_ops.live_migration.migration_preflight:
    peers:
      - name: compute2
        address: 192.0.2.12
    libvirt_port: 16509
    libvirt_uri: qemu+tcp://{host}/system
  register: preflight
"""

RETURN = r"""
checks:
  description: Every check that ran.
  returned: always
  type: list
  elements: dict
  contains:
    node:
      description: The node that ran the check (its host name).
      type: str
    peer:
      description: The peer checked, or null for local checks (disk).
      type: str
    check:
      description: icmp, resolve, libvirt_port, migration_ports, virsh or disk.
      type: str
    target:
      description: What was probed (address, port, URI, path).
      type: str
    ok:
      description: Whether the check passed.
      type: bool
    detail:
      description: What was seen.
      type: str
failures:
  description: 'One line per failed check: C(node -> peer: check target: detail).'
  returned: always
  type: list
  elements: str
"""

import os
import socket

from concurrent.futures import ThreadPoolExecutor

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.openstack_ops.live_migration.plugins.module_utils import preflight as pf
from ansible_collections.openstack_ops.live_migration.plugins.module_utils.params import refuse_empty

ALL_CHECKS = ["icmp", "resolve", "libvirt_port", "migration_ports", "virsh", "disk"]


def _check(node, peer, check, target, ok, detail):
    return dict(node=node, peer=peer, check=check, target=str(target), ok=bool(ok), detail=detail)


def _icmp(module, address, timeout):
    ping = module.get_bin_path("ping")
    if not ping:
        return False, "ping is not installed (iputils-ping / iputils)"
    rc, out, err = module.run_command([ping, "-c", "1", "-W", str(int(max(1, timeout))), address])
    if rc == 0:
        return True, "reply"
    lines = (err or out).strip().splitlines()
    return False, lines[-1] if lines else "no reply"


def _resolve(name):
    try:
        infos = socket.getaddrinfo(name, None)
    except socket.gaierror as err:
        return False, "does not resolve: %s" % err
    return True, "resolves to %s" % ", ".join(sorted(set(i[4][0] for i in infos)))


def _virsh(module, uri, timeout):
    virsh = module.get_bin_path("virsh")
    if not virsh:
        return False, "virsh is not installed (libvirt-clients / libvirt-client)"
    rc, out, err = module.run_command(
        ["timeout", str(int(max(5, timeout * 5))), virsh, "-c", uri, "hostname"])
    if rc == 0:
        return True, "connected, peer says %s" % out.strip()
    return False, (err or out).strip().replace("\n", " ") or "rc=%d" % rc


def _free_bytes(path):
    probe = path
    while probe and not os.path.exists(probe):
        parent = os.path.dirname(probe)
        if parent == probe:
            break
        probe = parent
    st = os.statvfs(probe)
    return probe, st.f_bavail * st.f_frsize


def run_checks(module):
    p = module.params
    node = socket.gethostname()
    timeout = p["timeout"]
    checks = []
    with ThreadPoolExecutor(max_workers=32) as pool:
        for peer in p["peers"]:
            name, address = peer["name"], peer["address"]
            if "icmp" in p["checks"]:
                checks.append(_check(node, name, "icmp", address, *_icmp(module, address, timeout)))
            if "resolve" in p["checks"]:
                checks.append(_check(node, name, "resolve", name, *_resolve(name)))
            if "libvirt_port" in p["checks"]:
                outcome = pf.tcp_probe(address, p["libvirt_port"], timeout)
                checks.append(_check(node, name, "libvirt_port", "%s:%d" % (address, p["libvirt_port"]),
                                     pf.service_port_ok(outcome), outcome))
            if "migration_ports" in p["checks"]:
                busy = set(peer.get("busy_ports") or [])
                ports = [port for port in range(p["migration_port_min"], p["migration_port_max"] + 1) if port not in busy]
                outcomes = dict(zip(ports, pool.map(lambda port: pf.tcp_probe(address, port, timeout), ports)))
                outcomes.update((port, pf.BUSY) for port in busy
                                if p["migration_port_min"] <= port <= p["migration_port_max"])
                ok, detail = pf.summarise_range(outcomes)
                checks.append(_check(node, name, "migration_ports", "%s:%d-%d" % (
                    address, p["migration_port_min"], p["migration_port_max"]), ok, detail))
            if "virsh" in p["checks"]:
                uri = p["libvirt_uri"].replace("{host}", address)
                checks.append(_check(node, name, "virsh", uri, *_virsh(module, uri, timeout)))
    if "disk" in p["checks"]:
        measured, free = _free_bytes(p["instances_path"])
        ok, detail = pf.free_space_check(measured, free, int(p["min_free_gb"] * 1024 ** 3))
        checks.append(_check(node, None, "disk", p["instances_path"], ok, detail))
    return checks


def main():
    module = AnsibleModule(
        argument_spec=dict(
            peers=dict(type="list", elements="dict", required=True, options=dict(
                name=dict(type="str", required=True),
                address=dict(type="str", required=True),
                busy_ports=dict(type="list", elements="int", default=[]),
            )),
            checks=dict(type="list", elements="str", choices=ALL_CHECKS, default=ALL_CHECKS),
            libvirt_port=dict(type="int", default=16514),
            migration_port_min=dict(type="int", default=49152),
            migration_port_max=dict(type="int", default=49215),
            libvirt_uri=dict(type="str", default="qemu+tls://{host}/system"),
            instances_path=dict(type="path", default="/var/lib/nova/instances"),
            min_free_gb=dict(type="float", default=10),
            timeout=dict(type="float", default=3),
            fail_on_error=dict(type="bool", default=False),
        ),
        supports_check_mode=True,
    )
    refuse_empty(module)
    if module.params["migration_port_min"] > module.params["migration_port_max"]:
        module.fail_json(msg="migration_port_min (%d) is above migration_port_max (%d): swap them." % (
            module.params["migration_port_min"], module.params["migration_port_max"]))
    checks = run_checks(module)
    failures = pf.format_failures(checks)
    if failures and module.params["fail_on_error"]:
        module.fail_json(msg="Preflight failed:\n" + "\n".join(failures), checks=checks, failures=failures)
    module.exit_json(changed=False, checks=checks, failures=failures)


if __name__ == "__main__":
    main()
