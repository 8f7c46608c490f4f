#!/usr/bin/env python3
"""Lab figures: cold and warm `make lab-up`, one migration, the lab's peak memory.

A benchmark: it prints numbers and asserts nothing. Run it as root from the collection
root with the project's .venv (openstacksdk), as `make bench` does. Parts, chosen with
flags (none given: --warm --migration --memory; --cold only when asked, it takes 10+ min):

  --cold       `make lab-setup` + `make lab-up` with nothing cached. The lab goes down first
               (setup.sh refuses to rebuild the venv under a running lab). Moved aside (not
               deleted until the cold run succeeded): .cache/lab/wheels, .cache/lab/venv-cloud.
               Fresh, empty: tools/image.sh's cache (LM_CACHE_DIR: rootfs tarballs, .debs)
               and pip's cache (PIP_CACHE_DIR), both in a temporary folder removed at the end
               (.cache/images and ~/.cache/pip are not touched). Removed: the podman images
               of the lab's chain (lm-labhv-nova, lm-labhv and its parents from
               tools/images/*.parent); an image a container still uses (a Molecule run) is
               untagged instead, so it is rebuilt all the same. Kept: the apt packages, the
               guest image (.cache/lab/guest: `make lab-up` does not build it) and the lab's
               state (.cache/lab/state: databases, passwords, host UUIDs).
               On success the moved-aside copies are deleted (the rebuilt ones replace
               them); on failure they are put back and the lab is brought back up if it was.
  --warm       `make lab-down` (if up) then `make lab-up`, every cache kept.
  --migration  one block live migration of the bench guest with openstackclient --wait:
               wall time, Nova's record (1 s resolution) and log (ms) durations.
  --memory     RSS/PSS of every process of the lab (control plane process groups and trees,
               both containers' trees) sampled every --memory-interval s during a migration
               (the --migration one when both are asked): peak and its parts.

`make lab-down` deletes EVERY server of the lab, other people's too: --cold/--warm are
skipped when servers other than lmlab-bench* exist, unless --allow-server-deletion.
The lab is left as it was found: up stays up, down goes back down. The bench guest
(--server, default lmlab-bench-1) is booted when needed and deleted at the end unless
--keep-server.
"""

import argparse
import json
import os
import shutil
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import benchlib as B  # noqa: E402

IMAGES_DIR = os.path.join(B.REPO, "tools", "images")
WHEELS = os.path.join(B.CACHE_LAB, "wheels")
COLD_MOVES = [WHEELS, B.CLOUD_VENV]


# ------------------------------------------------------------------ lab state

def lab_state():
    """'up', 'down' or 'partial', and the status JSON (labctl status --json)."""
    p = subprocess.run([sys.executable, B.LABCTL, "status", "--json"], capture_output=True,
                       text=True, env=B.env(), timeout=300)
    try:
        st = json.loads(p.stdout)
    except ValueError:
        return "partial", {"error": (p.stdout + p.stderr)[-2000:]}
    comps = st["cloud"]["components"]
    running = [c for c in comps if c["running"]]
    hvs = st["hypervisors"]
    hv_up = [h for h in hvs if h["state"] == "running" and h.get("nova-compute") == "active"]
    hv_any = [h for h in hvs if h["state"] != "absent"]
    computes = {s["Host"] for s in st.get("compute_services") or []
                if s.get("Binary") == "nova-compute" and s.get("State") == "up"}
    if len(running) == len(comps) and len(hv_up) == len(hvs) and set(B.HVS) <= computes:
        return "up", st
    if not running and not hv_any and not st["network"]["bridge_up"]:
        return "down", st
    return "partial", st


def foreign_servers(st):
    return [s for s in st.get("servers") or [] if not s["Name"].startswith(B.BENCH_PREFIX)]


