# -*- coding: utf-8 -*-
# Copyright: (c) 2025, openstack_ops developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""What our modules add to openstack.cloud's OpenStackModule."""

from __future__ import annotations


class ClearConnectErrors(object):
    """Mix in before OpenStackModule.

    openstack.cloud only catches openstacksdk's own exceptions while it sets up the
    connection; keystoneauth's configuration errors (no auth_url, unknown auth type,
    ...) would crash the module with a bare traceback. Fail with a message instead.
    """

    def openstack_cloud_from_module(self):
        try:
            return super(ClearConnectErrors, self).openstack_cloud_from_module()
        except Exception as e:  # anything from keystoneauth/openstacksdk configuration
            self.fail_json(msg='Cannot set up the connection to the cloud: %s. Check the cloud or auth parameters '
                               '(clouds.yaml, OS_CLOUD or the OS_* variables). Nothing was changed.' % e)
