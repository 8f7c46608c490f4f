#!/usr/bin/env bash
# Usage: tools/smoke.sh
#
# End-to-end smoke test of the test infrastructure (run as root, ~30-60 s with cached images):
#   1. builds (or reuses) the base and hypervisor images (tools/image.sh)
#   2. brings up network lmsmoke 198.18.99.0/24 (tools/net.sh)
#   3. runs lmsmoke-a (198.18.99.11) and lmsmoke-b (198.18.99.12) from the hypervisor image
#      with systemd as PID 1, each knowing both names (--add-host)
#   4. checks: `systemctl is-system-running --wait` = running on both, `systemctl restart
#      dbus` works, a reaches b by name and address (ping), no default route inside, the
#      outside is unreachable (TCP and ICMP to 1.1.1.1 / 8.8.8.8), the host reaches a
#      container (HTTP), a container reaches a service the host binds on the gateway
#      address (HTTP), libvirtd answers (virsh list) on both
#   5. tears everything down (also on failure or Ctrl-C) and prints timings
# Exit status 0 = all checks passed.
set -euo pipefail
shopt -s inherit_errexit

# shellcheck source=podman-env.sh
source "$(dirname "${BASH_SOURCE[0]}")/podman-env.sh"

NET=lmsmoke
SUBNET=198.18.99.0/24
A=lmsmoke-a
B=lmsmoke-b
IP_A=198.18.99.11
IP_B=198.18.99.12
OUTSIDE=(1.1.1.1 8.8.8.8)
T_START=$SECONDS
TIMINGS=()
HTTP_PID=""
HTTP_DIR=""

log() { printf '[smoke %3ds] %s\n' "$((SECONDS - T_START))" "$*" >&2; }
fail() { log "FAIL: $*"; exit 1; }
now() { echo "${EPOCHREALTIME/./}"; } # microseconds
record() { # record LABEL START_US
    local d=$(($(now) - $2))
    TIMINGS+=("$(printf '%-34s %4d.%d s' "$1" $((d / 1000000)) $((d % 1000000 / 100000)))")
}

teardown() {
    local rc=$? t
    t=$(now)
    trap - EXIT INT TERM
    log "teardown"
    if [[ -n $HTTP_PID ]]; then kill "$HTTP_PID" 2>/dev/null || true; wait "$HTTP_PID" 2>/dev/null || true; fi
    if [[ -n $HTTP_DIR ]]; then rm -rf "$HTTP_DIR"; fi
    podman stop -t 10 "$A" "$B" >/dev/null 2>&1 || true
    podman rm -f "$A" "$B" >/dev/null 2>&1 || true
    record "teardown: podman stop + rm x2" "$t"
    t=$(now)
    "$LM_TOOLS_DIR/net.sh" down "$NET" || rc=1
    record "teardown: net down" "$t"
    echo "== smoke timings =="
    printf '%s\n' "${TIMINGS[@]}"
    printf '%-34s %6d s\n' "total" "$((SECONDS - T_START))"
    if ((rc == 0)); then echo "SMOKE: PASS"; else echo "SMOKE: FAIL (rc=$rc)"; fi
    exit "$rc"
}

step() { # step LABEL CMD...: run CMD, record its wall time
    local label=$1 t
    shift
    t=$(now)
    log "$label"
    "$@"
    record "$label" "$t"
}

run_host() { # run_host NAME IP IMAGE
    podman run -d --name "$1" --hostname "$1" --systemd=always \
        --network "$NET" --ip "$2" \
        --add-host "$A:$IP_A" --add-host "$B:$IP_B" \
        "$3" >/dev/null
}

run_both() { run_host "$A" "$IP_A" "$1"; run_host "$B" "$IP_B" "$1"; }
wait_both() { wait_running "$A"; wait_running "$B"; }

wait_running() { # wait_running NAME: systemd inside reaches "running"
    local state=""
    for _ in $(seq 1 60); do
        # the bus socket appears a moment after start; retry until systemctl answers
        state=$(timeout 90 podman exec "$1" systemctl is-system-running --wait 2>/dev/null) || true
        case $state in
            running) return 0 ;;
            degraded | maintenance | stopping | offline) break ;;
        esac
        sleep 0.2
    done
    podman exec "$1" systemctl --failed --no-legend >&2 || true
    fail "$1: systemctl is-system-running = '${state:-no answer}'"
}

check_restart_dbus() {
    podman exec "$A" systemctl restart dbus
    [[ $(podman exec "$A" systemctl is-active dbus) == active ]] || fail "dbus not active after restart"
    podman exec "$A" systemctl restart systemd-logind
    [[ $(podman exec "$A" systemctl is-system-running) == running ]] || fail "$A degraded after restarts"
}

