# The two commands of the README. Each builds (or updates) .venv first.
#   make run    execute the whole notebook series (PRESET=workshop|full)
#   make test   lint, then the tests
# Raw data: $(REVIEWS_DATA_DIR) or data/raw; else it is downloaded (cached).

PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
PRESET ?= workshop
STAMP := $(VENV)/.installed

.PHONY: run test lint clean

$(STAMP): pyproject.toml
	@command -v $(PYTHON) >/dev/null || { echo "error: $(PYTHON) not found: install Python 3.11 or pass PYTHON=/path/to/python3.11"; exit 2; }
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

run: $(STAMP)
	$(BIN)/python -m helpers run --preset $(PRESET)

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

# The models' own tests run on all three backends; the rest on the default one.
test: lint
	KERAS_BACKEND=jax $(BIN)/python -m pytest -q tests/test_models.py
	KERAS_BACKEND=torch $(BIN)/python -m pytest -q tests/test_models.py
	$(BIN)/python -m pytest

clean:
	rm -rf $(VENV) output
