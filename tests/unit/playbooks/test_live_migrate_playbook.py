# -*- coding: utf-8 -*-
# Copyright: (c) 2025, openstack_ops developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""playbooks/live-migrate.yml end to end against a fake Nova served over HTTP.

Runs the real ansible-playbook: live_migrate runs async in its own process and talks to
the fake through openstacksdk; the playbook prints progress lines from the JSONL log,
a summary, and writes the report. No libvirt here (Nova's progress bytes only).
"""

from __future__ import annotations

import importlib.metadata
import json
import os
import subprocess
import sys

import pytest
import yaml

from ansible_collections.openstack_ops.live_migration.tests.unit.plugins import fakes
from ansible_collections.openstack_ops.live_migration.tests.unit.plugins.fake_nova_http import FakeNovaHTTP, RealClock

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
PLAYBOOK = os.path.join(ROOT, 'playbooks', 'live-migrate.yml')
ANSIBLE_PLAYBOOK = os.path.join(os.path.dirname(sys.executable), 'ansible-playbook')

# The playbook needs ansible-core >= 2.18 (loop_control.break_when); the collection claims 2.16 (EL7
# nodes), and `make unit` runs this file under both: below 2.18 the last test proves the refusal.
CORE = tuple(int(p) for p in importlib.metadata.version('ansible-core').split('.')[:2])
NEEDS = (2, 18)
pytestmark = pytest.mark.skipif(not os.path.exists(ANSIBLE_PLAYBOOK), reason='ansible-playbook not next to this Python')
runs_it = pytest.mark.skipif(CORE < NEEDS, reason='live-migrate.yml needs ansible-core >= 2.18: '
                             'test_an_older_ansible_core_refuses_it_before_anything runs instead')


def run_playbook(tmp_path, setup, *extra):
    cloud = fakes.FakeCloud(RealClock())
    setup(cloud)
    http = FakeNovaHTTP(cloud).start()
    try:
        clouds = tmp_path / 'clouds.yaml'
        clouds.write_text(yaml.safe_dump(http.clouds_yaml()))
        env = dict(os.environ, OS_CLIENT_CONFIG_FILE=str(clouds), OS_CLOUD='fake', ANSIBLE_NOCOLOR='1',
                   ANSIBLE_COLLECTIONS_PATH=os.path.join(ROOT, '.build', 'pytest'), ANSIBLE_FORCE_COLOR='0',
                   ANSIBLE_LOCAL_TEMP=str(tmp_path / 'tmp'), ANSIBLE_ASYNC_DIR=str(tmp_path / 'async'))
        command = [ANSIBLE_PLAYBOOK, '-i', 'localhost,', PLAYBOOK, '-e', 'instance=vm1', '-e', 'progress_interval=0.5',
                   '-e', 'report_dir=%s' % (tmp_path / 'reports')] + list(extra)
        done = subprocess.run(command, cwd=str(tmp_path), env=env, capture_output=True, text=True, timeout=300,
                              check=False)
    finally:
        http.stop()
    return done, cloud


def reports(tmp_path, ext):
    return sorted((tmp_path / 'reports').glob('*.' + ext))


@runs_it
def test_success_shows_progress_summary_and_report(tmp_path):
    done, cloud = run_playbook(tmp_path, lambda c: setattr(c, 'plan', fakes.success_plan()), '-e', 'target_host=cmp2')
    out = done.stdout
    assert done.returncode == 0, out + done.stderr
    progress = [line for line in out.splitlines() if line.startswith('ok: [localhost] => (item=')]
    assert any('disk ' in line and '/128 MiB' in line for line in progress), out
    assert any('memory ' in line and 'left' in line for line in progress), out
    assert 'vm1 (%s) live-migrated cmp1 -> cmp2' % fakes.UUID in out
    html = reports(tmp_path, 'html')
    assert len(html) == 1 and '<svg' in html[0].read_text()
    data = json.loads(reports(tmp_path, 'json')[0].read_text())
    assert data['ok'] is True and data['sample_count'] >= 5 and data['dest_host'] == 'cmp2'
    assert cloud.servers[fakes.UUID]['OS-EXT-SRV-ATTR:host'] == 'cmp2'


@runs_it
def test_timeout_abort_fails_with_the_whole_story(tmp_path):
    def setup(cloud):
        cloud.plan = fakes.endless_plan()
        cloud.plan_on_abort = fakes.nova34_abort()
    done, cloud = run_playbook(tmp_path, setup, '-e', 'target_host=cmp2', '-e', 'migrate_timeout=4')
    out = done.stdout
    assert done.returncode != 0
    assert "Nova ends the migration 'error' (not 'cancelled') and puts the server in ERROR" in out
    assert 'vm1 (%s) NOT migrated: it is on cmp1 (ERROR)' % fakes.UUID in out
    data = json.loads(reports(tmp_path, 'json')[0].read_text())
    assert data['ok'] is False and data['timed_out'] is True and data['on_timeout_action'] == 'abort'
    assert 'FAILED' in reports(tmp_path, 'html')[0].read_text()


BAD_VARS = [
    # measured before: -e target_host= let the scheduler pick; progress_interval=0 died with
    # ZeroDivisionError after the migration had started
    dict(id='empty target_host', extra=['-e', 'target_host='],
         expect=['target_host is an empty string: to let the scheduler choose the destination, leave target_host out',
                 'Nothing was changed']),
    dict(id='empty cloud and libvirt_uri', extra=['-e', 'cloud=', '-e', 'libvirt_uri='],
         expect=['cloud is an empty string: to use OS_CLOUD or the OS_* variables, leave cloud out; libvirt_uri is an'
                 ' empty string: give it a value, or leave it out to get its default. Nothing was changed']),
    dict(id='progress_interval 0', extra=['-e', 'progress_interval=0'],
         expect=['progress_interval must be above 0 (it is 0)', 'Nothing was changed']),
    dict(id='negative migrate_timeout', extra=['-e', 'migrate_timeout=-5'],
         expect=['migrate_timeout must be above 0 (it is -5)']),
]


@runs_it
@pytest.mark.parametrize('case', BAD_VARS, ids=[c['id'] for c in BAD_VARS])
def test_bad_variables_are_refused_before_anything(tmp_path, case):
    done, cloud = run_playbook(tmp_path, lambda c: setattr(c, 'plan', fakes.success_plan()), *case['extra'])
    out = ' '.join(done.stdout.split())
    assert done.returncode != 0, done.stdout
    for text in case['expect']:
        assert ' '.join(text.split()) in out, done.stdout
    assert not cloud.calls, 'the cloud was called: %s' % cloud.calls[:3]
    assert not (tmp_path / 'reports').exists()


@pytest.mark.skipif(CORE >= NEEDS, reason='ansible-core >= 2.18 runs the playbook (the tests above)')
def test_an_older_ansible_core_refuses_it_before_anything(tmp_path):
    """Under ansible-core 2.16/2.17 (the collection's roles still work there, for EL7 nodes) the
    playbook is refused when it is loaded, naming the attribute: no play ran, Nova was not called."""
    done, cloud = run_playbook(tmp_path, lambda c: setattr(c, 'plan', fakes.success_plan()), '-e', 'target_host=cmp2')
    assert done.returncode != 0, done.stdout
    assert "'break_when' is not a valid attribute for a LoopControl" in done.stdout + done.stderr, done.stdout + done.stderr
    assert 'PLAY [' not in done.stdout, done.stdout
    assert not cloud.calls, 'the cloud was called: %s' % cloud.calls[:3]
    assert not (tmp_path / 'reports').exists()
