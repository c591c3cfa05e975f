# sevres — the two commands a newcomer needs are `make run` and `make test`.
PYTHON ?= python3
VENV   ?= .venv
OSC    ?= .venv-osc
COMPAT ?= .venv-compat
BIN     = $(VENV)/bin

.PHONY: run test check lint typecheck contract pytest ha clean

## run: install sevres and serve it on http://127.0.0.1:5000 (SQLite in .state/)
run: $(VENV)/.installed
	$(BIN)/sevres run

## test: lint, type-check, and the whole suite on every reachable database backend; with
## SEVRES_HA=1 (CI sets it) also the HA fault suite on Galera and on PostgreSQL
test: check pytest ha

check: lint typecheck contract

lint: $(VENV)/.installed-dev
	$(BIN)/ruff check src tests tools ha bench

typecheck: $(VENV)/.installed-dev
	$(BIN)/mypy

## contract: docs/openapi.json is the generated API description, and each change to it is in
## CHANGELOG.md, tagged ApiImpact (tools/check_api.py)
contract: $(VENV)/.installed-dev
	$(BIN)/python tools/check_api.py

# tests/ha is skipped here (its tests depend on their order); `ha` runs it.
pytest: $(VENV)/.installed-dev $(OSC)/.installed $(COMPAT)/.installed
	SEVRES_HA= $(BIN)/python -m pytest $(PYTEST_ARGS)

## ha: with SEVRES_HA=1, the fault tests of docs/ha.md against ha/refarch.py, once per
## backend (root, ~8 min); each run prints its figures under "HA figures"
ha: $(VENV)/.installed-dev
ifeq ($(SEVRES_HA),1)
	SEVRES_HA_BACKEND=galera $(BIN)/python -m pytest tests/ha -p no:randomly -s
	SEVRES_HA_BACKEND=postgres $(BIN)/python -m pytest tests/ha -p no:randomly -s
else
	@echo "ha: skipped (SEVRES_HA=1 runs the HA fault suite)"
endif

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