def make(target, logdir, extra_env=None, dry=False):
    """Run `make TARGET` in the collection root, its output into logdir; returns seconds."""
    argv = ["make", "-C", B.REPO, target]
    if dry:
        print(f"  [dry-run] would run: {' '.join(argv)}"
              + (f"  with {extra_env}" if extra_env else ""))
        return None
    e = dict(os.environ)
    e.update(extra_env or {})
    logfile = os.path.join(logdir, f"make-{target}-{time.strftime('%H%M%S')}.log")
    B.log(f"make {target} (log {logfile})")
    t = time.monotonic()
    with open(logfile, "w") as lf:
        p = subprocess.run(argv, stdout=lf, stderr=subprocess.STDOUT, env=e,
                           stdin=subprocess.DEVNULL, timeout=7200)
    dt = time.monotonic() - t
    if p.returncode != 0:
        with open(logfile, errors="replace") as f:
            tail = f.read()[-3000:]
        raise RuntimeError(f"make {target} failed (exit {p.returncode}) after {dt:.0f} s; "
                           f"log {logfile}:\n{tail}")
    B.log(f"make {target}: {dt:.1f} s")
    return dt


def last_lab_up():
    try:
        with open(os.path.join(B.STATE, "lab.json")) as f:
            return json.load(f).get("last_lab_up")
    except (OSError, ValueError):
        return None


def setup_lines(logfile):
    """setup.sh's own step timings ('... done in N ms') from a make lab-setup log."""
    try:
        with open(logfile, errors="replace") as f:
            return [ln.strip() for ln in f if ln.startswith("[setup ") and
                    ("done in" in ln or "up to date" in ln or "present" in ln)]
    except OSError:
        return []


# ------------------------------------------------------------------ cold

def lab_chain():
    """The image flavors the lab builds on: labhv and its parents."""
    chain, flavor = [], "labhv"
    while flavor:
        chain.append(flavor)
        try:
            with open(os.path.join(IMAGES_DIR, flavor + ".parent")) as f:
                flavor = f.read().strip()
        except FileNotFoundError:
            flavor = None
    return ["labhv-nova"] + chain


def chain_images():
    out = []
    p = B.run(["podman", "images", "--format", "{{.Repository}}:{{.Tag}}"], check=False)
    for ref in p.stdout.split():
        repo = ref.rsplit(":", 1)[0]
        if repo in {f"localhost/lm-{f}" for f in lab_chain()}:
            out.append(ref)
    return sorted(set(out))


def remove_images(refs, dry):
    done = []
    for ref in refs:
        if dry:
            done.append(f"{ref}: would rmi (untag if in use)")
            continue
        if B.run(["podman", "rmi", ref], check=False).returncode == 0:
            done.append(f"{ref}: removed")
        elif B.run(["podman", "untag", ref], check=False).returncode == 0:
            done.append(f"{ref}: in use, untagged")
        else:
            done.append(f"{ref}: could NOT be removed or untagged (the cold run reuses it)")
    return done


def lab_python(wanted):
    """The interpreter setup.sh must build the wheelhouse and venv with. Under make, PATH
    starts with .venv/bin, so setup.sh's default `python3` is the controller's 3.12: its
    cp312 wheels would not install in the hypervisors' Debian 12 Python 3.11 (nova layer,
    pip --no-index). Default: the Python of the current cloud venv, else python3.11."""
    if wanted:
        return wanted
    cur = os.path.join(B.CLOUD_VENV, "bin", "python3")
    if os.path.exists(cur):
        return os.path.realpath(cur)
    return shutil.which("python3.11", path=os.environ.get("PATH", "").replace(
        os.path.join(B.VENV, "bin") + ":", "")) or "python3.11"


