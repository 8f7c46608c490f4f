#!/usr/bin/env bash
# Builds DUMMY RPMs (no payload but metadata, and a unit file or repo file where noted) and
# two local repositories, for the fake EL7 host only:
#   /srv/repos/base     qemu-kvm, qemu-kvm-common, qemu-img 1.5.3 (EL7's stock builds),
#                       centos-release-qemu-ev (drops a .repo file for qemu-ev),
#                       openstack-nova-compute 12.0.4 (Liberty; version only)
#   /srv/repos/qemu-ev  qemu-kvm-ev, qemu-kvm-common-ev, qemu-img-ev 2.12.0, each obsoleting
#                       and providing the stock package, as the CentOS Virt SIG builds do.
set -euo pipefail
top=/root/rpmbuild
mkdir -p "$top"/SPECS /srv/repos/base /srv/repos/qemu-ev
spec() {  # spec NAME VERSION REPO EXTRA_HEADER [FILE_SRC FILE_DEST]
  local name=$1 version=$2 repo=$3 extra=$4 src=${5:-} dest=${6:-}
  {
    echo "Name: $name"; echo "Version: $version"; echo "Release: 1.fake"; echo "Epoch: 10"
    echo "Summary: DUMMY $name for the fake EL7 test host"; echo "License: GPL"; echo "BuildArch: noarch"
    printf '%b\n' "$extra"
    echo "%description"; echo "Dummy package for openstack_ops.live_migration role tests."
    if [ -n "$src" ]; then
      echo "%install"; echo "mkdir -p %{buildroot}$(dirname "$dest")"; echo "cp $src %{buildroot}$dest"
      echo "%files"; echo "$dest"
    else
      echo "%files"
    fi
  } > "$top/SPECS/$name.spec"
  rpmbuild --quiet -bb --define "_topdir $top" --define "_rpmdir /srv/repos/$repo" \
    --define '_build_id_links none' "$top/SPECS/$name.spec"
}
cat > /root/qemu-ev.repo <<'REPO'
[centos-qemu-ev]
name=CentOS-7 - QEMU EV (local dummy repository)
baseurl=file:///srv/repos/qemu-ev
gpgcheck=0
enabled=1
REPO
spec qemu-kvm 1.5.3 base ""
spec qemu-kvm-common 1.5.3 base ""
spec qemu-img 1.5.3 base ""
spec openstack-nova-compute 12.0.4 base ""
spec centos-release-qemu-ev 1.0 base "" /root/qemu-ev.repo /etc/yum.repos.d/CentOS-QEMU-EV.repo
spec qemu-kvm-ev 2.12.0 qemu-ev "Provides: qemu-kvm = 10:2.12.0\nObsoletes: qemu-kvm < 10:2.12.0"
spec qemu-kvm-common-ev 2.12.0 qemu-ev "Provides: qemu-kvm-common = 10:2.12.0\nObsoletes: qemu-kvm-common < 10:2.12.0"
spec qemu-img-ev 2.12.0 qemu-ev "Provides: qemu-img = 10:2.12.0\nObsoletes: qemu-img < 10:2.12.0"
createrepo_c -q /srv/repos/base
createrepo_c -q /srv/repos/qemu-ev
cat > /etc/yum.repos.d/fake-base.repo <<'REPO'
[fake-base]
name=Fake EL7 base (local dummy repository)
baseurl=file:///srv/repos/base
gpgcheck=0
enabled=1
REPO
