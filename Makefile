# Two entry points, both from a fresh clone:
#   make plan   set up .venv and run `mercury plan` on the bundled platform
#   make test   set up .venv, the test tools (Azurite, checkov, `make tools`) and run the whole test suite
#   make tools  build the ecosystem's Go tools (kube-apiserver, etcd, flux, kubeconform, helm,
#               kwok) from the Go module proxy into .tools/bin/, pinned by tools/<name>/go.sum
# The venv is made from /usr/bin/python3 so the postgres user can read it
# (barman-cloud runs as PostgreSQL's archive_command in the backup tests).

PYTHON ?= /usr/bin/python3
# CRD schemas in kubeconform layout; the shared copy beside the checkout when present,
# else mercury's default (the public CRDs catalog, cached under ~/.cache/mercury).
SCHEMAS ?= $(wildcard ../shared/schemas/crds)
VENV   := .venv
STAMP  := $(VENV)/.installed

.PHONY: setup plan test lint bench clean tools checkov

$(STAMP): pyproject.toml
	test -x $(VENV)/bin/python || $(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install -q --upgrade pip
	$(VENV)/bin/pip install -q -e '.[dev]'
	touch $(STAMP)

setup: $(STAMP)

.tools/azurite/node_modules/.bin/azurite-blob:
	mkdir -p .tools/azurite
	npm install --silent --no-audit --no-fund --prefix .tools/azurite azurite@3

# Each tool is a small module of ours under tools/<name>/ (go.mod + go.sum, and a main.go
# where upstream has no buildable main package of its own): `go install pkg@version` refuses
# modules with replace directives (k8s.io/kubernetes, etcd, flux), and go.sum pins every
# dependency. The binary is the stamp: rebuilt only when its module files change. Built to
# a temporary name first, so an interrupted build leaves no half-written tool behind.
GO        ?= go
TOOLS_BIN := .tools/bin
GO_TOOLS  := kube-apiserver etcd flux kubeconform helm kwok
GO_ENV    := GOTOOLCHAIN=local GOFLAGS='-mod=mod -buildvcs=false'
# The package each module builds: its own main.go (.) or the upstream command it requires.
PKG_kube-apiserver := .
PKG_etcd           := .
PKG_flux           := github.com/fluxcd/flux2/v2/cmd/flux
PKG_kubeconform    := github.com/yannh/kubeconform/cmd/kubeconform
PKG_helm           := helm.sh/helm/v4/cmd/helm
PKG_kwok           := sigs.k8s.io/kwok/cmd/kwok

$(TOOLS_BIN)/%: tools/%/go.mod tools/%/go.sum
	@command -v $(GO) >/dev/null || { echo "make tools: needs Go 1.26 (\`$(GO)\` not found)"; exit 2; }
	mkdir -p $(TOOLS_BIN)
	cd tools/$* && $(GO_ENV) $(GO) build -o $(CURDIR)/$@.tmp $(PKG_$*)
	mv -f $@.tmp $@

$(TOOLS_BIN)/kube-apiserver $(TOOLS_BIN)/etcd: $(TOOLS_BIN)/%: tools/%/main.go

# flux embeds its install manifests (cmd/flux/manifests/*.yaml), which upstream generates
# before building and the module zip lacks: build a writable copy of the pinned module
# (downloaded into the module cache first: `go list -m` alone does not fetch it on a
# fresh machine; hash-checked by tools/flux/go.sum) with a placeholder there.
# `flux build` / `flux diff` work; `flux install` has no manifests in this build.
FLUX_SRC := .tools/src/flux2
$(TOOLS_BIN)/flux: tools/flux/go.mod tools/flux/go.sum
	mkdir -p $(TOOLS_BIN) .tools/src
	cd tools/flux && $(GO_ENV) $(GO) mod download github.com/fluxcd/flux2/v2
	src=$$(cd tools/flux && $(GO_ENV) $(GO) list -m -f '{{.Dir}}' github.com/fluxcd/flux2/v2) \
	  && rm -rf $(FLUX_SRC) && cp -r "$$src" $(FLUX_SRC) && chmod -R u+w $(FLUX_SRC)
	mkdir -p $(FLUX_SRC)/cmd/flux/manifests
	echo '# not embedded: built by mercury for `flux build` and `flux diff`' \
	  > $(FLUX_SRC)/cmd/flux/manifests/placeholder.yaml
	cd $(FLUX_SRC) && $(GO_ENV) $(GO) build -o $(CURDIR)/$@.tmp ./cmd/flux
	mv -f $@.tmp $@

tools: $(addprefix $(TOOLS_BIN)/,$(GO_TOOLS))

# checkov (security scan of terraform/ and the built manifests, tests/test_checkov.py) in a
# venv of its own: it installs its own `hcl2` package over python-hcl2, which mercury uses.
# The stamp names the version, so changing the pin reinstalls.
CHECKOV_VERSION := 3.3.30
CHECKOV_VENV    := .tools/checkov-venv
CHECKOV_STAMP   := $(CHECKOV_VENV)/.installed-$(CHECKOV_VERSION)
$(CHECKOV_STAMP):
	test -x $(CHECKOV_VENV)/bin/python || $(PYTHON) -m venv $(CHECKOV_VENV)
	$(CHECKOV_VENV)/bin/pip install -q checkov==$(CHECKOV_VERSION)
	touch $@

checkov: $(CHECKOV_STAMP)

plan: setup
	$(VENV)/bin/mercury plan $(if $(SCHEMAS),--schema-location $(SCHEMAS))

test: setup tools checkov .tools/azurite/node_modules/.bin/azurite-blob
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
