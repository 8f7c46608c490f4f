"""Proof on the wire (issue 9): what a block live migration sends between the hypervisors.

tcpdump captures the lab bridge (lm-lmlab) during a real Nova block live migration of the
lab guest, on the libvirt ports (16509, 16514) and QEMU's migration range (49152-49215)
only: the control plane's own traffic (the console text crosses RabbitMQ in clear) is not
what is judged. The capture is searched for two markers:
  * LMLABBLK, the magic that starts every block the guest writes (its disk, the NBD stream);
  * the guest's RAM marker, "LMLABRAM" + 16 random hex digits, fresh at every boot, kept in
    64 pages of its RAM and said on its console (LMLAB RAMMARK, and each M line): the memory stream.

With the lab's transport tls (prepare-compute.yml, live_migration_with_native_tls = true),
neither marker may appear, and every stream on those ports starts a TLS handshake. The
control shows that the capture would see them: the same guest migrated back by Nova with
QEMU's native TLS turned off (`labctl native-tls off`: a nova.conf.d override on both
computes, removed afterwards by `native-tls on`):
libvirt's control connection is still TLS, but the disk and memory streams cross in clear and
both markers are found. Under LAB_TRANSPORT=tcp_none the Nova migration itself is the control.
Each migration must also leave the guest intact: no reboot, writes go on, nothing lost. And
while it runs, the destination QEMU listens in the migration range on its migration address only
(issue 10 item 2: qemu.conf migration_address), sampled with ss -ltn in its container.
Evidence: state dir test-results/wire_*.json and the captures (wire_*.pcap).
"""

import collections
import os
import re
import socket
import struct
import subprocess
import threading
import time

import pytest

from conftest import HVS, REPO, RESULTS, labctl, libvirt_uri, parse_console
from test_live_migration import (MIGRATE_TIMEOUT, assert_intact, assert_no_reboot, final_migration, other,
                                 wait_guest_writes)

BRIDGE = "lm-lmlab"
LIBVIRT_PORTS = (16509, 16514)
MIGRATION_PORTS = range(49152, 49216)     # libvirt_listener_migration_port_min/_max
FILTER = "tcp and (port 16509 or port 16514 or portrange 49152-49215)"
DISK_MAGIC = b"LMLABBLK"
# a TLS record of type handshake (0x16), version 3.x, then a ClientHello (handshake type 1)
CLIENT_HELLO = re.compile(rb"\x16\x03[\x01-\x04]..\x01", re.S)


