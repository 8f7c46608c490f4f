#!/usr/bin/env bash
# Usage:
#   tools/net.sh up NAME SUBNET   create (idempotent) an isolated rootful podman network
#   tools/net.sh down NAME        remove the network, its bridge, its iptables rules
#   tools/net.sh addr NAME        print the gateway (host) address, e.g. 198.18.99.1
#
# NAME: [a-z0-9][a-z0-9_-]{0,11} (the bridge is lm-NAME and must fit in 15 characters).
# SUBNET: an IPv4 network inside 198.18.0.0/15 (RFC 2544 benchmarking range), e.g.
# 198.18.99.0/24; anything else is refused. The gateway is the first host address (.1).
#
# What `up` guarantees (podman 4.3 with the CNI backend):
# - podman network NAME with bridge lm-NAME, gateway .1, no DNS plugin;
# - its conflist /etc/cni/net.d/NAME.conflist has "ipMasq": false, no 0.0.0.0/0 route
#   (containers get no default route) and no "firewall" plugin (it would add per-container
#   FORWARD accepts that override the isolation below);
# - the bridge exists and is up with GATEWAY/prefix before any container starts, so host
#   services can bind to the gateway address (CNI reuses a bridge that already carries
#   exactly that address);
# - iptables FORWARD rules (comment "lm-net NAME") drop anything routed between lm-NAME and
#   any other interface: containers reach the host and each other, never the outside
#   (CNI's isGateway turns net.ipv4.ip_forward on for the whole host).
# `down` refuses while containers are attached to NAME (remove them first).
set -euo pipefail
shopt -s inherit_errexit

# shellcheck source=podman-env.sh
source "$(dirname "${BASH_SOURCE[0]}")/podman-env.sh"

ALLOWED=198.18.0.0/15
CNI_DIR=/etc/cni/net.d

