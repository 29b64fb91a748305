# Limen: `make demo` runs the demo, `make test` runs the whole suite. Both bootstrap .venv.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-$(shell cat requirements-dev.lock pyproject.toml | cksum | cut -d' ' -f1)
# Debian packages the tests use (installed only when missing).
APT_PACKAGES := chromium nginx oathtool

.PHONY: demo test lint typecheck pytest bench clean

$(STAMP): requirements-dev.lock pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -r requirements-dev.lock
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --no-deps -e .
	@rm -f $(VENV)/.installed-*
	@touch $@

demo: $(STAMP)
	$(BIN)/limen demo

test: $(STAMP)
	@scripts/ensure-apt.sh $(APT_PACKAGES)
	$(MAKE) --no-print-directory lint typecheck pytest

lint: $(STAMP)
	$(BIN)/ruff check limen tests bench
	$(BIN)/ruff format --check limen tests bench

typecheck: $(STAMP)
	$(BIN)/mypy limen

pytest: $(STAMP)
	$(BIN)/pytest -q

bench: $(STAMP)
	$(BIN)/python bench/signin_throughput.py
	$(BIN)/python bench/import_users.py
	$(BIN)/python bench/ca_eval.py

clean:
	rm -rf $(VENV) .limen .pytest_cache .mypy_cache .ruff_cache
