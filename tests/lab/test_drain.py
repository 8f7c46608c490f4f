"""Drain a compute host on the real lab (issue 12): playbooks/drain-host.yml, then undrain-host.yml.

Three guests of the module's own (lmlab-drain-1..3) are booted on hv1 once and reused by every test,
in file order:

1. bad input, each refused before any change with a precise message: an unknown host, a target equal
   to the host, a disabled target, max_parallel 0, and a target too small for the servers (placement
   shows the target full: the test holds its free memory with an allocation of its own, see
   ``hold_memory``). Each case proves nothing changed: the host's service still enabled with no
   reason, every server where it was, in the same state, no new migration record;
2. the full drain of hv1, two at a time (Nova's max_concurrent_live_migrations = 1 queues the
   second: the module's queue handling is part of the proof): every server that was on the host is
   ACTIVE on hv2, verified by the module (result per server) and by the test (Nova, libvirt, and each
   guest's own console: no reboot, writes go on, nothing lost or corrupt); the service is disabled with
   the drain's reason while drained; undrain-host.yml enables it again;
3. leftovers: on hv2 one guest SHUTOFF (and cold_migrate_stopped unset) and one in ERROR (reset state);
   the drain moves the third, fails, and names both leftovers and why; the two stay where they were;
4. undrain leaves alone a service disabled with another reason, and the play says so.

Every test leaves the lab as it found it (services enabled, placement untouched) in ``finally``; the
guests are deleted at the end of the module, also on failure.
"""

import json
import os
import subprocess
import time
import uuid

import pytest

from conftest import HVS, LABCTL, REPO, libvirt_uri, max_seq
from test_live_migration import assert_intact, assert_no_reboot, other, wait_guest_writes
from test_module import ANSIBLE_PLAYBOOK, COLLECTIONS, Cloud, Guest, wait_until

NAMES = ("lmlab-drain-1", "lmlab-drain-2", "lmlab-drain-3")
REASON = "lmlab test_drain: an operator's maintenance"


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


def drain(lab, workdir, host, *extra, timeout=900):
    """drain-host.yml on host with the lab's libvirt view; (rc, the drain task's result, proc)."""
    rc, tasks, proc = playbook(lab, workdir, "drain-host.yml", "-e", f"host={host}",
                               "-e", f"libvirt_uri={libvirt_uri()}", "-e", json.dumps({"libvirt_addresses": dict(HVS)}),
                               "-e", f"report_dir={workdir}", *extra, timeout=timeout)
    return rc, tasks.get(f"Drain {host}") or tasks.get("Check the arguments") or {}, proc


@pytest.fixture(scope="module")
def cloud(lab):
    return Cloud()


def boot_all(cloud, names, host):
    """Boot the missing guests on host: the first through labctl alone (it makes the flavor and the
    image if need be), the others at once (a TCG boot is ~30 s of the lab's 2 cores)."""
    todo = []
    for name in names:
        srv = cloud.find(name)
        if srv is None or srv["status"] != "ACTIVE" or srv.get("OS-EXT-SRV-ATTR:host") != host:
            if srv is not None:
                cloud.call("DELETE", f"/servers/{srv['id']}", missing_ok=True)
                wait_until(f"{name} deleted", lambda: cloud.find(name) is None, 300, 2)
            todo.append(name)
    if not todo:
        return
    procs = []
    for i, name in enumerate(todo):
        argv = LABCTL + ["boot", "--name", name, "--host", host]
        p = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        if i == 0:
            p.wait(timeout=600)
        procs.append((name, p))
    for name, p in procs:
        out, err = p.communicate(timeout=600)
        if p.returncode != 0:
            pytest.fail(f"lab/labctl.py boot --name {name} failed (exit {p.returncode}):\n{out[-3000:]}\n{err[-3000:]}")


