# closeloop: `make setup`, `make test`, `make up`.
#
# Everything downloaded or built lands under $(LOCAL) (default .local/,
# git-ignored; set CLOSELOOP_HOME to move it). Every step is a file target, so
# a second `make setup` with everything present does nothing and takes seconds.

SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON ?= python3.11
LOCAL := $(abspath $(or $(CLOSELOOP_HOME),.local))
export CLOSELOOP_HOME := $(LOCAL)

# Pinned tools.
UV_VERSION := 0.13.9
# MinIO's last release tag, RELEASE.2025-10-15T17-29-55Z, is refused by the Go
# module proxy here (403); this is the final commit of the archived repository,
# the release plus eleven bug-fix and documentation commits.
MINIO_VERSION := v0.0.0-20260212201848-7aac2a2c5b7c
STATSD_EXPORTER_VERSION := v0.31.0
# The Compose Specification's JSON schema, as compose-go (docker compose's
# loader) ships it; the tests validate docker-compose.yaml against it.
COMPOSE_GO_VERSION := v2.16.2

TOOLS := $(LOCAL)/tools
UV := $(TOOLS)/bin/uv
VENV := $(LOCAL)/venv
FLINK_VENV := $(LOCAL)/flink-venv
BIN := $(LOCAL)/bin
FUNCTIONS_JAR := $(LOCAL)/flink/functions/closeloop-flink-functions.jar

# Caches of every package manager, inside $(LOCAL) too.
export UV_CACHE_DIR := $(LOCAL)/cache/uv
export UV_PYTHON_DOWNLOADS := never
export PIP_CACHE_DIR := $(LOCAL)/cache/pip
GO := GOMODCACHE=$(LOCAL)/cache/go/mod GOCACHE=$(LOCAL)/cache/go/build GOFLAGS=-modcacherw GOBIN=$(BIN) go
MVN := mvn -B -q -Dmaven.repo.local=$(LOCAL)/cache/m2 -Dcloseloop.home=$(LOCAL)
SUDO := $(if $(filter 0,$(shell id -u)),,sudo)

SETUP := $(VENV)/.installed $(FLINK_VENV)/.installed $(LOCAL)/kafka/.installed \
         $(LOCAL)/flink/.installed $(FUNCTIONS_JAR) $(BIN)/minio $(BIN)/statsd_exporter \
         $(LOCAL)/compose/compose-spec.json

PYTEST_ARGS ?=
# e.g. make demo DEMO_ARGS="--drift-kind rotation --keep-running"
DEMO_ARGS ?=

.PHONY: help setup tools apt-packages demo test screenshots unit lint format lock up down status clean clean-state bench-tools flink/feedback_job.sql

help:
	@echo "make demo     setup, then the closed loop end to end on the local stack (closeloop demo)"
	@echo "make setup    install everything the local stack needs (idempotent, cached in $(LOCAL))"
	@echo "make test     setup, lint, then every test (starts the real stack once, stops it after)"
	@echo "make unit     setup, then the tests that need no services"
	@echo "make up       setup, then start the local stack (closeloop up); make down stops it"
	@echo "make lint     ruff check and format check"
	@echo "make screenshots  refresh the README's pictures of the Models view (a browser test)"
	@echo "make lock     re-pin requirements.txt and flink/requirements.txt from the .in files"

setup: tools apt-packages $(SETUP)
	@echo "setup complete: $(LOCAL)"

# Fail early, with the fix, when a toolchain the setup builds with is absent.
tools:
	@for t in $(PYTHON) java mvn go; do \
	  command -v $$t >/dev/null || { echo "error: '$$t' is not on PATH; closeloop's setup needs Python 3.11, Java 17, Maven and Go." >&2; exit 1; }; \
	done

$(UV):
	@echo "==> uv $(UV_VERSION) ($(TOOLS))"
	$(PYTHON) -m venv $(TOOLS)
	$(TOOLS)/bin/pip install --quiet uv==$(UV_VERSION)

# The main environment: Airflow, MLflow, Evidently, the gateway, the CLI.
# Bytecode is compiled once here: where PYTHONDONTWRITEBYTECODE is set, every
# Airflow task would otherwise compile MLflow and Evidently from source again.
$(VENV)/.installed: requirements.txt pyproject.toml | $(UV)
	@echo "==> main virtualenv ($(VENV))"
	$(UV) venv --quiet --allow-existing --python $(PYTHON) $(VENV)
	$(UV) pip sync --quiet --compile-bytecode --python $(VENV)/bin/python requirements.txt
	$(UV) pip install --quiet --python $(VENV)/bin/python --no-deps -e .
	@touch $@

# The Flink job's environment: PyFlink's pins clash with Airflow's. closeloop
# itself goes in without dependencies, for the shared event contracts.
$(FLINK_VENV)/.installed: flink/requirements.txt pyproject.toml | $(UV)
	@echo "==> Flink virtualenv ($(FLINK_VENV))"
	$(UV) venv --quiet --allow-existing --python $(PYTHON) $(FLINK_VENV)
	$(UV) pip sync --quiet --compile-bytecode --python $(FLINK_VENV)/bin/python flink/requirements.txt
	$(UV) pip install --quiet --python $(FLINK_VENV)/bin/python --no-deps -e .
	@touch $@