def cold(logdir, state0, dry, python=None):
    """Returns the figures; restores the caches on failure."""
    res = {"part": "cold"}
    stamp = time.strftime("%Y%m%dT%H%M%S")
    tmp = os.path.join(B.CACHE, f"bench-cold-{stamp}")
    aside = os.path.join(tmp, "aside")
    fresh_env = {"LM_CACHE_DIR": os.path.join(tmp, "images"),
                 "PIP_CACHE_DIR": os.path.join(tmp, "pip"),
                 "LAB_PYTHON": lab_python(python)}
    res["lab_python"] = fresh_env["LAB_PYTHON"]
    print("cold: plan")
    print(f"  lab now: {state0}; make lab-down first" if state0 != "down" else "  lab is down")
    for path in COLD_MOVES:
        print(f"  move aside {path} -> {aside}/ "
              f"({'exists' if os.path.exists(path) else 'absent'})")
    print(f"  fresh caches: {fresh_env}")
    imgs = chain_images()
    print(f"  podman images of the lab chain {lab_chain()}: {imgs or 'none'}")
    if state0 != "down":
        res["lab_down_s"] = make("lab-down", logdir, dry=dry)
    if dry:
        for line in remove_images(imgs, dry):
            print(f"  {line}")
        make("lab-setup", logdir, fresh_env, dry=True)
        make("lab-up", logdir, fresh_env, dry=True)
        print(f"  then: delete {tmp} on success; on failure move the copies back"
              + (" and make lab-up" if state0 == "up" else ""))
        return res
    os.makedirs(aside, exist_ok=True)
    moved = []
    restored = True
    try:
        for path in COLD_MOVES:
            if os.path.exists(path):
                os.rename(path, os.path.join(aside, os.path.basename(path)))
                moved.append(path)
        res["images"] = remove_images(imgs, dry)
        for line in res["images"]:
            B.log(line)
        t = time.monotonic()
        res["lab_setup_s"] = make("lab-setup", logdir, fresh_env)
        logs = sorted(f for f in os.listdir(logdir) if f.startswith("make-lab-setup-"))
        res["setup_steps"] = setup_lines(os.path.join(logdir, logs[-1])) if logs else []
        res["lab_up_s"] = make("lab-up", logdir, fresh_env)
        res["total_s"] = time.monotonic() - t
        res["labctl_up"] = last_lab_up()
    except BaseException as e:
        res["error"] = str(e)[-2000:]
        B.log(f"cold run failed: {str(e)[-500:]}; putting the caches back")
        try:
            for path in moved:
                if os.path.exists(path):
                    shutil.rmtree(path)
                os.rename(os.path.join(aside, os.path.basename(path)), path)
        except OSError as e2:
            restored = False
            res["restore_error"] = f"the old caches are still in {aside}: {e2}"
            B.log(res["restore_error"])
        if restored and state0 == "up":
            try:
                make("lab-up", logdir)
            except Exception as e2:  # report both, the operator takes it from here
                res["restore_error"] = str(e2)[-1000:]
        raise
    finally:
        # success: the old copies are obsolete; failure: they are back in place (unless
        # putting them back failed: then they stay in the aside folder, reported)
        if restored:
            shutil.rmtree(tmp, ignore_errors=True)
    return res


# ------------------------------------------------------------------ warm

def warm(logdir, state0, dry):
    res = {"part": "warm"}
    if state0 != "down":
        res["lab_down_s"] = make("lab-down", logdir, dry=dry)
    res["lab_up_s"] = make("lab-up", logdir, dry=dry)
    res["labctl_up"] = None if dry else last_lab_up()
    return res


# ------------------------------------------------------------------ migration + memory

class MemorySampler(threading.Thread):
    def __init__(self, interval):
        super().__init__(daemon=True)
        self.interval = interval
        self.samples = []
        self.cpu = 0.0
        self.stop_event = threading.Event()
        self.roots = B.lab_roots()

    def run(self):
        t0 = time.thread_time()
        nxt = time.monotonic()
        while not self.stop_event.is_set():
            m = B.lab_memory(self.roots)
            m["ts"] = time.time()
            self.samples.append(m)
            nxt += self.interval
            self.stop_event.wait(max(0.0, nxt - time.monotonic()))
        self.cpu = time.thread_time() - t0


