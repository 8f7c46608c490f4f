# -*- coding: utf-8 -*-
# Copyright: (c) 2025, openstack_ops developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""What our modules add to openstack.cloud's OpenStackModule."""

from __future__ import annotations

from ansible_collections.openstack_ops.live_migration.plugins.module_utils.errors import NOTHING_CHANGED
from ansible_collections.openstack_ops.live_migration.plugins.module_utils.params import (
    empty_options, empty_options_message)

# Seconds an API call may take when api_timeout is not set (openstacksdk's default waits forever).
DEFAULT_API_TIMEOUT_S = 60


class ClearConnectErrors(object):
    """Mix in before OpenStackModule. Runs before the connection is made:

    - an empty string option is refused (params.py), before anything is read or changed;
    - every API call gets a timeout (``api_timeout``, DEFAULT_API_TIMEOUT_S when unset, in the
      ``cloud`` dict when cloud is one), so a hung nova-api cannot hang the module;
    - openstack.cloud only catches openstacksdk's own exceptions while it sets up the
      connection; keystoneauth's configuration errors (no auth_url, unknown auth type,
      ...) would crash the module with a bare traceback. Fail with a message instead.
    """

    def openstack_cloud_from_module(self):
        problem = empty_options_message(empty_options(self.params, self.ansible.argument_spec))
        if problem:
            self.fail_json(msg=problem, changed=False)
        cloud = self.params.get('cloud')
        if isinstance(cloud, dict):
            # openstack.cloud passes a cloud dict to openstacksdk as it is (and refuses api_timeout
            # beside it): the default goes into the dict
            if cloud.get('api_timeout') is None:
                self.params['cloud'] = dict(cloud, api_timeout=DEFAULT_API_TIMEOUT_S)
        elif self.params.get('api_timeout') is None:
            self.params['api_timeout'] = DEFAULT_API_TIMEOUT_S
        try:
            return super(ClearConnectErrors, self).openstack_cloud_from_module()
        except Exception as e:  # anything from keystoneauth/openstacksdk configuration
            self.fail_json(msg='Cannot set up the connection to the cloud: %s. Check the cloud or auth parameters '
                               '(clouds.yaml, OS_CLOUD or the OS_* variables). %s' % (e, NOTHING_CHANGED))
