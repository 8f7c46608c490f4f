"""The FAKE EL7 host (Debian + rpm/dnf + /etc/redhat-release) after prepare-compute.yml."""
import configparser

import pytest


def rpm_q(host, name):
    return host.run("rpm -q --qf '%%{NAME} %%{VERSION}' %s" % name)


@pytest.mark.parametrize("name", ["qemu-kvm-ev", "qemu-kvm-common-ev", "qemu-img-ev", "centos-release-qemu-ev"])
def test_ev_packages_installed(host, name):
    assert rpm_q(host, name).rc == 0


@pytest.mark.parametrize("name", ["qemu-kvm", "qemu-kvm-common", "qemu-img"])
def test_stock_packages_replaced(host, name):
    # rpm -q answers for the real package name only; Provides do not count.
    res = rpm_q(host, name)
    assert res.rc != 0 and "not installed" in res.stdout


def test_libvirtd_restarted_after_the_swap(host):
    swapped = int(host.check_output("rpm -q --qf '%{INSTALLTIME}' qemu-kvm-ev"))
    started = host.check_output("systemctl show --timestamp=unix -p ActiveEnterTimestamp --value libvirtd")
    assert int(started.lstrip("@")) >= swapped


def test_sysconfig_carries_listen(host):
    assert host.file("/etc/sysconfig/libvirtd").contains('^LIBVIRTD_ARGS="--listen"$')
    # Debian's file is left alone: the RedHat branch never writes it
    assert not host.file("/etc/default/libvirtd").contains('^LIBVIRTD_ARGS="--listen"')


def test_listening_in_traditional_mode(host):
    line = host.check_output("ss -Htlnp 'sport = :16509'")
    assert "198.18.10.21:16509" in line and "libvirtd" in line
    assert host.check_output("timeout 60 virsh -c qemu+tcp://198.18.10.21/system hostname").strip() == "el7-fake"


def test_legacy_nova_flags_and_rdo_unit(host):
    cp = configparser.ConfigParser(interpolation=None, strict=False)
    cp.read_string(host.file("/etc/nova/nova.conf").content_string)
    flags = cp["libvirt"]["block_migration_flag"].split(",")
    assert flags == ["VIR_MIGRATE_UNDEFINE_SOURCE", "VIR_MIGRATE_PEER2PEER", "VIR_MIGRATE_LIVE", "VIR_MIGRATE_NON_SHARED_INC"]
    svc = host.service("openstack-nova-compute")
    assert svc.is_running
    started = host.check_output("systemctl show --timestamp=unix -p ActiveEnterTimestamp --value openstack-nova-compute")
    assert int(started.lstrip("@")) >= int(host.check_output("stat -c %Y /etc/nova/nova.conf"))
