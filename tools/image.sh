#!/usr/bin/env bash
# Usage:
#   tools/image.sh build FLAVOR   build (or reuse) localhost/lm-FLAVOR:<hash>; prints the ref
#   tools/image.sh ref FLAVOR     print the ref that `build FLAVOR` would produce (no build)
#   tools/image.sh list           one line per flavor: FLAVOR REF built|missing
#   tools/image.sh prune          remove lm-* images and cached rootfs tarballs whose hash
#                                 no longer matches a current flavor definition
#
# stdout carries only the image reference (build, ref) or the listing (list); every log
# line goes to stderr. Run as root (debootstrap, chroot, rootful podman).
#
# Flavors live in tools/images/ (all files named FLAVOR.* belong to FLAVOR):
#   FLAVOR.parent     optional; one line: the parent flavor. Without it the flavor is
#                     debootstrapped (Debian bookworm, variant minbase) with its packages
#                     passed to --include (debootstrap does not resolve `A | B`: list both).
#   FLAVOR.packages   packages, one or more per line, `#` comments. With a parent they are
#                     installed with apt-get --no-install-recommends inside a chroot of the
#                     parent's rootfs, on the host network (never podman's NAT network).
#   FLAVOR.setup.sh   optional; run with `bash -euo pipefail` inside the chroot after the
#                     packages (LM_FLAVOR is set). Services never start (policy-rc.d).
#
# Tag = first 16 hex digits of sha256(this script + the flavor's files + parent's hash), so
# an unchanged definition is reused in about a second and any change rebuilds. The image is
# also tagged localhost/lm-FLAVOR:latest. Each flavor's rootfs tarball is cached as
# .cache/images/FLAVOR-HASH.tar so derived flavors never debootstrap again; downloaded
# .debs are kept in .cache/images/debs/ so a rebuild does not download them again.
# Builds are serialized with a lock (.cache/images/.lock); a reuse needs no lock.
#
# Environment:
#   LM_MIRROR     Debian mirror (default: first bookworm URIs of
#                 /etc/apt/sources.list.d/debian.sources, else http://deb.debian.org/debian)
#   LM_CACHE_DIR  cache folder (default: <collection root>/.cache/images)
#   LM_WORK_DIR   parent of the temporary build folder lm-image.PID.* (default: /var/tmp)
set -euo pipefail
shopt -s inherit_errexit

# shellcheck source=podman-env.sh
source "$(dirname "${BASH_SOURCE[0]}")/podman-env.sh"

SELF="$LM_TOOLS_DIR/image.sh"
IMAGES_DIR="$LM_TOOLS_DIR/images"
CACHE_DIR="${LM_CACHE_DIR:-$LM_ROOT/.cache/images}"
DEB_CACHE="$CACHE_DIR/debs" # downloaded .debs (debootstrap --cache-dir + apt archives)
WORK_PARENT="${LM_WORK_DIR:-/var/tmp}"
SUITE=bookworm
REPO_PREFIX=localhost/lm-

# Keep stdout for the final answer only: fd 3 is the real stdout, fd 1 goes to stderr.
exec 3>&1 1>&2

