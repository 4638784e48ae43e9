# Entry points: `make demo`, `make lint` and `make test`. Each builds .venv from nothing when missing.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: demo lint typecheck test bench clean

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	@# pip's and setuptools' notes (index locations, the editable-install warning) go to a log, shown on failure.
	@$(BIN)/python -m pip install --quiet --disable-pip-version-check --upgrade pip > $(VENV)/install.log 2>&1 \
		|| { cat $(VENV)/install.log; exit 1; }
	@$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[dev]' >> $(VENV)/install.log 2>&1 \
		|| { cat $(VENV)/install.log; exit 1; }
	@$(BIN)/python -c "import gmaildesk, googleapiclient, pytest, jsonschema, mypy, ruff"
	@touch $(STAMP)

demo: $(STAMP)
	COLUMNS=$${COLUMNS:-150} $(BIN)/gmaildesk demo

# Tests are typed more loosely than the package: unannotated test functions are still checked, but a test
# may use an Optional without narrowing it (a None fails the test anyway) and compare a frozenset with a set.
TEST_MYPY := --follow-imports=silent --allow-untyped-defs --allow-incomplete-defs --allow-untyped-calls \
             --allow-any-generics --no-warn-return-any --no-strict-optional --no-strict-equality

# ruff (rules and formatting) over the whole tree; mypy strict over gmaildesk/ and bench/ (pyproject.toml),
# then over tests/ with TEST_MYPY.
lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	@$(MAKE) --no-print-directory typecheck

typecheck: $(STAMP)
	$(BIN)/mypy
	$(BIN)/mypy $(TEST_MYPY) tests

# Every test starts its own sandbox on a free port and keeps its files in tmp_path, so the suite runs on
# every core (pytest-xdist); `make test PYTEST_WORKERS=0` runs it in one process.
PYTEST_WORKERS ?= auto
test: $(STAMP)
	$(BIN)/python -m pytest -q -n $(PYTEST_WORKERS)

bench: $(STAMP)
	$(BIN)/python bench/sandbox.py
	$(BIN)/python bench/sweep.py
	$(BIN)/python bench/audit.py

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache .mypy_cache .ruff_cache
