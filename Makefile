# tqgd set-up and checks. `make demo` and `make test` work on a fresh machine (Python 3.10+ and pip).
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: install demo test test-fast bench clean

$(BIN)/tqgd: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --no-cache-dir --upgrade pip
	$(BIN)/python -m pip install --quiet --no-cache-dir -e ".[dev]"
	touch $@

install: $(BIN)/tqgd

demo: install  ## install, then run the end-to-end demo on a synthetic phantom (CPU, under 30 minutes on 2 cores)
	$(BIN)/tqgd demo

# Two pytest workers on two cores: one OpenMP thread each, or torch oversubscribes the CPU (about 5x slower).
test: install  ## install, then run the whole test suite
	OMP_NUM_THREADS=1 $(BIN)/python -m pytest -n 2 --dist loadfile

test-fast: install  ## the suite without the slow (training/export) tests
	$(BIN)/python -m pytest -m "not slow"

clean:
	rm -rf $(VENV) .pytest_cache