@pytest.fixture(scope="module")
def guests(lab, cloud):
    """Three guests of the module's own on hv1, ACTIVE and writing; deleted at the end."""
    try:
        t0 = time.monotonic()
        boot_all(cloud, NAMES, "hv1")
        out = []
        for name in NAMES:
            g = Guest(cloud, lab, cloud.find(name)["id"])
            g.name = name
            wait_guest_writes(g, 0)
            out.append(g)
        print(f"guests ready in {time.monotonic() - t0:.0f} s")
        yield out
    finally:
        for name in NAMES:
            srv = cloud.find(name)
            if srv is not None:
                cloud.call("DELETE", f"/servers/{srv['id']}", missing_ok=True)
        for name in NAMES:
            wait_until(f"{name} deleted", lambda: cloud.find(name) is None, 300, 2)


def enable(cloud, host):
    if cloud.services()[host]["status"] != "enabled":
        cloud.set_service(host, status="enabled")
    wait_until(f"{host} enabled", lambda: cloud.services()[host]["status"] == "enabled", 30)


def snapshot(cloud, host, guests):
    """What a refused drain must leave as it was: the host's service, each server's place and state,
    each server's migration records."""
    svc = cloud.services()[host]
    return {"service": (svc["status"], svc.get("disabled_reason")),
            "servers": {g.name: g.state() for g in guests},
            "migrations": {g.name: g.migrations() for g in guests}}


# ----------------------------------------------------------------- placement: a target that is full

PLACEMENT_MV = "1.28"


def placement(cloud, method, url, body=None, ok=(200, 204)):
    r = cloud.conn.placement.request(url, method, json=body, microversion=PLACEMENT_MV, raise_exc=False)
    if r.status_code not in ok:
        pytest.fail(f"placement {method} {url} {body or ''} -> HTTP {r.status_code}: {r.text[:2000]}")
    return r.json() if r.content else {}


def provider_of(cloud, host):
    """The placement resource provider of a compute host (its compute node's UUID, microversion >= 2.53)."""
    found = [h["id"] for h in cloud.call("GET", "/os-hypervisors/detail")["hypervisors"]
             if (h.get("service") or {}).get("host") == host]
    assert len(found) == 1, found
    return found[0]


class HeldMemory:
    """An allocation of the test's own consumer against a target's MEMORY_MB that leaves `left` MiB
    free: the target is full in placement, as after other tenants' boots (nova-compute keeps an
    unknown consumer's allocation: it is not one of its instances). Released in finally."""

    def __init__(self, cloud, host, left):
        self.cloud, self.host, self.left = cloud, host, left
        self.consumer = str(uuid.uuid4())
        self.rp = provider_of(cloud, host)

    def __enter__(self):
        inv = placement(self.cloud, "GET", f"/resource_providers/{self.rp}/inventories")["inventories"]["MEMORY_MB"]
        used = placement(self.cloud, "GET", f"/resource_providers/{self.rp}/usages")["usages"].get("MEMORY_MB", 0)
        free = int((inv["total"] - inv["reserved"]) * float(inv["allocation_ratio"])) - used   # as placement.capacity
        self.amount = free - self.left
        assert 0 < self.amount <= inv["max_unit"], (inv, used)
        placement(self.cloud, "PUT", f"/allocations/{self.consumer}", {
            "allocations": {self.rp: {"resources": {"MEMORY_MB": self.amount}}},
            "project_id": self.cloud.conn.current_project_id, "user_id": self.cloud.conn.current_user_id,
            "consumer_generation": None})
        return self

    def __exit__(self, *exc):
        placement(self.cloud, "DELETE", f"/allocations/{self.consumer}", ok=(204, 404))
        assert not placement(self.cloud, "GET", f"/allocations/{self.consumer}")["allocations"]


# ----------------------------------------------------------------- 1. bad input

