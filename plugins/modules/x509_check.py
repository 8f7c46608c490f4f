#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, openstack_ops developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

# This code runs on the compute nodes, EL7's Python 3.6 among them (ansible-core 2.16): no
# `from __future__ import annotations` (Python 3.7+) here, unlike the controller-side modules.
from __future__ import absolute_import, division, print_function

DOCUMENTATION = r"""
---
module: x509_check
short_description: Check on a node that a CA, its certificates and their keys are usable for TLS
version_added: "0.1.0"
author:
  - openstack_ops developers (@openstack-ops)
description:
  - Runs on the node that holds the files and checks them with the node's C(openssl) command,
    without changing anything.
  - For each certificate, that the CA verifies it (C(openssl verify -partial_chain -CAfile), at a
    time inside both validity periods, so that a bad signature and a bad date are told apart),
    that its subjectAltName names the host (when I(certificates[].names) is given), that it is
    neither expired nor not yet valid, and that its key is its own (the public key of C(openssl
    pkey -pubout) against that of C(openssl x509 -pubkey); RSA and EC alike).
  - For the CA, that it is neither expired nor not yet valid.
  - No file may be world-writable, and no key world-readable.
  - A certificate that expires in less than I(warn_days) days gives a warning, not a failure.
  - Every file is checked, whatever the others give, so that one run names every problem.
options:
  ca_cert:
    description: The CA certificate (PEM) that must have signed every certificate of I(certificates).
    type: path
    required: true
  ca_cert_label:
    description: How the messages name I(ca_cert) (such as the variable that sets it), before its path.
    type: str
  certificates:
    description: The certificates to check against I(ca_cert), each with its key.
    type: list
    elements: dict
    required: true
    suboptions:
      cert:
        description: The certificate (PEM).
        type: path
        required: true
      key:
        description: Its private key (PEM, not encrypted). Left out, no key is checked.
        type: path
      names:
        description:
          - Names of this host, any one of which the certificate's subjectAltName must hold, IP
            addresses as C(IP:) entries, host names as C(DNS:) entries (a left-most C(*) label
            matches one label). Left out or empty, the subjectAltName is not checked (client
            certificates).
        type: list
        elements: str
        default: []
      cert_label:
        description: How the messages name I(cert).
        type: str
      key_label:
        description: How the messages name I(key).
        type: str
  warn_days:
    description: Warn when a certificate (the CA included) expires in fewer days than this.
    type: int
    default: 30
  fail_on_problem:
    description:
      - Fail this task, with one message that lists every problem, when any file has one.
      - With C(false), the task succeeds and the caller reads RV(problems).
    type: bool
    default: true
notes:
  - Read-only; check mode runs the same checks.
  - Needs the C(openssl) command on the node (1.0.2 or later).
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
attributes:
  check_mode:
    support: full
  diff_mode:
    support: none
  platform:
    platforms: posix
"""

EXAMPLES = r"""
- name: Check libvirt's TLS material before anything changes
  openstack_ops.live_migration.x509_check:
    ca_cert: /etc/pki/CA/cacert.pem
    certificates:
      - cert: /etc/pki/libvirt/servercert.pem
        key: /etc/pki/libvirt/private/serverkey.pem
        names: ["192.0.2.11", "compute1", "compute1.example.org"]
      - cert: /etc/pki/libvirt/clientcert.pem
        key: /etc/pki/libvirt/private/clientkey.pem
  become: true

- name: Read the findings and decide elsewhere
  openstack_ops.live_migration.x509_check:
    ca_cert: /etc/pki/CA/cacert.pem
    ca_cert_label: libvirt_listener_tls_ca_cert
    certificates:
      - cert: /etc/pki/libvirt/servercert.pem
        cert_label: libvirt_listener_tls_server_cert
    fail_on_problem: false
  register: tls_files
"""

RETURN = r"""
files:
  description: One entry per file checked, the CA first, then each certificate followed by its key.
  returned: always
  type: list
  elements: dict
  contains:
    path:
      description: The file.
      type: str
    label:
      description: Its label (I(ca_cert_label), I(cert_label), I(key_label)), empty when none was given.
      type: str
    kind:
      description: C(ca_cert), C(cert) or C(key).
      type: str
    problems:
      description: What makes the file unusable.
      type: list
      elements: str
    warnings:
      description: What will make it unusable soon (it expires in less than I(warn_days) days).
      type: list
      elements: str
    days_left:
      description: Whole days until a certificate expires (negative once expired); null for keys and unreadable certificates.
      type: int
    not_after:
      description: When a certificate expires (C(YYYY-MM-DD HH:MM UTC)); null for keys.
      type: str
  sample:
    - {path: /etc/pki/CA/cacert.pem, label: "", kind: ca_cert, problems: [], warnings: [], days_left: 3640,
       not_after: "2036-12-01 10:00 UTC"}
problems:
  description: "Every problem, one line each, as C(LABEL=PATH: reason) (C(PATH: reason) without a label)."
  returned: always
  type: list
  elements: str
  sample: ["/etc/pki/libvirt/servercert.pem: expired on 2026-11-30 10:00 UTC"]
expiring:
  description: Every warning, one line each, in the same form as RV(problems). They are also the task's warnings.
  returned: always
  type: list
  elements: str
  sample: ["/etc/pki/libvirt/clientcert.pem: expires in 12 day(s), on 2026-12-16 10:00 UTC: renew it"]
"""

import os
import time

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.openstack_ops.live_migration.plugins.module_utils import x509
from ansible_collections.openstack_ops.live_migration.plugins.module_utils.params import refuse_empty


def main():
    module = AnsibleModule(
        argument_spec=dict(
            ca_cert=dict(type="path", required=True),
            ca_cert_label=dict(type="str"),
            certificates=dict(type="list", elements="dict", required=True, options=dict(
                cert=dict(type="path", required=True),
                key=dict(type="path"),
                names=dict(type="list", elements="str", default=[]),
                cert_label=dict(type="str"),
                key_label=dict(type="str", no_log=False),   # a name such as a variable's, no secret
            )),
            warn_days=dict(type="int", default=30),
            fail_on_problem=dict(type="bool", default=True),
        ),
        supports_check_mode=True,
    )
    refuse_empty(module)
    if module.get_bin_path("openssl") is None:
        module.fail_json(msg="the openssl command is not installed on this host: install it (package openssl)")
    p = module.params

    def run(argv):
        return module.run_command(argv, environ_update=dict(LC_ALL="C", LANG="C"))

    findings = x509.check_set(run, os.stat, p["ca_cert"], p["certificates"], time.time(),
                              warn_days=p["warn_days"], ca_label=p["ca_cert_label"])
    problems = x509.problems_of(findings)
    expiring = x509.warnings_of(findings)
    for line in expiring:
        module.warn(line)
    result = dict(changed=False, files=findings, problems=problems, expiring=expiring)
    if problems and p["fail_on_problem"]:
        module.fail_json(msg="%d problem(s) with the TLS files:\n%s" % (len(problems), "\n".join(problems)), **result)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
