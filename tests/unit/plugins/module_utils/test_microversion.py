# -*- coding: utf-8 -*-
# Copyright: (c) 2025, openstack_ops developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

import pytest

from ansible_collections.openstack_ops.live_migration.plugins.module_utils import microversion as mv
from ansible_collections.openstack_ops.live_migration.tests.unit.plugins.table import table

PARSE = [
    dict(id='string', value='2.25', expected=(2, 25)),
    dict(id='tuple from keystoneauth', value=(2, 96), expected=(2, 96)),
    dict(id='list', value=[2, 1], expected=(2, 1)),
    dict(id='spaces', value=' 2.30 ', expected=(2, 30)),
    dict(id='none stays none', value=None, expected=None),
    dict(id='float refused', value=2.3, error=True),
    dict(id='latest refused', value='latest', error=True),
    dict(id='three parts refused', value='2.1.1', error=True),
    dict(id='one-tuple refused', value=(2,), error=True),
]


@table(PARSE)
def test_parse(case):
    if case.get('error'):
        with pytest.raises(ValueError):
            mv.parse(case['value'])
    else:
        assert mv.parse(case['value']) == case['expected']


def test_fmt():
    assert mv.fmt((2, 5)) == '2.5' and mv.fmt((2, 68)) == '2.68' and mv.fmt(None) is None


CHOOSE = [
    dict(id='modern cloud, host', low=(2, 1), high=(2, 96), host='cmp2', block=True,
         version='2.68', body={'host': 'cmp2', 'block_migration': True}),
    dict(id='modern cloud, auto, scheduler picks', low='2.1', high='2.100', host=None, block='auto',
         version='2.68', body={'host': None, 'block_migration': 'auto'}),
    dict(id='2.30 is enough for a host', low=(2, 1), high=(2, 30), host='cmp2', block=False,
         version='2.30', body={'host': 'cmp2', 'block_migration': False}),
    dict(id='2.29 refuses a host', low=(2, 1), high=(2, 29), host='cmp2', block=True,
         error='before 2.30 a requested host bypasses the scheduler'),
    dict(id='2.29 without host', low=(2, 1), high=(2, 29), host=None, block='auto',
         version='2.29', body={'host': None, 'block_migration': 'auto'}),
    dict(id='2.25 auto', low=(2, 1), high=(2, 25), host=None, block='auto',
         version='2.25', body={'host': None, 'block_migration': 'auto'}),
    dict(id='2.24 refuses auto', low=(2, 1), high=(2, 24), host=None, block='auto',
         error='block_migration=auto needs compute API microversion 2.25'),
    dict(id='2.24 legacy body', low=(2, 1), high=(2, 24), host=None, block=True,
         version='2.24', body={'host': None, 'block_migration': True, 'disk_over_commit': False}),
    dict(id='unknown versions are treated as 2.1', low=None, high=None, host=None, block=False,
         version='2.1', body={'host': None, 'block_migration': False, 'disk_over_commit': False}),
    dict(id='unknown versions refuse a host', low=None, high=None, host='cmp2', block=True, error='2.30'),
    dict(id='bad block value', low=(2, 1), high=(2, 96), host=None, block='yes', error='block_migration must be'),
]


@table(CHOOSE)
def test_choose(case):
    if case.get('error'):
        with pytest.raises(ValueError) as e:
            mv.choose(case['low'], case['high'], case['host'], case['block'])
        assert case['error'] in str(e.value)
        return
    plan = mv.choose(case['low'], case['high'], case['host'], case['block'])
    assert plan['microversion'] == case['version']
    assert plan['body'] == case['body']
    assert 'force' not in plan['body']


FEATURES = [
    dict(id='2.21 has none', high=(2, 21), on=[], off=['force_complete', 'abort', 'progress_bytes']),
    dict(id='2.23', high=(2, 23), on=['force_complete', 'progress_bytes'], off=['abort']),
    dict(id='2.34', high=(2, 34), on=['abort', 'block_migration_auto', 'host_checked_by_scheduler',
                                      'async_prechecks'], off=['migration_uuid']),
    dict(id='nova 34 range', high=(2, 100), on=[feature[0] for feature in mv.FEATURES], off=[]),
]


@table(FEATURES)
def test_features(case):
    f = mv.features(case['high'])
    assert all(f[n] for n in case['on']) and not any(f[n] for n in case['off'])


ON_TIMEOUT = [
    dict(id='abort ok at 2.24', action='abort', high=(2, 24), problem=None),
    dict(id='abort refused at 2.23', action='abort', high=(2, 23), problem='needs compute API microversion 2.24'),
    dict(id='force_complete ok at 2.22', action='force_complete', high='2.22', problem=None),
    dict(id='force_complete refused at 2.21', action='force_complete', high='2.21', problem='2.22'),
    dict(id='fail always ok', action='fail', high=(2, 1), problem=None),
]


@table(ON_TIMEOUT)
def test_on_timeout_problem(case):
    problem = mv.on_timeout_problem(case['action'], case['high'])
    if case['problem'] is None:
        assert problem is None
    else:
        assert case['problem'] in problem
