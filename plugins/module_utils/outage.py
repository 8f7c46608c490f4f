# -*- coding: utf-8 -*-
# Copyright: (c) 2025, openstack_ops developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Riding out a cloud that blinks: one outage budget for every API call of a run.

A migration outlives many things: a nova-api restart, a load balancer that
drops connections, a keystone token that expires. ``OutageBudget.call()``
retries a call that failed transiently (``NovaError.transient``: 5xx,
connection refused or reset, a read timeout) with exponential backoff, and a
401 once after re-authenticating. The time between the first failure and the
next success is one outage; all outages of a run add up, and when their sum
passes the budget the last error is raised as ``OutageExceeded``.

Calls that must not be repeated blindly (the live-migrate POST) are not made
through it: see ``LiveMigration.request``.
"""

from __future__ import annotations

import contextlib
import time

from ansible_collections.openstack_ops.live_migration.plugins.module_utils.errors import NovaError

DEFAULT_BUDGET_S = 300.0
FIRST_BACKOFF_S = 0.5
MAX_BACKOFF_S = 10.0


class OutageExceeded(NovaError):
    """The cloud stayed unreachable for longer than the outage budget."""

    def __init__(self, error, outage_s, budget_s):
        super(OutageExceeded, self).__init__(
            '%s (the cloud API was unreachable for %.0f s in all, over the outage_budget of %.0f s)'
            % (error.msg.rstrip('.'), outage_s, budget_s), status=error.status, transient=False)
        self.outage_s = outage_s


def backoff_s(attempt, first=FIRST_BACKOFF_S, cap=MAX_BACKOFF_S):
    """The pause before retry number ``attempt`` (1, 2, ...): doubling from ``first``, at most ``cap``."""
    return min(cap, first * (2 ** max(0, attempt - 1)))


class OutageBudget(object):
    """Retries transient failures of API calls within one budget of unreachable time.

    ``reauth`` is called on a 401 before the one retry it gets (it drops the
    token so that the next call authenticates again); ``on_retry(error, wait_s)``
    is told of every retry (the caller warns, writes its timeline).
    """

    def __init__(self, budget_s=DEFAULT_BUDGET_S, monotonic=time.monotonic, sleep=time.sleep, reauth=None,
                 on_retry=None):
        self.budget_s = float(budget_s)
        self.monotonic = monotonic
        self.sleep = sleep
        self.reauth = reauth
        self.on_retry = on_retry
        self.spent_s = 0.0      # closed outages
        self.since = None       # start of the open outage
        self.outages = 0
        self.waiting = True     # False inside no_wait()

    @contextlib.contextmanager
    def no_wait(self):
        """Calls inside count against the budget but are not retried: the transient error is raised
        at once, for a caller that has other work to do meanwhile (the watch reads libvirt)."""
        self.waiting = False
        try:
            yield self
        finally:
            self.waiting = True

    @property
    def outage_s(self):
        """Seconds the cloud was unreachable so far (the open outage included)."""
        open_s = self.monotonic() - self.since if self.since is not None else 0.0
        return self.spent_s + open_s

    def _recovered(self):
        if self.since is not None:
            self.spent_s += self.monotonic() - self.since
            self.since = None

    def call(self, fn, *args, **kwargs):
        attempt = 0
        reauthenticated = False
        while True:
            try:
                value = fn(*args, **kwargs)
            except NovaError as e:
                if e.status == 401 and not reauthenticated and self.reauth is not None:
                    reauthenticated = True   # one new token per call; a second 401 is the credentials
                    self.reauth()
                    continue
                if not e.transient:
                    raise
                attempt += 1
                if self.since is None:
                    self.since = self.monotonic()
                    self.outages += 1
                if self.outage_s >= self.budget_s:
                    raise OutageExceeded(e, self.outage_s, self.budget_s)
                if not self.waiting:
                    raise
                wait = min(backoff_s(attempt), max(0.0, self.budget_s - self.outage_s))
                if self.on_retry is not None:
                    self.on_retry(e, wait)
                self.sleep(wait)
                continue
            self._recovered()
            return value
