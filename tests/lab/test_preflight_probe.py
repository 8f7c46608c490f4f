"""The preflight never probes a migration port where a QEMU waits for its incoming stream (lab proof
of the fix "preflight never probes a migration port a QEMU listens on"). Real Nova 34, libvirt 9.0,
QEMU TCG; no mocks.

Before the fix, the preflight role's migration_ports check opened a TCP connection to every port
49152-49215 of each peer. During a block live migration the destination's QEMU listens on one of
those ports for the memory stream and takes the first connection: the probe's. QEMU said "Not a
migration stream", the migration ended `error` and the server ERROR. Now each node lists its
listening ports (`ss -Hltn`) right before the probes and the module does not connect to those.

The case: a block live migration of test_module.py's guest `lmlab-mod-1` (its module-scoped
fixture, as test_verdict.py uses it) through the live_migrate module, held with test_verdict.py's
`Held` (libvirt job bandwidth HOLD_MIB). Held throttles the job, but the block copy of a freshly
booted guest's small disk is over in seconds, and the window this case needs is exactly that copy
(the destination QEMU stops listening once the memory stream connects). So while held, the
source's packets to the destination's migration ports also go through a slow tc token bucket
(`tc` htb + u32 in the source container, removed in `finally`). Once the destination listens on a port of
the range, the real playbooks/preflight.yml runs against the lab inventory with its default checks
(migration_ports included). Then the holds are lifted and: the preflight succeeded and says the
busy port was "in use by a running migration and not probed"; the destination was still waiting
for the stream when the preflight ended (the case proves something); exactly one new migration,
completed; the server ACTIVE on the destination; the guest went on without a restart, intact.
Evidence: state dir `test-results/preflight_probe.json` and `test-results/preflight_probe/`.
"""

import json
import os
import re
import shutil
import subprocess
import time

import pytest

from conftest import RESULTS, STATE
from test_module import ANSIBLE_PLAYBOOK, COLLECTIONS, wait_until
from test_module import cloud, guest, runner  # noqa: F401  (the module-scoped fixtures, lmlab-mod-1)
from test_live_migration import wait_guest_writes
from test_verdict import Held, assert_verified, where

PREFLIGHT = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))),
                         "playbooks", "preflight.yml")
INVENTORY = os.path.join(STATE, "ansible", "inventory.yml")
PORT_MIN, PORT_MAX = 49152, 49215
HV_ADDRESS = {"hv1": "198.18.20.11", "hv2": "198.18.20.12"}
NET_RATE = "200kbit"   # the source's packets to the destination's migration ports while held
NOT_PROBED = "in use by a running migration and not probed"


def listening_migration_ports(lab, hv):
    """Ports of 49152-49215 that something listens on in hv's container now (ss -Hltn)."""
    out = lab.podman("exec", f"lmlab-{hv}", "ss", "-Hltn").stdout
    ports = {int(p) for p in re.findall(r":(\d+)\s", out)}
    return sorted(p for p in ports if PORT_MIN <= p <= PORT_MAX)


def tc(lab, hv, *args, check=True):
    return lab.podman("exec", f"lmlab-{hv}", "tc", *args, check=check)


def slow_migration_ports(lab, src, dst):
    """src's packets to dst's migration ports (49152 = 0xc000, mask 0xffc0: 49152-49215) through a
    token bucket (htb class) of NET_RATE; everything else untouched."""
    dev = ("dev", "eth0")
    tc(lab, src, "qdisc", "add", *dev, "root", "handle", "1:", "htb", "default", "10")
    tc(lab, src, "class", "add", *dev, "parent", "1:", "classid", "1:10", "htb", "rate", "10gbit")
    tc(lab, src, "class", "add", *dev, "parent", "1:", "classid", "1:30", "htb", "rate", NET_RATE,
       "ceil", NET_RATE)
    # TCP SYNs and RSTs (no IP options: the flags byte is at 33) pass at full speed: the preflight's
    # probes of the other ports (both ways) must not wait behind the held block copy
    for prio, flag in (("1", "0x02"), ("2", "0x04")):
        tc(lab, src, "filter", "add", *dev, "parent", "1:", "protocol", "ip", "prio", prio, "u32",
           "match", "ip", "protocol", "6", "0xff", "match", "u8", flag, flag, "at", "33", "flowid", "1:10")
    # only src's own connections (from an ephemeral port, >= 32768) to dst's migration ports; a reply
    # of a src service to a dst client that happens to use a port of the range is not slowed
    tc(lab, src, "filter", "add", *dev, "parent", "1:", "protocol", "ip", "prio", "3", "u32",
       "match", "ip", "dst", f"{HV_ADDRESS[dst]}/32", "match", "ip", "dport", "49152", "0xffc0",
       "match", "ip", "sport", "32768", "0x8000", "flowid", "1:30")


def unslow(lab, hv):
    tc(lab, hv, "qdisc", "del", "dev", "eth0", "root", check=False)
    shown = tc(lab, hv, "qdisc", "show", "dev", "eth0").stdout
    assert "htb" not in shown, f"tc on {hv} not restored: {shown}"


