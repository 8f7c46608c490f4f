"""The live_migrate module against the real lab (Nova 34, libvirt 9.0, QEMU TCG): no mocks.

Every case runs the installed collection (`make collection`) through ansible-playbook, one small
generated playbook per case, `-e @vars.json`, results read with the ansible.posix.json callback.
One guest of its own, `lmlab-mod-1` (booted on hv1 by the module-scoped fixture when absent,
deleted at the end); it never touches `lmlab-guest-1`. In order (cheap first):

* bad inputs, each a precise error that names the problem and changes nothing (the server's
  host/status/vm_state/task_state and its migration list are the same after; the progress log
  has no `requested` event): unknown server, unknown target host, the same host (ok,
  changed=false), wrong credentials, an unreachable libvirt_uri, a disabled target, a SHUTOFF
  server;
* a throttled migration (libvirt job bandwidth set from the test, the lab's nova.conf says 0):
  verified ok, >= 5 samples carrying both Nova's progress bytes and libvirt's jobStats, in the
  result and in the JSONL progress log; the guest did not reboot, writes go on, disk intact;
* a timeout with on_timeout=abort: the module fails and says what happened, including what Nova 34
  does (migration `error`, server ERROR); libvirt shows the guest running on the source, absent on
  the destination; guest alive and intact. Then the same with recover_on_abort: the server ends
  ACTIVE on the source;
* the destination's libvirtd stopped mid-migration: the module fails with the cause, never a
  success; the lab is restored (libvirtd, nova-compute up+enabled, server reset to active).

Disruptive parts (a disabled compute service, a stopped libvirtd) are short and restored in
`finally`; run the file under `flock /tmp/lmlab-disrupt.lock`. Evidence: state dir
`test-results/mod_*.json`.
"""

import json
import os
import subprocess
import time

import pytest
import yaml

from conftest import HVS, REPO, STATE, labctl, libvirt_uri, max_seq
from test_live_migration import (assert_intact, assert_no_reboot, libvirtd_units, other, start_poller,
                                 stop_libvirtd_once_copying, wait_guest_writes)

NAME = "lmlab-mod-1"
CLOUD = "lab-admin"
CLOUDS = os.path.join(STATE, "clouds.yaml")
COLLECTIONS = os.path.join(REPO, ".build", "collections")
ANSIBLE_PLAYBOOK = os.path.join(REPO, ".venv", "bin", "ansible-playbook")
MODULE = "openstack_ops.live_migration.live_migrate"
MV = "2.95"
NOVA_BYTES = ("memory_total_bytes", "memory_processed_bytes", "memory_remaining_bytes",
              "disk_total_bytes", "disk_processed_bytes", "disk_remaining_bytes")
JOBSTATS = ("type", "elapsed_ms", "data_total", "data_processed", "data_remaining",
            "disk_total", "disk_processed", "memory_total", "memory_processed", "memory_remaining")
DISABLED_REASON = "lmlab test_module: disabled-target case"


# ----------------------------------------------------------------- Nova through openstacksdk

class Cloud:
    """Raw compute API calls (microversion 2.95) with the lab-admin credentials: in-process,
    ~50 ms a call instead of ~5 s for the openstack CLI."""

    def __init__(self):
        import openstack
        from openstack.config import OpenStackConfig
        region = OpenStackConfig(config_files=[CLOUDS]).get_one(cloud=CLOUD)
        self.conn = openstack.connection.Connection(config=region)

    def call(self, method, url, body=None, ok=(200, 202, 204), missing_ok=False):
        # A GET that lost its connection is asked again (keystoneauth's connect_retries, with
        # backoff): the test's own reads, never the module's calls, which ride out outages
        # themselves (outage_budget) and are what the tests judge.
        retries = {"connect_retries": 3} if method == "GET" else {}
        r = self.conn.compute.request(url, method, json=body, microversion=MV, raise_exc=False,
                                      **retries)
        if missing_ok and r.status_code == 404:
            return None
        if r.status_code not in ok:
            pytest.fail(f"{method} {url} {body or ''} -> HTTP {r.status_code}: {r.text[:2000]}")
        return r.json() if r.content else {}

    def find(self, name):
        found = self.call("GET", f"/servers/detail?all_tenants=1&name=^{name}$")["servers"]
        if len(found) > 1:
            pytest.fail(f"{len(found)} servers are named {name}: {[s['id'] for s in found]}")
        return found[0] if found else None

    def server(self, sid):
        return self.call("GET", f"/servers/{sid}")["server"]

    def action(self, sid, body):
        return self.call("POST", f"/servers/{sid}/action", body)

    def console(self, sid):
        return self.action(sid, {"os-getConsoleOutput": {}})["output"]

    def migrations(self, sid):
        return self.call("GET", f"/os-migrations?instance_uuid={sid}")["migrations"]

    def services(self):
        return {s["host"]: s for s in self.call("GET", "/os-services?binary=nova-compute")["services"]}

    def set_service(self, host, **fields):
        svc = self.services()[host]
        self.call("PUT", f"/os-services/{svc['id']}", fields)


