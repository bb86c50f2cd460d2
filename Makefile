# Two commands from a fresh clone:
#   make run    set everything up and serve the product on http://127.0.0.1:8000/
#   make test   set everything up and run the whole test suite (browser tests included)
# And `make run-workers [WORKERS=N] [STAFF_WORKERS=K]`: the same product served by N daphne
# workers (default: one per core) behind HAProxy, with Redis between them, and K more for the
# back office alone (default 0; README: Running several workers).
# And before committing: make lint (ruff, then mypy; configured in pyproject.toml).

PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
# Debian packages the tests need: the browser Playwright drives, the speech/audio tools
# that make the test recordings, libopus for call recordings (RECORD_CALLS), and Redis and
# HAProxy for several workers (run-workers too).
WORKERS_APT_PACKAGES := redis-server haproxy
TEST_APT_PACKAGES := chromium espeak-ng sox libopus0 $(WORKERS_APT_PACKAGES)
# What `system-packages` installs: the test packages, unless a target asks for fewer.
APT_PACKAGES = $(TEST_APT_PACKAGES)
WORKERS ?=

.PHONY: run run-workers test setup system-packages bench lint clean

# pip compiles every module at install time on purpose: where PYTHONDONTWRITEBYTECODE is set
# (as on these machines) nothing is compiled later, and each of the suite's servers would
# compile everything it imports at every start (with --no-compile the suite took 919 s, not 756).
$(VENV)/.installed: requirements.txt requirements-dev.txt
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements-dev.txt
	@touch $@

setup: $(VENV)/.installed

run: setup
	$(PY) -m voiceproject.devserver

run-workers: APT_PACKAGES = $(WORKERS_APT_PACKAGES)
run-workers: setup system-packages
	$(PY) -m voiceproject.devserver --workers $(WORKERS) --staff-workers $(or $(STAFF_WORKERS),0)

# The suite runs in one process more than there are cores (pytest-xdist), a test file at a time
# each: a fifth of its time is waiting on servers, browsers and sockets. On 2 cores, one process
# per core left the CPU 82% busy and took 703 s; three kept it 92% busy and took 568 s.
# TEST_PROCESSES=0 runs it in one.
TEST_PROCESSES ?= $(shell echo $$(( $$(nproc) + 1 )))

# The project's own modules are compiled first for the same reason: the suite starts many
# Python processes (servers, workers, commands), and each would otherwise compile the project's
# modules (0.15 s) as it starts.
PYTHON_PACKAGES := voiceproject support realtime postcall callbacks continuity livestaff bench \
  mongo_migrations

test: setup system-packages
	$(PY) -m compileall -q $(PYTHON_PACKAGES) > /dev/null
	$(PY) -m pytest -n $(TEST_PROCESSES) --dist loadfile

system-packages:
	@missing=""; \
	for pkg in $(APT_PACKAGES); do \
	  dpkg -s $$pkg >/dev/null 2>&1 || missing="$$missing $$pkg"; \
	done; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    echo "Installing$$missing with apt-get"; \
	    DEBIAN_FRONTEND=noninteractive apt-get update -qq && \
	    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq$$missing >/dev/null; \
	  else \
	    echo "These Debian packages are needed:$$missing"; \
	    echo "Install them with: sudo apt-get install$$missing"; \
	    exit 1; \
	  fi; \
	fi

lint: setup
	$(PY) -m ruff check .
	$(PY) -m mypy

bench: setup
	$(PY) -m bench

clean:
	rm -rf $(VENV) var
