# The commands a new user needs: `make demo` and `make test`; `make test-fast` and `make lint` while working.
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
OUT ?= out

.PHONY: demo test test-fast lint install clean

$(BIN)/elsewhere: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	# The CPU build of torch first, so that the [torch] extra below is already met.
	$(BIN)/pip install --quiet torch==2.13.0
	$(BIN)/pip install --quiet -e '.[all,dev]'
	touch $@

install: $(BIN)/elsewhere

# The demo's baselines: the two heads of the location comparison and the Red-Green paddings.
DEMO_PROTOCOLS ?= location-halves,red-green
DEMO_ARCHS ?= cnn-flatten,cnn-gap,redgreen-valid,redgreen-same,redgreen-full,redgreen-circular

demo: install
	test -f $(OUT)/dataset/elsewhere.json || $(BIN)/elsewhere generate --out $(OUT)/dataset --size small
	HF_HUB_OFFLINE=1 $(BIN)/python benchmarks/baselines.py --data $(OUT)/dataset --runs $(OUT)/runs \
		--protocols $(DEMO_PROTOCOLS) --archs $(DEMO_ARCHS)
	HF_HUB_OFFLINE=1 $(BIN)/elsewhere leaderboard --db $(OUT)/leaderboard.sqlite --data $(OUT)/dataset \
		--baselines $(OUT)/runs

# pytest exits 5 when it collected no tests: a broken selection, never a pass.
test: install
	HF_HUB_OFFLINE=1 $(BIN)/python -m pytest -q || { status=$$?; \
		[ $$status -ne 5 ] || echo "make test: pytest collected no tests; check the paths and markers" >&2; \
		exit $$status; }

# Everything but the slow tests (training runs, the browser, the installed wheel).
test-fast: install
	HF_HUB_OFFLINE=1 $(BIN)/python -m pytest -q -m "not slow and not gpu" || { status=$$?; \
		[ $$status -ne 5 ] || echo "make test-fast: pytest collected no tests; check the paths and markers" >&2; \
		exit $$status; }

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

clean:
	rm -rf $(VENV) $(OUT)
