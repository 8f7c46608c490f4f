"""Generate tempest.conf for the lab from its clouds.yaml (issue 9, section 3). Never by hand.

Run with the cloud venv's python (openstacksdk, PyYAML):

  .cache/lab/venv-cloud/bin/python lab/tempest_conf.py --workspace DIR \
      [--clouds .cache/lab/state/clouds.yaml] [--cloud lab-admin] [--no-ensure]

Writes DIR/etc/tempest.conf (mode 0600: it holds the admin password) and prints what it
found (never the password). Everything that describes the cloud comes from the cloud itself:
  * auth: clouds.yaml's cloud (auth_url, username, password, project, domains), region and
    interface (-> every service's endpoint type);
  * image_ref / flavor_ref: the IDs of the image `lmlab-guest` and the flavor `m2.tiny`, looked
    up by name; unless --no-ensure, created when missing, exactly as `labctl boot` does
    (lab_hypervisors.py ensure_flavor_image: 1 vCPU, 256 MB, 1 GB, public; the guest's qcow2
    from .cache/lab/guest, hw_disk_bus=virtio);
  * [network-feature-enabled] api_extensions: the aliases neutron lists (no `trunk` here, so
    test_live_migration_with_trunk is skipped by tempest, not tried);
  * [compute] max_microversion: the compute endpoint's own maximum (nova 34: 2.104); unset,
    tempest's range is [None - None] and the 2.25 (auto block migration) and 2.80 (project
    manager) classes are skipped; min_microversion stays unset (see below);
  * [service_available]: nova, glance, neutron true (every live-migration class needs
    neutron); cinder, swift, horizon false (the lab has none of them; checked against the
    catalog: a service this file says is missing must not be in it, and the ones it says are
    there must be).
The rest is the recipe measured in /work/shared/lab-notes.md ("Tempest against the lab"):
dynamic credentials made with the admin, no isolated networks, no validation (the guest has no
NIC), 2 compute nodes, block live migration, pause/suspend, no volume-backed/serial console/vTPM
live migration, nova's new policy roles with scope enforced, build_timeout 600 (TCG guests).

It refuses (exit 2) when a shared network exists: tempest's boots below microversion 2.37 ask
for no network, and nova then plugs the server into every shared network, which the lab's
hypervisors cannot do (no tap devices in the containers). At 2.37+ tempest sends
networks='none' itself, so [compute] min_microversion and fixed_network_name stay unset.
"""

import argparse
import configparser
import hashlib
import os
import sys

import openstack
import openstack.config

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
STATE = os.environ.get("LAB_STATE", os.path.join(REPO, ".cache", "lab", "state"))
IMAGE = "lmlab-guest"
FLAVOR = "m2.tiny"
GUEST_QCOW2 = os.path.join(REPO, ".cache", "lab", "guest", "lmlab-guest.qcow2")
# services this file declares available / absent, by catalog type
PRESENT = {"nova": "compute", "glance": "image", "neutron": "network"}
ABSENT = {"cinder": ("volumev3", "block-storage", "volume"), "swift": ("object-store",),
          "horizon": ("dashboard",)}


class ConfError(Exception):
    pass


def log(msg):
    print(f"[tempest_conf] {msg}", flush=True)


def load_cloud(clouds, cloud):
    """The cloud as openstacksdk reads clouds.yaml; OS_* variables and other files ignored."""
    cfg = openstack.config.OpenStackConfig(config_files=[clouds], vendor_files=[],
                                           secure_files=[], load_envvars=False)
    return cfg.get_one(cloud=cloud)


def ensure_flavor(conn, create):
    fl = conn.compute.find_flavor(FLAVOR, ignore_missing=True)
    if fl is None:
        if not create:
            raise ConfError(f"flavor {FLAVOR} missing (run `labctl boot` or drop --no-ensure)")
        fl = conn.compute.create_flavor(name=FLAVOR, vcpus=1, ram=256, disk=1, is_public=True)
        log(f"flavor {FLAVOR} created ({fl.id})")
    return fl


