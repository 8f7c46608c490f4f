"""Shared helpers of the lab benchmarks (Python 3.11+; openstacksdk and libvirt-python from
the project's .venv where noted). Nothing here asserts anything: the benchmarks print numbers.

Clocks: every timestamp is Unix time (time.time()). The host and the hypervisor containers
share one kernel clock, so the tools' start/end, the nova-api log (host), the nova-compute
logs (containers) and Nova's migration records (UTC, from the database) are comparable.
"""

import datetime
import json
import os
import re
import statistics
import subprocess
import sys
import time

BENCH = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(BENCH)
LAB_DIR = os.path.join(REPO, "lab")
CACHE = os.path.join(REPO, ".cache")
CACHE_LAB = os.path.join(CACHE, "lab")
STATE = os.environ.get("LAB_STATE", os.path.join(CACHE_LAB, "state"))
CLOUD_VENV = os.environ.get("LAB_VENV", os.path.join(CACHE_LAB, "venv-cloud"))
OPENSTACK = os.path.join(CLOUD_VENV, "bin", "openstack")
CLOUDS_YAML = os.path.join(STATE, "clouds.yaml")
VENV = os.path.join(REPO, ".venv")
COLLECTIONS = os.path.join(REPO, ".build", "collections")
LABCTL = os.path.join(LAB_DIR, "labctl.py")
CLOUD = "lab-admin"
COMPUTE_API = "2.95"          # what labctl and tests/lab use with openstackclient
BENCH_PREFIX = "lmlab-bench"  # the only servers these scripts create, move or delete
CLK_TCK = os.sysconf("SC_CLK_TCK")

sys.path.insert(0, LAB_DIR)
sys.path.insert(0, COLLECTIONS)   # the installed collection: the final statuses are defined once, in waiter.py
from lab_hypervisors import CONTAINER, HOST_ADDR, HVS, proc_mem  # noqa: E402
from ansible_collections.openstack_ops.live_migration.plugins.module_utils.errors import NovaError  # noqa: E402
from ansible_collections.openstack_ops.live_migration.plugins.module_utils.nova import NovaApi  # noqa: E402
from ansible_collections.openstack_ops.live_migration.plugins.module_utils.waiter import migration_finished  # noqa: E402

NOVA_API_LOG = os.path.join(STATE, "logs", "nova-api.log")


def libvirt_uri():
    """The lab's libvirt URI template for its transport (state/libvirt-uri, from `labctl up`)."""
    with open(os.path.join(STATE, "libvirt-uri")) as f:
        return f.read().strip()
NOVA_COMPUTE_LOG = "/var/log/nova/nova-compute.log"   # inside each hypervisor container


def log(msg):
    print(f"[bench {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def env():
    """Environment for the lab's clients: clouds.yaml, the collection, no proxy."""
    e = dict(os.environ)
    for k in ("http_proxy", "https_proxy", "HTTP_PROXY", "HTTPS_PROXY", "OS_CLOUD"):
        e.pop(k, None)
    e["no_proxy"] = e["NO_PROXY"] = f"localhost,127.0.0.1,{HOST_ADDR}," + ",".join(HVS.values())
    e["OS_CLIENT_CONFIG_FILE"] = CLOUDS_YAML
    # BENCH_COLLECTIONS: the ansible-playbook runs use another build of the collection (an older
    # commit's `make collection`), to compare the module's overhead before and after a change in
    # the same lab and the same run conditions; the bench's own code always comes from this checkout
    e["ANSIBLE_COLLECTIONS_PATH"] = os.environ.get("BENCH_COLLECTIONS") or COLLECTIONS
    e["PATH"] = os.path.join(VENV, "bin") + ":" + e.get("PATH", "")
    e["ANSIBLE_NOCOLOR"] = "1"
    e["ANSIBLE_FORCE_COLOR"] = "false"
    e["CONTAINERS_CONF"] = os.path.join(REPO, "tools", "containers.conf")
    return e


def use_lab_env():
    """Make this process a client of the lab (openstacksdk reads os.environ)."""
    e = env()
    os.environ.clear()
    os.environ.update(e)


def run(argv, timeout=600, check=True, **kw):
    p = subprocess.run(argv, capture_output=True, text=True, env=kw.pop("env", env()),
                       timeout=timeout, stdin=subprocess.DEVNULL, **kw)
    if check and p.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)[:200]} -> exit {p.returncode}\n"
                           f"{(p.stdout + p.stderr)[-3000:]}")
    return p