log() { printf '[net.sh] %s\n' "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }
usage() {
    sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed -e '/^set -euo/d' -e 's/^# \{0,1\}//' >&2
    exit 2
}

check_name() {
    [[ $1 =~ ^[a-z0-9][a-z0-9_-]{0,11}$ ]] ||
        die "bad network name '$1' (want [a-z0-9][a-z0-9_-]{0,11})"
}

bridge_of() { echo "lm-$1"; }
conflist_of() { echo "$CNI_DIR/$1.conflist"; }

# subnet_info SUBNET -> "NETWORK GATEWAY PREFIXLEN", or fails if outside $ALLOWED.
subnet_info() {
    python3 - "$1" "$ALLOWED" <<'PY'
import ipaddress, sys
try:
    net = ipaddress.IPv4Network(sys.argv[1], strict=True)
except ValueError as e:
    sys.exit(f"invalid subnet {sys.argv[1]!r}: {e}")
allowed = ipaddress.IPv4Network(sys.argv[2])
if not net.subnet_of(allowed):
    sys.exit(f"subnet {net} is outside {allowed}: refused")
if net.prefixlen > 29:
    sys.exit(f"subnet {net} is too small")
print(net, net.network_address + 1, net.prefixlen)
PY
}

network_exists() { podman network exists "$1"; }

# Edit the CNI conflist in place (idempotent). Prints "changed" if it rewrote the file.
patch_conflist() {
    python3 - "$1" "$2" <<'PY'
import json, os, sys
path, bridge = sys.argv[1], sys.argv[2]
with open(path) as f:
    conf = json.load(f)
before = json.dumps(conf, sort_keys=True)
plugins = []
for p in conf.get("plugins", []):
    if p.get("type") == "firewall":
        continue  # its per-container FORWARD accepts would bypass our isolation
    if p.get("type") == "bridge":
        p["bridge"] = bridge  # podman 4.3 has no --interface-name: it picked cni-podmanN
        p["ipMasq"] = False
        p["isGateway"] = True
        p.pop("isDefaultGateway", None)
        ipam = p.get("ipam", {})
        routes = [r for r in ipam.get("routes", []) if r.get("dst") not in ("0.0.0.0/0", "::/0")]
        if routes:
            ipam["routes"] = routes
        else:
            ipam.pop("routes", None)
    plugins.append(p)
conf["plugins"] = plugins
if json.dumps(conf, sort_keys=True) != before:
    tmp = path + ".lm-tmp"
    with open(tmp, "w") as f:
        json.dump(conf, f, indent=3)
        f.write("\n")
    os.chmod(tmp, 0o644)
    os.replace(tmp, path)
    print("changed")
PY
}

ipt_rules() { # the FORWARD rules of network $1 (bridge $2), one per line, without -A/-I
    local c="lm-net $1"
    printf '%s\n' \
        "-i $2 ! -o $2 -m comment --comment \"$c\" -j DROP" \
        "-o $2 ! -i $2 -m comment --comment \"$c\" -j DROP"
}

ipt_ensure() {
    local name=$1 br=$2 rule
    while read -r rule; do
        eval "set -- $rule"
        iptables -w -C FORWARD "$@" 2>/dev/null || iptables -w -I FORWARD 1 "$@"
    done < <(ipt_rules "$name" "$br")
}

# Delete every iptables rule (any table) that mentions the bridge, the subnet, our comment
# or a CNI comment for this network name; then delete CNI chains left empty by that.
ipt_purge() {
    local name=$1 br=$2 subnet=${3:-} table line n=0
    for table in filter nat mangle raw; do
        while read -r line; do
            [[ -n $line ]] || continue
            eval "set -- ${line/#-A /}"
            if iptables -w -t "$table" -D "$@" 2>/dev/null; then n=$((n + 1)); fi
        done < <(iptables-save -t "$table" 2>/dev/null | grep -E '^-A ' |
            grep -F -e "lm-net $name\"" -e " $br " -e "name: \\\"$name\\\"" ${subnet:+-e "$subnet"} || true)
    done
    if ((n)); then log "removed $n iptables rule(s) of $name"; fi
}

cmd_up() {
    local name=$1 subnet=$2 info net gw plen br conflist cur
    check_name "$name"
    info=$(subnet_info "$subnet") || die "refusing subnet '$subnet'"
    read -r net gw plen <<<"$info"
    br=$(bridge_of "$name")
    conflist=$(conflist_of "$name")

    if network_exists "$name"; then
        cur=$(podman network inspect --format '{{range .Subnets}}{{.Subnet}} {{end}}' "$name")
        [[ $cur == "$net " ]] || die "network $name exists with subnet '${cur% }', not $net"
    else
        # refuse a subnet that overlaps an address already on this host (except our bridge)
        if ip -4 -o addr show | awk -v br="$br" '$2 != br {print $4}' | python3 -c '
import ipaddress, sys
net = ipaddress.IPv4Network(sys.argv[1])
sys.exit(0 if any(ipaddress.IPv4Interface(a).network.overlaps(net) for a in sys.stdin.read().split()) else 1)
' "$net"; then
            die "subnet $net overlaps an address already configured on this host"
        fi
        log "creating podman network $name ($net, gateway $gw, bridge $br)"
        podman network create --driver bridge --subnet "$net" --gateway "$gw" \
            --disable-dns --label lm.net="$name" "$name" >/dev/null
    fi
    [[ -f $conflist ]] || die "$conflist not found (is podman using the CNI backend?)"
    if [[ $(patch_conflist "$conflist" "$br") == changed ]]; then log "patched $conflist"; fi

    # The bridge with the gateway address, before any container exists.
    if ! ip link show "$br" >/dev/null 2>&1; then
        ip link add name "$br" type bridge
    fi
    [[ -d /sys/class/net/$br/bridge ]] || die "$br exists and is not a bridge"
    if ! ip -4 -o addr show dev "$br" | awk '{print $4}' | grep -qx "$gw/$plen"; then
        ip addr add "$gw/$plen" dev "$br"
    fi
    ip link set "$br" up
    ipt_ensure "$name" "$br"
    log "network $name up: bridge $br $gw/$plen"
}

cmd_down() {
    local name=$1 br conflist subnet="" ids
    check_name "$name"
    br=$(bridge_of "$name")
    conflist=$(conflist_of "$name")
    if network_exists "$name"; then
        ids=$(podman ps -a --filter "network=$name" --format '{{.Names}}')
        [[ -z $ids ]] || die "containers still attached to $name: $(echo "$ids" | tr '\n' ' ')"
        subnet=$(podman network inspect --format '{{range .Subnets}}{{.Subnet}}{{end}}' "$name")
        podman network rm "$name" >/dev/null
        log "removed podman network $name"
    fi
    rm -f "$conflist"
    if ip link show "$br" >/dev/null 2>&1; then
        [[ -n $subnet ]] || subnet=$(ip -4 -o addr show dev "$br" | awk '{print $4; exit}' |
            python3 -c 'import ipaddress,sys; s=sys.stdin.read().strip(); print(ipaddress.IPv4Interface(s).network if s else "")')
        ip link del "$br"
        log "removed bridge $br"
    fi
    ipt_purge "$name" "$br" "$subnet"
    rm -rf "/var/lib/cni/networks/$name"
}

cmd_addr() {
    local name=$1
    check_name "$name"
    network_exists "$name" || die "no network $name"
    podman network inspect --format '{{range .Subnets}}{{.Gateway}}{{"\n"}}{{end}}' "$name" | sed -n 1p
}

main() {
    [[ $(id -u) -eq 0 ]] || die "must run as root (rootful podman, iptables, ip link)"
    # Serialize network changes on this host (podman/CNI and iptables edits).
    exec 8>/run/lm-net.lock
    flock 8
    case ${1:-} in
        up) [[ $# -eq 3 ]] || usage; cmd_up "$2" "$3" ;;
        down) [[ $# -eq 2 ]] || usage; cmd_down "$2" ;;
        addr) [[ $# -eq 2 ]] || usage; cmd_addr "$2" ;;
        *) usage ;;
    esac
}

main "$@"