def ensure_image(conn, create):
    imgs = [i for i in conn.image.images(name=IMAGE)]
    active = [i for i in imgs if i.status == "active"]
    if len(active) > 1:
        raise ConfError(f"{len(active)} active images named {IMAGE}: "
                        f"{[i.id for i in active]} (image_ref must be one)")
    if active:
        return active[0]
    if imgs:
        raise ConfError(f"image {IMAGE} exists but is {imgs[0].status} ({imgs[0].id})")
    if not create:
        raise ConfError(f"image {IMAGE} missing (run `labctl boot` or drop --no-ensure)")
    if not os.path.exists(GUEST_QCOW2):
        raise ConfError(f"{GUEST_QCOW2} missing: run lab/guest/build.sh")
    with open(GUEST_QCOW2, "rb") as f:
        data = f.read()
    img = conn.image.create_image(name=IMAGE, disk_format="qcow2", container_format="bare",
                                  visibility="public", data=data, hw_disk_bus="virtio",
                                  wait=True, timeout=300)
    img = conn.image.get_image(img.id)
    if img.checksum != hashlib.md5(data).hexdigest() or img.status != "active":
        raise ConfError(f"image {IMAGE} upload: status {img.status} checksum {img.checksum}")
    log(f"image {IMAGE} uploaded ({img.id})")
    return img


def catalog_types(conn):
    return {s.type for s in conn.identity.services()}


