#!/usr/bin/env python3
"""Build the collection's execution environment on a Debian base made here, and smoke-test it.

    tools/ee-debian.py build   # .venv/bin/python; prints the image reference
    tools/ee-debian.py smoke   # a play in the EE against a fake Nova on the host

No registry and no Galaxy are reachable here, so this is ansible-builder 3.2 with:
- the base: tools/image.sh's `base` flavour (Debian 12 + python3 3.11), not the RPM base of
  execution-environment.yml (production EEs use that one: docs/awx.md);
- execution-environment.yml read and changed only where Debian needs it: apt-get as
  options.package_manager_path, Debian's pip and venv instead of ensurepip (skip_pip_install),
  PKGMGR_PRESERVE_CACHE=always (apt-get has no `clean all`; the lists go in append_final),
  ansible-core 2.19 (the newest for Python 3.11; live-migrate.yml needs >= 2.18), and the
  collection's Galaxy dependencies packed from the dev venv's `ansible` package (--no-deps);
- the same collection tarball, meta/ee-requirements.txt and bindep.txt, read by ansible-builder's
  introspection as in production.
The build runs on the host network and borrows the host's CA bundle and /etc/pip.conf (a
TLS-intercepting egress here) through build-time mounts; nothing of them stays in the image.
"""
import glob
import hashlib
import io
import json
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile

import yaml

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT = os.path.join(ROOT, '.build', 'ee-debian')
TAG = 'localhost/lm-ee-debian:latest'
ANSIBLE_CORE = 'ansible-core==2.19.14'
GALAXY_DEPS = (('openstack', 'cloud'), ('community', 'general'), ('ansible', 'posix'))
ENV = dict(os.environ, CONTAINERS_CONF=os.path.join(ROOT, 'tools', 'containers.conf'))


def pack_installed(src, dest_dir):
    """A galaxy tarball of an installed collection. The `ansible` package leaves out files
    (docs/, tests/) that its FILES.json still lists: keep the entries whose file is there,
    and the manifest's checksum of FILES.json in step."""
    files = json.load(open(os.path.join(src, 'FILES.json')))
    files['files'] = [e for e in files['files'] if e['name'] == '.' or os.path.lexists(os.path.join(src, e['name']))]
    files_raw = json.dumps(files, indent=4, sort_keys=True).encode()
    manifest = json.load(open(os.path.join(src, 'MANIFEST.json')))
    manifest['file_manifest_file']['chksum_sha256'] = hashlib.sha256(files_raw).hexdigest()
    manifest_raw = json.dumps(manifest, indent=4, sort_keys=True).encode()
    info = manifest['collection_info']
    name = '%s-%s-%s.tar.gz' % (info['namespace'], info['name'], info['version'])
    with tarfile.open(os.path.join(dest_dir, name), 'w:gz') as t:
        for member, raw in (('MANIFEST.json', manifest_raw), ('FILES.json', files_raw)):
            entry = tarfile.TarInfo(member)
            entry.size, entry.mode = len(raw), 0o644
            t.addfile(entry, io.BytesIO(raw))
        for e in files['files']:
            if e['name'] != '.':
                t.add(os.path.join(src, e['name']), e['name'], recursive=False)
    return name


def build():
    base = subprocess.run([os.path.join(ROOT, 'tools', 'image.sh'), 'build', 'base'], check=True,
                          capture_output=True, text=True).stdout.strip()
    shutil.rmtree(OUT, ignore_errors=True)
    os.makedirs(os.path.join(OUT, 'collections'))
    with open(os.path.join(ROOT, 'execution-environment.yml')) as f:
        ee = yaml.safe_load(f)
    ours = os.path.join(ROOT, ee['additional_build_files'][0]['src'])
    if not os.path.exists(ours):
        sys.exit('%s is missing: run make collection first' % ours)
    shutil.copy(ours, os.path.join(OUT, 'collections'))
    venv_collections = glob.glob(os.path.join(ROOT, '.venv', 'lib', 'python3*', 'site-packages', 'ansible_collections'))[0]
    galaxy = list(ee['dependencies']['galaxy']['collections'])
    for ns, name in GALAXY_DEPS:
        galaxy.append({'name': 'collections/' + pack_installed(os.path.join(venv_collections, ns, name),
                                                               os.path.join(OUT, 'collections')), 'type': 'file'})
    ee['images']['base_image']['name'] = base
    ee['dependencies']['galaxy']['collections'] = galaxy
    del ee['dependencies']['python_interpreter']
    ee['dependencies']['ansible_core']['package_pip'] = ANSIBLE_CORE
    ee['additional_build_files'] = [{'src': 'collections', 'dest': 'collections'}]
    ee['options'] = {'package_manager_path': '/usr/bin/apt-get', 'skip_pip_install': True}
    ee['build_arg_defaults'] = {'ANSIBLE_GALAXY_CLI_COLLECTION_OPTS': '--no-deps', 'PKGMGR_PRESERVE_CACHE': 'always'}
    ee['additional_build_steps'] = {
        'prepend_base': ['RUN apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q '
                         '--no-install-recommends python3-pip python3-venv'],
        'append_final': ['RUN apt-get clean && rm -rf /var/lib/apt/lists/*'],
    }
    with open(os.path.join(OUT, 'execution-environment.yml'), 'w') as f:
        yaml.safe_dump(ee, f, sort_keys=False)
    mounts = ' '.join('-v %s:%s:ro' % (p, p) for p in ('/etc/ssl/certs/ca-certificates.crt', '/etc/pip.conf')
                      if os.path.exists(p))
    subprocess.run([os.path.join(os.path.dirname(sys.executable), 'ansible-builder'), 'build', '-v3',
                    '--container-runtime', 'podman', '--tag', TAG, '--context', 'context',
                    '--extra-build-cli-args', '--network host ' + mounts], cwd=OUT, env=ENV, check=True,
                   stdout=sys.stderr)
    print(TAG)


