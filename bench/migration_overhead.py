#!/usr/bin/env python3
"""Overhead of a live migration tool over Nova's own migration time, on the lab.

A benchmark: it prints numbers and asserts nothing. Needs the lab up (make lab-up), the
collection installed (make collection) and the project's .venv (openstacksdk,
libvirt-python): run it with .venv/bin/python, as `make bench` does.

One guest of its own (--server, default lmlab-bench-1; booted with labctl when absent,
deleted at the end unless --keep-server) moves between hv1 and hv2, 2 x --count times,
each migration to the other host, alternating the tools so that each moves the guest both
ways (M O O M M O O M ...):
  module  the live_migrate module through ansible-playbook on localhost
          (bench/live_migrate_once.yml: wait=true, libvirt_uri + libvirt_addresses, so its
          libvirt poller runs; the module's default poll_interval unless --poll-interval)
  osc     openstack server migrate --live-migration --block-migration --host X --wait
          (python-openstackclient from the lab's cloud venv, compute API 2.95)
then --nova-only migrations with the module WITHOUT libvirt_uri (for the poller's CPU),
and one osc migration during which a thread calls jobStats() on the source in a tight
loop (--no-hot-loop to skip), then a direct jobStats() loop on the idle guest.

Per migration:
  wall       the tool's process, start to exit (time.monotonic)
  nova rec   Nova's migration record: updated_at - created_at of the completed record,
             GET /os-migrations?instance_uuid=ID at microversion 2.80 via openstacksdk.
             RESOLUTION 1 s: the columns are MariaDB DATETIME (no fraction: .000000).
  nova ms    the same span from Nova's logs, ms resolution: the nova-api requestlog line
             of the 202 os-migrateLive POST -> the source nova-compute's "Migrating
             instance to X finished successfully." (logged right before the record is
             saved 'completed'), matched by request id
  overhead   wall - nova (both variants); before = POST answered - tool start,
             after = tool exit - Nova done (ms variant: overhead = before + after)
  CPU        libvirtd on the source (utime+stime from host /proc, 10 ms ticks) over the
             tool's run; the tool's own CPU (its process tree, getrusage children)
"""

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import benchlib as B  # noqa: E402

PLAYBOOK = os.path.join(B.BENCH, "live_migrate_once.yml")
TARGET_S = 0.5


# ------------------------------------------------------------------ one migration

def children_cpu():
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


class HotLoop(threading.Thread):
    """jobStats() on the source as fast as libvirt answers, while the migration job runs
    (every 50 ms before the job starts). Same calls as the module's poller: a read-only
    connection, lookupByUUIDString + jobStats(0) each time."""

    def __init__(self, hv, uuid, timeout):
        super().__init__(daemon=True)
        self.hv, self.uuid, self.timeout = hv, uuid, timeout
        self.idle_calls = self.job_calls = 0
        self.job_time = 0.0
        self.error = None
        self.stop_event = threading.Event()

    def run(self):
        import libvirt
        libvirt.registerErrorHandler(lambda ctx, err: None, None)
        try:
            conn = libvirt.openReadOnly(B.libvirt_uri().format(host=B.HVS[self.hv]))
        except libvirt.libvirtError as e:
            self.error = str(e)
            return
        seen = False
        deadline = time.monotonic() + self.timeout
        try:
            while not self.stop_event.is_set() and time.monotonic() < deadline:
                t = time.monotonic()
                try:
                    st = conn.lookupByUUIDString(self.uuid).jobStats(0)
                    running = st.get("type") in (1, 2)
                except libvirt.libvirtError:
                    running = False
                if running:
                    seen = True
                    self.job_calls += 1
                    self.job_time += time.monotonic() - t
                    continue
                if seen:
                    break
                self.idle_calls += 1
                time.sleep(0.05)
        finally:
            conn.close()


