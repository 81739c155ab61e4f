# rentstack: the two commands of the README are `make demo` and `make test`.
# Everything runs from the repository root so ansible.cfg applies.
#
#   make deps         control-machine packages (apt) and the Python venv (.venv)
#   make lab          build or repair the local lab (playbooks/lab.yml)
#   make lab-destroy  remove the lab (keeps the shared apt cache and image)
#   make demo         deps + every playbook in DEMO_PLAYBOOKS, in order
#   make lint         yamllint, ansible-lint (production), syntax-check, ruff
#   make unit         unit tests (no lab needed)
#   make integration  integration tests against the lab (root + podman)
#   make faults       fault injection during 20-VM creates and the inventory under churn
#                     (test_35, RENTSTACK_DEPLOY=1 RENTSTACK_FAULTS=1: stops and restarts the
#                     lab cloud's services, ~1 h; docs/testing.md, "Fault injection")
#   make test         deps + lint + unit + integration in ONE pytest run
#   make sanity       build the collection rentstack.cloud, install it into a temp dir and run
#                     ansible-test sanity on it (no lab needed; docs/collection.md)
#   make molecule     `molecule test` of every per-role scenario (molecule/<role>), one at a time, each
#                     in a container rentstack-mol-<role> from the lab image (make lab builds it); root
#   make molecule-R   the scenario of role R alone, e.g. make molecule-keystone (docs/testing.md)
#   make molecule-default  the multi-node scenario: site.yml on a controller and a compute host, verify.yml;
#                     a second cloud, so not in `make molecule`: needs the main lab idle or stopped
#   make bench        the benchmarks, then docs/benchmarks.md (bench/README.md;
#                     destroys and redeploys the lab: bench/deploy.py)
#   make ee-test      the image (make ee), then the playbooks through ansible-runner inside it as AWX
#                     runs them, on the deployed lab (tests/integration/test_ee_runner.py)
#
# Set RENTSTACK_DESTRUCTIVE=1 to also run the test that destroys and rebuilds
# the lab (CI does, see .ci/run); never on a lab other people are using.

SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help
.DELETE_ON_ERROR:

ROOT := $(abspath $(dir $(lastword $(MAKEFILE_LIST))))
PYTHON ?= python3
VENV := $(ROOT)/.venv
VENV_STAMP := $(VENV)/.rentstack-requirements.sha256

# Packages the control machine needs (Debian 12/13).
# python3-apt: the apt tasks that run on the control machine use Debian's Python (roles/lab, guest_image).
APT_PACKAGES := python3-venv python3-apt podman runc debootstrap openssh-client git make chromium chromium-driver
# apt lists older than this (minutes) are refreshed before an install.
APT_LISTS_MAX_AGE := 1440

# Playbooks `make demo` runs, in order. Later stages append to this list.
# The main job end to end: lab, deploy (ends with verify), tenancy, a rental
# request of VMs created and deleted (requests/example.yml), then the report.
DEMO_PLAYBOOKS := playbooks/lab.yml playbooks/site.yml playbooks/tenants.yml playbooks/vms_create.yml playbooks/vms_delete.yml

PYTEST_ARGS ?=
# VMs per bulk benchmark (the report's test uses 100).
BENCH_COUNT ?= 100
# Empty or 0: the destructive lab test is skipped (with a reason).
RENTSTACK_DESTRUCTIVE ?=

export PATH := $(VENV)/bin:$(PATH)
export ANSIBLE_CONFIG := $(ROOT)/ansible.cfg
export RENTSTACK_DESTRUCTIVE
export PYTHONDONTWRITEBYTECODE := 1

ANSIBLE_PLAYBOOK := $(VENV)/bin/ansible-playbook
PYTEST := $(VENV)/bin/pytest

.PHONY: help deps apt venv lab lab-destroy demo lint unit integration faults test sanity molecule bench ee-context ee-base ee ee-test lab2-test

help:
	@sed -n 's/^#   make /  make /p' $(firstword $(MAKEFILE_LIST))

deps: apt venv