def smoke():
    """The action group's play of tests/unit/meta/test_action_group.py, run by ansible-playbook
    inside the EE: openstacksdk against a fake Nova on the host, libvirt-python against libvirt's
    built-in test driver."""
    sys.path.insert(0, os.path.join(ROOT, '.build', 'pytest'))
    from ansible_collections.openstack_ops.live_migration.tests.unit.plugins import fakes
    from ansible_collections.openstack_ops.live_migration.tests.unit.plugins.fake_nova_http import FakeNovaHTTP, RealClock
    cloud = fakes.FakeCloud(RealClock())
    http = FakeNovaHTTP(cloud).start()
    work = tempfile.mkdtemp(prefix='lm-ee-smoke.')
    os.chmod(work, 0o777)   # the EE runs as uid 1000
    try:
        clouds = http.clouds_yaml('admin')
        clouds['clouds']['decoy'] = {'auth_type': 'none', 'auth': {'endpoint': 'http://127.0.0.1:9/compute/v2.1'}}
        with open(os.path.join(work, 'clouds.yaml'), 'w') as f:
            yaml.safe_dump(clouds, f)

        def task(module, **args):
            return {'name': module, 'openstack_ops.live_migration.' + module: args, 'register': 'r_' + module,
                    'check_mode': True}
        play = [{'name': 'Smoke test of the EE', 'hosts': 'localhost', 'connection': 'local', 'gather_facts': False,
                 'vars': {'ansible_python_interpreter': '/usr/bin/python3'},
                 'module_defaults': {'group/openstack_ops.live_migration.live_migration': {'cloud': 'admin'}},
                 'tasks': [task('live_migration_info', server='vm1'),
                           task('live_migrate', server='vm1', target_host='cmp2'),
                           task('libvirt_job_info', server='vm1', libvirt_uri='test:///default'),
                           {'name': 'Results', 'ansible.builtin.copy': {
                               'dest': '/runner/smoke/results.json', 'mode': '0644',
                               'content': '{{ dict(info=r_live_migration_info, migrate=r_live_migrate, '
                                          'job=r_libvirt_job_info) | to_json }}'}}]}]
        with open(os.path.join(work, 'play.yml'), 'w') as f:
            yaml.safe_dump(play, f, sort_keys=False)
        subprocess.run(['podman', 'run', '--rm', '--network', 'host', '-v', work + ':/runner/smoke',
                        '-e', 'OS_CLIENT_CONFIG_FILE=/runner/smoke/clouds.yaml', '-e', 'ANSIBLE_NOCOLOR=1',
                        TAG, 'ansible-playbook', '-i', 'localhost,', '/runner/smoke/play.yml'],
                       env=ENV, check=True, timeout=600)
        with open(os.path.join(work, 'results.json')) as f:
            results = json.load(f)
    finally:
        http.stop()
    assert results['info']['server']['host'] == 'cmp1', results['info']
    assert results['migrate']['changed'] and 'Would live-migrate vm1' in results['migrate']['msg'], results['migrate']
    assert results['job']['server_id'] == fakes.UUID, results['job']
    shutil.rmtree(work)
    print('EE smoke test passed: %s | %s' % (results['migrate']['msg'], results['job']['note']))


if __name__ == '__main__':
    {'build': build, 'smoke': smoke}[sys.argv[1] if len(sys.argv) > 1 else 'build']()
