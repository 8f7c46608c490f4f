# -*- coding: utf-8 -*-
# Copyright: (c) 2026, openstack_ops developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The TLS material checks: the pure rules as tables, then check_set against real files that the
Molecule PKI script (extensions/molecule/shared/make-pki.sh) makes with this machine's openssl."""

from __future__ import annotations

import calendar
import os
import shutil
import stat
import subprocess
import time

import pytest

from ansible_collections.openstack_ops.live_migration.plugins.module_utils import x509
from ansible_collections.openstack_ops.live_migration.tests.unit.plugins.table import table

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))))
MAKE_PKI = os.path.join(ROOT, 'extensions', 'molecule', 'shared', 'make-pki.sh')
NOW = calendar.timegm((2026, 12, 4, 12, 0, 0, 0, 0, 0))
DAY = 86400


def epoch(y, mo, d, h=0, mi=0, s=0):
    return calendar.timegm((y, mo, d, h, mi, s, 0, 0, 0))


DATES = [
    dict(id='openssl 3 padding', text='notBefore=Dec  4 19:22:03 2026 GMT\nnotAfter=Mar  4 19:22:03 2027 GMT\n',
         expected={'not_before': epoch(2026, 12, 4, 19, 22, 3), 'not_after': epoch(2027, 3, 4, 19, 22, 3)}),
    dict(id='two-digit day, order reversed', text='notAfter=Feb 21 00:00:00 2030 GMT\nnotBefore=Jan 10 08:05:00 2020 GMT',
         expected={'not_before': epoch(2020, 1, 10, 8, 5), 'not_after': epoch(2030, 2, 21)}),
    dict(id='fractional seconds', text='notAfter=Feb 21 00:00:00.5 2030 GMT',
         expected={'not_after': epoch(2030, 2, 21)}),
    dict(id='unknown month left out', text='notAfter=Foo 21 00:00:00 2030 GMT', expected={}),
    dict(id='garbage', text='unable to load certificate', expected={}),
]


@table(DATES)
def test_parse_dates(case):
    assert x509.parse_dates(case['text']) == case['expected']


TEXT_3 = """Certificate:
        X509v3 extensions:
            X509v3 Subject Alternative Name: \n                DNS:hv-c, IP Address:198.18.10.13, IP Address:2001:DB8:0:0:0:0:0:1
            X509v3 Extended Key Usage: \n                TLS Web Server Authentication
"""
SANS = [
    dict(id='dns, ipv4 and uncompressed ipv6', text=TEXT_3,
         expected=(['hv-c'], ['198.18.10.13', '2001:db8::1'])),
    dict(id='upper-case dns, email ignored', text='  X509v3 Subject Alternative Name: critical\n  DNS:HV-C.Example, email:a@b\n',
         expected=(['hv-c.example'], [])),
    dict(id='no extension', text='Certificate:\n  X509v3 Key Usage:\n   Digital Signature\n', expected=None),
    dict(id='header at the very end', text='X509v3 Subject Alternative Name:', expected=([], [])),
]


@table(SANS)
def test_parse_sans(case):
    assert x509.parse_sans(case['text']) == case['expected']


COVER = [
    dict(id='the address as IP SAN', sans=(['other'], ['198.18.10.13']), names=['198.18.10.13', 'hv-c'], ok=True),
    dict(id='the inventory name as DNS SAN', sans=(['hv-c'], []), names=['198.18.10.13', 'hv-c'], ok=True),
    dict(id='the fqdn, any case', sans=(['hv-c.example.org'], []), names=['hv-c', 'HV-C.example.org'], ok=True),
    dict(id='ipv6 in another spelling', sans=([], ['2001:db8::1']), names=['2001:DB8:0::1'], ok=True),
    dict(id='wildcard one label', sans=(['*.example.org'], []), names=['hv-c.example.org'], ok=True),
    dict(id='wildcard not two labels', sans=(['*.example.org'], []), names=['a.hv-c.example.org'], ok=False,
         message='none of a.hv-c.example.org'),
    dict(id='an IP is never matched against DNS SANs', sans=(['198.18.10.13'], []), names=['198.18.10.13'], ok=False,
         message='DNS:198.18.10.13'),
    dict(id='another host', sans=(['elsewhere.invalid'], ['203.0.113.9']), names=['198.18.10.13', 'hv-c', 'hv-c'],
         ok=False, message='has DNS:elsewhere.invalid, IP:203.0.113.9, none of 198.18.10.13, hv-c'),
    dict(id='no SAN at all', sans=None, names=['198.18.10.13', 'hv-c'], ok=False,
         message='has no subjectAltName extension: it must name this host (IP:198.18.10.13 or DNS:hv-c)'),
    dict(id='no names: not checked', sans=None, names=['', None], ok=True),
]