def migrate(nova, apilog, tool, server_id, src, dst, argv, timeout, hot=False, extra_env=None):
    """Run one tool, then collect Nova's view of the same migration."""
    known = {m["id"] for m in nova.migrations(server_id=server_id)}
    apilog.mark()
    cpu = B.CpuWatch(src).start()
    loop = HotLoop(src, server_id, timeout) if hot else None
    if loop:
        loop.start()
    c0 = children_cpu()
    load0 = os.getloadavg()[0]
    t0 = time.time()
    m0 = time.monotonic()
    e = B.env()
    e.update(extra_env or {})
    p = subprocess.run(argv, capture_output=True, text=True, env=e, timeout=timeout,
                       stdin=subprocess.DEVNULL)
    wall = time.monotonic() - m0
    t1 = t0 + wall
    tool_cpu = children_cpu() - c0
    if loop:
        loop.stop_event.set()
        loop.join(30)
    libvirtd_cpu = cpu.stop()
    rec = nova.wait_final_migration(server_id, known)
    post_ts, request_id = B.api_post(apilog.new_lines(), server_id)
    marks = B.compute_marks(src, request_id)
    server = nova.wait_settled(server_id)
    r = {"tool": tool, "src": src, "dst": dst, "rc": p.returncode, "t0": t0, "t1": t1,
         "load": (load0 + os.getloadavg()[0]) / 2,
         "wall": wall, "tool_cpu": tool_cpu, "libvirtd_cpu": libvirtd_cpu,
         "libvirtd_pid": cpu.pid, "request_id": request_id, "post_ts": post_ts,
         "marks": marks, "record": rec, "server_host": server["host"],
         "_stdout": p.stdout, "stdout_tail": p.stdout[-2000:],
         "stderr_tail": p.stderr[-4000:], "notes": []}
    if rec:
        r["status"] = rec["status"]
        a, b = B.utc_iso_to_unix(rec["created_at"]), B.utc_iso_to_unix(rec["updated_at"])
        if rec["status"] == "completed":
            r["nova_rec"] = b - a
            r["ovh_rec"] = wall - r["nova_rec"]
        r["rec_created"], r["rec_updated"] = a, b
    else:
        r["status"] = None
        r["notes"].append("no migration record")
    if post_ts and marks["nova_done"]:
        r["nova_ms"] = marks["nova_done"] - post_ts
        r["ovh_ms"] = wall - r["nova_ms"]
        r["before"] = post_ts - t0
        r["after"] = t1 - marks["nova_done"]
    if marks["job_done"] and marks["nova_done"]:
        r["nova_post"] = marks["nova_done"] - marks["job_done"]
    if p.returncode != 0:
        r["notes"].append(f"exit {p.returncode}")
    if server["host"] != dst:
        r["notes"].append(f"server on {server['host']}, not {dst}")
    busy = B.overlapping(nova, server_id, t0, t1, (src, dst))
    if busy:
        r["notes"].append("concurrent: " + "; ".join(busy))
    if cpu.pid is None or libvirtd_cpu is None:
        r["notes"].append("libvirtd restarted or not found: no CPU figure")
    if loop:
        r["hot_loop"] = {"idle_calls": loop.idle_calls, "job_calls": loop.job_calls,
                         "job_ms_per_call": (1000 * loop.job_time / loop.job_calls)
                         if loop.job_calls else None, "error": loop.error}
    return r


def module_argv(workdir, n, server_id, dst, libvirt, poll_interval):
    log = os.path.join(workdir, f"m{n:02d}-progress.jsonl")
    extra = {"cloud": B.CLOUD, "server": server_id, "target_host": dst, "progress_log": log}
    if poll_interval:
        extra["poll_interval"] = poll_interval
    if libvirt:
        extra["libvirt_uri"] = B.libvirt_uri()
        extra["libvirt_addresses"] = dict(B.HVS)
    vars_file = os.path.join(workdir, f"m{n:02d}-vars.json")
    with open(vars_file, "w") as f:
        json.dump(extra, f)
    argv = [os.path.join(B.VENV, "bin", "ansible-playbook"), "-i", "localhost,",
            PLAYBOOK, "-e", f"@{vars_file}"]
    return argv, log


def run_module(nova, apilog, n, server_id, src, dst, workdir, timeout, libvirt=True,
               poll_interval=None):
    argv, progress = module_argv(workdir, n, server_id, dst, libvirt, poll_interval)
    r = migrate(nova, apilog, "module" if libvirt else "module-nova", server_id, src, dst,
                argv, timeout, extra_env={"ANSIBLE_STDOUT_CALLBACK": "ansible.posix.json"})
    r["progress_log"] = progress
    add_module_breakdown(r, ansible_result(r["_stdout"]), progress, workdir, n)
    return r


def ansible_result(stdout):
    """(module result, task start, task end) from the ansible.posix.json callback."""
    i = stdout.find("{")
    if i < 0:
        return None, None, None
    try:
        doc = json.loads(stdout[i:])
        task = doc["plays"][0]["tasks"][0]
        res = task["hosts"]["localhost"]
        dur = task["task"]["duration"]
        return res, B.utc_iso_to_unix(dur["start"]), B.utc_iso_to_unix(dur["end"])
    except (ValueError, KeyError, IndexError):
        return None, None, None


