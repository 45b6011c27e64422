# neuromorph: `make demo` trains the flagship example; `make test` runs the default test suite.
# Both create the virtual environment on first use. torch/torchvision are pinned in
# constraints.txt so pip never resolves a CUDA torch.

PYTHON ?= python3.11
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.neuromorph-installed
export OMP_NUM_THREADS ?= 1

.PHONY: install demo test test-slow wheel-smoke bench docs clean

install: $(STAMP)

# neuromorph/__init__.py: an editable install records whether neuromorph is a namespace package
$(STAMP): pyproject.toml constraints.txt neuromorph/__init__.py
	@command -v $(PYTHON) >/dev/null || { echo "need $(PYTHON) (set PYTHON=...)"; exit 1; }
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet -c constraints.txt -e ".[dev,tasks,sweep,export,brian2,docs,nest]"
	touch $(STAMP)

demo: $(STAMP)
	$(VENV)/bin/neuromorph train models/eprop_sine.toml --out runs/sine.h5
	$(VENV)/bin/neuromorph plot runs/sine.h5

# two worker processes (pytest-xdist), one thread each: the machines this runs on have 2 cores, and a cold
# first run spends much of its time compiling (numba kernels, brian2's cython and C++), which they share
TEST_JOBS ?= 2
test: $(STAMP)
	$(PY) -m pytest -m "not slow" -q -n $(TEST_JOBS)

# the wheel installed into a fresh environment, its CLI run from an empty directory (.ci/run calls it too)
wheel-smoke: $(STAMP)
	bash .ci/wheel_smoke.sh $(VENV)

test-slow: $(STAMP)
	$(PY) -m pytest -m slow -q

# the API reference from the docstrings (docs/api/conf.py), warnings as errors: docs/api/_build/index.html
docs: $(STAMP)
	$(VENV)/bin/sphinx-build -W --keep-going -q -b html docs/api docs/api/_build

bench: $(STAMP)
	$(PY) benchmarks/eprop_speed.py

clean:
	rm -rf $(VENV) runs benchmarks/results .pytest_cache docs/api/_build docs/api/_generated
