# -*- coding: utf-8 -*-
# Copyright: (c) 2025, openstack_ops developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""An empty value is not an absent value: which options are refused, and what the refusal says."""

from __future__ import annotations

from ansible_collections.openstack_ops.live_migration.plugins.module_utils.params import (
    empty_options, empty_options_message)
from ansible_collections.openstack_ops.live_migration.tests.unit.plugins.table import table

SPEC = dict(server=dict(type='str'), target_host=dict(type='str'), progress_log=dict(type='path'),
            block_migration=dict(type='raw'), timeout=dict(type='int'), wait=dict(type='bool'),
            libvirt_addresses=dict(type='dict'),
            peers=dict(type='list', elements='dict', options=dict(name=dict(type='str'), address=dict(type='str'))),
            target_hosts=dict(type='list', elements='str'), ports=dict(type='list', elements='int'),
            version=dict(type='str', default=''))

CASES = [
    dict(id='all set', params=dict(server='vm1', target_host='cmp2'), empty=[]),
    dict(id='unset is fine', params=dict(server='vm1', target_host=None), empty=[]),
    dict(id='empty target', params=dict(server='vm1', target_host=''), empty=['target_host']),
    dict(id='blank is empty', params=dict(server='  ', progress_log='\t'), empty=['progress_log', 'server']),
    dict(id='raw string empty', params=dict(block_migration=''), empty=['block_migration']),
    dict(id='raw bool is not a string', params=dict(block_migration=False), empty=[]),
    dict(id='non-string types are not judged', params=dict(timeout=0, wait=False, libvirt_addresses={}), empty=[]),
    dict(id='suboptions', params=dict(peers=[dict(name='a', address='10.0.0.1'), dict(name='b', address='')]),
         empty=['peers[1].address']),
    # measured before: -e target_hosts=a, reached drain_host as ['a', ''] and was taken
    dict(id='an empty list item', params=dict(target_hosts=['a', '', ' ']), empty=['target_hosts[1]', 'target_hosts[2]']),
    dict(id='a comma-separated string for a list', params=dict(target_hosts='a,'), empty=['target_hosts[1]']),
    dict(id='a list given as an empty string', params=dict(target_hosts=''), empty=['target_hosts']),
    dict(id='an empty list is not an empty string', params=dict(target_hosts=[]), empty=[]),
    dict(id='items of other types are not judged', params=dict(ports=[0, 1]), empty=[]),
    dict(id='a documented empty default takes the empty string', params=dict(version=''), empty=[]),
    dict(id='but not a blank one', params=dict(version=' '), empty=['version']),
]


@table(CASES)
def test_empty_options(case):
    assert empty_options(case['params'], SPEC) == case['empty']


def test_message_names_each_option_and_the_way_out():
    msg = empty_options_message(['target_host', 'progress_log'])
    assert msg == ('target_host is an empty string: to let the scheduler choose the destination, leave target_host '
                   'out (-e target_host= passes an empty string, it does not unset it); progress_log is an empty '
                   'string: give it a value, or leave it out to get its default. Nothing was changed.')
    assert empty_options_message([]) is None


def test_message_for_a_list_item_and_given_advice():
    msg = empty_options_message(['target_hosts[1]', 'address'], advice=dict(address='set it to this host\'s address'))
    assert msg == ("target_hosts[1] is an empty string: remove the empty item (a comma-separated value such as 'a,' or "
                   "'a,,b' has one); address is an empty string: set it to this host's address. Nothing was changed.")
