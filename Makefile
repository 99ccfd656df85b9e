# The quick start: `make toy` trains and evaluates on the toy dataset, `make test`
# runs the test suite. Both set up a virtual environment in .venv first (once).
# With your own environment (detectron2 built from source): make test PY=python
VENV := .venv
PY ?= $(VENV)/bin/python

.PHONY: setup toy test bench

setup:
	@command -v $(PY) >/dev/null 2>&1 || python3 -m venv $(VENV)
	@bash scripts/setup.sh $(PY)

toy: setup
	$(PY) train_net.py --config-file configs/Toy-PanopticSegmentation/panfpn_toy.yaml

test: setup
	$(PY) -m pytest -q

bench: setup
	$(PY) benchmarks/bench_merge.py
	$(PY) benchmarks/bench_panoptic_evaluator.py
	$(PY) benchmarks/bench_pq_cli.py
	$(PY) benchmarks/bench_instance_ap.py
	$(PY) benchmarks/bench_vs_detectron2.py