def add_module_breakdown(r, callback, progress, workdir, n):
    """Where the module's wall time goes, from the json callback and its progress log."""
    res, task_start, task_end = callback
    r.update(task_start=task_start, task_end=task_end)
    if res is not None:
        r["elapsed_s"] = res.get("elapsed_s")
        r["module_ok"] = res.get("ok")
        r["sample_count"] = res.get("sample_count")
        r["module_msg"] = (res.get("msg") or "")[:300]
        r["job"] = res.get("job")
        with open(os.path.join(workdir, f"m{n:02d}-result.json"), "w") as f:
            json.dump(res, f, indent=1)
    try:
        with open(progress) as f:
            recs = [json.loads(line) for line in f if line.strip()]
    except (OSError, ValueError):
        recs = []
    ts = {}
    for rec in recs:
        k = rec.get("kind")
        name = rec.get("name")
        if k == "event" and name in ("checking", "requested", "verified") and name not in ts:
            ts[name] = rec["ts"]
        elif k == "event" and name == "status" and rec.get("status") == "completed":
            ts.setdefault("seen_completed", rec["ts"])
        elif k == "result":
            ts["result"] = rec["ts"]
    r["module_ts"] = ts
    samples = [rec for rec in recs if rec.get("kind") == "sample"]
    r["polls"] = len(samples)
    lib = [i for i, s in enumerate(samples) if s.get("libvirt")]
    if r["tool"] in ("module", "module-trace"):
        # the poller reads libvirt at every poll until it saw the job end (one read after
        # the last running sample), plus domain_state at the start
        r["libvirt_reads"] = (min(lib[-1] + 2, len(samples)) if lib else len(samples)) + 1
        r["libvirt_job_samples"] = len(lib)
    nova_done = r["marks"]["nova_done"]

    def span(a, b):
        return b - a if a is not None and b is not None else None

    r["bd"] = {
        "ansible_start": span(r["t0"], task_start),
        "module_boot": span(task_start, ts.get("checking")),
        "to_post": span(ts.get("checking"), r["post_ts"]),
        "post_lag": span(r["post_ts"], ts.get("requested")),
        "detect": span(nova_done, ts.get("seen_completed")),
        "verify": span(ts.get("seen_completed"), ts.get("result")),
        "module_exit": span(ts.get("result"), task_end),
        "ansible_end": span(task_end, r["t1"]),
        "task": span(task_start, task_end),
        "run": span(ts.get("checking"), ts.get("result")),
    }
    # the polls: how long each took (poll start -> its record written: Nova API calls, and
    # libvirt while the job runs) and how often they came once the libvirt job had ended
    req = ts.get("requested")
    if req is not None and samples:
        r["poll_s"] = B.median([s["ts"] - (req + s["t"]) for s in samples if s.get("t") is not None])
        tail = [s for s in samples[(lib[-1] + 1 if lib else 0):]]
        gaps = [b["t"] - a["t"] for a, b in zip(tail, tail[1:])]
        r["end_gap_s"] = B.median(gaps)
    nova_ms = r.get("nova_ms")
    for key, span_key in (("ovh_task", "task"), ("ovh_run", "run")):
        v = r["bd"][span_key]
        r[key] = v - nova_ms if v is not None and nova_ms is not None else None
    r["ovh_elapsed"] = (r["elapsed_s"] - nova_ms
                        if r.get("elapsed_s") is not None and nova_ms is not None else None)
    r["ovh_elapsed_rec"] = (r["elapsed_s"] - r["nova_rec"]
                            if r.get("elapsed_s") is not None and r.get("nova_rec") is not None
                            else None)


# ------------------------------------------------------------------ traced module code

class Tracer:
    """Records (name, start, end) of every public call on wrapped objects, and the sleeps."""

    def __init__(self):
        self.calls = []

    def wrap(self, obj, label):
        tracer = self

        class Proxy:
            def __getattr__(self, name):
                attr = getattr(obj, name)
                if name.startswith("_") or not callable(attr):
                    return attr

                def timed(*a, **kw):
                    t = time.time()
                    try:
                        return attr(*a, **kw)
                    finally:
                        tracer.calls.append((f"{label}.{name}", t, time.time()))
                return timed
        return Proxy()

    def sleep(self, seconds):
        t = time.time()
        time.sleep(seconds)
        self.calls.append(("sleep", t, time.time()))


