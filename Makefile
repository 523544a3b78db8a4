# Two commands on a fresh machine:  make demo  (set-up + the default job)  and  make test  (set-up + all tests).
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.synthgen-installed

export NO_ALBUMENTATIONS_UPDATE := 1
export OMP_NUM_THREADS := 1
export MKL_NUM_THREADS := 1
export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1

.PHONY: setup demo test test-fast bench clean

setup: $(STAMP)

$(STAMP): pyproject.toml Makefile scripts/setup-system.sh
	bash scripts/setup-system.sh libusb-1.0-0 libcgal-demo fortunes wordnet-base chromium
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet torch==2.13.0
	$(PY) -m pip install --quiet -e '.[dev,points,text,text-lm,launchers,ray,optuna,embed-image,bench,images,diffusion]'
	touch $(STAMP)

demo: setup
	$(VENV)/bin/synthgen

# Two worker processes (one per core; every test runs single-threaded); a module's tests stay together.
PYTEST := $(PY) -m pytest -q -n 2 --dist loadfile

test: setup
	$(PYTEST)

test-fast: setup  # the inner loop: everything but the end-to-end tests marked slow
	$(PYTEST) -m "not slow"

bench: setup
	$(PY) benchmarks/run_all.py

clean:
	rm -rf $(VENV) outputs multirun build dist *.egg-info