BAD_INPUTS = [
    dict(id="unknown host", args=[], host="hv9",
         expect=["'hv9' is not a nova-compute host. Known compute hosts: hv1, hv2.", "Nothing was changed."]),
    dict(id="target is the host", args=["-e", "target_hosts=hv1"],
         expect=["target_hosts names the host being drained, hv1.", "Nothing was changed."]),
    dict(id="disabled target", args=["-e", "target_hosts=hv2"], disable="hv2",
         expect=["target_hosts: the nova-compute service of hv2 is disabled.", "Nothing was changed."]),
    dict(id="max_parallel 0", args=["-e", "max_parallel=0"],
         expect=["max_parallel must be at least 1. Nothing was changed."]),
    dict(id="targets too small", args=[], hold=("hv2", 300),
         expect=["The targets (hv2) cannot hold the servers of hv1: MEMORY_MB: the servers need 768, the targets "
                 "have 300 free. Free capacity there, or add target_hosts.", "Nothing was changed."]),
]


@pytest.mark.parametrize("case", BAD_INPUTS, ids=[c["id"] for c in BAD_INPUTS])
def test_bad_input_is_refused_before_any_change(lab, cloud, guests, tmp_path, case):
    host = "hv1"
    assert all(g.state()["host"] == host for g in guests), [g.state() for g in guests]
    before = snapshot(cloud, host, guests)
    assert before["service"] == ("enabled", None), before
    held = None
    t0 = time.monotonic()
    try:
        if case.get("disable"):
            cloud.set_service(case["disable"], status="disabled", disabled_reason=REASON)
        if case.get("hold"):
            held = HeldMemory(cloud, *case["hold"]).__enter__()
        rc, r, proc = drain(lab, str(tmp_path), case.get("host", host), *case["args"], timeout=300)
        after = snapshot(cloud, host, guests)
    finally:
        if held is not None:
            held.__exit__()
        if case.get("disable"):
            enable(cloud, case["disable"])
    print(f"{case['id']}: exit {rc} in {time.monotonic() - t0:.1f} s: {r.get('msg')}")
    assert rc != 0 and r.get("failed") is True and not r.get("changed"), r
    for text in case["expect"]:
        assert text in r["msg"], r["msg"]
    assert after == before, f"the refused drain changed something:\nbefore {before}\nafter  {after}"
    assert not r.get("moved") and not r.get("not_moved"), r


# ----------------------------------------------------------------- 2. the full drain, and undrain

def test_drain_moves_every_server_verified_and_undrain_puts_the_host_back(lab, cloud, guests, tmp_path):
    host = "hv1"
    dest = other(host)
    before = {s["id"]: s for s in cloud.call("GET", f"/servers/detail?all_tenants=1&host={host}")["servers"]}
    assert {g.id for g in guests} <= set(before), before.keys()
    texts = {g.id: wait_guest_writes(g, 0)[0] for g in guests}
    known = {g.id: {m[0] for m in g.migrations()} for g in guests}
    t0 = time.monotonic()
    try:
        rc, r, proc = drain(lab, str(tmp_path), host, "-e", "max_parallel=2")
        seconds = time.monotonic() - t0
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
        enable(cloud, host)


# ----------------------------------------------------------------- 3. leftovers

def stop(lab, g, host):
    """A real `server stop`; the guest (busybox PID 1) ignores the ACPI power button, so the test
    destroys the domain once Nova powers it off, which ends Nova's 60 s wait at its next check."""
    g.cloud.action(g.id, {"os-stop": None})
    wait_until("task_state powering-off", lambda: g.state()["task_state"] == "powering-off"
               or g.state()["status"] == "SHUTOFF", 30, 0.3)
    conn = lab.libvirt(host)
    try:
        dom = conn.lookupByUUIDString(g.id)
        if dom.isActive():
            dom.destroy()
    finally:
        conn.close()
    g.wait_settled("SHUTOFF", 90)