# ------------------------------------------------------------------ the capture
class Capture:
    def __init__(self, name):
        self.path = os.path.join(RESULTS, f"wire_{name}.pcap")

    def __enter__(self):
        try:
            self.proc = subprocess.Popen(["tcpdump", "-i", BRIDGE, "-s", "0", "-U", "-n", "-w", self.path, FILTER],
                                         stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        except FileNotFoundError:
            pytest.fail("tcpdump is not installed: lab/setup.sh installs it (Debian package tcpdump)")
        time.sleep(1.0)        # tcpdump has opened the interface
        if self.proc.poll() is not None:
            pytest.fail(f"tcpdump on {BRIDGE} exited: {self.proc.stderr.read().decode()[-1000:]}")
        return self

    def __exit__(self, *exc):
        time.sleep(0.5)
        self.proc.terminate()
        _, err = self.proc.communicate(timeout=30)
        self.stderr = err.decode()


def tcp_streams(path):
    """{(src, sport, dst, dport): payload bytes in capture order} of a pcap file (Ethernet)."""
    with open(path, "rb") as f:
        data = f.read()
    endian = {b"\xd4\xc3\xb2\xa1": "<", b"\xa1\xb2\xc3\xd4": ">", b"\x4d\x3c\xb2\xa1": "<",
              b"\xa1\xb2\x3c\x4d": ">"}.get(data[:4])
    assert endian, f"{path} is not a pcap file"
    assert struct.unpack(endian + "I", data[20:24])[0] == 1, "link type is not Ethernet"
    streams, off = collections.defaultdict(bytearray), 24
    while off + 16 <= len(data):
        incl = struct.unpack(endian + "I", data[off + 8:off + 12])[0]
        pkt, off = data[off + 16:off + 16 + incl], off + 16 + incl
        eth, ethertype = 14, pkt[12:14]
        if ethertype == b"\x81\x00":
            eth, ethertype = 18, pkt[16:18]
        if ethertype != b"\x08\x00" or len(pkt) < eth + 20:
            continue
        ip = pkt[eth:]
        if ip[9] != 6:
            continue
        ihl, total = (ip[0] & 15) * 4, struct.unpack(">H", ip[2:4])[0] or len(ip)
        tcp = ip[ihl:total]
        sport, dport = struct.unpack(">HH", tcp[:4])
        payload = tcp[(tcp[12] >> 4) * 4:]
        if payload:
            streams[(socket.inet_ntoa(ip[12:16]), sport, socket.inet_ntoa(ip[16:20]), dport)] += payload
    return streams


def analyse(path, ram_marker):
    """What crossed the wire: per port kind, the streams, whether each began a TLS handshake,
    and how often each marker appears."""
    streams = tcp_streams(path)
    hvs = set(HVS.values())
    out = {"streams": [], "disk_magic": 0, "ram_marker": 0}
    for (src, sport, dst, dport), payload in sorted(streams.items()):
        kind = ("libvirt" if dport in LIBVIRT_PORTS else "migration" if dport in MIGRATION_PORTS
                else None)
        if kind and src in hvs | {"198.18.20.1"}:       # client -> server direction
            out["streams"].append({"kind": kind, "from": f"{src}:{sport}", "to": f"{dst}:{dport}",
                                   "bytes": len(payload), "hypervisors": src in hvs and dst in hvs,
                                   "tls": bool(CLIENT_HELLO.search(bytes(payload[:8192])))})
        out["disk_magic"] += payload.count(DISK_MAGIC)
        out["ram_marker"] += payload.count(ram_marker)
    return out


class Listeners(threading.Thread):
    """Samples the TCP listeners in QEMU's migration range inside a hypervisor's container
    (`ss -ltnH`, as often as podman exec allows) while a migration runs: issue 10 item 2, the
    destination QEMU's incoming sockets (memory stream, NBD disk export) are bound to the host's
    migration address (qemu.conf migration_address), never to a wildcard."""

    def __init__(self, hv):
        super().__init__(daemon=True)
        self.hv, self.seen, self.samples, self.errors = hv, set(), 0, []
        self.halt = threading.Event()

    def run(self):
        while not self.halt.is_set():
            p = subprocess.run(["podman", "exec", f"lmlab-{self.hv}", "ss", "-ltnH"], capture_output=True, text=True,
                               timeout=60, env=dict(os.environ, CONTAINERS_CONF=os.path.join(REPO, "tools", "containers.conf")))
            if p.returncode != 0:
                self.errors.append(p.stderr.strip()[-300:])
                time.sleep(0.2)
                continue
            self.samples += 1
            for line in p.stdout.splitlines():
                local = line.split()[3]                      # State Recv-Q Send-Q Local Peer
                addr, _, port = local.rpartition(":")
                if port.isdigit() and int(port) in MIGRATION_PORTS:
                    self.seen.add((addr.strip("[]"), int(port)))

    def stop(self):
        self.halt.set()
        self.join(timeout=90)
        return self


# ------------------------------------------------------------------ the lab
def ram_marker(text):
    """This boot's RAM marker: the RAMMARK line, and every M line after it, say it (a
    destination's console log starts empty at the move)."""
    c = parse_console(text)
    marks = [m["marker"] for m in c.get("RAMMARK", []) + c.get("M", []) if m.get("marker", "none") != "none"]
    assert marks, f"no RAM marker on the console (a guest image older than the marker?):\n{text[-1500:]}"
    return marks[-1].encode()


def native_tls(on):
    """labctl native-tls on|off: QEMU's streams encrypted again, or in clear (libvirt stays TLS)."""
    rc, out, err = labctl("native-tls", "on" if on else "off", timeout=300)
    if rc != 0:
        pytest.fail(f"labctl native-tls {'on' if on else 'off'} failed (exit {rc}):\n{out[-2000:]}{err[-2000:]}")


def migrate_captured(lab, name):
    """Block-live-migrate the guest to the other host under capture; check the move and the
    guest; return the analysis."""
    srv = lab.server()
    uuid, src = srv["id"], srv["OS-EXT-SRV-ATTR:host"]
    dst = other(src)
    text0, _, _, _ = wait_guest_writes(lab, 0)
    marker = ram_marker(text0)
    seq0 = max(w["seq"] for w in parse_console(text0)["W"])
    listeners = Listeners(dst)
    with Capture(name) as cap:
        listeners.start()
        t0 = time.monotonic()
        try:
            p = lab.os("server", "migrate", "--live-migration", "--block-migration", "--host", dst, "--wait", uuid,
                       check=False, timeout=MIGRATE_TIMEOUT)
        finally:
            listeners.stop()
        dt = time.monotonic() - t0
    assert p.returncode == 0, f"migrate failed: {p.stdout}{p.stderr}"
    srv, mig = lab.server(), final_migration(lab, uuid, t0)
    assert srv["OS-EXT-SRV-ATTR:host"] == dst and srv["status"] == "ACTIVE", srv
    assert mig["Status"] == "completed", mig
    text, c, _, _ = wait_guest_writes(lab, seq0)
    assert_no_reboot(text0, text)
    assert_intact(c)
    seen = analyse(cap.path, marker)
    seen.update(seconds=round(dt, 1), source=src, destination=dst, pcap=cap.path, pcap_bytes=os.path.getsize(cap.path),
                marker=marker.decode(), tcpdump=cap.stderr.strip()[-300:],
                dest_listeners=sorted(f"{a}:{port}" for a, port in listeners.seen), listener_samples=listeners.samples)
    lab.record(f"wire_{name}", seen)
    print(f"{name}: {src} -> {dst} in {dt:.1f} s; LMLABBLK x{seen['disk_magic']}, RAM marker x{seen['ram_marker']}; "
          + "; ".join(f"{s['kind']} {s['from']}->{s['to']} {s['bytes']} B tls={s['tls']}" for s in seen["streams"]))
    streams = [s for s in seen["streams"] if s["hypervisors"]]
    assert any(s["kind"] == "migration" and s["bytes"] > 1 << 20 for s in streams), \
        f"no migration stream between the hypervisors in the capture: {seen['streams']}"
    assert any(s["kind"] == "libvirt" for s in streams), f"no peer-to-peer libvirt connection: {seen['streams']}"
    # issue 10 item 2: the destination QEMU listened on its migration address only
    assert listeners.seen, (f"no listener in {MIGRATION_PORTS.start}-{MIGRATION_PORTS.stop - 1} seen on {dst} in "
                            f"{listeners.samples} samples of ss -ltn during the migration ({listeners.errors[-1:]})")
    wide = sorted(f"{a}:{port}" for a, port in listeners.seen if a != HVS[dst])
    assert not wide, (f"{dst}'s QEMU listened for the migration on {wide}, not only on its migration address "
                      f"{HVS[dst]} (qemu.conf migration_address)")
    return seen


def assert_encrypted(seen):
    assert seen["disk_magic"] == 0, f"the guest's disk crossed in clear: LMLABBLK x{seen['disk_magic']}"
    assert seen["ram_marker"] == 0, f"the guest's RAM crossed in clear: its marker x{seen['ram_marker']}"
    clear = [s for s in seen["streams"] if not s["tls"]]
    assert not clear, f"streams without a TLS handshake: {clear}"


def assert_in_clear(seen):
    assert seen["disk_magic"] > 0, f"the control saw no disk block: {seen}"
    assert seen["ram_marker"] > 0, f"the control saw no RAM marker: {seen}"
    assert [s for s in seen["streams"] if s["kind"] == "migration" and not s["tls"]], seen["streams"]


def test_migration_streams_on_the_wire(lab, guest):
    transport = "tls" if libvirt_uri().startswith("qemu+tls") else "tcp_none"
    seen = migrate_captured(lab, transport)
    if transport == "tcp_none":
        assert_in_clear(seen)       # the 2015 procedure: everything in clear, the control itself
        return
    assert_encrypted(seen)
    # the control: the same capture, the same guest back, with QEMU's native TLS off
    native_tls(False)
    try:
        control = migrate_captured(lab, "control_clear_streams")
    finally:
        native_tls(True)
    assert_in_clear(control)
    assert [s for s in control["streams"] if s["kind"] == "libvirt" and s["tls"]], control["streams"]
