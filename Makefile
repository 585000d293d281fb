# The two set-up commands of the README. Both create .venv/ (pinned versions, see constraints.txt) on
# first use; .venv/bin/ctmrfusion is the command line afterwards.
VENV := .venv
STAMP := $(VENV)/.installed

.PHONY: demo test test-fast lint benchmark

$(STAMP): pyproject.toml constraints.txt
	python3 -m venv $(VENV)
	$(VENV)/bin/python -m pip install --quiet --upgrade pip
	$(VENV)/bin/python -m pip install --quiet -c constraints.txt -e ".[dev]"
	touch $(STAMP)

demo: $(STAMP)
	$(VENV)/bin/ctmrfusion demo --out demo_output

# The full suite, after the lint (ruff check and ruff format --check must be clean).
test: lint
	$(VENV)/bin/python -m pytest -ra

# The fast lane for the edit-test loop: every test not marked slow (under 2 minutes on 2 cores).
test-fast: $(STAMP)
	$(VENV)/bin/python -m pytest -ra -m "not slow"

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

# Benchmarks install their peers (elastix, ANTs) into a separate environment, never into .venv/.
BENCH := .venv-benchmark
$(BENCH)/.installed: pyproject.toml constraints.txt Testing/benchmarks/requirements.txt
	python3 -m venv $(BENCH)
	$(BENCH)/bin/python -m pip install --quiet --upgrade pip
	$(BENCH)/bin/python -m pip install --quiet -e . -r Testing/benchmarks/requirements.txt
	touch $@

benchmark: $(BENCH)/.installed $(STAMP)
	PYTHONPATH=Testing $(BENCH)/bin/python Testing/benchmarks/benchmark_sinc_resampler.py
	PYTHONPATH=Testing $(BENCH)/bin/python Testing/benchmarks/benchmark_registration.py
	PYTHONPATH=Testing $(BENCH)/bin/python Testing/benchmarks/benchmark_atlas_stacks.py
	PYTHONPATH=Testing $(VENV)/bin/python Testing/benchmarks/benchmark_fusion.py
	PYTHONPATH=Testing $(VENV)/bin/python Testing/benchmarks/benchmark_capture_range.py
	PYTHONPATH=Testing $(VENV)/bin/python Testing/benchmarks/benchmark_batch.py --markdown Testing/benchmarks/results/batch.md