def trace_run(nova, apilog, n, server_id, src, dst, workdir, timeout, poll_interval):
    """The module's own code (LiveMigration from the installed collection) run in this
    process, without Ansible, every Nova API and libvirt call and every sleep timed."""
    sys.path.insert(0, B.COLLECTIONS)
    import openstack
    from ansible_collections.openstack_ops.live_migration.plugins.module_utils.libvirt_jobs import \
        LibvirtJobReader
    from ansible_collections.openstack_ops.live_migration.plugins.module_utils.migration import \
        LiveMigration
    from ansible_collections.openstack_ops.live_migration.plugins.module_utils.nova import NovaApi
    from ansible_collections.openstack_ops.live_migration.plugins.module_utils.timeline import \
        Timeline
    progress = os.path.join(workdir, f"m{n:02d}-progress.jsonl")
    # what live-migrate.yml passes; LiveMigration fills in the module's defaults for the rest
    params = {"server": server_id, "target_host": dst, "timeout": timeout, "poll_interval": poll_interval,
              "libvirt_uri": B.libvirt_uri(), "libvirt_addresses": dict(B.HVS), "progress_log": progress}
    tracer = Tracer()
    known = {m["id"] for m in nova.migrations(server_id=server_id)}
    apilog.mark()
    t0 = time.time()
    m0 = time.monotonic()
    conn = openstack.connect(cloud=B.CLOUD)      # authenticates lazily, as in the module
    hosts = {v: k for k, v in B.HVS.items()}

    def reader(uri):
        host = next((h for a, h in hosts.items() if a in uri), uri)
        return tracer.wrap(LibvirtJobReader(uri), f"libvirt[{host}]")

    timeline = Timeline(progress).open()
    flow = LiveMigration(tracer.wrap(NovaApi(conn), "nova"), params, reader_factory=reader,
                         timeline=timeline, sleep=tracer.sleep)
    error = None
    try:
        result = flow.execute()
    except Exception as e:  # OperatorError and the like: the benchmark reports it
        result, error = {}, repr(e)[:500]
    wall = time.monotonic() - m0
    t1 = t0 + wall
    rec = nova.wait_final_migration(server_id, known)
    post_ts, request_id = B.api_post(apilog.new_lines(), server_id)
    marks = B.compute_marks(src, request_id)
    server = nova.wait_settled(server_id)
    r = {"tool": "module-trace", "src": src, "dst": dst, "rc": 0 if result.get("ok") else 1,
         "t0": t0, "t1": t1, "wall": wall, "load": os.getloadavg()[0], "tool_cpu": None,
         "libvirtd_cpu": None, "request_id": request_id, "post_ts": post_ts, "marks": marks,
         "record": rec, "server_host": server["host"], "notes": [], "error": error,
         "elapsed_s": result.get("elapsed_s"), "calls": tracer.calls}
    if error:
        r["notes"].append(error[:120])
    if rec and rec["status"] == "completed":
        r["nova_rec"] = B.utc_iso_to_unix(rec["updated_at"]) - B.utc_iso_to_unix(rec["created_at"])
        r["ovh_rec"] = wall - r["nova_rec"]
    if post_ts and marks["nova_done"]:
        r["nova_ms"] = marks["nova_done"] - post_ts
        r["ovh_ms"] = wall - r["nova_ms"]
        r["before"] = post_ts - t0
        r["after"] = t1 - marks["nova_done"]
    add_module_breakdown(r, (None, None, None), progress, workdir, n)
    busy = B.overlapping(nova, server_id, t0, t1, (src, dst))
    if busy:
        r["notes"].append("concurrent: " + "; ".join(busy))
    return r


def trace_summary(r):
    """What the traced module did before the POST and after Nova was done."""
    nd = r["marks"].get("nova_done")
    post = r.get("post_ts")
    out = []
    if nd is None or post is None:
        return out
    before = [(n, a, b) for n, a, b in r["calls"] if b <= post + 0.05]
    after = [(n, a, b) for n, a, b in r["calls"] if b > nd]
    during = [(n, a, b) for n, a, b in r["calls"] if post + 0.05 < b <= nd]

    def agg(calls):
        d = {}
        for n, a, b in calls:
            k = n if n == "sleep" else n.split("(")[0]
            c, tot = d.get(k, (0, 0.0))
            d[k] = (c + 1, tot + b - a)
        return d

    out.append(f"  trace {r['src']}->{r['dst']}: before the POST "
               f"{post - r['t0']:.2f} s in {len(before)} calls: " + ", ".join(
                   f"{k} {c}x {t:.2f}s" for k, (c, t) in sorted(agg(before).items(),
                                                                key=lambda x: -x[1][1])))
    d = agg(during)
    out.append(f"    during Nova ({r.get('nova_ms', 0):.2f} s): " + ", ".join(
        f"{k} {c}x {t:.2f}s" for k, (c, t) in sorted(d.items(), key=lambda x: -x[1][1])))
    out.append(f"    after Nova was done ({r['t1'] - nd:.2f} s, timeline from Nova done):")
    for n, a, b in after:
        out.append(f"      {a - nd:+7.3f} .. {b - nd:+7.3f}  {1000 * (b - a):7.1f} ms  {n}")
    return out


# ------------------------------------------------------------------ direct jobStats() cost

def idle_rate(hv, seconds):
    """libvirtd CPU seconds per second on hv while the bench does nothing."""
    w = B.CpuWatch(hv).start()
    time.sleep(seconds)
    c = w.stop()
    return None if c is None else c / seconds


