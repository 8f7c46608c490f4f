# -*- coding: utf-8 -*-
# Copyright: (c) 2025, openstack_ops developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""openstacksdk 4.22 warns about its own internals (RemovedInSDK50/60Warning raised inside
openstack.*, e.g. on every resource attribute conversion). They say nothing about our code:
hide them so that warnings from our code stand out."""

from __future__ import annotations


def pytest_configure(config):
    config.addinivalue_line('filterwarnings', r'ignore:::openstack\..*')
