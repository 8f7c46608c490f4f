"""What TLS costs a block live migration on the lab (issue 9): the same guest, the same run,
QEMU's native TLS on (the lab's default: transport tls) and off (`labctl native-tls off`:
libvirt's own connection stays TLS, the memory and NBD disk streams go in clear).

2 x --count migrations, each to the other host, in the order tls clear clear tls tls ...
(both modes move the guest both ways). For each: the wall time of `openstack server migrate
--live-migration --block-migration --wait`, libvirt's job on the destination when it completed
(time, downtime, memory bytes) and the last sample on the source (disk and memory processed),
the average rate, and where the CPU went: QEMU's threads on both hosts, sampled from /proc
every 0.2 s (the source's migration threads, mig/src/*, send RAM, its main loop runs the NBD mirror;
the vCPU threads are the TCG guest), each host's libvirtd. Then the ratios tls/clear and,
for scale, what AES-GCM costs on this CPU (openssl speed) for the bytes a migration sends.
Numbers only: nothing is asserted. Needs the lab up with transport tls (make lab-up).
"""

import argparse
import os
import subprocess
import sys
import threading
import time

import benchlib as B

MODES = ("tls", "clear")


def threads_cpu(pid):
    """{thread name: cpu seconds} of one process (its /proc/PID/task), {} when it is gone."""
    out = {}
    try:
        tids = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return out
    for tid in tids:
        name, rest = B.read_stat(f"/proc/{pid}/task/{tid}/stat")
        if rest is None:
            continue
        # QEMU 10 names its migration threads mig/src/main, mig/src/tls, ... (older: live_migration)
        key = ("vcpu" if "/TCG" in name or "/KVM" in name else
               "migration" if name.startswith("mig/") or name == "live_migration" else name)
        out[key] = out.get(key, 0.0) + (int(rest[11]) + int(rest[12])) / B.CLK_TCK
    return out


class Sampler(threading.Thread):
    """Every 0.2 s: the source domain's jobStats and the CPU of QEMU (per thread) and libvirtd
    on both hosts; keeps the first and the last reading of each process."""

    def __init__(self, uuid, src, dst):
        super().__init__(daemon=True)
        self.uuid, self.src, self.dst = uuid, src, dst
        self.stop_event, self.last_job = threading.Event(), {}
        self.first, self.last = {}, {}

    def read_cpu(self):
        for hv in (self.src, self.dst):
            for comm, kind in (("qemu-system-x86", "qemu"), ("libvirtd", "libvirtd")):
                for pid in B.find_in_container(hv, comm):
                    cpu = threads_cpu(pid)
                    if cpu:
                        self.first.setdefault((hv, kind, pid), cpu)
                        self.last[(hv, kind, pid)] = cpu

    def run(self):
        import libvirt
        libvirt.registerErrorHandler(lambda _c, _e: None, None)
        conn = libvirt.openReadOnly(B.libvirt_uri().format(host=B.HVS[self.src]))
        try:
            while not self.stop_event.is_set():
                try:
                    st = conn.lookupByUUIDString(self.uuid).jobStats()
                    if st.get("type") == 2:
                        self.last_job = st
                except libvirt.libvirtError:
                    pass
                self.read_cpu()
                time.sleep(0.2)
        finally:
            conn.close()

    def cpu(self, hv, kind):
        """{thread group: seconds} used by that host's process(es) of that kind meanwhile."""
        out = {}
        for key, last in self.last.items():
            if key[0] == hv and key[1] == kind:
                for name, v in last.items():
                    out[name] = out.get(name, 0.0) + v - self.first[key].get(name, 0.0)
        return out


def completed_job(dst, uuid):
    import libvirt
    conn = libvirt.openReadOnly(B.libvirt_uri().format(host=B.HVS[dst]))
    try:
        return conn.lookupByUUIDString(uuid).jobStats(libvirt.VIR_DOMAIN_JOB_STATS_COMPLETED)
    finally:
        conn.close()


def set_mode(mode):
    B.log(f"labctl native-tls {'on' if mode == 'tls' else 'off'}")
    B.run([sys.executable, B.LABCTL, "native-tls", "on" if mode == "tls" else "off"], timeout=300)