def test_leftovers_are_named_with_their_reason_and_the_others_move(lab, cloud, guests, tmp_path):
    host = guests[0].state()["host"]
    dest = other(host)
    assert all(g.state()["host"] == host for g in guests), \
        f"the guests are not on one host (the full drain before did not end as it should): {[g.state() for g in guests]}"
    stopped, broken, mover = guests
    t0 = time.monotonic()
    try:
        stop(lab, stopped, host)
        cloud.action(broken.id, {"os-resetState": {"state": "error"}})
        broken.wait_settled("ERROR", 30)
        prepared = time.monotonic() - t0
        kept = {g.name: g.migrations() for g in (stopped, broken)}
        known = {m[0] for m in mover.migrations()}
        # every other server on the host moves too: the mover, and in the lab tier the Molecule lab
        # scenario's guest, which the full drain before brought here
        movers = {x["id"] for x in cloud.call("GET", f"/servers/detail?all_tenants=1&host={host}")["servers"]} \
            - {stopped.id, broken.id}
        assert mover.id in movers, movers
        t1 = time.monotonic()
        rc, r, proc = drain(lab, str(tmp_path), host)
        print(f"drain-host.yml {host} with leftovers: exit {rc} in {time.monotonic() - t1:.0f} s "
              f"(setup {prepared:.0f} s): {r.get('msg')}")
        lab.record("drain_leftovers", {"rc": rc, "result": r, "stderr": proc.stderr[-4000:]})
        msg = r.get("msg") or ""
        assert rc != 0 and r.get("failed") is True and f"Drain of {host} is NOT complete" in msg, msg
        assert f"{len(movers)} server(s) moved and verified, 0 failed, 2 left on the host" in msg, msg
        assert f"{stopped.name} ({stopped.id}): it is SHUTOFF and cold_migrate_stopped is false" in msg, msg
        assert f"{broken.name} ({broken.id}): it is ERROR, which a drain does not move" in msg, msg
        assert {m["id"] for m in r["moved"]} == movers and all(m["server_host"] == dest for m in r["moved"]), r["moved"]
        assert {x["id"]: x["allowed"] for x in r["leftovers"]} == {stopped.id: False, broken.id: False}, r
        # the others moved, verified; the leftovers stayed where they were, untouched
        st = mover.state()
        assert st["host"] == dest and st["status"] == "ACTIVE" and st["task_state"] is None, st
        assert [m[1] for m in mover.migrations() if m[0] not in known] == ["completed"]
        assert stopped.state()["host"] == host and stopped.state()["status"] == "SHUTOFF"
        assert broken.state()["host"] == host and broken.state()["status"] == "ERROR"
        assert {g.name: g.migrations() for g in (stopped, broken)} == kept
        assert cloud.services()[host]["disabled_reason"].startswith("openstack_ops.live_migration drain started ")
    finally:
        enable(cloud, host)
        if broken.state()["status"] == "ERROR":
            broken.reset_active()


# ----------------------------------------------------------------- 4. undrain leaves an operator's reason alone

def test_undrain_leaves_a_service_disabled_with_another_reason(lab, cloud, tmp_path):
    host = "hv1"
    assert cloud.services()[host]["status"] == "enabled"
    t0 = time.monotonic()
    try:
        cloud.set_service(host, status="disabled", disabled_reason=REASON)
        rc, tasks, proc = playbook(lab, str(tmp_path), "undrain-host.yml", "-e", f"host={host}",
                                   "-e", "wait_up_timeout=60", timeout=300)
        svc = cloud.services()[host]
    finally:
        enable(cloud, host)
    u = tasks.get(f"Enable the nova-compute service of {host}") or {}
    print(f"undrain-host.yml {host} ({REASON!r}): exit {rc} in {time.monotonic() - t0:.1f} s: {u.get('msg')}")
    assert rc != 0 and u.get("failed") is True and not u.get("changed"), u
    assert (f"The nova-compute service of {host} was disabled by someone else (reason: {REASON!r}), not by a "
            "drain: it is left disabled. Enable it by hand, or rerun with force_enable=true.") in u["msg"], u["msg"]
    assert "Nothing was changed." in u["msg"]
    assert svc["status"] == "disabled" and svc["disabled_reason"] == REASON, svc
