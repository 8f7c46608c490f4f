#!/usr/bin/env bash
# make demo: the collection's main job on the built-in lab, start to finish.
#   1. bring the lab up (real Nova 34 + two libvirt/QEMU hypervisors; idempotent)
#   2. prepare-compute.yml on the lab's two hypervisors (the lab's own bring-up ran it once
#      already, before nova-compute started; this run shows what it does and that it is idempotent)
#   3. boot the guest on hv1 (kept if it exists)
#   4. live-migrate.yml on that guest to the other hypervisor, with live progress
#   5. the summary, and where the report (JSON + HTML plot) is
# Run it again to move the guest back. `make lab-down` takes everything away.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
STATE=$ROOT/.cache/lab/state
REPORTS=${LM_DEMO_REPORTS:-$ROOT/reports}
GUEST=lmlab-guest-1
step() { printf '\n\033[1m=== %s\033[0m\n' "$*"; }
export OS_CLIENT_CONFIG_FILE=$STATE/clouds.yaml ANSIBLE_FORCE_COLOR=${ANSIBLE_FORCE_COLOR:-true}

step "1/5 lab up (lab/labctl.py up)"
python3 "$ROOT/lab/labctl.py" up

step "2/5 prepare-compute.yml on the lab's hypervisors hv1 and hv2"
ansible-playbook -i "$STATE/ansible/inventory.yml" "$ROOT/playbooks/prepare-compute.yml"

step "3/5 boot $GUEST on hv1"
python3 "$ROOT/lab/labctl.py" boot --name "$GUEST" --host hv1
host=$(python3 - "$GUEST" <<'PY'
import sys, openstack
conn = openstack.connect(cloud="lab-admin")
print(conn.compute.find_server(sys.argv[1], ignore_missing=False).compute_host)
PY
)
target=$([ "$host" = hv1 ] && echo hv2 || echo hv1)

step "4/5 live-migrate.yml: $GUEST $host -> $target (block migration, progress from Nova and libvirt)"
ansible-playbook -i "$STATE/ansible/inventory.yml" "$ROOT/playbooks/live-migrate.yml" \
    -e instance="$GUEST" -e target_host="$target" -e cloud=lab-admin \
    -e "libvirt_uri=$(cat "$STATE/libvirt-uri")" -e progress_interval=1 -e report_dir="$REPORTS"

step "5/5 done"
# shellcheck disable=SC2012 # report names are ours: NAME-STAMP.html
html=$(ls -t "$REPORTS"/*.html | head -1)
echo "The guest runs on $target now. Report: $html (open it in a browser; the JSON is beside it)."
echo "Again: make demo (moves it back). Look around: make lab-status. Clean up: make lab-down."
