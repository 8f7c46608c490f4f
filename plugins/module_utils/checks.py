# -*- coding: utf-8 -*-
# Copyright: (c) 2025, openstack_ops developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The checks before a live migration is requested (part of LiveMigration).

Is a migration of the server already in progress (then it is attached to), is the server already where
it should be (and is that verified), can the target take it (service, placement capacity), and does
libvirt on the source answer. A failed check ends the run with "Nothing was changed."
"""

from __future__ import annotations

from ansible_collections.openstack_ops.live_migration.plugins.module_utils.libvirt_jobs import LibvirtUnavailable, render_uri
from ansible_collections.openstack_ops.live_migration.plugins.module_utils.placement import capacity_shortfalls, flavor_resources
from ansible_collections.openstack_ops.live_migration.plugins.module_utils.waiter import already_there_problems, migration_running, migration_status
from ansible_collections.openstack_ops.live_migration.plugins.module_utils.errors import NovaError


class Checks(object):
    """Mixed into LiveMigration: the checks before the request."""

    @staticmethod
    def migration_in_progress(server, records):
        """The live migration of the server that is in progress, or None: Nova has the server in task
        'migrating' and its newest live-migration record has no final status. (A record that never got a
        final status while the server has no task is a leftover of a crashed service, not a migration.)"""
        if (server.get('task_state') or '').lower() != 'migrating':
            return None
        for record in records:   # newest first
            return record if migration_running(record) else None
        return None

    def already_there(self, server, target, records):
        """The server sits on the target: a success only when Nova is done with it, no migration of it is
        open, and (with libvirt_uri) its domain runs there. Anything else fails and says what to do."""
        state = None
        if self.p.get('libvirt_uri'):
            reader, state = self.domain_state_on(server, lambda e, reader: (
                '%s is on %s already, but libvirt there did not answer (%s), so its guest is not verified. Check '
                'libvirt_uri and libvirtd on %s.' % (self.who(server), target, e, target)))
            reader.close()
            self.result['libvirt_uri'] = reader.uri
        problems = already_there_problems(server, state)
        open_records = [r for r in records if migration_running(r)]
        if open_records:
            problems.append('Nova still shows its migration %s as %r although no task is on the server: look at it '
                            'with live_migration_info before anything else.' % (
                                open_records[0].get('id'), migration_status(open_records[0])))
        if problems:
            self.refuse('%s is on %s already, but that is not a verified end state: %s' % (
                self.who(server), target, ' '.join(problems)))
        self.result.update(ok=True, changed=False, dest_host=target,
                           msg='%s is already on %s: nothing to do.' % (self.who(server), target))
        return self.result

    def check_target(self, server, target):
        service = self.api.compute_service(target)
        if service is None:
            hosts = self.api.compute_hosts()
            self.refuse('target_host %r is not a nova-compute host. Known compute hosts: %s.'
                        % (target, ', '.join(hosts) or 'none'))
        if service['state'] != 'up' or service['forced_down']:
            forced = ', forced down' if service['forced_down'] else ''
            self.refuse('The nova-compute service on %s is down (state=%s%s): start it, or pick another '
                        'target_host.' % (target, service['state'], forced))
        if service['status'] != 'enabled':
            self.refuse('The nova-compute service on %s is disabled%s: enable it (openstack compute service set '
                        '--enable %s nova-compute) or pick another target_host.' % (
                            target, ' (%s)' % service['disabled_reason'] if service['disabled_reason'] else '', target))

    def check_capacity(self, server, target):
        flavor = server.get('flavor') or {}
        if not (flavor.get('vcpus') or flavor.get('ram')):
            self.warn('The flavor details of %s are not embedded in the server (compute API < 2.47): '
                      'capacity on %s not checked in placement; the scheduler still checks it.' % (self.who(server), target))
            return
        try:
            hyp_id, node = self.api.hypervisor(target)
            if node is None:
                self.warn('No hypervisor found for %s: capacity not checked in placement.' % target)
                return
            rp_id, rp_name = self.api.resource_provider(node, hyp_id)
            if rp_id is None:
                self.warn('No placement resource provider named %s: capacity not checked.' % node)
                return
            inventories = self.api.inventories(rp_id)
            usages = self.api.usages(rp_id)
        except NovaError as e:
            self.warn('Capacity on %s not checked in placement: %s' % (target, e.msg))
            return
        cpu_class = 'PCPU' if 'PCPU' in inventories else 'VCPU'
        wanted = flavor_resources(flavor, server.get('volume_backed'), cpu_class)
        problems, unchecked = capacity_shortfalls(wanted, inventories, usages)
        if unchecked:
            self.warn('Placement has no %s inventory on %s: not checked there.' % (', '.join(unchecked), rp_name))
        if problems:
            self.refuse('The flavor %s of %s does not fit on %s (placement resource provider %s): %s. Free capacity '
                        'there or pick another target_host.' % (
                            flavor.get('name'), self.who(server), target, rp_name, '; '.join(problems)))

    def reader_for(self, host, node=None):
        uri = render_uri(self.p['libvirt_uri'], host, node, self.p.get('libvirt_addresses'))
        return self.reader_factory(uri)

    def domain_state_on(self, server, unreachable):
        """(reader, domain state) on the server's host; a libvirt that does not answer fails the run with
        unreachable(error, reader), a URI template that cannot be filled in with its own message."""
        try:
            reader = self.reader_for(server['host'], server.get('node'))
        except ValueError as e:
            self.refuse('%s.' % e)
        try:
            return reader, reader.domain_state(server['id'])
        except LibvirtUnavailable as e:
            reader.close()
            self.refuse(unreachable(e, reader), hints=False)

    def open_source_libvirt(self, server, attached=False):
        if not self.p.get('libvirt_uri'):
            return None
        reader, state = self.domain_state_on(server, lambda e, reader: (
            'libvirt_uri: cannot read the source hypervisor: %s. Check the URI (%s from the template %s), that '
            'libvirtd listens there and that this host may connect.' % (
                e, reader.uri, self.p['libvirt_uri'])))
        if state == 'absent' and attached:
            self.warn('libvirt at %s has no domain %s any more: the migration may be past its copy.' % (
                reader.uri, server['id']))
        elif state == 'absent':
            reader.close()
            self.refuse('libvirt at %s has no domain %s: the URI does not reach the hypervisor %s runs on (%s).' % (
                reader.uri, server['id'], self.who(server), server['host']))
        self.result['libvirt_uri'] = reader.uri
        return reader
