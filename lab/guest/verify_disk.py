#!/usr/bin/env python3
"""Check the lab guest's data ring from outside (stdlib only).

  verify_disk.py DISK [--console LOG] [--json]

DISK is the guest's disk (raw, or qcow2: converted with `qemu-img convert -U`,
so a running guest's disk can be read too, e.g. a paused one). Layout: see
lmwriter.c (4 KiB blocks at data_offset, slot = seq % slots, crc32 at the end).

Verdict:
  - every block is intact (magic, crc32, slot) -> else `corrupt`;
  - with S = the newest seq on disk, slot s holds the newest seq <= S that maps
    to s -> else `lost` (a hole: a write that the guest synced is missing);
  - with --console: S >= the last `synced=` the guest printed on its serial
    console (the guest prints it only after fdatasync returned) -> else the
    tail writes were lost (`tail_lost`).
Exit 0 when nothing is lost or corrupt, 1 otherwise, 2 on usage errors.
"""

import argparse
import json
import os
import re
import struct
import subprocess
import sys
import tempfile
import zlib

BS = 4096
MAGIC = b"LMLABBLK"


def read_layout(path):
    try:
        with open(path) as f:
            meta = json.load(f)
        return meta["data_offset_bytes"], meta["slots"]
    except (OSError, KeyError, ValueError):
        return 32 << 20, 8192


def last_synced(console):
    """The last synced= value of the newest boot in a console log."""
    best = None
    pat = re.compile(r"LMLAB [WV] boot=(\d+) .*?synced=(\d+)")
    with open(console, errors="replace") as f:
        for line in f:
            m = pat.search(line)
            if m:
                cand = (int(m.group(1)), int(m.group(2)))
                if best is None or cand > best:
                    best = cand
    return best


def scan(raw, offset, slots):
    seqs, states = [0] * slots, [""] * slots
    with open(raw, "rb") as f:
        f.seek(offset)
        for s in range(slots):
            b = f.read(BS)
            if len(b) < BS:
                states[s] = "short"
                continue
            if b[:8] != MAGIC:
                states[s] = "empty" if b.count(0) == BS else "corrupt"
                continue
            seq, slot, boot = struct.unpack_from("<QII", b, 8)
            crc, = struct.unpack_from("<I", b, BS - 4)
            if zlib.crc32(b[:BS - 4]) != crc or slot != s or seq % slots != s:
                states[s] = "corrupt"
                continue
            seqs[s], states[s] = seq, "ok"
    return seqs, states


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("disk")
    ap.add_argument("--console")
    ap.add_argument("--layout", default=os.path.join(
        os.path.dirname(os.path.abspath(__file__)), "..", "..", ".cache", "lab",
        "guest", "lmlab-guest.json"))
    ap.add_argument("--offset", type=int)
    ap.add_argument("--slots", type=int)
    ap.add_argument("--json", action="store_true")
    a = ap.parse_args()
    offset, slots = read_layout(a.layout)
    offset = a.offset if a.offset is not None else offset
    slots = a.slots or slots

    with open(a.disk, "rb") as f:
        head = f.read(4)
    tmp = None
    raw = a.disk
    if head == b"QFI\xfb":
        tmp = tempfile.NamedTemporaryFile(suffix=".raw", delete=False)
        tmp.close()
        subprocess.run(["qemu-img", "convert", "-U", "-O", "raw", a.disk, tmp.name],
                       check=True)
        raw = tmp.name
    try:
        seqs, states = scan(raw, offset, slots)
    finally:
        if tmp:
            os.unlink(tmp.name)

    S = max((q for q, st in zip(seqs, states) if st == "ok"), default=0)
    res = {"disk": a.disk, "offset": offset, "slots": slots, "maxseq": S,
           "ok": 0, "lost": 0, "corrupt": 0, "empty": 0, "lost_slots": []}
    for s in range(slots):
        exp = 0 if S < s else S - ((S - s) % slots)
        st = states[s]
        if st in ("corrupt", "short"):
            res["corrupt"] += 1
        elif st == "empty":
            if exp:
                res["lost"] += 1
                res["lost_slots"].append(s)
            else:
                res["empty"] += 1
        elif seqs[s] == exp:
            res["ok"] += 1
        else:
            res["lost"] += 1
            res["lost_slots"].append(s)
    res["lost_slots"] = res["lost_slots"][:20]
    if a.console:
        ls = last_synced(a.console)
        res["console_boot"], res["console_synced"] = ls if ls else (None, None)
        res["tail_lost"] = max(0, ls[1] - S) if ls else None
        if ls is None:
            res["error"] = "no LMLAB synced= line in the console log"
    res["verdict"] = ("intact" if not res["lost"] and not res["corrupt"] and
                      not res.get("tail_lost") and not res.get("error") else "LOSS")
    if a.json:
        print(json.dumps(res))
    else:
        print(" ".join(f"{k}={v}" for k, v in res.items() if k != "lost_slots" or v))
    return 0 if res["verdict"] == "intact" else 1


if __name__ == "__main__":
    sys.exit(main())