def migration_and_memory(args, do_memory):
    import migration_overhead as MO
    nova = B.Nova()
    res = {"part": "migration"}
    t = time.monotonic()
    server, booted = B.ensure_guest(nova, args.server)
    if booted:
        res["boot_s"] = time.monotonic() - t
    sid = server["id"]
    try:
        src = server["host"]
        dst = B.other(src)
        sampler = None
        if do_memory:
            res["memory_before"] = B.lab_memory(B.lab_roots())
            sampler = MemorySampler(args.memory_interval)
            sampler.start()
        try:
            r = MO.migrate(nova, B.ApiLog(), "osc", sid, src, dst, B.osc_migrate_argv(sid, dst),
                           timeout=900)
        finally:
            if sampler:
                sampler.stop_event.set()
                sampler.join(30)
        r.pop("_stdout", None)
        res["run"] = r
        if sampler:
            res["memory_samples"] = sampler.samples
            res["sampler_cpu_s"] = sampler.cpu
    finally:
        if not args.keep_server:
            B.log(f"deleting {args.server}")
            nova.delete(sid)
    return res


# ------------------------------------------------------------------ report

def mb(v):
    return f"{v:.0f}"


def report(results, args):
    out = [f"\n== lab figures ({os.cpu_count()} CPUs, load {os.getloadavg()[0]:.1f} now)"]
    p = out.append
    for res in results:
        part = res["part"]
        if res.get("skipped"):
            p(f"{part}: SKIPPED: {res['skipped']}")
            continue
        if part == "cold":
            if "lab_setup_s" not in res:
                p(f"cold: not run ({res.get('error', 'dry run')})")
                continue
            p(f"cold (LAB_PYTHON={res.get('lab_python')}): make lab-setup {res['lab_setup_s']:.0f} s + make lab-up "
              f"{res['lab_up_s']:.0f} s = {res['total_s']:.0f} s"
              + (f" (after make lab-down {res['lab_down_s']:.0f} s)" if res.get("lab_down_s") else ""))
            for line in res.get("setup_steps", []):
                p(f"    {line}")
            for line in res.get("images", []):
                p(f"    image {line}")
            up = res.get("labctl_up") or {}
            if up:
                p(f"    labctl up {up['seconds']} s: " + ", ".join(
                    f"{k} {v}" for k, v in sorted(up["steps"].items(), key=lambda x: -x[1])))
        elif part == "warm":
            if res.get("lab_up_s") is None:
                p("warm: not run (dry run)")
                continue
            p(f"warm: make lab-up {res['lab_up_s']:.0f} s"
              + (f" (after make lab-down {res['lab_down_s']:.0f} s)" if res.get("lab_down_s") else ""))
            up = res.get("labctl_up") or {}
            if up:
                p(f"    labctl up {up['seconds']} s: " + ", ".join(
                    f"{k} {v}" for k, v in sorted(up["steps"].items(), key=lambda x: -x[1])))
        elif part == "migration":
            if res.get("boot_s"):
                p(f"boot of {args.server} (labctl boot: ACTIVE + first W line): "
                  f"{res['boot_s']:.0f} s")
            r = res.get("run")
            if r:
                job = None
                if r["marks"].get("job_done") and r.get("post_ts"):
                    job = r["marks"]["job_done"] - r["post_ts"]
                p(f"one migration {r['src']} -> {r['dst']} (openstack server migrate "
                  f"--live-migration --block-migration --wait): wall {r['wall']:.1f} s; Nova "
                  f"record {B.fmt(r.get('nova_rec'), 0)} s (1 s resolution); Nova log "
                  f"{B.fmt(r.get('nova_ms'))} s (POST answered {B.fmt(job)} s -> libvirt "
                  f"job done, +{B.fmt(r.get('nova_post'))} s -> Nova done); tool before/after "
                  f"{B.fmt(r.get('before'))}/{B.fmt(r.get('after'))} s; status {r.get('status')}"
                  + (f"; {'; '.join(r['notes'])}" if r["notes"] else ""))
            samples = res.get("memory_samples")
            if samples:
                peak_rss = max(samples, key=lambda m: m["total"]["rss_mb"])
                peak_pss = max(samples, key=lambda m: m["total"]["pss_mb"])
                b = res["memory_before"]
                p(f"memory, {len(samples)} samples every {args.memory_interval} s during the "
                  f"migration (sampler CPU {res['sampler_cpu_s']:.1f} s): MB")
                hdr = ["part", "before RSS", "before PSS", "peak-RSS sample RSS",
                       "peak-PSS sample PSS", "procs", "QEMU"]
                rows = []
                for part_ in [k for k in b if k != "total"] + ["total"]:
                    rows.append([part_, mb(b[part_]["rss_mb"]), mb(b[part_]["pss_mb"]),
                                 mb(peak_rss[part_]["rss_mb"]), mb(peak_pss[part_]["pss_mb"]),
                                 peak_rss[part_]["procs"], peak_rss[part_]["guests"]])
                p(B.table(hdr, rows))
                p(f"  whole lab peak: RSS {peak_rss['total']['rss_mb']:.0f} MB, PSS "
                  f"{peak_pss['total']['pss_mb']:.0f} MB, with {peak_rss['total']['guests']} "
                  f"QEMU processes (other people's guests included; the migrating guest "
                  f"counts on both hosts while it moves; 256 MB of guest RAM each at most)")
    return "\n".join(out)