# Installs only missing packages; runs `apt-get update` only when something
# must be installed and the package lists are missing or older than a day.
apt:
	@missing=""; \
	for p in $(APT_PACKAGES); do \
	  dpkg-query -W -f='$${Status}' "$$p" 2>/dev/null | grep -q 'install ok installed' || missing="$$missing $$p"; \
	done; \
	if [ -z "$$missing" ]; then echo "deps: apt packages present"; exit 0; fi; \
	sudo=""; if [ "$$(id -u)" != 0 ]; then sudo="sudo"; fi; \
	echo "deps: installing$$missing"; \
	if ! find /var/lib/apt/lists -maxdepth 1 -name '*Release' -mmin -$(APT_LISTS_MAX_AGE) 2>/dev/null | grep -q .; then \
	  $$sudo env DEBIAN_FRONTEND=noninteractive apt-get update -q; \
	fi; \
	$$sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -q $$missing

# (Re)installs requirements.txt only when its content (or requirements-runtime.txt's, which it
# includes) changed since the last successful install (sha256 kept in the venv).
venv: apt
	@if [ ! -x "$(VENV)/bin/python" ]; then \
	  echo "deps: creating $(VENV)"; $(PYTHON) -m venv "$(VENV)"; rm -f "$(VENV_STAMP)"; \
	fi; \
	want="$$(cat "$(ROOT)/requirements.txt" "$(ROOT)/requirements-runtime.txt" | sha256sum | cut -d' ' -f1)"; \
	if [ "$$(cat "$(VENV_STAMP)" 2>/dev/null)" = "$$want" ]; then \
	  echo "deps: .venv matches requirements.txt"; \
	else \
	  echo "deps: installing requirements.txt into .venv"; \
	  "$(VENV)/bin/python" -m pip install --quiet --disable-pip-version-check -r "$(ROOT)/requirements.txt"; \
	  echo "$$want" > "$(VENV_STAMP)"; \
	fi; \
	site="$$("$(VENV)/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')"; \
	for f in rentstack_sdk_compat.py rentstack_sdk_compat.pth; do \
	  cmp -s "$(ROOT)/tools/sdk_compat/$$f" "$$site/$$f" || cp "$(ROOT)/tools/sdk_compat/$$f" "$$site/$$f"; \
	done

lab: deps
	cd $(ROOT) && $(ANSIBLE_PLAYBOOK) playbooks/lab.yml

lab-destroy: deps
	cd $(ROOT) && $(ANSIBLE_PLAYBOOK) playbooks/lab.yml -e lab_state=absent

demo: deps
	@cd $(ROOT) && for pb in $(DEMO_PLAYBOOKS); do \
	  echo "demo: ansible-playbook $$pb -e @requests/example.yml"; \
	  $(ANSIBLE_PLAYBOOK) "$$pb" -e @requests/example.yml || exit 1; \
	done
	@cd $(ROOT) && echo "demo: capacity report" && \
	  $(ANSIBLE_PLAYBOOK) -i inventory/lab/cloud.rentstack.yml playbooks/report.yml

lint: venv
	cd $(ROOT) && $(PYTEST) tests/lint $(PYTEST_ARGS)

unit: venv
	cd $(ROOT) && $(PYTEST) tests/unit $(PYTEST_ARGS)

integration: venv
	cd $(ROOT) && $(PYTEST) tests/integration $(PYTEST_ARGS)

# Every case of tests/integration/test_35_bulk_faults.py (CI runs only its neutron-server case). It
# deploys or re-checks the cloud first (site.yml, as any deploy-tier run), then breaks and restores it:
# never on a lab other people are using. -rA prints each case's outcome, for docs/testing.md.
faults: venv
	cd $(ROOT) && RENTSTACK_DEPLOY=1 RENTSTACK_FAULTS=1 $(PYTEST) tests/integration/test_35_bulk_faults.py -rA $(PYTEST_ARGS)

