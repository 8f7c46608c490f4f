# -*- coding: utf-8 -*-
# Copyright: (c) 2025, openstack_ops developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r'''
---
name: progress
short_description: The live progress of a live_migrate run, read from its progress log
version_added: 0.1.0
author: openstack_ops developers (@openstack-ops)
description:
  - Reads the last record of the JSONL progress log that M(openstack_ops.live_migration.live_migrate)
    writes (its I(progress_log)) and returns what a progress display needs, so that a playbook never
    parses the record format itself.
  - With I(job_file) (the C(results_file) of the module's async job), also tells whether the job has
    ended even when the module died before writing its last record.
options:
  _terms:
    description: Path of the progress log.
    required: true
    type: path
  job_file:
    description: The async job's results file (C(results_file) of the registered async task).
    type: path
'''

EXAMPLES = r'''
- name: Show the progress until the migration ends
  ansible.builtin.set_fact:
    lm_polls: "{{ item }}"
  loop: "{{ range(0, 1800) | list }}"
  loop_control:
    label: "{{ lookup('openstack_ops.live_migration.progress', lm_log, job_file=lm_job.results_file).line }}"
    pause: 2
    break_when:
      - lookup('openstack_ops.live_migration.progress', lm_log, job_file=lm_job.results_file).finished
'''

RETURN = r'''
_raw:
  description: One dict per progress log.
  type: list
  elements: dict
  contains:
    line:
      description: The progress line of the last sample, the summary of the result, or the last event's name
        (C(starting) before the first record).
      type: str
    finished:
      description: True once the log ends with the module's result, or the async job has ended.
      type: bool
    record:
      description: The last record itself (null before the first one).
      type: dict
'''

from ansible.plugins.lookup import LookupBase
from ansible_collections.openstack_ops.live_migration.plugins.module_utils.timeline import (
    job_finished, last_record, progress_text)


class LookupModule(LookupBase):

    def run(self, terms, variables=None, **kwargs):
        self.set_options(var_options=variables, direct=kwargs)
        job_file = self.get_option('job_file')
        out = []
        for path in terms:
            record = last_record(path)
            finished = (record or {}).get('kind') == 'result' or bool(job_file and job_finished(job_file))
            out.append({'line': progress_text(record), 'finished': finished, 'record': record})
        return out
