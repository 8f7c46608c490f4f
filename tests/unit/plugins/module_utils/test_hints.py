# -*- coding: utf-8 -*-
# Copyright: (c) 2025, openstack_ops developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

from ansible_collections.openstack_ops.live_migration.plugins.module_utils.hints import HINTS, hints_for
from ansible_collections.openstack_ops.live_migration.tests.unit.plugins.table import table

CASES = [
    dict(id='EL7 qemu-kvm lacks block migration',
         text="libvirt.libvirtError: internal error: unable to execute QEMU command 'migrate': this feature or "
              "command is not currently supported", hint='qemu_kvm_ev'),
    dict(id='2015 flags without NON_SHARED_INC', text='Operation not supported: Migration without shared storage is unsafe',
         hint='VIR_MIGRATE_NON_SHARED_INC'),
    dict(id='not on shared storage', text='InvalidSharedStorage: cmp2 is not on shared storage: Shared storage live-migration '
                                          'requires either shared storage or boot-from-volume with no local disks.',
         hint='block_migration=true'),
    dict(id='same host_uuid', text='internal error: Attempt to migrate guest to the same host 00000000-0000', hint='host_uuid'),
    dict(id='listener missing', text="unable to connect to server at 'cmp2:16509': Connection refused", hint='libvirtd-tcp.socket'),
    dict(id='name resolution', text="unable to connect to server at 'cmp2:49152': Name or service not known",
         hint='live_migration_inbound_addr'),
    dict(id='sasl', text='authentication failed: Failed to start SASL negotiation', hint='auth_tcp'),
    dict(id='scheduler', text='No valid host was found. ', hint='placement'),
    dict(id='compute down', text='Compute service of cmp2 is unavailable at this time.', hint='compute service list'),
    dict(id='hypervisor connection broken',
         text='compute_rollback_live_migration_at_destination on cmp2: Connection to the hypervisor is broken on host',
         hint='systemctl status libvirtd'),
    dict(id='cpu', text="Unacceptable CPU info: CPU doesn't have compatibility.", hint='cpu_mode'),
    dict(id='disk space', text='Unable to migrate 4f1c: Disk of instance is too large(available on destination host:1 < need:2)',
         hint='disk space'),
    dict(id='image inspector', text='Safety check mbr on gpt failed', hint='disable_deep_image_inspection'),
    dict(id='state change lock', text='Timed out during operation: cannot acquire state change lock '
                                      '(held by monitor=remoteDispatchDomainMigratePerform3Params)',
         hint='virsh domjobinfo'),
    dict(id='vm_state error after abort', text="Cannot 'os-migrateLive' instance 4f1c while it is in vm_state error",
         hint='recover_on_abort'),
    dict(id='policy', text="Policy doesn't allow os_compute_api:os-migrate-server:migrate_live to be performed.",
         hint='admin role'),
    dict(id='401', text='The request you have made requires authentication. (HTTP 401)', hint='clouds.yaml'),
    dict(id='case-insensitive', text='NO VALID HOST WAS FOUND', hint='placement'),
    dict(id='unknown text', text='something nobody has seen', hint=None),
]


@table(CASES)
def test_hints_for(case):
    found = hints_for(case['text'])
    if case['hint'] is None:
        assert found == []
    else:
        assert any(case['hint'] in h for h in found), found


def test_each_hint_once_in_table_order():
    texts = ['No valid host was found', 'no valid host was found', "CPU doesn't have compatibility"]
    found = hints_for(texts)
    assert len(found) == 2
    order = [hint for pattern, hint in HINTS]
    assert order.index(found[0]) < order.index(found[1])


def test_empty_inputs():
    assert hints_for(None) == [] and hints_for([]) == [] and hints_for(['', None]) == []
