#!/usr/bin/env python3
"""labctl: the lab's driver (Python 3.11 standard library only).

Control plane of the miniature OpenStack lab, run in the host namespace:

  MariaDB (Debian, socket only)      RabbitMQ (Debian) + its own epmd
  keystone   (gunicorn)  :5000       placement (gunicorn)  :8778
  nova-api   (gunicorn)  :8774       nova-conductor, nova-scheduler
  glance     (gunicorn)  :9292       neutron-server API (gunicorn) :9696

Everything lives in the state dir (default .cache/lab/state): data, configs,
pidfiles, logs, clouds.yaml. Every process the lab starts is the leader of its
own process group (pidfile = "pid starttime"), and carries LAB_STATE_DIR in its
environment so that cloud-down can find strays it started itself.

  python3 lab/labctl.py cloud-up    [--bind 198.18.20.1] [--test-iface lmlabtest]
  python3 lab/labctl.py cloud-status [--json]
  python3 lab/labctl.py cloud-down
  python3 lab/labctl.py service stop|start|restart nova-api   # one daemon (tests)
  python3 lab/labctl.py token-expiration 60|default           # keystone token lifetime (tests)

The whole lab (control plane bound on 198.18.20.1 + hypervisors hv1/hv2 as
systemd Podman containers on network lmlab, see lab_hypervisors.py):

  python3 lab/labctl.py up        # idempotent
  python3 lab/labctl.py status [--json]
  python3 lab/labctl.py boot      # server lmlab-guest-1 on hv1, waits for W lines
  python3 lab/labctl.py native-tls off|on   # QEMU's streams in clear for a while (tests, bench)
  python3 lab/labctl.py down      # nothing left: servers, containers, network, processes
"""

import argparse
import concurrent.futures as cf
import hashlib
import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from lab_hypervisors import HOST_ADDR, Hypervisors, HvError, proc_mem  # noqa: E402

LAB_DIR = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(LAB_DIR)
CACHE = os.path.join(REPO, ".cache", "lab")
DEFAULT_STATE = os.path.join(CACHE, "state")
DEFAULT_VENV = os.path.join(CACHE, "venv-cloud")
CONSTRAINTS = os.path.join(LAB_DIR, "constraints-cloud.txt")

PORTS = {
    "keystone": 5000,
    "nova-api": 8774,
    "placement": 8778,
    "glance": 9292,
    "neutron": 9696,
    "rabbit": 5672,
    "rabbit-dist": 25672,   # Erlang distribution: loopback only
    "epmd": 4369,           # loopback only
}
REGION = "RegionOne"
DATABASES = ["keystone", "nova_api", "nova", "nova_cell0", "placement",
             "glance", "neutron"]
SERVICE_USERS = ["nova", "placement", "glance", "neutron"]

# WSGI services: name -> (wsgi module:attr, config env var settings)
WSGI = {
    "keystone": "keystone.wsgi.api:application",
    "placement": "placement.wsgi.api:application",
    "nova-api": "nova.wsgi.osapi_compute:application",
    "glance": "glance.wsgi.api:application",
    "neutron": "neutron.wsgi.api:application",
}
# Catalog entries, registered only for services that answer.
CATALOG = {
    "keystone": ("keystone", "identity", "/v3"),
    "nova-api": ("nova", "compute", "/v2.1"),
    "placement": ("placement", "placement", ""),
    "glance": ("glance", "image", ""),
    "neutron": ("neutron", "network", ""),
}
# Start order (cloud-down stops in reverse).
COMPONENTS = ["mariadb", "epmd", "rabbit", "keystone", "placement", "glance",
              "neutron", "nova-api", "nova-conductor", "nova-scheduler"]


class LabError(Exception):
    pass


def log(msg):
    print(f"[labctl {time.strftime('%H:%M:%S')}] {msg}", flush=True)


# ---------------------------------------------------------------- processes

def proc_starttime(pid):
    try:
        with open(f"/proc/{pid}/stat") as f:
            data = f.read()
    except OSError:
        return None
    rest = data[data.rindex(")") + 2:].split()
    if rest[0] in ("Z", "X"):
        return None
    return rest[19]


def proc_env(pid):
    try:
        with open(f"/proc/{pid}/environ", "rb") as f:
            raw = f.read()
    except OSError:
        return {}
    env = {}
    for item in raw.split(b"\0"):
        k, sep, v = item.partition(b"=")
        if sep:
            env[k.decode(errors="replace")] = v.decode(errors="replace")
    return env


def all_pids():
    return [int(p) for p in os.listdir("/proc") if p.isdigit()]