def jobstats_direct(hv, uuid, n, connects):
    """N calls in a loop over the lab's libvirt URI from the host; libvirtd CPU net of an idle period
    of the same length measured right after."""
    import libvirt
    libvirt.registerErrorHandler(lambda ctx, err: None, None)
    uri = B.libvirt_uri().format(host=B.HVS[hv])
    out = {"host": hv, "uri": uri, "calls": n}
    pid = B.libvirtd_pid(hv)
    # connection set-up, as the module does once per host (source at the start, the
    # destination at the end for its completed statistics)
    w = B.CpuWatch(hv).start()
    t = time.monotonic()
    for _ in range(connects):
        libvirt.openReadOnly(uri).close()
    dt = time.monotonic() - t
    c = w.stop()
    out["connect_ms"] = 1000 * dt / connects
    out["connect_libvirtd_ms"] = None if c is None else 1000 * c / connects
    conn = libvirt.openReadOnly(uri)
    dom = conn.lookupByUUIDString(uuid)
    out["job_type_during_loop"] = dom.jobStats(0).get("type")
    variants = (("lookup+jobStats", lambda: conn.lookupByUUIDString(uuid).jobStats(0)),
                ("jobStats", lambda: dom.jobStats(0)))
    for label, call in variants:
        w = B.CpuWatch(hv).start()
        p0 = time.process_time()
        t = time.monotonic()
        for _ in range(n):
            call()
        dt = time.monotonic() - t
        client = time.process_time() - p0
        busy = w.stop()
        w = B.CpuWatch(hv).start()
        time.sleep(dt)
        idle = w.stop()
        net = None if busy is None or idle is None else busy - idle
        out[label] = {"ms_per_call": 1000 * dt / n,
                      "libvirtd_ms_per_call": None if net is None else 1000 * net / n,
                      "libvirtd_cpu_s": busy, "idle_cpu_s": idle, "loop_s": dt,
                      "client_ms_per_call": 1000 * client / n}
    conn.close()
    out["libvirtd_pid"] = pid
    return out


# ------------------------------------------------------------------ start-up probes

NOOP_PLAYBOOK = """---
- name: No-op
  hosts: localhost
  connection: local
  gather_facts: false
  tasks:
    - name: Nothing
      ansible.builtin.meta: noop
"""


def startup_probes(workdir, server_id, reps):
    """What the tools pay before they talk to Nova, without a migration (median of reps)."""
    noop = os.path.join(workdir, "noop.yml")
    with open(noop, "w") as f:
        f.write(NOOP_PLAYBOOK)
    py = os.path.join(B.VENV, "bin", "python")
    probes = [
        ("ansible-playbook, one no-op task (ansible's own start/stop)",
         [os.path.join(B.VENV, "bin", "ansible-playbook"), "-i", "localhost,", noop]),
        ("python: import openstack + module_utils the module needs",
         [py, "-c", "import openstack, ansible.module_utils.basic, "
          "ansible_collections.openstack.cloud.plugins.module_utils.openstack"]),
        ("python: import openstack, connect, auth, GET server",
         [py, "-c", "import openstack; c = openstack.connect(cloud='%s'); "
          "c.compute.get_server('%s')" % (B.CLOUD, server_id)]),
        ("openstack --version (openstackclient start-up)", [B.OPENSTACK, "--version"]),
        ("openstack server show ID (start-up + auth + GET)",
         [B.OPENSTACK, "--os-cloud", B.CLOUD, "server", "show", server_id, "-f", "value",
          "-c", "status"]),
    ]
    out = []
    for label, argv in probes:
        times = []
        for _ in range(reps):
            t = time.monotonic()
            p = subprocess.run(argv, capture_output=True, text=True, env=B.env(),
                               stdin=subprocess.DEVNULL, timeout=300)
            times.append(time.monotonic() - t)
            if p.returncode != 0:
                B.log(f"probe {label}: exit {p.returncode} {p.stderr[-300:]}")
        out.append({"probe": label, "median_s": B.median(times), "times": times})
    return out


# ------------------------------------------------------------------ report

COLS = ["#", "tool", "route", "wall", "nova rec", "ovh rec", "nova ms", "ovh ms", "before",
        "after", "tool CPU", "libvirtd CPU", "note"]


def row(i, r):
    return [i, r["tool"], f"{r['src']}->{r['dst']}", r["wall"], r.get("nova_rec"),
            r.get("ovh_rec"), r.get("nova_ms"), r.get("ovh_ms"), r.get("before"),
            r.get("after"), r["tool_cpu"], r["libvirtd_cpu"], "; ".join(r["notes"])[:90]]


