# Two commands on a fresh machine: `make demo` and `make test`.
# Only Python 3.11 (with its venv and pip) and make are needed.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
PY := $(VENV)/bin/python
DEMO := demo

# The audit console's browser test drives Debian's chromium (with its driver and a CJK font for
# the Chinese labels). Installed with apt-get only when missing, so a second run costs one dpkg query.
BROWSER_PACKAGES := chromium chromium-driver fonts-noto-cjk

.PHONY: demo test install clean bench browser-deps

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[test]'
	touch $@

# The Spark engine's extra (a large wheel, cached by pip after the first install): tests and
# `make install` need it, `make demo` does not.
$(VENV)/.spark-installed: $(VENV)/.installed
	$(PY) -m pip install --quiet -e '.[test,spark]'
	touch $@

install: $(VENV)/.installed $(VENV)/.spark-installed

# The suite in TEST_WORKERS pytest-xdist processes (one per core of CI's 2), each with its own
# PostgreSQL server and stored runs; modules stay whole on one worker (--dist loadscope), so a
# module's fixtures are built once. `make test TEST_WORKERS=0` runs it in this one process.
TEST_WORKERS ?= 2

test: $(VENV)/.spark-installed browser-deps
	$(PY) -m pytest -n $(TEST_WORKERS) --dist loadscope --durations=25

browser-deps:
	@missing=$$(for p in $(BROWSER_PACKAGES); do dpkg-query -W -f='$${Status}\n' $$p 2>/dev/null | grep -q '^install ok installed$$' || echo $$p; done); \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    echo "installing $$missing with apt-get"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing >/dev/null \
	      || echo "apt-get could not install $$missing: the console's browser test will fail"; \
	  else echo "missing $$missing: run 'apt-get install -y $$missing' as root, or the console's browser test will fail"; fi; \
	fi

demo: $(VENV)/.installed
	REKINDLE_HOME=$(DEMO)/home $(PY) -m cli.demo --dir $(DEMO)

bench: $(VENV)/.installed
	# 100k (fits CI-like machines); `$(PY) benchmarks/nightly.py --subscribers 1000000` is the
	# issue 12 target (see docs/SCALE.md for the figures and what is not met yet).
	$(PY) benchmarks/nightly.py --subscribers 100000

clean:
	rm -rf $(VENV) $(DEMO) .rekindle .pytest_cache .hypothesis
