# sview: `make demo` runs the whole pipeline on the demo city, `make test` runs the tests.
# Every target creates .venv and installs the project into it when missing or outdated.
# The install compiles every installed module to bytecode once, on all cores: where PYTHONDONTWRITEBYTECODE
# is set, Python would otherwise compile TensorFlow from source in every process that imports it (14 s, not 7).
# A file that does not compile (pip, too, only warns) is left to be compiled when imported.

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
export DAGSTER_HOME := $(CURDIR)/data/.dagster
export TF_CPP_MIN_LOG_LEVEL ?= 2
DEMO_CITIES := demo demo_north demo_tracts
UI_PORT ?= 3000

.PHONY: install demo demo-city cluster-demo test test-fast lint hooks ui sql check bench bench-gpu clean-demo instance

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet --no-compile -e ".[dev,cluster]"
	$(BIN)/python -m compileall -q -j 0 $(VENV)/lib > /dev/null || echo "some installed files did not compile to bytecode; Python compiles them when they are imported"
	@touch $(STAMP)

install: $(STAMP)

instance:
	@mkdir -p $(DAGSTER_HOME)
	@test -f $(DAGSTER_HOME)/dagster.yaml || cp instance/dagster.yaml $(DAGSTER_HOME)/dagster.yaml

# The demo cities of data/cities.toml: demo (132 locations), demo_north (48, another look, areas of its own) and
# demo_tracts (48, tract codes, outcomes declared in its own outcomes.toml).
demo-city: install
	@for city in $(DEMO_CITIES); do \
		if [ -f data/$$city/raw/area_boundaries.geojson ]; then echo "demo city already in data/$$city/raw (make clean-demo to regenerate)"; \
		else $(BIN)/python -m sview_assets.demo --city $$city || exit 1; fi; \
	done

# The demo cities are small, so they train with smaller mini-batches (more steps per epoch) and fewer
# epochs than the default preset (see docs/demo.md).
DEMO_TRAINING ?= --epochs 5 --patience 5 --batch-size 16

demo: install instance demo-city
	$(BIN)/python -m sview_assets.cli.pipeline $(DEMO_TRAINING)

# The demo city through PostgreSQL, a Dask scheduler and two worker processes on this machine (docs/scale.md).
cluster-demo: install demo-city
	$(BIN)/python -m sview_assets.cli.cluster_demo -- $(DEMO_TRAINING)

# Test files run on three workers (two cores): the daemon end-to-end file mostly waits on the daemon's ticks, the
# others share the cores. One file stays on one worker (--dist loadfile), so a file's fixtures are built once.
TEST_WORKERS ?= 3

test: install
	$(BIN)/python -m pytest -n $(TEST_WORKERS) --dist loadfile --durations=15

# The quick tier: every module, no webserver, daemon or servers (the slow and cluster marks).
test-fast: install
	$(BIN)/python -m pytest -n 2 --dist loadfile -m "not slow and not cluster" --durations=10

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

# ruff on every commit (.pre-commit-config.yaml), run from .venv.
hooks: install
	$(BIN)/pre-commit install

# A DuckDB shell on every city's warehouse, one schema per city (SVIEW_CITY's current, default the first listed); it holds
# no lock, so it can stay open while the pipeline runs.
sql: install
	$(BIN)/python -m sview_assets.sql

# The pre-flight check of a city (CITY=<city>; default every city of data/cities.toml): what a run will build, in seconds.
check: install
	$(BIN)/sview-check $(if $(CITY),--city $(CITY))

ui: install instance
	$(BIN)/python -m sview_assets.ui --port $(UI_PORT)

bench: install
	$(BIN)/python benchmarks/feature_extraction.py
	$(BIN)/python benchmarks/training.py
	$(BIN)/python benchmarks/import_time.py
	$(BIN)/python benchmarks/warehouse.py
	$(BIN)/python benchmarks/manifest.py
	$(BIN)/python benchmarks/sensor_tick.py
	$(BIN)/python benchmarks/metric_intervals.py
	$(BIN)/python benchmarks/panoramas.py
	$(BIN)/python benchmarks/point_in_polygon.py
	$(BIN)/python benchmarks/memory.py

# On a machine with an NVIDIA GPU and PyTorch or JAX for CUDA: needs no .venv and no TensorFlow, only Keras 3, NumPy,
# h5py, pandas and Pillow beside them, and this project's source (docs/settings.md: "On a GPU").
bench-gpu:
	PYTHONPATH=$(CURDIR)$${PYTHONPATH:+:$$PYTHONPATH} $(PYTHON) benchmarks/gpu.py

clean-demo:
	rm -rf $(addprefix data/,$(DEMO_CITIES))