# ------------------------------------------------------------------ numbers

def median(values):
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else None


def fmt(v, digits=2, width=0):
    if v is None:
        text = "-"
    elif isinstance(v, float):
        text = f"{v:.{digits}f}"
    else:
        text = str(v)
    return text.rjust(width) if width else text


def table(headers, rows, digits=2):
    """Plain fixed-width table (numbers right-aligned)."""
    cells = [[fmt(c, digits) for c in r] for r in rows]
    widths = [max([len(h)] + [len(r[i]) for r in cells]) for i, h in enumerate(headers)]
    lines = ["  ".join(h.rjust(w) for h, w in zip(headers, widths))]
    lines.append("  ".join("-" * w for w in widths))
    for r in cells:
        lines.append("  ".join(c.rjust(w) for c, w in zip(r, widths)))
    return "\n".join(lines)


# ------------------------------------------------------------------ time stamps

def utc_iso_to_unix(text):
    """Nova's '2026-11-26T11:24:03.000000' (UTC, no zone) or with Z/+00:00 -> Unix time."""
    if not text:
        return None
    d = datetime.datetime.fromisoformat(text.replace("Z", "+00:00"))
    if d.tzinfo is None:
        d = d.replace(tzinfo=datetime.timezone.utc)
    return d.timestamp()


LOG_TS = re.compile(r"^(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d)\.(\d{3}) ")


def oslo_log_ts(line, utc_offset_s=0):
    """Unix time of an oslo.log line ('2026-11-26 11:23:50.755 ...', local time of its writer)."""
    m = LOG_TS.match(line)
    if not m:
        return None
    d = datetime.datetime.strptime(m.group(1), "%Y-%m-%d %H:%M:%S").replace(
        tzinfo=datetime.timezone.utc)
    return d.timestamp() + int(m.group(2)) / 1000.0 - utc_offset_s


def host_utc_offset():
    return -time.altzone if time.localtime().tm_isdst > 0 else -time.timezone


_container_offsets = {}


def container_utc_offset(hv):
    if hv not in _container_offsets:
        out = run(["podman", "exec", CONTAINER[hv], "date", "+%z"]).stdout.strip()  # +0000
        sign = -1 if out.startswith("-") else 1
        _container_offsets[hv] = sign * (int(out[1:3]) * 3600 + int(out[3:5]) * 60)
    return _container_offsets[hv]


# ------------------------------------------------------------------ processes

def read_stat(path):
    """(comm, the fields after it) of a /proc/PID/stat or /proc/PID/task/TID/stat file, or
    (None, None) when the process is gone. rest[11] + rest[12] = utime + stime in ticks."""
    try:
        with open(path) as f:
            data = f.read()
    except OSError:
        return None, None
    return data[data.index("(") + 1:data.rindex(")")], data[data.rindex(")") + 2:].split()


def proc_table():
    """{pid: (ppid, pgid, comm, cpu_ticks, starttime)} of every process, one /proc scan."""
    out = {}
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        comm, rest = read_stat(f"/proc/{name}/stat")
        if rest is None:
            continue
        if rest[0] in ("Z", "X"):
            continue
        out[int(name)] = (int(rest[1]), int(rest[2]), comm, int(rest[11]) + int(rest[12]), rest[19])
    return out


def descendants(table_, roots, by_pgid=True):
    """The roots, their process groups (by_pgid) and every descendant."""
    members = set(r for r in roots if r in table_)
    if by_pgid:
        members |= {p for p, v in table_.items() if v[1] in members}
    grew = True
    while grew:
        grew = False
        for p, v in table_.items():
            if v[0] in members and p not in members:
                members.add(p)
                grew = True
    return members


def container_pid(hv):
    out = run(["podman", "inspect", "--format", "{{.State.Pid}}", CONTAINER[hv]],
              check=False).stdout.strip()
    return int(out) if out.isdigit() and out != "0" else None


def find_in_container(hv, comm):
    """Host pids of the processes named comm in the container's tree."""
    root = container_pid(hv)
    if root is None:
        return []
    t = proc_table()
    return sorted(p for p in descendants(t, [root], by_pgid=False) if t[p][2] == comm)


