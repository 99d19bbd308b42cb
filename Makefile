# dbaas: `make run` to try it, `make test` to check it. Both set the host up first.
SHELL := /bin/bash
export DBAAS_DATA_DIR ?= $(CURDIR)/.data
VENV := .venv

.PHONY: setup setup-libvirt run test lint format

setup:
	@scripts/setup.sh

# The hypervisor side of DBAAS_PROVIDER=libvirt (not needed by `make run`).
setup-libvirt: setup
	@scripts/setup_libvirt.sh

run: setup
	@scripts/run.sh

# pytest exits 5 when it collects nothing: a suite that ran no test has failed.
test: setup setup-libvirt lint
	@$(VENV)/bin/pytest $(PYTEST_ARGS); status=$$?; \
	if [ $$status -eq 5 ]; then echo "no tests collected"; exit 1; fi; exit $$status

lint:
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/ansible-lint -q

format:
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .
