# -*- coding: utf-8 -*-
# Copyright: (c) 2025, openstack_ops developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""An empty value is not an absent value, in the playbooks and the roles (plugins/filter/empty.py).

Runs the real ansible-playbook, in check mode, against this machine as the only compute node
(localhost, local connection). Each empty variable must be refused by the playbook's or the role's
"Refuse empty values" task, in the first play, before any other task of the role ran and with
nothing changed. The json callback gives the tasks and their results.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
PLAYBOOKS = os.path.join(ROOT, 'playbooks')
ANSIBLE_PLAYBOOK = os.path.join(os.path.dirname(sys.executable), 'ansible-playbook')
REFUSE = 'Refuse empty values (an empty value is not an absent one)'

pytestmark = pytest.mark.skipif(not os.path.exists(ANSIBLE_PLAYBOOK), reason='ansible-playbook not next to this Python')

# a role's validate tasks alone, as prepare-compute.yml's first play runs them
ROLE_VALIDATE = """
- hosts: compute
  gather_facts: true
  gather_subset: [min, network]
  tasks:
    - ansible.builtin.include_role:
        name: openstack_ops.live_migration.{role}
        tasks_from: validate
"""


def run(tmp_path, playbook, *extra):
    inventory = tmp_path / 'inventory'
    inventory.write_text('[compute]\nlocalhost ansible_connection=local ansible_python_interpreter=%s\n' % sys.executable)
    if playbook.startswith('role:'):
        path = tmp_path / 'validate.yml'
        path.write_text(ROLE_VALIDATE.format(role=playbook[5:]))
    else:
        path = os.path.join(PLAYBOOKS, playbook)
    env = dict(os.environ, ANSIBLE_NOCOLOR='1', ANSIBLE_STDOUT_CALLBACK='ansible.posix.json',
               ANSIBLE_COLLECTIONS_PATH=os.path.join(ROOT, '.build', 'pytest') + os.pathsep
               + os.environ.get('ANSIBLE_COLLECTIONS_PATH', ''),
               ANSIBLE_LOCAL_TEMP=str(tmp_path / 'tmp'), ANSIBLE_RETRY_FILES_ENABLED='0')
    done = subprocess.run([ANSIBLE_PLAYBOOK, '-i', str(inventory), '--check', str(path)] + list(extra),
                          cwd=str(tmp_path), env=env, capture_output=True, text=True, timeout=300, check=False)
    try:
        return done, json.loads(done.stdout)
    except ValueError:
        pytest.fail('no JSON from ansible-playbook (rc %s): %s %s' % (done.returncode, done.stdout, done.stderr))


def results(report):
    """(play index, task name, result) for every task that ran on localhost, in order."""
    for index, play in enumerate(report['plays']):
        for task in play['tasks']:
            result = task['hosts'].get('localhost')
            if result is not None:
                yield index, task['task']['name'], dict(result, action=result.get('action', ''))


def trimmed(text):
    return ' '.join(text.split())


