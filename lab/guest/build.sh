#!/bin/bash
# Build the lab guest offline from Debian packages: a small bootable disk
#   MBR (syslinux mbr.bin) | p1 FAT16 "LMLABBOOT" (syslinux, vmlinuz, initrd) | p2 data ring
# The kernel comes from Debian's linux-image-amd64 .deb (extracted, never
# installed on the host); the initramfs is busybox-static + the virtio modules +
# lmwriter (lab/guest/lmwriter.c, compiled static with Debian's gcc).
# Output: .cache/lab/guest/lmlab-guest.qcow2 (+ .json with the layout).
# Host tools (lab/setup.sh installs them): syslinux syslinux-common mtools
# dosfstools fdisk qemu-utils cpio gcc libc6-dev.
#   lab/guest/build.sh          build
#   lab/guest/build.sh --test   build, then boot it twice under QEMU TCG (boot_test.sh)
set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
REPO=$(cd "$HERE/../.." && pwd)
OUT=${LAB_GUEST_DIR:-$REPO/.cache/lab/guest}
DEBS=$OUT/debs
W=$OUT/build
DISK_MIB=64          # virtual size of the image (nova grows it to the flavor's disk)
BOOT_START_MIB=1
BOOT_MIB=24
DATA_START_MIB=32    # the ring: DATA_START_MIB .. DISK_MIB, never the boot area
SLOTS=$(( (DISK_MIB - DATA_START_MIB) * 256 ))
# workload knobs (baked into the boot line): writes/s, MiB of RAM kept dirty, and
# seconds per full RAM pass (dirty rate = MEM_MIB / MEM_PASS MiB/s: keep it well
# under a throttled migration's bandwidth, or the migration never converges)
RATE=${LMLAB_RATE:-50}
MEM_MIB=${LMLAB_MEM_MIB:-32}
MEM_PASS=${LMLAB_MEM_PASS:-4}
CMDLINE="console=ttyS0,115200 quiet loglevel=3 panic=10 lmlab.offset_mib=$DATA_START_MIB lmlab.slots=$SLOTS lmlab.mem_mib=$MEM_MIB lmlab.rate=$RATE lmlab.mem_pass=$MEM_PASS lmlab.verify=5 lmlab.report=1"

t0=$(date +%s%N)
for t in syslinux mcopy mkfs.fat sfdisk qemu-img cpio gcc apt-get dpkg-deb; do
    command -v "$t" >/dev/null || { echo "build.sh: missing $t (run lab/setup.sh)" >&2; exit 1; }
done
[ -f /usr/lib/syslinux/mbr/mbr.bin ] || { echo "build.sh: missing syslinux-common" >&2; exit 1; }

mkdir -p "$DEBS"
kpkg=$(apt-cache depends linux-image-amd64 | awk '/Depends: linux-image-[0-9]/{print $2; exit}')
[ -n "$kpkg" ] || { echo "build.sh: cannot resolve linux-image-amd64 (apt-get update?)" >&2; exit 1; }
for pkg in "$kpkg" busybox-static; do
    ver=$(apt-cache policy "$pkg" | awk '/Candidate:/{print $2}')
    if ! ls "$DEBS/${pkg}_"*.deb >/dev/null 2>&1; then
        echo "build.sh: downloading $pkg $ver"
        (cd "$DEBS" && apt-get download -q "$pkg" 2>&1 | grep -v '^W: Download is performed unsandboxed' || true)
    fi
    ls "$DEBS/${pkg}_"*.deb >/dev/null
done

