"""hv-c and hv-d after prepare-compute.yml with transport tls."""
import configparser

import pytest

ADDR = {"hv-c": "198.18.10.13", "hv-d": "198.18.10.14"}
PEER = {"hv-c": "hv-d", "hv-d": "hv-c"}


def me(host):
    return host.check_output("hostname").strip()


def active_lines(host, path):
    return [l.strip() for l in host.file(path).content_string.splitlines() if l.strip() and not l.lstrip().startswith("#")]


def test_libvirtd_conf_tls_keys(host):
    active = active_lines(host, "/etc/libvirt/libvirtd.conf")
    for line in ("listen_tls = 1", "listen_tcp = 0", 'auth_tcp = "sasl"', "tls_no_verify_certificate = 0",
                 'ca_file = "/etc/pki/CA/cacert.pem"', 'cert_file = "/etc/pki/libvirt/servercert.pem"',
                 'key_file = "/etc/pki/libvirt/private/serverkey.pem"'):
        assert line in active


def test_qemu_encrypts_migration_streams(host):
    active = active_lines(host, "/etc/libvirt/qemu.conf")
    assert 'default_tls_x509_cert_dir = "/etc/pki/qemu"' in active
    assert "default_tls_x509_verify = 1" in active
    for name in ("ca-cert.pem", "server-cert.pem", "server-key.pem", "client-cert.pem", "client-key.pem"):
        f = host.file("/etc/pki/qemu/" + name)
        assert f.exists and f.size > 0
        assert f.group == "libvirt-qemu"
    assert host.file("/etc/pki/qemu/server-key.pem").mode == 0o640


def test_qemu_migration_streams_bound_to_the_migration_address(host):
    active = active_lines(host, "/etc/libvirt/qemu.conf")
    assert 'migration_address = "%s"' % ADDR[me(host)] in active
    assert "migration_port_min = 49152" in active
    assert "migration_port_max = 49215" in active
    for key in ("migration_address", "migration_port_min", "migration_port_max"):
        assert len([line for line in active if line.split("=")[0].strip() == key]) == 1, key


def test_tls_socket_listening_on_migration_address_and_tcp_closed(host):
    assert host.service("libvirtd-tls.socket").is_enabled
    assert host.service("libvirtd-tls.socket").is_running
    assert not host.service("libvirtd-tcp.socket").is_running
    listening = host.check_output("ss -Htln")
    assert "%s:16514" % ADDR[me(host)] in listening
    assert ":16509" not in listening


def test_peer_reachable_over_tls_with_certificates(host):
    peer = PEER[me(host)]
    out = host.check_output("timeout 60 virsh -c qemu+tls://%s/system hostname" % peer)
    assert out.strip() == peer


def test_peer_refuses_a_client_certificate_from_another_ca(host):
    peer = PEER[me(host)]
    res = host.run("timeout 60 virsh -c 'qemu+tls://%s/system?pkipath=/root/rogue-pki' hostname" % peer)
    assert res.rc != 0
    assert peer not in res.stdout


PROBE = r"""
import socket, ssl, sys
peer, cert = sys.argv[1], sys.argv[2]
ctx = ssl.create_default_context(cafile="/etc/pki/CA/cacert.pem")
ctx.check_hostname = False
if cert != "none":
    ctx.load_cert_chain("/etc/pki/libvirt/clientcert.pem", "/etc/pki/libvirt/private/clientkey.pem")
s = ctx.wrap_socket(socket.create_connection((peer, 16514), timeout=10), server_hostname=peer)
s.settimeout(5)
try:
    data = s.recv(1)
    print("closed" if data == b"" else "data")
except socket.timeout:
    print("open")
except (ssl.SSLError, OSError) as e:
    print("closed: %s" % e)
"""


@pytest.mark.parametrize("cert,expected", [("none", ("closed",)), ("valid", ("open", "data"))])
def test_peer_drops_a_tls_client_without_certificate(host, cert, expected):
    """libvirtd keeps a session with a valid client certificate (it waits, or speaks first)
    and drops one without a certificate."""
    peer = PEER[me(host)]
    out = host.check_output("python3 -c '%s' %s %s" % (PROBE.replace("'", "'\\''"), peer, cert))
    assert out.startswith(expected), out


def test_nova_conf_native_tls(host):
    cp = configparser.ConfigParser(interpolation=None, strict=False)
    cp.read_string(host.file("/etc/nova/nova.conf").content_string)
    lv = cp["libvirt"]
    assert lv["live_migration_scheme"] == "tls"
    assert lv["live_migration_with_native_tls"] == "true"
    assert lv["live_migration_inbound_addr"] == ADDR[me(host)]
    assert "live_migration_tunnelled" not in lv
