"""Fixtures of the lab proof tests (issue 3): a real miniature OpenStack, two hypervisors.

Run as root with the controller venv:  .venv/bin/pytest -v tests/lab
The `lab` fixture (session) checks the lab with `lab/labctl.py status --json`:
  * lab up (both hypervisors running, both nova-compute services up): used as it is, left up;
  * lab not up: it runs `lab/labctl.py up` and, at the end of the session, `lab/labctl.py
    down` (set LAB_KEEP=1 to leave it up);
  * LAB_NO_AUTO_UP=1: a lab that is not up FAILS every test (never a skip).
Any problem bringing the lab up is a test failure with the labctl output.
"""

import json
import os
import re
import subprocess
import time

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
LABCTL = [os.path.join(REPO, ".venv", "bin", "python"), os.path.join(REPO, "lab", "labctl.py")]
STATE = os.environ.get("LAB_STATE", os.path.join(REPO, ".cache", "lab", "state"))
OPENSTACK = os.path.join(REPO, ".cache", "lab", "venv-cloud", "bin", "openstack")
RESULTS = os.path.join(STATE, "test-results")
HVS = {"hv1": "198.18.20.11", "hv2": "198.18.20.12"}
GUEST = "lmlab-guest-1"
LINE = re.compile(r"LMLAB (\w+) (.*)")


def libvirt_uri(host="{host}"):
    """The lab's libvirt URI template (state/libvirt-uri, written by `labctl up` for its
    transport: qemu+tls with the controller's ?pkipath=, or qemu+tcp), {host} filled when given."""
    with open(os.path.join(STATE, "libvirt-uri")) as f:
        return f.read().strip().replace("{host}", host)


def labctl(*args, timeout=1200):
    p = subprocess.run(LABCTL + list(args), capture_output=True, text=True, timeout=timeout)
    return p.returncode, p.stdout, p.stderr


def lab_is_up():
    rc, out, err = labctl("status", "--json", timeout=120)
    if rc != 0:
        return False, f"labctl status: exit {rc}\n{out[-2000:]}{err[-2000:]}"
    st = json.loads(out)
    hv = {h["host"]: h for h in st["hypervisors"]}
    if not all(hv[h]["state"] == "running" and hv[h].get("nova-compute") == "active"
               for h in HVS):
        return False, f"hypervisors: {st['hypervisors']}"
    up = {s["Host"] for s in st.get("compute_services") or []
          if s["Binary"] == "nova-compute" and s["State"] == "up"}
    if not set(HVS) <= up:
        return False, f"nova-compute services up: {sorted(up)}"
    return True, st


