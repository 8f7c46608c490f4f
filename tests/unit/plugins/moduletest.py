# -*- coding: utf-8 -*-
# Copyright: (c) 2025, openstack_ops developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Run a module's main() in-process with given arguments and a fake cloud connection."""

from __future__ import annotations

import contextlib
import json

import openstack
import pytest
from ansible.module_utils import basic
from ansible.module_utils.common.text.converters import to_bytes
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
    with module_args(args):
        with pytest.raises(SystemExit):
            module.main()
    out = capsys.readouterr().out
    return json.loads(out)


try:   # ansible-core >= 2.19
    from ansible.module_utils.testing import patch_module_args as module_args
except ImportError:   # ansible-core 2.16 to 2.18 (the oldest the collection claims): the documented older way
    @contextlib.contextmanager
    def module_args(args):
        saved = basic._ANSIBLE_ARGS
        basic._ANSIBLE_ARGS = to_bytes(json.dumps({'ANSIBLE_MODULE_ARGS': args}))
        try:
            yield
        finally:
            basic._ANSIBLE_ARGS = saved
