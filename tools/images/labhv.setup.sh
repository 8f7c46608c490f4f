# Runs inside the chroot of the labhv rootfs (bash -euo pipefail), see tools/image.sh.
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
