"""The hypervisor half of the lab (Python 3.11 standard library only).

Used by labctl.py (`up`, `down`, `status`, `boot`, `hv-up`, `hv-down`):

  network lmlab 198.18.20.0/24 (tools/net.sh): host .1, hv1 .11, hv2 .12
  image   tools/image.sh build labhv  ->  + nova venv /opt/nova from the host's
          wheelhouse (pip --no-index)  ->  localhost/lm-labhv-nova:<content hash>
  two systemd Podman containers lmlab-hv1 / lmlab-hv2 (hostnames hv1 / hv2)
  /etc/nova/nova.conf.d/lab.conf per compute (the lab's part), /etc/nova/nova.conf
  (the collection's part: prepare-compute.yml writes the migration options)
  ansible-playbook playbooks/prepare-compute.yml on an inventory of both
  nova-compute.service started last; both computes up and mapped.
"""

import hashlib
import json
import os
import subprocess
import time
import uuid

import lab_api

NET = "lmlab"
SUBNET = "198.18.20.0/24"
HOST_ADDR = "198.18.20.1"
HVS = {"hv1": "198.18.20.11", "hv2": "198.18.20.12"}
CONTAINER = {h: f"lmlab-{h}" for h in HVS}
NOVA_VENV = "/opt/nova"
NOVA_REQS = ["nova==34.0.0", "libvirt-python==12.8.0", "async-timeout"]
# MiB/s: nova's live_migration_bandwidth, written by the collection (nova_migration_bandwidth).
# 0 = unlimited. Measured here (QEMU 7.2 TCG): a throttled precopy (20 MiB/s, several memory
# iterations) delivers a guest whose RAM is corrupt (kernel oops "list_del corruption" right
# after the switchover, then a reboot through panic=10 or a wedge with IRQs off), with Nova
# and with plain libvirt alike; unthrottled (~2 s of RAM copy) the guest survives. So the lab
# default is 0; tests throttle one migration explicitly (libvirt job bandwidth) to watch it.
DEFAULT_BANDWIDTH = 0
GUEST_NAME = "lmlab-guest-1"
COMPUTE_API = "2.95"
# How the hypervisors' libvirt and QEMU reach each other (libvirt_listener_transport):
# tls (the default, as the collection's) or tcp_none (the 2015 procedure, for comparison and
# for the wire proof's control). LAB_TRANSPORT chooses at `up`; lab.json keeps the choice.
TRANSPORTS = ("tls", "tcp_none")
DEFAULT_TRANSPORT = "tls"
# The throw-away PKI (a CA, a server and a client certificate per hypervisor, one client
# certificate for the controller) comes from the same script as the Molecule tls scenario's.
MAKE_PKI = os.path.join("extensions", "molecule", "shared", "make-pki.sh")
CONTROLLER = "controller"
CLEAR_STREAMS = "/etc/nova/nova.conf.d/zz-native-tls-off.conf"   # labctl native-tls off
# where libvirt_listener expects them (its defaults), from make-pki.sh's file names
PKI_FILES = (("ca-cert.pem", "/etc/pki/CA/cacert.pem", "0644"),
             ("{hv}-server-cert.pem", "/etc/pki/libvirt/servercert.pem", "0644"),
             ("{hv}-server-key.pem", "/etc/pki/libvirt/private/serverkey.pem", "0600"),
             ("{hv}-client-cert.pem", "/etc/pki/libvirt/clientcert.pem", "0644"),
             ("{hv}-client-key.pem", "/etc/pki/libvirt/private/clientkey.pem", "0600"))


def proc_mem(pid):
    """(rss_kb, pss_kb) of one process."""
    rss = pss = 0
    try:
        with open(f"/proc/{pid}/smaps_rollup") as f:
            for line in f:
                if line.startswith("Rss:"):
                    rss = int(line.split()[1])
                elif line.startswith("Pss:"):
                    pss = int(line.split()[1])
    except OSError:
        pass
    return rss, pss


class HvError(Exception):
    pass