@table(COVER)
def test_san_problem(case):
    problem = x509.san_problem(case['sans'], case['names'])
    if case['ok']:
        assert problem is None
    else:
        assert case['message'] in problem, problem


VALIDITY = [
    dict(id='valid 90 days', dates={'not_before': NOW - DAY, 'not_after': NOW + 90 * DAY}, problems=[], warnings=[],
         days_left=90),
    dict(id='expires in 29 days: warning', dates={'not_before': NOW - DAY, 'not_after': NOW + 29 * DAY + 5},
         problems=[], warnings=['expires in 29 day(s), on 2027-01-02 12:00 UTC: renew it'], days_left=29),
    dict(id='30 days left: no warning', dates={'not_before': NOW - DAY, 'not_after': NOW + 30 * DAY},
         problems=[], warnings=[], days_left=30),
    dict(id='expired', dates={'not_before': epoch(2025, 1, 1), 'not_after': epoch(2025, 2, 1)},
         problems=['expired on 2025-02-01 00:00 UTC'], warnings=[], days_left=-672),
    dict(id='not yet valid', dates={'not_before': NOW + 3600, 'not_after': NOW + 90 * DAY},
         problems=['is not valid yet: valid from 2026-12-04 13:00 UTC'], warnings=[], days_left=90),
    dict(id='expires this very second', dates={'not_before': NOW - DAY, 'not_after': NOW},
         problems=['expired on 2026-12-04 12:00 UTC'], warnings=[], days_left=0),
    dict(id='unreadable dates', dates={'not_after': NOW}, problems=['has no validity dates openssl could read'],
         warnings=[], days_left=None),
]


@table(VALIDITY)
def test_validity(case):
    assert x509.validity(case['dates'], NOW) == (case['problems'], case['warnings'], case['days_left'])


