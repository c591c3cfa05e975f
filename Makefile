# sevres — the two commands a newcomer needs are `make run` and `make test`.
PYTHON ?= python3
VENV   ?= .venv
OSC    ?= .venv-osc
COMPAT ?= .venv-compat
BIN     = $(VENV)/bin

.PHONY: run test check lint typecheck contract pytest clean

## run: install sevres and serve it on http://127.0.0.1:5000 (SQLite in .state/)
run: $(VENV)/.installed
	$(BIN)/sevres run

## test: lint, type-check, and the whole suite on every reachable database backend
test: check pytest

check: lint typecheck contract

lint: $(VENV)/.installed-dev
	$(BIN)/ruff check src tests tools

typecheck: $(VENV)/.installed-dev
	$(BIN)/mypy

## contract: docs/openapi.json is the generated API description, and each change to it is in
## CHANGELOG.md, tagged ApiImpact (tools/check_api.py)
contract: $(VENV)/.installed-dev
	$(BIN)/python tools/check_api.py

pytest: $(VENV)/.installed-dev $(OSC)/.installed $(COMPAT)/.installed
	$(BIN)/python -m pytest $(PYTEST_ARGS)

$(VENV)/.installed: pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e .
	touch $@

$(VENV)/.installed-dev: $(VENV)/.installed
	$(BIN)/python -m pip install -q -e '.[dev]'
	touch $@

# The real OpenStack CLI, in a venv of its own so its dependencies never mix with ours.
$(OSC)/.installed:
	test -x $(OSC)/bin/python || $(PYTHON) -m venv $(OSC)
	$(OSC)/bin/python -m pip install -q python-openstackclient
	touch $@

.venv-osc: $(OSC)/.installed

# openstacksdk, keystoneauth1 and keystonemiddleware for tests/compat/clients/: a venv of
# their own too, run as subprocesses by the tests.
$(COMPAT)/.installed:
	test -x $(COMPAT)/bin/python || $(PYTHON) -m venv $(COMPAT)
	$(COMPAT)/bin/python -m pip install -q openstacksdk keystoneauth1 keystonemiddleware webtest
	touch $@

.venv-compat: $(COMPAT)/.installed

clean:
	rm -rf $(VENV) $(OSC) $(COMPAT) .state .pytest_cache .mypy_cache .ruff_cache