# ------------------------------------------------------------------ main

def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--cold", action="store_true", help="cold make lab-setup + lab-up (10+ min)")
    ap.add_argument("--warm", action="store_true", help="make lab-down + make lab-up")
    ap.add_argument("--migration", action="store_true", help="time one migration")
    ap.add_argument("--memory", action="store_true", help="peak memory during a migration")
    ap.add_argument("--allow-server-deletion", action="store_true",
                    help="let --cold/--warm run although servers of others exist "
                         "(make lab-down deletes every server)")
    ap.add_argument("--dry-run", action="store_true",
                    help="print what --cold/--warm would do, change nothing")
    ap.add_argument("--lab-python", default=None,
                    help="Python for lab/setup.sh in --cold (LAB_PYTHON; default: the current "
                         "cloud venv's, else python3.11)")
    ap.add_argument("--memory-interval", type=float, default=1.0)
    ap.add_argument("--server", default="lmlab-bench-1")
    ap.add_argument("--keep-server", action="store_true")
    ap.add_argument("--out", default=os.path.join(B.CACHE, "bench"))
    args = ap.parse_args(argv)
    B.check_bench_name(args.server)
    if not (args.cold or args.warm or args.migration or args.memory):
        args.warm = args.migration = args.memory = True
    if os.geteuid() != 0:
        raise SystemExit("run as root (podman, the lab)")
    stamp = time.strftime("%Y%m%dT%H%M%S")
    logdir = os.path.join(args.out, f"lab_bench-{stamp}")
    os.makedirs(logdir, exist_ok=True)

    state0, st = lab_state()
    B.log(f"lab is {state0}")
    if state0 == "partial":
        raise SystemExit("the lab is partly up (see `python3 lab/labctl.py status`): bring it "
                         "fully up or down first; this benchmark changes nothing then")
    results = []
    state = state0
    try:
        for part, wanted in (("cold", args.cold), ("warm", args.warm)):
            if not wanted:
                continue
            foreign = foreign_servers(st) if state == "up" else []
            if foreign and not args.allow_server_deletion and not args.dry_run:
                names = ", ".join(f"{s['Name']} ({s['Host']})" for s in foreign)
                results.append({"part": part, "skipped": f"make lab-down would delete the "
                                f"servers of others: {names}; rerun with "
                                f"--allow-server-deletion"})
                B.log(results[-1]["skipped"])
                continue
            if foreign:
                print(f"NOTE: {part} would be skipped without --allow-server-deletion: "
                      f"make lab-down deletes {', '.join(s['Name'] for s in foreign)}")
            if part == "cold":
                results.append(cold(logdir, state, args.dry_run, args.lab_python))
            else:
                results.append(warm(logdir, state, args.dry_run))
            if not args.dry_run:
                state = "up"
        if (args.migration or args.memory) and not args.dry_run:
            if state != "up":
                make("lab-up", logdir)
                state = "up"
            results.append(migration_and_memory(args, args.memory))
    finally:
        if state0 == "down" and state == "up":
            B.log("the lab was down: taking it down again")
            make("lab-down", logdir)
        B.save_json(os.path.join(logdir, "data.json"), results)
        print(report(results, args), flush=True)
        print(f"\nraw data and make logs: {logdir}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
