# -*- coding: utf-8 -*-
# Copyright: (c) 2025, openstack_ops developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The timeout policy (part of LiveMigration): what happens when ``timeout`` or ``queue_timeout`` expires.

``on_timeout``: abort (then settle, and optionally recover a server Nova left in ERROR once libvirt
proves where the guest runs), force_complete (then a grace period, and a message that says where the
guest is paused when even that expires), or fail. A migration still queued after ``queue_timeout`` is
cancelled (nothing was copied yet).
"""

from __future__ import annotations

from ansible_collections.openstack_ops.live_migration.plugins.module_utils import microversion
from ansible_collections.openstack_ops.live_migration.plugins.module_utils.errors import NovaError
from ansible_collections.openstack_ops.live_migration.plugins.module_utils.formatting import fmt_duration, progress_core
from ansible_collections.openstack_ops.live_migration.plugins.module_utils.views import brief_server
from ansible_collections.openstack_ops.live_migration.plugins.module_utils.waiter import (
    migration_completed, migration_finished, migration_status, migration_waiting)


ABORT_GRACE_S = 120.0           # after an abort request: the migration reaching a final status
FORCE_COMPLETE_GRACE_S = 300.0  # after force-complete: the paused guest's last copy

NOVA34_ABORT = (
    "This is how Nova (measured with nova 34 and the libvirt driver) reports an abort: libvirt "
    "cancels cleanly and the guest keeps running on the source, but Nova ends the migration "
    "'error' (not 'cancelled') and puts the server in ERROR, so the next live migration is "
    "refused (HTTP 409) until the server is reset to active.")


class TimeoutPolicy(object):
    """Mixed into LiveMigration: what a timeout calls for."""

    def on_timeout(self, sid, known):
        p = self.p
        action = p['on_timeout']
        m = self.migration
        self.result.update(timed_out=True, on_timeout_action=action)
        self.timeline.write('event', t=self.elapsed(), name='timeout', action=action)
        progress = progress_core(self.last_sample or {})
        mid = m.get('id')   # a timeout comes only once Nova started the migration: there is a record
        head = 'Timed out after %s waiting for migration %s of %s (status %r; %s).' % (
            fmt_duration(p['timeout']), mid, self.who(), m.get('status'), progress)
        if action == 'fail':
            server = self.api.get_server(sid)
            self.result.update(server=brief_server(server), server_host=server.get('host'), migration=m,
                               elapsed_s=self.elapsed())
            self.fail('%s on_timeout=fail: the migration was left running. Stop it with: openstack server migration '
                      'abort %s %s; or finish it with: openstack server migration force complete %s %s.'
                      % (head, sid, mid, sid, mid))
        if action == 'force_complete':
            try:
                self.api.force_complete(sid, mid)
            except NovaError as e:
                return self.timeout_refused(sid, known, head, 'force-complete', e)
            self.timeline.write('event', t=self.elapsed(), name='force_complete')
            self.warn('%s Requested force-complete: the guest is paused for the last copy.' % head)
            if self.watch(sid, known, FORCE_COMPLETE_GRACE_S) == 'finished':
                return self.conclude(sid)
            return self.force_complete_expired(sid, head)
        # abort
        try:
            self.api.abort(sid, mid)
        except NovaError as e:
            return self.timeout_refused(sid, known, head, 'abort', e)
        self.timeline.write('event', t=self.elapsed(), name='abort')
        self.watch(sid, known, ABORT_GRACE_S)
        if migration_completed(self.migration):
            self.warn('%s The abort came too late: the migration completed.' % head)
            return self.conclude(sid)
        server = self.settle_final(sid)
        self.after_abort(sid, server, head)

    def force_complete_expired(self, sid, head):
        """Force-complete was asked for and the migration still did not end: where the guest is, what
        libvirt shows on both hosts, and what the operator can do now."""
        m = self.migration
        mid, dest = m.get('id'), m.get('dest_compute')
        server = self.api.get_server(sid)
        self.result.update(server=brief_server(server), server_host=server.get('host'), migration=m,
                           elapsed_s=self.elapsed(), dest_host=dest)
        src, dst, view = self.libvirt_locations(sid, dest, m.get('dest_node'))
        postcopy = 'post-copy' in migration_status(m) or any(
            (j.get('memory_postcopy_requests') or 0) > 0 for j in self.tracker.jobs)
        msg = '%s Force-complete was requested, but the migration is still %r %s later.' % (
            head, migration_status(m), fmt_duration(FORCE_COMPLETE_GRACE_S))
        if postcopy:
            msg += (' Force-complete switched it to post-copy: the guest already runs on %s and fetches the rest of '
                    'its memory from %s. An abort is no longer possible (Nova refuses it in post-copy): wait for it '
                    '(openstack server migration show %s %s), and restart neither host until it has ended; if it '
                    'fails now, the guest is lost on both.' % (dest or 'the destination', self.source_host, sid, mid))
        else:
            paused_on = self.source_host if src in (None, 'paused') else None
            msg += (' The guest is %s (force-complete pauses it so that the last memory can be copied) and stays '
                    'paused until the migration ends. Next: abort it, which resumes the guest on %s (openstack '
                    'server migration abort %s %s), or wait for it (openstack server migration show %s %s).' % (
                        'paused on %s' % paused_on if paused_on else '%s on %s' % (src, self.source_host),
                        self.source_host, sid, mid, sid, mid))
        self.fail(msg + view + ' ' + self.where(server), hint_source=msg)

    def on_queue_timeout(self, sid, known):
        """The migration waited queue_timeout without being started by Nova: nothing was copied yet, so a
        queued one is cancelled (microversion 2.65); one that cannot be is left alone and reported."""
        p = self.p
        m = self.migration
        status = migration_status(m)
        self.result.update(timed_out=True)
        self.timeline.write('event', t=self.elapsed(), name='queue_timeout', status=status or None)
        waited = fmt_duration(p['queue_timeout'])
        server = self.api.get_server(sid)
        self.result.update(server=brief_server(server), server_host=server.get('host'), migration=m,
                           elapsed_s=self.elapsed())
        if m is None:
            self.fail('No migration record appeared for %s within queue_timeout (%s) after the request %s: Nova has '
                      'not started it, and there is nothing to cancel. Look at nova-conductor and the instance '
                      'actions (openstack server event list %s). %s' % (
                          self.who(server), waited, self.result.get('request_id'), sid, self.where(server)))
        mid = m.get('id')
        head = ('Migration %s of %s waited %s (queue_timeout) without being started by Nova (status %r'
                % (mid, self.who(server), waited, status))
        head += ': the source\'s max_concurrent_live_migrations are busy).' if status == 'queued' else ').'
        can_abort = status == 'queued' and microversion.features(self.max_version)['abort_queued']
        if not can_abort:
            why = ('aborting a queued migration needs compute API microversion %s' % microversion.requires(
                'abort_queued') if status == 'queued' else 'Nova cannot abort a migration in status %r' % status)
            self.fail('%s It was left as it is (%s): it starts when Nova gets to it; follow it with '
                      'live_migration_info, or run this again to attach to it. Nothing has been copied yet. %s' % (
                          head, why, self.where(server)))
        try:
            self.api.abort(sid, mid)
        except NovaError as e:
            self.poll(sid, known)
            if not migration_waiting(self.migration):
                self.warn('%s Nova refused to cancel it (%s): it has just started, and is followed as usual.' % (
                    head, e.msg))
                return self.follow(sid, known)
            self.fail('%s Cancelling it failed: %s. %s' % (head, e.msg, self.where(server)))
        self.result['changed'] = True
        self.timeline.write('event', t=self.elapsed(), name='abort', queued=True)
        self.watch(sid, known, ABORT_GRACE_S)
        if migration_completed(self.migration):
            self.warn('%s The cancel came too late: the migration ran and completed.' % head)
            return self.conclude(sid)
        server = self.settle_final(sid)
        self.result.update(server=brief_server(server), server_host=server.get('host'), migration=self.migration)
        self.fail('%s It was cancelled before anything was copied (the migration ended %r). %s Run it again when the '
                  'source is less busy, or raise queue_timeout.' % (head, migration_status(self.migration),
                                                                    self.where(server)))

    def timeout_refused(self, sid, known, head, what, error):
        """Nova refused abort/force-complete: maybe the migration just ended."""
        self.poll(sid, known)
        if migration_finished(self.migration):
            self.warn('%s Nova refused %s (%s): the migration had just ended.' % (head, what, error.msg))
            return self.conclude(sid)
        server = self.api.get_server(sid)
        self.result.update(server=brief_server(server), server_host=server.get('host'), migration=self.migration,
                           elapsed_s=self.elapsed())
        self.fail('%s Nova refused the %s: %s. The migration continues (status %r): follow it with '
                  'live_migration_info. %s' % (head, what, error.msg, migration_status(self.migration), self.where(server)))

    def after_abort(self, sid, server, head):
        m = self.migration
        dest = m.get('dest_compute')
        self.result.update(server=brief_server(server), server_host=server.get('host'), migration=m,
                           elapsed_s=self.elapsed(), dest_host=dest)
        msg = '%s The migration was aborted (on_timeout=abort) and ended %r. %s' % (
            head, m.get('status'), self.where(server))
        nova_error_state = (server.get('vm_state') or '').lower() == 'error' or (server.get('status') or '').upper() == 'ERROR'
        if migration_status(m) == 'error' and nova_error_state:
            msg += ' ' + NOVA34_ABORT
        hint_source = msg
        src, dst, view = self.libvirt_locations(sid, dest, m.get('dest_node'))
        msg += view
        if nova_error_state:
            if self.p.get('recover_on_abort'):
                msg += ' ' + self.recover(sid, server, src, dst, dest)
            else:
                msg += (' To recover: confirm the domain runs on %s (virsh domstate %s) and is absent from %s, then '
                        'run openstack server set --state active %s; or rerun with recover_on_abort=true and a '
                        'libvirt_uri.' % (self.source_host, sid, dest or 'the destination', sid))
        self.result['events'] = self.events(sid)
        self.fail(msg, hint_source=hint_source)

    def recover(self, sid, server, src, dst, dest):
        """Reset the server to active, only when libvirt proves where the guest is."""
        refuse = None
        if self.source_reader is None:
            refuse = 'no libvirt_uri to confirm where the guest runs'
        elif self.paused_before:
            refuse = 'the server was PAUSED before the migration; a reset would mark it ACTIVE'
        elif server.get('host') != self.source_host:
            refuse = 'Nova shows the server on %s, not on the source %s' % (server.get('host'), self.source_host)
        elif src != 'running':
            refuse = 'libvirt shows the domain %s on the source, not running' % (src or 'unknown')
        elif not dest:
            refuse = 'the destination is not known'
        elif dst != 'absent':
            refuse = 'libvirt shows the domain %s on the destination %s, not absent' % (dst or 'unknown', dest)
        if refuse:
            return 'recover_on_abort: the server was NOT reset, because %s.' % refuse
        try:
            self.api.reset_state_active(sid)
            after = self.api.get_server(sid)
        except NovaError as e:
            return 'recover_on_abort: resetting the server failed: %s.' % e.msg
        self.result.update(recovered=True, server=brief_server(after), server_host=after.get('host'))
        self.timeline.write('event', t=self.elapsed(), name='recovered', status=after.get('status'))
        return ('recover_on_abort: libvirt confirmed the domain running on %s and absent from %s, so the server was '
                'reset to active; it is now %s on %s.' % (self.source_host, dest, after.get('status'), after.get('host')))