ATTIME = [
    dict(id='overlap: its middle', ca={'not_before': 0, 'not_after': 1000}, cert={'not_before': 100, 'not_after': 2000},
         expected=550),
    dict(id='expired cert inside an older CA', ca={'not_before': epoch(2024, 1, 1), 'not_after': NOW + 90 * DAY},
         cert={'not_before': epoch(2025, 1, 1), 'not_after': epoch(2025, 2, 1)},
         expected=(epoch(2025, 1, 1) + epoch(2025, 2, 1)) // 2),
    dict(id='no overlap', ca={'not_before': 1000, 'not_after': 2000}, cert={'not_before': 0, 'not_after': 999},
         expected=None),
    dict(id='unknown dates', ca={}, cert={'not_before': 0, 'not_after': 999}, expected=None),
]


@table(ATTIME)
def test_verify_attime(case):
    assert x509.verify_attime(case['ca'], case['cert']) == case['expected']


VERIFY = [
    dict(id='openssl 3 OK', rc=0, out='/etc/pki/libvirt/servercert.pem: OK\n', err='', problem=None),
    dict(id='openssl 3 other CA', rc=2, out='', err='O = t, CN = hv-c\nerror 20 at 0 depth lookup: unable to get local '
         'issuer certificate\nerror x.pem: verification failed\n',
         problem='is not signed by the CA /ca.pem (openssl verify: unable to get local issuer certificate)'),
    dict(id='openssl 1.0.2 format', rc=0, out='x.pem: CN = hv-c\nerror 7 at 0 depth lookup:certificate signature failure\n'
         'OK?', err='', problem='(openssl verify: certificate signature failure)'),
    dict(id='rc 0 without OK is no success', rc=0, out='x.pem: something\n', err='',
         problem='(openssl verify: x.pem: something)'),
    dict(id='nothing said', rc=1, out='', err='', problem='(openssl verify: rc=1)'),
]


@table(VERIFY)
def test_verify_problem(case):
    problem = x509.verify_problem(case['rc'], case['out'], case['err'], 'the CA /ca.pem')
    if case['problem'] is None:
        assert problem is None
    else:
        assert case['problem'] in problem, problem


MODES = [
    dict(id='key 0600', mode=0o100600, key=True, problems=[]),
    dict(id='key 0640', mode=0o100640, key=True, problems=[]),
    dict(id='key 0644', mode=0o100644, key=True, problems=['is world-readable (mode 0644)']),
    dict(id='cert 0644', mode=0o100644, key=False, problems=[]),
    dict(id='cert 0666', mode=0o100666, key=False, problems=['is world-writable (mode 0666)']),
    dict(id='key 0606', mode=0o100606, key=True, problems=['is world-writable (mode 0606)', 'is world-readable (mode 0606)']),
]


@table(MODES)
def test_mode_problems(case):
    found = x509.mode_problems(case['mode'], case['key'])
    assert len(found) == len(case['problems']), found
    for want, got in zip(case['problems'], found):
        assert got.startswith(want), got


def test_pem_body_ignores_headers_and_wrapping():
    a = '-----BEGIN PUBLIC KEY-----\nAAAA\nBBBB\n-----END PUBLIC KEY-----\n'
    b = 'noise\n-----BEGIN PUBLIC KEY-----\r\n  AAAABBBB\r\n-----END PUBLIC KEY-----'
    assert x509.pem_body(a) == x509.pem_body(b) == 'AAAABBBB'


def test_describe_with_and_without_label():
    f = x509.finding('/x.pem', 'libvirt_listener_tls_ca_cert', 'ca_cert')
    assert x509.describe(f, 'expired') == 'libvirt_listener_tls_ca_cert=/x.pem: expired'
    assert x509.describe(x509.finding('/x.pem', None, 'cert'), 'expired') == '/x.pem: expired'


# ---------------------------------------------------------------- real files, real openssl

def make_pki(tmp_path_factory):
    """make-pki.sh's files for hv-c, keys 0600 (also the module test's)."""
    if not shutil.which('openssl'):
        pytest.skip('openssl not installed')
    d = tmp_path_factory.mktemp('pki')
    subprocess.run(['bash', MAKE_PKI, str(d), 'hv-c:198.18.10.13'], check=True, capture_output=True, timeout=120)
    for f in d.iterdir():
        if f.name.endswith('key.pem'):
            os.chmod(f, 0o600)
    return d


@pytest.fixture(scope='module')
def pki(tmp_path_factory):
    return make_pki(tmp_path_factory)


def run(argv):
    done = subprocess.run(argv, capture_output=True, text=True, env=dict(os.environ, LC_ALL='C'), timeout=60,
                          stdin=subprocess.DEVNULL, check=False)
    return done.returncode, done.stdout, done.stderr


def server(pki, cert='hv-c-server-cert.pem', key='hv-c-server-key.pem', names=('198.18.10.13', 'hv-c')):
    return dict(cert=str(pki / cert), key=str(pki / key), names=list(names),
                cert_label='libvirt_listener_tls_server_cert', key_label='libvirt_listener_tls_server_key')


def client(pki):
    return dict(cert=str(pki / 'hv-c-client-cert.pem'), key=str(pki / 'hv-c-client-key.pem'))


def check(pki, certificates, now=None, ca='ca-cert.pem'):
    return x509.check_set(run, os.stat, str(pki / ca), certificates, now or time.time(),
                          ca_label='libvirt_listener_tls_ca_cert')


def test_good_material_has_no_problem_and_90_days(pki):
    findings = check(pki, [server(pki), client(pki)])
    assert [f['kind'] for f in findings] == ['ca_cert', 'cert', 'key', 'cert', 'key']
    assert x509.problems_of(findings) == [] and x509.warnings_of(findings) == []
    assert [f['days_left'] for f in findings if f['kind'] != 'key'] == [89, 89, 89]  # make-pki.sh: 90 days


def copy(pki, name, mode):
    target = pki / ('copy-%o-%s' % (mode, name))
    shutil.copy(pki / name, target)
    os.chmod(target, mode)
    return target.name


REAL = [
    dict(id='expired, signature fine', item=dict(cert='hv-c-expired-server-cert.pem'),
         problems=['libvirt_listener_tls_server_cert=%s/hv-c-expired-server-cert.pem: expired on 2025-02-01 00:00 UTC']),
    dict(id='another CA', item=dict(cert='hv-c-wrongca-server-cert.pem'),
         problems=['libvirt_listener_tls_server_cert=%s/hv-c-wrongca-server-cert.pem: is not signed by the CA '
                   '%s/ca-cert.pem (openssl verify: unable to get local issuer certificate)']),
    dict(id='SAN of another host', item=dict(cert='hv-c-nosan-server-cert.pem'),
         problems=['libvirt_listener_tls_server_cert=%s/hv-c-nosan-server-cert.pem: is not for this host: its '
                   'subjectAltName has DNS:elsewhere.invalid, IP:203.0.113.9, none of 198.18.10.13, hv-c']),
    dict(id='the fqdn alone is enough', item=dict(names=['203.0.113.7', 'hv-c']), problems=[]),
    dict(id='key of another pair', item=dict(key='hv-c-otherkey-server-key.pem'),
         problems=['libvirt_listener_tls_server_key=%s/hv-c-otherkey-server-key.pem: does not match its certificate '
                   '%s/hv-c-server-cert.pem (another key pair)']),
    dict(id='a certificate given as key', item=dict(key='hv-c-server-cert.pem'),
         problems=['libvirt_listener_tls_server_key=%s/hv-c-server-cert.pem: is world-readable (mode 0644)',
                   'libvirt_listener_tls_server_key=%s/hv-c-server-cert.pem: is not a readable unencrypted private key']),
    dict(id='a key given as certificate', item=dict(cert='hv-c-server-key.pem'),
         problems=['libvirt_listener_tls_server_cert=%s/hv-c-server-key.pem: is not a PEM certificate']),
    dict(id='missing file', item=dict(cert='nope.pem'),
         problems=['libvirt_listener_tls_server_cert=%s/nope.pem: cannot be read (No such file or directory)']),
]


@table(REAL)
def test_bad_material(pki, case):
    item = server(pki)
    for k, v in case['item'].items():
        item[k] = v if k == 'names' else str(pki / v)
    problems = x509.problems_of(check(pki, [item, client(pki)]))
    want = [p.replace('%s', str(pki)) for p in case['problems']]
    assert len(problems) == len(want), problems
    for w, got in zip(want, problems):
        assert got.startswith(w), got


def test_world_readable_key_and_world_writable_cert(pki):
    item = server(pki, cert=copy(pki, 'hv-c-server-cert.pem', 0o666), key=copy(pki, 'hv-c-server-key.pem', 0o644))
    problems = x509.problems_of(check(pki, [item]))
    assert len(problems) == 2, problems
    assert 'copy-666-hv-c-server-cert.pem: is world-writable (mode 0666)' in problems[0]
    assert problems[1].startswith('libvirt_listener_tls_server_key=%s/copy-644-hv-c-server-key.pem: is world-readable '
                                  '(mode 0644)' % pki)


def test_every_problem_at_once_and_a_warning(pki):
    # 80 days on, the good material expires within 30 days: warnings, not problems
    later = time.time() + 80 * DAY
    good = check(pki, [server(pki), client(pki)], now=later)
    assert x509.problems_of(good) == []
    assert len(x509.warnings_of(good)) == 3 and 'expires in 9 day(s)' in x509.warnings_of(good)[0]
    bad = check(pki, [server(pki, cert='hv-c-wrongca-server-cert.pem', key='hv-c-otherkey-server-key.pem',
                             names=['203.0.113.7'])], ca='rogue-cert.pem')
    reasons = x509.problems_of(bad)
    # signed by rogue, checked against rogue: the signature is fine; the SAN and the key are not
    assert len(reasons) == 2 and 'is not for this host' in reasons[0] and 'does not match' in reasons[1], reasons


def test_ec_keys_match_their_certificates(tmp_path):
    if not shutil.which('openssl'):
        pytest.skip('openssl not installed')
    subprocess.run(['openssl', 'req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes',
                    '-days', '90', '-subj', '/CN=ec', '-addext', 'subjectAltName=DNS:ec',
                    '-keyout', str(tmp_path / 'k.pem'), '-out', str(tmp_path / 'c.pem')], check=True, capture_output=True)
    os.chmod(tmp_path / 'k.pem', 0o600)
    findings = x509.check_set(run, os.stat, str(tmp_path / 'c.pem'),
                              [dict(cert=str(tmp_path / 'c.pem'), key=str(tmp_path / 'k.pem'), names=['ec'])], time.time())
    assert x509.problems_of(findings) == []
    assert stat.S_ISREG(os.stat(tmp_path / 'k.pem').st_mode)
