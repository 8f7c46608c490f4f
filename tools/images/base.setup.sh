# Runs inside the chroot of the base rootfs (bash -euo pipefail), see tools/image.sh.
# Makes systemd as PID 1 in a rootful podman container (--systemd=always) reach
# `systemctl is-system-running` = running, and keeps the image small.

# Units that make no sense in a container (no ttys, no network management, no clock).
mask=(
    getty.target
    console-getty.service
    getty@.service
    serial-getty@.service
    container-getty@.service
    systemd-networkd-wait-online.service
    systemd-timesyncd.service
    systemd-udevd.service
    systemd-udevd-control.socket
    systemd-udevd-kernel.socket
    systemd-udev-trigger.service
    systemd-udev-settle.service
    systemd-modules-load.service
    systemd-remount-fs.service
    systemd-firstboot.service
    sys-kernel-config.mount
    sys-kernel-debug.mount
    sys-kernel-tracing.mount
    sys-fs-fuse-connections.mount
    e2scrub_reap.service
    e2scrub_all.timer
    apt-daily.timer
    apt-daily-upgrade.timer
    dpkg-db-backup.timer
    fstrim.timer
)
systemctl mask "${mask[@]}"
systemctl set-default multi-user.target

# Volatile journal, size-capped: containers are short-lived.
mkdir -p /etc/systemd/journald.conf.d
cat >/etc/systemd/journald.conf.d/lm-container.conf <<'CONF'
[Journal]
Storage=volatile
RuntimeMaxUse=32M
CONF

# No docs, man pages or translations (now and for packages installed later).
cat >/etc/dpkg/dpkg.cfg.d/lm-nodoc <<'CONF'
path-exclude=/usr/share/doc/*
path-exclude=/usr/share/man/*
path-exclude=/usr/share/info/*
path-exclude=/usr/share/locale/*
path-include=/usr/share/locale/locale.alias
path-exclude=/usr/share/lintian/*
CONF
find /usr/share/doc /usr/share/man /usr/share/info -mindepth 1 -delete
find /usr/share/locale -mindepth 1 ! -name locale.alias -delete
cat >/etc/apt/apt.conf.d/lm-container <<'CONF'
APT::Install-Recommends "false";
APT::Install-Suggests "false";
Acquire::Languages "none";
CONF

# Ansible and tests run as root; sudo is there for `become` tests.
printf 'lm test image (%s): Debian 12 + systemd, for openstack_ops.live_migration tests\n' \
    "$LM_FLAVOR" >/etc/motd
