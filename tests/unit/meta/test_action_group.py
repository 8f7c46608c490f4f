# -*- coding: utf-8 -*-
# Copyright: (c) 2025, openstack_ops developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""meta/runtime.yml's action group `live_migration`, for module_defaults.

    module_defaults:
      group/openstack_ops.live_migration.live_migration:
        cloud: admin

Ansible hands every key of a group default to every module of the group and a module refuses an
option it does not know ("Unsupported parameters"). So the group holds exactly the modules that
take openstack.cloud's connection options (doc fragment openstack.cloud.openstack): with
live_migration_report or migration_preflight in it, `cloud: admin` would break them.
"""

from __future__ import annotations

import ast
import glob
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
ANSIBLE_PLAYBOOK = os.path.join(os.path.dirname(sys.executable), 'ansible-playbook')
# ansible-core 2.21 puts the module's arguments in the result (ANSIBLE_INJECT_INVOCATION); older ones
# (the unit tier also runs under 2.16) drop them: there the cloud reached proves the group default
INVOCATION = tuple(int(p) for p in importlib.metadata.version('ansible-core').split('.')[:2]) >= (2, 21)
GROUP = 'group/openstack_ops.live_migration.live_migration'
CLOUD_FRAGMENT = 'openstack.cloud.openstack'


def action_group():
    with open(os.path.join(ROOT, 'meta', 'runtime.yml')) as f:
        return yaml.safe_load(f)['action_groups']['live_migration']


def module_docs():
    """module name -> its DOCUMENTATION, for every file in plugins/modules. Read with ast, as
    ansible-doc does, without importing Ansible's controller code: once imported, it makes every
    module warning of the in-process module tests go to the display instead of the result."""
    docs = {}
    for path in sorted(glob.glob(os.path.join(ROOT, 'plugins', 'modules', '*.py'))):
        name = os.path.basename(path)[:-3]
        if name == '__init__':
            continue
        with open(path) as f:
            tree = ast.parse(f.read(), path)
        text = [node.value.value for node in tree.body if isinstance(node, ast.Assign)
                and any(getattr(t, 'id', None) == 'DOCUMENTATION' for t in node.targets)]
        assert len(text) == 1, '%s: one DOCUMENTATION string' % path
        docs[name] = yaml.safe_load(text[0])
    return docs


def test_every_module_is_in_the_group_exactly_when_it_takes_the_cloud_options():
    docs = module_docs()
    assert len(docs) >= 5, sorted(docs)
    takes_cloud = sorted(n for n, d in docs.items() if CLOUD_FRAGMENT in d.get('extends_documentation_fragment', []))
    group = action_group()
    assert sorted(group) == takes_cloud, (
        'meta/runtime.yml action_groups.live_migration must list the modules that extend %s, no other: %s'
        % (CLOUD_FRAGMENT, takes_cloud))
    assert group == sorted(group), 'keep the group sorted'
    left_out = sorted(set(docs) - set(group))
    for name in left_out:   # a module left out must not take `cloud` by another way either
        assert 'cloud' not in docs[name].get('options', {}), name


def run(tmp_path, playbook):
    cloud = fakes.FakeCloud(RealClock())
    http = FakeNovaHTTP(cloud).start()
    try:
        clouds = http.clouds_yaml('from_the_group')
        # a second cloud, so that openstacksdk cannot fall back on the only one there is
        clouds['clouds']['decoy'] = {'auth_type': 'none', 'auth': {'endpoint': 'http://127.0.0.1:9/compute/v2.1'}}
        (tmp_path / 'clouds.yaml').write_text(yaml.safe_dump(clouds))
        (tmp_path / 'play.yml').write_text(yaml.safe_dump(playbook, sort_keys=False))
        env = dict(os.environ, OS_CLIENT_CONFIG_FILE=str(tmp_path / 'clouds.yaml'), ANSIBLE_NOCOLOR='1',
                   ANSIBLE_COLLECTIONS_PATH=os.path.join(ROOT, '.build', 'pytest'), ANSIBLE_FORCE_COLOR='0',
                   ANSIBLE_LOCAL_TEMP=str(tmp_path / 'tmp'), ANSIBLE_INJECT_INVOCATION='1')
        for var in [v for v in env if v.startswith('OS_') and v != 'OS_CLIENT_CONFIG_FILE']:
            del env[var]   # no OS_CLOUD: the cloud can only come from the group default
        done = subprocess.run([ANSIBLE_PLAYBOOK, '-i', 'localhost,', str(tmp_path / 'play.yml')], cwd=str(tmp_path),
                              env=env, capture_output=True, text=True, timeout=300, check=False)
    finally:
        http.stop()
    return done, cloud


def play(name, tasks, defaults=None):
    return {'name': name, 'hosts': 'localhost', 'connection': 'local', 'gather_facts': False,
            'vars': {'ansible_python_interpreter': sys.executable},
            'module_defaults': {GROUP: defaults} if defaults else {}, 'tasks': tasks}


def task(module, register, **args):
    return {'name': module, 'openstack_ops.live_migration.' + module: args, 'register': register,
            'check_mode': True, 'ignore_errors': True}


# One call per module of the group, none of them naming a cloud: each has to get it from the group.
CALLS = {
    'live_migration_info': dict(server='vm1'),
    'live_migrate': dict(server='vm1', target_host='cmp2'),
    'libvirt_job_info': dict(server='vm1', libvirt_uri='test:///default'),
    'drain_host': dict(host='cmp1'),
}


@pytest.mark.skipif(not os.path.exists(ANSIBLE_PLAYBOOK), reason='ansible-playbook not next to this Python')
def test_a_group_default_reaches_every_module_of_the_group(tmp_path):
    assert sorted(CALLS) == sorted(action_group()), 'one call per module of the group'
    tasks = [task(m, 'r_' + m, **args) for m, args in CALLS.items()]
    # the report module is not in the group: the same play's group default must not reach it
    (tmp_path / 'log.jsonl').write_text('')
    tasks.append(task('live_migration_report', 'r_live_migration_report', progress_log=str(tmp_path / 'log.jsonl'),
                      last_only=True))
    # the control: the same call without the group default finds no cloud
    control = [task('live_migration_info', 'r_control', server='vm1')]
    names = ['r_' + m for m in CALLS] + ['r_live_migration_report', 'r_control']
    control.append({'name': 'results', 'ansible.builtin.copy': {
        'dest': str(tmp_path / 'results.json'),
        'content': '{{ %s | to_json }}' % ('dict(%s)' % ', '.join('%s=%s' % (n, n) for n in names))}})
    done, cloud = run(tmp_path, [play('module_defaults through the action group', tasks,
                                      {'cloud': 'from_the_group', 'api_timeout': 20}),
                                 play('no module_defaults', control)])
    assert done.returncode == 0, done.stdout + done.stderr
    results = json.loads((tmp_path / 'results.json').read_text())

    for module in CALLS:
        result = results['r_' + module]
        assert 'Unsupported parameters' not in result.get('msg', ''), (module, result)
        # openstack.cloud pops `cloud` from the arguments before they are echoed; api_timeout stays
        if INVOCATION:
            assert result['invocation']['module_args']['api_timeout'] == 20, (module, result['invocation'])

    # `cloud` from the group default: with two clouds in clouds.yaml and no OS_CLOUD, the modules
    # reached the one it names
    info = results['r_live_migration_info']
    assert not info.get('failed'), info
    assert info['server']['id'] == fakes.UUID and info['server']['host'] == 'cmp1'
    assert results['r_libvirt_job_info']['server_id'] == fakes.UUID, results['r_libvirt_job_info']  # name -> Nova
    assert not results['r_live_migrate'].get('failed'), results['r_live_migrate']
    assert results['r_live_migrate']['changed'] is True       # check mode: it would migrate
    assert 'os-migrateLive' not in str(cloud.called('post')), 'check mode requested a migration'
    drain = results['r_drain_host']
    assert not drain.get('failed') and 'Would drain cmp1' in drain['msg'], drain   # check mode: the plan only

    control = results['r_control']
    assert control.get('failed'), control
    if INVOCATION:
        assert control['invocation']['module_args']['api_timeout'] != 20, control

    report = results['r_live_migration_report']
    assert not report.get('failed'), report
    if INVOCATION:
        assert 'cloud' not in report['invocation']['module_args']
