# tracefleet.otel — the two commands a newcomer needs are `make demo` and `make test`.
# Everything heavy (virtualenv, Go-built tools, clusters) lives in the cache, outside the clone,
# so a warm machine rebuilds nothing and a clean clone works on a cold one.

SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

PYTHON ?= python3
export TRACEFLEET_CACHE ?= $(or $(XDG_CACHE_HOME),$(HOME)/.cache)/tracefleet
export TRACEFLEET_STATE ?= $(TRACEFLEET_CACHE)/clusters
DEPS_HASH := $(shell cat constraints.txt tests/requirements.txt | sha1sum | cut -c1-12)
VENV ?= $(TRACEFLEET_CACHE)/venv/$(DEPS_HASH)
BIN := $(VENV)/bin
export PATH := $(BIN):$(PATH)
export PYTHONPATH := $(CURDIR)/tools/stack
STACK := $(BIN)/python -m tfstack
NAME ?= tracefleet
NODES ?= 3
SCENARIOS ?= $(notdir $(patsubst %/,%,$(dir $(wildcard molecule/*/molecule.yml))))
export MOLECULE_GLOB := molecule/*/molecule.yml
export ANSIBLE_COLLECTIONS_PATH := $(shell PYTHONPATH=$(CURDIR)/tools/stack $(PYTHON) -m tfstack.collection)
export ANSIBLE_NOCOLOR := 1

.PHONY: help setup tools stack-up stack-down stack-status env demo test lint yamllint ansible-lint \
        sanity unit integration molecule collection bench clean chromium

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-14s %s\n", $$1, $$2}'

$(VENV)/.installed: constraints.txt tests/requirements.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet -c constraints.txt -r tests/requirements.txt
	$(BIN)/python tools/ansible_test_get_pip.py
	touch $@

setup: $(VENV)/.installed tools chromium ## virtualenv with pinned deps, every pinned tool built, and chromium

chromium: ## Debian's chromium, for the headless test of the verify report page (skipped when present)
	@test -x /usr/bin/chromium || { export DEBIAN_FRONTEND=noninteractive; \
	  apt-get install -y -q --no-install-recommends chromium || \
	  { apt-get update -q && apt-get install -y -q --no-install-recommends chromium; }; }

tools: $(VENV)/.installed ## build (or reuse) the pinned Go tools in the cache
	$(STACK) build
	$(BIN)/python -m tfstack.goservice

stack-up: setup ## start the local kwok cluster NAME (default tracefleet) with NODES nodes
	$(STACK) up --name $(NAME) --nodes $(NODES)

stack-down: $(VENV)/.installed ## stop every local cluster (or NAME=...) and all it started
	$(STACK) down $(if $(filter command line,$(origin NAME)),--name $(NAME))

stack-status: $(VENV)/.installed ## list local clusters
	$(STACK) status

env: $(VENV)/.installed ## print the exports that put this clone's tools on a shell: eval "$$(make -s env)"
	@mkdir -p $(TRACEFLEET_CACHE)/path && for tool in kubectl helm; do \
	  ln -sf "$$($(STACK) path $$tool)" $(TRACEFLEET_CACHE)/path/$$tool; done
	@echo 'export PATH="$(BIN):$(TRACEFLEET_CACHE)/path:$$PATH" PYTHONPATH="$(PYTHONPATH)"'
	@echo 'export ANSIBLE_COLLECTIONS_PATH="$(ANSIBLE_COLLECTIONS_PATH)" ANSIBLE_NOCOLOR=1'
	@echo 'export TRACEFLEET_CACHE="$(TRACEFLEET_CACHE)" TRACEFLEET_STATE="$(TRACEFLEET_STATE)"'
	@echo "export TRACEFLEET_HELM=\"$$($(STACK) path helm)\""

demo: stack-up ## start the local stack, roll tracing out with playbooks/site.yml, show what runs
	$(BIN)/python tools/demo.py --name $(NAME)

test: setup lint unit integration molecule ## everything CI runs

lint: yamllint ansible-lint sanity ## yamllint, ansible-lint (production) and ansible-test sanity

yamllint: $(VENV)/.installed
	$(BIN)/yamllint --strict .

ansible-lint: $(VENV)/.installed
	$(BIN)/ansible-lint --profile production

collection: $(VENV)/.installed ## build the collection tarball into build/
	rm -rf build && mkdir -p build
	$(BIN)/ansible-galaxy collection build --output-path build .

sanity: collection ## ansible-test sanity on the built collection, installed in a scratch tree outside the clone
	tree=$$(mktemp -d) && trap 'rm -rf "$$tree"' EXIT && \
	$(BIN)/ansible-galaxy collection install --force --no-deps -p "$$tree" build/tracefleet-otel-*.tar.gz && \
	cd "$$tree/ansible_collections/tracefleet/otel" && \
	$(BIN)/ansible-test sanity --requirements --python 3.11 --color no

unit: $(VENV)/.installed ## unit tests (no cluster needed)
	$(BIN)/python -m pytest tests/unit -q

integration: setup ## tests against the real stack (Tempo, otelcol, kwok, helm)
	$(BIN)/python -m pytest tests/integration -q

molecule: setup ## every Molecule scenario (SCENARIOS="smoke ..." to pick)
	for s in $(SCENARIOS); do $(BIN)/molecule test -s $$s || exit 1; done

bench: setup ## run the benchmarks; results land in benchmarks/results/
	$(BIN)/python benchmarks/run.py

clean: ## remove build output in the clone (the cache stays)
	rm -rf build
