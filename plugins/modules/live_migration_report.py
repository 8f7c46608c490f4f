#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2025, openstack_ops developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r'''
---
module: live_migration_report
short_description: Turn a live_migrate progress log into a JSON report and a self-contained HTML page
version_added: 0.1.0
author: openstack_ops developers (@openstack-ops)
description:
  - Reads the JSONL timeline that M(openstack_ops.live_migration.live_migrate) writes with
    I(progress_log) and writes two files into I(dest) -- C(<name>.json), the report document, and
    C(<name>.html), a page with the verdict, the figures, the events, the hints and an inline
    SVG plot of data, disk and memory remaining over time (no script, no external resource).
  - Also reads the log while the migration runs (I(last_only)) to print live progress.
  - Runs on the host that holds the log, usually the controller.
options:
  progress_log:
    description:
      - The JSONL file written by live_migrate.
    type: path
    required: true
  dest:
    description:
      - Folder for the report files; created when missing. Required unless I(last_only).
    type: path
  name:
    description:
      - Base name of the report files. Default C(<server name>-<UTC start time>).
    type: str
  last_only:
    description:
      - Write nothing; return only the last sample's progress line and whether the result is in
        (C(finished)). For a polling loop while live_migrate runs asynchronously.
    type: bool
    default: false
notes:
  - Supports check mode (nothing is written then).
'''

EXAMPLES = r'''
- name: Write the report of a migration
  openstack_ops.live_migration.live_migration_report:
    progress_log: /var/tmp/web-01-migration.jsonl
    dest: ./reports
  register: report

- name: Say where it is
  ansible.builtin.debug:
    msg: "{{ report.summary }} -- report: {{ report.html_path }}"
'''

RETURN = r'''
json_path:
  description: Path of the JSON report (null with I(last_only)).
  returned: always
  type: str
html_path:
  description: Path of the HTML report (null with I(last_only)).
  returned: always
  type: str
summary:
  description: The summary line of the migration (or that no result is recorded yet).
  returned: always
  type: str
ok:
  description: True when the recorded result is a verified success.
  returned: always
  type: bool
finished:
  description: True when the log holds the final result record.
  returned: always
  type: bool
line:
  description: The progress line of the last sample (null before the first sample).
  returned: always
  type: str
sample_count:
  description: Number of samples in the log.
  returned: always
  type: int
'''

import os

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.openstack_ops.live_migration.plugins.module_utils.params import refuse_empty
from ansible_collections.openstack_ops.live_migration.plugins.module_utils.report import (
    build_report, render_html, report_basename, to_json)
from ansible_collections.openstack_ops.live_migration.plugins.module_utils.timeline import read_timeline


def _write(path, text, check_mode):
    """Write when the content differs; returns True when it did (or would)."""
    if os.path.exists(path):
        with open(path, 'r') as f:
            if f.read() == text:
                return False
    if not check_mode:
        tmp = path + '.tmp'
        with open(tmp, 'w') as f:
            f.write(text)
        os.rename(tmp, path)
    return True


def main():
    module = AnsibleModule(
        argument_spec=dict(
            progress_log=dict(type='path', required=True),
            dest=dict(type='path'),
            name=dict(type='str'),
            last_only=dict(type='bool', default=False),
        ),
        required_if=[('last_only', False, ['dest'])],
        supports_check_mode=True,
    )
    p = module.params
    refuse_empty(module)
    try:
        records = read_timeline(p['progress_log'])
    except (IOError, OSError) as e:
        module.fail_json(msg='Cannot read the progress log %s: %s' % (p['progress_log'], e))
    report = build_report(records)
    series = report['series']
    result = dict(changed=False, json_path=None, html_path=None, summary=report['summary'], ok=report['ok'],
                  finished=report['finished'], sample_count=report['sample_count'],
                  line=None)
    samples = [r for r in records if r.get('kind') == 'sample']
    if samples:
        result['line'] = samples[-1].get('line')
    if p['last_only']:
        module.exit_json(**result)
    if not series and not report['finished']:
        module.warn('The progress log %s has no samples and no result yet.' % p['progress_log'])

    dest = p['dest']
    name = p['name'] or report_basename(report)
    result['json_path'] = os.path.join(dest, name + '.json')
    result['html_path'] = os.path.join(dest, name + '.html')
    try:
        if not os.path.isdir(dest):
            result['changed'] = True
            if not module.check_mode:
                os.makedirs(dest)
        if module.check_mode and not os.path.isdir(dest):
            result['changed'] = True
        else:
            result['changed'] = _write(result['json_path'], to_json(report), module.check_mode) or result['changed']
            result['changed'] = _write(result['html_path'], render_html(report), module.check_mode) or result['changed']
    except (IOError, OSError) as e:
        module.fail_json(msg='Cannot write the report into %s: %s' % (dest, e), **result)
    module.exit_json(**result)


if __name__ == '__main__':
    main()