rm -rf "$W"; mkdir -p "$W/kernel" "$W/bb" "$W/root"/{bin,dev,proc,sys,lib/modules}
dpkg-deb -x "$(ls "$DEBS/${kpkg}_"*.deb | tail -1)" "$W/kernel"
dpkg-deb -x "$(ls "$DEBS/busybox-static_"*.deb | tail -1)" "$W/bb"
kver=${kpkg#linux-image-}
kmod="$W/kernel/lib/modules/$kver"
vmlinuz="$W/kernel/boot/vmlinuz-$kver"

# virtio modules and their dependencies (read from each .ko's modinfo), in load order
python3 - "$kmod" "$W/root/lib/modules" virtio_pci virtio_blk <<'EOF'
import os, re, shutil, sys
kmod, dest, wanted = sys.argv[1], sys.argv[2], sys.argv[3:]
paths = {}
for d, _, files in os.walk(os.path.join(kmod, "kernel")):
    for f in files:
        if f.endswith(".ko"):
            paths[f[:-3].replace("-", "_")] = os.path.join(d, f)
def deps(name):
    data = open(paths[name], "rb").read()
    m = re.search(rb"\x00depends=([^\x00]*)\x00", data)
    return [x.decode().replace("-", "_") for x in m.group(1).split(b",") if x] if m else []
order = []
def visit(n):
    if n in order:
        return
    for d in deps(n):
        visit(d)
    order.append(n)
for w in wanted:
    visit(w)
with open(os.path.join(dest, "load-order"), "w") as f:
    for n in order:
        shutil.copy(paths[n], os.path.join(dest, n + ".ko"))
        f.write(n + ".ko\n")
print("build.sh: modules:", " ".join(order))
EOF

cp "$W/bb/bin/busybox" "$W/root/bin/busybox"
gcc -static -O2 -Wall -Wextra -o "$W/root/bin/lmwriter" "$HERE/lmwriter.c"
strip "$W/root/bin/lmwriter"
install -m 0755 "$HERE/init" "$W/root/init"
mknod -m 600 "$W/root/dev/console" c 5 1
mknod -m 666 "$W/root/dev/null" c 1 3
(cd "$W/root" && find . | LC_ALL=C sort | cpio -o -H newc --quiet -R 0:0) | gzip -9 > "$W/initrd.gz"

# boot partition: FAT16 image with syslinux
cat > "$W/syslinux.cfg" <<EOF
SERIAL 0 115200
DEFAULT lmlab
PROMPT 0
TIMEOUT 0
LABEL lmlab
  KERNEL /vmlinuz
  INITRD /initrd.gz
  APPEND $CMDLINE
EOF
truncate -s ${BOOT_MIB}M "$W/boot.img"
mkfs.fat -F 16 -n LMLABBOOT "$W/boot.img" >/dev/null
mcopy -i "$W/boot.img" "$vmlinuz" ::/vmlinuz
mcopy -i "$W/boot.img" "$W/initrd.gz" ::/initrd.gz
mcopy -i "$W/boot.img" "$W/syslinux.cfg" ::/syslinux.cfg
syslinux --install "$W/boot.img"

# whole disk: MBR + partition table + boot partition; the data partition stays zero
truncate -s ${DISK_MIB}M "$W/disk.raw"
sfdisk -q "$W/disk.raw" <<EOF
label: dos
start=${BOOT_START_MIB}MiB, size=${BOOT_MIB}MiB, type=6, bootable
start=${DATA_START_MIB}MiB, type=da
EOF
dd if=/usr/lib/syslinux/mbr/mbr.bin of="$W/disk.raw" bs=440 count=1 conv=notrunc status=none
dd if="$W/boot.img" of="$W/disk.raw" bs=1M seek=$BOOT_START_MIB conv=notrunc status=none

mkdir -p "$OUT"
qemu-img convert -q -c -f raw -O qcow2 "$W/disk.raw" "$OUT/lmlab-guest.qcow2.tmp"
mv "$OUT/lmlab-guest.qcow2.tmp" "$OUT/lmlab-guest.qcow2"
sha=$(sha256sum "$OUT/lmlab-guest.qcow2" | cut -d' ' -f1)
size=$(stat -c %s "$OUT/lmlab-guest.qcow2")
cat > "$OUT/lmlab-guest.json" <<EOF
{
 "image": "$OUT/lmlab-guest.qcow2",
 "sha256": "$sha",
 "bytes": $size,
 "virtual_mib": $DISK_MIB,
 "kernel": "$kver",
 "busybox": "$(dpkg-deb -f "$(ls "$DEBS/busybox-static_"*.deb | tail -1)" Version)",
 "data_offset_bytes": $((DATA_START_MIB * 1048576)),
 "slots": $SLOTS,
 "block_bytes": 4096,
 "cmdline": "$CMDLINE"
}
EOF
rm -rf "$W"
echo "build.sh: $OUT/lmlab-guest.qcow2 ($size bytes, kernel $kver) in $(( ($(date +%s%N) - t0) / 1000000 )) ms"
if [ "${1:-}" = "--test" ]; then
    exec "$HERE/boot_test.sh" "$OUT/lmlab-guest.qcow2"
fi