def state_of(srv):
    return {"host": srv.get("OS-EXT-SRV-ATTR:host"), "status": srv.get("status"),
            "vm_state": srv.get("OS-EXT-STS:vm_state"), "task_state": srv.get("OS-EXT-STS:task_state"),
            "power_state": srv.get("OS-EXT-STS:power_state")}


def wait_until(what, fn, timeout, interval=1.0):
    deadline = time.monotonic() + timeout
    while True:
        value = fn()
        if value:
            return value
        if time.monotonic() > deadline:
            pytest.fail(f"waited {timeout} s for {what}; last: {value!r}")
        time.sleep(interval)


class Guest:
    """The test's own server. console() makes it usable by wait_guest_writes()."""

    def __init__(self, cloud, lab, sid):
        self.cloud, self.lab, self.id = cloud, lab, sid

    def server(self):
        return self.cloud.server(self.id)

    def state(self):
        return state_of(self.server())

    def console(self):
        return self.cloud.console(self.id)

    def migrations(self):
        return sorted((m["id"], m["status"]) for m in self.cloud.migrations(self.id))

    def snapshot(self):
        return {"server": self.state(), "migrations": self.migrations()}

    def wait_settled(self, status, timeout=120):
        return wait_until(f"{NAME} {status} with no task", lambda: (
            lambda s: s if s["status"] == status and s["task_state"] is None else None)(self.state()),
            timeout)

    def reset_active(self):
        self.cloud.action(self.id, {"os-resetState": {"state": "active"}})
        return self.wait_settled("ACTIVE", 30)


# ----------------------------------------------------------------- the module via ansible-playbook

class Run:
    def __init__(self, rc, result, seconds, log, stdout, stderr):
        self.rc, self.result, self.seconds, self.log = rc, result, seconds, log
        self.stdout, self.stderr = stdout, stderr

    @property
    def msg(self):
        return self.result.get("msg") or ""

    def __repr__(self):
        return f"Run(rc={self.rc}, {self.seconds:.1f} s, msg={self.msg!r})"


