#!/bin/bash
# Smoke test of the lab's control plane, through the generated clouds.yaml only
# (python-openstackclient from the lab venv, curl for raw HTTP codes).
# Needs `python3 lab/labctl.py cloud-up` first. Every check either passes or
# fails: a missing component is a FAIL, never a skip. Leaves behind, on
# purpose, what the hypervisor half needs: the image `lmlab-guest` and the
# flavor `m2.tiny` (both are reused when they already match).
#   lab/smoke_cloud.sh [--state-dir DIR]
set -uo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
REPO=$(cd "$HERE/.." && pwd)
STATE=${LAB_STATE:-$REPO/.cache/lab/state}
[ "${1:-}" = "--state-dir" ] && STATE=$2
VENV=${LAB_VENV:-$REPO/.cache/lab/venv-cloud}
IMG=${LAB_GUEST_IMAGE:-$REPO/.cache/lab/guest/lmlab-guest.qcow2}
export OS_CLIENT_CONFIG_FILE=$STATE/clouds.yaml
export PATH=$VENV/bin:$PATH
unset OS_CLOUD OS_AUTH_URL OS_USERNAME OS_PASSWORD OS_TOKEN http_proxy https_proxy HTTP_PROXY HTTPS_PROXY
PASS=0 FAIL=0
T0=$(date +%s%N)
ok()   { PASS=$((PASS + 1)); printf 'PASS %-44s %s\n' "$1" "${2:-}"; }
bad()  { FAIL=$((FAIL + 1)); printf 'FAIL %-44s %s\n' "$1" "${2:-}"; }
osa()  { openstack --os-cloud lab-admin "$@"; }
osm()  { openstack --os-cloud lab-member "$@"; }
check() {  # check NAME CMD... : pass when CMD exits 0
    local name=$1; shift
    local out
    if out=$("$@" 2>&1); then ok "$name" "$(echo "$out" | tail -1 | cut -c1-80)"
    else bad "$name" "$(echo "$out" | tail -3 | tr '\n' ' ' | cut -c1-300)"; fi
}
expect_http() {  # expect_http NAME CODE CMD... : CMD must fail with "(HTTP CODE)"
    local name=$1 code=$2; shift 2
    local out
    if out=$("$@" 2>&1); then bad "$name" "expected HTTP $code, the call succeeded"
    elif echo "$out" | grep -qE "HTTP $code|Exception: $code: "; then
        ok "$name" "$(echo "$out" | grep -oE "HTTP $code|Exception: $code: .*" | head -1 | cut -c1-90)"
    else bad "$name" "expected HTTP $code, got: $(echo "$out" | tail -2 | tr '\n' ' ' | cut -c1-200)"; fi
}

if [ ! -s "$OS_CLIENT_CONFIG_FILE" ] || [ ! -x "$VENV/bin/openstack" ]; then
    echo "FAIL: no $OS_CLIENT_CONFIG_FILE or no $VENV: run lab/setup.sh and labctl.py cloud-up" >&2
    echo "0 passed, 1 failed"; exit 1
fi

# --- keystone: real password auth
ADMIN_TOKEN=$(osa token issue -f value -c id 2>&1) && [ ${#ADMIN_TOKEN} -gt 100 ] \
    && ok "admin token issue" "${#ADMIN_TOKEN}-char fernet token" || bad "admin token issue" "$ADMIN_TOKEN"
check "member token issue" osm token issue -f value -c expires
expect_http "wrong password -> 401" 401 osa --os-password not-the-password token issue

# --- catalog: every service present, every endpoint answers
cat=$(osa endpoint list --interface public -f value -c "Service Type" -c URL 2>&1)
for t in identity compute placement image network; do
    url=$(echo "$cat" | awk -v t=$t '$1 == t {print $2; exit}')
    if [ -z "$url" ]; then bad "catalog: $t" "no public endpoint"; continue; fi
    code=$(curl -s -o /dev/null -w '%{http_code}' --noproxy '*' -m 10 "$url")
    case $code in 200|300|401) ok "catalog: $t answers" "$url -> $code" ;;
                  *) bad "catalog: $t answers" "$url -> $code" ;; esac