REFUSED = [
    # prepare-compute.yml's own variables; measured before: prepare_compute_preflight= is false for
    # `| bool` and skipped the preflight, prepare_compute_serial= crashed Ansible at the third play
    dict(id='prepare-compute.yml variables', playbook='prepare-compute.yml',
         extra=['-e', 'prepare_compute_serial=', '-e', 'prepare_compute_preflight=', '-e',
                'prepare_compute_preflight_checks=icmp,'],
         msg="prepare_compute_preflight is an empty string: give it a value, or leave it out to get its default; "
             "prepare_compute_preflight_checks[1] is an empty string: remove the empty item (a comma-separated "
             "value such as 'a,' or 'a,,b' has one); prepare_compute_serial is an empty string: give it a value, "
             "or leave it out to get its default. Nothing was changed."),
    # the roles' variables, refused by the role itself (in prepare-compute.yml's validate play): a path, a
    # blank string with its own advice, an item of a list
    dict(id='libvirt_listener', playbook='prepare-compute.yml',
         extra=['-e', '{"libvirt_listener_tls_ca_cert": "", "libvirt_listener_address": " ",'
                      ' "libvirt_listener_tls_allowed_dn_list": ["CN=a", ""]}'],
         msg="libvirt_listener_address is an empty string: set it to this host's address on the migration network "
             "(left out, it is the host's default IPv4 address); libvirt_listener_tls_allowed_dn_list[1] is an empty "
             "string: remove the empty item (a comma-separated value such as 'a,' or 'a,,b' has one); "
             "libvirt_listener_tls_ca_cert is an empty string: give it a value, or leave it out to get its default."),
    dict(id='nova_migration', playbook='role:nova_migration',
         extra=['-e', 'nova_migration_inbound_addr=', '-e', 'nova_migration_compute_command='],
         msg="nova_migration_compute_command is an empty string: give it a value, or leave it out to get its default; "
             "nova_migration_inbound_addr is an empty string: set it to the address where peers send this host's "
             "incoming migrations (left out, it is the host's libvirt_listener_address)."),
    dict(id='qemu_kvm_ev', playbook='role:qemu_kvm_ev', extra=['-e', 'qemu_kvm_ev_libvirt_service='],
         msg='qemu_kvm_ev_libvirt_service is an empty string'),
    dict(id='preflight.yml', playbook='preflight.yml', extra=['-e', 'preflight_libvirt_uri='],
         msg='preflight_libvirt_uri is an empty string: give it a value, or leave it out to get its default.'),
    # the controller playbooks: list items too
    dict(id='drain-host.yml -e target_hosts=cmp2,', playbook='drain-host.yml',
         extra=['-e', 'host=cmp1', '-e', 'target_hosts=cmp2,'], msg='target_hosts[1] is an empty string'),
    dict(id='drain-host.yml lists', playbook='drain-host.yml',
         extra=['-e', '{"host": "cmp1", "target_hosts": ["cmp2", ""], "allow_leftovers": ""}'],
         msg='allow_leftovers is an empty string: give it a value, or leave it out to get its default; '
             'target_hosts[1] is an empty string'),
    dict(id='undrain-host.yml', playbook='undrain-host.yml', extra=['-e', 'host='],
         msg='host is an empty string'),
]


@pytest.mark.parametrize('case', REFUSED, ids=[c['id'] for c in REFUSED])
def test_an_empty_value_is_refused_before_anything(tmp_path, case):
    done, report = run(tmp_path, case['playbook'], *case['extra'])
    assert done.returncode != 0, done.stdout
    ran = list(results(report))
    failed = [entry for entry in ran if entry[2].get('failed')]
    assert len(failed) == 1, failed
    play, name, result = failed[0]
    assert name.endswith(REFUSE) or name == 'Check the arguments', (name, result.get('msg'))
    assert trimmed(case['msg']) in trimmed(result['msg']), result['msg']
    assert result['msg'].endswith('Nothing was changed.'), result['msg']
    # the first play, and before the refusal only facts, role includes, argument specs and other refusals
    assert play == 0, [r[:2] for r in ran]
    before = [(entry[1], entry[2]['action']) for entry in ran[:ran.index(failed[0])]]
    assert all(n.endswith(REFUSE) or a.split('.')[-1] in ('gather_facts', 'include_role', 'validate_argument_spec')
               for n, a in before), before
    assert not any(entry[2].get('changed') for entry in ran)
    assert report['stats']['localhost']['changed'] == 0


ACCEPTED = [
    # documented defaults of "": the empty string means something there (detect, the distribution's unit,
    # the repository package)
    dict(id='nova_migration_version and _compute_service', role='nova_migration',
         extra=['-e', 'nova_migration_version=', '-e', 'nova_migration_compute_service=']),
    dict(id='qemu_kvm_ev_repo_rpm_url', role='qemu_kvm_ev', extra=['-e', 'qemu_kvm_ev_repo_rpm_url=']),
]


@pytest.mark.parametrize('case', ACCEPTED, ids=[c['id'] for c in ACCEPTED])
def test_an_empty_default_takes_the_empty_string(tmp_path, case):
    done, report = run(tmp_path, 'role:' + case['role'], *case['extra'])
    refusal = [entry[2] for entry in results(report) if entry[1].endswith(REFUSE)]
    assert len(refusal) == 1 and refusal[0].get('skipped'), refusal
    assert done.returncode == 0, [(entry[1], entry[2].get('msg')) for entry in results(report) if entry[2].get('failed')]
