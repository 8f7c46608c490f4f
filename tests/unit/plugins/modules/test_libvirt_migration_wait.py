# -*- coding: utf-8 -*-
# Copyright: (c) 2025, openstack_ops developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""libvirt_migration_wait end to end in-process, against a STAND-IN virsh on PATH (a shell script
that prints what libvirt 9.0's virsh printed in Molecule): the source's outgoing job, the
destination's refusal of domjobinfo, a domain that went away, a migration that ends."""

from __future__ import annotations

import os

import pytest

from ansible_collections.openstack_ops.live_migration.plugins.modules import libvirt_migration_wait
from ansible_collections.openstack_ops.live_migration.tests.unit.plugins.moduletest import run_module

VIRSH = r'''#!/bin/sh
# stand-in: $STATE/polls counts `list` calls; the migration of "out" ends after ENDS_AFTER of them
shift 2   # -c URI
case "$1" in
  list)
    n=$(( $(cat "$STATE/polls" 2>/dev/null || echo 0) + 1 )); echo $n > "$STATE/polls"
    [ -n "$UNREACHABLE" ] && { echo "error: failed to connect to the hypervisor" >&2; exit 1; }
    printf 'out\nin\nidle\ngone\n' ;;
  domjobinfo)
    n=$(cat "$STATE/polls")
    case "$2" in
      out) if [ "$n" -le "$ENDS_AFTER" ]; then
             printf 'Job type:         Unbounded\nOperation:        Outgoing migration\n'
             printf 'Time elapsed:     1200         ms\n'
           else printf 'Job type:         None\n'; fi ;;
      in) if [ "$n" -le "$ENDS_AFTER" ]; then
            echo 'error: Requested operation is not valid: migration statistics are available only on the source host' >&2
            exit 1
          else printf 'Job type:         None\n'; fi ;;
      idle) printf 'Job type:         None\n' ;;
      gone) echo "error: failed to get domain 'gone'" >&2; exit 1 ;;
    esac ;;
  domstate)
    case "$3" in idle) echo 'running (booted)' ;; in) echo 'running (migrated)' ;; out) echo 'running (booted)' ;;
                 *) echo "error: failed to get domain" >&2; exit 1 ;; esac ;;
esac
'''


@pytest.fixture
def virsh(tmp_path, monkeypatch):
    bin_dir = tmp_path / 'bin'
    bin_dir.mkdir()
    (bin_dir / 'virsh').write_text(VIRSH)
    os.chmod(bin_dir / 'virsh', 0o755)
    monkeypatch.setenv('PATH', '%s:%s' % (bin_dir, os.environ['PATH']))
    monkeypatch.setenv('STATE', str(tmp_path))
    monkeypatch.setattr(libvirt_migration_wait.time, 'sleep', lambda seconds: None)
    return tmp_path


def test_waits_for_both_sides_then_returns(virsh, monkeypatch, capsys):
    monkeypatch.setenv('ENDS_AFTER', '2')
    result = run_module(libvirt_migration_wait, dict(timeout=60, interval=1, restart='libvirtd.service'),
                        monkeypatch, capsys)
    assert result['changed'] is False
    assert result['running'] == []
    assert result['seen'] == ['out', 'in']
    assert (virsh / 'polls').read_text().strip() == '3'
    assert 'before restarting libvirtd.service' in result['msg']


def test_fails_at_the_bound_and_names_each_side(virsh, monkeypatch, capsys):
    monkeypatch.setenv('ENDS_AFTER', '1000')
    result = run_module(libvirt_migration_wait, dict(timeout=0, restart='nova-compute.service'),
                        monkeypatch, capsys)
    assert result['failed'] is True
    assert [j['domain'] for j in result['running']] == ['out', 'in']
    assert 'out (Outgoing migration, 1200 ms), in (Incoming migration)' in result['msg']
    assert 'nova-compute.service was NOT restarted' in result['msg']


def test_nothing_to_wait_for_when_libvirt_does_not_answer(virsh, monkeypatch, capsys):
    monkeypatch.setenv('ENDS_AFTER', '1000')
    monkeypatch.setenv('UNREACHABLE', '1')
    result = run_module(libvirt_migration_wait, dict(), monkeypatch, capsys)
    assert result['running'] == [] and result['seen'] == []
    assert 'does not answer' in result['msg']


@pytest.mark.parametrize('args, message', [
    (dict(uri=''), 'uri is an empty string'),
    (dict(timeout=-1), 'timeout must be >= 0'),
    (dict(interval=0), 'interval >= 1'),
])
def test_bad_input_is_refused(virsh, monkeypatch, capsys, args, message):
    result = run_module(libvirt_migration_wait, args, monkeypatch, capsys)
    assert result['failed'] is True and message in result['msg']
    assert not (virsh / 'polls').exists()   # refused before virsh ran
