# -*- coding: utf-8 -*-
# Copyright: (c) 2025, openstack_ops developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""docs/awx.md's survey for live-migrate.yml names every variable of the playbook's header."""

from __future__ import annotations

import os
import re

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
NOT_IN_SURVEY = {'libvirt_addresses'}   # a mapping: docs/awx.md says to set it in the inventory


def header_variables():
    with open(os.path.join(ROOT, 'playbooks', 'live-migrate.yml')) as f:
        header = f.read().split('# Variables', 1)[1].split('\n#\n', 1)[0]
    return set(re.findall(r'^#   ([a-z_]+)\s', header, re.M))


def test_the_survey_names_every_variable_of_live_migrate_yml():
    variables = header_variables()
    assert {'instance', 'target_host', 'cloud', 'libvirt_uri'} <= variables, variables
    with open(os.path.join(ROOT, 'docs', 'awx.md')) as f:
        doc = f.read()
    survey = set(re.findall(r'^  \| `([a-z_]+)` \|', doc.split('### live-migrate', 1)[1].split('\n### ', 1)[0], re.M))
    assert survey == variables - NOT_IN_SURVEY, 'docs/awx.md survey vs live-migrate.yml: %s' % sorted(
        survey ^ (variables - NOT_IN_SURVEY))
    for name in NOT_IN_SURVEY:
        assert '`%s`' % name in doc
