# -*- coding: utf-8 -*-
# Copyright: (c) 2025, openstack_ops developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The live_migrate module end to end (arguments, check mode, results), with a fake cloud and libvirt."""

from __future__ import annotations

import functools
import json

from ansible_collections.openstack_ops.live_migration.plugins.module_utils.libvirt_jobs import LibvirtJobReader
from ansible_collections.openstack_ops.live_migration.plugins.module_utils.migration import LiveMigration
from ansible_collections.openstack_ops.live_migration.plugins.module_utils.timeline import read_timeline
from ansible_collections.openstack_ops.live_migration.plugins.modules import live_migrate
from ansible_collections.openstack_ops.live_migration.tests.unit.plugins import fakes
from ansible_collections.openstack_ops.live_migration.tests.unit.plugins.moduletest import run_module
from ansible_collections.openstack_ops.live_migration.tests.unit.plugins.table import FakeClock, table

URI = 'qemu+tcp://{host}/system'

CASES = [
    dict(id='success', args=dict(server='vm1', target_host='cmp2', libvirt_uri=URI),
         expect=dict(changed=True, ok=True, dest_host='cmp2', source_host='cmp1', timed_out=False),
         msg='live-migrated cmp1 -> cmp2'),
    dict(id='check mode', check=True, args=dict(server='vm1', target_host='cmp2', libvirt_uri=URI),
         expect=dict(changed=True, ok=True), msg='Would live-migrate', no_post=True),
    dict(id='already there', args=dict(server='vm1', target_host='cmp1'), expect=dict(changed=False, ok=True),
         msg='already on cmp1', no_post=True),
    dict(id='unknown server', args=dict(server='ghost'), expect=dict(failed=True, changed=False),
         msg='No server is named or has the ID', no_post=True),
    dict(id='same-name servers', setup=lambda c: c.servers.update({'u2': fakes.server_json(id='u2')}),
         args=dict(server='vm1'), expect=dict(failed=True), msg='More than one Server', no_post=True),
    dict(id='bad block_migration', args=dict(server='vm1', block_migration='maybe'), expect=dict(failed=True),
         msg='block_migration must be true, false or auto', no_post=True),
    dict(id='recover needs a uri', args=dict(server='vm1', recover_on_abort=True), expect=dict(failed=True),
         msg='recover_on_abort is True but all of the following are missing: libvirt_uri', no_post=True),
    dict(id='bad on_timeout', args=dict(server='vm1', on_timeout='panic'), expect=dict(failed=True),
         msg='value of on_timeout must be one of: abort, force_complete, fail', no_post=True),
    dict(id='poll interval too small', args=dict(server='vm1', poll_interval=0.01), expect=dict(failed=True),
         msg='poll_interval must be at least 0.1', no_post=True),
    # measured on the lab before the fix: -e target_host= let the scheduler move the server elsewhere
    dict(id='empty target_host', args=dict(server='vm1', target_host=''), expect=dict(failed=True, changed=False),
         msg='target_host is an empty string: to let the scheduler choose the destination, leave target_host out',
         no_post=True, no_call=True),
    dict(id='blank libvirt_uri and cloud', args=dict(server='vm1', target_host='cmp2', libvirt_uri=' ', cloud=''),
         expect=dict(failed=True), msg='cloud is an empty string: to use OS_CLOUD or the OS_* variables, leave cloud '
         'out; libvirt_uri is an empty string: give it a value, or leave it out to get its default. Nothing was changed.',
         no_post=True, no_call=True),
    dict(id='empty server', args=dict(server=''), expect=dict(failed=True), msg='server is an empty string',
         no_post=True, no_call=True),
    dict(id='libvirt unreachable', setup=lambda c: c.libvirt_down.add('cmp1'),
         args=dict(server='vm1', target_host='cmp2', libvirt_uri=URI), expect=dict(failed=True, changed=False),
         msg='cannot read the source hypervisor', no_post=True),
    dict(id='failure carries hints and state', setup=lambda c: setattr(c, 'plan', fakes.libvirt_failure_plan(
        "unable to execute QEMU command 'migrate': this feature or command is not currently supported")),
        args=dict(server='vm1', target_host='cmp2'), expect=dict(failed=True, changed=True, ok=False, server_host='cmp1'),
        msg='qemu_kvm_ev'),
    dict(id='suspect fails', setup=lambda c: setattr(c, 'plan', fakes.success_plan(disk_reported=False)),
         args=dict(server='vm1', target_host='cmp2', libvirt_uri=URI),
         expect=dict(failed=True, changed=True, ok=False, suspect_block_migration=True),
         msg='it is NOT verified: SUSPECT block migration'),
    dict(id='suspect accepted is a warning', setup=lambda c: setattr(c, 'plan', fakes.success_plan(disk_reported=False)),
         args=dict(server='vm1', target_host='cmp2', libvirt_uri=URI, accept_suspect_block_migration=True),
         expect=dict(changed=True, suspect_block_migration=True), warning='SUSPECT block migration',
         msg='SUSPECT: libvirt never reported disk bytes'),
]


