"""hv-e and hv-f switched from socket activation to traditional --listen mode."""
import configparser

import pytest

ADDR = {"hv-e": "198.18.10.15", "hv-f": "198.18.10.16"}
PEER = {"hv-e": "hv-f", "hv-f": "hv-e"}
SOCKETS = ["libvirtd.socket", "libvirtd-ro.socket", "libvirtd-admin.socket", "libvirtd-tcp.socket", "libvirtd-tls.socket"]


def me(host):
    return host.check_output("hostname").strip()


def test_listen_argument_set(host):
    active = [l.strip() for l in host.file("/etc/default/libvirtd").content_string.splitlines()
              if l.strip().startswith("LIBVIRTD_ARGS=")]
    assert active == ['LIBVIRTD_ARGS="--listen"']


@pytest.mark.parametrize("unit", SOCKETS)
def test_every_socket_masked_and_inactive(host, unit):
    assert host.check_output("systemctl is-enabled %s || true" % unit).strip() == "masked"
    assert not host.service(unit).is_running


def test_libvirtd_itself_listens_on_the_migration_address(host):
    assert host.service("libvirtd").is_running
    conf = [l.strip() for l in host.file("/etc/libvirt/libvirtd.conf").content_string.splitlines()
            if l.strip() and not l.startswith("#")]
    assert 'listen_addr = "%s"' % ADDR[me(host)] in conf
    line = host.check_output("ss -Htlnp 'sport = :16509'")
    assert "%s:16509" % ADDR[me(host)] in line
    assert "libvirtd" in line  # the daemon owns the port, not systemd


def test_peer_reachable_over_tcp(host):
    peer = PEER[me(host)]
    assert host.check_output("timeout 60 virsh -c qemu+tcp://%s/system hostname" % peer).strip() == peer


def test_legacy_nova_flags_copy_the_disk(host):
    cp = configparser.ConfigParser(interpolation=None, strict=False)
    cp.read_string(host.file("/etc/nova/nova.conf").content_string)
    lv = cp["libvirt"]
    flags = lv["block_migration_flag"].split(",")
    assert "VIR_MIGRATE_NON_SHARED_INC" in flags
    assert "VIR_MIGRATE_TUNNELLED" not in flags
    assert set(flags) >= {"VIR_MIGRATE_UNDEFINE_SOURCE", "VIR_MIGRATE_PEER2PEER", "VIR_MIGRATE_LIVE"}
    assert not [f for f in lv["live_migration_flag"].split(",") if f.startswith("VIR_MIGRATE_NON_SHARED")]
    assert lv["live_migration_uri"] == "qemu+tcp://%s/system"
    # options of nova >= 14 are not written to an old nova
    assert "live_migration_scheme" not in lv