# The Kafka broker and its Prometheus JMX agent, as jars from Maven Central.
$(LOCAL)/kafka/.installed: docker/kafka/pom.xml
	@echo "==> Kafka broker jars ($(LOCAL)/kafka)"
	rm -rf $(LOCAL)/kafka/libs $(LOCAL)/kafka/agents
	$(MVN) -f docker/kafka/pom.xml package
	@touch $@

# The Flink Kafka and Parquet connectors, and the S3 filesystem plugin.
$(LOCAL)/flink/.installed: flink/connectors/pom.xml
	@echo "==> Flink connector jars ($(LOCAL)/flink)"
	rm -rf $(LOCAL)/flink/connectors $(LOCAL)/flink/plugins
	$(MVN) -f flink/connectors/pom.xml package
	@touch $@

# The feedback job's JVM functions (pair_join, drift bins, statistics), built
# from flink/functions against the Flink inside PyFlink; rebuilt when a source changes.
$(FUNCTIONS_JAR): flink/functions/pom.xml $(shell find flink/functions/src -name '*.java' 2>/dev/null)
	@echo "==> closeloop Flink functions ($@)"
	$(MVN) -f flink/functions/pom.xml package
	@touch $@

# Built from source through the Go module proxy: a few minutes, once.
$(BIN)/minio:
	@echo "==> MinIO server $(MINIO_VERSION) (go install, a few minutes the first time)"
	$(GO) install github.com/minio/minio@$(MINIO_VERSION)

$(BIN)/statsd_exporter:
	@echo "==> statsd_exporter $(STATSD_EXPORTER_VERSION) (go install)"
	$(GO) install github.com/prometheus/statsd_exporter@$(STATSD_EXPORTER_VERSION)

$(LOCAL)/compose/compose-spec.json:
	@echo "==> Compose Specification schema (compose-go $(COMPOSE_GO_VERSION))"
	@mkdir -p $(dir $@)
	$(GO) mod download github.com/compose-spec/compose-go/v2@$(COMPOSE_GO_VERSION)
	cp $(LOCAL)/cache/go/mod/github.com/compose-spec/compose-go/v2@$(COMPOSE_GO_VERSION)/schema/compose-spec.json $@

# Debian's Prometheus and Alertmanager, espeak-ng (the speech use case's voices) and Chromium
# (the Airflow plugin's browser tests, driven by Playwright), only if missing.
APT_PACKAGES := prometheus prometheus-alertmanager espeak-ng chromium
apt-packages:
	@missing=""; for p in $(APT_PACKAGES); do command -v $$p >/dev/null || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  echo "==>$$missing (apt)"; \
	  $(SUDO) apt-get update -qq && \
	  $(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
	    $$missing >/dev/null; \
	fi

# The benchmarks' load generator (bench/gateway.py), only if missing.
bench-tools:
	@command -v wrk >/dev/null || { echo "==> wrk (apt)"; $(SUDO) apt-get update -qq && \
	  $(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends wrk >/dev/null; }

# Brings the stack up, runs the loop, stops what it started; exit 0 only if the loop closed.
demo: setup
	$(VENV)/bin/closeloop demo $(DEMO_ARGS)

test: setup lint
	$(VENV)/bin/python -m pytest --durations=60 $(PYTEST_ARGS)

# The README's pictures of the Models view (docs/images/models.png, model.png): the browser test,
# on the running stack or one it starts, copying its screenshots there.
screenshots: setup
	CLOSELOOP_SCREENSHOT_DIR=$(CURDIR)/docs/images $(VENV)/bin/python -m pytest -m integration \
	  tests/integration/plugins/closeloop_airflow/test_models_page_browser.py -k mlflow_kafka_and_airflow

unit: setup
	$(VENV)/bin/python -m pytest -m "not integration" $(PYTEST_ARGS)

lint: $(VENV)/.installed
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

format: $(VENV)/.installed
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

# The feedback job's SQL with the default settings, as `feedback_job.py --print-sql`
# prints it; committed, and checked by tests/unit/streaming/test_sql.py.
flink/feedback_job.sql: $(VENV)/.installed closeloop/streaming/sql.py closeloop/streaming/stages/*.py
	env -u CLOSELOOP_ENV_FILE $$(env | sed -n 's/^\(CLOSELOOP_[A-Z0-9_]*\)=.*/-u \1/p') \
	  $(VENV)/bin/python -c 'from closeloop.streaming.settings import FeedbackJobSettings; \
	  from closeloop.streaming.sql import build_sql; \
	  print(build_sql(FeedbackJobSettings(_env_file=None)).render(), end="")' > $@

lock: | $(UV)
	$(UV) pip compile --quiet --python-version 3.11 --python-platform x86_64-manylinux_2_28 \
	  requirements.in -o requirements.txt
	$(UV) pip compile --quiet --python-version 3.11 --python-platform x86_64-manylinux_2_28 \
	  flink/requirements.in -o flink/requirements.txt

up: setup
	$(VENV)/bin/closeloop up

down:
	$(VENV)/bin/closeloop down

status:
	$(VENV)/bin/closeloop status

# Removes the stack's data (topics, buckets, runs, registry); stop it first.
clean-state:
	rm -rf $(LOCAL)/state

clean:
	rm -rf $(LOCAL)