class Runner:
    """One generated playbook per case, the module's arguments from -e @vars.json."""

    def __init__(self, lab, workdir):
        self.lab, self.workdir = lab, workdir
        self.count = 0
        if not os.path.exists(os.path.join(COLLECTIONS, "ansible_collections", "openstack_ops",
                                           "live_migration", "plugins", "modules", "live_migrate.py")):
            pytest.fail(f"the collection is not installed in {COLLECTIONS}: run `make collection`")

    def base_args(self, target):
        return {"cloud": CLOUD, "server": NAME, "target_host": target, "libvirt_uri": libvirt_uri(),
                "libvirt_addresses": dict(HVS), "timeout": 300}

    def start(self, name, args, clouds=None):
        self.count += 1
        d = os.path.join(self.workdir, f"{self.count:02d}-{name.replace(' ', '_')}")
        os.makedirs(d)
        args = dict(args, progress_log=os.path.join(d, "progress.jsonl"))
        playbook = [{
            "name": f"live_migrate: {name}", "hosts": "localhost", "connection": "local",
            "gather_facts": False,
            "vars": {"ansible_python_interpreter": "{{ ansible_playbook_python }}"},
            "tasks": [{"name": "live_migrate", MODULE: {k: "{{ lm[%r] }}" % k for k in args}}],
        }]
        with open(os.path.join(d, "playbook.yml"), "w") as f:
            json.dump(playbook, f, indent=1)   # JSON is YAML
        with open(os.path.join(d, "vars.json"), "w") as f:
            json.dump({"lm": args}, f, indent=1)
        env = dict(self.lab.env, ANSIBLE_STDOUT_CALLBACK="ansible.posix.json",
                   ANSIBLE_COLLECTIONS_PATH=COLLECTIONS, ANSIBLE_LOCALHOST_WARNING="false",
                   ANSIBLE_INVENTORY_UNPARSED_WARNING="false", ANSIBLE_NOCOLOR="1",
                   ANSIBLE_RETRY_FILES_ENABLED="false")
        if clouds:
            env["OS_CLIENT_CONFIG_FILE"] = clouds
        proc = subprocess.Popen([ANSIBLE_PLAYBOOK, "-i", "localhost,", "playbook.yml",
                                 "-e", "@vars.json"], cwd=d, env=env, text=True,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        proc.lm = (name, d, args, time.monotonic())
        return proc

    def finish(self, proc, timeout=900):
        name, d, args, t0 = proc.lm
        try:
            out, err = proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            out, err = proc.communicate()
            pytest.fail(f"{name}: ansible-playbook still running after {timeout} s:\n{out[-3000:]}{err[-3000:]}")
        seconds = time.monotonic() - t0
        try:
            result = json.loads(out)["plays"][0]["tasks"][0]["hosts"]["localhost"]
        except (ValueError, KeyError, IndexError) as e:
            pytest.fail(f"{name}: no task result from ansible-playbook (exit {proc.returncode}, {e!r}):\n"
                        f"{out[-3000:]}\n{err[-3000:]}")
        log = []
        if os.path.exists(args["progress_log"]):
            with open(args["progress_log"]) as f:
                log = [json.loads(line) for line in f if line.strip()]
        self.lab.record(f"mod_{self.count:02d}_{name.replace(' ', '_')}", {
            "args": args, "rc": proc.returncode, "seconds": seconds, "result": result,
            "progress_log": log, "stderr": err[-5000:]})
        run = Run(proc.returncode, result, seconds, log, out, err)
        print(f"{name}: {run}")
        return run

    def run(self, name, args, clouds=None, timeout=900):
        return self.finish(self.start(name, args, clouds), timeout)


def log_events(run):
    return [r["name"] for r in run.log if r["kind"] == "event"]


def assert_msg(run, texts):
    missing = [t for t in texts if t not in run.msg]
    assert not missing, f"the message lacks {missing}:\n{run.msg}"


# ----------------------------------------------------------------- fixtures

@pytest.fixture(scope="module")
def cloud(lab):
    return Cloud()


@pytest.fixture(scope="module")
def guest(lab, cloud):
    """lmlab-mod-1 ACTIVE and writing (booted on hv1 when absent or not ACTIVE); deleted at the end."""
    svcs = cloud.services()
    bad = {h: (s["state"], s["status"]) for h, s in svcs.items()
           if h in HVS and (s["state"] != "up" or s["status"] != "enabled")}
    if bad or not set(HVS) <= set(svcs):
        pytest.fail(f"the lab's nova-compute services are not all up and enabled: {bad or sorted(svcs)}")
    srv = cloud.find(NAME)
    if srv is None or srv["status"] != "ACTIVE" or srv.get("OS-EXT-STS:task_state"):
        t0 = time.monotonic()
        rc, out, err = labctl("boot", "--name", NAME, "--host", "hv1", timeout=600)
        if rc != 0:
            pytest.fail(f"lab/labctl.py boot --name {NAME} failed (exit {rc}):\n{out[-3000:]}\n{err[-3000:]}")
        print(f"{NAME} booted in {time.monotonic() - t0:.0f} s")
        srv = cloud.find(NAME)
    g = Guest(cloud, lab, srv["id"])
    wait_guest_writes(g, 0)
    yield g
    t0 = time.monotonic()
    cloud.call("DELETE", f"/servers/{g.id}", missing_ok=True)
    wait_until(f"{NAME} deleted", lambda: cloud.call("GET", f"/servers/{g.id}", missing_ok=True) is None,
               300, 2)
    print(f"{NAME} deleted in {time.monotonic() - t0:.0f} s")


@pytest.fixture(scope="module")
def runner(lab, tmp_path_factory):
    return Runner(lab, str(tmp_path_factory.mktemp("live_migrate")))


# ----------------------------------------------------------------- bad inputs

def disable_target(ctx):
    ctx.cloud.set_service(ctx.dst, status="disabled", disabled_reason=DISABLED_REASON)
    wait_until(f"{ctx.dst} disabled", lambda: ctx.cloud.services()[ctx.dst]["status"] == "disabled", 30)


def enable_target(ctx):
    ctx.cloud.set_service(ctx.dst, status="enabled")
    wait_until(f"{ctx.dst} enabled", lambda: ctx.cloud.services()[ctx.dst]["status"] == "enabled", 30)


def stop_guest(ctx):
    """A real `server stop`. The guest (busybox PID 1) ignores the ACPI power button, so Nova would
    wait shutdown_timeout (60 s) and then destroy the domain itself: the test destroys it as soon
    as Nova has started powering off, which ends Nova's wait at its next 1 s check."""
    g = ctx.guest
    ctx.seq_before_stop = max_seq(g.console())
    g.cloud.action(g.id, {"os-stop": None})
    wait_until("task_state powering-off", lambda: g.state()["task_state"] == "powering-off"
               or g.state()["status"] == "SHUTOFF", 30, 0.3)
    conn = ctx.lab.libvirt(ctx.src)
    try:
        dom = conn.lookupByUUIDString(g.id)
        if dom.isActive():
            dom.destroy()
    finally:
        conn.close()
    g.wait_settled("SHUTOFF", 90)


def start_guest(ctx):
    g = ctx.guest
    if g.state()["status"] == "SHUTOFF":
        g.cloud.action(g.id, {"os-start": None})
    g.wait_settled("ACTIVE", 120)
    wait_guest_writes(g, ctx.seq_before_stop, timeout=150)


def bad_clouds(ctx):
    with open(CLOUDS) as f:
        clouds = yaml.safe_load(f)
    clouds["clouds"][CLOUD]["auth"]["password"] = "not-the-lab-password"
    path = os.path.join(ctx.runner.workdir, "clouds-wrong-password.yaml")
    with open(path, "w") as f:
        yaml.safe_dump(clouds, f)
    os.chmod(path, 0o600)
    return path


BAD_INPUTS = [
    dict(id="unknown server", args={"server": "lmlab-mod-no-such-server"},
         expect=["No server is named or has the ID 'lmlab-mod-no-such-server'",
                 "(all projects were searched)", "Nothing was changed."]),
    dict(id="unknown target host", args={"target_host": "hv9"},
         expect=["target_host 'hv9' is not a nova-compute host", "Known compute hosts: hv1, hv2",
                 "Nothing was changed."]),
    dict(id="same host", args={"target_host": "{src}"}, ok=True,
         expect=["{name} ({id}) is already on {src}: nothing to do."]),
    dict(id="wrong credentials", clouds=bad_clouds,
         expect=["Connecting to the cloud (compute API) failed (HTTP 401)",
                 "The request you have made requires authentication", "Nothing was changed.",
                 "Hint: Authentication failed", "clouds.yaml"]),
    dict(id="unreachable libvirt_uri", args={"libvirt_uri": "qemu+tcp://198.18.20.99/system"},
         expect=["libvirt_uri: cannot read the source hypervisor",
                 "cannot connect to qemu+tcp://198.18.20.99/system",
                 "unable to connect to server at '198.18.20.99:16509'", "Nothing was changed."]),
    dict(id="libvirt port closed", args={"libvirt_uri": "qemu+tcp://198.18.20.1:1/system"},
         expect=["libvirt_uri: cannot read the source hypervisor",
                 "unable to connect to server at '198.18.20.1:1': Connection refused",
                 "Nothing was changed."]),
    dict(id="disabled target", setup=disable_target, teardown=enable_target,
         expect=[f"The nova-compute service on {{dst}} is disabled ({DISABLED_REASON})",
                 "openstack compute service set --enable {dst} nova-compute", "Nothing was changed."]),
    dict(id="shutoff server", setup=stop_guest, teardown=start_guest,
         expect=["Cannot live-migrate {name} ({id}): it is SHUTOFF; live migration needs ACTIVE or PAUSED",
                 "Nothing was changed."]),
]


class Ctx:
    pass


@pytest.mark.parametrize("case", BAD_INPUTS, ids=[c["id"] for c in BAD_INPUTS])
def test_bad_input_is_refused_and_changes_nothing(lab, cloud, guest, runner, case):
    ctx = Ctx()
    ctx.lab, ctx.cloud, ctx.guest, ctx.runner = lab, cloud, guest, runner
    ctx.src = guest.state()["host"]
    ctx.dst = other(ctx.src)
    fill = dict(src=ctx.src, dst=ctx.dst, name=NAME, id=guest.id)
    args = runner.base_args(ctx.dst)
    args.update({k: v.format(**fill) if isinstance(v, str) else v for k, v in case.get("args", {}).items()})
    clouds = case["clouds"](ctx) if case.get("clouds") else None
    try:
        if case.get("setup"):
            case["setup"](ctx)
        before = guest.snapshot()
        run = runner.run(case["id"], args, clouds=clouds, timeout=300)
        after = guest.snapshot()
    finally:
        if case.get("teardown"):
            case["teardown"](ctx)
    r = run.result
    assert_msg(run, [t.format(**fill) for t in case["expect"]])
    if case.get("ok"):
        assert run.rc == 0 and r.get("ok") is True and r.get("changed") is False, run
        assert r.get("failed") is not True
    else:
        assert run.rc != 0 and r.get("failed") is True, run
        assert r.get("changed") is False and r.get("ok") is False, run
    assert after == before, f"the refused run changed something:\nbefore {before}\nafter  {after}"
    assert not r.get("request_id") and not r.get("migration"), r
    # the progress log: ends with the result, and nothing was requested
    assert run.log and run.log[-1]["kind"] == "result", run.log[-3:]
    assert run.log[-1]["ok"] is bool(case.get("ok")) and run.log[-1]["msg"] == run.msg
    assert "requested" not in log_events(run) and not [x for x in run.log if x["kind"] == "sample"]


# ----------------------------------------------------------------- a throttled migration

THROTTLE_MIB = 15


def test_throttled_migration_reports_nova_and_libvirt_progress(lab, guest, runner):
    st = guest.state()
    src, dst = st["host"], other(st["host"])
    text0, _, _, _ = wait_guest_writes(guest, 0)
    seq0 = max_seq(text0)
    known = {m[0] for m in guest.migrations()}
    stop, jobstats, poller = start_poller(lab, src, guest.id, THROTTLE_MIB)
    try:
        run = runner.run("throttled migration", dict(runner.base_args(dst), poll_interval=0.5))
    finally:
        stop.set()
        poller.join()
    r = run.result
    srv = guest.state()
    migs = [m for m in guest.cloud.migrations(guest.id) if m["id"] not in known]
    print(f"{src} -> {dst}: {run.seconds:.1f} s; {r.get('sample_count')} samples; {run.msg}")
    # verified success, and Nova agrees
    assert run.rc == 0 and r["ok"] is True and r["changed"] is True, run
    assert r["source_host"] == src and r["dest_host"] == dst and r["server_host"] == dst, r
    assert r["migration"]["status"] == "completed" and r["timed_out"] is False, r["migration"]
    assert [m["status"] for m in migs] == ["completed"] and migs[0]["id"] == r["migration"]["id"], migs
    assert srv["host"] == dst and srv["status"] == "ACTIVE" and srv["task_state"] is None, srv
    assert_msg(run, [f"live-migrated {src} -> {dst}", f"migration {migs[0]['id']} completed"])
    doms_src, doms_dst = lab.domains(src), lab.domains(dst)
    assert doms_dst.get(guest.id) == 1 and guest.id not in doms_src, (doms_src, doms_dst)
    # the test's throttle took (libvirt job bandwidth), so the job lasted long enough to watch
    assert any(s.get("lab_set_max_speed_mib") == THROTTLE_MIB for s in jobstats), jobstats[:3]
    job = r["job"]
    assert job and job["data_processed"] > 0 and job["elapsed_ms"] >= 5000, job

    # >= 5 samples carrying both Nova's progress bytes and libvirt's jobStats, in the result ...
    def both(samples):
        return [s for s in samples
                if any((s.get("nova") or {}).get(k) for k in NOVA_BYTES)
                and (s.get("libvirt") or {}).get("type") == "unbounded"
                and all((s["libvirt"]).get(k) is not None for k in JOBSTATS)]
    samples = r["samples"]
    assert r["sample_count"] == len(samples) >= 5, (r["sample_count"], len(samples))
    rich = both(samples)
    assert len(rich) >= 5, (f"only {len(rich)} of {len(samples)} samples carry both Nova's and libvirt's "
                            f"figures: {[s['line'] for s in samples]}")
    assert any(s["nova"]["memory_total_bytes"] and s["nova"]["disk_total_bytes"] for s in rich), rich[-1]["nova"]
    assert any(s["libvirt"]["memory_processed"] > 0 for s in rich) and \
        any(s["libvirt"]["disk_total"] > 0 for s in rich), rich[-1]["libvirt"]
    assert max(s["libvirt"].get("memory_bps") or 0 for s in rich) <= 2 * THROTTLE_MIB * 2**20
    # ... and in the JSONL progress log
    logged = [x for x in run.log if x["kind"] == "sample"]
    assert len(logged) == r["sample_count"] and len(both(logged)) >= 5, len(logged)
    assert all(x.get("line") for x in logged)
    assert run.log[0]["kind"] == "event" and run.log[0]["name"] == "checking"
    assert run.log[-1]["kind"] == "result" and run.log[-1]["ok"] is True
    events = log_events(run)
    for e in ("requested", "migration", "status", "verified"):
        assert e in events, events
    # the guest went on: no reboot, writes continue, nothing lost
    text, c, w_new, _ = wait_guest_writes(guest, seq0)
    assert_no_reboot(text0, text)      # the destination's console log starts at the move
    assert_intact(c)
    assert max(w["seq"] for w in w_new) > seq0
    print(f"samples with both Nova and libvirt figures: {len(rich)}; job {job}")


# ----------------------------------------------------------------- timeout and abort

ABORT_THROTTLE_MIB = 2
ABORT_TIMEOUT_S = 20   # Nova needs ~5-9 s (under load) before the job runs: it must be running then


def run_timed_out_migration(lab, guest, runner, name, **extra):
    """A migration throttled to 2 MiB/s (~2 min of work) with a 20 s timeout."""
    st = guest.state()
    assert st["status"] == "ACTIVE", st
    src, dst = st["host"], other(st["host"])
    text0, _, _, _ = wait_guest_writes(guest, 0)
    known = {m[0] for m in guest.migrations()}
    stop, jobstats, poller = start_poller(lab, src, guest.id, ABORT_THROTTLE_MIB)
    try:
        run = runner.run(name, dict(runner.base_args(dst), timeout=ABORT_TIMEOUT_S, on_timeout="abort",
                                    **extra))
    finally:
        stop.set()
        poller.join()
    srv = guest.state()
    migs = [m for m in guest.cloud.migrations(guest.id) if m["id"] not in known]
    doms_src, doms_dst = lab.domains(src), lab.domains(dst)
    lab.record(f"mod_{name.replace(' ', '_')}_after", {"server": srv, "migrations": migs,
                                                      "domains": {src: doms_src, dst: doms_dst}})
    print(f"{name}: Nova left the server {srv}; migration {[(m['id'], m['status']) for m in migs]}")
    r = run.result
    assert any(s.get("lab_set_max_speed_mib") == ABORT_THROTTLE_MIB for s in jobstats), \
        f"the job never ran before the timeout (queued behind another migration?): {jobstats[:3]}"
    assert run.rc != 0 and r.get("failed") is True and r["ok"] is False and r["changed"] is True, run
    assert r["timed_out"] is True and r["on_timeout_action"] == "abort", r
    # Nova 34 with the libvirt driver: the aborted migration ends `error`, not `cancelled`
    assert [m["status"] for m in migs] == ["error"], migs
    assert r["migration"]["id"] == migs[0]["id"] and r["migration"]["status"] == "error", r["migration"]
    assert srv["host"] == src and r["server_host"] == src and srv["power_state"] == 1, srv
    # the guest never left the source: libvirt, then the guest's own console
    assert doms_src.get(guest.id) == 1, f"not running on {src}: {doms_src}"
    assert guest.id not in doms_dst, f"{dst} kept a domain: {doms_dst}"
    assert_msg(run, [
        f"Timed out after {ABORT_TIMEOUT_S} s waiting for migration {migs[0]['id']} of {NAME} ({guest.id})",
        "(status 'running';",
        "The migration was aborted (on_timeout=abort) and ended 'error'.",
        f"The server is ERROR (vm_state error) on {src}.",
        "Nova ends the migration 'error' (not 'cancelled') and puts the server in ERROR",
        f"libvirt: the domain is running on {src} and absent on {dst}."])
    events = log_events(run)
    assert "timeout" in events and "abort" in events, events
    assert run.log[-1]["kind"] == "result" and run.log[-1]["ok"] is False
    return run, srv, src, dst, text0


def assert_guest_went_on(guest, text0):
    """Same boot on the source: the lines after the last pre-migration W line show no restart,
    writes continue, nothing lost or corrupt."""
    seq0 = max_seq(text0)
    text, c, w_new, _ = wait_guest_writes(guest, seq0)
    last = [ln for ln in text0.splitlines() if "LMLAB W " in ln][-1]
    assert last in text, "the source's console lost its earlier lines: the guest moved or restarted"
    assert_no_reboot(text0, text[text.rindex(last) + len(last):])
    assert_intact(c)
    assert max(w["seq"] for w in w_new) > seq0


def test_timeout_abort_leaves_the_guest_on_the_source(lab, guest, runner):
    try:
        run, srv, src, dst, text0 = run_timed_out_migration(lab, guest, runner, "timeout abort")
        r = run.result
        # Nova 34 put the server in ERROR although the guest runs: the module says so and how to recover
        assert srv["status"] == "ERROR" and srv["vm_state"] == "error" and srv["task_state"] is None, srv
        assert r["server"]["status"] == "ERROR" and r["recovered"] is False, r["server"]
        assert_msg(run, [f"To recover: confirm the domain runs on {src}",
                         f"openstack server set --state active {guest.id}", "recover_on_abort=true"])
        assert_guest_went_on(guest, text0)
    finally:
        if guest.state()["status"] == "ERROR":
            guest.reset_active()   # the operator's way back, for the next test


def test_timeout_abort_with_recover_on_abort_ends_active_on_the_source(lab, guest, runner):
    try:
        run, srv, src, dst, text0 = run_timed_out_migration(lab, guest, runner, "timeout abort recover",
                                                             recover_on_abort=True)
        r = run.result
        assert srv["status"] == "ACTIVE" and srv["vm_state"] == "active" and srv["task_state"] is None, srv
        assert r["recovered"] is True and r["server"]["status"] == "ACTIVE" and r["server"]["host"] == src, r
        assert_msg(run, [f"recover_on_abort: libvirt confirmed the domain running on {src} and absent from "
                         f"{dst}, so the server was reset to active; it is now ACTIVE on {src}."])
        assert "recovered" in log_events(run)
        assert_guest_went_on(guest, text0)
    finally:
        if guest.state()["status"] == "ERROR":
            guest.reset_active()


# ----------------------------------------------------------------- destination libvirtd stopped

def test_destination_libvirtd_stopped_mid_migration_is_a_failure(lab, guest, runner):
    st = guest.state()
    assert st["status"] == "ACTIVE", st
    src, dst = st["host"], other(st["host"])
    text0, _, _, _ = wait_guest_writes(guest, 0)
    known = {m[0] for m in guest.migrations()}
    stop, jobstats, poller = start_poller(lab, src, guest.id, 20)
    stopped_at = None
    proc = runner.start("destination libvirtd stopped",
                        dict(runner.base_args(dst), timeout=180, on_timeout="fail"))
    t0 = time.monotonic()
    try:
        try:
            stopped_at = stop_libvirtd_once_copying(lab, dst, jobstats, proc, t0, 120)
            run = runner.finish(proc, timeout=600)
        finally:
            stop.set()
            poller.join()
            # the disruption ends as soon as the module has answered
            lab.podman("exec", f"lmlab-{dst}", "systemctl", "reset-failed", check=False)
            lab.podman("exec", f"lmlab-{dst}", "systemctl", "start", *libvirtd_units())
        srv = guest.state()
        migs = [m for m in guest.cloud.migrations(guest.id) if m["id"] not in known]
        doms_src = lab.domains(src)
        doms_dst = wait_until(f"libvirt on {dst} answering", lambda: _domains_or_none(lab, dst), 60)
        full = guest.server()
        lab.record("mod_dest_libvirtd_stopped_after", {
            "stopped_after_s": stopped_at, "server": full, "migrations": migs,
            "domains": {src: doms_src, dst: doms_dst}})
        print(f"libvirtd on {dst} stopped {stopped_at} s after the request; Nova left the server {srv} "
              f"fault {(full.get('fault') or {}).get('message')!r}; migrations {migs}")
        r = run.result
        assert stopped_at is not None, f"the migration never showed a running job: {jobstats[:5]}"
        # never a success: the module fails, with the cause and where the server is
        assert run.rc != 0 and r.get("failed") is True and r["ok"] is False, run
        assert r["changed"] is True and r["timed_out"] is False, r
        assert "live-migrated" not in run.msg and "nothing to do" not in run.msg, run.msg
        assert [m["status"] for m in migs] in (["error"], ["failed"]), migs
        mid = migs[0]["id"]
        assert r["migration"]["id"] == mid and r["migration"]["status"] == migs[0]["status"], r["migration"]
        assert srv["host"] == src and r["server_host"] == src, (srv, r["server_host"])
        assert_msg(run, [
            f"Live migration of {NAME} ({guest.id}) from {src} to {dst} failed: migration {mid} ended "
            f"'{migs[0]['status']}'.",
            "Nova says:",
            f"The server is {srv['status']} (vm_state {srv['vm_state']}) on {src}."])
        # the cause: what Nova recorded (measured: the destination's rollback could not reach its libvirt)
        fault = (full.get("fault") or {}).get("message")
        assert fault and fault in run.msg, (fault, run.msg)
        assert_msg(run, [f"compute_rollback_live_migration_at_destination on {dst}: Connection to the "
                         "hypervisor is broken", "Hint: A nova-compute could not reach its own libvirtd",
                         "systemctl status libvirtd",
                         # where the guest really is, although Nova says ERROR
                         f"libvirt: the domain is running on {src} and unknown on {dst} (its libvirt did not "
                         "answer:"])
        assert doms_src.get(guest.id) == 1, f"not running on {src}: {doms_src}"
        assert guest.id not in doms_dst, f"{dst} kept the half-migrated domain: {doms_dst}"
        assert_guest_went_on(guest, text0)
    finally:
        # the lab stays usable: dst's nova-compute back up and enabled, the server ACTIVE
        wait_until(f"{dst}'s nova-compute up and enabled", lambda: (
            lambda s: s["state"] == "up" and s["status"] == "enabled")(guest.cloud.services()[dst]), 180, 3)
        if guest.state()["status"] == "ERROR":
            guest.reset_active()
    srv = guest.state()
    assert srv["status"] == "ACTIVE" and srv["host"] == src, srv


def _domains_or_none(lab, hv):
    try:
        return lab.domains(hv) or {"(none)": None}
    except Exception:   # libvirtd still starting
        return None
