# Two commands for a fresh machine (see README.md):
#   make run   - set up, then run the main job on the embedded default (bundled model, shipped adapters,
#                local LanceDB): an agent session driving the MCP server over stdio.
#   make test  - set up, then run the test suite.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
# Where pip's own configuration offers no CPU wheel of torch: TORCH_INDEX=https://download.pytorch.org/whl/cpu
TORCH_INDEX ?=
export HF_HUB_OFFLINE := 1
export TOKENIZERS_PARALLELISM := false

.PHONY: setup run test lint serve quality bench clean inspector
INSPECTOR := tests/inspector/node_modules/.bin/mcp-inspector

$(BIN)/taskvec: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	# The CPU wheel of torch first: an unpinned torch from PyPI is a multi-GB CUDA build. pip takes it from where it
	# is configured to look; TORCH_INDEX points it at PyTorch's CPU index (make setup TORCH_INDEX=<url>).
	$(BIN)/pip install --quiet torch==2.13.0 $(if $(TORCH_INDEX),--index-url $(TORCH_INDEX))
	# The ray extra too: CI runs the Ray bulk-indexing tests (tests/test_ray_index.py) on a local Ray.
	$(BIN)/pip install --quiet -e '.[dev,ray]'
	touch $@

setup: $(BIN)/taskvec

# The MCP Inspector's CLI at the version tests/inspector/package-lock.json pins, for tests/test_inspector.py. It
# needs Node.js (node and npm); without it this says so and those tests skip.
inspector: $(INSPECTOR)

$(INSPECTOR): tests/inspector/package-lock.json
	@if command -v npm >/dev/null 2>&1; then npm ci --no-audit --no-fund --prefix tests/inspector; \
	else echo "Node.js is not installed: tests/test_inspector.py will skip (install Node.js 20 or later to run it)."; fi

run: setup
	$(BIN)/python examples/agent_session.py

# Everything, the slow tests included (what CI runs). `$(BIN)/python -m pytest` alone skips the slow ones.
test: setup inspector
	$(BIN)/python -m pytest -q -m "slow or not slow"

lint: setup
	$(BIN)/ruff check . && $(BIN)/ruff format --check .

serve: setup
	$(BIN)/taskvec serve

quality: setup
	$(BIN)/taskvec eval suite --data-root ../shared/data --out docs/results/quality.md

# All CPU benchmarks; writes docs/results/performance.md (it says how long the run took). The GPU ones are separate:
# benchmarks/device_checks.sh on a machine with CUDA (encode throughput and rerank latency; see the script).
bench: setup
	$(BIN)/python benchmarks/run_all.py

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache *.egg-info tests/inspector/node_modules
