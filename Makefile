# openstack_ops.live_migration: the one entry point.
#   make setup   install what a fresh machine lacks (apt packages, .venv, the collection)
#   make test    every test tier; fails if any tier fails or could not run
#   make demo    the main job on the built-in lab: lab up, prepare-compute.yml, live-migrate.yml
SHELL := /bin/bash
.ONESHELL:
.SHELLFLAGS := -euo pipefail -c

ROOT        := $(abspath .)
VENV        := $(ROOT)/.venv
BUILD       := $(ROOT)/.build
COLLECTIONS := $(BUILD)/collections
INSTALLED   := $(COLLECTIONS)/ansible_collections/openstack_ops/live_migration
PY312       ?= $(firstword $(wildcard $(HOME)/.pyenv/versions/3.12.*/bin/python3) $(shell command -v python3.12 2>/dev/null))
export ANSIBLE_COLLECTIONS_PATH := $(COLLECTIONS)
export PATH := $(VENV)/bin:$(PATH)
export ANSIBLE_FORCE_COLOR ?= false

# Host packages: podman with systemd test hosts (lab-notes), image building, libvirt-python.
APT_PACKAGES := podman runc containernetworking-plugins iptables debootstrap catatonit uidmap \
	slirp4netns fuse-overlayfs libvirt-dev pkg-config gcc openssl make git rsync shellcheck

