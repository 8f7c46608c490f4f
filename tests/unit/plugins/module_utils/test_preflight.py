"""Table-driven tests of the preflight verdicts."""
import errno
import socket

import pytest

from ansible_collections.openstack_ops.live_migration.plugins.module_utils import preflight as pf


@pytest.mark.parametrize("err,expected", [
    (socket.timeout(), pf.TIMEOUT),
    (OSError(errno.ECONNREFUSED, "refused"), pf.REFUSED),
    (OSError(errno.EHOSTUNREACH, "no route"), pf.UNREACHABLE),
    (OSError(errno.ENETUNREACH, "net unreachable"), pf.UNREACHABLE),
    (OSError(errno.ETIMEDOUT, "timed out"), pf.TIMEOUT),
    (OSError(errno.EACCES, "denied"), pf.ERROR),
])
def test_classify_connect_error(err, expected):
    assert pf.classify_connect_error(err) == expected


@pytest.mark.parametrize("outcome,service_ok,data_ok", [
    (pf.OPEN, True, True),
    (pf.REFUSED, False, True),   # nothing listens between migrations: path is fine
    (pf.TIMEOUT, False, False),  # filtered by a firewall
    (pf.UNREACHABLE, False, False),
    (pf.ERROR, False, False),
    (pf.BUSY, False, True),      # a running migration listens there: not probed, not held against the path
])
def test_port_verdicts(outcome, service_ok, data_ok):
    assert pf.service_port_ok(outcome) is service_ok
    assert pf.data_port_ok(outcome) is data_ok


@pytest.mark.parametrize("outcomes,ok,fragment", [
    ({49152: pf.REFUSED, 49153: pf.OPEN}, True, "2 ports reachable"),
    ({49152: pf.REFUSED, 49153: pf.TIMEOUT, 49154: pf.TIMEOUT}, False, "2 of 3 ports timeout (first 49153, last 49154)"),
    ({49152: pf.UNREACHABLE, 49153: pf.TIMEOUT}, False, "2 of 2 ports timeout/unreachable"),
    ({49152: pf.BUSY, 49153: pf.REFUSED}, True, "1 ports reachable (open or refused, none filtered), 1 in use by a "
                                                "running migration and not probed (49152)"),
])
def test_summarise_range(outcomes, ok, fragment):
    got_ok, detail = pf.summarise_range(outcomes)
    assert got_ok is ok
    assert fragment in detail


@pytest.mark.parametrize("free,need,ok", [(20 * 1024 ** 3, 10 * 1024 ** 3, True), (5 * 1024 ** 3, 10 * 1024 ** 3, False)])
def test_free_space(free, need, ok):
    assert pf.free_space_check("/var/lib/nova/instances", free, need)[0] is ok


def test_format_failures_lists_every_broken_pair():
    checks = [
        dict(node="a", peer="b", check="icmp", target="198.18.0.2", ok=True, detail="reply"),
        dict(node="a", peer="b", check="libvirt_port", target="198.18.0.2:16509", ok=False, detail="refused"),
        dict(node="b", peer="a", check="virsh", target="qemu+tcp://198.18.0.1/system", ok=False, detail="x"),
        dict(node="b", peer=None, check="disk", target="/var", ok=False, detail="1 GiB"),
    ]
    assert pf.format_failures(checks) == [
        "a -> b: libvirt_port 198.18.0.2:16509: refused",
        "b -> a: virsh qemu+tcp://198.18.0.1/system: x",
        "b -> -: disk /var: 1 GiB",
    ]


def test_tcp_probe_against_a_real_loopback_listener():
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(1)
    port = srv.getsockname()[1]
    try:
        assert pf.tcp_probe("127.0.0.1", port, 2) == pf.OPEN
    finally:
        srv.close()
    assert pf.tcp_probe("127.0.0.1", port, 2) == pf.REFUSED


def test_busy_ports_are_never_connected_to(monkeypatch):
    """A probe of a port where a QEMU waits for its incoming stream fails that migration (measured on the
    lab): the module must not even connect there."""
    from ansible_collections.openstack_ops.live_migration.plugins.modules import migration_preflight as mp
    probed = []
    monkeypatch.setattr(pf, "tcp_probe", lambda address, port, timeout: probed.append(port) or pf.REFUSED)

    class Module(object):
        params = dict(peers=[dict(name="hv2", address="192.0.2.12", busy_ports=[49152, 49200])],
                      checks=["migration_ports"], migration_port_min=49152, migration_port_max=49215,
                      libvirt_port=16514, libvirt_uri="", instances_path="/", min_free_gb=0, timeout=1)
    checks = mp.run_checks(Module())
    assert 49152 not in probed and 49200 not in probed and len(probed) == 62
    assert checks[0]["ok"] and "2 in use by a running migration and not probed (49152, 49200)" in checks[0]["detail"]