def generate(clouds, cloud, workspace, create=True):
    cc = load_cloud(clouds, cloud)
    auth = cc.auth
    need = ("auth_url", "username", "password", "project_name")
    missing = [k for k in need if not auth.get(k)]
    if missing:
        raise ConfError(f"{clouds} cloud {cloud}: no {', '.join(missing)} in auth")
    region = cc.region_name or "RegionOne"
    iface = cc.config.get("interface") or "public"
    conn = openstack.connection.Connection(config=cc)

    # the cloud's own answers
    types = catalog_types(conn)
    for svc, stype in PRESENT.items():
        if stype not in types:
            raise ConfError(f"{svc} ({stype}) is not in the catalog: {sorted(types)}")
    for svc, stypes in ABSENT.items():
        if set(stypes) & types:
            raise ConfError(f"{svc} is in the catalog ({sorted(set(stypes) & types)}) but "
                            f"this file declares it unavailable: update tempest_conf.py")
    shared = [n for n in conn.network.networks(shared=True)]
    if shared:
        raise ConfError("shared network(s) exist: " +
                        ", ".join(f"{n.name} ({n.id})" for n in shared) +
                        ": tempest's boots below microversion 2.37 would get a NIC on them, "
                        "which the lab's hypervisors cannot plug; delete them first")
    extensions = sorted(e.alias for e in conn.network.extensions())
    ep = conn.compute.get_endpoint_data()
    if not ep or not ep.max_microversion:
        raise ConfError("the compute endpoint reports no microversion range")
    max_mv = "%d.%d" % tuple(ep.max_microversion)
    flavor = ensure_flavor(conn, create)
    image = ensure_image(conn, create)
    computes = [s for s in conn.compute.services(binary="nova-compute")]
    up = sorted(s.host for s in computes if s.state == "up" and s.status == "enabled")
    log(f"region {region}, interface {iface}, catalog {sorted(types)}")
    log(f"image {IMAGE} {image.id}, flavor {FLAVOR} {flavor.id}, nova-compute up: {up}")
    log(f"neutron extensions: {len(extensions)} (trunk: {'trunk' in extensions}), "
        f"compute microversions up to {max_mv}")
    if len(up) < 2:
        log(f"WARNING: {len(up)} nova-compute service(s) up and enabled; the live-migration "
            f"tests need 2")

    auth_url = auth["auth_url"].rstrip("/")
    if not auth_url.endswith("/v3"):
        auth_url += "/v3"
    user_domain = auth.get("user_domain_name") or auth.get("domain_name") or "Default"
    project_domain = auth.get("project_domain_name") or auth.get("domain_name") or "Default"
    ws = os.path.abspath(workspace)
    c = configparser.ConfigParser(interpolation=None)
    c.optionxform = str
    conf = {
        "DEFAULT": {"log_dir": os.path.join(ws, "logs"), "log_file": "tempest.log",
                    "debug": "true", "use_stderr": "false"},
        "oslo_concurrency": {"lock_path": os.path.join(ws, "tempest_lock")},
        "auth": {
            "use_dynamic_credentials": "true",
            "create_isolated_networks": "false",
            "admin_username": auth["username"],
            "admin_password": auth["password"],
            "admin_project_name": auth["project_name"],
            "admin_domain_name": user_domain,
            "admin_user_domain_name": user_domain,
            "admin_project_domain_name": project_domain,
            "default_credentials_domain_name": project_domain,
        },
        "identity": {"uri_v3": auth_url, "auth_version": "v3", "region": region,
                     "v3_endpoint_type": iface},
        "identity-feature-enabled": {"api_v2": "false"},
        "compute": {
            "image_ref": image.id, "image_ref_alt": image.id,
            "flavor_ref": flavor.id, "flavor_ref_alt": flavor.id,
            # without it tempest's range is [None - None]: every class with a
            # min_microversion (2.25 auto block migration, 2.80 project manager) is skipped
            "max_microversion": max_mv,
            "min_compute_nodes": "2",
            "build_timeout": "600",
            "region": region, "endpoint_type": iface,
        },
        "compute-feature-enabled": {
            "live_migration": "true",
            "block_migration_for_live_migration": "true",
            "pause": "true",
            "suspend": "true",
            "volume_backed_live_migration": "false",
            "serial_console": "false",
            "vtpm_live_migration": "false",
            "nova_policy_roles": "admin,member,reader,manager",
        },
        "enforce_scope": {"nova": "true"},
        "image": {"region": region, "endpoint_type": iface},
        "network": {"region": region, "endpoint_type": iface},
        "network-feature-enabled": {"api_extensions": ",".join(extensions)},
        "placement": {"region": region, "endpoint_type": iface},
        "validation": {"run_validation": "false"},
        "service_available": {
            **{svc: "true" for svc in PRESENT},
            **{svc: "false" for svc in ABSENT},
        },
    }
    for section, values in conf.items():
        if section != "DEFAULT":
            c.add_section(section)
        for k, v in values.items():
            c.set(section, k, v)
    for d in ("etc", "logs", "tempest_lock"):
        os.makedirs(os.path.join(ws, d), exist_ok=True)
    path = os.path.join(ws, "etc", "tempest.conf")
    fd = os.open(path + ".tmp", os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(f"# Generated by lab/tempest_conf.py from {os.path.abspath(clouds)} "
                f"(cloud {cloud}): do not edit, run it again\n")
        c.write(f)
    os.replace(path + ".tmp", path)
    log(f"wrote {path}")
    return path


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--workspace", required=True,
                    help="tempest workspace: the file goes to WORKSPACE/etc/tempest.conf")
    ap.add_argument("--clouds", default=os.path.join(STATE, "clouds.yaml"))
    ap.add_argument("--cloud", default="lab-admin")
    ap.add_argument("--no-ensure", action="store_true",
                    help="only look the flavor and image up; fail when one is missing")
    a = ap.parse_args(argv)
    # the lab's endpoints are on its own network: never through a proxy
    for k in ("http_proxy", "https_proxy", "HTTP_PROXY", "HTTPS_PROXY"):
        os.environ.pop(k, None)
    try:
        generate(a.clouds, a.cloud, a.workspace, create=not a.no_ensure)
    except (ConfError, openstack.exceptions.SDKException) as e:
        print(f"tempest_conf.py: {e}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
