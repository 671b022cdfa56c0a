# Two commands on a fresh machine:  `make run` (the main job)  and  `make test` (the test suite).
# Both create .venv when missing and install everything, Debian packages included.
SHELL := /bin/bash
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
SUDO   := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
APT_PACKAGES := dataset-fashion-mnist chromium
export PIP_DISABLE_PIP_VERSION_CHECK=1

.PHONY: setup apt run test test-slow bench clean

setup: $(STAMP) apt

$(STAMP): pyproject.toml constraints.txt
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q torch==2.13.0
	$(PY) -m pip install -q -c constraints.txt -e ".[data,report,dev,demo,ray]"
	@touch $(STAMP)

# Fashion-MNIST (IDX files under /usr/share/datasets/fashion-mnist) and the chromium that the web-demo
# tests drive (never `playwright install`) come from Debian.
apt:
	@missing=""; for p in $(APT_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  echo "installing Debian packages:$$missing"; \
	  $(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq $$missing >/dev/null; \
	fi

# The main job: the seed-004 comparison on Fashion-MNIST (8 inits x 3 seeds); reports listed in initlab-runs/report/index.html.
run: setup
	$(VENV)/bin/initlab compare
	@echo "report: $$(pwd)/initlab-runs/report/index.html"

test: setup
	$(PY) -m pytest -m "not slow"

test-slow: setup
	$(PY) -m pytest -m slow

# Benchmarks print ratios measured side by side; auto_quality.py also needs the peers (the `bench` extra).
bench: setup
	$(PY) -m pip install -q -c constraints.txt -e ".[bench]"
	@for f in benchmarks/*.py; do echo "== $$f"; $(PY) $$f || exit 1; done

clean:
	rm -rf $(VENV) build *.egg-info src/*.egg-info .pytest_cache
