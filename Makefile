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

# The demo board: the default config (the cluttered halves) and Red-Green, so that both views rank
# models: cnn-flatten, cnn-gap and mlp on both protocols (the whole-suite view averages over the
# board's protocols and ranks the models that cover all of them), the four Red-Green paddings on
# red-green. Its own folder, so that a dataset of another demo or a full generation is never reused.
DEMO ?= $(OUT)/demo
DEMO_PROTOCOLS ?= location-halves-clutter,red-green
DEMO_ARCHS ?= cnn-flatten,cnn-gap,mlp,redgreen-valid,redgreen-same,redgreen-full,redgreen-circular

demo: install
	test -f $(DEMO)/dataset/elsewhere.json || $(BIN)/elsewhere generate --out $(DEMO)/dataset --size small \
		--protocols $(DEMO_PROTOCOLS)
	HF_HUB_OFFLINE=1 $(BIN)/python benchmarks/baselines.py --data $(DEMO)/dataset --runs $(DEMO)/runs \
		--protocols $(DEMO_PROTOCOLS) --archs $(DEMO_ARCHS)
	HF_HUB_OFFLINE=1 $(BIN)/elsewhere leaderboard --db $(DEMO)/leaderboard.sqlite --data $(DEMO)/dataset \
		--baselines $(DEMO)/runs

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