# The second lab layout (inventory/lab2: other names, networks, cloud name; tests/integration/test_95_lab2.py):
# destroys the main lab, builds lab2, deploys and verifies it, destroys it. Never on a lab others are using;
# `make lab` (or CI) builds the main lab again afterwards.
lab2-test: venv
	cd $(ROOT) && RENTSTACK_LAB2=1 $(PYTEST) tests/integration/test_95_lab2.py -rA $(PYTEST_ARGS)

# One pytest run so the output ends in one summary line ("N passed ...").
test: deps
	cd $(ROOT) && $(PYTEST) tests/lint tests/unit tests/integration $(PYTEST_ARGS)

# The collection rentstack.cloud (galaxy.yml, docs/collection.md): build it from the tree, install it into a
# temporary collections directory (--no-deps: Galaxy may be unreachable; the `ansible` package in .venv has the
# dependencies) and run ansible-test sanity there, each test in its own venv (--venv). ansible-test bootstraps
# pip in those venvs with a script it would download from ci-files.testing.ansible.com; the project sends no
# traffic beyond the package mirrors, so the offline stand-in tools/ansible_test_get_pip.py is always put in
# ansible-test's cache first (ansible-test then downloads nothing).
# Needs .venv (make deps) but not the lab.
SANITY_ARGS ?= --venv --python 3.11
ANSIBLE_TEST_PIP := 24.2
ANSIBLE_TEST_GET_PIP := $(HOME)/.ansible/test/cache/get_pip_$(subst .,_,$(ANSIBLE_TEST_PIP)).py

sanity:
	@test -x "$(VENV)/bin/ansible-test" || { echo "sanity: $(VENV) lacks ansible-test: run make deps"; exit 1; }
	@# ansible-test downloads its pip bootstrap from ci-files.testing.ansible.com unless its cache has it. This
	@# project sends no traffic beyond the package mirrors, so the cache always gets our offline stand-in.
	@mkdir -p "$(dir $(ANSIBLE_TEST_GET_PIP))" && cmp -s "$(ROOT)/tools/ansible_test_get_pip.py" "$(ANSIBLE_TEST_GET_PIP)" || \
	  cp "$(ROOT)/tools/ansible_test_get_pip.py" "$(ANSIBLE_TEST_GET_PIP)"
	@tmp="$$(mktemp -d /tmp/rentstack-sanity.XXXXXX)"; trap 'rm -rf "$$tmp"' EXIT; \
	cd $(ROOT) && $(VENV)/bin/ansible-galaxy collection build --output-path "$$tmp/build" && \
	$(VENV)/bin/ansible-galaxy collection install --no-deps -p "$$tmp/collections" "$$tmp"/build/rentstack-cloud-*.tar.gz && \
	cd "$$tmp/collections/ansible_collections/rentstack/cloud" && $(VENV)/bin/ansible-test sanity $(SANITY_ARGS)

# The per-role molecule scenarios: a directory molecule/<role> with a molecule.yml, for a role of roles/ (shared
# settings in .config/molecule/config.yml, one create/destroy in molecule/shared). Each `molecule test` creates
# its container rentstack-mol-<role> from the lab image, converges the role twice (idempotence), verifies it and
# destroys the container, also when a step failed. One scenario at a time (2-core machine); all run even when
# one fails, then the target fails naming them. molecule/default (not a role's name, so not in this list) deploys
# the whole cloud onto two instances: only `make molecule-default` runs it (docs/testing.md).
MOLECULE_SCENARIOS := $(sort $(filter $(notdir $(wildcard $(ROOT)/roles/*)),$(notdir $(patsubst %/molecule.yml,%,$(wildcard $(ROOT)/molecule/*/molecule.yml)))))

molecule: venv
	@failed=""; cd $(ROOT) && for s in $(MOLECULE_SCENARIOS); do \
	  start=$$(date +%s); \
	  if $(VENV)/bin/molecule test -s "$$s"; then result=passed; else result=FAILED; failed="$$failed $$s"; fi; \
	  echo "molecule: $$s $$result in $$(( $$(date +%s) - start )) s"; \
	done; \
	if [ -n "$$failed" ]; then echo "molecule: failed:$$failed"; exit 1; fi

