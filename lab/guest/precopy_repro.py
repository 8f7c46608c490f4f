#!/usr/bin/env python3
"""Reproducer of the lab's finding: a multi-pass TCG precopy on QEMU 7.2 corrupts the guest.

Usage: precopy_repro.py WORKDIR ["extra qemu args"]    env: BW (MiB/s, default 20; 0 = unthrottled),
       QEMU (binary, default qemu-system-x86_64)

Boots the lab guest (.cache/lab/guest/lmlab-guest.qcow2, on a throw-away overlay) under TCG, migrates
it with plain QEMU (QMP migrate over 127.0.0.1, shared disk, max-bandwidth BW) to a second QEMU,
then reads the destination's console for 25 s: a healthy guest goes on writing with boot=1; a broken
one oopses (list_del corruption, page fault), reboots (LMLAB START boot=2) or hangs (no W line).
Measured here (lab/README.md, "Finding"): Debian 12's QEMU 7.2 broke the guest 4/4 times at 20-50 MiB/s
(5-7 dirty syncs) and never unthrottled (1 s, 3 syncs); QEMU 10.0 from bookworm-backports 3/3 fine.
Not a test (it takes a minute and needs no lab): evidence, kept to re-check a QEMU update.
"""
import json, os, socket, subprocess, sys, time, re
IMG = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", ".cache", "lab", "guest", "lmlab-guest.qcow2")
if len(sys.argv) < 2:
    sys.exit(__doc__)
D = sys.argv[1]; extra = sys.argv[2].split() if len(sys.argv) > 2 else []
bw = int(os.environ.get("BW", "20"))
os.makedirs(D, exist_ok=True)
disk = f"{D}/disk.qcow2"
if os.path.exists(disk): os.remove(disk)
subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", "-b", IMG, "-F", "qcow2", disk, "1G"], check=True)
def qemu(name, incoming=None):
    args = [os.environ.get("QEMU", "qemu-system-x86_64"), "-accel", "tcg", "-m", "256", "-smp", "1", "-nodefaults",
            "-no-user-config", "-display", "none", "-serial", f"file:{D}/{name}.log",
            "-qmp", f"unix:{D}/{name}.qmp,server=on,wait=off",
            "-drive", f"file={disk},if=virtio,format=qcow2,cache=none"] + extra
    if incoming: args += ["-incoming", incoming]
    return subprocess.Popen(args)
class QMP:
    def __init__(s, path):
        for _ in range(100):
            try:
                s.s = socket.socket(socket.AF_UNIX); s.s.connect(path); break
            except OSError: time.sleep(0.1)
        s.f = s.s.makefile("rw"); s.f.readline(); s.cmd("qmp_capabilities")
    def cmd(s, c, **a):
        s.f.write(json.dumps({"execute": c, "arguments": a}) + "\n"); s.f.flush()
        while True:
            r = json.loads(s.f.readline())
            if "return" in r or "error" in r: return r
def console(n): 
    try: return open(f"{D}/{n}.log", errors="replace").read()
    except FileNotFoundError: return ""
src = qemu("src"); q = QMP(f"{D}/src.qmp")
t0 = time.time()
while "LMLAB V" not in console("src"):
    if time.time() - t0 > 120: print("no V line on src"); sys.exit(2)
    time.sleep(0.5)
print(f"src writing after {time.time()-t0:.0f}s")
time.sleep(3)
dst = qemu("dst", "tcp:127.0.0.1:49999"); qd = QMP(f"{D}/dst.qmp")
if bw: q.cmd("migrate-set-parameters", **{"max-bandwidth": bw * 1024 * 1024})
q.cmd("migrate", uri="tcp:127.0.0.1:49999")
t1 = time.time()
while True:
    r = q.cmd("query-migrate")["return"]
    if r.get("status") in ("completed", "failed", "cancelled"): break
    time.sleep(0.5)
print(f"migration {r['status']} in {time.time()-t1:.1f}s, ram: {r.get('ram',{}).get('dirty-sync-count')} syncs, downtime {r.get('downtime')}")
src.kill(); src.wait()
n0 = len(console("dst"))
time.sleep(25)
c = console("dst")
ws = re.findall(r"LMLAB W .*", c)
bad = [l for l in c.splitlines() if re.search(r"START|BOOTCHECK|BUG|Oops|corruption|lockup|INIT", l)]
print("dst W lines:", len(ws), "last:", ws[-1] if ws else None)
print("dst suspicious:", bad[:5])
Vs = re.findall(r"LMLAB [VM] .*", c); print("last V/M:", Vs[-2:])
dst.kill(); dst.wait()
