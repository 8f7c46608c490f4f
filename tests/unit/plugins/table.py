# -*- coding: utf-8 -*-
# Copyright: (c) 2025, openstack_ops developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Table-driven tests in the spirit of community.general's uthelper: cases are data.

    CASES = [
        dict(id='two dots', input='2.25', expected=(2, 25)),
        ...
    ]

    @table(CASES)
    def test_parse(case):
        assert parse(case['input']) == case['expected']
"""

from __future__ import annotations

import pytest


def table(cases):
    """Parametrize a test over a list of dicts, each with a unique 'id'."""
    ids = [c['id'] for c in cases]
    duplicates = sorted(set(i for i in ids if ids.count(i) > 1))
    if duplicates:
        raise ValueError('duplicate case ids: %s' % ', '.join(duplicates))
    return pytest.mark.parametrize('case', cases, ids=ids)


class FakeClock(object):
    """monotonic() and sleep() that only move when the code under test sleeps."""

    def __init__(self, start=1000.0):
        self.now = start
        self.sleeps = []

    def monotonic(self):
        return self.now

    def sleep(self, seconds):
        self.sleeps.append(seconds)
        self.now += seconds

    def time(self):
        return 1700000000.0 + self.now