class Lab:
    """Thin helpers over the lab's CLI and libvirt, all through the generated clouds.yaml."""

    def __init__(self):
        self.env = dict(os.environ)
        self.env["OS_CLIENT_CONFIG_FILE"] = os.path.join(STATE, "clouds.yaml")
        self.env["no_proxy"] = self.env["NO_PROXY"] = "localhost,127.0.0.1,198.18.20.1"
        self.env["CONTAINERS_CONF"] = os.path.join(REPO, "tools", "containers.conf")
        for k in ("http_proxy", "https_proxy", "HTTP_PROXY", "HTTPS_PROXY", "OS_CLOUD"):
            self.env.pop(k, None)
        os.makedirs(RESULTS, exist_ok=True)

    def os(self, *args, check=True, json_out=False, timeout=600):
        argv = [OPENSTACK, "--os-cloud", "lab-admin", "--os-compute-api-version", "2.95",
                *args] + (["-f", "json"] if json_out else [])
        p = subprocess.run(argv, capture_output=True, text=True, env=self.env,
                           timeout=timeout)
        if check and p.returncode != 0:
            pytest.fail(f"openstack {' '.join(args)} -> exit {p.returncode}: {p.stderr[-3000:]}")
        if json_out:
            return json.loads(p.stdout) if p.returncode == 0 else None
        return p

    def os_bg(self, *args):
        argv = [OPENSTACK, "--os-cloud", "lab-admin", "--os-compute-api-version", "2.95", *args]
        return subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                text=True, env=self.env)

    def server(self, name=GUEST):
        return self.os("server", "show", name, json_out=True)

    def console(self, name=GUEST):
        return self.os("console", "log", "show", name).stdout

    def migrations(self, uuid):
        """Every migration of the server, final ones included (os-migrations)."""
        return self.os("server", "migration", "list", "--server", uuid, json_out=True) or []

    def podman(self, *args, check=True, timeout=120):
        p = subprocess.run(["podman", *args], capture_output=True, text=True, env=self.env,
                           timeout=timeout)
        if check and p.returncode != 0:
            pytest.fail(f"podman {' '.join(args)}: {p.stderr}")
        return p

    def libvirt(self, hv):
        import libvirt
        libvirt.registerErrorHandler(lambda _ctx, _err: None, None)  # errors are raised anyway
        return libvirt.open(libvirt_uri(HVS[hv]))

    def domains(self, hv):
        import libvirt
        conn = self.libvirt(hv)
        try:
            out = {}
            for d in conn.listAllDomains():
                st, _ = d.state()
                out[d.UUIDString()] = st
            return out
        finally:
            conn.close()

    def record(self, name, data):
        path = os.path.join(RESULTS, name + ".json")
        with open(path, "w") as f:
            json.dump(data, f, indent=1, default=str)
        return path


def parse_console(text):
    """{'W': [dict], 'V': [...], 'M': [...], 'BOOTCHECK': [...], 'START': [...]} (ints)."""
    out = {}
    for line in text.splitlines():
        m = LINE.search(line)
        if not m:
            continue
        kv = {}
        for item in m.group(2).split():
            k, sep, v = item.partition("=")
            if sep:
                try:
                    kv[k] = int(v)
                except ValueError:
                    try:
                        kv[k] = float(v)
                    except ValueError:
                        kv[k] = v
        out.setdefault(m.group(1), []).append(kv)
    return out


def max_seq(text):
    w = parse_console(text).get("W", [])
    return max((x["seq"] for x in w), default=0)


@pytest.fixture(scope="session")
def lab():
    if os.geteuid() != 0:
        pytest.fail("the lab tests need root (rootful podman, the lab's state dir)")
    ok, info = lab_is_up()
    started = False
    if not ok:
        if os.environ.get("LAB_NO_AUTO_UP") == "1":
            pytest.fail(f"the lab is not up (LAB_NO_AUTO_UP=1): {info}\n"
                        f"run: python3 lab/labctl.py up")
        t0 = time.monotonic()
        rc, out, err = labctl("up", timeout=2400)
        if rc != 0:
            pytest.fail(f"lab/labctl.py up failed (exit {rc}):\n{out[-4000:]}\n{err[-4000:]}")
        started = True
        ok, info = lab_is_up()
        if not ok:
            pytest.fail(f"lab/labctl.py up returned 0 but the lab is not up: {info}")
        print(f"lab brought up by the fixture in {time.monotonic() - t0:.0f} s")
    yield Lab()
    if started and os.environ.get("LAB_KEEP") != "1":
        rc, out, err = labctl("down", timeout=600)
        assert rc == 0, f"lab/labctl.py down failed:\n{out[-3000:]}\n{err[-3000:]}"


@pytest.fixture(scope="session")
def guest(lab):
    """The guest server, ACTIVE and writing (lab/labctl.py boot, on hv1 when created)."""
    rc, out, err = labctl("boot", timeout=600)
    if rc != 0:
        pytest.fail(f"lab/labctl.py boot failed (exit {rc}):\n{out[-3000:]}\n{err[-3000:]}")
    srv = lab.server()
    assert srv["status"] == "ACTIVE", srv
    return srv
