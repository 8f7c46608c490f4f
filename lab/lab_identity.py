"""Keystone contents of the lab; run by labctl.py with the lab venv's python.

Reconciles (idempotently) from a JSON spec written by labctl.py:
  - project `service`, a user per service (admin + service roles in it);
  - project `demo` with user `demo` holding only the `member` role;
  - the catalog: one service + public/internal endpoints for each service
    that answers now; endpoints of services not in the spec are deleted
    (a catalog entry for a dead service breaks openstackclient);
  - warm-ups: neutron networks GET (neutron 29 + SQLAlchemy 2.1 answer 500 on
    ports until one networks GET), then ports GET must be 200;
  - waits until nova-conductor and nova-scheduler report `up`.
"""

import json
import sys
import time

import openstack


def alive(pidfile):
    try:
        with open(pidfile) as f:
            pid, start = f.read().split()
        with open(f"/proc/{pid}/stat") as f:
            rest = f.read().rsplit(")", 1)[1].split()
    except (OSError, ValueError):
        return False
    return rest[0] not in ("Z", "X") and rest[19] == start


def main(path):
    with open(path) as f:
        spec = json.load(f)
    t0 = time.monotonic()
    conn = openstack.connect(auth=spec["auth"], region_name=spec["region"],
                             identity_api_version="3", interface="public")
    idn = conn.identity
    default = idn.find_domain("default")

    def project(name, desc):
        p = idn.find_project(name, domain_id=default.id)
        return p or idn.create_project(name=name, domain_id=default.id,
                                       description=desc)

    def role(name):
        return idn.find_role(name) or idn.create_role(name=name)

    def user(name, password, proj):
        u = idn.find_user(name, domain_id=default.id)
        if u:
            idn.update_user(u, password=password, default_project_id=proj.id)
            return u
        return idn.create_user(name=name, password=password, domain_id=default.id,
                               default_project_id=proj.id)

    def grant(u, proj, r):
        idn.assign_project_role_to_user(proj, u, r)

    if spec["users"]:
        service_p = project("service", "lab service users")
        demo_p = project("demo", "lab member project")
        admin_r, member_r, service_r = role("admin"), role("member"), role("service")
        for name, pw in spec["service_users"].items():
            u = user(name, pw, service_p)
            grant(u, service_p, admin_r)
            grant(u, service_p, service_r)
        m = spec["member"]
        mu = user(m["user"], m["password"], demo_p)
        grant(mu, demo_p, member_r)
        print(f"users/projects/roles ok ({time.monotonic() - t0:.1f} s)", flush=True)

    # catalog
    wanted = {s["type"]: s for s in spec["services"]}
    existing = {s.type: s for s in idn.services()}
    endpoints = list(idn.endpoints())
    for stype, svc in existing.items():
        if spec["prune"] and stype not in wanted:
            for ep in endpoints:
                if ep.service_id == svc.id:
                    idn.delete_endpoint(ep)
            if stype != "identity":
                idn.delete_service(svc)
            print(f"catalog: removed {stype} (not running)")
    for stype, want in wanted.items():
        svc = existing.get(stype) or idn.create_service(name=want["name"], type=stype)
        for iface in ("public", "internal"):
            eps = [e for e in endpoints if e.service_id == svc.id and
                   e.interface == iface and e.region_id == spec["region"]]
            if eps and eps[0].url == want["url"]:
                continue
            if eps:
                idn.update_endpoint(eps[0], url=want["url"])
            else:
                idn.create_endpoint(service_id=svc.id, interface=iface,
                                    url=want["url"], region_id=spec["region"])
            print(f"catalog: {stype} {iface} -> {want['url']}")
    print(f"catalog ok: {sorted(wanted)} ({time.monotonic() - t0:.1f} s)", flush=True)

    # fresh connection so the token carries the new catalog
    conn = openstack.connect(auth=spec["auth"], region_name=spec["region"],
                             identity_api_version="3", interface="public")
    if "network" in wanted:
        nets = list(conn.network.networks())
        r = conn.network.get("/ports")
        if r.status_code != 200:
            raise SystemExit(f"neutron GET /ports -> {r.status_code}: {r.text[:300]}")
        print(f"neutron warm-up ok ({len(nets)} networks, ports 200)")
    if spec["wait_compute_services"]:
        want = set(spec["wait_compute_services"])
        deadline = time.monotonic() + 180
        while True:
            for binary, pidfile in spec["wait_compute_services"].items():
                if not alive(pidfile):
                    raise SystemExit(f"{binary} is not running (see its log)")
            svcs = {s.binary: s for s in conn.compute.services()}
            up = {b for b, s in svcs.items() if s.state == "up" and s.status == "enabled"}
            if want <= up:
                break
            if time.monotonic() > deadline:
                raise SystemExit(f"compute services not up: "
                                 f"{ {b: s.state for b, s in svcs.items()} }")
            time.sleep(1)
        print(f"compute services up: {sorted(up)} ({time.monotonic() - t0:.1f} s)")
    if "image" in wanted:
        list(conn.image.images())
    if "placement" in wanted:
        r = conn.placement.get("/resource_providers")
        if r.status_code != 200:
            raise SystemExit(f"placement GET /resource_providers -> {r.status_code}")
    print(f"identity done in {time.monotonic() - t0:.1f} s")


if __name__ == "__main__":
    main(sys.argv[1])
