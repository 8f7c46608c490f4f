# -*- coding: utf-8 -*-
# Copyright: (c) 2025, openstack_ops developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The verdict on one migration (part of LiveMigration): success, or the story of the failure.

Success needs all of: the migration record is 'completed', the server's host is the destination, the
server is ACTIVE (PAUSED if it was paused before) with that power_state and no task, and, where
libvirt is read, the domain runs on the destination and not on the source (``waiter.success_problems``,
``waiter.libvirt_problems``). Nothing else -- not the server status alone, not libvirt alone -- makes
a success. A failure says what Nova recorded (migration status, instance action events, fault), where
the server is, what libvirt shows on both hosts, and a hint when the cause is known.
"""

from __future__ import annotations

from ansible_collections.openstack_ops.live_migration.plugins.module_utils.errors import NovaError
from ansible_collections.openstack_ops.live_migration.plugins.module_utils.libvirt_jobs import LibvirtUnavailable, summarise_job
from ansible_collections.openstack_ops.live_migration.plugins.module_utils.views import brief_server, event_reasons
from ansible_collections.openstack_ops.live_migration.plugins.module_utils.waiter import (
    host_changed, libvirt_problems, migration_completed, migration_status, server_paused, server_settled,
    success_problems, suspect_block_migration, wait_for)


SETTLE_TIMEOUT_S = 60.0         # after a final migration status: Nova finishing with the server
SETTLE_INTERVAL_S = 0.5
QUIET_S = 3.0                   # after a failure: how long Nova's view must stay unchanged (settle_final)
LIBVIRT_VERIFY_S = 20.0         # after 'completed': how long libvirt may take to answer on both hosts


def libvirt_view(source_host, src, dest_host, dst, errors):
    """One sentence on where libvirt sees the domain (states from LibvirtJobReader.domain_state), or
    None when libvirt was not read at all. A host whose libvirt did not answer is named with why."""
    if src is None and dst is None and not errors:
        return None
    parts = []
    for host, state in ((source_host, src), (dest_host, dst)):
        if not host:
            continue
        if state is not None:
            parts.append('%s on %s' % (state, host))
        elif host in errors:
            parts.append('unknown on %s (its libvirt did not answer: %s)' % (host, errors[host]))
        else:
            parts.append('unknown on %s' % host)
    return 'libvirt: the domain is %s.' % ' and '.join(parts)


class Verdict(object):
    """Mixed into LiveMigration: the verdict once the migration record has a final status."""

    def conclude(self, sid):
        """The migration record has a final status: verify, or explain the failure."""
        m = self.migration
        if migration_completed(m):
            dest = m.get('dest_compute')
            server = self.settle(sid, lambda s: server_settled(s) and host_changed(s, self.source_host))[1]
            elapsed = self.elapsed()
            problems = success_problems(m, server, self.source_host, self.paused_before, self.p.get('target_host'))
            self.result.update(server=brief_server(server), migration=m, elapsed_s=elapsed,
                               dest_host=dest, server_host=server.get('host'))
            src, dst, view = self.libvirt_verdict(sid, dest, m.get('dest_node'), server_paused(server))
            if self.source_reader is not None:
                problems += libvirt_problems(self.source_host, src, dest, dst, server_paused(server))
            self.finish_job(sid, dest, m.get('dest_node'))
            self.result['events'] = self.events(sid)
            if problems:
                msg = ('Nova reports migration %s of %s completed, but %s. This is NOT a successful migration: '
                       'check the server (openstack server show %s) and the guest on both hosts.' % (
                           m.get('id'), self.who(server), '; '.join(problems), sid))
                self.fail(msg + view, hint_source=msg)
            self.check_suspect(sid)
            self.result['ok'] = True
            self.result['samples'] = self.buffer.items()
            self.result['sample_count'] = self.buffer.count
            self.timeline.write('event', t=elapsed, name='verified', host=server.get('host'), status=server.get('status'))
            return self.result
        server = self.settle_final(sid)
        m = self.migration
        self.result.update(server=brief_server(server), migration=m, elapsed_s=self.elapsed(),
                           dest_host=m.get('dest_compute'), server_host=server.get('host'))
        action = self.action(sid)
        reasons = event_reasons(action) if action else []
        if server.get('fault') and server['fault'] not in ' '.join(reasons):
            reasons.append('server fault: %s' % server['fault'])
        self.result['events'] = (action or {}).get('events') or []
        msg = 'Live migration of %s from %s to %s failed: migration %s ended %r.' % (
            self.who(server), self.source_host, m.get('dest_compute') or '?', m.get('id'), m.get('status'))
        if reasons:
            msg += ' Nova says: %s.' % ' | '.join(r.rstrip('.') for r in reasons)
        else:
            msg += (' Nova recorded no reason: see the nova-compute logs on %s and %s for request %s.'
                    % (self.source_host, m.get('dest_compute') or 'the destination', self.result.get('request_id')))
        msg += ' ' + self.where(server)
        # where the guest really is: Nova may say ERROR while the domain runs on the source
        self.fail(msg + self.libvirt_locations(sid, m.get('dest_compute'), m.get('dest_node'))[2], reasons,
                  hint_source=msg)

    def settle(self, sid, predicate, budget=SETTLE_TIMEOUT_S):
        ok, server, dummy = wait_for(lambda: self.api.get_server(sid), predicate, budget, SETTLE_INTERVAL_S, self._clock)
        return ok, server

    def settle_final(self, sid, budget=SETTLE_TIMEOUT_S):
        """The server once Nova has stopped changing it and the migration record, after a migration
        that did not succeed (the record is refreshed on the way).

        Measured with nova 34 and the libvirt driver (and so written in its code): the rollback
        first leaves the server ACTIVE with no task and the migration 'cancelled' (after an abort)
        or 'failed'; only then does the error of libvirt's migration thread reach the compute
        manager, which sets the migration to 'error' and the server to ERROR. The first settled
        view is therefore not the last one: wait until nothing changed for QUIET_S seconds."""
        mid = (self.migration or {}).get('id')
        last = since = server = None
        for dummy in self._clock(budget, SETTLE_INTERVAL_S):
            server = self.api.get_server(sid)
            if mid is not None:
                self.merge(self.api.migration_record(sid, mid), self.elapsed())
            view = (migration_status(self.migration), server.get('status'), server.get('vm_state'),
                    server.get('task_state'), server.get('host'))
            now = self.monotonic()
            if view != last:
                last, since = view, now
            elif server_settled(server) and now - since >= QUIET_S:
                break
        return server

    def libvirt_verdict(self, sid, dest, dest_node, paused=False):
        """libvirt_locations() once both hosts agree that the guest moved, or as they are after
        LIBVIRT_VERIFY_S (a libvirtd restarting, a destination still resuming the guest)."""
        for dummy in self._clock(LIBVIRT_VERIFY_S, 1.0):
            src, dst, view = self.libvirt_locations(sid, dest, dest_node)
            if self.source_reader is None or not libvirt_problems(self.source_host, src, dest, dst, paused):
                break
        return src, dst, view

    def libvirt_locations(self, sid, dest, dest_node):
        """(state on source, state on destination, ' ' + libvirt_view(...)) from libvirt for a failure
        message; a state is None where unknown. Nothing is read without a libvirt_uri (text '')."""
        if self.source_reader is None:
            return None, None, ''
        src = dst = None
        errors = {}
        try:
            src = self.source_reader.domain_state(sid)
        except LibvirtUnavailable as e:
            errors[self.source_host] = str(e)
            self.warn('libvirt on the source: %s' % e)
        if dest:
            reader = None
            try:
                reader = self.reader_for(dest, dest_node)
                dst = reader.domain_state(sid)
            except (ValueError, LibvirtUnavailable) as e:
                errors[dest] = str(e)
                self.warn('libvirt on the destination: %s' % e)
            finally:
                if reader is not None:
                    reader.close()
        view = libvirt_view(self.source_host, src, dest, dst, errors)
        return src, dst, ' ' + view if view else ''

    def where(self, server):
        text = 'The server is %s (vm_state %s) on %s.' % (server.get('status'), server.get('vm_state'), server.get('host'))
        if server.get('host') == self.source_host and (server.get('status') or '').upper() in ('ACTIVE', 'PAUSED'):
            text += ' It still runs on the source: nothing moved.'
        return text

    def action(self, sid):
        try:
            return self.api.action(sid, self.result.get('request_id'))
        except NovaError as e:
            self.warn('Could not read the instance action events: %s' % e.msg)
            return None

    def events(self, sid):
        action = self.action(sid)
        return (action or {}).get('events') or []

    def finish_job(self, sid, dest, dest_node):
        """The final libvirt figures: the destination's completed stats, else our last sample."""
        if self.source_reader is None:
            return
        completed = None
        if dest:
            reader = None
            try:
                reader = self.reader_for(dest, dest_node)
                completed = reader.completed(sid)
            except (ValueError, LibvirtUnavailable):
                completed = None
            finally:
                if reader is not None:
                    reader.close()
        self.result['job'] = summarise_job(self.tracker.last, completed, self.tracker.jobs)

    def check_suspect(self, sid):
        """A block migration in which libvirt never showed a disk byte is not verified: it fails, unless the
        operator accepts it (accept_suspect_block_migration), and then it is a warning."""
        if not suspect_block_migration(self.tracker.jobs, self.p['block_migration']):
            return
        self.result['suspect_block_migration'] = True
        text = ('SUSPECT block migration: libvirt never reported a disk byte (disk_total stayed 0 in all %d samples). '
                'Without VIR_MIGRATE_NON_SHARED_INC libvirt can report success while the guest arrives on an empty '
                'disk. Check the guest and its disk on %s now.' % (len(self.tracker.jobs), self.result.get('dest_host')))
        if self.p.get('accept_suspect_block_migration'):
            self.warn(text)
            return
        self.fail('Nova reports migration %s of %s completed, but it is NOT verified: %s Once the guest and its disk '
                  'are checked, accept_suspect_block_migration=true accepts such a migration.' % (
                      self.migration.get('id'), self.who(), text), hints=False)