def libvirtd_pid(hv):
    pids = find_in_container(hv, "libvirtd")
    return pids[0] if pids else None


def cpu_s(pid):
    """(utime+stime in seconds, starttime) of one process, or (None, None) when gone.
    Resolution: one clock tick (1/CLK_TCK s, 10 ms here)."""
    _, rest = read_stat(f"/proc/{pid}/stat")
    if rest is None:
        return None, None
    return (int(rest[11]) + int(rest[12])) / CLK_TCK, rest[19]


class CpuWatch:
    """libvirtd's CPU time on one hypervisor between start() and stop()."""

    def __init__(self, hv):
        self.hv = hv
        self.pid = libvirtd_pid(hv)
        self.c0 = self.st0 = None

    def start(self):
        if self.pid:
            self.c0, self.st0 = cpu_s(self.pid)
        return self

    def stop(self):
        """Seconds of CPU, or None when libvirtd was not found or restarted meanwhile."""
        if not self.pid or self.c0 is None:
            return None
        c1, st1 = cpu_s(self.pid)
        if c1 is None or st1 != self.st0:
            return None
        return c1 - self.c0


# ------------------------------------------------------------------ memory

def lab_roots():
    """{part: [root pids]}: the control plane's daemons (pidfiles with start time) and the
    two hypervisor containers' init processes."""
    run_dir = os.path.join(STATE, "run")
    roots = {"control plane": []}
    try:
        names = sorted(os.listdir(run_dir))
    except FileNotFoundError:
        names = []
    for name in names:
        if not name.endswith(".pid"):
            continue
        try:
            with open(os.path.join(run_dir, name)) as f:
                pid_s, start = f.read().split()
        except (OSError, ValueError):
            continue
        if cpu_s(int(pid_s))[1] == start:
            roots["control plane"].append(int(pid_s))
    for hv in HVS:
        pid = container_pid(hv)
        roots[hv] = [pid] if pid else []
    return roots


def lab_memory(roots):
    """One sample: {part: {'procs', 'rss_mb', 'pss_mb', 'guests'}} plus 'total'."""
    t = proc_table()
    out = {}
    trss = tpss = 0
    for part, rs in roots.items():
        members = descendants(t, rs, by_pgid=(part == "control plane"))
        rss = pss = 0
        for p in members:
            r, q = proc_mem(p)
            rss += r
            pss += q
        out[part] = {"procs": len(members), "rss_mb": rss / 1024, "pss_mb": pss / 1024,
                     "guests": sum(1 for p in members if t[p][2].startswith("qemu-system"))}
        trss += rss
        tpss += pss
    out["total"] = {"procs": sum(v["procs"] for v in out.values()), "rss_mb": trss / 1024,
                    "pss_mb": tpss / 1024, "guests": sum(v["guests"] for v in out.values())}
    return out


# ------------------------------------------------------------------ Nova (openstacksdk)

class Nova(NovaApi):
    """The module's own Nova client (NovaApi, plain-dict views) on the lab's admin cloud, plus what only
    the benchmarks need: waiting for a final record, for a settled server, and deleting one."""

    def __init__(self):
        use_lab_env()
        import openstack
        super().__init__(openstack.connect(cloud=CLOUD))

    def server(self, name_or_id):
        """The server's view (id, name, status, task_state, host, ...) or None. Names are exact."""
        return self.find_server(name_or_id)

    def wait_final_migration(self, server_id, known_ids, timeout=180):
        """The new migration record of the server once it has a final status."""
        deadline = time.monotonic() + timeout
        rec = None
        while True:
            new = [m for m in self.migrations(server_id=server_id) if m["id"] not in known_ids]
            if new:
                rec = max(new, key=lambda m: m["id"])
                if migration_finished(rec):
                    return rec
            if time.monotonic() > deadline:
                return rec
            time.sleep(0.5)

    def wait_settled(self, server_id, timeout=300):
        deadline = time.monotonic() + timeout
        while True:
            s = self.server(server_id)
            if s and s["status"] == "ACTIVE" and not s["task_state"]:
                return s
            if time.monotonic() > deadline:
                raise RuntimeError(f"server {server_id} did not settle: {s}")
            time.sleep(1)

    def delete(self, server_id, timeout=300):
        self.conn.compute.delete_server(server_id)
        deadline = time.monotonic() + timeout
        while self.server(server_id) is not None:
            if time.monotonic() > deadline:
                raise RuntimeError(f"server {server_id} not deleted after {timeout} s")
            time.sleep(2)


