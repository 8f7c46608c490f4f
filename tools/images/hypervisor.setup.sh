# Runs inside the chroot of the hypervisor rootfs (bash -euo pipefail), see tools/image.sh.

# LAB-ONLY qemu.conf settings (never on a real host), so that QEMU guests run in a podman
# container without extra privileges (no --privileged, no /dev/kvm):
# - remember_owner = 0       trusted.* xattrs need CAP_SYS_ADMIN
# - cgroup_controllers = [ ]  podman mounts the v1 cgroups read-only
# - namespaces = [ ]         needed once the container gets CAP_SYS_ADMIN (nova privsep)
# Guests must use <domain type='qemu'> (TCG): /dev/kvm on this kind of machine cannot run guests.
cat >>/etc/libvirt/qemu.conf <<'CONF'

# --- lm test image (tools/images/hypervisor.setup.sh): LAB ONLY, never on a real host ---
remember_owner = 0
cgroup_controllers = [ ]
namespaces = [ ]
CONF

# No libvirt default NAT network in the lab image (it would need dnsmasq + iptables NAT).
rm -f /etc/libvirt/qemu/networks/autostart/default.xml

printf 'lm test image (%s): Debian 12 + systemd + libvirt 9.0 + QEMU (TCG), lab settings in qemu.conf\n' \
    "$LM_FLAVOR" >/etc/motd