done
nova_url=$(echo "$cat" | awk '$1 == "compute" {print $2; exit}')
code=$(curl -s -o /dev/null -w '%{http_code}' --noproxy '*' -m 10 -H "X-Auth-Token: bogus" "$nova_url/servers")
[ "$code" = 401 ] && ok "bogus token at nova -> 401" || bad "bogus token at nova -> 401" "got $code"
pl_url=$(echo "$cat" | awk '$1 == "placement" {print $2; exit}')
code=$(curl -s -o /dev/null -w '%{http_code}' --noproxy '*' -m 10 -H "X-Auth-Token: $ADMIN_TOKEN" \
       -H "OpenStack-API-Version: placement latest" "$pl_url/resource_providers")
[ "$code" = 200 ] && ok "placement resource_providers (admin)" "200" || bad "placement resource_providers (admin)" "got $code"

# --- nova control plane
svc=$(osa compute service list -f value -c Binary -c Host -c State -c Status 2>&1)
for b in nova-conductor nova-scheduler; do
    if echo "$svc" | grep -qE "^$b .* enabled up\$"; then ok "compute service $b up" "$(echo "$svc" | grep "^$b" | head -1)"
    else bad "compute service $b up" "$(echo "$svc" | tr '\n' ' ' | cut -c1-200)"; fi
done
hv=$(osa hypervisor list -f value -c "Hypervisor Hostname" 2>&1) && ok "hypervisor list (admin)" "$(echo -n "$hv" | grep -c . || true) hypervisor(s)" \
    || bad "hypervisor list (admin)" "$hv"
expect_http "member: hypervisor list -> 403" 403 osm hypervisor list
expect_http "member: flavor create -> 403" 403 osm flavor create lmlab-forbidden --ram 64 --disk 1 --vcpus 1

# --- flavor m2.tiny: 1 vCPU, 256 MiB, 1 GB disk
if ! osa flavor show m2.tiny >/dev/null 2>&1; then
    osa flavor create m2.tiny --vcpus 1 --ram 256 --disk 1 --public >/dev/null 2>&1
fi
fl=$(osa flavor show m2.tiny -f value -c vcpus -c ram -c disk 2>&1 | tr '\n' ' ')
[ "$fl" = "1 256 1 " ] && ok "flavor m2.tiny" "disk=1 GB ram=256 MiB vcpus=1" || bad "flavor m2.tiny" "$fl"
check "member sees m2.tiny" osm flavor show m2.tiny -f value -c name

# --- glance: upload the guest (reuse when the checksum matches), read it back
if [ ! -s "$IMG" ]; then
    bad "guest image file" "$IMG missing: run lab/guest/build.sh"
else
    md5=$(md5sum "$IMG" | cut -d' ' -f1)
    have=$(osa image list --name lmlab-guest -f value -c ID 2>/dev/null | head -1)
    if [ -n "$have" ] && [ "$(osa image show "$have" -f value -c checksum 2>/dev/null)" != "$md5" ]; then
        osa image delete "$have" >/dev/null 2>&1; have=""
    fi
    if [ -z "$have" ]; then
        t=$(date +%s%N)
        if out=$(osa image create lmlab-guest --disk-format qcow2 --container-format bare \
                 --public --file "$IMG" --property hw_disk_bus=virtio -f value -c id 2>&1); then
            ok "image upload" "$(( ($(date +%s%N) - t) / 1000000 )) ms, id $out"
        else bad "image upload" "$(echo "$out" | tail -2 | tr '\n' ' ')"; fi
    else ok "image upload" "already there with the same checksum: $have"; fi
    st=$(osa image show lmlab-guest -f value -c status -c checksum -c disk_format 2>&1 | tr '\n' ' ')
    [ "$st" = "$md5 qcow2 active " ] && ok "image active, checksum = md5 of file" || bad "image active, checksum = md5 of file" "$st"
    tmpf=$(mktemp)
    if osa image save lmlab-guest --file "$tmpf" 2>/dev/null && cmp -s "$tmpf" "$IMG"; then
        ok "image download = uploaded bytes" "$(stat -c %s "$tmpf") bytes"
    else bad "image download = uploaded bytes"; fi
    rm -f "$tmpf"
    check "member sees the public image" osm image show lmlab-guest -f value -c status
fi

# --- neutron API (ml2, no agents): reads as admin and member
check "network list (admin)" osa network list -f value
check "port list (admin)" osa port list -f value
check "network list (member)" osm network list -f value
check "extension list has binding-extended" bash -c "openstack --os-cloud lab-admin extension list --network -f value -c Alias | grep -qx binding-extended"
check "server list (admin, all projects)" osa server list --all-projects -f value

echo "smoke_cloud: $(( ($(date +%s%N) - T0) / 1000000 )) ms"
echo "$PASS passed, $FAIL failed"
[ "$FAIL" = 0 ]
