# Two entry points, both from a fresh clone:
#   make plan   set up .venv and run `mercury plan` on the bundled platform
#   make test   set up .venv, the test tools (Azurite) and run the whole test suite
# The venv is made from /usr/bin/python3 so the postgres user can read it
# (barman-cloud runs as PostgreSQL's archive_command in the backup tests).

PYTHON ?= /usr/bin/python3
# CRD schemas in kubeconform layout; the shared copy beside the checkout when present,
# else mercury's default (the public CRDs catalog, cached under ~/.cache/mercury).
SCHEMAS ?= $(wildcard ../shared/schemas/crds)
VENV   := .venv
STAMP  := $(VENV)/.installed

.PHONY: setup plan test lint bench clean

$(STAMP): pyproject.toml
	test -x $(VENV)/bin/python || $(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install -q --upgrade pip
	$(VENV)/bin/pip install -q -e '.[dev]'
	touch $(STAMP)

setup: $(STAMP)

.tools/azurite/node_modules/.bin/azurite-blob:
	mkdir -p .tools/azurite
	npm install --silent --no-audit --no-fund --prefix .tools/azurite azurite@3

plan: setup
	$(VENV)/bin/mercury plan $(if $(SCHEMAS),--schema-location $(SCHEMAS))

test: setup .tools/azurite/node_modules/.bin/azurite-blob
	$(VENV)/bin/ruff check .
	$(VENV)/bin/mypy src
	$(VENV)/bin/pytest -q

bench: setup .tools/azurite/node_modules/.bin/azurite-blob
	$(VENV)/bin/python bench/verify_scale.py
	$(VENV)/bin/python bench/backup_drill.py
	$(VENV)/bin/python bench/catch_rate.py

lint: setup
	$(VENV)/bin/ruff check .
	$(VENV)/bin/mypy src

clean:
	rm -rf $(VENV) .tools