@table(CASES)
def test_live_migrate_module(case, monkeypatch, capsys, tmp_path):
    clock = FakeClock()
    cloud = fakes.FakeCloud(clock)
    cloud.plan = fakes.success_plan()
    if case.get('setup'):
        case['setup'](cloud)
    lib = fakes.FakeLibvirt(cloud)
    monkeypatch.setattr(live_migrate, 'LiveMigration',
                        functools.partial(LiveMigration, monotonic=clock.monotonic, sleep=clock.sleep))
    monkeypatch.setattr(live_migrate, 'LibvirtJobReader', lambda uri: LibvirtJobReader(uri, lib=lib))
    log = tmp_path / 'progress.jsonl'
    args = dict(case['args'], progress_log=str(log))
    result = run_module(live_migrate, args, monkeypatch, capsys, conn=fakes.FakeConn(cloud),
                        check_mode=case.get('check', False))
    for key, value in case['expect'].items():
        assert result.get(key) == value, (key, result.get(key), result.get('msg'))
    assert case['msg'] in result['msg']
    if case.get('warning'):
        assert case['warning'] in json.dumps(result.get('warnings', []))
    if case.get('no_post'):
        assert not cloud.called('post')
    if case.get('no_call'):
        assert not cloud.calls, 'refused before any API call'
    if case.get('check'):
        assert not log.exists(), 'check mode writes no progress log'


def test_progress_log_and_returned_keys_match_the_docs(monkeypatch, capsys, tmp_path):
    import yaml
    clock = FakeClock()
    cloud = fakes.FakeCloud(clock)
    cloud.plan = fakes.success_plan()
    lib = fakes.FakeLibvirt(cloud)
    monkeypatch.setattr(live_migrate, 'LiveMigration',
                        functools.partial(LiveMigration, monotonic=clock.monotonic, sleep=clock.sleep))
    monkeypatch.setattr(live_migrate, 'LibvirtJobReader', lambda uri: LibvirtJobReader(uri, lib=lib))
    log = tmp_path / 'progress.jsonl'
    result = run_module(live_migrate, dict(server='vm1', target_host='cmp2', libvirt_uri=URI, progress_log=str(log)),
                        monkeypatch, capsys, conn=fakes.FakeConn(cloud))
    documented = set(yaml.safe_load(live_migrate.RETURN))
    returned = set(result) - {'invocation', 'warnings', 'failed', 'changed'}
    assert returned <= documented, 'undocumented keys: %s' % (returned - documented)
    assert set(yaml.safe_load(live_migrate.RETURN)['job']['contains']) <= set(result['job'])
    records = read_timeline(str(log))
    assert records[-1]['kind'] == 'result' and records[-1]['ok'] is True
    assert sum(1 for r in records if r['kind'] == 'sample') == result['sample_count']
