# Entry points: `make demo`, `make lint` and `make test`. Each builds .venv from nothing when missing.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: demo lint test bench clean

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	@$(BIN)/python -m pip install --quiet --disable-pip-version-check --upgrade pip 2>&1 | grep -v "is ignored" || true
	@$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[dev]' 2>&1 | grep -v "is ignored" || true
	@$(BIN)/python -c "import gmaildesk, googleapiclient, pytest, jsonschema, mypy, ruff"
	@touch $(STAMP)

demo: $(STAMP)
	COLUMNS=$${COLUMNS:-150} $(BIN)/gmaildesk demo

# ruff (rules and formatting) over the whole tree, mypy strict over gmaildesk/ and bench/ (pyproject.toml).
lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

test: $(STAMP)
	$(BIN)/python -m pytest -q

bench: $(STAMP)
	$(BIN)/python bench/sandbox.py
	$(BIN)/python bench/sweep.py
	$(BIN)/python bench/audit.py

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache .mypy_cache .ruff_cache
