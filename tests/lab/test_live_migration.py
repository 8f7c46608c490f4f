"""Proof that the collection-prepared lab hypervisors block-live-migrate a real guest.

One guest moves between the two hypervisors; each test starts where the guest is (hv1 after
`lab/labctl.py boot`) and moves it to the other: (a) unthrottled (the lab's nova.conf has
live_migration_bandwidth = 0, written by prepare-compute.yml), (b) back, throttled to
20 MiB/s through libvirt's job bandwidth (migrateSetMaxSpeed on the source, once the job
runs), (c) once more, throttled the same way, with the destination's libvirtd stopped during the copy.
Every test checks the guest itself (console: W lines go on, V lines lost=0 corrupt=0,
M lines bad=0), not only Nova's status.
"""

import threading
import time

import pytest

from conftest import HVS, libvirt_uri, max_seq, parse_console

MIGRATE_TIMEOUT = 300


def wait_guest_writes(lab, after_seq, min_v=1, timeout=120):
    """Wait until the console shows W lines above after_seq and min_v V lines after it."""
    deadline = time.monotonic() + timeout
    while True:
        text = lab.console()
        c = parse_console(text)
        w_new = [w for w in c.get("W", []) if w["seq"] > after_seq]
        v_new = [v for v in c.get("V", []) if v.get("synced", 0) > after_seq]
        if len(w_new) >= 2 and len(v_new) >= min_v:
            return text, c, w_new, v_new
        if time.monotonic() > deadline:
            pytest.fail(f"guest not writing after seq {after_seq}: {len(w_new)} new W, "
                        f"{len(v_new)} new V lines in {timeout}s; console tail:\n{text[-2500:]}")
        time.sleep(3)


def assert_no_reboot(before, after):
    """A live migration must not restart the guest: same boot number, uptime goes on, no new
    START/BOOTCHECK line (the destination's console log starts empty at the move)."""
    wb, wa = parse_console(before).get("W", []), parse_console(after)
    assert wb, "no W line before the migration"
    boot0, up0 = wb[-1]["boot"], wb[-1]["up"]
    restarts = wa.get("START", []) + wa.get("BOOTCHECK", [])
    assert not restarts, f"the guest restarted during the migration: {restarts}"
    new = wa.get("W", [])
    assert new and all(w["boot"] == boot0 for w in new), \
        f"boot number changed (was {boot0}): {[w['boot'] for w in new][-5:]}"
    assert new[-1]["up"] > up0, f"guest uptime went back: {up0} -> {new[-1]['up']}"


def assert_intact(c):
    bad_v = [v for v in c.get("V", []) if v.get("lost") != 0 or v.get("corrupt") != 0]
    bad_m = [m for m in c.get("M", []) if m.get("bad") != 0]
    bad_b = [b for b in c.get("BOOTCHECK", []) if b.get("lost") != 0 or b.get("corrupt") != 0]
    assert not bad_v, f"V lines report lost/corrupt writes: {bad_v}"
    assert not bad_m, f"M lines report bad RAM pages: {bad_m}"
    assert not bad_b, f"BOOTCHECK reports lost/corrupt writes: {bad_b}"
    assert c.get("V"), "no V line at all"


def final_migration(lab, uuid, t_start):
    migs = [m for m in lab.migrations(uuid)]
    assert migs, f"no migration record for {uuid}"
    return max(migs, key=lambda m: m.get("Id", 0))


THROTTLE_MIB = 20


def poll_jobstats(lab, hv, uuid, stop, samples, interval=0.2, throttle=None):
    """Sample jobStats() of the domain on hv (the source) until stop is set. With throttle
    (MiB/s), set the running job's bandwidth once (virDomainMigrateSetMaxSpeed, what `virsh
    migrate-setspeed` does) as soon as the job shows up: the lab's nova.conf says 0."""
    import libvirt
    conn = lab.libvirt(hv)
    throttled = False
    try:
        while not stop.is_set():
            try:
                dom = conn.lookupByUUIDString(uuid)
                st = dom.jobStats()
                if throttle and not throttled and st.get("type") == 2:
                    dom.migrateSetMaxSpeed(throttle, 0)
                    throttled = True
                    st["lab_set_max_speed_mib"] = dom.migrateGetMaxSpeed(0)
                st["t"] = time.monotonic()
                samples.append(st)
            except libvirt.libvirtError as e:
                samples.append({"t": time.monotonic(), "error": str(e)})
                if e.get_error_code() == libvirt.VIR_ERR_NO_DOMAIN:
                    break  # UNDEFINE_SOURCE ran: the domain left this host
            time.sleep(interval)
    finally:
        conn.close()


def other(hv):
    return "hv2" if hv == "hv1" else "hv1"


def libvirtd_units():
    """libvirtd and every socket that would start it again, the lab's transport's included."""
    sock = "libvirtd-tls.socket" if libvirt_uri().startswith("qemu+tls") else "libvirtd-tcp.socket"
    return [sock, "libvirtd.socket", "libvirtd-ro.socket", "libvirtd-admin.socket", "libvirtd.service"]