def check_bench_name(name):
    if not name.startswith(BENCH_PREFIX):
        raise SystemExit(f"refusing to use server {name!r}: the benchmarks only touch servers "
                         f"named {BENCH_PREFIX}* (their own)")


def ensure_guest(nova, name, host="hv1"):
    """The benchmark guest: reused when ACTIVE, else booted with labctl (~30-70 s)."""
    check_bench_name(name)
    s = nova.server(name)
    if s and s["status"] == "ACTIVE" and not s["task_state"]:
        return s, False
    log(f"booting {name} on {host} (lab/labctl.py boot)")
    run([sys.executable, LABCTL, "boot", "--name", name, "--host", host], timeout=900)
    return nova.wait_settled(nova.server(name)["id"]), True


def other(hv):
    return "hv2" if hv == "hv1" else "hv1"


# ------------------------------------------------------------------ Nova's own timings

class ApiLog:
    """The nova-api log (host), read from a remembered offset."""

    def __init__(self):
        self.offset = self.size()

    @staticmethod
    def size():
        try:
            return os.path.getsize(NOVA_API_LOG)
        except OSError:
            return 0

    def mark(self):
        self.offset = self.size()

    def new_lines(self):
        try:
            with open(NOVA_API_LOG, errors="replace") as f:
                f.seek(self.offset)
                return f.read().splitlines()
        except OSError:
            return []


REQLOG = re.compile(r'\[(?:\S+) (req-[0-9a-f-]+) .*"POST /v2\.1/servers/([0-9a-f-]+)/action" '
                    r'status: 202 .* time: ([0-9.]+)')


def api_post(lines, server_id):
    """(Unix time the os-migrateLive POST was answered, request id) from nova-api's
    requestlog (ms resolution), or (None, None). The first 202 POST action of the server."""
    off = host_utc_offset()
    for line in lines:
        m = REQLOG.search(line)
        if m and m.group(2) == server_id:
            return oslo_log_ts(line, off), m.group(1)
    return None, None


def compute_marks(hv, request_id):
    """Unix times (ms resolution) of the source nova-compute's log lines of one request:
    'job_done' = "Migration operation has completed" (libvirt's job is over),
    'post_start' = "_post_live_migration() is started..",
    'nova_done' = "Migrating instance to X finished successfully." (logged right before
    the migration record is saved 'completed')."""
    marks = {"job_done": None, "post_start": None, "nova_done": None}
    if not request_id:
        return marks
    p = run(["podman", "exec", CONTAINER[hv], "grep", "-F", request_id, NOVA_COMPUTE_LOG],
            check=False)
    off = container_utc_offset(hv)
    for line in p.stdout.splitlines():
        ts = oslo_log_ts(line, off)
        if "Migration operation has completed" in line:
            marks["job_done"] = ts
        elif "_post_live_migration() is started" in line:
            marks["post_start"] = ts
        elif "finished successfully" in line:
            marks["nova_done"] = ts
    return marks


def overlapping(nova, server_id, t0, t1, hosts):
    """Other servers' live migrations that overlapped [t0, t1] on the given hosts
    (max_concurrent_live_migrations = 1: they queue or slow each other)."""
    out = []
    try:
        recs = nova.migrations(changes_since=t0 - 120)
    except NovaError:
        return out
    for m in recs:
        if m.get("server_id") == server_id:
            continue
        a, b = utc_iso_to_unix(m.get("created_at")), utc_iso_to_unix(m.get("updated_at"))
        if a is None or b is None or b < t0 - 1 or a > t1 + 1:
            continue
        if {m.get("source_compute"), m.get("dest_compute")} & set(hosts):
            out.append(f"{(m.get('server_id') or '?')[:8]} {m.get('source_compute')}->"
                       f"{m.get('dest_compute')} {m.get('status')}")
    return out


def osc_migrate_argv(server_id, dst):
    return [OPENSTACK, "--os-cloud", CLOUD, "--os-compute-api-version", COMPUTE_API,
            "server", "migrate", "--live-migration", "--block-migration", "--host", dst,
            "--wait", server_id]


def save_json(path, data):
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    with open(path, "w") as f:
        json.dump(data, f, indent=1, default=str)
