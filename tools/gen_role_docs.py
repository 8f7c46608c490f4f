#!/usr/bin/env python3
"""Write docs/roles.md from every role's meta/argument_specs.yml (the one source of truth).

    python tools/gen_role_docs.py          # rewrite docs/roles.md
    python tools/gen_role_docs.py --check  # exit 1 when docs/roles.md is stale
"""
import os
import sys

import yaml

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ORDER = ["preflight", "qemu_kvm_ev", "libvirt_listener", "nova_migration"]


def _text(value):
    if isinstance(value, list):
        return " ".join(str(v) for v in value)
    return str(value or "")


def _md(value):
    import re
    value = re.sub(r"[CIO]\(([^)]*)\)", r"`\1`", value)
    return value.replace("|", "\\|").replace("\n", " ")


def render():
    roles = sorted(os.listdir(os.path.join(ROOT, "roles")), key=lambda r: (ORDER.index(r) if r in ORDER else 99, r))
    out = ["# Roles and their variables", "",
           "Generated from each role's `meta/argument_specs.yml` by `tools/gen_role_docs.py`;",
           "a unit test fails when this file and the specs disagree. The roles run in this order in",
           "`playbooks/prepare-compute.yml`: validation of all of them first, preflight, then",
           "qemu_kvm_ev, libvirt_listener and nova_migration one batch (extra var",
           "`-e prepare_compute_serial=N`, default 1) at a time, then a libvirt connection check",
           "between all peers.", "",
           "An empty string is not an absent value: every role refuses a string variable, or an item of",
           "a list of strings, set to an empty or blank string (`-e NAME=`) before anything changes,",
           "naming the variable (`plugins/filter/empty.py`, the modules' rule). Leave a variable out to get",
           "its default. Only the variables whose default is `\"\"` take the empty string, which means",
           "what their description says.", ""]
    for role in roles:
        path = os.path.join(ROOT, "roles", role, "meta", "argument_specs.yml")
        if not os.path.exists(path):
            continue
        spec = yaml.safe_load(open(path))["argument_specs"]["main"]
        out += ["## `openstack_ops.live_migration.%s`" % role, "", _md(_text(spec.get("short_description"))), ""]
        for line in spec.get("description", []):
            out.append("- " + _md(_text(line)))
        out += ["", "| variable | type | default | choices | description |", "|---|---|---|---|---|"]
        for name, opt in spec.get("options", {}).items():
            default = opt.get("default", "")
            default = "`%s`" % (yaml.safe_dump(default, default_flow_style=True).strip().replace("\n...", "")
                                 if default != "" or "default" in opt else "")
            if "default" not in opt:
                default = "(see description)"
            choices = ", ".join("`%s`" % c for c in opt.get("choices", []))
            otype = opt.get("type", "str") + ("[%s]" % opt["elements"] if "elements" in opt else "")
            out.append("| `%s` | %s | %s | %s | %s |" % (name, otype, _md(default), choices, _md(_text(opt.get("description")))))
        out.append("")
    return "\n".join(out)


def main():
    target = os.path.join(ROOT, "docs", "roles.md")
    text = render()
    if "--check" in sys.argv:
        current = open(target).read() if os.path.exists(target) else ""
        sys.exit(0 if current == text else 1)
    with open(target, "w") as f:
        f.write(text)


if __name__ == "__main__":
    main()
