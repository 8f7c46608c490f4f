# -*- coding: utf-8 -*-
# Copyright: (c) 2025, openstack_ops developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Exceptions shared by the module_utils of this collection, and the one sentence that ends every refusal
made before anything changed."""

# Imported by modules that run on the compute nodes too (through params.py), EL7's Python 3.6 among
# them: no `from __future__ import annotations` here.
from __future__ import absolute_import, division, print_function

# Said only where it is true: a check refused the run before any request (or, after a request that
# failed, once Nova shows no new migration record and no instance action: migration.py).
NOTHING_CHANGED = 'Nothing was changed.'


class OperatorError(Exception):
    """A failure the operator has to act on.

    ``msg`` says what happened and what to do next; ``details`` are extra
    keys for ``fail_json`` (the state that was observed, hints, ...).
    """

    def __init__(self, msg, **details):
        super(OperatorError, self).__init__(msg)
        self.msg = msg
        self.details = details


class NovaError(Exception):
    """An OpenStack API call failed.

    ``status`` is the HTTP status code when there was a response.
    ``transient`` is true for failures worth retrying (5xx, connection
    errors): while a migration runs, the watch loop tolerates a few of them.
    """

    def __init__(self, msg, status=None, transient=False):
        super(NovaError, self).__init__(msg)
        self.msg = msg
        self.status = status
        self.transient = transient
