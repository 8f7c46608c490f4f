# Runs inside the chroot of the elfake rootfs (bash -euo pipefail), see tools/image.sh.
# Parent: hypervisor, so the fake EL host runs Debian's real libvirtd for the listener role.
# THIS IS A FAKE OS: Debian 12 dressed up with /etc/redhat-release, rpm and dnf so that
# Ansible's facts report a RedHat-family host and its RHEL branches (dnf, /etc/sysconfig,
# package names like qemu-kvm) can be exercised against real rpm/dnf. It is not CentOS.
echo 'CentOS Linux release 7.9.2009 (Core)' >/etc/redhat-release
mkdir -p /etc/sysconfig /etc/yum.repos.d
cat >/etc/motd <<'MOTD'
*** FAKE OS *** lm test image "elfake": Debian 12 with rpm/dnf and an /etc/redhat-release
claiming CentOS 7.9. For exercising RedHat-family code paths in tests only. NOT CentOS/RHEL.
MOTD

# dnf derives $releasever from an installed *-release rpm, which a Debian rpmdb lacks
# ("Unable to detect release version"): pin it to match /etc/redhat-release.
mkdir -p /etc/dnf/vars
echo 7 >/etc/dnf/vars/releasever
