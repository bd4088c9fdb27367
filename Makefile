# Two commands on a fresh machine: `make demo` and `make test`.
# Only Python 3.11 (with its venv and pip) and make are needed.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
PY := $(VENV)/bin/python
DEMO := demo

.PHONY: demo test install clean bench

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[test]'
	touch $@

install: $(VENV)/.installed

test: $(VENV)/.installed
	$(PY) -m pytest

demo: $(VENV)/.installed
	REKINDLE_HOME=$(DEMO)/home $(PY) -m cli.demo --dir $(DEMO)

bench: $(VENV)/.installed
	# 100k (fits CI-like machines); `$(PY) benchmarks/nightly.py --subscribers 1000000` is the
	# issue 12 target (see docs/SCALE.md for the figures and what is not met yet).
	$(PY) benchmarks/nightly.py --subscribers 100000

clean:
	rm -rf $(VENV) $(DEMO) .rekindle .pytest_cache .hypothesis
