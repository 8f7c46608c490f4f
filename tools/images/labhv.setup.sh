# Runs inside the chroot of the labhv rootfs (bash -euo pipefail), see tools/image.sh.
# LAB ONLY: QEMU from bookworm-backports (10.0; libvirt stays Debian 12's 9.0). Debian 12's
# QEMU 7.2 loses guest writes during a multi-pass TCG precopy: its dirty-bitmap fast path
# clears bits without resetting the TCG TLB (fixed upstream in QEMU 9.0, "physmem: Fix
# migration dirty bitmap coherency with TCG memory access"), so a throttled migration
# delivers a guest that oopses or reboots. KVM hosts do not track dirty pages through the TCG
# TLB and are not affected. Measured: lab/README.md "Finding".
mirror=$(awk '$1 == "deb" { print $2; exit }' /etc/apt/sources.list)
echo "deb ${mirror:-http://deb.debian.org/debian} bookworm-backports main" \
    >/etc/apt/sources.list.d/bookworm-backports.list
apt-get -q -o Acquire::Languages=none update
apt-get -q -y --no-install-recommends -t bookworm-backports install \
    qemu-system-x86 qemu-system-common qemu-system-data qemu-utils
# LAB ONLY: the unit of the lab's nova-compute (venv /opt/nova, added by lab/labctl.py).
# It is not enabled: labctl starts it last, after the collection's prepare-compute.yml.
mkdir -p /etc/nova/nova.conf.d /var/lib/nova/instances /var/lib/nova/lock /var/log/nova
cat >/etc/systemd/system/nova-compute.service <<'UNIT'
[Unit]
Description=OpenStack nova-compute (lab, venv /opt/nova)
After=libvirtd.service virtlogd.service network-online.target
Wants=libvirtd.service virtlogd.service

[Service]
Type=simple
ExecStart=/opt/nova/bin/nova-compute --config-file /etc/nova/nova.conf --config-dir /etc/nova/nova.conf.d --log-file /var/log/nova/nova-compute.log
Restart=on-failure
RestartSec=3
KillMode=mixed
TimeoutStopSec=20

[Install]
WantedBy=multi-user.target
UNIT
# `nova-compute --version` on PATH lets the collection detect nova's version.
ln -sf /opt/nova/bin/nova-compute /usr/local/bin/nova-compute
ln -sf /opt/nova/bin/nova-manage /usr/local/bin/nova-manage
printf 'lm lab hypervisor image (%s): hypervisor + nova-compute unit (venv /opt/nova), LAB ONLY\n' \
    "$LM_FLAVOR" >/etc/motd
