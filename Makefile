# The README's commands. Each builds (or updates) .venv first, with the exact versions
# of constraints.txt, and shows pip's progress.
#   make run     execute the whole notebook series on one backend (PRESET=workshop|full)
#   make test    lint, then the tests (installs all three backends: the tests use them all)
#   make lab     JupyterLab on notebooks/, in the same environment
# Switches:
#   BACKEND=tensorflow|jax|torch   the Keras backend `make run` and `make lab` install and use
#                                  (default $KERAS_BACKEND, else tensorflow: the fastest
#                                  on a 2-core CPU, README)
#   GPU=1                          install the CUDA builds (Linux with an NVIDIA driver)
#   PYTHON=python3.12              the Python that builds .venv (3.11 to 3.13)
# Raw data: $(REVIEWS_DATA_DIR) or data/raw; else it is downloaded (cached in data/cache).

PYTHON ?= python3
BACKEND ?= $(or $(KERAS_BACKEND),tensorflow)
GPU ?=
PRESET ?= workshop
LAB_ARGS ?=
# PyPI's Linux wheel of torch bundles CUDA (several GB); without GPU=1 torch comes from
# PyTorch's CPU index. Empty: take torch from pip's usual sources.
TORCH_CPU_INDEX ?= https://download.pytorch.org/whl/cpu
VENV := .venv
BIN := $(VENV)/bin
PIP := $(BIN)/python -m pip

GPU_SUFFIX := $(if $(GPU),-gpu)
RUN_EXTRAS := $(BACKEND)$(GPU_SUFFIX)
TEST_EXTRAS := all$(GPU_SUFFIX),notebook,dev
LAB_EXTRAS := $(BACKEND)$(GPU_SUFFIX),notebook
torch_index = $(if $(and $(findstring torch,$(1)$(findstring all,$(1))),$(if $(GPU),,$(TORCH_CPU_INDEX))),--extra-index-url $(TORCH_CPU_INDEX))

.PHONY: run test lint lab clean

# One stamp per set of extras, so that BACKEND=jax after tensorflow installs JAX too.
$(VENV)/.installed-%: pyproject.toml constraints.txt
	@case "$(BACKEND)" in tensorflow|jax|torch) ;; \
	  *) echo "error: BACKEND=$(BACKEND): choose tensorflow, jax or torch"; exit 2;; esac
	@test -x $(BIN)/python || $(PYTHON) -c 'import sys; sys.exit(not (3, 11) <= sys.version_info[:2] <= (3, 13))' \
	  || { echo "error: $(PYTHON) is missing or not Python 3.11-3.13: pass PYTHON=python3.12 (or another)"; exit 2; }
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(PIP) install --progress-bar on --upgrade pip
	$(PIP) install --progress-bar on -c constraints.txt $(call torch_index,$*) -e '.[$*]'
	touch $@

run: $(VENV)/.installed-$(RUN_EXTRAS)
	$(BIN)/python -m helpers run --preset $(PRESET) --backend $(BACKEND)

lab: $(VENV)/.installed-$(LAB_EXTRAS)
	KERAS_BACKEND=$(BACKEND) $(BIN)/jupyter lab --notebook-dir=notebooks $(LAB_ARGS)

lint: $(VENV)/.installed-$(TEST_EXTRAS)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

# The models' own tests run on all three backends; the rest on the default one.
test: lint
	KERAS_BACKEND=jax $(BIN)/python -m pytest -q tests/test_models.py
	KERAS_BACKEND=torch $(BIN)/python -m pytest -q tests/test_models.py
	$(BIN)/python -m pytest

clean:
	rm -rf $(VENV) output
