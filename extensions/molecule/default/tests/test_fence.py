"""The nftables fence around tcp_none (libvirt_listener_firewall auto -> nftables).

hv-x sits on the same network as hv-a and hv-b but is not in the compute group, so it is no
peer: libvirt's ports and QEMU's migration range of hv-a and hv-b must drop it, while the peer
gets through. Loopback and the replies to a host's own connections are not broken, and the
table is what nftables.service loads at boot.
"""
import re

import pytest
import testinfra

ADDR = {"hv-a": "198.18.10.11", "hv-b": "198.18.10.12"}
PEER = {"hv-a": "hv-b", "hv-b": "hv-a"}
OUTSIDER = "hv-x"
OUTSIDER_ADDR = "198.18.10.19"
MIGRATION_PORT = 49215  # the last port of the range (49152-49215)
TABLE = "inet openstack_ops_live_migration"


def other(name):
    return testinfra.get_host("podman://" + name)


def name_of(host):
    return host.check_output("hostname")


def connect(host, addr, port, src_port=None):
    """'open', 'refused' (the host answered with a reset) or 'dropped' (no answer in 3 s)."""
    src = "-p %d " % src_port if src_port else ""
    res = host.run("timeout 10 nc -v -z -w 3 %s%s %d" % (src, addr, port))
    out = res.stdout + res.stderr
    if res.rc == 0 and "succeeded" in out:
        return "open"
    if "refused" in out:
        return "refused"
    if "timed out" in out or res.rc == 124:
        return "dropped"
    raise AssertionError("nc to %s:%d from %s: rc=%d %s" % (addr, port, name_of(host), res.rc, out))


@pytest.fixture
def migration_listener(host):
    """A stand-in for a QEMU waiting for an incoming stream: a listener on a migration port of
    the migration address."""
    unit = "lm-fake-incoming"
    host.run("systemctl stop %s" % unit)
    host.check_output("systemd-run --unit=%s --collect timeout 120 nc -lk %s %d" % (unit, ADDR[name_of(host)], MIGRATION_PORT))
    for dummy in range(50):
        if host.run("ss -Hltn 'sport = :%d'" % MIGRATION_PORT).stdout.strip():
            break
        host.run("sleep 0.1")
    yield MIGRATION_PORT
    host.run("systemctl stop %s" % unit)


def test_outsider_is_dropped_on_the_libvirt_ports(host):
    me = ADDR[name_of(host)]
    outsider = other(OUTSIDER)
    assert connect(outsider, me, 16509) == "dropped"
    assert connect(outsider, me, 16514) == "dropped"


def test_outsider_is_dropped_on_a_migration_port(host, migration_listener):
    assert connect(other(OUTSIDER), ADDR[name_of(host)], migration_listener) == "dropped"


def test_peer_reaches_the_libvirt_port(host):
    me = name_of(host)
    assert connect(other(PEER[me]), ADDR[me], 16509) == "open"
    # nothing listens on 16514 with tcp_none: the peer's packets arrive and are refused
    assert connect(other(PEER[me]), ADDR[me], 16514) == "refused"


def test_peer_reaches_a_migration_port(host, migration_listener):
    me = name_of(host)
    assert connect(other(PEER[me]), ADDR[me], migration_listener) == "open"


def test_loopback_is_not_fenced(host):
    """Connections of the host to its own migration address go over lo."""
    assert connect(host, ADDR[name_of(host)], 16509) == "open"


def test_replies_to_own_connections_pass(host):
    """A connection from a local port in the migration range to a non-peer gets its replies:
    the fence drops new connections from other sources, not established traffic."""
    outsider = other(OUTSIDER)
    unit = "lm-outsider-listener"
    outsider.run("systemctl stop %s" % unit)
    outsider.check_output("systemd-run --unit=%s --collect timeout 60 nc -lk %s 8080" % (unit, OUTSIDER_ADDR))
    try:
        for dummy in range(50):
            if outsider.run("ss -Hltn 'sport = :8080'").stdout.strip():
                break
            outsider.run("sleep 0.1")
        src_port = 49200 + (1 if name_of(host) == "hv-b" else 0)
        assert connect(host, OUTSIDER_ADDR, 8080, src_port=src_port) == "open"
    finally:
        outsider.run("systemctl stop %s" % unit)


def _table(host):
    listing = host.check_output("nft list table %s" % TABLE)
    return re.sub(r"counter packets \d+ bytes \d+", "counter", listing)


def test_table_holds_only_the_peer_and_the_collection_ports(host):
    """The peer set is the compute group's other host (the side effect's extra peer is pruned)."""
    me = name_of(host)
    peers = host.check_output("nft -j list set %s peers_ipv4" % TABLE)
    assert '"%s"' % ADDR[PEER[me]] in peers
    assert ADDR[me] not in peers and "198.18.10.99" not in peers and OUTSIDER_ADDR not in peers
    table = _table(host)
    assert "tcp dport { 16509, 16514, 49152-49215 } jump fence" in table
    # the only base chain: nothing but these ports is filtered
    assert table.count("hook input") == 1 and "hook forward" not in table and "hook output" not in table


def test_table_comes_back_from_the_boot_configuration(host):
    """nftables.service is enabled and its configuration includes the table: loading it (what a
    boot does, flush ruleset first) gives the same table."""
    assert host.service("nftables").is_enabled
    assert host.file("/etc/nftables.conf").contains('include "/etc/nftables.d/openstack_ops_live_migration.nft"')
    before = _table(host)
    host.check_output("nft -f /etc/nftables.conf")
    assert _table(host) == before