def start_poller(lab, hv, uuid, throttle):
    """poll_jobstats in a thread: returns (stop event, samples list, thread)."""
    stop, samples = threading.Event(), []
    thread = threading.Thread(target=poll_jobstats, args=(lab, hv, uuid, stop, samples),
                              kwargs={"throttle": throttle})
    thread.start()
    return stop, samples, thread


def stop_libvirtd_once_copying(lab, hv, samples, proc, t0, timeout):
    """Stop hv's libvirtd and its sockets (socket activation would restart it) as soon as the
    sampled job has moved data. Seconds since t0, or None if the job never did (or proc ended)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and proc.poll() is None:
        if any(s.get("type") == 2 and s.get("data_processed", 0) > 0 for s in samples):
            lab.podman("exec", f"lmlab-{hv}", "systemctl", "stop", *libvirtd_units())
            return time.monotonic() - t0
        time.sleep(0.2)
    return None


def test_a_block_live_migration(lab, guest):
    srv = lab.server()
    uuid = srv["id"]
    src = srv["OS-EXT-SRV-ATTR:host"]
    dst = other(src)
    text0, c0, _, _ = wait_guest_writes(lab, 0)
    seq0 = max_seq(text0)
    assert uuid in lab.domains(src)
    t0 = time.monotonic()
    p = lab.os("server", "migrate", "--live-migration", "--block-migration", "--host", dst,
               "--wait", uuid, check=False, timeout=MIGRATE_TIMEOUT)
    dt = time.monotonic() - t0
    assert p.returncode == 0, f"migrate failed: {p.stdout}{p.stderr}"
    srv = lab.server()
    mig = final_migration(lab, uuid, t0)
    lab.record("a_migrate", {"seconds": dt, "source": src, "server": srv, "migration": mig})
    assert srv["OS-EXT-SRV-ATTR:host"] == dst, srv
    assert srv["status"] == "ACTIVE", srv
    assert mig["Status"] == "completed", mig
    assert uuid in lab.domains(dst) and uuid not in lab.domains(src)
    # the destination's console log starts fresh: the guest goes on from where it was
    text, c, w_new, v_new = wait_guest_writes(lab, seq0)
    lab.record("a_console", {"before": text0, "after": text})
    assert_no_reboot(text0, text)
    assert_intact(c)
    assert max(w["seq"] for w in w_new) > seq0
    print(f"migration {src} -> {dst}: {dt:.1f} s; seq before {seq0}, after "
          f"{max(w['seq'] for w in w_new)}; V {v_new[-1]}")


def test_b_throttled_migration_back_shows_job_progress(lab, guest):
    srv = lab.server()
    uuid = srv["id"]
    src = srv["OS-EXT-SRV-ATTR:host"]
    dst = other(src)
    text0 = lab.console()
    seq0 = max_seq(text0)
    stop, samples, poller = start_poller(lab, src, uuid, THROTTLE_MIB)
    t0 = time.monotonic()
    proc = lab.os_bg("server", "migrate", "--live-migration", "--block-migration",
                     "--host", dst, "--wait", uuid)
    # while it runs: what an operator sees with virsh on the source
    virsh = None
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and proc.poll() is None:
        running = [s for s in samples if s.get("type") == 2 and s.get("data_total", 0) > 0]
        if running:
            virsh = lab.podman("exec", f"lmlab-{src}", "virsh", "-c", "qemu:///system", "domjobinfo", uuid,
                               check=False).stdout
            break
        time.sleep(0.3)
    out, err = proc.communicate(timeout=MIGRATE_TIMEOUT)
    dt = time.monotonic() - t0
    stop.set()
    poller.join()
    running = [s for s in samples if s.get("type") == 2]   # VIR_DOMAIN_JOB_UNBOUNDED
    srv = lab.server()
    mig = final_migration(lab, uuid, t0)
    lab.record("b_migrate_throttled", {"source": src,
        "seconds": dt, "rc": proc.returncode, "stderr": err, "server": srv,
        "migration": mig, "virsh_domjobinfo": virsh, "samples": samples})
    assert proc.returncode == 0, f"migrate failed: {out}{err}"
    assert srv["OS-EXT-SRV-ATTR:host"] == dst, srv
    assert mig["Status"] == "completed", mig
    assert len(running) >= 10, f"only {len(running)} running-job samples: {samples[:5]}"
    assert any(s.get("disk_total", 0) > 0 and s.get("disk_processed", 0) > 0
               for s in running), "no disk counters in the job"
    assert any(s.get("memory_total", 0) > 0 and s.get("memory_processed", 0) > 0
               for s in running), "no memory counters in the job"
    span = running[-1]["t"] - running[0]["t"]
    assert span >= 3, f"the throttled job lasted only {span:.1f} s"
    assert virsh and "Unbounded" in virsh, f"virsh domjobinfo: {virsh!r}"
    bps = max(s.get("memory_bps", 0) for s in running)
    assert bps <= 40 * 1024 * 1024, f"memory_bps {bps} above the 20 MiB/s throttle (x2)"
    text, c, w_new, _ = wait_guest_writes(lab, seq0)
    lab.record("b_console", {"before": text0, "after": text})
    assert_no_reboot(text0, text)
    assert_intact(c)
    print(f"throttled migration {src} -> {dst}: {dt:.1f} s, {len(running)} samples over "
          f"{span:.1f} s, max memory_bps {bps / 2**20:.1f} MiB/s\n{virsh}")


def test_c_destination_libvirtd_stopped_mid_migration(lab, guest):
    srv = lab.server()
    uuid = srv["id"]
    src = srv["OS-EXT-SRV-ATTR:host"]
    dst = other(src)
    text0 = lab.console()
    seq0 = max_seq(text0)
    stop, samples, poller = start_poller(lab, src, uuid, THROTTLE_MIB)
    t0 = time.monotonic()
    proc = lab.os_bg("server", "migrate", "--live-migration", "--block-migration",
                     "--host", dst, "--wait", uuid)
    try:
        stopped_at = stop_libvirtd_once_copying(lab, dst, samples, proc, t0, 90)
        out, err = proc.communicate(timeout=MIGRATE_TIMEOUT)
    finally:
        stop.set()
        poller.join()
    dt = time.monotonic() - t0
    time.sleep(5)  # let nova finish its rollback
    srv = lab.server()
    mig = final_migration(lab, uuid, t0)
    doms_src = lab.domains(src)
    # bring the destination's libvirtd back (sockets first), then see what it kept
    lab.podman("exec", f"lmlab-{dst}", "systemctl", "reset-failed", check=False)
    lab.podman("exec", f"lmlab-{dst}", "systemctl", "start", *libvirtd_units())
    time.sleep(3)
    doms_dst = lab.domains(dst)
    actions = lab.os("server", "event", "list", uuid, json_out=True)
    state = {k: srv.get(k) for k in ("status", "OS-EXT-STS:vm_state", "OS-EXT-STS:task_state",
                                     "OS-EXT-SRV-ATTR:host", "OS-EXT-STS:power_state")}
    lab.record("c_dest_libvirtd_stopped", {
        "seconds": dt, "libvirtd_stopped_after_s": stopped_at, "rc": proc.returncode,
        "stdout": out, "stderr": err, "server_state": state, "server": srv,
        "migration": mig, "source": src, "domains_source": doms_src, "domains_dest_after_restart": doms_dst,
        "events": actions, "samples": samples})
    print(f"libvirtd on {dst} stopped {stopped_at} s into the migration; migrate exit "
          f"{proc.returncode}; migration {mig['Status']}; server {state}")
    assert stopped_at is not None, f"the migration never showed a running job: {samples[:5]}"
    assert mig["Status"] in ("error", "failed"), mig
    assert srv["OS-EXT-SRV-ATTR:host"] == src, srv
    assert doms_src.get(uuid) == 1, f"guest not running on {src}: {doms_src}"  # RUNNING
    assert uuid not in doms_dst, f"{dst} kept the half-migrated domain: {doms_dst}"
    # What Nova 34 gives (measured on this lab, see lab/README.md): the guest is RUNNING on
    # the source, the migration record ends `error`, and the server ends in vm_state ERROR
    # (status ERROR, no task) with the fault "Connection to the hypervisor is broken on host"
    # raised by rollback_live_migration_at_destination on the destination (its nova-compute cannot reach
    # its own stopped libvirtd to clean up). A status-only wait would call this a failure of
    # the guest; it is not: the guest never stopped (checked below on its console).
    assert state == {"status": "ERROR", "OS-EXT-STS:vm_state": "error",
                     "OS-EXT-STS:task_state": None, "OS-EXT-SRV-ATTR:host": src,
                     "OS-EXT-STS:power_state": 1}, state
    assert "Connection to the hypervisor is broken" in (srv.get("fault") or {}).get(
        "message", ""), srv.get("fault")
    text, c, w_new, _ = wait_guest_writes(lab, seq0)
    lab.record("c_console", {"before": text0, "after": text})
    # the guest never left the source: same console log, same boot, uptime goes on
    last = [ln for ln in text0.splitlines() if "LMLAB W " in ln][-1]
    assert last in text, f"the console of {src} lost its earlier lines"
    assert_no_reboot(text0, text[text.rindex(last) + len(last):])
    assert_intact(c)
    # the destination's nova-compute comes back up (it disables itself while libvirt is gone)
    deadline = time.monotonic() + 120
    while True:
        svcs = lab.os("compute", "service", "list", "--service", "nova-compute",
                      json_out=True)
        svc = [s for s in svcs if s["Host"] == dst][0]
        if svc["State"] == "up" and svc["Status"] == "enabled":
            break
        if time.monotonic() > deadline:
            pytest.fail(f"{dst}'s nova-compute did not come back: {svc}")
        time.sleep(5)
    # the operator's way back: reset the state; the server is usable again on the source
    lab.os("server", "set", "--state", "active", "--auto-approve", uuid)
    srv = lab.server()
    assert srv["status"] == "ACTIVE" and srv["OS-EXT-SRV-ATTR:host"] == src, srv
    text, c, _, _ = wait_guest_writes(lab, max_seq(lab.console()))
    assert_intact(c)