def report(runs, direct, idle, probes, args):
    out = []
    p = out.append
    if probes:
        p(f"\n== start-up costs, no migration (median of {args.probes}, load {os.getloadavg()[0]:.1f})")
        p(B.table(["probe", "median s", "runs"], [[x["probe"], x["median_s"], " ".join(f"{t:.2f}" for t in x["times"])] for x in probes]))
    p(f"\n== migrations ({len(runs)}), seconds. nova rec = record updated_at - created_at "
      f"(1 s resolution); nova ms = nova-api POST answered -> source nova-compute 'finished "
      f"successfully' (ms); ovh = wall - nova; before = tool start -> POST answered; after = "
      f"Nova done -> tool exit")
    p(B.table(COLS, [row(i + 1, r) for i, r in enumerate(runs)]))

    mods = [r for r in runs if r["tool"].startswith("module")]
    if mods:
        p("\n== where the module's wall time goes (seconds; ansible.posix.json task times + "
          "the module's progress log)")
        p("   ansible start = tool start -> task start | boot = task start -> module's first "
          "record (AnsiballZ, Python, imports)")
        p("   to POST = auth + checks (server, service, hypervisor, placement, libvirt) -> "
          "POST answered | detect = Nova done -> module saw 'completed'")
        p("   verify = -> result (server GET, destination libvirt stats, instance action "
          "events) | exit = result -> task end | ansible end = task end -> process exit")
        p("   poll = median time one poll takes (API calls) | end gap = median time between "
          "polls once the libvirt job ended")
        hdr = ["#", "tool", "route", "wall", "ansible start", "boot", "to POST", "nova ms",
               "detect", "verify", "exit", "ansible end", "elapsed_s", "elapsed-nova", "polls",
               "poll", "end gap", "lv reads"]
        rows = []
        for i, r in enumerate(runs):
            if not r["tool"].startswith("module"):
                continue
            bd = r.get("bd", {})
            rows.append([i + 1, r["tool"], f"{r['src']}->{r['dst']}", r["wall"],
                         bd.get("ansible_start"), bd.get("module_boot"), bd.get("to_post"),
                         r.get("nova_ms"), bd.get("detect"), bd.get("verify"),
                         bd.get("module_exit"), bd.get("ansible_end"), r.get("elapsed_s"),
                         r.get("ovh_elapsed"), r.get("polls"), r.get("poll_s"),
                         r.get("end_gap_s"), r.get("libvirt_reads")])
        p(B.table(hdr, rows))

    p("\n== medians per tool (seconds)")
    hdr = ["tool", "n", "wall", "nova rec", "ovh rec", "nova ms", "ovh ms", "before", "after",
           "tool CPU", "libvirtd CPU", "load"]
    rows = []
    med = {}
    for tool in ("module", "osc", "module-nova", "module-trace", "osc+hotloop"):
        rs = [r for r in runs if r["tool"] == tool and r["rc"] == 0]
        if not rs:
            continue
        m = {k: B.median([r.get(k) for r in rs]) for k in
             ("wall", "nova_rec", "ovh_rec", "nova_ms", "ovh_ms", "before", "after", "tool_cpu",
              "libvirtd_cpu", "ovh_task", "ovh_run", "ovh_elapsed", "ovh_elapsed_rec",
              "libvirt_reads", "polls", "load")}
        m["bd"] = {k: B.median([r.get("bd", {}).get(k) for r in rs]) for k in
                   ("ansible_start", "module_boot", "to_post", "post_lag", "detect", "verify",
                    "module_exit", "ansible_end", "task")}
        m["ansible_own"] = B.median([r["wall"] - r["bd"]["task"] for r in rs
                                     if r.get("bd", {}).get("task") is not None])
        m["n"] = len(rs)
        med[tool] = m
        rows.append([tool, len(rs), m["wall"], m["nova_rec"], m["ovh_rec"], m["nova_ms"],
                     m["ovh_ms"], m["before"], m["after"], m["tool_cpu"], m["libvirtd_cpu"],
                     m["load"]])
    p(B.table(hdr, rows))

    if "module" in med:
        m, o = med["module"], med.get("osc", {})
        bd = m["bd"]
        p(f"\n== the issue's target: median module overhead <= {TARGET_S} s and below "
          f"openstackclient's")
        lines = [
            ("ansible-playbook wall - Nova record (1 s res.)", m["ovh_rec"], o.get("ovh_rec")),
            ("ansible-playbook wall - Nova (ms)", m["ovh_ms"], o.get("ovh_ms")),
            ("module task (json callback) - Nova (ms)", m["ovh_task"], None),
            ("module run (first -> last progress record) - Nova (ms)", m["ovh_run"], None),
            ("module elapsed_s - Nova (ms)", m["ovh_elapsed"], None),
            ("module elapsed_s - Nova record (1 s res.)", m["ovh_elapsed_rec"], None),
        ]
        if "module-trace" in med:
            lines.insert(4, ("module code in-process, no Ansible (trace) - Nova (ms)",
                             med["module-trace"]["ovh_ms"], None))
        for label, v, vo in lines:
            if v is None:
                continue
            verdict = "meets" if v <= TARGET_S else "ABOVE"
            cmp = ""
            if vo is not None:
                cmp = f"; osc {vo:.2f} s: {'below' if v < vo else 'NOT below'} it"
            p(f"  {label:56} {v:6.2f} s  {verdict} {TARGET_S} s{cmp}")
        p(f"  module, medians: ansible start {B.fmt(bd['ansible_start'])} + boot "
          f"{B.fmt(bd['module_boot'])} + to POST {B.fmt(bd['to_post'])} | Nova "
          f"{B.fmt(m['nova_ms'])} | detect {B.fmt(bd['detect'])} + verify {B.fmt(bd['verify'])}"
          f" + exit {B.fmt(bd['module_exit'])} + ansible end {B.fmt(bd['ansible_end'])}")
        p(f"  ansible-playbook's own cost (wall - task) {B.fmt(m['ansible_own'])} s; the module "
          f"task {B.fmt(bd['task'])} s, of which before the POST {B.fmt(bd['module_boot'])} + "
          f"{B.fmt(bd['to_post'])} s; POST answered -> module's t0 {B.fmt(bd['post_lag'], 3)} s")
        if o:
            p(f"  osc, medians: before {B.fmt(o['before'])} (start-up, auth, find server, POST) | "
              f"Nova {B.fmt(o['nova_ms'])} | after {B.fmt(o['after'])} (--wait: server status "
              f"every 5 s until ACTIVE)")

    traces = [r for r in runs if r["tool"] == "module-trace"]
    if traces:
        p("\n== the module's code in-process (no Ansible), every Nova API / libvirt call and "
          "sleep timed; times relative to Nova done (source nova-compute log)")
        for r in traces:
            for line in trace_summary(r):
                p(line)

    p("\n== libvirtd CPU on the source (seconds per migration, over the tool's run; "
      "10 ms ticks)")
    hdr = ["tool", "source", "n", "median CPU", "median wall", "idle rate x wall", "net"]
    rows = []
    for tool in ("module", "module-nova", "osc", "osc+hotloop"):
        for hv in B.HVS:
            rs = [r for r in runs if r["tool"] == tool and r["src"] == hv and
                  r["libvirtd_cpu"] is not None]
            if not rs:
                continue
            c = B.median([r["libvirtd_cpu"] for r in rs])
            w = B.median([r["wall"] for r in rs])
            base = idle.get(hv) * w if idle.get(hv) is not None else None
            rows.append([tool, hv, len(rs), c, w, base, None if base is None else c - base])
    p(B.table(hdr, rows, 3))
    if "module" in med and "module-nova" in med:
        d = med["module"]["libvirtd_cpu"] - med["module-nova"]["libvirtd_cpu"] \
            if med["module"]["libvirtd_cpu"] is not None and \
            med["module-nova"]["libvirtd_cpu"] is not None else None
        reads = med["module"].get("libvirt_reads")
        if d is not None:
            per = f"{1000 * d / reads:.2f} ms per libvirt read" if reads else "?"
            p(f"  poller: module with libvirt_uri - module without = {d:+.3f} s of libvirtd CPU "
              f"per migration (medians), over ~{B.fmt(reads, 0)} libvirt reads "
              f"(lookup+jobStats) = {per} (noise: compare the spread in the table above)")
    hot = [r for r in runs if r["tool"] == "osc+hotloop"]
    if hot and "osc" in med:
        for r in hot:
            h = r.get("hot_loop") or {}
            osc_same = B.median([x["libvirtd_cpu"] for x in runs
                                 if x["tool"] == "osc" and x["src"] == r["src"] and
                                 x["libvirtd_cpu"] is not None])
            idle_cost = (direct or {}).get("lookup+jobStats", {}).get("libvirtd_ms_per_call")
            extra = None if r["libvirtd_cpu"] is None or osc_same is None else \
                r["libvirtd_cpu"] - osc_same
            per_job = None
            if extra is not None and h.get("job_calls"):
                idle_part = h["idle_calls"] * (idle_cost or 0) / 1000
                per_job = 1000 * (extra - idle_part) / h["job_calls"]
            p(f"  hot loop during a running job ({r['src']} -> {r['dst']}): {h.get('job_calls')} "
              f"calls during the job at {B.fmt(h.get('job_ms_per_call'))} ms each (+ "
              f"{h.get('idle_calls')} before it, every 50 ms); libvirtd CPU "
              f"{B.fmt(r['libvirtd_cpu'], 3)} s vs {B.fmt(osc_same, 3)} s for plain osc from "
              f"{r['src']} -> {B.fmt(per_job, 3)} ms libvirtd CPU per in-job call "
              f"(one tick = 10 ms over the whole run: rough)")

    if direct:
        d = direct
        p(f"\n== jobStats() measured directly: {d['calls']} calls per variant from the host "
          f"over {d['uri']} on the idle guest (job type {d['job_type_during_loop']}: no "
          f"migration job), libvirtd CPU net of an equal idle period")
        hdr = ["call", "ms/call", "libvirtd ms/call", "client ms/call", "libvirtd CPU s",
               "idle CPU s", "loop s"]
        rows = []
        for label in ("lookup+jobStats", "jobStats"):
            v = d[label]
            rows.append([label, v["ms_per_call"], v["libvirtd_ms_per_call"],
                         v["client_ms_per_call"], v["libvirtd_cpu_s"], v["idle_cpu_s"],
                         v["loop_s"]])
        rows.append(["openReadOnly+close", d["connect_ms"], d["connect_libvirtd_ms"], None,
                     None, None, None])
        p(B.table(hdr, rows, 3))
        base = args.poll_interval or 1.0
        per = d["lookup+jobStats"]["libvirtd_ms_per_call"]
        if per is not None:
            p(f"  at the module's steady poll interval ({base} s) that is "
              f"{per / base / 10:.3f} % of one CPU for libvirtd ({per:.3f} ms per poll); at "
              f"the 0.2 s fast polls {per / 0.2 / 10:.3f} %")
    if idle:
        p("  libvirtd idle rate (bench doing nothing): " + ", ".join(
            f"{hv} {1000 * v:.1f} ms/s" for hv, v in idle.items() if v is not None))
    return "\n".join(out)


