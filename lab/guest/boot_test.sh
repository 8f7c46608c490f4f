#!/bin/bash
# Boot the lab guest twice under QEMU TCG (no KVM) on a throwaway overlay and
# prove from outside that it writes its pattern and loses nothing:
#   boot 1: wait for the first in-guest verify line (LMLAB V ... lost=0 corrupt=0),
#           then kill QEMU hard (SIGKILL) in the middle of the write loop;
#   outside: verify_disk.py on the overlay vs. the last synced= on the console;
#   boot 2: the guest's own BOOTCHECK must find every block of boot 1, and it
#           must go on writing (a V line of boot 2);
#   then one block is zeroed (a simulated lost write): verify_disk.py and the
#   guest's BOOTCHECK (boot 3) must both report lost=1.
# Fails loudly (exit 1) on any missing line, timeout, lost or corrupt block.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
REPO=$(cd "$HERE/../.." && pwd)
IMG=${1:-$REPO/.cache/lab/guest/lmlab-guest.qcow2}
T=$(mktemp -d "$REPO/.cache/lab/guest/boottest.XXXXXX")
QPID=""
cleanup() {
    if [ -n "$QPID" ] && kill -0 "$QPID" 2>/dev/null; then kill -9 "$QPID"; fi
    rm -rf "$T"
}
trap cleanup EXIT
command -v qemu-system-x86_64 >/dev/null || { echo "boot_test: qemu-system-x86 missing" >&2; exit 1; }
qemu-img create -q -f qcow2 -b "$IMG" -F qcow2 "$T/disk.qcow2" 1G   # like a 1 GB flavor disk

ms() { echo $(( $(date +%s%N) / 1000000 )); }
boot() {  # $1 = console log
    qemu-system-x86_64 -accel tcg -machine pc -m 256 -smp 1 -nodefaults -no-user-config \
        -display none -no-reboot -serial "file:$1" \
        -drive "file=$T/disk.qcow2,if=virtio,format=qcow2" &
    QPID=$!
}
wait_line() {  # $1 = log, $2 = regexp, $3 = timeout s
    local end=$(( $(date +%s) + $3 ))
    while ! grep -qaE "$2" "$1" 2>/dev/null; do
        if ! kill -0 "$QPID" 2>/dev/null; then echo "boot_test: QEMU died" >&2; cat -v "$1" >&2; exit 1; fi
        if [ "$(date +%s)" -ge "$end" ]; then
            echo "boot_test: timeout ($3 s) waiting for /$2/ in $1:" >&2; tail -20 "$1" | cat -v >&2; exit 1
        fi
        sleep 0.2
    done
}
stop() { kill -9 "$QPID"; wait "$QPID" 2>/dev/null || true; QPID=""; }

t0=$(ms)
boot "$T/con1.log"
wait_line "$T/con1.log" "LMLAB START" 60;  t_start=$(( $(ms) - t0 ))
wait_line "$T/con1.log" "LMLAB V " 60;     t_verify=$(( $(ms) - t0 ))
sleep 1.5
stop
grep -a "LMLAB" "$T/con1.log" | tr -d '\r' | sed 's/^/  boot1| /' | head -20
if grep -aE "LMLAB V .*(lost|corrupt)=[1-9]" "$T/con1.log" >/dev/null; then
    echo "boot_test: FAIL: the guest itself saw lost/corrupt blocks" >&2; exit 1
fi
echo "verify_disk (outside, after SIGKILL of QEMU):"
python3 "$HERE/verify_disk.py" "$T/disk.qcow2" --console "$T/con1.log"

synced1=$(grep -aoE "synced=[0-9]+" "$T/con1.log" | tail -1 | cut -d= -f2)
t1=$(ms)
boot "$T/con2.log"
wait_line "$T/con2.log" "LMLAB BOOTCHECK" 60; t_boot2=$(( $(ms) - t1 ))
wait_line "$T/con2.log" "LMLAB V " 60
stop
grep -a "LMLAB" "$T/con2.log" | tr -d '\r' | sed 's/^/  boot2| /' | head -8
bc_line=$(grep -a "LMLAB BOOTCHECK" "$T/con2.log" | tr -d '\r')
maxseq=$(echo "$bc_line" | grep -oE "maxseq=[0-9]+" | cut -d= -f2)
if echo "$bc_line" | grep -qE "(lost|corrupt|misplaced)=[1-9]"; then
    echo "boot_test: FAIL: boot 2 found damaged blocks: $bc_line" >&2; exit 1
fi
if [ "$maxseq" -lt "$synced1" ]; then
    echo "boot_test: FAIL: boot 1 reported synced=$synced1, boot 2 found maxseq=$maxseq" >&2; exit 1
fi
if grep -aE "LMLAB V .*(lost|corrupt)=[1-9]" "$T/con2.log" >/dev/null; then
    echo "boot_test: FAIL: boot 2 verify saw loss" >&2; exit 1
fi
# The detector must detect: punch a hole (one zeroed block, as a lost write
# would leave) 10 writes before the end, then both checkers must see it.
read -r maxseq2 slots offset < <(python3 "$HERE/verify_disk.py" "$T/disk.qcow2" --json | \
    python3 -c 'import json,sys; r=json.load(sys.stdin); print(r["maxseq"], r["slots"], r["offset"])')
hole=$(( (maxseq2 - 10) % slots ))
qemu-io -f qcow2 -c "write -z $(( offset + hole * 4096 )) 4096" "$T/disk.qcow2" >/dev/null
if out=$(python3 "$HERE/verify_disk.py" "$T/disk.qcow2"); then
    echo "boot_test: FAIL: verify_disk.py missed the hole at slot $hole: $out" >&2; exit 1
fi
echo "$out" | grep -q " lost=1 " || { echo "boot_test: FAIL: expected lost=1: $out" >&2; exit 1; }
echo "negative check, outside: slot $hole zeroed -> verify_disk.py: $(echo "$out" | grep -oE 'lost=[0-9]+.*verdict=[A-Z]+')"
boot "$T/con3.log"
wait_line "$T/con3.log" "LMLAB BOOTCHECK" 60
stop
bc3=$(grep -a "LMLAB BOOTCHECK" "$T/con3.log" | tr -d '\r')
echo "$bc3" | grep -q " lost=1 " || { echo "boot_test: FAIL: the guest missed the hole: $bc3" >&2; exit 1; }
echo "negative check, inside:  boot 3 $(echo "$bc3" | grep -oE 'maxseq=[0-9]+.* corrupt=[0-9]+')"
echo "boot_test: OK: start ${t_start} ms, first verify ${t_verify} ms (boot 1); boot 2 BOOTCHECK ${t_boot2} ms; boot1 synced=$synced1 <= boot2 maxseq=$maxseq, nothing lost"
