# vidrec: `make demo` and `make test` are all a fresh machine needs (README).
SHELL := /bin/bash
VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(VENV)/bin/pip
STAMP := $(VENV)/.vidrec-setup
export SPARK_LOCAL_IP ?= 127.0.0.1
export GX_ANALYTICS_ENABLED ?= false
export OPENBLAS_NUM_THREADS ?= 1
export PYTHONDONTWRITEBYTECODE ?= 1

.PHONY: setup redis-server-check java-check test demo stop serve airflow services-up services-down lake-stats bench clean

setup: $(STAMP) redis-server-check java-check

# The venv is rebuilt only when the lock file or the package metadata changes: a second run is instant.
$(STAMP): requirements.lock setup.cfg pyproject.toml
	@test -x $(PY) || python3 -m venv $(VENV)
	@echo "== installing the pinned stack into $(VENV) (first time: ~2 min)"
	@$(PIP) install -q -r requirements.lock 2>&1 | grep -v "^WARNING: Location" || true
	@$(PIP) install -q --no-deps -e . 2>&1 | grep -v "^WARNING: Location" || true
	@$(PY) -c "import vidrec, pyspark, deltalake, great_expectations" 
	@$(PY) -m vidrec.ops.setup_checks duckdb-delta
	@touch $(STAMP)

redis-server-check:
	@command -v redis-server >/dev/null || { \
	  if command -v apt-get >/dev/null && [ "$$(id -u)" = 0 ]; then \
	    echo "== installing Debian's redis-server"; \
	    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends redis-server) >/dev/null; \
	  else \
	    echo "redis-server is missing: install it (Debian/Ubuntu: sudo apt-get install redis-server; macOS: brew install redis)"; exit 1; \
	  fi; }

# Spark 4 runs on Java 17 or 21: Debian's openjdk-17-jre-headless, else its default-jre-headless (Java 21 on Debian 13).
java-check:
	@command -v java >/dev/null || { \
	  if command -v apt-get >/dev/null && [ "$$(id -u)" = 0 ]; then \
	    apt-get update -qq >/dev/null; \
	    pkg=openjdk-17-jre-headless; \
	    apt-cache policy $$pkg 2>/dev/null | grep -q 'Candidate: [0-9]' || pkg=default-jre-headless; \
	    echo "== installing Debian's $$pkg (a Java runtime for Spark)"; \
	    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$pkg >/dev/null; \
	    command -v java >/dev/null || { echo "java is still missing: install it with apt-get install $$pkg"; exit 1; }; \
	  else \
	    echo 'java is missing: install a Java 17 runtime (Debian/Ubuntu: sudo apt-get install openjdk-17-jre-headless; macOS: brew install openjdk@17, then put "$$(brew --prefix openjdk@17)/bin" on PATH)'; exit 1; \
	  fi; }

test: setup
	$(VENV)/bin/pytest

demo: setup
	$(VENV)/bin/vidrec demo

stop:
	-$(VENV)/bin/vidrec services down

# The API needs Redis (and the GX server for nothing, but it is small), not Spark: no Spark Connect JVM for it.
serve: setup
	VIDREC_SPARK_REMOTE= $(VENV)/bin/vidrec services up
	$(VENV)/bin/vidrec serve

airflow: setup
	@$(VENV)/bin/vidrec services airflow | $(PY) -c "import json,sys; d=json.load(sys.stdin); \
	  print('Airflow UI:', d['airflow']); print('login:', ', '.join(f'{u} / {p}' for u, p in d['login'].items()) or 'see the log'); \
	  print('log:', d['log']); print('stop it with: make stop')"

services-up: setup
	$(VENV)/bin/vidrec services up

services-down:
	$(VENV)/bin/vidrec services down

lake-stats:
	$(VENV)/bin/vidrec lake stats

bench: setup
	$(PY) bench/ingest.py

clean:
	rm -rf var
