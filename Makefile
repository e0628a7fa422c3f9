# Two entry points do all set-up on a fresh machine: `make demo` and `make test`.
PY ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
KERNELS_STAMP := $(VENV)/.kernels
JARS ?= jars
JARS_STAMP := $(JARS)/.fetched

export SPARK_LOCAL_IP ?= 127.0.0.1
export PYSPARK_PYTHON ?= $(abspath $(BIN)/python)

.PHONY: install jars emulators demo test browser-deps lint bench clean

$(STAMP): pyproject.toml requirements.lock
	$(PY) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip==26.3
	$(BIN)/pip install --quiet -c requirements.lock -e '.[dev]'
	touch $(STAMP)

# Stage 3's compiled loops, again whenever their source changes: into numba's cache, and ahead of time
# into an extension module (r2d2/containment/compiled.py says which one a process uses).
$(KERNELS_STAMP): $(STAMP) r2d2/containment/kernels.py
	$(BIN)/python -m r2d2.containment.kernels
	touch $(KERNELS_STAMP)

# Spark jars (delta-spark, hadoop-aws + AWS SDK bundle, the GCS connector) from Maven Central, listed in
# deploy/spark-jars.pom.xml; R2D2 puts them on the sessions it builds. Fetched here, never by a test.
$(JARS_STAMP): deploy/spark-jars.pom.xml
	mkdir -p $(JARS)
	mvn -B -q --no-transfer-progress -f deploy/spark-jars.pom.xml dependency:copy -Djars.dir=$(abspath $(JARS))
	touch $(JARS_STAMP)

jars: $(JARS_STAMP)

# Object-store emulators for tests/test_gcs_azure.py (Azurite from npm, fake-gcs-server built with Go),
# pinned in tests/emulators/ and installed there; never by a test.
emulators:
	tests/emulators/install.sh

install: $(STAMP) $(KERNELS_STAMP) $(JARS_STAMP) emulators

demo: $(STAMP) $(KERNELS_STAMP) $(JARS_STAMP)
	$(BIN)/r2d2 demo

# The browser tests (tests/test_ui.py) run in every `make test`: their tools are installed here when
# missing (Debian chromium, Node.js, ui/node_modules), or the target fails saying what to install.
browser-deps:
	tests/ui/deps.sh

test: $(STAMP) $(KERNELS_STAMP) $(JARS_STAMP) browser-deps emulators
	$(BIN)/python -m pytest -q tests

lint: $(STAMP)
	$(BIN)/ruff check r2d2 api jobs tests bench
	$(BIN)/mypy r2d2 api jobs

clean:
	rm -rf $(VENV) $(JARS) demo-lake r2d2-work .pytest_cache .hypothesis tests/emulators/node_modules tests/emulators/bin
	rm -f r2d2/containment/_kernels_aot_*.so
