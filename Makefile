# InfoGap developer commands. `make demo` and `make test` work on a fresh clone: they create
# the virtualenv and install everything first.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
BUF := node_modules/.bin/buf
DATASETS := ../shared/datasets
PROTO_FILES := $(wildcard protos/infogap/v1/*.proto)
GENERATED_DIR := client_sdk/src
# protoc with the Python, gRPC and typed-stub (mypy-protobuf) generators; append the output dir.
PROTOC = $(PY) -m grpc_tools.protoc -I protos \
	--plugin=protoc-gen-mypy=$(VENV)/bin/protoc-gen-mypy \
	--plugin=protoc-gen-mypy_grpc=$(VENV)/bin/protoc-gen-mypy_grpc \
	$(PROTO_FILES) --python_out=$(1) --grpc_python_out=$(1) --mypy_out=$(1) --mypy_grpc_out=$(1)

.PHONY: help install demo test test-fast fuzz bench serve protos check-protos lint-protos lint clean
LINTED := server plugins client_sdk/src/infogap/client tests docs bench

help:
	@echo "make demo          install, load MovieLens 100K, train, serve and query it through the SDK"
	@echo "make test          install and run the test suite"
	@echo "make test-fast     the unit tests alone (no server, no tests/e2e), a few seconds"
	@echo "make fuzz          property-based fuzzing of every RPC, 2,000 cases each"
	@echo "make bench         throughput, latency and ingestion benchmarks"
	@echo "make serve         run a server on localhost:50051 with data in ./data"
	@echo "make protos        regenerate client_sdk/src/infogap/v1 from protos/"
	@echo "make check-protos  fail if the checked-in generated code is stale"
	@echo "make lint-protos   buf lint the API"
	@echo "make lint          ruff (lint and format), import contracts, mypy"

# The stamp is rebuilt whenever a dependency list changes.
$(VENV)/.installed: pyproject.toml client_sdk/pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e client_sdk -e '.[dev]'
	touch $@

install: $(VENV)/.installed

# buf's version is pinned exactly in package.json; no lock file (npm here records none usable).
node_modules/.installed: package.json
	npm install --silent --no-audit --no-fund --no-package-lock
	touch $@

demo: install
	$(VENV)/bin/infogap demo --dataset "$$($(DATASETS)/fetch-movielens-100k)"

test: install
	$(PY) -m pytest

# Everything but the end-to-end tests: the unit tests of tests/server, tests/plugins,
# tests/client_sdk and the meta-tests.
test-fast: install
	$(PY) -m pytest tests --ignore=tests/e2e

# The property-based fuzz tests with 2,000 cases per RPC instead of make test's 60 (Train and
# EvaluateModels, which train models, get 200 and 40).
fuzz: install
	HYPOTHESIS_PROFILE=thorough $(PY) -m pytest tests/e2e/test_fuzz.py

# BENCH_ARGS="--large" adds the synthetic 1M-event training run; "--only quality" one part.
bench: install
	$(PY) -m bench --dataset "$$($(DATASETS)/fetch-movielens-100k)" \
		--instacart "$$($(DATASETS)/fetch-instacart-sample)" $(BENCH_ARGS)

serve: install
	$(VENV)/bin/infogap serve --data-dir data

protos: install
	rm -rf $(GENERATED_DIR)/infogap/v1
	mkdir -p $(GENERATED_DIR)/infogap/v1
	$(call PROTOC,$(GENERATED_DIR))

check-protos: install
	@tmp=$$(mktemp -d) && mkdir -p $$tmp/infogap/v1 && \
	$(call PROTOC,$$tmp) && \
	if diff -r $$tmp/infogap/v1 $(GENERATED_DIR)/infogap/v1; then echo "generated code is up to date"; \
	else echo "generated code is stale: run 'make protos' and commit the result"; rm -rf $$tmp; exit 1; fi; \
	rm -rf $$tmp

lint-protos: node_modules/.installed
	$(BUF) lint
	@echo "buf lint: clean"

lint: install
	$(VENV)/bin/ruff check $(LINTED)
	$(VENV)/bin/ruff format --check $(LINTED)
	$(VENV)/bin/lint-imports
	$(VENV)/bin/mypy

clean:
	rm -rf $(VENV) node_modules .pytest_cache