class Lab:
    def __init__(self, args):
        self.state = os.path.abspath(args.state_dir)
        self.venv = os.path.abspath(args.venv)
        self.run = os.path.join(self.state, "run")
        self.logs = os.path.join(self.state, "logs")
        self.etc = os.path.join(self.state, "etc")
        self.stamps = os.path.join(self.state, "stamps")
        self.cfg_path = os.path.join(self.state, "lab.json")
        self.cfg = self._load_json(self.cfg_path) or {}
        self.cfg_lock = threading.Lock()
        self.args = args

    # ----------------------------------------------------------- helpers
    @staticmethod
    def _load_json(path):
        try:
            with open(path) as f:
                return json.load(f)
        except FileNotFoundError:
            return None

    @staticmethod
    def _write(path, text, mode=0o600):
        """Write if changed. Returns True when the content changed."""
        os.makedirs(os.path.dirname(path), exist_ok=True)
        try:
            with open(path) as f:
                if f.read() == text:
                    return False
        except FileNotFoundError:
            pass
        tmp = path + ".tmp"
        with open(tmp, "w") as f:
            f.write(text)
        os.chmod(tmp, mode)
        os.replace(tmp, path)
        return True

    def save_cfg(self, **updates):
        """Update lab.json (cloud and hypervisor steps run in parallel threads)."""
        with self.cfg_lock:
            self.cfg.update(updates)
            self._write(self.cfg_path, json.dumps(self.cfg, indent=1, sort_keys=True) + "\n")

    def bin(self, name):
        return os.path.join(self.venv, "bin", name)

    @property
    def bind(self):
        return self.cfg["bind"]

    @property
    def sock(self):
        return os.path.join(self.run, "mysql.sock")

    def db_url(self, db):
        return (f"mysql+pymysql://lab:{self.cfg['secrets']['db']}@localhost/"
                f"{db}?unix_socket={self.sock}&charset=utf8mb4")

    def transport_url(self):
        return (f"rabbit://lab:{self.cfg['secrets']['rabbit']}@"
                f"{self.bind}:{PORTS['rabbit']}/")

    def url(self, svc):
        return f"http://{self.bind}:{PORTS[svc]}"

    def base_env(self):
        env = dict(os.environ)
        env["PATH"] = os.path.join(self.venv, "bin") + ":" + env.get("PATH", "")
        env["LAB_STATE_DIR"] = self.state
        # before the first cloud-up (a fresh checkout) the lab has no bind address yet
        env["no_proxy"] = env["NO_PROXY"] = ",".join(
            a for a in ("localhost", "127.0.0.1", self.cfg.get("bind")) if a)
        for k in ("http_proxy", "https_proxy", "HTTP_PROXY", "HTTPS_PROXY",
                  "VIRTUAL_ENV", "PYTHONPATH", "OS_CLOUD"):
            env.pop(k, None)
        env["PYTHONUNBUFFERED"] = "1"
        return env

    def sh(self, argv, env=None, timeout=900, what=None, logname=None):
        """Run a one-shot command, log its output, raise on failure."""
        what = what or os.path.basename(argv[0])
        logfile = os.path.join(self.logs, (logname or "setup") + ".log")
        t0 = time.monotonic()
        with open(logfile, "a") as lf:
            shown = " ".join(argv)
            for secret in self.cfg.get("secrets", {}).values():
                shown = shown.replace(secret, "***")
            lf.write(f"\n=== {time.strftime('%F %T')} {shown}\n")
            lf.flush()
            p = subprocess.run(argv, stdin=subprocess.DEVNULL, stdout=lf,
                               stderr=subprocess.STDOUT, env=env or self.base_env(),
                               cwd=self.state, timeout=timeout)
        if p.returncode != 0:
            raise LabError(f"{what} failed (exit {p.returncode}); last lines "
                           f"of {logfile}:\n{tail(logfile)}")
        return time.monotonic() - t0

    # ------------------------------------------------------- pidfiles
    def pidfile(self, name):
        return os.path.join(self.run, name + ".pid")

    def read_pid(self, name):
        try:
            with open(self.pidfile(name)) as f:
                pid_s, start = f.read().split()
            return int(pid_s), start
        except (FileNotFoundError, ValueError):
            return None, None

    def alive(self, name):
        pid, start = self.read_pid(name)
        if pid and proc_starttime(pid) == start:
            return pid
        return None

    def spawn(self, name, argv, env=None, cwd=None):
        """Start a daemon as the leader of a new process group."""
        os.makedirs(self.run, exist_ok=True)
        logfile = os.path.join(self.logs, name + ".log")
        lf = open(logfile, "a")
        lf.write(f"\n=== {time.strftime('%F %T')} start: {' '.join(argv)}\n")
        lf.flush()
        p = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=lf,
                             stderr=subprocess.STDOUT, env=env or self.base_env(),
                             cwd=cwd or self.state, start_new_session=True)
        lf.close()
        start = None
        for _ in range(100):
            start = proc_starttime(p.pid)
            if start:
                break
            time.sleep(0.01)
        self._write(self.pidfile(name), f"{p.pid} {start}\n", 0o644)
        return p.pid

    def stop(self, name, timeout=20):
        pid = self.alive(name)
        if pid:
            tree = self.tree(pid)
            log(f"stopping {name} (pid {pid}, {len(tree)} processes)")
            try:
                os.killpg(pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
            deadline = time.monotonic() + timeout
            while time.monotonic() < deadline and any_alive(tree):
                time.sleep(0.2)
            for p, start in tree.items():
                if proc_starttime(p) == start:
                    log(f"{name}: pid {p} still alive after {timeout}s, SIGKILL")
                    try:
                        os.kill(p, signal.SIGKILL)
                    except ProcessLookupError:
                        pass
            time.sleep(0.2)
        try:
            os.unlink(self.pidfile(name))
        except FileNotFoundError:
            pass

    @staticmethod
    def tree(leader):
        """{pid: starttime} of the leader's process group and descendants."""
        parent = {}
        for p in all_pids():
            try:
                with open(f"/proc/{p}/stat") as f:
                    data = f.read()
            except OSError:
                continue
            rest = data[data.rindex(")") + 2:].split()
            parent[p] = (int(rest[1]), int(rest[2]))  # ppid, pgid
        members = {p for p, (_, pg) in parent.items() if pg == leader}
        members.add(leader)
        grew = True
        while grew:
            grew = False
            for p, (pp, _) in parent.items():
                if pp in members and p not in members:
                    members.add(p)
                    grew = True
        out = {}
        for p in members:
            st = proc_starttime(p)
            if st:
                out[p] = st
        return out

    def our_pids(self):
        """Every live process that carries this lab's marker."""
        me = os.getpid()
        out = []
        for pid in all_pids():
            if pid == me or not proc_starttime(pid):
                continue
            if proc_env(pid).get("LAB_STATE_DIR") == self.state:
                out.append(pid)
        return out

    def wait_for(self, name, check, timeout, what):
        """Poll check() until true; fail loudly when the daemon dies."""
        deadline = time.monotonic() + timeout
        while True:
            ok = False
            try:
                ok = check()
            except Exception:
                ok = False
            if ok:
                return
            if name and not self.alive(name):
                raise LabError(f"{name} died while waiting for {what}; last "
                               f"lines of its log:\n"
                               f"{tail(os.path.join(self.logs, name + '.log'))}")
            if time.monotonic() > deadline:
                raise LabError(f"timeout ({timeout}s) waiting for {what}; log:\n"
                               f"{tail(os.path.join(self.logs, (name or 'setup') + '.log'))}")
            time.sleep(0.3)

    # --------------------------------------------------------- state/config
    def init_state(self, bind):
        for d in (self.state, self.run, self.logs, self.etc, self.stamps):
            os.makedirs(d, exist_ok=True)
        os.chmod(self.state, 0o700)
        if "secrets" not in self.cfg:
            self.cfg["secrets"] = {k: secrets.token_hex(12) for k in
                                   ["db", "rabbit", "admin", "member"] +
                                   SERVICE_USERS}
        if bind:
            if self.cfg.get("bind") and self.cfg["bind"] != bind and \
                    self.running_components():
                raise LabError(f"the lab runs on {self.cfg['bind']}: "
                               f"cloud-down first to move it to {bind}")
            self.cfg["bind"] = bind
        self.cfg.setdefault("bind", "127.0.0.1")
        self.save_cfg()

    def running_components(self):
        return [c for c in COMPONENTS if self.alive(c)]

    def ensure_bind_address(self, dummy):
        addr = self.bind
        if addr.startswith("127."):
            return
        out = subprocess.run(["ip", "-o", "-4", "addr", "show"], check=True,
                             capture_output=True, text=True).stdout
        have = any(f" {addr}/" in line for line in out.splitlines())
        if have:
            return
        if not dummy:
            raise LabError(f"bind address {addr} is not on any interface. Put it "
                           f"on the lab bridge first, or pass --test-iface NAME "
                           f"to make a temporary test interface")
        if not (addr.startswith("198.18.") or addr.startswith("198.19.")):
            raise LabError("--test-iface is only for addresses in 198.18.0.0/15")
        # a dummy interface; kernels without the dummy driver (this Firecracker
        # one) get an empty bridge instead, like the lab bridge to come
        kind = "dummy"
        r = subprocess.run(["ip", "link", "add", dummy, "type", "dummy"],
                           capture_output=True, text=True)
        if r.returncode != 0:
            kind = "bridge"
            subprocess.run(["ip", "link", "add", dummy, "type", "bridge"], check=True)
        log(f"created test interface {dummy} ({kind}) with {addr}/24")
        self._write(os.path.join(self.run, "iface.json"),
                    json.dumps({"name": dummy, "addr": addr, "kind": kind}) + "\n")
        subprocess.run(["ip", "addr", "add", f"{addr}/24", "dev", dummy], check=True)
        subprocess.run(["ip", "link", "set", dummy, "up"], check=True)

    def remove_dummy(self):
        """Delete the test interface cloud-up made (recorded in iface.json)."""
        path = os.path.join(self.run, "iface.json")
        rec = self._load_json(path)
        if not rec:
            return
        name, kind = rec["name"], rec.get("kind", "dummy")
        info = subprocess.run(["ip", "-d", "link", "show", name],
                              capture_output=True, text=True)
        if info.returncode == 0 and f" {kind} " in info.stdout:
            if kind == "bridge" and os.listdir(f"/sys/class/net/{name}/brif"):
                raise LabError(f"test bridge {name} has ports now: not deleting it")
            log(f"deleting test interface {name} ({kind})")
            subprocess.run(["ip", "link", "del", name], check=True)
        os.unlink(path)

    def keystone_conf(self, token_expiration=None):
        """keystone.conf. token_expiration (seconds) is for `labctl token-expiration` only: the
        next cloud-up renders keystone's default (3600 s) again and restarts keystone."""
        st = self.state
        expiration = (f"# shortened by `labctl token-expiration` (a test): cloud-up restores it\n"
                      f"expiration = {int(token_expiration)}\n") if token_expiration else ""
        return f"""\
[DEFAULT]
debug = false
max_token_size = 255
[database]
connection = {self.db_url('keystone')}
[token]
provider = fernet
{expiration}[fernet_tokens]
key_repository = {st}/keystone/fernet-keys
[credential]
key_repository = {st}/keystone/credential-keys
[identity]
password_hash_rounds = 4
max_password_length = 72
[cache]
# per-process memory cache (one worker): token validation gets much cheaper
enabled = true
backend = oslo_cache.dict
"""

    def write_configs(self):
        """Render every config. Returns {component: changed?}."""
        s = self.cfg["secrets"]
        b = self.bind
        st = self.state
        changed = {}
        ks = f"http://{b}:{PORTS['keystone']}"

        def authtoken(user):
            return (f"[keystone_authtoken]\nwww_authenticate_uri = {ks}\n"
                    f"auth_url = {ks}\nauth_type = password\n"
                    f"project_domain_name = Default\nuser_domain_name = Default\n"
                    f"project_name = service\nusername = {user}\n"
                    f"password = {s[user]}\nregion_name = {REGION}\n"
                    f"service_token_roles_required = true\n")

        def client(section, user):
            return (f"[{section}]\nauth_type = password\nauth_url = {ks}\n"
                    f"project_domain_name = Default\nuser_domain_name = Default\n"
                    f"project_name = service\nusername = {user}\n"
                    f"password = {s[user]}\nregion_name = {REGION}\n"
                    f"valid_interfaces = internal,public\n")

        # keystone
        for d in ("keystone/fernet-keys", "keystone/credential-keys",
                  "glance/images", "glance/staging", "glance/tasks",
                  "nova/lock", "neutron/lock", "placement"):
            os.makedirs(os.path.join(st, d), exist_ok=True)
        os.chmod(os.path.join(st, "keystone"), 0o700)
        changed["keystone"] = self._write(f"{self.etc}/keystone/keystone.conf",
                                          self.keystone_conf())
        # placement
        changed["placement"] = self._write(f"{self.etc}/placement/placement.conf", f"""\
[DEFAULT]
debug = false
[api]
auth_strategy = keystone
[placement_database]
connection = {self.db_url('placement')}
{authtoken('placement')}""")
        # nova (api, conductor, scheduler share one file)
        self._copy_if_changed(os.path.join(self.venv, "etc/nova/api-paste.ini"),
                              f"{self.etc}/nova/api-paste.ini")
        nova = f"""\
[DEFAULT]
host = lab-control
my_ip = {b}
state_path = {st}/nova
transport_url = {self.transport_url()}
periodic_fuzzy_delay = 0
debug = false
[api]
auth_strategy = keystone
[wsgi]
api_paste_config = {self.etc}/nova/api-paste.ini
[api_database]
connection = {self.db_url('nova_api')}
[database]
connection = {self.db_url('nova')}
{authtoken('nova')}
{client('placement', 'nova')}
{client('neutron', 'nova')}
# service token beside the user's: Nova's calls for a user (neutron in post-live-migration)
# still pass once that user's token has expired (tests/lab/test_verdict.py)
{client('service_user', 'nova')}send_service_user_token = true
[glance]
valid_interfaces = internal,public
region_name = {REGION}
[conductor]
workers = 1
[scheduler]
workers = 1
discover_hosts_in_cells_interval = 10
[oslo_concurrency]
lock_path = {st}/nova/lock
[vnc]
enabled = false
[oslo_messaging_notifications]
driver = noop
"""
        changed["nova"] = self._write(f"{self.etc}/nova/nova.conf", nova)
        # glance
        self._copy_if_changed(os.path.join(self.venv, "etc/glance/glance-api-paste.ini"),
                              f"{self.etc}/glance/glance-api-paste.ini")
        changed["glance"] = self._write(f"{self.etc}/glance/glance-api.conf", f"""\
[DEFAULT]
debug = false
enabled_backends = fs:file
worker_self_reference_url = {self.url('glance')}
[database]
connection = {self.db_url('glance')}
{authtoken('glance')}
[paste_deploy]
flavor = keystone
config_file = {self.etc}/glance/glance-api-paste.ini
[glance_store]
default_backend = fs
[fs]
filesystem_store_datadir = {st}/glance/images
[os_glance_staging_store]
filesystem_store_datadir = {st}/glance/staging
[os_glance_tasks_store]
filesystem_store_datadir = {st}/glance/tasks
[oslo_concurrency]
lock_path = {st}/glance
""")
        # neutron
        self._copy_if_changed(os.path.join(self.venv, "etc/neutron/api-paste.ini"),
                              f"{self.etc}/neutron/api-paste.ini")
        c1 = self._write(f"{self.etc}/neutron/neutron.conf", f"""\
[DEFAULT]
debug = false
core_plugin = ml2
service_plugins =
auth_strategy = keystone
transport_url = {self.transport_url()}
api_paste_config = {self.etc}/neutron/api-paste.ini
state_path = {st}/neutron
notify_nova_on_port_status_changes = false
notify_nova_on_port_data_changes = false
[database]
connection = {self.db_url('neutron')}
{authtoken('neutron')}
[oslo_concurrency]
lock_path = {st}/neutron/lock
""")
        c2 = self._write(f"{self.etc}/neutron/ml2_conf.ini", """\
[ml2]
type_drivers = flat,vlan
tenant_network_types =
mechanism_drivers =
extension_drivers = port_security
[ml2_type_flat]
flat_networks = *
""")
        changed["neutron"] = c1 or c2
        # gunicorn wrapper: oslo.config must not see gunicorn's argv
        self._write(os.path.join(self.run, "labwsgi.py"), '''\
"""Load the WSGI app named by LAB_WSGI_APP with an empty argv."""
import importlib
import os
import sys

sys.argv = sys.argv[:1]
_mod, _, _attr = os.environ["LAB_WSGI_APP"].partition(":")
application = getattr(importlib.import_module(_mod), _attr)
''', 0o644)
        # rabbit
        rd = os.path.join(st, "rabbit")
        os.makedirs(rd, exist_ok=True)
        changed["rabbit"] = self._write(f"{rd}/rabbitmq.conf", f"""\
listeners.tcp.default = {b}:{PORTS['rabbit']}
default_user = lab
default_pass = {s['rabbit']}
loopback_users = none
log.file = rabbit@lab.log
log.file.level = warning
log.console = false
""")
        self._write(f"{rd}/enabled_plugins", "[].\n", 0o644)
        self._write(f"{rd}/rabbitmq-env.conf", "# the lab's env is in labctl.py\n", 0o644)
        self._write(f"{rd}/advanced.config", "[].\n", 0o644)
        self.write_clouds_yaml()
        return changed

    def _copy_if_changed(self, src, dst):
        with open(src) as f:
            return self._write(dst, f.read(), 0o644)

    def write_clouds_yaml(self):
        s = self.cfg["secrets"]
        ks = f"http://{self.bind}:{PORTS['keystone']}/v3"

        def cloud(name, user, project, pw):
            return (f"  {name}:\n    auth:\n      auth_url: \"{ks}\"\n"
                    f"      username: \"{user}\"\n      password: \"{pw}\"\n"
                    f"      project_name: \"{project}\"\n"
                    f"      user_domain_name: \"Default\"\n"
                    f"      project_domain_name: \"Default\"\n"
                    f"    region_name: \"{REGION}\"\n    interface: \"public\"\n"
                    f"    identity_api_version: 3\n")
        text = ("# Generated by lab/labctl.py: the lab's cloud, real password auth.\n"
                "clouds:\n" + cloud("lab-admin", "admin", "admin", s["admin"]) +
                cloud("lab-member", "demo", "demo", s["member"]))
        self._write(os.path.join(self.state, "clouds.yaml"), text)
        self._write(os.path.join(self.state, "env.sh"),
                    f"# source me: openstack --os-cloud lab-admin ...\n"
                    f"export OS_CLIENT_CONFIG_FILE={self.state}/clouds.yaml\n"
                    f"export PATH={self.venv}/bin:$PATH\n"
                    f"export no_proxy=localhost,127.0.0.1,{self.bind}\n", 0o644)

    # ------------------------------------------------------------ stamps
    def stamp_key(self, *parts):
        h = hashlib.sha256()
        with open(CONSTRAINTS, "rb") as f:
            h.update(f.read())
        for p in parts:
            h.update(str(p).encode())
        return h.hexdigest()

    def stamped(self, name, key):
        try:
            with open(os.path.join(self.stamps, name)) as f:
                return f.read().strip() == key
        except FileNotFoundError:
            return False

    def set_stamp(self, name, key):
        self._write(os.path.join(self.stamps, name), key + "\n", 0o644)

    # ------------------------------------------------------------ mariadb
    def mysql(self, sql):
        return subprocess.run(["mariadb", "--no-defaults", f"--socket={self.sock}",
                               "-uroot", "-N", "-e", sql], capture_output=True,
                              text=True, timeout=30)

    def up_mariadb(self, changed):
        datadir = os.path.join(self.state, "mysql")
        if not self.alive("mariadb"):
            if not os.path.isdir(os.path.join(datadir, "mysql")):
                log("mariadb: initialising data dir")
                self.sh(["mariadb-install-db", "--no-defaults", f"--datadir={datadir}",
                         "--user=root", "--auth-root-authentication-method=socket",
                         "--skip-test-db"], what="mariadb-install-db", logname="mariadb")
            self.spawn("mariadb", [
                "mariadbd", "--no-defaults", f"--datadir={datadir}",
                f"--socket={self.sock}", f"--pid-file={self.run}/mariadbd.pid",
                "--skip-networking", "--user=root",
                f"--log-error={self.logs}/mariadb-error.log",
                "--innodb-buffer-pool-size=64M", "--performance-schema=OFF",
                "--max-connections=1000", "--character-set-server=utf8mb4",
                "--collation-server=utf8mb4_general_ci",
                "--innodb-flush-log-at-trx-commit=2", "--skip-log-bin"])
        self.wait_for("mariadb", lambda: self.mysql("select 1").returncode == 0,
                      60, "mariadb socket")
        sql = "".join(f"CREATE DATABASE IF NOT EXISTS {d};" for d in DATABASES)
        pw = self.cfg["secrets"]["db"]
        sql += (f"CREATE USER IF NOT EXISTS 'lab'@'localhost' IDENTIFIED BY '{pw}';"
                f"ALTER USER 'lab'@'localhost' IDENTIFIED BY '{pw}';")
        sql += "".join(f"GRANT ALL PRIVILEGES ON {d}.* TO 'lab'@'localhost';"
                       for d in DATABASES)
        r = self.mysql(sql)
        if r.returncode != 0:
            raise LabError(f"mariadb: creating databases failed: {r.stderr}")

    # ------------------------------------------------------------ rabbit
    def rabbit_env(self):
        rd = os.path.join(self.state, "rabbit")
        env = self.base_env()
        env.update({
            "HOME": rd,
            "RABBITMQ_NODENAME": "lab@localhost",
            "RABBITMQ_MNESIA_BASE": f"{rd}/mnesia",
            "RABBITMQ_LOG_BASE": self.logs,
            "RABBITMQ_CONFIG_FILE": f"{rd}/rabbitmq.conf",
            "RABBITMQ_ADVANCED_CONFIG_FILE": f"{rd}/advanced.config",
            "RABBITMQ_ENABLED_PLUGINS_FILE": f"{rd}/enabled_plugins",
            "RABBITMQ_CONF_ENV_FILE": f"{rd}/rabbitmq-env.conf",
            "RABBITMQ_PID_FILE": f"{self.run}/rabbit-beam.pid",
            "RABBITMQ_DIST_PORT": str(PORTS["rabbit-dist"]),
            "ERL_EPMD_ADDRESS": "127.0.0.1",
            "ERL_EPMD_PORT": str(PORTS["epmd"]),
            "RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS":
                "-kernel inet_dist_use_interface {127,0,0,1}",
        })
        return env

    def rabbitmqctl(self, *a, timeout=90):
        return subprocess.run(["/usr/lib/rabbitmq/bin/rabbitmqctl", *a],
                              env=self.rabbit_env(), capture_output=True,
                              text=True, timeout=timeout)

    def up_rabbit(self, changed):
        if changed.get("rabbit") and self.alive("rabbit"):
            self.stop("rabbit")
        if not self.alive("epmd"):
            self.spawn("epmd", ["epmd", "-address", "127.0.0.1", "-port",
                                str(PORTS["epmd"])], env=self.rabbit_env())
        self.wait_for("epmd", lambda: port_open("127.0.0.1", PORTS["epmd"]), 20, "epmd")
        if not self.alive("rabbit"):
            self.spawn("rabbit", ["/usr/lib/rabbitmq/bin/rabbitmq-server"],
                       env=self.rabbit_env())
        self.wait_for("rabbit", lambda: port_open(self.bind, PORTS["rabbit"]), 120,
                      "rabbitmq listener")
        r = self.rabbitmqctl("wait", "--timeout", "60", f"{self.run}/rabbit-beam.pid")
        if r.returncode != 0:
            raise LabError(f"rabbitmqctl wait failed: {r.stdout}{r.stderr}")

    # ------------------------------------------------------------ syncs
    def sync_keystone(self):
        key = self.stamp_key(self.bind, self.cfg["secrets"]["admin"])
        if self.stamped("keystone-sync", key):
            return
        kc = ["--config-file", f"{self.etc}/keystone/keystone.conf"]
        km = self.bin("keystone-manage")
        ll = "keystone-manage"
        if not os.listdir(f"{self.state}/keystone/fernet-keys"):
            self.sh([km, *kc, "fernet_setup", "--keystone-user", "root",
                     "--keystone-group", "root"], logname=ll)
        if not os.listdir(f"{self.state}/keystone/credential-keys"):
            self.sh([km, *kc, "credential_setup", "--keystone-user", "root",
                     "--keystone-group", "root"], logname=ll)
        for d in ("fernet-keys", "credential-keys"):
            os.chmod(f"{self.state}/keystone/{d}", 0o700)
        self.sh([km, *kc, "db_sync"], logname=ll)
        ks = self.url("keystone") + "/v3"
        env = self.base_env()
        env["OS_BOOTSTRAP_PASSWORD"] = self.cfg["secrets"]["admin"]
        self.sh([km, *kc, "bootstrap", "--bootstrap-username", "admin",
                 "--bootstrap-project-name", "admin", "--bootstrap-role-name", "admin",
                 "--bootstrap-service-name", "keystone",
                 "--bootstrap-region-id", REGION,
                 "--bootstrap-admin-url", ks, "--bootstrap-public-url", ks,
                 "--bootstrap-internal-url", ks], env=env, logname=ll)
        self.set_stamp("keystone-sync", key)

    def sync_placement(self):
        key = self.stamp_key()
        if self.stamped("placement-sync", key):
            return
        env = self.base_env()
        env["OS_PLACEMENT_CONFIG_DIR"] = f"{self.etc}/placement"
        self.sh([self.bin("placement-manage"), "--config-dir", f"{self.etc}/placement",
                 "db", "sync"], env=env, logname="placement-manage")
        self.set_stamp("placement-sync", key)

    def sync_nova(self):
        key = self.stamp_key(self.transport_url())
        if self.stamped("nova-sync", key):
            return
        nm = [self.bin("nova-manage"), "--config-file", f"{self.etc}/nova/nova.conf"]
        ll = "nova-manage"
        self.sh([*nm, "api_db", "sync"], logname=ll)
        self.sh([*nm, "cell_v2", "map_cell0", "--database_connection",
                 self.db_url("nova_cell0")], logname=ll)
        # (a SQL look-up instead of one more nova-manage start)
        r = self.mysql("SELECT uuid FROM nova_api.cell_mappings WHERE name='cell1'")
        if r.returncode != 0:
            raise LabError(f"reading nova_api.cell_mappings failed: {r.stderr}")
        cell1 = r.stdout.split()
        if not cell1:
            self.sh([*nm, "cell_v2", "create_cell", "--name", "cell1",
                     "--transport-url", self.transport_url(),
                     "--database_connection", self.db_url("nova")], logname=ll)
        else:
            uuid = cell1[0]
            self.sh([*nm, "cell_v2", "update_cell", "--cell_uuid", uuid,
                     "--transport-url", self.transport_url(),
                     "--database_connection", self.db_url("nova")], logname=ll)
        self.sh([*nm, "db", "sync"], logname=ll)
        self.set_stamp("nova-sync", key)

    def sync_glance(self):
        key = self.stamp_key()
        if self.stamped("glance-sync", key):
            return
        self.sh([self.bin("glance-manage"), "--config-file",
                 f"{self.etc}/glance/glance-api.conf", "db_sync"], logname="glance-manage")
        self.set_stamp("glance-sync", key)

    def sync_neutron(self):
        key = self.stamp_key()
        if self.stamped("neutron-sync", key):
            return
        self.sh([self.bin("neutron-db-manage"), "--config-file",
                 f"{self.etc}/neutron/neutron.conf", "--config-file",
                 f"{self.etc}/neutron/ml2_conf.ini", "upgrade", "heads"],
                logname="neutron-db-manage")
        self.set_stamp("neutron-sync", key)

    # ------------------------------------------------------------ services
    def wsgi_env(self, name):
        env = self.base_env()
        env["LAB_WSGI_APP"] = WSGI[name]
        if name == "keystone":
            env["OS_KEYSTONE_CONFIG_DIR"] = f"{self.etc}/keystone"
            env["OS_KEYSTONE_CONFIG_FILES"] = "keystone.conf"
        elif name == "placement":
            env["OS_PLACEMENT_CONFIG_DIR"] = f"{self.etc}/placement"
        elif name == "nova-api":
            env["OS_NOVA_CONFIG_DIR"] = f"{self.etc}/nova"
            env["OS_NOVA_CONFIG_FILES"] = "api-paste.ini;nova.conf"
        elif name == "glance":
            env["OS_GLANCE_CONFIG_DIR"] = f"{self.etc}/glance"
        elif name == "neutron":
            env["OS_NEUTRON_CONFIG_DIR"] = f"{self.etc}/neutron"
            env["OS_NEUTRON_CONFIG_FILES"] = "neutron.conf;ml2_conf.ini"
        return env

    def up_wsgi(self, name, restart):
        if restart and self.alive(name):
            log(f"{name}: config changed, restarting")
            self.stop(name)
        if not self.alive(name):
            self.spawn(name, [
                self.bin("gunicorn"), "--no-control-socket",
                "--bind", f"{self.bind}:{PORTS[name]}",
                "--workers", "1", "--worker-class", "gthread", "--threads", "4",
                "--timeout", "300", "--graceful-timeout", "3",
                # every response closes its connection: gthread's keep-alive (2 s by default)
                # races a client that reuses an idle connection just as the worker closes it,
                # and the client gets "Remote end closed connection without response" (seen
                # in CI on nova-api, and on keystone, with 2 cores loaded by TCG guests)
                "--keep-alive", "0",
                "--pythonpath", self.run, "--name", f"lab-{name}",
                "--error-logfile", "-", "labwsgi:application"],
                env=self.wsgi_env(name))
        self.wait_for(name, lambda: http_status(self.url(name) + "/") in
                      (200, 300, 401), 240, f"{name} HTTP on {self.url(name)}")

    def up_nova_service(self, name, restart):
        if restart and self.alive(name):
            log(f"{name}: config changed, restarting")
            self.stop(name)
        if not self.alive(name):
            self.spawn(name, [self.bin(name), "--config-file",
                              f"{self.etc}/nova/nova.conf"])
        time.sleep(0.5)
        if not self.alive(name):
            raise LabError(f"{name} exited at once:\n"
                           f"{tail(os.path.join(self.logs, name + '.log'))}")

    def identity(self, final):
        """Keystone contents via openstacksdk (lab_identity.py, venv python).

        Base step (after keystone, placement, glance, neutron answer): users,
        projects, roles, catalog entries of the services answering now (nova's
        conductor and scheduler need placement's at startup), neutron warm-up.
        Final step: the catalog is made exactly the answering services (stale
        entries pruned), and it waits until conductor + scheduler are up.
        """
        s = self.cfg["secrets"]
        users_key = self.stamp_key(json.dumps(s, sort_keys=True))
        services = []
        for comp, (sname, stype, suffix) in CATALOG.items():
            if self.alive(comp) and http_status(self.url(comp) + "/") in (200, 300, 401):
                services.append({"name": sname, "type": stype,
                                 "url": self.url(comp) + suffix})
        spec = {
            "auth": {"auth_url": self.url("keystone") + "/v3", "username": "admin",
                     "password": s["admin"], "project_name": "admin",
                     "user_domain_name": "Default", "project_domain_name": "Default"},
            "region": REGION,
            "service_users": {u: s[u] for u in SERVICE_USERS},
            "member": {"user": "demo", "project": "demo", "password": s["member"]},
            "services": services,
            "users": not final and not self.stamped("identity-users", users_key),
            "prune": final,
            "wait_compute_services": {
                n: self.pidfile(n) for n in ("nova-conductor", "nova-scheduler")
            } if final else {},
        }
        name = "identity-final" if final else "identity-base"
        path = os.path.join(self.run, name + ".json")
        self._write(path, json.dumps(spec, indent=1))
        self.sh([self.bin("python"), os.path.join(LAB_DIR, "lab_identity.py"), path],
                logname="identity", what=f"{name} (keystone users/catalog)")
        if spec["users"]:
            self.set_stamp("identity-users", users_key)

    # ------------------------------------------- one service at a time (the tests' disruptions)
    def service(self, action, name):
        """stop / start / restart one control-plane daemon that cloud-up started, by its pidfile
        (SIGTERM to its process group, as cloud-down does), without rendering any config. start
        waits until a WSGI service answers HTTP. The lab tests stop nova-api for a while this way."""
        if not self.cfg.get("bind"):
            raise LabError("the control plane was never set up: run cloud-up (or up) first")
        if action in ("stop", "restart"):
            if not self.alive(name):
                log(f"{name}: not running")
            self.stop(name)
        if action in ("start", "restart"):
            t0 = time.monotonic()
            if name in WSGI:
                self.up_wsgi(name, False)
            else:
                self.up_nova_service(name, False)
            log(f"{name}: running (pid {self.alive(name)}, {time.monotonic() - t0:.1f} s)")

    def token_expiration(self, seconds):
        """keystone's [token] expiration for a test (None: keystone's default, 3600 s); restarts
        keystone only when keystone.conf changed. A later cloud-up renders the default again."""
        path = f"{self.etc}/keystone/keystone.conf"
        if not os.path.exists(path):
            raise LabError(f"{path} missing: run cloud-up (or up) first")
        changed = self._write(path, self.keystone_conf(seconds))
        log(f"keystone token expiration: {seconds or 'default (3600)'} s"
            f"{'' if changed else ' (unchanged)'}")
        if changed or not self.alive("keystone"):
            t0 = time.monotonic()
            self.up_wsgi("keystone", True)
            log(f"keystone: running (pid {self.alive('keystone')}, {time.monotonic() - t0:.1f} s)")

    # ------------------------------------------------------------ commands
    def cloud_up(self):
        self.cloud_start(self.cloud_prepare())

    def cloud_prepare(self):
        """State, secrets, bind address and config files: what the hypervisors' configuration
        needs too (a second or two). Returns what changed, for cloud_start."""
        if not os.path.exists(self.bin("nova-api")) and \
                not os.path.exists(self.bin("gunicorn")):
            raise LabError(f"no venv at {self.venv}: run lab/setup.sh first")
        self.init_state(self.args.bind)
        self.ensure_bind_address(self.args.dummy_iface)
        return self.write_configs()

    def cloud_start(self, changed):
        """Start (or keep) every control plane service; thread-safe next to the hypervisors'
        steps (`labctl up` runs both at once)."""
        t0 = time.monotonic()
        nova_changed = changed["nova"]
        timings = {}

        def timed(name, fn, *a):
            def run():
                t = time.monotonic()
                fn(*a)
                timings[name] = round(time.monotonic() - t, 1)
                log(f"{name}: ok ({timings[name]} s)")
            return run

        tasks = {
            "mariadb": ([], timed("mariadb", self.up_mariadb, changed)),
            "rabbit": ([], timed("rabbit", self.up_rabbit, changed)),
            "keystone-sync": (["mariadb"], timed("keystone-sync", self.sync_keystone)),
            "placement-sync": (["mariadb"], timed("placement-sync", self.sync_placement)),
            "nova-sync": (["mariadb"], timed("nova-sync", self.sync_nova)),
            "glance-sync": (["mariadb"], timed("glance-sync", self.sync_glance)),
            "neutron-sync": (["mariadb"], timed("neutron-sync", self.sync_neutron)),
            "keystone": (["keystone-sync"], timed("keystone", self.up_wsgi, "keystone",
                                                  changed["keystone"])),
            "placement": (["placement-sync"], timed("placement", self.up_wsgi,
                                                    "placement", changed["placement"])),
            "glance": (["glance-sync"], timed("glance", self.up_wsgi, "glance",
                                              changed["glance"])),
            "neutron": (["neutron-sync", "rabbit"], timed("neutron", self.up_wsgi,
                                                          "neutron", changed["neutron"])),
            "identity-base": (["keystone", "placement", "glance", "neutron"],
                              timed("identity-base", self.identity, False)),
            "nova-api": (["nova-sync", "rabbit"], timed("nova-api", self.up_wsgi,
                                                        "nova-api", nova_changed)),
            "nova-conductor": (["nova-sync", "rabbit", "identity-base"], timed(
                "nova-conductor", self.up_nova_service, "nova-conductor", nova_changed)),
            "nova-scheduler": (["nova-sync", "rabbit", "identity-base"], timed(
                "nova-scheduler", self.up_nova_service, "nova-scheduler", nova_changed)),
            "identity-final": (["identity-base", "nova-api", "nova-conductor",
                                "nova-scheduler"], timed("identity-final", self.identity,
                                                         True)),
        }
        run_dag(tasks, workers=self.args.jobs)
        total = round(time.monotonic() - t0, 1)
        self.save_cfg(last_up={"seconds": total, "steps": timings, "at": time.strftime("%F %T")})
        log(f"cloud-up done in {total} s; clouds.yaml: {self.state}/clouds.yaml")
        log(f"try: . {self.state}/env.sh && openstack --os-cloud lab-admin "
            f"compute service list")

    def cloud_down(self):
        t0 = time.monotonic()
        # API services and nova daemons together, then rabbit, then the DB.
        waves = [[c for c in COMPONENTS if c not in ("mariadb", "epmd", "rabbit")],
                 ["rabbit"], ["epmd"], ["mariadb"]]
        for wave in waves:
            with cf.ThreadPoolExecutor(max_workers=len(wave)) as pool:
                list(pool.map(lambda c: self.stop(c, timeout=30 if c == "mariadb"
                                                  else 15), wave))
        strays = self.our_pids()
        for pid in strays:
            log(f"stray process {pid} with this lab's marker: SIGTERM")
            try:
                os.kill(pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
        if strays:
            time.sleep(2)
            for pid in self.our_pids():
                log(f"stray process {pid}: SIGKILL")
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
        self.remove_dummy()
        left = self.our_pids()
        if left:
            raise LabError(f"processes left behind: {left}")
        log(f"cloud-down done in {round(time.monotonic() - t0, 1)} s")

    def collect_status(self):
        comps = []
        total_rss = total_pss = 0
        marked = set(self.our_pids())
        for comp in COMPONENTS:
            pid = self.alive(comp)
            entry = {"name": comp, "pid": pid, "running": bool(pid)}
            if pid:
                members = list(self.tree(pid))
                rss = pss = 0
                for p in members:
                    r, q = proc_mem(p)
                    rss += r
                    pss += q
                    marked.discard(p)
                entry.update(processes=len(members), rss_mb=round(rss / 1024),
                             pss_mb=round(pss / 1024))
                total_rss += rss
                total_pss += pss
            if comp in PORTS and "bind" in self.cfg:
                host = "127.0.0.1" if comp == "epmd" else self.bind
                entry["listen"] = f"{host}:{PORTS[comp]}"
            if comp in WSGI and "bind" in self.cfg:
                entry["url"] = self.url(comp)
                entry["http"] = http_status(self.url(comp) + "/") if pid else None
            comps.append(entry)
        return {"state_dir": self.state, "bind": self.cfg.get("bind"),
                "components": comps, "rss_mb": round(total_rss / 1024),
                "pss_mb": round(total_pss / 1024), "strays": sorted(marked),
                "clouds_yaml": os.path.join(self.state, "clouds.yaml"),
                "last_up": self.cfg.get("last_up")}

    def cloud_status(self):
        st = self.collect_status()
        if self.args.json:
            print(json.dumps(st, indent=1))
        else:
            print(f"state dir: {st['state_dir']}   bind: {st['bind']}")
            print(f"{'component':16} {'pid':>7} {'procs':>5} {'RSS MB':>7} "
                  f"{'PSS MB':>7}  endpoint")
            for c in st["components"]:
                ep = c.get("url") or c.get("listen") or ""
                if c.get("http") is not None:
                    ep += f"  (HTTP {c['http']})"
                print(f"{c['name']:16} {c['pid'] or '-':>7} {c.get('processes', ''):>5} "
                      f"{c.get('rss_mb', ''):>7} {c.get('pss_mb', ''):>7}  "
                      f"{ep if c['running'] else 'stopped'}")
            print(f"total: RSS {st['rss_mb']} MB, PSS {st['pss_mb']} MB")
            if st["strays"]:
                print(f"STRAY processes with this lab's marker: {st['strays']}")
            if st["last_up"]:
                print(f"last cloud-up: {st['last_up']['seconds']} s at "
                      f"{st['last_up']['at']}")
            print(f"clouds.yaml: {st['clouds_yaml']} (clouds lab-admin, lab-member)")
        running = [c for c in st["components"] if c["running"]]
        return 0 if len(running) in (0, len(COMPONENTS)) else 3


# ------------------------------------------------------------------ utils

def tail(path, n=25):
    try:
        with open(path, errors="replace") as f:
            return "".join(f.readlines()[-n:])
    except OSError:
        return "(no log)"


def any_alive(tree):
    return any(proc_starttime(p) == st for p, st in tree.items())


def port_open(host, port):
    try:
        with socket.create_connection((host, port), timeout=1):
            return True
    except OSError:
        return False


def http_status(url, timeout=5):
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    try:
        with opener.open(url, timeout=timeout) as r:
            return r.status
    except urllib.error.HTTPError as e:
        return e.code
    except Exception:
        return None


def run_dag(tasks, workers=4):
    """Run {name: (deps, fn)} with a thread pool as dependencies complete."""
    done, running, failed = set(), {}, []
    with cf.ThreadPoolExecutor(max_workers=workers) as pool:
        while True:
            if not failed:
                for name, (deps, fn) in tasks.items():
                    if name not in done and name not in running.values() and \
                            all(d in done for d in deps):
                        running[pool.submit(fn)] = name
            if not running:
                break
            fin, _ = cf.wait(list(running), return_when=cf.FIRST_COMPLETED)
            for fut in fin:
                name = running.pop(fut)
                exc = fut.exception()
                if exc:
                    failed.append((name, exc))
                else:
                    done.add(name)
    if failed:
        msg = "\n".join(f"--- {n}: {e}" for n, e in failed)
        raise LabError(f"cloud-up failed:\n{msg}")
    missing = set(tasks) - done
    if missing:
        raise LabError(f"cloud-up: steps never ran: {sorted(missing)}")


def lab_command(lab, args):
    hv = Hypervisors(lab, log, tail)
    if args.cmd == "up":
        args.bind = HOST_ADDR
        args.dummy_iface = None
        hv.up(lab.cloud_prepare, lab.cloud_start)
    elif args.cmd == "down":
        hv.down(lab.cloud_down)
    elif args.cmd == "boot":
        hv.boot(args.name, args.host)
    elif args.cmd == "native-tls":
        hv.native_tls(args.state == "on")
    elif args.cmd == "status":
        st = hv.status(lab.collect_status())
        if args.json:
            print(json.dumps(st, indent=1))
            return 0
        lab.args.json = False
        lab.cloud_status()
        n = st["network"]
        print(f"\nnetwork {n['name']} {n['subnet']}: host {n['host']} "
              f"(bridge lm-{n['name']} {'up' if n['bridge_up'] else 'absent'})")
        for h in st["hypervisors"]:
            print(f"{h['host']:4} {h['container']:10} {h['address']:13} {h['state']:8} " +
                  " ".join(f"{u}={h[u]}" for u in ("libvirtd", "libvirtd-tls.socket", "libvirtd-tcp.socket",
                                                     "virtlogd", "nova-compute") if u in h) +
                  (f"  procs={h['processes']} RSS {h['rss_mb']} MB PSS {h['pss_mb']} MB"
                   if "rss_mb" in h else ""))
        print(f"whole lab: RSS {st['total_rss_mb']} MB, PSS {st['total_pss_mb']} MB")
        for s in st.get("compute_services") or []:
            print(f"service {s['Binary']:15} {s['Host']:12} {s['Status']:8} {s['State']}")
        for s in st.get("servers") or []:
            print(f"server {s['ID']} {s['Name']} {s['Status']} host={s.get('Host')}")
        print(f"transport: {st['transport']}, libvirt URI {st['libvirt_uri']}")
        print(f"inventory: {st['inventory']}")
        if st["last_lab_up"]:
            print(f"last up: {st['last_lab_up']['seconds']} s at {st['last_lab_up']['at']}")
        running = [h for h in st["hypervisors"] if h["state"] == "running"]
        return 0 if len(running) in (0, len(st["hypervisors"])) else 3
    return 0


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--state-dir", default=os.environ.get("LAB_STATE", DEFAULT_STATE))
    ap.add_argument("--venv", default=os.environ.get("LAB_VENV", DEFAULT_VENV))
    sub = ap.add_subparsers(dest="cmd", required=True)
    up = sub.add_parser("cloud-up", help="start the control plane (idempotent)")
    up.add_argument("--bind", default=None,
                    help="address the services listen on (default: the last one "
                         "used, else 127.0.0.1); the lab network uses 198.18.20.1")
    up.add_argument("--test-iface", "--dummy-iface", dest="dummy_iface",
                    default=None, metavar="NAME",
                    help="if the bind address (198.18.0.0/15 only) is on no "
                         "interface, make a test interface NAME with it: dummy, "
                         "or an empty bridge where the kernel has no dummy "
                         "driver (cloud-down deletes it)")
    up.add_argument("--jobs", type=int, default=4, help="parallel steps")
    sub.add_parser("cloud-down", help="stop everything cloud-up started")
    lup = sub.add_parser("up", help="network + control plane + hypervisors hv1/hv2 + "
                         "prepare-compute.yml + nova-compute (idempotent)")
    lup.add_argument("--jobs", type=int, default=4, help="parallel steps of cloud-up")
    sub.add_parser("down", help="remove servers, hypervisors, control plane, network")
    lst = sub.add_parser("status", help="endpoints, hypervisors, servers, memory")
    lst.add_argument("--json", action="store_true")
    bt = sub.add_parser("boot", help="boot lmlab-guest-1 on hv1, wait for ACTIVE + W lines")
    bt.add_argument("--name", default="lmlab-guest-1")
    bt.add_argument("--host", default="hv1")
    ntls = sub.add_parser("native-tls", help="off: QEMU's migration streams in clear on both computes "
                          "(a nova.conf.d override; libvirt stays TLS), for the wire proof's control and "
                          "the bench; on: back to what prepare-compute.yml wrote. Restarts nova-compute")
    ntls.add_argument("state", choices=["on", "off"])
    st = sub.add_parser("cloud-status", help="show components, endpoints, memory")
    st.add_argument("--json", action="store_true")
    svc = sub.add_parser("service", help="stop, start or restart one control-plane daemon "
                         "(by its pidfile; configs untouched), e.g. `service stop nova-api`")
    svc.add_argument("action", choices=["stop", "start", "restart"])
    svc.add_argument("name", choices=[c for c in COMPONENTS if c in WSGI or c.startswith("nova-")])
    tok = sub.add_parser("token-expiration", help="keystone's token lifetime in seconds for a "
                         "test, or `default`; restarts keystone (cloud-up restores the default)")
    tok.add_argument("seconds", type=lambda v: None if v == "default" else int(v),
                     metavar="SECONDS|default")
    args = ap.parse_args(argv)
    if os.geteuid() != 0:
        print("labctl: run as root", file=sys.stderr)
        return 2
    lab = Lab(args)
    try:
        if args.cmd == "cloud-up":
            lab.cloud_up()
        elif args.cmd == "cloud-down":
            lab.cloud_down()
        elif args.cmd == "cloud-status":
            return lab.cloud_status()
        elif args.cmd == "service":
            lab.service(args.action, args.name)
        elif args.cmd == "token-expiration":
            lab.token_expiration(args.seconds)
        elif args.cmd in ("up", "down", "status", "boot", "native-tls"):
            return lab_command(lab, args)
    except (LabError, HvError) as e:
        print(f"labctl: ERROR: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
