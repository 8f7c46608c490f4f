"""Every role variable is declared, typed, documented, and its documented default is the real one."""
import os
import subprocess
import sys

import pytest
import yaml

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
ROLES = sorted(r for r in os.listdir(os.path.join(ROOT, "roles")) if not r.startswith("."))


def _load(role, *parts):
    path = os.path.join(ROOT, "roles", role, *parts)
    with open(path) as f:
        return yaml.safe_load(f) or {}


@pytest.mark.parametrize("role", ROLES)
def test_every_default_is_in_the_argument_spec(role):
    defaults = _load(role, "defaults", "main.yml")
    options = _load(role, "meta", "argument_specs.yml")["argument_specs"]["main"]["options"]
    assert sorted(set(defaults) - set(options)) == []
    assert sorted(set(options) - set(defaults)) == []


@pytest.mark.parametrize("role", ROLES)
def test_literal_defaults_match_the_spec(role):
    """Where a default is a literal (not a template), the spec shows the same value."""
    defaults = _load(role, "defaults", "main.yml")
    options = _load(role, "meta", "argument_specs.yml")["argument_specs"]["main"]["options"]
    for name, value in defaults.items():
        if isinstance(value, str) and "{{" in value:
            assert "default" not in options[name], "%s: templated default must be described, not given" % name
            continue
        assert options[name].get("default") == value, name


@pytest.mark.parametrize("role", ROLES)
def test_every_variable_is_described_and_prefixed(role):
    options = _load(role, "meta", "argument_specs.yml")["argument_specs"]["main"]["options"]
    for name, opt in options.items():
        assert name.startswith(role + "_"), name
        assert opt.get("description"), name
        assert opt.get("type"), name


def test_docs_roles_md_is_generated_from_the_specs():
    res = subprocess.run([sys.executable, os.path.join(ROOT, "tools", "gen_role_docs.py"), "--check"], check=False)
    assert res.returncode == 0, "docs/roles.md is stale: run python tools/gen_role_docs.py"
