# The two commands of the README: `make run` and `make test`.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: install system-deps test-system-deps test run bench clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

install: $(STAMP) test-system-deps

## bubblewrap for the student-code sandbox (apt-get as root; without root it only warns: code
## questions are then refused, and the sandbox tests skip locally and fail under CI=true).
system-deps:
	-bash scripts/install_system_deps.sh run

## the above, plus redis-server and chromium for the integration and browser tests.
test-system-deps:
	-bash scripts/install_system_deps.sh test

## Run the whole test suite (installs everything it needs first).
test: $(STAMP) test-system-deps
	bash scripts/run_tests.sh

## Run the service (web + worker) with a demo course on SQLite and a server-less broker.
run: $(STAMP) system-deps
	bash scripts/run_service.sh

bench: $(STAMP)
	$(PY) bench/run_all.py

clean:
	rm -rf $(VENV) .pytest_cache .hypothesis
