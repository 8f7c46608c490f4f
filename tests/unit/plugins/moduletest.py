# -*- coding: utf-8 -*-
# Copyright: (c) 2025, openstack_ops developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Run a module's main() in-process with given arguments and a fake cloud connection."""

from __future__ import annotations

import json

import openstack
import pytest
from ansible.module_utils.testing import patch_module_args
from ansible_collections.openstack.cloud.plugins.module_utils.openstack import OpenStackModule


def run_module(module, args, monkeypatch, capsys, conn=None, check_mode=False):
    """Returns the module's JSON result; `conn` replaces the openstacksdk connection
    (None: any attempt to connect fails the test)."""
    def connect(self):
        if conn is None:
            raise AssertionError('the module tried to connect to a cloud')
        self.params.pop('cloud', None)
        return openstack, conn
    monkeypatch.setattr(OpenStackModule, 'openstack_cloud_from_module', connect)
    args = dict(args)
    if check_mode:
        args['_ansible_check_mode'] = True
    capsys.readouterr()
    with patch_module_args(args):
        with pytest.raises(SystemExit):
            module.main()
    out = capsys.readouterr().out
    return json.loads(out)
