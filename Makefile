# The two commands a new user needs: `make demo` and `make test`.
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
OUT ?= out

.PHONY: demo test install clean

$(BIN)/elsewhere: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	# The CPU build of torch first, so that the dependency below is already met.
	$(BIN)/pip install --quiet torch==2.13.0
	$(BIN)/pip install --quiet -e '.[dev]'
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

test: install
	HF_HUB_OFFLINE=1 $(BIN)/python -m pytest -q

clean:
	rm -rf $(VENV) $(OUT)
