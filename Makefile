# Two commands on a fresh machine:  make demo  (set-up + the default job)  and  make test  (set-up + all tests).
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.synthgen-installed
# The CPU build of torch, named explicitly so a fresh machine does not pull a multi-GB CUDA wheel from
# PyPI (a machine with a local wheel of this build uses it; --retries 0: an unreachable index costs
# seconds, not minutes).  For a GPU: make setup TORCH=torch==2.13.0 TORCH_INDEX=https://pypi.org/simple
TORCH       ?= torch==2.13.0+cpu
TORCH_INDEX ?= https://download.pytorch.org/whl/cpu

export NO_ALBUMENTATIONS_UPDATE := 1
export OMP_NUM_THREADS := 1
export MKL_NUM_THREADS := 1
export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1

.PHONY: setup demo test test-fast bench clean labelstudio

setup: $(STAMP)

$(STAMP): pyproject.toml Makefile scripts/setup-system.sh
	bash scripts/setup-system.sh libusb-1.0-0 libcgal-demo fortunes fortunes-de fortunes-es mythes-es wordnet-base chromium
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet --retries 0 "$(TORCH)" --extra-index-url $(TORCH_INDEX)
	$(PY) -m pip install --quiet -e '.[dev,points,text,text-lm,launchers,ray,optuna,embed-image,bench,images,diffusion]'
	touch $(STAMP)

# Label Studio 1.23.2 for the review round-trip test, in an environment of its own (its pins clash with
# synthgen's; synthgen talks to it over HTTP only), plus a migrated data folder the test copies instead
# of migrating a fresh database each time (tests/labelstudio_server.py).
LS_VENV  ?= .venv-ls
LS_STAMP := $(LS_VENV)/.label-studio-1.23.2

labelstudio: $(LS_VENV)/template-data/label_studio.sqlite3

$(LS_STAMP):
	$(PYTHON) -m venv $(LS_VENV)
	$(LS_VENV)/bin/pip install --quiet --upgrade pip
	$(LS_VENV)/bin/pip install --quiet label-studio==1.23.2
	touch $(LS_STAMP)

$(LS_VENV)/template-data/label_studio.sqlite3: $(LS_STAMP) | setup
	$(PY) -m tests.labelstudio_server --template

demo: setup
	$(VENV)/bin/synthgen

# Two worker processes (one per core; every test runs single-threaded); a module's tests stay together.
PYTEST := $(PY) -m pytest -q -n 2 --dist loadfile

test: setup labelstudio
	$(PYTEST)

test-fast: setup  # the inner loop: everything but the end-to-end tests marked slow
	$(PYTEST) -m "not slow"

bench: setup
	$(PY) benchmarks/run_all.py

clean:
	rm -rf $(VENV) $(LS_VENV) outputs multirun build dist *.egg-info
