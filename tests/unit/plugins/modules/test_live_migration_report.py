# -*- coding: utf-8 -*-
# Copyright: (c) 2025, openstack_ops developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

import json

from ansible_collections.openstack_ops.live_migration.plugins.modules import live_migration_report
from ansible_collections.openstack_ops.live_migration.tests.unit.plugins.module_utils.test_report import records
from ansible_collections.openstack_ops.live_migration.tests.unit.plugins.moduletest import run_module


def write_log(path, recs):
    path.write_text(''.join(json.dumps(r) + '\n' for r in recs))


def test_writes_json_and_html_once(monkeypatch, capsys, tmp_path):
    log = tmp_path / 'log.jsonl'
    write_log(log, records())
    dest = tmp_path / 'reports'
    args = dict(progress_log=str(log), dest=str(dest))
    first = run_module(live_migration_report, args, monkeypatch, capsys)
    assert first['changed'] is True and first['ok'] is True and first['finished'] is True
    assert first['html_path'] == str(dest / 'vm1-20231114T221320Z.html')
    assert json.loads((dest / 'vm1-20231114T221320Z.json').read_text())['sample_count'] == 10
    assert '<svg' in (dest / 'vm1-20231114T221320Z.html').read_text()
    again = run_module(live_migration_report, args, monkeypatch, capsys)
    assert again['changed'] is False


def test_check_mode_writes_nothing(monkeypatch, capsys, tmp_path):
    log = tmp_path / 'log.jsonl'
    write_log(log, records())
    result = run_module(live_migration_report, dict(progress_log=str(log), dest=str(tmp_path / 'r'), name='x'),
                        monkeypatch, capsys, check_mode=True)
    assert result['changed'] is True and not (tmp_path / 'r').exists()


def test_last_only_while_running(monkeypatch, capsys, tmp_path):
    log = tmp_path / 'log.jsonl'
    write_log(log, records(with_result=False))
    result = run_module(live_migration_report, dict(progress_log=str(log), last_only=True), monkeypatch, capsys)
    assert result['finished'] is False and result['line'] == '9 s running' and result['json_path'] is None


def test_missing_log(monkeypatch, capsys, tmp_path):
    result = run_module(live_migration_report, dict(progress_log=str(tmp_path / 'nope'), dest=str(tmp_path)),
                        monkeypatch, capsys)
    assert result['failed'] and 'Cannot read the progress log' in result['msg']


def test_dest_required_unless_last_only(monkeypatch, capsys, tmp_path):
    result = run_module(live_migration_report, dict(progress_log=str(tmp_path / 'x')), monkeypatch, capsys)
    assert result['failed'] and 'dest' in result['msg']
