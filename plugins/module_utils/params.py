# -*- coding: utf-8 -*-
# Copyright: (c) 2025, openstack_ops developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""An empty value is not an absent value.

``-e target_host=`` hands a module the empty string, and a module that took
it for "unset" would let the scheduler move the server somewhere else. Every
module of this collection refuses an empty (or blank) string option before it
does anything: the operator either gives a value or leaves the option out. So do
the roles and the playbooks, through the filters of plugins/filter/empty.py, which
call these same functions.

An empty item of a list of strings is refused too (``-e target_hosts=a,`` gives
``['a', '']``). An option whose documented default is the empty string takes it:
there the empty string means something of its own (nova_migration_version: detect it).
"""

# Used by modules that run on the compute nodes too (migration_preflight, ini_keys), EL7's Python 3.6
# among them: no `from __future__ import annotations` here.
from __future__ import absolute_import, division, print_function

from ansible_collections.openstack_ops.live_migration.plugins.module_utils.errors import NOTHING_CHANGED

STRING_TYPES = ('str', 'path', 'raw')

# What to do instead, where leaving the option out means something of its own.
ADVICE = {
    'target_host': 'to let the scheduler choose the destination, leave target_host out '
                   '(-e target_host= passes an empty string, it does not unset it)',
    'cloud': 'to use OS_CLOUD or the OS_* variables, leave cloud out',
}
GENERIC_ADVICE = 'give it a value, or leave it out to get its default'
ITEM_ADVICE = "remove the empty item (a comma-separated value such as 'a,' or 'a,,b' has one)"


def empty_options(params, argument_spec, prefix=''):
    """Names of the string options whose value is an empty or blank string, sorted; suboptions
    are named like ``peers[1].address``."""
    found = []
    for name, spec in argument_spec.items():
        spec = spec or {}
        value = (params or {}).get(name)
        if spec.get('options') and value:
            items = value if isinstance(value, list) else [value]
            for i, item in enumerate(items):
                where = '%s%s[%d].' % (prefix, name, i) if isinstance(value, list) else '%s%s.' % (prefix, name)
                if isinstance(item, dict):
                    found.extend(empty_options(item, spec['options'], where))
            continue
        if spec.get('default') == '' and value == '':
            continue
        kind = spec.get('type', 'str')
        if (kind in STRING_TYPES or kind == 'list') and _blank(value):
            found.append(prefix + name)
        elif kind == 'list' and spec.get('elements') in STRING_TYPES and isinstance(value, (list, str)):
            # a string for a list is comma-separated, as Ansible converts it for a module
            items = value.split(',') if isinstance(value, str) else value
            found.extend('%s%s[%d]' % (prefix, name, i) for i, item in enumerate(items) if _blank(item))
    return sorted(found)


def _blank(value):
    return isinstance(value, str) and not value.strip()


def empty_options_message(names, advice=None):
    """The refusal for empty_options(), or None when there are none; `advice` (name -> what to do)
    adds to or replaces ADVICE."""
    if not names:
        return None
    advice = dict(ADVICE, **(advice or {}))
    parts = []
    for name in names:
        fix = advice.get(name, ITEM_ADVICE if name.endswith(']') else GENERIC_ADVICE)
        parts.append('%s is an empty string: %s' % (name, fix))
    return '%s. %s' % ('; '.join(parts), NOTHING_CHANGED)


def refuse_empty(module, **result):
    """Fail the module before it does anything when a string option is empty (the refusal of
    empty_options_message); ``result`` holds the keys its RETURN promises on failure too."""
    problem = empty_options_message(empty_options(module.params, module.argument_spec))
    if problem:
        module.fail_json(msg=problem, **result)