check_ping() {
    podman exec "$A" ping -c 2 -W 2 "$B" >/dev/null || fail "$A cannot ping $B by name"
    podman exec "$A" ping -c 1 -W 2 "$IP_B" >/dev/null || fail "$A cannot ping $IP_B"
    podman exec "$B" ping -c 1 -W 2 "$A" >/dev/null || fail "$B cannot ping $A by name"
}

check_isolation() {
    local c r ip
    for c in "$A" "$B"; do
        r=$(podman exec "$c" ip -4 route show default)
        [[ -z $r ]] || fail "$c has a default route: $r"
        r=$(podman exec "$c" ip -6 route show default)
        [[ -z $r ]] || fail "$c has an IPv6 default route: $r"
    done
    for ip in "${OUTSIDE[@]}"; do
        if podman exec "$A" nc -z -w 2 "$ip" 53 2>/dev/null; then fail "$A reaches $ip:53 (outside)"; fi
        if podman exec "$A" ping -c 1 -W 1 "$ip" >/dev/null 2>&1; then fail "$A pings $ip (outside)"; fi
    done
}

http_get() { # http_get URL: print the body (python3: present on the host and in the images)
    python3 -c 'import sys, urllib.request as u; print(u.urlopen(sys.argv[1], timeout=2).read().decode().strip())' "$1"
}

check_host_path() {
    local gw port=18099 out=""
    gw=$("$LM_TOOLS_DIR/net.sh" addr "$NET")
    # host -> container (a throw-away HTTP server inside b)
    # (a systemd unit, not `podman exec -d`: a leftover exec session makes `podman stop`
    # wait for its whole timeout)
    podman exec "$B" sh -c "mkdir -p /tmp/www && echo from-b >/tmp/www/index.html"
    podman exec "$B" systemd-run --quiet --unit lm-smoke-www \
        python3 -m http.server --bind "$IP_B" --directory /tmp/www "$port"
    for _ in $(seq 1 50); do
        out=$(http_get "http://$IP_B:$port/" 2>/dev/null) && break
        sleep 0.1
    done
    [[ $out == from-b ]] || fail "host cannot reach $B at $IP_B:$port"
    podman exec "$B" systemctl stop lm-smoke-www
    # container -> host service bound on the gateway address (as the lab's control plane)
    HTTP_DIR=$(mktemp -d)
    echo from-host >"$HTTP_DIR/index.html"
    python3 -m http.server --bind "$gw" --directory "$HTTP_DIR" "$port" >/dev/null 2>&1 &
    HTTP_PID=$!
    out=""
    for _ in $(seq 1 50); do
        out=$(podman exec "$A" python3 -c 'import sys, urllib.request as u; print(u.urlopen(sys.argv[1], timeout=2).read().decode().strip())' "http://$gw:$port/" 2>/dev/null) && break
        sleep 0.1
    done
    [[ $out == from-host ]] || fail "$A cannot reach a host service on $gw:$port"
    kill "$HTTP_PID"
    wait "$HTTP_PID" 2>/dev/null || true
    HTTP_PID=""
}

check_libvirt() {
    local c
    for c in "$A" "$B"; do
        podman exec "$c" systemctl is-active --quiet libvirtd.socket || fail "$c: libvirtd.socket not active"
        podman exec "$c" virsh -q -c qemu:///system list --all >/dev/null || fail "$c: virsh list failed"
    done
}

main() {
    [[ $(id -u) -eq 0 ]] || fail "must run as root"
    trap teardown EXIT
    trap 'exit 130' INT TERM
    local img t
    # leftovers of an interrupted run (only ours, by name)
    podman rm -f -t 5 "$A" "$B" >/dev/null 2>&1 || true

    step "image base (build or reuse)" "$LM_TOOLS_DIR/image.sh" build base >/dev/null
    t=$(now)
    log "image hypervisor (build or reuse)"
    img=$("$LM_TOOLS_DIR/image.sh" build hypervisor)
    record "image hypervisor (build or reuse)" "$t"
    log "using $img"
    step "net up $NET $SUBNET" "$LM_TOOLS_DIR/net.sh" up "$NET" "$SUBNET"
    step "podman run x2" run_both "$img"
    step "systemd running on both" wait_both
    step "systemctl restart dbus, logind" check_restart_dbus
    step "ping a<->b" check_ping
    step "no default route, no outside" check_isolation
    step "host <-> containers" check_host_path
    step "libvirtd answers (virsh list)" check_libvirt
    log "all checks passed"
}

main "$@"