class Hypervisors:
    def __init__(self, lab, log, tail):
        self.lab = lab
        self.log = log
        self.tail = tail
        self.repo = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
        self.tools = os.path.join(self.repo, "tools")
        self.wheels = os.path.join(self.repo, ".cache", "lab", "wheels")
        self.constraints = os.path.join(self.repo, "lab", "constraints-cloud.txt")
        self.ansible_dir = os.path.join(lab.state, "ansible")
        self.inventory = os.path.join(self.ansible_dir, "inventory.yml")

    # ------------------------------------------------------------ helpers
    def env(self):
        env = self.lab.base_env()
        env["CONTAINERS_CONF"] = os.path.join(self.tools, "containers.conf")
        return env

    def run(self, argv, check=True, timeout=600, input=None, logname="hypervisors"):
        """Run a command, its output into logs/<logname>.log; return stdout."""
        logfile = os.path.join(self.lab.logs, logname + ".log")
        os.makedirs(self.lab.logs, exist_ok=True)
        p = subprocess.run(argv, input=input, capture_output=True, text=True,
                           env=self.env(), timeout=timeout,
                           stdin=subprocess.DEVNULL if input is None else None)
        shown = " ".join(argv)
        for secret in self.lab.cfg.get("secrets", {}).values():
            shown = shown.replace(secret, "***")
        with open(logfile, "a") as lf:
            lf.write(f"\n=== {time.strftime('%F %T')} {shown} -> {p.returncode}\n")
            lf.write(p.stdout[-20000:])
            lf.write(p.stderr[-20000:])
        if check and p.returncode != 0:
            raise HvError(f"{shown[:200]} failed (exit {p.returncode}):\n"
                          f"{(p.stdout + p.stderr)[-3000:]}")
        return p.stdout

    def podman(self, *a, **kw):
        return self.run(["podman", *a], **kw)

    def cexec(self, hv, *a, **kw):
        opts = ["-i"] if kw.get("input") is not None else []
        return self.podman("exec", *opts, CONTAINER[hv], *a, **kw)

    def put(self, hv, path, text, mode="0644"):
        """Write a file in the container if its content differs. True = changed."""
        cur = self.podman("exec", CONTAINER[hv], "cat", path, check=False)
        if cur == text:
            return False
        self.cexec(hv, "sh", "-c", f"umask 022; mkdir -p \"$(dirname {path})\"; "
                   f"cat > {path}.lmtmp && chmod {mode} {path}.lmtmp && mv {path}.lmtmp {path}",
                   input=text)
        return True

    def openstack(self, *a, check=True, timeout=300, fmt_json=False):
        argv = [self.lab.bin("openstack"), "--os-cloud", "lab-admin",
                "--os-compute-api-version", COMPUTE_API, *a]
        if fmt_json:
            argv += ["-f", "json"]
        env = self.env()
        env["OS_CLIENT_CONFIG_FILE"] = os.path.join(self.lab.state, "clouds.yaml")
        p = subprocess.run(argv, capture_output=True, text=True, env=env, timeout=timeout)
        if check and p.returncode != 0:
            raise HvError(f"openstack {' '.join(a)} failed: {p.stderr[-2000:]}")
        if fmt_json:
            return json.loads(p.stdout) if p.returncode == 0 and p.stdout.strip() else None
        return p.stdout

    def containers(self):
        out = self.podman("ps", "-a", "--filter", "label=lm.lab=lmlab",
                          "--format", "json", check=False)
        try:
            items = json.loads(out or "[]")
        except ValueError:
            items = []
        return {c["Names"][0]: c["State"] for c in items}

    # ------------------------------------------------------------ network
    def net_up(self):
        self.run([os.path.join(self.tools, "net.sh"), "up", NET, SUBNET])

    def net_down(self):
        self.run([os.path.join(self.tools, "net.sh"), "down", NET])

    # ------------------------------------------------------------ image
    def image(self):
        """labhv (tools/image.sh) + the nova venv. Returns the ref (built or reused)."""
        t0 = time.monotonic()
        base = self.run([os.path.join(self.tools, "image.sh"), "build", "labhv"],
                        timeout=1800, logname="image").strip().splitlines()[-1]
        pipwhl = sorted(w for w in os.listdir(self.wheels) if w.startswith("pip-"))
        if not pipwhl:
            raise HvError(f"no pip wheel in {self.wheels}: run lab/setup.sh")
        script = (f"python3 -m venv --without-pip {NOVA_VENV} && "
                  f"{NOVA_VENV}/bin/python /wheels/{pipwhl[-1]}/pip install -q "
                  f"--no-index --find-links /wheels -c /constraints.txt pip "
                  + " ".join(NOVA_REQS) +
                  f" && {NOVA_VENV}/bin/nova-compute --version")
        h = hashlib.sha256()
        h.update(base.encode() + b"\n" + script.encode() + b"\n")
        with open(self.constraints, "rb") as f:
            h.update(f.read())
        for w in sorted(os.listdir(self.wheels)):
            st = os.stat(os.path.join(self.wheels, w))
            h.update(f"{w} {st.st_size}\n".encode())
        ref = f"localhost/lm-labhv-nova:{h.hexdigest()[:16]}"
        if subprocess.run(["podman", "image", "exists", ref], env=self.env()).returncode == 0:
            self.log(f"image {ref}: reused ({time.monotonic() - t0:.1f} s)")
            return ref
        self.log(f"image {ref}: installing nova into {base} (pip --no-index) ...")
        bname = "lmlab-novabuild"
        self.podman("rm", "-f", bname, check=False)
        try:
            self.podman("run", "--name", bname, "--network", "none", "--systemd=false",
                        "-v", f"{self.wheels}:/wheels:ro",
                        "-v", f"{self.constraints}:/constraints.txt:ro",
                        base, "bash", "-ec", script, timeout=1800, logname="image")
            self.podman("commit", "-q", "--change", 'CMD ["/sbin/init"]',
                        "--change", "STOPSIGNAL SIGRTMIN+3",
                        "--change", "LABEL lm.flavor=labhv-nova",
                        "--change", f"LABEL lm.parent={base}",
                        bname, ref, logname="image")
            self.podman("tag", ref, "localhost/lm-labhv-nova:latest", logname="image")
        finally:
            self.podman("rm", "-f", bname, check=False)
        self.log(f"image {ref}: built ({time.monotonic() - t0:.1f} s)")
        return ref

    # ------------------------------------------------------------ containers
    def hv_ids(self):
        """Stable per-hypervisor UUIDs (libvirt host_uuid, nova compute_id) in lab.json."""
        ids = {hv: dict(v) for hv, v in self.lab.cfg.get("hypervisors", {}).items()}
        for hv in HVS:
            ids.setdefault(hv, {"host_uuid": str(uuid.uuid4()),
                                "compute_id": str(uuid.uuid4())})
        self.lab.save_cfg(hypervisors=ids)
        return ids

    def container_up(self, hv, ref):
        name = CONTAINER[hv]
        cur = self.podman("inspect", "--format", "{{.ImageName}} {{.State.Status}}",
                          name, check=False).split()
        if cur and cur[0] != ref:
            self.log(f"{name}: image changed ({cur[0]} -> {ref}): recreating")
            self.podman("stop", "-t", "10", name, check=False)
            self.podman("rm", "-f", name, check=False)
            cur = []
        if not cur:
            hosts = [a for h, ip in HVS.items() for a in ("--add-host", f"{h}:{ip}")]
            self.podman("run", "-d", "--name", name, "--hostname", hv,
                        "--network", NET, "--ip", HVS[hv], *hosts,
                        "--systemd=always", "--label", "lm.lab=lmlab",
                        "--cap-add", "DAC_READ_SEARCH,NET_ADMIN,SYS_ADMIN", ref)
            self.log(f"{name}: started ({HVS[hv]})")
        elif cur[1] != "running":
            self.podman("start", name)
            self.log(f"{name}: restarted")
        deadline = time.monotonic() + 90
        while True:
            st = self.podman("exec", name, "systemctl", "is-system-running", "--wait",
                             check=False, timeout=60).strip()
            if st in ("running", "degraded"):
                break
            if time.monotonic() > deadline:
                raise HvError(f"{name}: systemd state {st!r}")
            time.sleep(1)

    def libvirt_host_uuid(self, hv, host_uuid):
        """Safe edit of libvirtd.conf: only an active host_uuid line is replaced, else one is
        appended; the commented all-zero example is never un-commented."""
        script = r'''
import re, sys
p, u = "/etc/libvirt/libvirtd.conf", sys.argv[1]
s = open(p).read()
line = f'host_uuid = "{u}"'
pat = re.compile(r'^[ \t]*host_uuid[ \t]*=.*$', re.M)
if pat.search(s):
    new = pat.sub(line, s)
else:
    new = s + ("" if s.endswith("\n") else "\n") + "# lab (lab/labctl.py): distinct per hypervisor\n" + line + "\n"
if new != s:
    open(p + ".lmtmp", "w").write(new)
    import os; os.chmod(p + ".lmtmp", 0o644); os.replace(p + ".lmtmp", p)
    print("changed")
'''
        out = self.cexec(hv, "python3", "-c", script, host_uuid)
        if "changed" in out:
            self.cexec(hv, "systemctl", "restart", "libvirtd.service")
            self.log(f"{CONTAINER[hv]}: host_uuid {host_uuid} (libvirtd restarted)")

    def nova_conf(self, hv):
        """The lab's part of nova.conf. The collection owns /etc/nova/nova.conf."""
        s = self.lab.cfg["secrets"]
        b = self.lab.bind
        ks = f"http://{b}:5000"

        def client(section):
            return (f"[{section}]\nauth_type = password\nauth_url = {ks}\n"
                    f"project_domain_name = Default\nuser_domain_name = Default\n"
                    f"project_name = service\nusername = nova\npassword = {s['nova']}\n"
                    f"region_name = RegionOne\nvalid_interfaces = internal,public\n")
        return f"""\
# Written by lab/labctl.py (the lab's part; prepare-compute.yml owns /etc/nova/nova.conf).
# Read after /etc/nova/nova.conf (--config-dir): keep migration options out of here.
[DEFAULT]
host = {hv}
my_ip = {HVS[hv]}
compute_driver = libvirt.LibvirtDriver
transport_url = {self.lab.transport_url()}
state_path = /var/lib/nova
instances_path = /var/lib/nova/instances
periodic_fuzzy_delay = 0
debug = false
[libvirt]
virt_type = qemu
cpu_mode = none
[keystone_authtoken]
www_authenticate_uri = {ks}
auth_url = {ks}
auth_type = password
project_domain_name = Default
user_domain_name = Default
project_name = service
username = nova
password = {s['nova']}
region_name = RegionOne
{client('placement')}
{client('neutron')}
# service token beside the user's: Nova's calls for a user (neutron in post-live-migration)
# still pass once that user's token has expired (tests/lab/test_verdict.py)
{client('service_user')}send_service_user_token = true
[glance]
valid_interfaces = internal,public
region_name = RegionOne
[oslo_concurrency]
lock_path = /var/lib/nova/lock
[vnc]
enabled = false
[oslo_messaging_notifications]
driver = noop
[nova_sys_admin]
helper_command = {NOVA_VENV}/bin/privsep-helper --config-file /etc/nova/nova.conf --config-dir /etc/nova/nova.conf.d
"""

    def configure(self, hv):
        ids = self.hv_ids()[hv]
        self.libvirt_host_uuid(hv, ids["host_uuid"])
        changed = self.put(hv, "/etc/nova/nova.conf.d/lab.conf", self.nova_conf(hv), "0640")
        # The collection's file: created once (a stub), never rewritten by the lab.
        self.cexec(hv, "sh", "-c", "test -e /etc/nova/nova.conf || printf '%s\\n' "
                   "'# nova.conf of the lab compute: migration options are written by' "
                   "'# openstack_ops.live_migration prepare-compute.yml; the rest is in nova.conf.d/lab.conf' "
                   "'[DEFAULT]' > /etc/nova/nova.conf")
        # nova's stable compute node UUID (survives container re-creation)
        self.cexec(hv, "sh", "-c", f"test -s /var/lib/nova/compute_id || "
                   f"echo {ids['compute_id']} > /var/lib/nova/compute_id")
        return changed

    # ------------------------------------------------------------ ansible
    def write_inventory(self):
        bw = int(os.environ.get("LAB_MIGRATION_BANDWIDTH", DEFAULT_BANDWIDTH))
        hosts = "".join(
            f"        {hv}:\n          ansible_host: {CONTAINER[hv]}\n"
            f"          libvirt_listener_address: {ip}\n"
            f"          nova_migration_inbound_addr: {ip}\n" for hv, ip in HVS.items())
        text = f"""\
# Generated by lab/labctl.py: the lab's two hypervisor containers.
# Transport {self.transport()} (LAB_TRANSPORT at `labctl up`). The certificates are the lab's
# own throw-away CA (state/pki, extensions/molecule/shared/make-pki.sh).
all:
  children:
    compute:
      hosts:
{hosts}      vars:
        ansible_connection: containers.podman.podman
        ansible_python_interpreter: /usr/bin/python3
{self.transport_vars()}        # the controller reads libvirt's job statistics (live_migrate's libvirt_uri) through the
        # fence the role puts around the libvirt ports (nftables in the lab's containers)
        libvirt_listener_firewall_extra_sources: [{HOST_ADDR}]
        nova_migration_require_nova: true
        nova_migration_compute_command: nova-compute
        nova_migration_bandwidth: {bw}
# labctl up runs prepare-compute.yml with -e prepare_compute_serial=2 (both hypervisors at
# once: no guest runs yet). A batch size is a play keyword, computed before any inventory
# variable exists: it has to be an extra var, never an inventory variable.
"""
        os.makedirs(self.ansible_dir, exist_ok=True)
        self.lab._write(self.inventory, text, 0o644)
        return self.inventory

    def transport_vars(self):
        if self.transport() == "tls":
            return "        libvirt_listener_transport: tls\n"
        return ("        # LAB ONLY: tcp_none (unauthenticated libvirt TCP, clear-text migration streams)\n"
                f"        # only because network {NET} ({SUBNET}) is isolated (no NAT, no default route,\n"
                "        # FORWARD DROP to anything else; see tools/net.sh)\n"
                "        libvirt_listener_transport: tcp_none\n"
                "        libvirt_listener_allow_unauthenticated_tcp: true\n")

    # ------------------------------------------------------------ transport and PKI
    def transport(self):
        """The transport this lab runs: the one `up` recorded in lab.json (tls before any up)."""
        return self.lab.cfg.get("transport") or DEFAULT_TRANSPORT

    @staticmethod
    def wanted_transport():
        """The transport `up` gives the lab: LAB_TRANSPORT, else tls. Never the one an earlier
        `LAB_TRANSPORT=tcp_none` run recorded: without the variable, the lab is secure again."""
        t = os.environ.get("LAB_TRANSPORT") or DEFAULT_TRANSPORT
        if t not in TRANSPORTS:
            raise HvError(f"LAB_TRANSPORT={t!r}: choose one of {', '.join(TRANSPORTS)}")
        return t

    @property
    def pki_dir(self):
        return os.path.join(self.lab.state, "pki")

    @property
    def controller_pki(self):
        """The controller's libvirt client files, for the URI parameter ?pkipath=DIR."""
        return os.path.join(self.pki_dir, CONTROLLER)

    def libvirt_uri(self):
        """The one definition of how the controller (tests, demo, live-migrate.yml) reaches a
        hypervisor's libvirt: a template with {host}, as live_migrate's libvirt_uri takes it.
        Published in state/libvirt-uri and in `status --json`."""
        if self.transport() == "tls":
            return f"qemu+tls://{{host}}/system?pkipath={self.controller_pki}"
        return "qemu+tcp://{host}/system"

    def ensure_pki(self):
        """The lab's CA and certificates (SAN = name + lab address), made again when missing or
        within 31 days of expiring (make-pki.sh signs for 90 days; libvirt_listener warns under 30,
        and a 2-day PKI of an older checkout is made anew). True when made anew."""
        d = self.pki_dir
        names = [*HVS, CONTROLLER]
        files = ["ca-cert.pem"] + [f"{n}-{k}-cert.pem" for n in names for k in ("server", "client")]
        fresh = all(os.path.exists(os.path.join(d, f)) and subprocess.run(
            ["openssl", "x509", "-checkend", str(31 * 86400), "-noout", "-in", os.path.join(d, f)],
            capture_output=True).returncode == 0 for f in files)
        if fresh:
            return False
        if os.path.isdir(d):
            subprocess.run(["rm", "-rf", d], check=True)
        pairs = [f"{hv}:{ip}" for hv, ip in HVS.items()] + [f"{CONTROLLER}:{HOST_ADDR}"]
        self.run([os.path.join(self.repo, MAKE_PKI), d, *pairs], logname="pki")
        os.makedirs(self.controller_pki, exist_ok=True)
        for src, dst in (("ca-cert.pem", "cacert.pem"), (f"{CONTROLLER}-client-cert.pem", "clientcert.pem"),
                         (f"{CONTROLLER}-client-key.pem", "clientkey.pem")):
            with open(os.path.join(d, src)) as f:
                self.lab._write(os.path.join(self.controller_pki, dst), f.read(),
                                0o600 if dst.endswith("key.pem") else 0o644)
        os.chmod(d, 0o700)
        self.log(f"pki: CA and certificates for {', '.join(names)} in {d}")
        return True

    def native_tls(self, on):
        """QEMU's native TLS for the migration streams off (a nova.conf.d file read after the
        collection's nova.conf; libvirt's own connection stays TLS) or back on (the file
        removed): the control of the wire proof and of the TLS bench. nova-compute restarts on
        both hypervisors; this returns once each has reported to Nova again."""
        if self.transport() != "tls":
            raise HvError(f"native-tls needs the tls transport; this lab runs {self.transport()}")
        api = self.api()

        def beats():
            return {s["host"]: s["updated_at"] for s in api.get(
                "compute", "/os-services?binary=nova-compute", COMPUTE_API)["services"]}
        before = beats()
        for hv in HVS:
            if on:
                self.cexec(hv, "rm", "-f", CLEAR_STREAMS)
            else:
                self.put(hv, CLEAR_STREAMS, "# labctl native-tls off: QEMU's migration streams in clear "
                         "(the wire proof's control, the TLS bench); `native-tls on` removes it\n"
                         "[libvirt]\nlive_migration_with_native_tls = false\n")
            self.start_compute(hv, restart=True)
        deadline = time.monotonic() + 120
        while any(now == before.get(h) for h, now in beats().items() if h in HVS):
            if time.monotonic() > deadline:
                raise HvError("nova-compute did not report again within 120 s of its restart")
            time.sleep(2)
        self.wait_computes()
        self.log(f"native TLS for the migration streams {'on' if on else 'OFF (streams in clear)'}")

    def install_pki(self, hv):
        """The CA and hv's certificates where libvirt_listener expects them. True = changed."""
        changed = False
        for src, dst, mode in PKI_FILES:
            with open(os.path.join(self.pki_dir, src.format(hv=hv))) as f:
                changed |= self.put(hv, dst, f.read(), mode)
        return changed

    def ansible_env(self):
        env = self.env()
        venv = os.path.join(self.repo, ".venv")
        env["PATH"] = os.path.join(venv, "bin") + ":" + env["PATH"]
        env["ANSIBLE_COLLECTIONS_PATH"] = os.path.join(self.repo, ".build", "collections")
        env["ANSIBLE_PIPELINING"] = "true"
        # per-task durations in logs/prepare-compute.log
        env["ANSIBLE_CALLBACKS_ENABLED"] = "ansible.posix.profile_tasks"
        env["ANSIBLE_FORCE_COLOR"] = "0"
        env["ANSIBLE_NOCOLOR"] = "1"
        env["ANSIBLE_RETRY_FILES_ENABLED"] = "false"
        env["ANSIBLE_LOCAL_TEMP"] = os.path.join(self.ansible_dir, "tmp")
        return env

    def prepare_compute(self, extra=()):
        coll = os.path.join(self.repo, ".build", "collections", "ansible_collections",
                            "openstack_ops", "live_migration")
        if not os.path.isdir(coll):
            raise HvError(f"collection not installed at {coll}: run `make collection`")
        pb = os.path.join(self.repo, ".venv", "bin", "ansible-playbook")
        if not os.path.exists(pb):
            raise HvError(f"no controller venv ({pb})")
        # both hypervisors in one batch: labctl prepares them before their nova-compute
        # starts, so no guest has to stay on a peer while the other one restarts
        argv = [pb, "-i", self.write_inventory(), "-e", f"prepare_compute_serial={len(HVS)}",
                os.path.join(self.repo, "playbooks", "prepare-compute.yml"), *extra]
        logfile = os.path.join(self.lab.logs, "prepare-compute.log")
        t0 = time.monotonic()
        with open(logfile, "a") as lf:
            lf.write(f"\n=== {time.strftime('%F %T')} {' '.join(argv)}\n")
            lf.flush()
            p = subprocess.run(argv, stdout=lf, stderr=subprocess.STDOUT,
                               env=self.ansible_env(), cwd=self.repo, timeout=1200)
        dt = time.monotonic() - t0
        recap = [ln for ln in self.tail(logfile, 6).splitlines() if "ok=" in ln]
        if p.returncode != 0:
            raise HvError(f"prepare-compute.yml failed (exit {p.returncode}); "
                          f"last lines of {logfile}:\n{self.tail(logfile, 40)}")
        self.log(f"prepare-compute.yml: ok ({dt:.1f} s) " + " | ".join(
            " ".join(r.split()) for r in recap))
        return dt

    # ------------------------------------------------------------ nova
    def compute_active_since(self, hv):
        """time.monotonic() at which nova-compute became active in hv, or None if it is not.
        (systemd in the container and this process read the same CLOCK_MONOTONIC.)"""
        out = self.cexec(hv, "systemctl", "show", "-p", "ActiveState,ActiveEnterTimestampMonotonic",
                         "nova-compute.service", check=False)
        props = dict(ln.split("=", 1) for ln in out.splitlines() if "=" in ln)
        if props.get("ActiveState") != "active":
            return None
        return int(props.get("ActiveEnterTimestampMonotonic") or 0) / 1e6

    def start_compute(self, hv, restart=False):
        self.cexec(hv, "systemctl", "restart" if restart else "start", "nova-compute.service")

    def discover(self):
        self.lab.sh([self.lab.bin("nova-manage"), "--config-file",
                     f"{self.lab.etc}/nova/nova.conf", "cell_v2", "discover_hosts"],
                    logname="nova-manage", what="nova-manage cell_v2 discover_hosts")

    def api(self):
        return lab_api.Api(f"http://{self.lab.bind}:5000", "admin",
                           self.lab.cfg["secrets"]["admin"], "admin")

    def wait_computes(self, timeout=240, interval=1.0):
        """Both nova-compute services up and enabled, both hypervisors up, hosts mapped."""
        deadline = time.monotonic() + timeout
        api = self.api()
        discovered = False
        last = ([], [], "")
        while True:
            try:
                svcs = api.get("compute", "/os-services?binary=nova-compute",
                               COMPUTE_API)["services"]
                hyps = api.get("compute", "/os-hypervisors/detail", COMPUTE_API)["hypervisors"]
                up = {s["host"] for s in svcs if s["state"] == "up" and s["status"] == "enabled"}
                hnames = {h["hypervisor_hostname"] for h in hyps if h.get("state") == "up"}
                last = (sorted(up), sorted(hnames), "")
            except lab_api.ApiError as e:
                up, hnames, last = set(), set(), (last[0], last[1], str(e))
            if set(HVS) <= up and set(HVS) <= hnames:
                if not discovered:
                    self.discover()
                return last[:2]
            if set(HVS) <= up and not discovered:
                self.discover()
                discovered = True
            for hv in HVS:
                st = self.cexec(hv, "systemctl", "is-active", "nova-compute", check=False).strip()
                if st == "failed":
                    log = self.cexec(hv, "tail", "-n", "30", "/var/log/nova/nova-compute.log",
                                     check=False)
                    raise HvError(f"nova-compute on {hv} failed:\n{log}")
            if time.monotonic() > deadline:
                raise HvError(f"computes not up after {timeout}s: services up {last[0]}, "
                              f"hypervisors {last[1]}" + (f"; last API error: {last[2]}"
                                                          if last[2] else ""))
            time.sleep(interval)

    # ------------------------------------------------------------ commands
    def up(self, cloud_prepare, cloud_start):
        import concurrent.futures as cf
        t0 = time.monotonic()
        timings = {}

        def timed(name, fn, *a):
            t = time.monotonic()
            r = fn(*a)
            timings[name] = round(time.monotonic() - t, 1)
            self.log(f"{name}: {timings[name]} s")
            return r

        if not os.path.isdir(self.wheels):
            raise HvError(f"no wheelhouse at {self.wheels}: run lab/setup.sh")
        transport, before = self.wanted_transport(), self.lab.cfg.get("transport")
        if before and before != transport and self.containers():
            # a transport change in place does not converge in one run of prepare-compute.yml
            # (issue 10, item 10): the lab starts its hypervisors afresh instead
            self.log(f"transport {before} -> {transport}: recreating the hypervisors")
            if self.lab.alive("nova-api") and (self.openstack(
                    "server", "list", "--all-projects", fmt_json=True, check=False) or []):
                raise HvError(f"this lab runs {before} and has servers, and `up` would give it {transport} "
                              f"(LAB_TRANSPORT={os.environ.get('LAB_TRANSPORT') or 'unset: tls'}): "
                              "`python3 lab/labctl.py down` first (it deletes them), or keep "
                              f"{before} with LAB_TRANSPORT={before}")
            for name in self.containers():
                self.podman("rm", "-f", "-t", "15", name, check=False, timeout=120)
        self.lab.save_cfg(transport=transport)
        timed("network", self.net_up)
        cloud_changed = timed("cloud-prepare", cloud_prepare)
        # The control plane starts in the background while the hypervisors are built and
        # prepared: the two share nothing until nova-compute starts (the critical path is
        # image -> containers -> prepare-compute.yml, ~90 s warm).
        cloud_ready = []

        def cloud():
            timed("cloud-up", cloud_start, cloud_changed)
            cloud_ready.append(time.monotonic())

        with cf.ThreadPoolExecutor(max_workers=1) as pool:
            fcloud = pool.submit(cloud)
            try:
                ref = timed("image", self.image)
                with cf.ThreadPoolExecutor(max_workers=2) as cpool:
                    list(cpool.map(lambda hv: timed(f"container-{hv}", self.container_up, hv,
                                                    ref), HVS))
                changed, was_running = {}, {}
                if transport == "tls":
                    timed("pki", self.ensure_pki)
                for hv in HVS:
                    was_running[hv] = self.compute_active_since(hv) is not None
                    changed[hv] = timed(f"configure-{hv}", self.configure, hv)
                    if transport == "tls" and self.install_pki(hv):
                        # new certificates under a running libvirtd, which reads them at start
                        self.cexec(hv, "systemctl", "try-restart", "libvirtd.service", check=False)
                self.lab._write(os.path.join(self.lab.state, "libvirt-uri"), self.libvirt_uri() + "\n", 0o644)
                # the collection's handler (re)starts nova-compute when it changes nova.conf
                timed("prepare-compute", self.prepare_compute)
            finally:
                # a failure on this side still waits for the cloud's threads (no orphans)
                t_wait = time.monotonic()
                fcloud.result()
                timings["cloud-wait"] = round(time.monotonic() - t_wait, 1)
        for hv in HVS:
            since = self.compute_active_since(hv)
            # nova-compute caches neutron's extension list at start (600 s): one started by the
            # handler before the control plane was ready starts again now
            early = since is not None and t0 < since < cloud_ready[0]
            # else start (no-op when running); restart only if the lab's part changed under a
            # nova-compute that ran before this `up`
            restart = early or (was_running[hv] and changed[hv])
            if early:
                self.log(f"{CONTAINER[hv]}: nova-compute started before the control plane "
                         "was ready: restarting it")
            self.start_compute(hv, restart=restart)
        res = timed("computes-up", self.wait_computes)
        total = round(time.monotonic() - t0, 1)
        self.lab.save_cfg(last_lab_up={"seconds": total, "steps": timings,
                                       "at": time.strftime("%F %T")})
        self.log(f"up done in {total} s: computes {res[0]}, hypervisors {res[1]}; "
                 f"inventory {self.inventory}")

    def delete_servers(self):
        if not self.lab.alive("nova-api"):
            return
        servers = self.openstack("server", "list", "--all-projects", fmt_json=True,
                                 check=False, timeout=60) or []
        if servers:
            ids = [s["ID"] for s in servers]
            self.log(f"deleting servers {ids}")
            self.openstack("server", "delete", "--wait", *ids, check=False, timeout=120)

    def down(self, cloud_down):
        t0 = time.monotonic()
        names = self.containers()
        if names:
            try:
                self.delete_servers()
            except Exception as e:  # the containers go anyway
                self.log(f"server delete: {e}")
        for name in names:
            self.podman("exec", name, "systemctl", "stop", "nova-compute", check=False,
                        timeout=60)
        for name in names:
            self.podman("stop", "-t", "15", name, check=False, timeout=120)
            self.podman("rm", "-f", name, check=False)
            self.log(f"{name}: removed")
        cloud_down()
        self.net_down()
        left = self.leftovers()
        if left:
            raise HvError(f"down left things behind: {left}")
        self.log(f"down done in {time.monotonic() - t0:.1f} s: nothing left")

    def leftovers(self):
        left = []
        if self.containers():
            left.append(f"containers {self.containers()}")
        if subprocess.run(["podman", "network", "exists", NET], env=self.env()).returncode == 0:
            left.append(f"podman network {NET}")
        if os.path.exists(f"/sys/class/net/lm-{NET}"):
            left.append(f"bridge lm-{NET}")
        ipt = subprocess.run(["iptables-save"], capture_output=True, text=True).stdout
        rules = [ln for ln in ipt.splitlines() if f"lm-{NET}" in ln or SUBNET in ln
                 or f"lm-net {NET}" in ln]
        if rules:
            left.append(f"iptables {rules}")
        with open("/proc/self/mountinfo") as f:
            mnts = [ln.split()[4] for ln in f if "lmlab" in ln or self.lab.state in ln]
        if mnts:
            left.append(f"mounts {mnts}")
        if self.lab.our_pids():
            left.append(f"processes {self.lab.our_pids()}")
        return left

    def container_mem(self, name):
        pid = self.podman("inspect", "--format", "{{.State.Pid}}", name, check=False).strip()
        if not pid or pid == "0":
            return 0, 0, 0
        tree = self.lab.tree(int(pid))
        rss = pss = 0
        for p in tree:
            r, q = proc_mem(p)
            rss += r
            pss += q
        return len(tree), rss, pss

    def status(self, cloud):
        out = {"network": {"name": NET, "subnet": SUBNET, "host": HOST_ADDR,
                           "bridge_up": os.path.exists(f"/sys/class/net/lm-{NET}")},
               "cloud": cloud, "hypervisors": [], "inventory": self.inventory,
               "transport": self.transport(), "libvirt_uri": self.libvirt_uri()}
        names = self.containers()
        trss, tpss = cloud["rss_mb"], cloud["pss_mb"]
        for hv, ip in HVS.items():
            name = CONTAINER[hv]
            e = {"host": hv, "container": name, "address": ip,
                 "state": names.get(name, "absent")}
            if names.get(name) == "running":
                sock = "libvirtd-tls.socket" if self.transport() == "tls" else "libvirtd-tcp.socket"
                for unit in ("libvirtd", sock, "virtlogd", "nova-compute"):
                    e[unit] = self.podman("exec", name, "systemctl", "is-active", unit,
                                          check=False).strip()
                n, rss, pss = self.container_mem(name)
                e.update(processes=n, rss_mb=round(rss / 1024), pss_mb=round(pss / 1024))
                trss += e["rss_mb"]
                tpss += e["pss_mb"]
                e["libvirt"] = self.libvirt_uri().replace("{host}", ip)
            out["hypervisors"].append(e)
        out["total_rss_mb"], out["total_pss_mb"] = trss, tpss
        if self.lab.alive("nova-api"):
            out["compute_services"] = self.openstack(
                "compute", "service", "list", fmt_json=True, check=False)
            out["servers"] = self.openstack(
                "server", "list", "--all-projects", "--long", "-c", "ID", "-c", "Name",
                "-c", "Status", "-c", "Host", fmt_json=True, check=False)
        out["last_lab_up"] = self.lab.cfg.get("last_lab_up")
        return out

    # ------------------------------------------------------------ boot
    def ensure_flavor_image(self):
        if self.openstack("flavor", "show", "m2.tiny", check=False, fmt_json=True) is None:
            self.openstack("flavor", "create", "m2.tiny", "--vcpus", "1", "--ram", "256",
                           "--disk", "1", "--public")
        img = os.path.join(self.repo, ".cache", "lab", "guest", "lmlab-guest.qcow2")
        have = self.openstack("image", "show", "lmlab-guest", check=False, fmt_json=True)
        if not os.path.exists(img):
            raise HvError(f"{img} missing: run lab/guest/build.sh")
        with open(img, "rb") as f:
            md5 = hashlib.md5(f.read()).hexdigest()
        if have is not None and have.get("checksum") != md5:
            # a rebuilt guest (lab/setup.sh rebuilds it when lmwriter.c or init changed)
            self.log(f"image lmlab-guest: {have.get('checksum')} -> {md5}: uploading it again")
            self.openstack("image", "delete", "lmlab-guest")
            have = None
        if have is None:
            self.openstack("image", "create", "lmlab-guest", "--disk-format", "qcow2",
                           "--container-format", "bare", "--public", "--file", img,
                           "--property", "hw_disk_bus=virtio")

    def console(self, server):
        return self.openstack("console", "log", "show", server, check=False)

    def boot(self, name=GUEST_NAME, host="hv1", timeout=240):
        t0 = time.monotonic()
        self.ensure_flavor_image()
        cur = self.openstack("server", "show", name, fmt_json=True, check=False)
        if cur and cur.get("status") != "ACTIVE":
            self.log(f"{name} is {cur.get('status')}: deleting it")
            self.openstack("server", "delete", "--wait", name)
            cur = None
        if not cur:
            self.openstack("server", "create", "--flavor", "m2.tiny", "--image", "lmlab-guest",
                           "--nic", "none", "--availability-zone", f"nova:{host}", "--wait",
                           name, timeout=timeout)
        srv = self.openstack("server", "show", name, fmt_json=True)
        if srv["status"] != "ACTIVE":
            raise HvError(f"{name}: status {srv['status']} {srv.get('fault')}")
        deadline = time.monotonic() + timeout
        while " W boot=" not in self.console(name):
            if time.monotonic() > deadline:
                raise HvError(f"{name}: no LMLAB W line on the console after {timeout}s:\n"
                              f"{self.console(name)[-2000:]}")
            time.sleep(3)
        self.log(f"{name} ACTIVE on {srv['OS-EXT-SRV-ATTR:host']} ({srv['id']}), "
                 f"writing; {time.monotonic() - t0:.1f} s")
        return srv
