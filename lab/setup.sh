#!/bin/bash
# Install what the lab's control plane and guest need. Idempotent: a second run
# only checks. Run as root.
#   1. Debian packages (--no-install-recommends). Their own services must not
#      start: no systemd here, and invoke-rc.d obeys /usr/sbin/policy-rc.d, which
#      is put in place (exit 101) for the install if the machine has none. The
#      lab runs MariaDB and RabbitMQ itself, from its state dir only.
#   2. the wheelhouse .cache/lab/wheels: `pip wheel -c constraints-cloud.txt
#      -r requirements-cloud.txt` (+ async-timeout, pip, setuptools), the only
#      package source of the hypervisor containers (mounted, pip --no-index);
#   3. the venv .cache/lab/venv-cloud (Python >= 3.11), installed offline from
#      that wheelhouse: control plane and computes run the same bits;
#   4. the guest image (lab/guest/build.sh) when missing;
#   5. the tempest venv .cache/lab/venv-tempest (Debian's python3, from PyPI:
#      requirements-tempest.txt, every package pinned) for tests/lab/test_zz_tempest.py;
#      rebuilt only when that file (or $PY's version) changes: a stamp holds their hash.
#   lab/setup.sh [--no-guest]
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
REPO=$(cd "$HERE/.." && pwd)
CACHE=$REPO/.cache/lab
VENV=${LAB_VENV:-$CACHE/venv-cloud}
TVENV=${LAB_TEMPEST_VENV:-$CACHE/venv-tempest}
TREQ=$HERE/requirements-tempest.txt
WHEELS=$CACHE/wheels
REQ=$HERE/requirements-cloud.txt
CONS=$HERE/constraints-cloud.txt
# Debian 12's own Python 3.11, never a venv's python3 that comes first on PATH (make puts
# .venv, Python 3.12, there): the wheelhouse must install in the hypervisors' Python 3.11.
PY=${LAB_PYTHON:-/usr/bin/python3}
PKGS="mariadb-server mariadb-client rabbitmq-server
      qemu-system-x86 qemu-utils
      syslinux syslinux-common mtools dosfstools fdisk cpio gzip
      gcc libc6-dev pkg-config libvirt-dev
      curl iproute2 ca-certificates python3 python3-pip python3-venv
      tcpdump openssl"

now() { date +%s%N; }
since() { echo "$(( ($(now) - $1) / 1000000 )) ms"; }
say() { echo "[setup $(date +%T)] $*"; }
[ "$(id -u)" = 0 ] || { echo "setup.sh: run as root" >&2; exit 1; }
mkdir -p "$CACHE"

# ---- 1. Debian packages
t=$(now)
missing=""
for p in $PKGS; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
if [ -n "$missing" ]; then
    say "apt: installing$missing"
    made_policy=""
    if [ ! -e /usr/sbin/policy-rc.d ]; then
        printf '#!/bin/sh\n# lab/setup.sh: no service starts during this install\nexit 101\n' > /usr/sbin/policy-rc.d
        chmod 755 /usr/sbin/policy-rc.d
        made_policy=1
    fi
    trap '[ -n "$made_policy" ] && rm -f /usr/sbin/policy-rc.d' EXIT
    apt-get update -q >/dev/null
    # shellcheck disable=SC2086
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends $missing >/dev/null
    [ -n "$made_policy" ] && rm -f /usr/sbin/policy-rc.d
    trap - EXIT
    say "apt: done in $(since "$t")"
else
    say "apt: all packages present"
fi
# The packages' own daemons must not run (the lab's carry LAB_STATE_DIR).
for pid in $(pgrep -x mariadbd; pgrep -x mysqld; pgrep -f 'beam.smp.*rabbit' ) ; do
    if ! { tr '\0' '\n' < "/proc/$pid/environ"; } 2>/dev/null | grep -q '^LAB_STATE_DIR='; then
        echo "setup.sh: WARNING: a MariaDB/RabbitMQ not started by the lab runs (pid $pid:" \
             "$(tr '\0' ' ' < /proc/$pid/cmdline | cut -c1-120)); it may hold the lab's ports" >&2
    fi
done

