# -*- coding: utf-8 -*-
# Copyright: (c) 2026, openstack_ops developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Is a CA, certificate and key set usable for libvirt TLS? Read-only checks with the node's
``openssl`` CLI (1.0.2 on EL7 up to 3.x), and the pure rules that turn its output into findings.

``check_set(run, stat, ...)`` does the work; ``run(argv)`` returns ``(rc, stdout, stderr)`` and
``stat(path)`` an ``os.stat_result`` (the module passes ``module.run_command`` and ``os.stat``, the
tests a subprocess and real files). Every file gets ``{path, label, kind, problems, warnings,
days_left, not_after}``; nothing stops at the first problem, so one run names all of them.
"""

# This code runs on the compute nodes, EL7's Python 3.6 among them (ansible-core 2.16): no
# `from __future__ import annotations` (Python 3.7+) here, unlike the controller-side modules.
from __future__ import absolute_import, division, print_function

import calendar
import ipaddress
import re
import stat as stat_module
import time

DAY = 86400
WARN_DAYS = 30

_MONTHS = dict((m, i + 1) for i, m in enumerate(
    ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]))
# openssl x509 -startdate / -enddate: "notAfter=Dec  4 19:22:03 2027 GMT" (always C locale, GMT)
_DATE = re.compile(r"^\s*(notBefore|notAfter)\s*=\s*([A-Z][a-z]{2})\s+(\d{1,2})\s+(\d{1,2}):(\d{2}):(\d{2})"
                   r"(?:\.\d+)?\s+(\d{4})\s+GMT\s*$")
# openssl verify: "error 10 at 0 depth lookup: certificate has expired" (1.0.2: "lookup:certificate ...")
_VERIFY_ERROR = re.compile(r"error\s+(\d+)\s+at\s+(\d+)\s+depth\s+lookup\s*:\s*(.+)")
_SAN_HEADER = re.compile(r"^\s*X509v3 Subject Alternative Name:")


def parse_date(month, day, hour, minute, second, year):
    """Seconds since the epoch (UTC) of a date as openssl prints it; ValueError on nonsense."""
    if month not in _MONTHS:
        raise ValueError("unknown month %r" % (month,))
    return calendar.timegm((int(year), _MONTHS[month], int(day), int(hour), int(minute), int(second), 0, 0, 0))


def parse_dates(text):
    """``{'not_before': epoch, 'not_after': epoch}`` from ``openssl x509 -noout -startdate -enddate``;
    a date it cannot read is left out."""
    dates = {}
    for line in text.splitlines():
        m = _DATE.match(line)
        if m:
            try:
                value = parse_date(*m.group(2, 3, 4, 5, 6, 7))
            except ValueError:
                continue
            dates["not_before" if m.group(1) == "notBefore" else "not_after"] = value
    return dates


def parse_sans(text):
    """``(dns_names, ip_addresses)`` of the subjectAltName extension in ``openssl x509 -text``
    output; None when the certificate has no such extension. IP addresses are normalized
    (openssl 1.0/1.1 print IPv6 uncompressed and upper case)."""
    lines = text.splitlines()
    for i, line in enumerate(lines):
        if _SAN_HEADER.match(line):
            values = lines[i + 1] if i + 1 < len(lines) else ""
            break
    else:
        return None
    dns, ips = [], []
    for item in values.split(","):
        kind, sep, value = item.strip().partition(":")
        if not sep:
            continue
        if kind == "DNS":
            dns.append(value.strip().lower())
        elif kind == "IP Address":
            ips.append(normalize_ip(value.strip()))
    return dns, ips


def normalize_ip(text):
    """The canonical text of an IP address; the text itself when it is no address."""
    try:
        return str(ipaddress.ip_address(u"%s" % text.strip()))
    except ValueError:
        return text.strip().lower()


def is_ip(text):
    try:
        ipaddress.ip_address(u"%s" % text.strip())
        return True
    except ValueError:
        return False


def dns_matches(pattern, name):
    """An exact name, or a wildcard in the left-most label only (``*.example.org``: one label)."""
    pattern, name = pattern.lower().rstrip("."), name.lower().rstrip(".")
    if pattern == name:
        return True
    if pattern.startswith("*.") and "." in name:
        return name.split(".", 1)[1] == pattern[2:] and bool(name.split(".", 1)[0])
    return False


def san_problem(sans, names):
    """None when one of ``names`` (IP addresses and host names, any one suffices) is in the SANs,
    else the reason. ``sans`` is what parse_sans returned."""
    names = [n for n in (names or []) if n]
    if not names:
        return None
    if sans is None:
        return ("has no subjectAltName extension: it must name this host (IP:%s or DNS:%s) for its peers"
                " to accept it" % (_first(names, True), _first(names, False)))
    dns, ips = sans
    for name in names:
        if is_ip(name):
            if normalize_ip(name) in ips:
                return None
        elif any(dns_matches(pattern, name) for pattern in dns):
            return None
    found = ", ".join(["DNS:" + d for d in dns] + ["IP:" + i for i in ips]) or "nothing"
    return ("is not for this host: its subjectAltName has %s, none of %s" % (found, ", ".join(_unique(names))))


def _first(names, ip):
    for n in names:
        if is_ip(n) == ip:
            return n
    return "..."


def _unique(items):
    out = []
    for i in items:
        if i not in out:
            out.append(i)
    return out


def _day(epoch):
    return "%04d-%02d-%02d %02d:%02d UTC" % tuple(time.gmtime(epoch)[:5])


def validity(dates, now, warn_days=WARN_DAYS):
    """``(problems, warnings, days_left)`` of a certificate's validity period at ``now``."""
    problems, warnings = [], []
    if "not_before" not in dates or "not_after" not in dates:
        return ["has no validity dates openssl could read"], warnings, None
    left = dates["not_after"] - now
    days_left = int(left // DAY)
    if dates["not_before"] > now:
        problems.append("is not valid yet: valid from %s" % _day(dates["not_before"]))
    if left <= 0:
        problems.append("expired on %s" % _day(dates["not_after"]))
    elif left < warn_days * DAY:
        warnings.append("expires in %d day(s), on %s: renew it" % (days_left, _day(dates["not_after"])))
    return problems, warnings, days_left


def verify_attime(ca_dates, cert_dates):
    """A time at which both the CA and the certificate are valid (the middle of their common
    period), for ``openssl verify -attime``: so that the signature is checked on its own, the
    dates being reported by validity(). None when there is no such time."""
    keys = ("not_before", "not_after")
    if not all(k in d for k in keys for d in (ca_dates, cert_dates)):
        return None
    start = max(ca_dates["not_before"], cert_dates["not_before"])
    end = min(ca_dates["not_after"], cert_dates["not_after"])
    if end - start < 2:
        return None
    return (start + end) // 2


def verify_problem(rc, out, err, ca_path="the CA"):
    """None when ``openssl verify`` accepted the certificate, else the reason."""
    text = "%s\n%s" % (out, err)
    if rc == 0 and re.search(r":\s*OK\s*$", out.strip()):
        return None
    reasons = _unique(m.group(3).strip() for m in _VERIFY_ERROR.finditer(text))
    detail = "; ".join(reasons) if reasons else (_last_line(text) or "rc=%s" % rc)
    return "is not signed by %s (openssl verify: %s)" % (ca_path, detail)


def _last_line(text):
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return lines[-1] if lines else ""


def pem_body(text):
    """The base64 body of a PEM block, without headers or whitespace (to compare public keys)."""
    body = []
    inside = False
    for line in text.splitlines():
        line = line.strip()
        if line.startswith("-----BEGIN"):
            inside = True
        elif line.startswith("-----END"):
            break
        elif inside:
            body.append(line)
    return "".join(body)


def mode_problems(mode, is_key):
    """Problems of a file's permission bits: a key must not be world-readable, nothing world-writable."""
    problems = []
    if mode & stat_module.S_IWOTH:
        problems.append("is world-writable (mode %04o): anyone on the host can replace it; chmod o-w" % (mode & 0o7777))
    if is_key and mode & stat_module.S_IROTH:
        problems.append("is world-readable (mode %04o): anyone on the host can read the private key; "
                        "chmod 0600 (or 0640 with a group)" % (mode & 0o7777))
    return problems


def finding(path, label, kind):
    return dict(path=path, label=label or "", kind=kind, problems=[], warnings=[], days_left=None, not_after=None)


def describe(f, text):
    """``label=path: text`` (or ``path: text``): how a finding reads in a message."""
    return "%s%s %s" % ("%s=" % f["label"] if f["label"] else "", f["path"] + ":", text)


def _stat(f, stat, is_key):
    try:
        st = stat(f["path"])
    except OSError as e:
        f["problems"].append("cannot be read (%s)" % (e.strerror or e))
        return False
    if not stat_module.S_ISREG(st.st_mode):
        f["problems"].append("is not a regular file")
        return False
    f["problems"].extend(mode_problems(st.st_mode, is_key))
    return True


def _openssl_error(out, err):
    return _last_line(err) or _last_line(out) or "no output"


def _read_cert(run, f, stat, now, warn_days):
    """Reads one certificate into ``f``; returns ``(dates, text, public_key)`` or None."""
    if not _stat(f, stat, False):
        return None
    rc, out, err = run(["openssl", "x509", "-noout", "-in", f["path"], "-startdate", "-enddate"])
    if rc != 0:
        f["problems"].append("is not a PEM certificate (openssl x509: %s)" % _openssl_error(out, err))
        return None
    dates = parse_dates(out)
    problems, warnings, days_left = validity(dates, now, warn_days)
    f["problems"].extend(problems)
    f["warnings"].extend(warnings)
    f["days_left"] = days_left
    f["not_after"] = _day(dates["not_after"]) if "not_after" in dates else None
    rc, text, dummy = run(["openssl", "x509", "-noout", "-in", f["path"], "-text"])
    rc_pub, pub, dummy = run(["openssl", "x509", "-noout", "-in", f["path"], "-pubkey"])
    return dates, (text if rc == 0 else ""), (pem_body(pub) if rc_pub == 0 else "")


def check_set(run, stat, ca_cert, certificates, now, warn_days=WARN_DAYS, ca_label=None):
    """Findings for the CA and each ``{cert, key, names, cert_label, key_label}`` of certificates:
    the CA signed it, ``names`` (when given) are covered by its SANs, the dates hold at ``now``,
    the key is the certificate's, the permissions are safe. Returns the list of findings, the CA first."""
    ca = finding(ca_cert, ca_label, "ca_cert")
    findings = [ca]
    ca_read = _read_cert(run, ca, stat, now, warn_days)
    for item in certificates:
        cert = finding(item["cert"], item.get("cert_label"), "cert")
        findings.append(cert)
        read = _read_cert(run, cert, stat, now, warn_days)
        cert_pub = ""
        if read is not None:
            dates, text, cert_pub = read
            if ca_read is not None:
                argv = ["openssl", "verify", "-partial_chain", "-CAfile", ca_cert]
                attime = verify_attime(ca_read[0], dates)
                if attime is not None:
                    argv += ["-attime", str(attime)]
                rc, out, err = run(argv + [item["cert"]])
                problem = verify_problem(rc, out, err, "the CA " + ca_cert)
                if problem:
                    cert["problems"].append(problem)
            if item.get("names"):
                problem = san_problem(parse_sans(text), item["names"])
                if problem:
                    cert["problems"].append(problem)
        if item.get("key"):
            key = finding(item["key"], item.get("key_label"), "key")
            findings.append(key)
            if _stat(key, stat, True):
                rc, out, err = run(["openssl", "pkey", "-in", item["key"], "-pubout", "-passin", "pass:"])
                if rc != 0:
                    key["problems"].append("is not a readable unencrypted private key (openssl pkey: %s)"
                                           % _openssl_error(out, err))
                elif cert_pub and pem_body(out) != cert_pub:
                    key["problems"].append("does not match its certificate %s (another key pair)" % item["cert"])
    return findings


def problems_of(findings):
    return [describe(f, p) for f in findings for p in f["problems"]]


def warnings_of(findings):
    return [describe(f, w) for f in findings for w in f["warnings"]]
