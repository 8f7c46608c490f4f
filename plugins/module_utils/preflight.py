# -*- coding: utf-8 -*-
# Copyright: (c) 2025, openstack_ops developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Pure logic of the compute-node preflight: what each probe result means.

Each check is a dict ``{peer, check, target, ok, detail}``; the caller collects them from
every node and reports every broken pair at once.
"""

# This code runs on the compute nodes, EL7's Python 3.6 among them (ansible-core 2.16): no
# `from __future__ import annotations` (Python 3.7+) here, unlike the controller-side modules.
from __future__ import absolute_import, division, print_function

import errno
import socket

# TCP probe outcomes.
OPEN = "open"
REFUSED = "refused"
TIMEOUT = "timeout"
UNREACHABLE = "unreachable"
ERROR = "error"


def classify_connect_error(err):
    """Map an exception of socket.connect() to a probe outcome."""
    if isinstance(err, socket.timeout):
        return TIMEOUT
    code = getattr(err, "errno", None)
    if code == errno.ECONNREFUSED:
        return REFUSED
    if code in (errno.EHOSTUNREACH, errno.ENETUNREACH, errno.EHOSTDOWN):
        return UNREACHABLE
    if code in (errno.ETIMEDOUT,):
        return TIMEOUT
    return ERROR


def tcp_probe(address, port, timeout):
    """Try one TCP connection; return one of OPEN/REFUSED/TIMEOUT/UNREACHABLE/ERROR."""
    family = socket.AF_INET6 if ":" in address else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.settimeout(timeout)
    try:
        sock.connect((address, port))
        return OPEN
    except (OSError, socket.timeout) as err:  # socket.timeout is OSError on py3
        return classify_connect_error(err)
    finally:
        sock.close()


def service_port_ok(outcome):
    """A listening service (libvirt) must accept the connection."""
    return outcome == OPEN


def data_port_ok(outcome):
    """A migration data port listens only during a migration: open or refused proves the
    path is not filtered; a timeout or unreachable means a firewall or routing drops it."""
    return outcome in (OPEN, REFUSED)


def summarise_range(outcomes):
    """Collapse {port: outcome} of a port range into (ok, detail)."""
    bad = sorted(port for port, outcome in outcomes.items() if not data_port_ok(outcome))
    if not bad:
        return True, "%d ports reachable (open or refused, none filtered)" % len(outcomes)
    kinds = sorted(set(outcomes[p] for p in bad))
    return False, "%d of %d ports %s (first %d, last %d)" % (
        len(bad), len(outcomes), "/".join(kinds), bad[0], bad[-1])


def free_space_check(path, free_bytes, min_free_bytes):
    ok = free_bytes >= min_free_bytes
    detail = "%.1f GiB free in %s (need %.1f GiB)" % (
        free_bytes / 1024.0 ** 3, path, min_free_bytes / 1024.0 ** 3)
    return ok, detail


def format_failures(checks):
    """One line per broken (node, peer, check); empty when all passed."""
    lines = []
    for c in checks:
        if not c.get("ok"):
            lines.append("%s -> %s: %s %s: %s" % (
                c.get("node", "?"), c.get("peer") or "-", c.get("check"), c.get("target", ""),
                c.get("detail", "")))
    return lines
