# -*- coding: utf-8 -*-
# Copyright: (c) 2025, openstack_ops developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""An empty value is not an absent value, for roles and playbooks: the same rule and the same
message as the modules (module_utils/params.py). Documented in empty_options.yml and
empty_options_message.yml."""

from __future__ import annotations

from ansible.errors import AnsibleFilterError
from ansible.module_utils.common.collections import is_sequence

from ansible_collections.openstack_ops.live_migration.plugins.module_utils.params import (
    empty_options as _empty_options, empty_options_message as _empty_options_message)


def empty_options(values, spec=None, lists=None):
    """Names of the empty string options in `values` (name -> value). `spec`: the options of a role's
    argument spec; without it, every string value is a string option and `lists` names the lists of
    strings (a string there is comma-separated)."""
    if not isinstance(values, dict):
        raise AnsibleFilterError('empty_options expects a dict of names and values, got %s' % type(values).__name__)
    if spec is None:
        lists = [lists] if isinstance(lists, str) else list(lists or [])
        spec = dict((name, dict(type='list', elements='str') if name in lists else dict(type='raw'))
                    for name in values)
    elif not isinstance(spec, dict):
        raise AnsibleFilterError('empty_options: spec must be the options of an argument spec (a dict)')
    return _empty_options(values, spec)


def empty_options_message(names, advice=None):
    """The refusal for empty_options(): each name with what to do instead, then "Nothing was
    changed."; an empty string when there is nothing to refuse."""
    if not is_sequence(names):
        raise AnsibleFilterError('empty_options_message expects the list that empty_options returned')
    return _empty_options_message(list(names), advice) or ''


class FilterModule(object):
    def filters(self):
        return dict(empty_options=empty_options, empty_options_message=empty_options_message)