def run_preflight(lab, workdir):
    """playbooks/preflight.yml on the lab inventory (default checks), JSON output: (rc, seconds, plays)."""
    env = dict(lab.env, ANSIBLE_COLLECTIONS_PATH=COLLECTIONS, ANSIBLE_STDOUT_CALLBACK="ansible.posix.json",
               ANSIBLE_PIPELINING="true", ANSIBLE_NOCOLOR="1", ANSIBLE_RETRY_FILES_ENABLED="false")
    t0 = time.monotonic()
    p = subprocess.run([ANSIBLE_PLAYBOOK, "-i", INVENTORY, PREFLIGHT], cwd=workdir, env=env,
                       capture_output=True, text=True, timeout=300)
    seconds = time.monotonic() - t0
    for name, text in (("preflight.out", p.stdout), ("preflight.err", p.stderr)):
        with open(os.path.join(workdir, name), "w") as f:
            f.write(text)
    try:
        plays = json.loads(p.stdout)["plays"]
    except ValueError as e:
        pytest.fail(f"preflight.yml printed no JSON (exit {p.returncode}, {e}):\n{p.stdout[-3000:]}{p.stderr[-3000:]}")
    return p.returncode, seconds, plays


def task_result(plays, task_name, host):
    for play in plays:
        for task in play["tasks"]:
            if task["task"]["name"].endswith(task_name) and host in task["hosts"]:
                return task["hosts"][host]
    pytest.fail(f"no result of task {task_name!r} on {host} in the preflight output")


def test_preflight_during_a_block_migration_leaves_its_port_alone(lab, guest, runner):
    src, dst = where(guest)
    text0, _, _, _ = wait_guest_writes(guest, 0)
    known = {m[0] for m in guest.migrations()}
    workdir = os.path.join(RESULTS, "preflight_probe")   # kept: the preflight's output
    shutil.rmtree(workdir, ignore_errors=True)
    os.makedirs(workdir)
    unslow(lab, src)   # no qdisc left over from an earlier run
    held = proc = None
    busy = busy_after = None
    try:
        slow_migration_ports(lab, src, dst)
        held = Held(lab, src, guest)
        proc = runner.start("preflight probe", runner.base_args(dst))
        # the job runs, held, and its block copy has started: the destination QEMU waits for the memory stream
        held.copying(proc, what="disk_total")
        busy = wait_until(f"a migration port listening on {dst}",
                          lambda: listening_migration_ports(lab, dst) or proc.poll() is not None, 60, 0.5)
        assert busy is not True, f"the migration run ended (exit {proc.returncode}) before {dst} listened"
        rc, seconds, plays = run_preflight(lab, workdir)
        busy_after = listening_migration_ports(lab, dst)
        memory_before_release = max((s.get("memory_processed", 0) for s in held.jobstats), default=0)
        unslow(lab, src)
        held.release()
        run = runner.finish(proc, timeout=600)
    finally:
        if held:
            held.close()
        if proc and proc.poll() is None:
            proc.kill()
            proc.wait()
        unslow(lab, src)
    probes = task_result(plays, "Check every peer from this node", src)
    report = task_result(plays, "Report every broken pair in one message", src)
    ports_check = [c for c in probes.get("checks", []) if c["check"] == "migration_ports" and c["peer"] == dst]
    lab.record("preflight_probe", {"src": src, "dst": dst, "busy_before": busy, "busy_after": busy_after,
                                   "preflight_rc": rc, "preflight_s": seconds, "probes": probes,
                                   "report": report, "memory_processed_before_release": memory_before_release,
                                   "result": run.result, "running_at_release": held.running_at_release,
                                   "jobstats": held.jobstats})
    print(f"{dst} listened on {busy} (after the preflight: {busy_after}); preflight exit {rc} in {seconds:.1f} s: "
          f"{[c['detail'] for c in ports_check]}; {report.get('msg')}; migration: {run.msg}")
    # the preflight ran while the destination QEMU waited for its stream: the case proves something
    assert busy and memory_before_release == 0, f"the memory stream ran before the release: {memory_before_release}"
    assert set(busy) <= set(busy_after), f"{dst} stopped listening on {busy} during the preflight: {busy_after}"
    # the preflight play succeeded and says it left the busy ports alone
    assert rc == 0 and not report.get("failed"), report.get("msg")
    assert len(ports_check) == 1 and ports_check[0]["ok"], probes.get("checks")
    detail = ports_check[0]["detail"]
    m = re.search(NOT_PROBED + r" \(([\d, ]+)\)", detail)
    assert m, f"the preflight probed the ports {dst} listened on ({busy}): {detail}"
    assert set(busy) <= {int(p) for p in m.group(1).split(", ")}, (busy, detail)
    # the held migration outlived the preflight (a probe of its port fails it: "Not a migration stream")
    assert held.running_at_release, f"the migration did not outlive the preflight: {run.msg}"
    # the migration completed: one new record, completed; ACTIVE on dst; the guest went on, intact
    assert_verified(lab, guest, run.result, src, dst, known, text0)