molecule-%: venv
	@test -f "$(ROOT)/molecule/$*/molecule.yml" || { echo "molecule: no scenario molecule/$*; there are: $(MOLECULE_SCENARIOS)"; exit 1; }
	cd $(ROOT) && $(VENV)/bin/molecule test -s $*

bench: venv
	cd $(ROOT) && $(VENV)/bin/python bench/deploy.py --cache warm
	cd $(ROOT) && $(ANSIBLE_PLAYBOOK) playbooks/tenants.yml && $(ANSIBLE_PLAYBOOK) playbooks/flavors.yml
	cd $(ROOT) && $(VENV)/bin/python bench/bulk_compare.py --count $(BENCH_COUNT)
	cd $(ROOT) && $(VENV)/bin/python bench/bulk_rounds.py --count $(BENCH_COUNT) --inventory-bench
	cd $(ROOT) && $(VENV)/bin/python bench/add_compute.py
	cd $(ROOT) && $(VENV)/bin/python bench/_render.py

# The execution environment for AWX/AAP (execution-environment.yml, docs/awx.md).
# ee-context: ansible-builder's build context in .cache/ee/context (CI builds and lints it: tests/lint/test_ee.py).
# ee-base: the base image localhost/rentstack-ee-base:trixie, from a debootstrap root file system (this machine
#   has no registry), with the lab's apt archive as debootstrap's cache.
# ee: the image localhost/rentstack-ee:latest on that base (pip installs from the package index).
EE_CONTEXT := $(ROOT)/.cache/ee/context
EE_ROOTFS_PACKAGES := python3,python3-pip,python3-venv,ca-certificates
EE_MIRROR ?= http://deb.debian.org/debian
EE_APT_CACHE ?= /var/cache/rentstack-lab/apt-archives
# The builds' RUN steps see the control machine's CA bundle: pip inside them reaches the package index through
# whatever TLS interception the machine's network does (this test machine's mirror presents its own CA, which
# Debian's bundle in the image lacks). pip >= 24.2 verifies against the system store (truststore).
EE_BUILD_ARGS ?= $(if $(wildcard /etc/ssl/certs/ca-certificates.crt),--volume /etc/ssl/certs/ca-certificates.crt:/etc/ssl/certs/ca-certificates.crt:ro)

ee-context: venv
	rm -rf "$(EE_CONTEXT)" && cd $(ROOT) && $(VENV)/bin/ansible-builder create -f execution-environment.yml \
	  -c "$(EE_CONTEXT)" --output-filename Containerfile

ee-base: deps
	@podman image exists localhost/rentstack-ee-rootfs:trixie || { \
	  tmp="$$(mktemp -d /tmp/rentstack-ee-rootfs.XXXXXX)"; trap 'rm -rf "$$tmp"' EXIT; mkdir -p "$(EE_APT_CACHE)"; \
	  debootstrap --variant=minbase --include=$(EE_ROOTFS_PACKAGES) --cache-dir="$(EE_APT_CACHE)" trixie "$$tmp/rootfs" "$(EE_MIRROR)" && \
	  tar -C "$$tmp/rootfs" -c . | podman import - localhost/rentstack-ee-rootfs:trixie; }
	podman build $(EE_BUILD_ARGS) -f $(ROOT)/ee/Containerfile.base -t localhost/rentstack-ee-base:trixie $(ROOT)/ee

ee: ee-base ee-context
	podman build $(EE_BUILD_ARGS) -f "$(EE_CONTEXT)/Containerfile" -t localhost/rentstack-ee:latest "$(EE_CONTEXT)"

# ee-test: the playbooks through ansible-runner inside that image, as AWX runs them (site.yml --check and twice,
# a 2-VM rental with the report; tests/integration/test_ee_runner.py, docs/testing.md). Needs the deployed lab;
# on a shared lab run it under `flock /tmp/rentstack-lab.lock make ee-test`.
ee-test: ee
	cd $(ROOT) && RENTSTACK_EE=1 $(PYTEST) tests/integration/test_ee_runner.py -rA $(PYTEST_ARGS)

