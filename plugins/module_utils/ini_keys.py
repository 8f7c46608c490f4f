# -*- coding: utf-8 -*-
# Copyright: openstack_ops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Set chosen keys of an INI file (oslo.config style, such as nova.conf) in one pass, and
describe the change by those keys only.

The rest of the file is kept byte for byte and never leaves this module: nova.conf holds
``transport_url`` with the message queue password and ``[keystone_authtoken] password``,
and a diff of the whole file would print them (``--diff``, ``-vvv``, JSON callbacks, AWX, ARA).

``settings`` is ``{section: {key: value}}``; a value of None removes the key. A key that is
already set to the wanted value is left as it is written (exact ``changed``). A key set more
than once in its section keeps its first line; the others are removed. A missing key goes
after the last setting of its section; a missing section goes at the end of the file.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import re

_SECTION = re.compile(r"^\s*\[([^\]]*)\]\s*$")
# key = value; a line that starts with whitespace continues the value above (oslo.config).
_OPTION = re.compile(r"^([^\s#;=\[][^=]*?)\s*=\s*(.*?)\s*$")


def render_value(value):
    """The text of a value as written into the file (None stays None: remove the key)."""
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def normalize(settings):
    """{section: {key: value}} with every value rendered; raises ValueError on a bad shape."""
    out = {}
    for section, keys in (settings or {}).items():
        if not isinstance(keys, dict):
            raise ValueError("settings[%r] must be a dict of key: value, not %s" % (section, type(keys).__name__))
        if not str(section) or "]" in str(section) or "\n" in str(section):
            raise ValueError("invalid section name %r" % (section,))
        rendered = {}
        for key, value in keys.items():
            key = str(key)
            if not key or key != key.strip() or "=" in key or "\n" in key or key[0] in "#;[":
                raise ValueError("invalid key %r in section [%s]" % (key, section))
            if isinstance(value, (dict, list)):
                raise ValueError("[%s] %s: a value must be a string, number, boolean or null" % (section, key))
            text = render_value(value)
            if text is not None and "\n" in text:
                raise ValueError("[%s] %s: a value must be one line" % (section, key))
            rendered[key] = text
        out[str(section)] = rendered
    return out


def _line(key, value, newline):
    return "%s = %s%s" % (key, value, newline)


def apply(text, settings):
    """Returns (new_text, changes); changes lists {section, key, before, after} for each
    managed key whose value changes (before/after None: absent)."""
    settings = normalize(settings)
    newline = "\r\n" if "\r\n" in text else "\n"
    lines = text.splitlines(True)
    seen = {}        # (section, key) -> value as first found
    out = []
    last_of_section = {}  # section -> index in out after its last non-blank line
    section = None
    i = 0
    while i < len(lines):
        line = lines[i]
        i += 1
        header = _SECTION.match(line)
        if header:
            section = header.group(1).strip()
            out.append(line)
            last_of_section[section] = len(out)
            continue
        match = _OPTION.match(line) if section is not None else None
        wanted = settings.get(section, {})
        if not match or match.group(1) not in wanted:
            out.append(line)
            if line.strip() and section is not None:
                last_of_section[section] = len(out)
            continue
        key = match.group(1)
        continuation = []
        while i < len(lines) and lines[i][:1] in (" ", "\t") and lines[i].strip():
            continuation.append(lines[i])
            i += 1
        first = (section, key) not in seen
        if first:
            seen[(section, key)] = "\n".join([match.group(2)] + [c.strip() for c in continuation])
        if wanted[key] is None or not first:
            continue  # removed, or a duplicate of the first line
        if seen[(section, key)] == wanted[key]:
            out.append(line)
        else:
            out.append(_line(key, wanted[key], line[len(line.rstrip("\r\n")):] or newline))
        last_of_section[section] = len(out)

    # keys that are missing: after the last setting of their section, or in a new section
    inserts = {}
    tail = []
    for sec, keys in settings.items():
        missing = [(k, v) for k, v in keys.items() if v is not None and (sec, k) not in seen]
        if not missing:
            continue
        new_lines = [_line(k, v, newline) for k, v in missing]
        if sec in last_of_section:
            inserts.setdefault(last_of_section[sec], []).extend(new_lines)
        else:
            tail.append(["[%s]%s" % (sec, newline)] + new_lines)
    for index in sorted(inserts, reverse=True):
        if index > 0 and not out[index - 1].endswith("\n"):
            out[index - 1] += newline
        out[index:index] = inserts[index]
    for block in tail:
        if out and not out[-1].endswith("\n"):
            out[-1] += newline
        if out and out[-1].strip():
            out.append(newline)
        out.extend(block)

    changes = []
    for sec, keys in settings.items():
        for key, value in keys.items():
            before = seen.get((sec, key))
            found = (sec, key) in seen
            if (value is None and not found) or (found and before == value and _count(lines, sec, key) == 1):
                continue
            changes.append(dict(section=sec, key=key, before=before if found else None, after=value))
    return "".join(out), changes


def _count(lines, section, key):
    """How many lines set key in section (duplicates make a change even when the first is right)."""
    count, current = 0, None
    for line in lines:
        header = _SECTION.match(line)
        if header:
            current = header.group(1).strip()
            continue
        match = _OPTION.match(line)
        if current == section and match and match.group(1) == key:
            count += 1
    return count


def describe(settings, values):
    """An INI text of the managed keys only: values maps (section, key) -> value or None (absent)."""
    out = []
    for section, keys in normalize(settings).items():
        present = [(k, values.get((section, k))) for k in keys if values.get((section, k)) is not None]
        if present:
            out.append("[%s]\n" % section)
            out.extend(_line(k, v, "\n") for k, v in present)
    return "".join(out)


def diff(settings, changes, path):
    """Ansible's diff of the managed keys that change, never of the rest of the file."""
    before = dict(((c["section"], c["key"]), c["before"]) for c in changes)
    after = dict(((c["section"], c["key"]), c["after"]) for c in changes)
    return dict(before=describe(settings, before), after=describe(settings, after),
                before_header="%s (managed keys only)" % path, after_header="%s (managed keys only)" % path)
