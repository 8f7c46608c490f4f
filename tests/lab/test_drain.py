"""Drain a compute host on the real lab (issue 12): playbooks/drain-host.yml, then undrain-host.yml.

Two guests of its own (lmlab-drain-1, -2) are booted on one hypervisor; the drain moves every server
on it, two at a time (Nova's max_concurrent_live_migrations = 1 queues the second: the module's
queue handling is part of the proof). Asserted: the playbook succeeds; every server that was on the
host is ACTIVE on the other one, verified by the module (result per server) and by the test (Nova,
libvirt, and each guest's own console: no reboot, writes go on, nothing lost or corrupt); the host's
service is disabled with the drain's reason while drained; undrain-host.yml enables it again. The
guests are deleted and the service enabled in `finally`.
"""

import json
import os
import subprocess
import time

import pytest

from conftest import HVS, REPO, labctl, libvirt_uri, max_seq
from test_live_migration import assert_intact, assert_no_reboot, other, wait_guest_writes
from test_module import ANSIBLE_PLAYBOOK, COLLECTIONS, Cloud, Guest, wait_until

NAMES = ("lmlab-drain-1", "lmlab-drain-2")


def playbook(lab, workdir, name, *extra, timeout=900):
    env = dict(lab.env, ANSIBLE_STDOUT_CALLBACK="ansible.posix.json", ANSIBLE_COLLECTIONS_PATH=COLLECTIONS,
               ANSIBLE_LOCALHOST_WARNING="false", ANSIBLE_INVENTORY_UNPARSED_WARNING="false", OS_CLOUD="lab-admin")
    argv = [ANSIBLE_PLAYBOOK, "-i", "localhost,", os.path.join(REPO, "playbooks", name), *extra]
    p = subprocess.run(argv, cwd=workdir, env=env, capture_output=True, text=True, timeout=timeout)
    try:
        plays = json.loads(p.stdout)["plays"]
    except ValueError:
        pytest.fail(f"{name}: no JSON from ansible-playbook (exit {p.returncode}):\n{p.stdout[-3000:]}\n{p.stderr[-3000:]}")
    tasks = {t["task"]["name"]: t["hosts"]["localhost"] for play in plays for t in play["tasks"]}
    return p.returncode, tasks, p


@pytest.fixture(scope="module")
def cloud(lab):
    return Cloud()


@pytest.fixture(scope="module")
def guests(lab, cloud):
    """Two guests of the test's own on hv1, ACTIVE and writing; deleted at the end."""
    out = []
    try:
        for name in NAMES:
            srv = cloud.find(name)
            if srv is None or srv["status"] != "ACTIVE" or srv.get("OS-EXT-SRV-ATTR:host") != "hv1":
                if srv is not None:
                    cloud.call("DELETE", f"/servers/{srv['id']}", missing_ok=True)
                    wait_until(f"{name} deleted", lambda: cloud.find(name) is None, 300, 2)
                rc, o, e = labctl("boot", "--name", name, "--host", "hv1", timeout=600)
                if rc != 0:
                    pytest.fail(f"lab/labctl.py boot --name {name} failed (exit {rc}):\n{o[-3000:]}\n{e[-3000:]}")
                srv = cloud.find(name)
            g = Guest(cloud, lab, srv["id"])
            wait_guest_writes(g, 0)
            out.append(g)
        yield out
    finally:
        for name in NAMES:
            srv = cloud.find(name)
            if srv is not None:
                cloud.call("DELETE", f"/servers/{srv['id']}", missing_ok=True)
        for name in NAMES:
            wait_until(f"{name} deleted", lambda: cloud.find(name) is None, 300, 2)


def test_drain_moves_every_server_verified_and_undrain_puts_the_host_back(lab, cloud, guests, tmp_path):
    host = "hv1"
    dest = other(host)
    before = {s["id"]: s for s in cloud.call("GET", f"/servers/detail?all_tenants=1&host={host}")["servers"]}
    assert {g.id for g in guests} <= set(before), before.keys()
    texts = {g.id: wait_guest_writes(g, 0)[0] for g in guests}
    known = {g.id: {m[0] for m in g.migrations()} for g in guests}
    t0 = time.monotonic()
    try:
        rc, tasks, proc = playbook(lab, str(tmp_path), "drain-host.yml", "-e", f"host={host}", "-e", "max_parallel=2",
                                   "-e", f"libvirt_uri={libvirt_uri()}", "-e", json.dumps({"libvirt_addresses": dict(HVS)}),
                                   "-e", f"report_dir={tmp_path}")
        seconds = time.monotonic() - t0
        r = tasks.get(f"Drain {host}") or {}
        lab.record("drain_hv1", {"rc": rc, "seconds": seconds, "result": r, "stderr": proc.stderr[-4000:]})
        print(f"drain-host.yml {host}: exit {rc} in {seconds:.0f} s: {r.get('msg')}")
        assert rc == 0 and r.get("ok") is True, r.get("msg") or proc.stdout[-3000:]
        # the module's own account: every server that was there moved and verified, nothing left
        assert {m["id"] for m in r["moved"]} == set(before) and not r["not_moved"] and not r["leftovers"], r
        assert all(m["ok"] and m["server_host"] == dest for m in r["moved"]), r["moved"]
        svc = cloud.services()[host]
        assert svc["status"] == "disabled" and svc["disabled_reason"].startswith(
            "openstack_ops.live_migration drain started "), svc
        assert r["disabled_reason"] == svc["disabled_reason"] and r["disabled_by_drain"] is True
        # the test's own account: Nova, libvirt, each guest's console
        left = cloud.call("GET", f"/servers/detail?all_tenants=1&host={host}")["servers"]
        assert not left, [s["name"] for s in left]
        doms_src, doms_dst = lab.domains(host), lab.domains(dest)
        for g in guests:
            st = g.state()
            assert st["host"] == dest and st["status"] == "ACTIVE" and st["task_state"] is None, st
            migs = [m for m in g.migrations() if m[0] not in known[g.id]]
            assert [m[1] for m in migs] == ["completed"], f"{g.id}: exactly one new migration, completed: {migs}"
            assert doms_dst.get(g.id) == 1 and g.id not in doms_src, (doms_src, doms_dst)
            text, c, w_new, _ = wait_guest_writes(g, max_seq(texts[g.id]))
            assert_no_reboot(texts[g.id], text)
            assert_intact(c)
        # back in service
        rc, tasks, proc = playbook(lab, str(tmp_path), "undrain-host.yml", "-e", f"host={host}")
        u = tasks.get(f"Enable the nova-compute service of {host}") or {}
        assert rc == 0 and u.get("changed") is True, u.get("msg") or proc.stdout[-2000:]
        assert cloud.services()[host]["status"] == "enabled"
    finally:
        if cloud.services()[host]["status"] != "enabled":
            cloud.set_service(host, status="enabled")
