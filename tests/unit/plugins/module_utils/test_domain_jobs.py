# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The host's migration jobs as virsh shows them, and the bounded wait before a restart."""

from __future__ import annotations

import pytest

from ansible_collections.openstack_ops.live_migration.plugins.module_utils import domain_jobs

# What libvirt 9.0's `LC_ALL=C virsh domjobinfo` printed in the lab (trimmed), and older forms.
OUTGOING = """Job type:         Unbounded
Operation:        Outgoing migration
Time elapsed:     5123         ms
Data processed:   12.500 MiB
File total:       128.000 MiB
"""
INCOMING = "Job type:         Unbounded\nOperation:        Incoming migration\nTime elapsed:     800 ms\n"
NONE = "Job type:         None\n"
DUMP = "Job type:         Unbounded\nOperation:        Dump\n"
OLD_LIBVIRT = "Job type:         Bounded\nTime elapsed:     10 ms\n"   # before 3.3: no Operation line


@pytest.mark.parametrize('text, operation', [
    (OUTGOING, 'Outgoing migration'),
    (INCOMING, 'Incoming migration'),
    (NONE, None),
    ('', None),
    (DUMP, None),
    (OLD_LIBVIRT, 'a job (type Bounded; this libvirt does not say which)'),
])
def test_which_jobs_are_migrations(text, operation):
    assert domain_jobs.migration_of(domain_jobs.parse_domjobinfo(text)) == operation


@pytest.mark.parametrize('error, operation', [
    # the destination's libvirt 9.0 during an incoming migration (seen in Molecule: the wait missed it)
    ('error: Requested operation is not valid: migration statistics are available only on the source host',
     'Incoming migration'),
    ("error: failed to get domain 'x'", None),
    ('', None),
])
def test_the_destination_refusal_is_the_incoming_migration(error, operation):
    assert domain_jobs.incoming_from_error(error) == operation


@pytest.mark.parametrize('state, operation', [
    ('paused (migrating)\n', 'Incoming migration'),
    ('running (post-copy)', 'Post-copy migration (running (post-copy))'),
    ('paused (post-copy)', 'Post-copy migration (paused (post-copy))'),
    ('running (booted)', None),
    ('running (migrated)', None),   # arrived: over
    ('paused (user)', None),
    ('', None),
])
def test_migrations_seen_in_the_domain_state(state, operation):
    assert domain_jobs.migration_from_state(state) == operation


def test_parse_keeps_the_values_whole():
    fields = domain_jobs.parse_domjobinfo(OUTGOING)
    assert fields['Time elapsed'] == '5123 ms'
    assert fields['Data processed'] == '12.500 MiB'


class Clock:
    def __init__(self):
        self.now = 0.0

    def __call__(self):
        return self.now

    def sleep(self, seconds):
        assert seconds > 0
        self.now += seconds


JOB = {'domain': 'instance-1', 'operation': 'Outgoing migration', 'elapsed': '5 s'}


@pytest.mark.parametrize('name, readings, timeout, interval, running, waited, seen', [
    ('nothing runs: no wait', [[]], 600, 5, [], 0, []),
    ('ends after two looks', [[JOB], [JOB], []], 600, 5, [], 10, ['instance-1']),
    ('still running at the bound', [[JOB]] * 100, 12, 5, [JOB], 12, ['instance-1']),
    ('timeout 0 only looks', [[JOB]], 0, 5, [JOB], 0, ['instance-1']),
    ('a second one arrives meanwhile', [[JOB], [dict(JOB, domain='instance-2')], []], 600, 5, [], 10,
     ['instance-1', 'instance-2']),
])
def test_bounded_wait(name, readings, timeout, interval, running, waited, seen):
    clock, readings = Clock(), list(readings)
    result = domain_jobs.wait_for_migrations(lambda: readings.pop(0), clock, clock.sleep, timeout, interval)
    assert result == (running, waited, seen), name


def test_describe_names_each_migration():
    assert domain_jobs.describe([JOB, {'domain': 'b', 'operation': 'Incoming migration'}]) == \
        'instance-1 (Outgoing migration, 5 s), b (Incoming migration)'
