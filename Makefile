# The quick start: `make toy` trains and evaluates on the toy dataset, `make test` runs the test
# suite. Both set up a virtual environment in .venv first (once): the registry route, detectron2
# v0.6 without compiled ops.
# `make test-source` runs the same suite on detectron2 built from source (compiled ops, numpy 2)
# in .venv-src, set up the way docs/install.md tells a user with their own detectron2.
# `make test-browser` runs the tests that open a page in headless Chromium (pytest's `browser`
# marker, which `make test` leaves out), installing Debian's chromium first if it is missing.
# With your own environment: make test PY=python
VENV := .venv
PY ?= $(VENV)/bin/python
SOURCE_VENV := .venv-src
D2_SRC ?= ../shared/detectron2-src/detectron2-main-02b5c4e.tar.gz

.PHONY: setup toy test test-browser browser setup-source test-source versions bench

setup:
	@command -v $(PY) >/dev/null 2>&1 || python3 -m venv $(VENV)
	@bash scripts/setup.sh $(PY)

toy: setup
	$(PY) train_net.py --config-file configs/Toy-PanopticSegmentation/panfpn_toy.yaml

test: setup versions
	$(PY) -m pytest -q

test-browser: setup browser
	$(PY) -m pytest -q -m browser

# Debian's chromium (apt), as root or through sudo; nothing to do where one is on PATH.
browser:
	@command -v chromium >/dev/null 2>&1 || command -v chromium-browser >/dev/null 2>&1 || { \
		SUDO=$$([ "$$(id -u)" = 0 ] || echo sudo); \
		$$SUDO apt-get update -q && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -q chromium; }

setup-source:
	@bash scripts/build_detectron2.sh $(SOURCE_VENV) $(D2_SRC)
	@bash scripts/setup.sh $(SOURCE_VENV)/bin/python

test-source: setup-source
	@$(MAKE) --no-print-directory versions PY=$(SOURCE_VENV)/bin/python
	$(SOURCE_VENV)/bin/python -m pytest -q

versions:
	@$(PY) scripts/versions.py

bench: setup
	$(PY) benchmarks/bench_merge.py
	$(PY) benchmarks/bench_panoptic_evaluator.py
	$(PY) benchmarks/bench_pq_cli.py
	$(PY) benchmarks/bench_instance_ap.py
	$(PY) benchmarks/bench_vs_detectron2.py
