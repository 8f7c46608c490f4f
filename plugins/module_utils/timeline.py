# -*- coding: utf-8 -*-
# Copyright: (c) 2025, openstack_ops developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The timeline of one migration: a bounded sample list and a JSONL file.

JSONL records all have ``kind`` ('start', 'event', 'sample', 'result') and
``ts`` (Unix time). A reader (the playbook's progress loop, the report
module) takes the last line for live progress and the whole file for the
report; the 'result' record is always the last one written.
"""

from __future__ import annotations

import json
import os
import time


class SampleBuffer(object):
    """Keeps at most ``limit`` samples spread over the whole run.

    When full, every other kept sample is dropped and only every
    ``stride``-th new one is kept, so the list always covers the start, the
    end and evenly spaced points between. The newest sample is always
    available as ``latest`` and is appended by ``items()``.
    """

    def __init__(self, limit=200):
        if limit < 2:
            raise ValueError('limit must be at least 2')
        self.limit = limit
        self.kept = []
        self.stride = 1
        self.count = 0
        self.latest = None

    def add(self, sample):
        if self.count % self.stride == 0:
            self.kept.append(sample)
            if len(self.kept) >= self.limit:
                self.kept = self.kept[::2]
                self.stride *= 2
        self.count += 1
        self.latest = sample

    def items(self):
        out = list(self.kept)
        if self.latest is not None and (not out or out[-1] is not self.latest):
            if len(out) >= self.limit:
                out = out[:-1]
            out.append(self.latest)
        return out


class Timeline(object):
    """Appends JSON records to a file, one per line, each in a single write.

    ``path`` None makes every call a no-op (no progress_log requested, or
    check mode). The file is truncated when opened: one file, one migration.
    """

    def __init__(self, path, now=time.time):
        self.path = path
        self.now = now
        self.fd = None

    def open(self):
        if self.path and self.fd is None:
            parent = os.path.dirname(os.path.abspath(self.path))
            if not os.path.isdir(parent):
                raise IOError('the folder %s does not exist' % parent)
            self.fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_APPEND, 0o644)
        return self

    def write(self, kind, **data):
        if self.fd is None:
            return
        record = {'kind': kind, 'ts': round(self.now(), 3)}
        record.update(data)
        line = json.dumps(record, sort_keys=True, default=str) + '\n'
        os.write(self.fd, line.encode('utf-8'))

    def close(self):
        if self.fd is not None:
            os.close(self.fd)
            self.fd = None


def parse_lines(lines):
    """JSONL lines -> records; a torn or foreign line is skipped, not fatal."""
    records = []
    for line in lines:
        line = line.strip()
        if not line:
            continue
        try:
            record = json.loads(line)
        except ValueError:
            continue
        if isinstance(record, dict) and 'kind' in record:
            records.append(record)
    return records


def read_timeline(path):
    with open(path, 'r') as f:
        return parse_lines(f)


def last_record(path, tail_bytes=65536):
    """The last complete record of a progress log (reads only its end), or None."""
    try:
        with open(path, 'rb') as f:
            f.seek(0, os.SEEK_END)
            size = f.tell()
            f.seek(max(0, size - tail_bytes))
            text = f.read().decode('utf-8', 'replace')
    except (IOError, OSError):
        return None
    records = parse_lines(text.splitlines())
    return records[-1] if records else None


def progress_text(record):
    """What a progress display shows for a record: a sample's line, the result's summary, else the
    record's kind and name ('starting' before the first record)."""
    if not record:
        return 'starting'
    if record.get('line'):
        return record['line']
    if record.get('summary'):
        return record['summary']
    return ('%s %s' % (record.get('kind', ''), record.get('name', ''))).strip()


def job_finished(job_file):
    """Whether Ansible's async job has ended: its file holds the module's result rather than the
    {"started": 1, ...} that async_wrapper writes first (missing or torn: not known to have ended)."""
    try:
        with open(job_file) as f:
            data = json.load(f)
    except (IOError, OSError, ValueError):
        return False
    return isinstance(data, dict) and not data.get('started')