MODULES := $(basename $(notdir $(wildcard plugins/modules/*.py)))
LOOKUPS := $(basename $(notdir $(wildcard plugins/lookup/*.py)))
FILTERS := $(basename $(notdir $(wildcard plugins/filter/*.yml)))
ROLES   := $(notdir $(wildcard roles/*))
SCENARIOS ?= default tls legacy el_family

.PHONY: setup apt venv venv-core-oldest collection changelog ee-debian test unit sanity molecule lab demo lab-setup lab-up lab-down lab-status lab-test bench clean help

help:
	@sed -n '2,5p' Makefile

setup: apt venv venv-core-oldest collection

apt:
	missing=$$(for p in $(APT_PACKAGES); do dpkg-query -W -f='$${Status}\n' $$p 2>/dev/null | grep -q 'install ok installed' || echo $$p; done)
	if [ -n "$$missing" ]; then
	  apt-get update -q
	  DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends $$missing
	fi

$(VENV)/.stamp: requirements.txt
	test -n "$(PY312)" || { echo "Python 3.12 not found (ansible-core 2.21 needs >= 3.12): install it or set PY312=" >&2; exit 1; }
	[ -x $(VENV)/bin/python ] || $(PY312) -m venv $(VENV)
	$(VENV)/bin/pip install -q -r requirements.txt
	touch $@

venv: $(VENV)/.stamp

# A second venv with the oldest ansible-core meta/runtime.yml claims, named by the hash of its
# requirements (tests/requirements-core-oldest.txt) and shared by every checkout of this machine:
# built once (~1.5 min), then reused. Its collections are links into .venv's `ansible` package.
CORE_OLDEST_REQ := tests/requirements-core-oldest.txt
VENV_OLDEST := $(HOME)/.cache/openstack_ops-live_migration/venv-core-$(shell sha256sum $(CORE_OLDEST_REQ) | cut -c1-12)
$(VENV_OLDEST)/.stamp: | $(VENV)/.stamp
	test -n "$(PY312)" || { echo "Python 3.12 not found: install it or set PY312=" >&2; exit 1; }
	mkdir -p $(dir $(VENV_OLDEST))
	exec 9>$(VENV_OLDEST).lock; flock 9   # two checkouts must not build it at once
	[ -e $@ ] && exit 0
	rm -rf $(VENV_OLDEST)   # built in place (a venv's scripts name their path); .stamp marks it complete
	$(PY312) -m venv $(VENV_OLDEST)
	$(VENV_OLDEST)/bin/pip install -q -r $(CORE_OLDEST_REQ)
	bundled=$$($(VENV)/bin/python -c 'import ansible_collections.openstack.cloud as c,os;print(os.path.realpath(os.path.join(list(c.__path__)[0],"..","..")))')
	mkdir -p $(VENV_OLDEST)/collections/ansible_collections/{openstack,ansible}
	ln -s $$bundled/openstack/cloud $(VENV_OLDEST)/collections/ansible_collections/openstack/cloud
	ln -s $$bundled/ansible/posix $(VENV_OLDEST)/collections/ansible_collections/ansible/posix
	site=$$($(VENV_OLDEST)/bin/python -c 'import sysconfig;print(sysconfig.get_path("purelib"))')
	echo $(VENV_OLDEST)/collections > $$site/zz-bundled-collections.pth
	touch $@

venv-core-oldest: $(VENV_OLDEST)/.stamp

# The collection is installed from its own built tarball, as users get it.
collection: venv
	mkdir -p $(BUILD)
	exec 9>$(BUILD)/.collection.lock; flock 9   # two makes must not rebuild it at once
	rm -rf $(BUILD)/dist $(INSTALLED)
	mkdir -p $(BUILD)/dist $(COLLECTIONS)
	ansible-galaxy collection build --force --output-path $(BUILD)/dist . >/dev/null
	ansible-galaxy collection install --force --no-deps -p $(COLLECTIONS) $(BUILD)/dist/openstack_ops-live_migration-*.tar.gz >/dev/null
	echo "installed $$(ls $(BUILD)/dist) into $(COLLECTIONS)"

# Fold the fragments in changelogs/fragments/ into changelogs/changelog.yaml under the version in
# galaxy.yml (again and again while that version is in development) and write CHANGELOG.md.
changelog: collection
	antsibull-changelog lint
	antsibull-changelog release --reload-plugins   # picks up plugins added since the last run

# The execution environment built by ansible-builder on a Debian base made here (no registry
# reachable), then a play run inside it (tools/ee-debian.py; docs/awx.md). Not part of make test.
ee-debian: collection
	source tools/podman-env.sh
	$(VENV)/bin/python tools/ee-debian.py build
	$(VENV)/bin/python tools/ee-debian.py smoke

# One tier after the other. tests/run-tiers.sh can run tiers side by side (molecule+lab), but that
# is not proven green yet: the first try lost the molecule tier's hosts to the lab tier's `molecule
# reset` (fixed below); until a side-by-side run has passed, make test keeps them in a row.
test: collection
	tests/run-tiers.sh unit sanity molecule lab

unit: venv venv-core-oldest
	pytest -q tests/unit
	echo "=== the unit tier again under ansible-core $$($(VENV_OLDEST)/bin/python -c 'import ansible.release as r;print(r.__version__)') (requires_ansible's lower bound)"
	$(VENV_OLDEST)/bin/pytest -q -p no:cacheprovider tests/unit

# ansible-test sanity on the installed collection plus SANITY_EXTRA: what galaxy.yml's build_ignore
# leaves out of the tarball (an EE does not need it) but ansible-test has always checked, copied
# beside it in a tree of its own (.build/sanity); then antsibull-changelog lint (and CHANGELOG.md is
# what it generates), ansible-lint (production profile), and every module and role rendered by ansible-doc.
# (antsibull-docs lint-collection-docs is not in it yet: its result depends on where the venv and the
# tree lie, see the closing note of 2026-12-03.)
# ansible-test --venv bootstraps pip with a get-pip script from a host this machine cannot
# reach; its documented way out is a script saved in its cache: tests/sanity/get-pip-offline.py
# (ensurepip, then pip install from PyPI). ansible-test sees only the collections of its own
# collection root, so openstack.cloud (whose doc fragment the modules use) is copied beside
# ours, and it lists files through git, so the tree gets a throw-away repository.
SANITY_ROOT  := $(BUILD)/sanity
SANITY_TREE  := $(SANITY_ROOT)/ansible_collections/openstack_ops/live_migration
SANITY_EXTRA := extensions tests/unit tests/sanity tests/run-tiers.sh tests/requirements-core-oldest.txt changelogs/fragments
ANSIBLE_TEST_PIP := $(shell $(VENV)/bin/python -c "import re,ansible_test,os;print(re.search(r\"pip='([0-9.]+)'\",open(os.path.join(os.path.dirname(ansible_test.__file__),'_internal','python_requirements.py')).read()).group(1).replace('.','_'))" 2>/dev/null)
sanity: collection venv-core-oldest
	mkdir -p $(HOME)/.ansible/test/cache
	test -n "$(ANSIBLE_TEST_PIP)" || { echo "cannot read ansible-test's pip version" >&2; exit 1; }
	cp tests/sanity/get-pip-offline.py $(HOME)/.ansible/test/cache/get_pip_$(ANSIBLE_TEST_PIP).py
	rm -rf $(SANITY_ROOT)
	mkdir -p $(SANITY_TREE) $(SANITY_ROOT)/ansible_collections/openstack
	cp -a $(INSTALLED)/. $(SANITY_TREE)/
	for p in $(SANITY_EXTRA); do mkdir -p $(SANITY_TREE)/$$(dirname $$p); cp -a $$p $(SANITY_TREE)/$$p; done
	cp -r $$($(VENV)/bin/python -c 'import ansible_collections.openstack.cloud as c;print(list(c.__path__)[0])') $(SANITY_ROOT)/ansible_collections/openstack/cloud
	cd $(SANITY_TREE)
	git init -q . && printf 'tests/output/\n__pycache__/\n*.pyc\n' > .gitignore && git add -A >/dev/null
	ansible-test sanity --venv --python 3.12 --color no
	# the oldest ansible-core claimed (tests/requirements-core-oldest.txt): its compile and
	# validate-modules tests (~1 min; the others would repeat what the current one checks)
	old_pip=$$($(VENV_OLDEST)/bin/python -c "import re,ansible_test,os;print(re.search(r\"pip='([0-9.]+)'\",open(os.path.join(os.path.dirname(ansible_test.__file__),'_internal','python_requirements.py')).read()).group(1).replace('.','_'))")
	cp $(ROOT)/tests/sanity/get-pip-offline.py $(HOME)/.ansible/test/cache/get_pip_$$old_pip.py
	$(VENV_OLDEST)/bin/ansible-test sanity --venv --python 3.12 --color no --test compile --test validate-modules
	cd $(ROOT)
	antsibull-changelog lint
	antsibull-changelog generate --output $(BUILD)/CHANGELOG.md --output-format md
	diff -u CHANGELOG.md $(BUILD)/CHANGELOG.md || { echo "CHANGELOG.md is not what antsibull-changelog generates: add a fragment to changelogs/fragments/ and run make changelog, never edit it by hand" >&2; exit 1; }
	ansible-lint --profile production --offline -q
	for m in $(MODULES); do ansible-doc -t module openstack_ops.live_migration.$$m >/dev/null || { echo "ansible-doc failed for module $$m" >&2; exit 1; }; done
	for r in $(ROLES); do ansible-doc -t role openstack_ops.live_migration.$$r >/dev/null || { echo "ansible-doc failed for role $$r" >&2; exit 1; }; done
	for l in $(LOOKUPS); do ansible-doc -t lookup openstack_ops.live_migration.$$l >/dev/null || { echo "ansible-doc failed for lookup $$l" >&2; exit 1; }; done
	for f in $(FILTERS); do ansible-doc -t filter openstack_ops.live_migration.$$f >/dev/null || { echo "ansible-doc failed for filter $$f" >&2; exit 1; }; done
	echo "ansible-doc rendered $(words $(MODULES)) modules, $(words $(LOOKUPS)) lookups, $(words $(FILTERS)) filters and $(words $(ROLES)) roles"

# Real systemd hosts under rootful Podman, from images built here (cached by content),
# on a test network in 198.18.10.0/24 with no NAT and no route out.
LM_TEST_NETWORK ?= lmmol
molecule: collection
	source tools/podman-env.sh
	export LM_TEST_NETWORK=$(LM_TEST_NETWORK)
	export LM_IMAGE_HYPERVISOR=$$(tools/image.sh build hypervisor)
	export LM_IMAGE_ELFAKE=$$(tools/image.sh build elfake)
	tools/net.sh up $(LM_TEST_NETWORK) 198.18.10.0/24
	trap '$(ROOT)/tools/net.sh down $(LM_TEST_NETWORK)' EXIT
	cd extensions
	for s in $(SCENARIOS); do
	  echo "=== molecule scenario $$s"
	  start=$$(date +%s)
	  molecule test -s $$s
	  echo "=== molecule scenario $$s passed in $$(( $$(date +%s) - start )) s"
	done

# The lab: a real Nova 34 control plane on 198.18.20.1 and two libvirt/QEMU (TCG) hypervisors
# in systemd containers on 198.18.20.0/24, prepared by this collection's prepare-compute.yml.
# See lab/README.md. lab-up runs lab-setup (apt packages, wheelhouse, cloud venv, guest image).
LAB_STATE := $(ROOT)/.cache/lab/state

# Test tier `lab`: the Molecule scenario `lab` (create = lab up + guest, converge =
# prepare-compute.yml, side effect = live-migrate.yml, verify = testinfra on both hypervisors),
# then the pytest lab tests on the same lab (proofs of the lab, the modules' fault cases),
# then destroy = lab down, also when something failed.
lab: collection lab-setup
	source tools/podman-env.sh
	export LM_ROOT=$(ROOT) LM_LAB_STATE=$(LAB_STATE)
	# molecule validates every scenario's molecule.yml, also those of the `molecule` tier
	export LM_TEST_NETWORK=$(LM_TEST_NETWORK) LM_IMAGE_HYPERVISOR=$$(tools/image.sh ref hypervisor) \
	  LM_IMAGE_ELFAKE=$$(tools/image.sh ref elfake)
	cd extensions
	# molecule keeps a scenario's state outside the checkout: forget an earlier run's (by hand:
	# `molecule reset` also removes every molecule-made podman container, a running tier's too)
	rm -rf $(HOME)/.ansible/tmp/molecule.*.lab
	trap 'molecule destroy -s lab' EXIT
	molecule create -s lab
	molecule converge -s lab
	molecule side-effect -s lab
	molecule verify -s lab
	cd $(ROOT)
	LAB_NO_AUTO_UP=1 pytest -v -p no:cacheprovider tests/lab

demo: setup lab-setup
	lab/demo.sh

lab-setup: collection
	lab/setup.sh

lab-up: lab-setup
	python3 lab/labctl.py up

lab-down:
	python3 lab/labctl.py down

lab-status:
	python3 lab/labctl.py status

# the pytest lab tests alone; they bring the lab up when it is not (and down after)
lab-test: lab-setup
	pytest -v -p no:cacheprovider tests/lab

# Benchmarks on the lab (numbers, no assertions; bench/README.md); it brings the lab up first and leaves it up. First
# the lab figures (warm lab-down + lab-up, skipped while other people's servers exist; one
# migration; peak memory), then the live_migrate module's overhead over Nova vs
# openstackclient, then TLS streams against clear ones (bench/tls_streams.py). The cold lab-up
# only runs by hand: bench/lab_bench.py --cold. BENCH_LAB_ARGS / BENCH_ARGS / BENCH_TLS_ARGS pass
# options to each script.
bench: lab-up
	$(VENV)/bin/python bench/lab_bench.py --keep-server $(BENCH_LAB_ARGS)
	$(VENV)/bin/python bench/migration_overhead.py $(BENCH_ARGS)
	$(VENV)/bin/python bench/tls_streams.py $(BENCH_TLS_ARGS)

clean:
	rm -rf $(BUILD)
