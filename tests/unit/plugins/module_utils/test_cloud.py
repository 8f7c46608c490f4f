# -*- coding: utf-8 -*-
# Copyright: (c) 2025, openstack_ops developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Every API call has a timeout: what openstacksdk is given to connect, for each way to name the cloud.

The module runs through openstack.cloud's real OpenStackModule; only openstack.connect is replaced,
by a recorder that refuses to connect (the module then fails with its connection message).
"""

from __future__ import annotations

import json

import openstack
import pytest

from ansible_collections.openstack_ops.live_migration.plugins.module_utils.cloud import DEFAULT_API_TIMEOUT_S
from ansible_collections.openstack_ops.live_migration.plugins.modules import live_migration_info
from ansible_collections.openstack_ops.live_migration.tests.unit.plugins.moduletest import module_args
from ansible_collections.openstack_ops.live_migration.tests.unit.plugins.table import table

DICT_CLOUD = dict(auth_type='none', endpoint_override='http://127.0.0.1:1/')

CASES = [
    dict(id='cloud name, no api_timeout', args=dict(cloud='fake'), expect=dict(cloud='fake', api_timeout=DEFAULT_API_TIMEOUT_S)),
    dict(id='no cloud at all (OS_CLOUD / OS_*)', args=dict(), expect=dict(cloud=None, api_timeout=DEFAULT_API_TIMEOUT_S)),
    dict(id='cloud name, explicit api_timeout kept', args=dict(cloud='fake', api_timeout=7),
         expect=dict(cloud='fake', api_timeout=7)),
    # measured before: a cloud dict reached openstacksdk without any api_timeout (it waits forever)
    dict(id='cloud dict, no api_timeout', args=dict(cloud=DICT_CLOUD),
         expect=dict(DICT_CLOUD, api_timeout=DEFAULT_API_TIMEOUT_S)),
    dict(id='cloud dict, its own api_timeout kept', args=dict(cloud=dict(DICT_CLOUD, api_timeout=9)),
         expect=dict(DICT_CLOUD, api_timeout=9)),
]


@table(CASES)
def test_api_timeout_reaches_openstacksdk(case, monkeypatch, capsys):
    seen = []

    def connect(**kwargs):
        seen.append(kwargs)
        raise openstack.exceptions.ConfigException('recorded, not connected')
    monkeypatch.setattr(openstack, 'connect', connect)
    capsys.readouterr()
    with module_args(dict(case['args'], server='vm1')):
        with pytest.raises(SystemExit):
            live_migration_info.main()
    result = json.loads(capsys.readouterr().out)
    assert result.get('failed') and 'recorded, not connected' in result['msg'], result
    assert len(seen) == 1
    got = {key: seen[0].get(key) for key in case['expect']}
    assert got == case['expect'], seen[0]
    if isinstance(case['args'].get('cloud'), dict):
        # the operator's dict is not changed in place
        assert 'api_timeout' not in DICT_CLOUD