# ---- 2. wheelhouse (also the hypervisor containers' only package source)
key=$(cat "$REQ" "$CONS" | sha256sum | cut -c1-16)
if [ "$(cat "$WHEELS/.lab-stamp" 2>/dev/null)" != "$key" ]; then
    "$PY" -c 'import sys; sys.exit(sys.version_info < (3, 11))' \
        || { echo "setup.sh: $PY is older than 3.11 (nova 34 needs >= 3.11)" >&2; exit 1; }
    t=$(now)
    say "wheels: building into $WHEELS ($("$PY" -V))"
    rm -rf "$WHEELS"; mkdir -p "$WHEELS"
    # async-timeout: redis needs it below Python 3.11.3 (Debian 12's python3 is
    # 3.11.2), so a resolver on the host's 3.11.7 would leave it out.
    "$PY" -m pip wheel -q -w "$WHEELS" -c "$CONS" -r "$REQ" async-timeout pip setuptools \
        2> >(grep -v "WARNING: Location 'file:" >&2)
    echo "$key" > "$WHEELS/.lab-stamp"
    say "wheels: done in $(since "$t"), $(ls "$WHEELS"/*.whl | wc -l) wheels, $(du -sh "$WHEELS" | cut -f1)"
else
    say "wheels: up to date ($(ls "$WHEELS"/*.whl | wc -l) wheels)"
fi

# ---- 3. venv, offline from the wheelhouse: the same bits as the computes get
if [ "$(cat "$VENV/.lab-stamp" 2>/dev/null)" != "$key" ]; then
    for pid in $(ls /proc | grep -E '^[0-9]+$'); do
        if { tr '\0' '\n' < "/proc/$pid/environ"; } 2>/dev/null | grep -q '^LAB_STATE_DIR='; then
            echo "setup.sh: the lab runs (pid $pid) from the venv that must be rebuilt:" \
                 "run 'python3 lab/labctl.py cloud-down' first" >&2
            exit 1
        fi
    done
    t=$(now)
    say "venv: installing into $VENV from the wheelhouse"
    rm -rf "$VENV"
    "$PY" -m venv "$VENV"
    "$VENV/bin/pip" install -q --no-index --find-links "$WHEELS" -c "$CONS" -r "$REQ" \
        2> >(grep -v "WARNING: Location 'file:" >&2)
    echo "$key" > "$VENV/.lab-stamp"
    say "venv: done in $(since "$t"), $(du -sh "$VENV" | cut -f1)"
else
    say "venv: up to date ($VENV)"
fi

# ---- 4. guest image
if [ "${1:-}" != "--no-guest" ]; then
    if [ ! -s "$CACHE/guest/lmlab-guest.qcow2" ] || [ "$HERE/guest/lmwriter.c" -nt "$CACHE/guest/lmlab-guest.qcow2" ] \
       || [ "$HERE/guest/init" -nt "$CACHE/guest/lmlab-guest.qcow2" ] || [ "$HERE/guest/build.sh" -nt "$CACHE/guest/lmlab-guest.qcow2" ]; then
        "$HERE/guest/build.sh"
    else
        say "guest: up to date ($CACHE/guest/lmlab-guest.qcow2)"
    fi
fi

# ---- 5. tempest venv (from PyPI; nothing of it runs in the lab, only against it)
tkey=$( { cat "$TREQ"; "$PY" -V; } | sha256sum | cut -c1-16)
if [ "$(cat "$TVENV/.lab-stamp" 2>/dev/null)" != "$tkey" ]; then
    t=$(now)
    say "tempest: installing into $TVENV ($("$PY" -V))"
    rm -rf "$TVENV"
    "$PY" -m venv "$TVENV"
    "$TVENV/bin/pip" install -q -r "$TREQ" 2> >(grep -v "WARNING: Location 'file:" >&2)
    "$TVENV/bin/tempest" --version >/dev/null
    echo "$tkey" > "$TVENV/.lab-stamp"
    say "tempest: done in $(since "$t"), $("$TVENV/bin/tempest" --version 2>&1), $(du -sh "$TVENV" | cut -f1)"
else
    say "tempest: up to date ($TVENV)"
fi