def migrate(nova, server, mode):
    src = server["host"]
    dst = B.other(src)
    known = {m["id"] for m in nova.migrations(server_id=server["id"])}
    samp = Sampler(server["id"], src, dst)
    samp.start()
    t0 = time.monotonic()
    B.run(B.osc_migrate_argv(server["id"], dst), timeout=600)
    wall = time.monotonic() - t0
    samp.stop_event.set()
    samp.join()
    rec = nova.wait_final_migration(server["id"], known)
    done = completed_job(dst, server["id"])
    src_q, dst_q = samp.cpu(src, "qemu"), samp.cpu(dst, "qemu")
    row = {"mode": mode, "from": src, "to": dst, "status": rec and rec["status"], "wall_s": wall,
           "job_ms": done.get("time_elapsed"), "downtime_ms": done.get("downtime"),
           "memory_mib": (done.get("memory_processed") or 0) / 2**20,
           "disk_mib": (samp.last_job.get("disk_processed") or 0) / 2**20,
           "src_migration_thread_s": src_q.get("migration", 0.0),
           "src_qemu_other_s": sum(v for k, v in src_q.items() if k not in ("vcpu", "migration")),
           "src_vcpu_s": src_q.get("vcpu", 0.0),
           "dst_qemu_non_vcpu_s": sum(v for k, v in dst_q.items() if k != "vcpu"),
           "libvirtd_s": sum(sum(samp.cpu(h, "libvirtd").values()) for h in (src, dst))}
    row["rate_mib_s"] = ((row["memory_mib"] + row["disk_mib"]) / (row["job_ms"] / 1000)
                         if row["job_ms"] else None)
    server = nova.wait_settled(server["id"])
    return row, server


def aes_gcm_bytes_per_s():
    """openssl speed -evp aes-128-gcm, 16 KiB blocks: bytes/s on one core (None if it fails)."""
    p = subprocess.run(["openssl", "speed", "-seconds", "2", "-evp", "aes-128-gcm"],
                       capture_output=True, text=True, timeout=120)
    for line in p.stdout.splitlines():
        if line.startswith("AES-128-GCM"):
            return float(line.split()[-1].rstrip("k")) * 1000
    return None


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--count", type=int, default=2, help="migrations per mode (default 2)")
    ap.add_argument("--server", default=B.BENCH_PREFIX + "-1")
    ap.add_argument("--keep-server", action="store_true")
    args = ap.parse_args(argv)
    if not B.libvirt_uri().startswith("qemu+tls"):
        raise SystemExit("the lab runs without tls (LAB_TRANSPORT): this bench compares tls streams with clear ones")
    B.use_lab_env()
    nova = B.Nova()
    server, booted = B.ensure_guest(nova, args.server)
    order = [MODES[(i + 1) // 2 % 2] for i in range(2 * args.count)]     # tls clear clear tls tls ...
    rows, mode_now = [], "tls"
    try:
        for mode in order:
            if mode != mode_now:
                set_mode(mode)
                mode_now = mode
            row, server = migrate(nova, server, mode)
            B.log(f"{mode}: {row['from']} -> {row['to']} {row['status']} wall {row['wall_s']:.1f} s, "
                  f"job {row['job_ms']} ms")
            rows.append(row)
    finally:
        if mode_now != "tls":
            set_mode("tls")
        if booted and not args.keep_server:
            nova.delete(server["id"])
    keys = ("wall_s", "job_ms", "downtime_ms", "memory_mib", "disk_mib", "rate_mib_s", "src_migration_thread_s",
            "src_qemu_other_s", "src_vcpu_s", "dst_qemu_non_vcpu_s", "libvirtd_s")
    print(f"\nTLS for the migration streams, lab guest {args.server}, load {os.getloadavg()[0]:.1f} (1 min)")
    print(B.table(("mode", "from", "to", "status") + keys,
                  [[r["mode"], r["from"], r["to"], r["status"]] + [r[k] for k in keys] for r in rows]))
    med = {m: {k: B.median([r[k] for r in rows if r["mode"] == m and r[k] is not None]) for k in keys}
           for m in MODES}
    print("\nmedians and tls/clear")
    print(B.table(("figure", "tls", "clear", "tls/clear"),
                  [[k, med["tls"][k], med["clear"][k],
                    med["tls"][k] / med["clear"][k] if med["clear"][k] else None] for k in keys]))
    speed = aes_gcm_bytes_per_s()
    if speed:
        mib = med["tls"]["memory_mib"] + med["tls"]["disk_mib"]
        print(f"\nAES-128-GCM on this CPU (openssl speed, 16 KiB): {speed / 2**20:.0f} MiB/s per core: "
              f"{mib:.0f} MiB cost {1000 * mib * 2**20 / speed:.0f} ms of one core to encrypt, as much to decrypt")
    out = os.path.join(B.CACHE, "bench", f"tls_streams-{time.strftime('%Y%m%dT%H%M%S')}.json")
    B.save_json(out, {"rows": rows, "medians": med, "aes_gcm_bytes_per_s": speed})
    print(f"raw data: {out}")


if __name__ == "__main__":
    sys.exit(main())