# ------------------------------------------------------------------ main

def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--count", type=int, default=5,
                    help="round trips: each is one module and one osc migration (default 5)")
    ap.add_argument("--nova-only", type=int, default=2,
                    help="module migrations without libvirt_uri, for libvirtd's CPU (default 2)")
    ap.add_argument("--trace", type=int, default=2,
                    help="migrations with the module's code in-process, every call timed "
                         "(default 2; 0 skips)")
    ap.add_argument("--no-hot-loop", action="store_true",
                    help="skip the osc migration with a jobStats() loop on the source")
    ap.add_argument("--calls", type=int, default=2000,
                    help="jobStats() calls per variant in the direct loop (default 2000; 0 skips)")
    ap.add_argument("--probes", type=int, default=3,
                    help="repetitions of each start-up probe (default 3; 0 skips)")
    ap.add_argument("--poll-interval", type=float, default=None,
                    help="the module's poll_interval (default: the module's own default, 1.0)")
    ap.add_argument("--server", default="lmlab-bench-1",
                    help="the benchmark's own guest (must be named lmlab-bench*)")
    ap.add_argument("--keep-server", action="store_true", help="do not delete the guest at the end")
    ap.add_argument("--timeout", type=int, default=900, help="per migration (s)")
    ap.add_argument("--out", default=os.path.join(B.CACHE, "bench"),
                    help="folder for the raw data (JSON), progress logs and results")
    args = ap.parse_args(argv)
    B.check_bench_name(args.server)
    if not os.path.isdir(os.path.join(B.COLLECTIONS, "ansible_collections", "openstack_ops")):
        raise SystemExit("the collection is not installed: run `make collection`")
    if not os.path.exists(B.OPENSTACK):
        raise SystemExit(f"{B.OPENSTACK} missing: run lab/setup.sh")

    stamp = time.strftime("%Y%m%dT%H%M%S")
    os.makedirs(args.out, exist_ok=True)
    workdir = tempfile.mkdtemp(prefix=f"migration_overhead-{stamp}-", dir=args.out)
    nova = B.Nova()
    server, booted = B.ensure_guest(nova, args.server)
    sid = server["id"]
    B.log(f"guest {args.server} ({sid}) on {server['host']}; data in {workdir}")
    apilog = B.ApiLog()
    runs = []
    direct = None
    idle = {}
    probes = []
    try:
        idle = {hv: idle_rate(hv, 5) for hv in B.HVS}
        if args.probes > 0:
            B.log(f"start-up probes x {args.probes}")
            probes = startup_probes(workdir, sid, args.probes)
        plan = []
        for j in range(2 * args.count):
            plan.append("module" if j % 4 in (0, 3) else "osc")
        plan += ["module-nova"] * args.nova_only
        plan += ["module-trace"] * args.trace
        if not args.no_hot_loop:
            plan.append("osc+hotloop")
        for n, tool in enumerate(plan, 1):
            src = nova.server(sid)["host"]
            dst = B.other(src)
            B.log(f"{n}/{len(plan)} {tool}: {src} -> {dst}")
            if tool in ("module", "module-nova"):
                r = run_module(nova, apilog, n, sid, src, dst, workdir, args.timeout,
                               libvirt=(tool == "module"), poll_interval=args.poll_interval)
            elif tool == "module-trace":
                r = trace_run(nova, apilog, n, sid, src, dst, workdir, args.timeout,
                              args.poll_interval)
            else:
                r = migrate(nova, apilog, tool, sid, src, dst, B.osc_migrate_argv(sid, dst),
                            args.timeout, hot=(tool == "osc+hotloop"))
            r.pop("_stdout", None)
            runs.append(r)
            B.log(f"   wall {r['wall']:.2f} s, nova rec {B.fmt(r.get('nova_rec'))} s, nova ms "
                  f"{B.fmt(r.get('nova_ms'))} s, overhead {B.fmt(r.get('ovh_ms'))} s "
                  f"{'; '.join(r['notes'])}")
            if r["server_host"] != dst:
                B.log("   the guest did not move: stopping here")
                break
        if args.calls > 0:
            host = nova.server(sid)["host"]
            B.log(f"direct jobStats() loop on {host}, {args.calls} calls per variant")
            direct = jobstats_direct(host, sid, args.calls, connects=50)
    finally:
        data = {"args": vars(args), "server": sid, "runs": runs, "direct": direct,
                "idle_rate": idle, "probes": probes}
        B.save_json(os.path.join(workdir, "data.json"), data)
        if runs:
            print(report(runs, direct, idle, probes, args), flush=True)
        print(f"\nraw data: {os.path.join(workdir, 'data.json')}")
        if not args.keep_server:
            B.log(f"deleting {args.server}")
            nova.delete(sid)
    return 0


if __name__ == "__main__":
    sys.exit(main())