log() { printf '[image.sh %(%H:%M:%S)T] %s\n' -1 "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

usage() {
    sed -n '2,/^set -euo/p' "$SELF" | sed -e '/^set -euo/d' -e 's/^# \{0,1\}//' >&2
    exit 2
}

check_flavor() {
    local flavor=$1
    [[ $flavor =~ ^[a-z0-9][a-z0-9_-]*$ ]] || die "bad flavor name '$flavor'"
    [[ -f $IMAGES_DIR/$flavor.packages ]] || die "unknown flavor '$flavor' (no $IMAGES_DIR/$flavor.packages)"
}

flavor_files() { # sorted list of the flavor's definition files
    find "$IMAGES_DIR" -maxdepth 1 -type f -name "$1.*" | LC_ALL=C sort
}

parent_of() {
    local f="$IMAGES_DIR/$1.parent"
    if [[ -f $f ]]; then sed -e 's/#.*//' "$f" | tr -d '[:space:]'; fi
}

packages_of() { # packages, one per line
    sed -e 's/#.*//' "$IMAGES_DIR/$1.packages" | tr -s '[:space:]' '\n' | sed '/^$/d'
}

# hash_of FLAVOR [DEPTH]: content hash (16 hex) of builder + flavor files + parent's hash.
hash_of() {
    local flavor=$1 depth=${2:-0} parent parent_hash="" f
    check_flavor "$flavor"
    ((depth < 10)) || die "parent chain too deep (loop?) at '$flavor'"
    parent=$(parent_of "$flavor")
    if [[ -n $parent ]]; then parent_hash=$(hash_of "$parent" $((depth + 1))); fi
    {
        echo "suite $SUITE"
        echo "builder $(sha256sum <"$SELF" | cut -d' ' -f1)"
        echo "parent ${parent:-none} $parent_hash"
        while read -r f; do
            echo "file $(basename "$f") $(sha256sum <"$f" | cut -d' ' -f1)"
        done < <(flavor_files "$flavor")
    } | sha256sum | cut -c1-16
}

ref_of() { echo "${REPO_PREFIX}$1:$(hash_of "$1")"; }

mirror() {
    if [[ -n ${LM_MIRROR:-} ]]; then echo "$LM_MIRROR"; return; fi
    local src=/etc/apt/sources.list.d/debian.sources uri=""
    if [[ -r $src ]]; then
        # deb822: first paragraph of Types deb whose Suites contain the bare suite name.
        uri=$(awk -v suite="$SUITE" '
            function flush() {
                if (types ~ /(^| )deb( |$)/ && (" " suites " ") ~ (" " suite " ") && uris != "" && !done) {
                    split(uris, u, " "); print u[1]; done = 1
                }
                types = ""; suites = ""; uris = ""
            }
            /^[[:space:]]*$/ { flush(); next }
            /^Types:/  { sub(/^Types:[[:space:]]*/, "");  types = $0 }
            /^Suites:/ { sub(/^Suites:[[:space:]]*/, ""); suites = $0 }
            /^URIs:/   { sub(/^URIs:[[:space:]]*/, "");   uris = $0 }
            END { flush() }' "$src")
    fi
    echo "${uri:-http://deb.debian.org/debian}"
}

# ---- chroot handling -------------------------------------------------------------------

WORK=""
ROOTFS=""

mounts_under() { # mount points at or below $1, deepest first
    awk -v p="$1" '$5 == p || index($5, p "/") == 1 { print $5 }' /proc/self/mountinfo | sort -r
}

unmount_all() {
    local m
    [[ -n $1 && -d $1 ]] || return 0
    while read -r m; do
        [[ -n $m ]] && { umount "$m" 2>/dev/null || umount -l "$m" || true; }
    done < <(mounts_under "$1")
}

cleanup() {
    local rc=$?
    if [[ -n $ROOTFS ]]; then unmount_all "$ROOTFS"; fi
    if [[ -n $WORK && -d $WORK ]]; then
        if [[ -n $(mounts_under "$WORK") ]]; then
            log "WARNING: mounts left under $WORK; not removing it"
        else
            rm -rf --one-file-system "$WORK"
        fi
    fi
    rm -f "$CACHE_DIR"/*.tar.part."$$" 2>/dev/null || true
    exit "$rc"
}

chroot_prepare() {
    local r=$ROOTFS
    mount -t proc proc "$r/proc"
    mount -t sysfs -o ro sysfs "$r/sys"
    # A private /dev (never a bind of the host's /dev, so a stray rm cannot reach it).
    mount -t tmpfs -o mode=755,nosuid tmpfs "$r/dev"
    mknod -m 666 "$r/dev/null" c 1 3
    mknod -m 666 "$r/dev/zero" c 1 5
    mknod -m 666 "$r/dev/full" c 1 7
    mknod -m 666 "$r/dev/random" c 1 8
    mknod -m 666 "$r/dev/urandom" c 1 9
    mknod -m 666 "$r/dev/tty" c 5 0
    ln -s /proc/self/fd "$r/dev/fd"
    ln -s /proc/self/fd/0 "$r/dev/stdin"
    ln -s /proc/self/fd/1 "$r/dev/stdout"
    ln -s /proc/self/fd/2 "$r/dev/stderr"
    mkdir -p "$r/dev/pts" "$r/dev/shm"
    mount -t devpts -o newinstance,ptmxmode=0666,mode=620 devpts "$r/dev/pts"
    ln -s pts/ptmx "$r/dev/ptmx"
    # Shared .deb cache (unmounted before `apt-get clean` in chroot_finish).
    mkdir -p "$DEB_CACHE/partial" "$r/var/cache/apt/archives"
    mount --bind "$DEB_CACHE" "$r/var/cache/apt/archives"
    # Host DNS for apt; no service may start inside the chroot.
    rm -f "$r/etc/resolv.conf"
    cp -L /etc/resolv.conf "$r/etc/resolv.conf"
    printf '#!/bin/sh\n# lm image build: never start services in the chroot\nexit 101\n' >"$r/usr/sbin/policy-rc.d"
    chmod 755 "$r/usr/sbin/policy-rc.d"
}

in_chroot() {
    chroot "$ROOTFS" /usr/bin/env -i PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
        HOME=/root LC_ALL=C DEBIAN_FRONTEND=noninteractive LM_FLAVOR="${LM_FLAVOR:-}" "$@"
}

chroot_finish() { # remove build-time traces, then unmount
    local r=$ROOTFS
    umount "$r/var/cache/apt/archives"
    in_chroot apt-get clean
    rm -rf "$r"/var/lib/apt/lists/* "$r"/var/cache/apt/*.bin "$r"/var/cache/debconf/*-old \
        "$r"/var/lib/dpkg/*-old "$r"/var/log/apt/* "$r"/var/log/dpkg.log "$r"/var/log/alternatives.log \
        "$r"/var/log/bootstrap.log "$r"/root/.bash_history
    mkdir -p "$r/var/lib/apt/lists/partial"
    rm -f "$r/usr/sbin/policy-rc.d"
    # podman bind-mounts its own resolv.conf/hosts/hostname; keep neutral files.
    rm -f "$r/etc/resolv.conf"
    : >"$r/etc/resolv.conf"
    echo localhost >"$r/etc/hostname"
    # Every container gets its own machine-id (systemd generates it at boot).
    : >"$r/etc/machine-id"
    rm -f "$r/var/lib/dbus/machine-id"
    find "$r/tmp" "$r/var/tmp" -mindepth 1 -delete
    unmount_all "$r"
    [[ -z $(mounts_under "$r") ]] || die "could not unmount everything under $r"
}

# ---- build -----------------------------------------------------------------------------

cached_tar() { echo "$CACHE_DIR/$1-$(hash_of "$1").tar"; }

# ensure_tar FLAVOR: set TAR_PATH to FLAVOR's cached rootfs tarball, building it if needed.
# (Globals instead of $(...) so that the EXIT trap sees the build folder and mounts.)
TAR_PATH=""
ensure_tar() {
    local flavor=$1 tar ref cid
    tar=$(cached_tar "$flavor")
    if [[ ! -f $tar ]]; then
        ref=$(ref_of "$flavor")
        if podman image exists "$ref"; then
            log "re-creating $tar from $ref (podman export)"
            cid=$(podman create --network none "$ref" /bin/true)
            if ! podman export "$cid" >"$tar.part.$$"; then
                podman rm -f "$cid" >/dev/null || true
                die "podman export of $ref failed"
            fi
            podman rm -f "$cid" >/dev/null
            mv -f "$tar.part.$$" "$tar"
        else
            build_flavor "$flavor"
        fi
    fi
    TAR_PATH=$tar
}

# build_flavor FLAVOR: build (or reuse) the image; set BUILT_REF.
BUILT_REF=""
build_flavor() {
    local flavor=$1 hash ref parent tar parent_tar t0 pkgs=()
    hash=$(hash_of "$flavor")
    ref="${REPO_PREFIX}$flavor:$hash"
    tar="$CACHE_DIR/$flavor-$hash.tar"
    if podman image exists "$ref"; then
        podman tag "$ref" "${REPO_PREFIX}$flavor:latest"
        log "reusing $ref"
        BUILT_REF=$ref
        return
    fi
    parent=$(parent_of "$flavor")
    mapfile -t pkgs < <(packages_of "$flavor")
    t0=$SECONDS

    if [[ ! -f $tar ]]; then
        if [[ -n $parent ]]; then
            ensure_tar "$parent"
            parent_tar=$TAR_PATH
        fi
        WORK=$(mktemp -d "$WORK_PARENT/lm-image.$$.XXXXXX")
        ROOTFS="$WORK/rootfs"
        mkdir -p "$ROOTFS"
        if [[ -z $parent ]]; then
            local m
            m=$(mirror)
            log "debootstrap $SUITE (minbase) from $m with ${#pkgs[@]} extra packages"
            local incl
            incl=$(IFS=,; echo "${pkgs[*]}")
            mkdir -p "$DEB_CACHE"
            debootstrap --variant=minbase --components=main --cache-dir="$DEB_CACHE" \
                ${incl:+--include="$incl"} \
                "$SUITE" "$ROOTFS" "$m" >&2 || {
                tail -n 30 "$ROOTFS/debootstrap/debootstrap.log" >&2 2>/dev/null || true
                die "debootstrap failed"
            }
            chroot_prepare
        else
            log "unpacking parent '$parent' ($(basename "$parent_tar"))"
            tar -C "$ROOTFS" --numeric-owner --xattrs --xattrs-include='*' -xpf "$parent_tar"
            chroot_prepare
            if ((${#pkgs[@]})); then
                log "apt-get install --no-install-recommends ${pkgs[*]}"
                in_chroot apt-get -q -o Acquire::Languages=none update >&2
                in_chroot apt-get -q -y --no-install-recommends install "${pkgs[@]}" >&2
            fi
        fi
        if [[ -f $IMAGES_DIR/$flavor.setup.sh ]]; then
            log "running $flavor.setup.sh in the chroot"
            cp "$IMAGES_DIR/$flavor.setup.sh" "$ROOTFS/tmp/lm-setup.sh"
            LM_FLAVOR=$flavor in_chroot /bin/bash -euo pipefail /tmp/lm-setup.sh >&2
            rm -f "$ROOTFS/tmp/lm-setup.sh"
        fi
        chroot_finish
        log "packing rootfs ($(du -sh --one-file-system "$ROOTFS" | cut -f1)) into $tar"
        mkdir -p "$CACHE_DIR"
        tar -C "$ROOTFS" --numeric-owner --xattrs --xattrs-include='*' -cf "$tar.part.$$" .
        mv -f "$tar.part.$$" "$tar"
        rm -rf --one-file-system "$WORK"
        WORK="" ROOTFS=""
    else
        log "using cached rootfs $tar"
    fi

    log "podman import -> $ref"
    podman import --quiet \
        --change 'CMD ["/sbin/init"]' \
        --change 'STOPSIGNAL SIGRTMIN+3' \
        --change "LABEL lm.flavor=$flavor" \
        --change "LABEL lm.hash=$hash" \
        --change "LABEL lm.parent=${parent:-none}" \
        --message "lm image $flavor ($hash)" \
        "$tar" "$ref" >/dev/null
    podman tag "$ref" "${REPO_PREFIX}$flavor:latest"
    log "built $ref in $((SECONDS - t0)) s"
    BUILT_REF=$ref
}

# Work folders are lm-image.PID.XXXXXX: one whose PID is gone is a leftover of a killed build.
remove_stale_work() {
    local d pid
    for d in "$WORK_PARENT"/lm-image.*.*; do
        [[ -d $d ]] || continue
        pid=${d##*/lm-image.}; pid=${pid%%.*}
        [[ $pid =~ ^[0-9]+$ ]] || continue
        if kill -0 "$pid" 2>/dev/null; then continue; fi
        log "removing leftover build folder $d"
        unmount_all "$d"
        if [[ -z $(mounts_under "$d") ]]; then rm -rf --one-file-system "$d"; fi
    done
}

prune() {
    local img repo tag flavor current f
    # images
    while read -r img; do
        [[ -n $img ]] || continue
        repo=${img%:*}; tag=${img##*:}; flavor=${repo#"$REPO_PREFIX"}
        current=""
        if [[ -f $IMAGES_DIR/$flavor.packages ]]; then current=$(hash_of "$flavor"); fi
        if [[ $tag == latest ]]; then
            # keep :latest only while it points at the current build
            if [[ -n $current ]] && [[ $(podman image inspect --format '{{.Id}}' "$img") == \
                $(podman image inspect --format '{{.Id}}' "$repo:$current" 2>/dev/null || true) ]]; then
                continue
            fi
        elif [[ $tag == "$current" ]]; then
            continue
        fi
        log "removing $img"
        podman rmi "$img" >/dev/null || log "WARNING: could not remove $img (in use?)"
    done < <(podman images --format '{{.Repository}}:{{.Tag}}' | grep "^${REPO_PREFIX}" || true)
    # cached tarballs
    shopt -s nullglob
    for f in "$CACHE_DIR"/*.tar; do
        local base=${f##*/}; base=${base%.tar}
        flavor=${base%-*}
        if [[ -f $IMAGES_DIR/$flavor.packages ]] && [[ $base == "$flavor-$(hash_of "$flavor")" ]]; then
            continue
        fi
        log "removing cached $f"
        rm -f "$f"
    done
    if [[ -d $DEB_CACHE ]]; then
        log "emptying the .deb cache $DEB_CACHE ($(du -sh "$DEB_CACHE" | cut -f1))"
        find "$DEB_CACHE" -mindepth 1 -maxdepth 2 -type f -name '*.deb' -delete
    fi
    remove_stale_work
}

list() {
    local f flavor ref state
    for f in "$IMAGES_DIR"/*.packages; do
        flavor=$(basename "$f" .packages)
        ref=$(ref_of "$flavor")
        state=missing
        if podman image exists "$ref"; then state=built; fi
        echo "$flavor $ref $state" >&3
    done
}

main() {
    local cmd=${1:-} ref
    case $cmd in
        build)
            [[ $# -eq 2 ]] || usage
            check_flavor "$2"
            [[ $(id -u) -eq 0 ]] || die "must run as root"
            # fast path: already built (no lock needed)
            ref=$(ref_of "$2")
            if podman image exists "$ref"; then
                podman tag "$ref" "${REPO_PREFIX}$2:latest"
                log "reusing $ref"
                echo "$ref" >&3
                return
            fi
            trap cleanup EXIT
            trap 'exit 130' INT TERM
            mkdir -p "$CACHE_DIR"
            # one build at a time on this machine (other builds wait, then reuse)
            exec 9>"$CACHE_DIR/.lock"
            flock 9
            remove_stale_work
            build_flavor "$2"
            echo "$BUILT_REF" >&3
            ;;
        ref)
            [[ $# -eq 2 ]] || usage
            ref_of "$2" >&3
            ;;
        list)
            [[ $# -eq 1 ]] || usage
            list
            ;;
        prune)
            [[ $# -eq 1 ]] || usage
            mkdir -p "$CACHE_DIR"
            exec 9>"$CACHE_DIR/.lock"
            flock 9
            prune
            ;;
        *) usage ;;
    esac
}

main "$@"
