# -*- coding: utf-8 -*-
# Copyright: (c) 2025, openstack_ops developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Known error texts -> what the operator should do.

The texts come from Nova (migration pre-checks, instance action events,
server faults, API errors) and from libvirt/QEMU as Nova relays them. One
entry per known cause; matching is case-insensitive. Add an entry when a
new cause is understood, together with a test case.
"""

from __future__ import annotations

import re

HINTS = (
    (r"unable to execute QEMU command 'migrate': this feature or command is not currently supported",
     "QEMU on the source lacks block migration (the stock EL7 qemu-kvm). On EL7, run this "
     "collection's qemu_kvm_ev role on the compute hosts (it replaces qemu-kvm with qemu-kvm-ev), "
     "then retry."),
    (r"Migration without shared storage is unsafe",
     "libvirt refused to move a local disk without copying it: the migration flags lack "
     "VIR_MIGRATE_NON_SHARED_INC. Use block_migration=true (Nova then adds the flag) and make sure "
     "no 2015-era live_migration_flag/block_migration_flag overrides remain in nova.conf."),
    (r"is not on shared storage|InvalidSharedStorage",
     "The instance's disk is not on storage shared by both hosts: use block_migration=true "
     "(or auto)."),
    (r"Attempt to migrate guest to the same host",
     "Both hypervisors report the same libvirt host UUID. Give each host a unique host_uuid "
     "in /etc/libvirt/libvirtd.conf and restart libvirtd."),
    (r"unable to connect to server at|Failed to connect to remote libvirt URI|Connection refused",
     "The destination's libvirtd does not accept migration connections. Run this collection's "
     "libvirt listener role: libvirtd-tcp.socket or libvirtd-tls.socket (virtproxyd-* on modular "
     "hosts) enabled, port 16509/16514 open between the compute hosts."),
    (r"Name or service not known|Temporary failure in name resolution|Could not resolve",
     "The source cannot resolve the destination's hostname, which libvirt and QEMU use for the "
     "memory and disk streams. Add DNS or /etc/hosts entries, or set "
     "[libvirt] live_migration_inbound_addr on each compute host."),
    (r"authentication failed|authentication unavailable|no polkit agent",
     "libvirt on the destination rejected the source's credentials: check auth_tcp/auth_tls in "
     "libvirtd.conf and the SASL or TLS setup of the migration URI."),
    (r"No valid host was found|NoValidHost",
     "The scheduler rejected the destination: not enough capacity in placement, or a filter "
     "(availability zone, aggregate, server group affinity, image or flavor traits) excludes it. "
     "Check openstack resource provider usage show and the scheduler log."),
    (r"Compute service of \S+ is unavailable|ComputeServiceUnavailable",
     "The compute service of a host involved is down: check nova-compute there "
     "(openstack compute service list --service nova-compute)."),
    (r"Connection to the hypervisor is broken|HypervisorUnavailable",
     "A nova-compute could not reach its own libvirtd (the host named with the failed event; "
     "measured: the destination's libvirtd stopped mid-migration, so its rollback failed). "
     "Start libvirtd and its sockets there (systemctl status libvirtd). Nova then leaves the "
     "server in ERROR even when the guest still runs on the source: check with virsh domstate "
     "on the source, then openstack server set --state active SERVER."),
    (r"CPU doesn't have compatibility|InvalidCPUInfo|incompatible with host CPU",
     "The destination CPU lacks features of the guest's CPU model. Set [libvirt] cpu_mode/"
     "cpu_models to a baseline both hosts support, then restart the guest so it picks it up."),
    (r"Unable to migrate .*: Disk of instance is too large|disk_available_least|too large\(available",
     "The destination lacks local disk space for the instance's disk: free space or pick "
     "another target."),
    (r"Safety check \S+ on \S+ failed|image safety check|format inspector",
     "Nova's image format inspector rejected the instance's disk image on the destination. "
     "Check the image (qemu-img info); only as a last resort set "
     "[workarounds] disable_deep_image_inspection."),
    (r"cannot acquire state change lock",
     "A libvirt job on the domain is stuck. Look at virsh domjobinfo on the source; retry "
     "after it ends."),
    (r"49152|nbd-server|NBD server|nbd export",
     "The disk (NBD) or memory stream could not connect: open TCP 49152-49215 between the "
     "compute hosts."),
    (r"while it is in vm_state error",
     "The server is in ERROR. Nova 34 with the libvirt driver leaves it so after an aborted "
     "live migration even though the guest keeps running on the source. If libvirt shows the "
     "domain running on its host, reset it (openstack server set --state active SERVER) or "
     "rerun with recover_on_abort=true."),
    (r"Policy doesn't allow|os_compute_api:os-migrate-server|HTTP 403|Forbidden",
     "Live migration, host names and migration records are admin-only by default: use "
     "credentials with the admin role."),
    (r"HTTP 401|The request you have made requires authentication|Unauthorized",
     "Authentication failed: check the cloud or auth parameters (clouds.yaml, OS_* variables)."),
)

_COMPILED = tuple((re.compile(pattern, re.IGNORECASE), hint) for pattern, hint in HINTS)


def hints_for(texts):
    """Hints for any of the texts, each hint once, in table order."""
    if isinstance(texts, str):
        texts = [texts]
    texts = [t for t in (texts or []) if t]
    found = []
    for regex, hint in _COMPILED:
        if any(regex.search(t) for t in texts) and hint not in found:
            found.append(hint)
    return found
