# -*- coding: utf-8 -*-
# Copyright: (c) 2025, openstack_ops developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations


class ModuleDocFragment(object):
    # Options of the modules that read libvirt on the hypervisors through a URI template.
    DOCUMENTATION = r'''
options:
  libvirt_addresses:
    description:
      - Address (or resolvable name) of each hypervisor's libvirt, by Nova compute host name, put in
        place of C({host}) and C({node}) in I(libvirt_uri). For compute host names that do not
        resolve where the module runs. Hosts not listed keep their name.
    type: dict
'''
