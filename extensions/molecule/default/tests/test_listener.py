"""hv-a and hv-b after prepare-compute.yml with tcp_none on socket activation."""
import configparser

import pytest

ADDR = {"hv-a": "198.18.10.11", "hv-b": "198.18.10.12"}
PEER = {"hv-a": "hv-b", "hv-b": "hv-a"}


def name_of(host):
    return host.check_output("hostname")


def test_libvirtd_conf_has_the_tcp_none_keys(host):
    conf = host.file("/etc/libvirt/libvirtd.conf").content_string
    active = [line.strip() for line in conf.splitlines() if line.strip() and not line.lstrip().startswith("#")]
    assert "listen_tcp = 1" in active
    assert "listen_tls = 0" in active
    assert 'auth_tcp = "none"' in active
    # the fatal all-zero example line must stay commented
    assert not any(line.startswith("host_uuid") for line in active)


def test_no_listen_argument_with_socket_activation(host):
    args = host.file("/etc/default/libvirtd").content_string
    assert not [l for l in args.splitlines() if l.strip().startswith("LIBVIRTD_ARGS=") and "--listen" in l]


@pytest.mark.parametrize("unit", ["libvirtd.socket", "libvirtd-ro.socket", "libvirtd-admin.socket", "libvirtd-tcp.socket"])
def test_sockets_enabled_and_listening(host, unit):
    svc = host.service(unit)
    assert svc.is_enabled
    assert svc.is_running


def test_tls_socket_closed(host):
    assert not host.service("libvirtd-tls.socket").is_running


def test_tcp_socket_bound_to_migration_address_only(host):
    me = name_of(host)
    dropin = host.file("/etc/systemd/system/libvirtd-tcp.socket.d/50-openstack-ops-listen.conf")
    assert dropin.contains("ListenStream=%s:16509" % ADDR[me])
    listening = host.check_output("ss -Htln 'sport = :16509'")
    assert "%s:16509" % ADDR[me] in listening
    assert "0.0.0.0:16509" not in listening and "*:16509" not in listening


def test_qemu_migration_streams_bound_to_the_migration_address(host):
    """QEMU's own listener for incoming memory and disk streams: the migration address and
    the port range the firewall opens, for every transport (not only tls)."""
    conf = host.file("/etc/libvirt/qemu.conf").content_string
    active = [line.strip() for line in conf.splitlines() if line.strip() and not line.lstrip().startswith("#")]
    assert 'migration_address = "%s"' % ADDR[name_of(host)] in active
    assert "migration_port_min = 49152" in active
    assert "migration_port_max = 49215" in active
    # tcp_none leaves QEMU's TLS alone
    assert not [line for line in active if line.startswith("default_tls_x509")]


def test_libvirtd_service_is_not_failed(host):
    assert host.run("systemctl is-failed libvirtd.service").stdout.strip() != "failed"


def test_peer_libvirt_reachable_over_tcp(host):
    """The real proof: this host's virsh talks to the peer's libvirtd over qemu+tcp."""
    peer = PEER[name_of(host)]
    out = host.check_output("timeout 60 virsh -c qemu+tcp://%s/system hostname" % peer)
    assert out.strip() == peer


def _nova(host):
    cp = configparser.ConfigParser(interpolation=None, strict=False)
    cp.read_string(host.file("/etc/nova/nova.conf").content_string)
    return cp


def test_nova_conf_has_current_migration_options(host):
    me = name_of(host)
    nova = _nova(host)
    lv = nova["libvirt"]
    assert lv["live_migration_scheme"] == "tcp"
    assert lv["live_migration_inbound_addr"] == ADDR[me]
    assert lv["live_migration_with_native_tls"] == "false"
    assert lv["live_migration_permit_auto_converge"] == "true"
    assert lv["live_migration_permit_post_copy"] == "false"
    assert lv["live_migration_timeout_action"] == "abort"
    assert nova["DEFAULT"]["max_concurrent_live_migrations"] == "1"
    for removed in ("block_migration_flag", "live_migration_flag", "live_migration_tunnelled", "live_migration_uri"):
        assert removed not in lv


def test_nova_compute_restarted_after_config(host):
    """The handler restarted nova-compute after nova.conf changed."""
    assert host.service("nova-compute").is_running
    started = host.check_output("systemctl show --timestamp=unix -p ActiveEnterTimestamp --value nova-compute")
    changed = int(host.check_output("stat -c %Y /etc/nova/nova.conf"))
    assert int(started.lstrip("@")) >= changed


WILDCARDS = ("0.0.0.0", "[::]", "*", "[::ffff:0.0.0.0]")


def _listen_samples(host):
    """(sample times, [(time, local address)]) from the sampler started in prepare.yml."""
    times, listeners = [], []
    for line in host.file("/var/log/lm-listen-samples.log").content_string.splitlines():
        fields = line.split()
        if len(fields) == 2 and fields[1] == "sample":
            times.append(float(fields[0]))
        elif len(fields) >= 5 and fields[1] == "LISTEN":
            listeners.append((float(fields[0]), fields[4]))
    return times, listeners


def test_no_wildcard_listener_ever_appeared(host):
    """Sampled ~10 times a second from the end of prepare through converge, idempotence and
    the bad inputs: libvirt's ports were never open on every address, not even for a moment
    (hv-b switches from traditional to socket mode: its sockets must start bound)."""
    assert host.service("lm-listen-sampler").is_running, "the sampler stopped: the record has a hole"
    times, listeners = _listen_samples(host)
    assert len(times) > 100, "too few samples (%d)" % len(times)
    gaps = [b - a for a, b in zip(times, times[1:])]
    assert max(gaps) < 5, "the sampler paused for %.1f s" % max(gaps)
    wide = sorted((t, local) for t, local in listeners if local.rsplit(":", 1)[0] in WILDCARDS)
    assert wide == [], "a wildcard listener (%s) in %d samples over %.1f s, from %.1f s after the first sample" % (
        ", ".join(sorted({local for dummy, local in wide})), len(wide), wide[-1][0] - wide[0][0], wide[0][0] - times[0])
    # the sampler does see the listener the role made
    assert "%s:16509" % ADDR[name_of(host)] in {local for dummy, local in listeners}
