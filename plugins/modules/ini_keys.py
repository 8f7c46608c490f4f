#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: openstack_ops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: ini_keys
short_description: Set several keys of an INI file at once, with a diff of those keys only
version_added: "0.1.0"
author:
  - openstack_ops developers (@openstack-ops)
description:
  - Sets or removes the given keys of an existing INI file (oslo.config style, such as
    C(nova.conf)) in one pass, and leaves every other line as it is.
  - The diff (C(--diff)) and the result show the managed keys only, never the rest of the
    file. C(nova.conf) holds C(transport_url) with the message queue password and service
    passwords such as C([keystone_authtoken] password); a whole-file diff, as
    M(community.general.ini_file) prints it, shows them in the output, at C(-vvv), in JSON
    callbacks, AWX and ARA.
  - One task per file instead of one M(community.general.ini_file) run per key.
  - A key that already has the wanted value is left as written. A key set more than once in
    its section keeps its first line, the others are removed. A missing key is added after
    the last setting of its section, a missing section at the end of the file. Comments and
    other keys are kept.
options:
  path:
    description: The INI file. It must exist.
    type: path
    required: true
  settings:
    description:
      - "The keys to manage, as C({section: {key: value}}). Section names are case-sensitive
        (nova's C(DEFAULT) is C(DEFAULT))."
      - Values are written as C(key = value); booleans as C(true) or C(false). C(null) removes the key.
      - The values of these keys appear in the diff and the result, so do not manage secrets
        with this module.
    type: dict
    required: true
notes:
  - The file is replaced atomically and keeps its owner and mode.
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
attributes:
  check_mode:
    support: full
  diff_mode:
    support: full
  platform:
    platforms: posix
"""

EXAMPLES = r"""
- name: Write nova's live migration options
  openstack_ops.live_migration.ini_keys:
    path: /etc/nova/nova.conf
    settings:
      libvirt:
        live_migration_scheme: tls
        live_migration_with_native_tls: true
        live_migration_tunnelled: null   # removed
      DEFAULT:
        max_concurrent_live_migrations: 1
"""

RETURN = r"""
changes:
  description: One entry per managed key that changed (or would change in check mode).
  returned: always
  type: list
  elements: dict
  contains:
    section:
      description: The section.
      type: str
    key:
      description: The key.
      type: str
    before:
      description: Its value before, null when it was absent.
      type: str
    after:
      description: Its value after, null when it is removed.
      type: str
  sample: [{section: libvirt, key: live_migration_scheme, before: tcp, after: tls}]
"""

import os
import tempfile

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.common.text.converters import to_bytes, to_text
from ansible_collections.openstack_ops.live_migration.plugins.module_utils import ini_keys
from ansible_collections.openstack_ops.live_migration.plugins.module_utils.params import refuse_empty


def main():
    module = AnsibleModule(
        argument_spec=dict(path=dict(type="path", required=True), settings=dict(type="dict", required=True)),
        supports_check_mode=True,
    )
    refuse_empty(module, changes=[])
    path, settings = module.params["path"], module.params["settings"]
    if not os.path.isfile(path):
        module.fail_json(msg="%s does not exist (or is not a file)" % path, changes=[])
    with open(path, "rb") as f:
        text = to_text(f.read(), errors="surrogate_or_strict")
    try:
        new_text, changes = ini_keys.apply(text, settings)
    except ValueError as e:
        module.fail_json(msg="settings: %s" % e, changes=[])
    result = dict(changed=new_text != text, changes=changes)
    if module._diff:
        result["diff"] = ini_keys.diff(settings, changes, path)
    if result["changed"] and not module.check_mode:
        fd, tmp = tempfile.mkstemp(dir=os.path.dirname(os.path.abspath(path)), prefix=".ini_keys.")
        with os.fdopen(fd, "wb") as f:
            f.write(to_bytes(new_text, errors="surrogate_or_strict"))
        module.atomic_move(tmp, path)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
