# dbaas: `make run` to try it, `make test` to check it. Both set the host up first.
SHELL := /bin/bash
export DBAAS_DATA_DIR ?= $(CURDIR)/.data
VENV := .venv

.PHONY: setup setup-libvirt run test test-fast lint format

setup:
	@scripts/setup.sh

# The hypervisor side of DBAAS_PROVIDER=libvirt (not needed by `make run`).
setup-libvirt: setup
	@scripts/setup_libvirt.sh

run: setup
	@scripts/run.sh

# pytest exits 5 when it collects nothing: a suite that ran no test has failed.
PYTEST = status=0; $(VENV)/bin/pytest $(1) $(PYTEST_ARGS) || status=$$?; \
	if [ $$status -eq 5 ]; then echo "no tests collected"; exit 1; fi; exit $$status

# Everything, as CI runs it: lab machines included (tests/e2e, tests/roles); the slow
# libvirt tests beside the tiers without lab machines (scripts/test_all.sh).
test: setup setup-libvirt lint
	@scripts/test_all.sh

# No lab machine, bridge or loop device: unit, API, jobs and integration tiers.
test-fast: setup lint
	@$(call PYTEST,-m "not lab and not slow")

lint:
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/ansible-lint -q

format:
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .
